/**
 * Reads a request body whole for the test helpers, giving up (and cancelling a stream, as
 * `fetch` does) when the exchange is aborted.
 *
 * @module
 */

/**
 * The bytes of `body`: a copy of bytes, a Blob's content, or a stream read to its end. When
 * `signal` aborts first, the stream is cancelled with its reason and that reason is thrown.
 */
export async function readBody(
  body: Uint8Array | Blob | ReadableStream<Uint8Array>,
  signal: AbortSignal,
): Promise<Uint8Array<ArrayBuffer>> {
  if (body instanceof Uint8Array) return new Uint8Array(body);
  if (body instanceof Blob) return new Uint8Array(await body.arrayBuffer());
  if (signal.aborted) {
    await body.cancel(signal.reason).catch(() => {});
    throw signal.reason;
  }
  const reader = body.getReader();
  const cancel = () => void reader.cancel(signal.reason).catch(() => {});
  signal.addEventListener("abort", cancel, { once: true });
  try {
    const parts: Uint8Array[] = [];
    let size = 0;
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      parts.push(read.value);
      size += read.value.byteLength;
    }
    signal.throwIfAborted();
    const bytes = new Uint8Array(size);
    let at = 0;
    for (const part of parts) {
      bytes.set(part, at);
      at += part.byteLength;
    }
    return bytes;
  } finally {
    signal.removeEventListener("abort", cancel);
    reader.releaseLock();
  }
}
