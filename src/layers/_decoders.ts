/**
 * Decoders of content codings the transport uses beside `DecompressionStream`, and the words for
 * why a body does not decode.
 *
 * @module
 */

/** node:zlib, loaded when a gzip body is first decoded. */
let zlib: Promise<typeof import("node:zlib")> | undefined;

/** What a body that goes on after its compressed data fails with. */
const TRAILING = "data follows the end of the compressed stream";

/** The two bytes a gzip member opens with (RFC 1952 section 2.3.1). */
const GZIP_MAGIC = [0x1f, 0x8b];

/**
 * A gzip decoder that decodes every member of a body: RFC 1952 section 2.2 makes a gzip file "a
 * series of members", and zlib's gunzip (Node's `fetch`, curl's libz, Go, Python) reads them
 * all, where `DecompressionStream` fails after the first. Zero bytes after the last member are
 * padding, skipped as zlib skips them; other bytes there fail the body.
 */
export async function _gunzip(): Promise<TransformStream<Uint8Array, Uint8Array>> {
  const { createGunzip } = await (zlib ??= import("node:zlib"));
  const inflater = createGunzip();
  let output!: TransformStreamDefaultController<Uint8Array>;
  /** How many bytes of the body's opening were seen, and whether they were gzip's magic. */
  let opened = 0;
  let magic = true;
  inflater.on("data", (chunk: Uint8Array) => {
    try {
      // A Uint8Array of its own, not node's Buffer: a view of the same bytes.
      output.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    } catch {
      // The body was cancelled: nothing reads on.
    }
  });
  const ended = new Promise<void>((resolve, reject) => {
    inflater.once("end", resolve);
    inflater.once("error", (error: Error) => {
      // A header past the first member's end: what follows that end is not another member.
      reject(
        magic && opened === 2 && error.message === "incorrect header check"
          ? new Error(TRAILING, { cause: error })
          : error,
      );
    });
  });
  const failed = ended.then(() => {});
  failed.catch(() => {});
  return new TransformStream({
    start(controller) {
      output = controller;
    },
    transform(chunk) {
      for (let at = 0; opened < 2 && at < chunk.byteLength; at++) {
        magic &&= chunk[at] === GZIP_MAGIC[opened++];
      }
      const written = new Promise<void>((resolve) => inflater.write(chunk, () => resolve()));
      return Promise.race([written, failed]);
    },
    flush() {
      inflater.end();
      return ended;
    },
    cancel() {
      inflater.destroy();
    },
  });
}

/**
 * Why a body does not decode, in words: `DecompressionStream` tells of bytes after the end of
 * the compressed data only as a write that failed.
 */
export function _decodeFailure(error: unknown): string {
  const message = (error as Error)?.message;
  return message === "failed to write whole buffer" ? TRAILING : String(message);
}
