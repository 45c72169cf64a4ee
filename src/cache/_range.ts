/**
 * Byte ranges of a stored complete response (RFC 9110 section 14): which bytes a `Range`
 * request field asks for, and the body that holds only them.
 */

/** The first and last byte (both included) of a satisfiable range. */
export interface _ByteRange {
  readonly first: number;
  readonly last: number;
}

const RANGE = /^bytes[ \t]*=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*$/i;

/**
 * The one byte range that `value` (a `Range` field) asks for in a body of `size` bytes, or
 * `null` when the cache should leave it to the origin: several ranges, another unit, a
 * malformed value, or a range that this body cannot satisfy.
 */
export function _byteRange(value: string, size: number): _ByteRange | null {
  const match = RANGE.exec(value.trim());
  if (match === null || size <= 0) return null;
  const [, from, to] = match as unknown as [string, string, string];
  if (from === "") {
    // A suffix: the last `to` bytes.
    if (to === "") return null;
    const length = Number(to);
    if (!Number.isSafeInteger(length) || length === 0) return null;
    return { first: Math.max(0, size - length), last: size - 1 };
  }
  const first = Number(from);
  if (!Number.isSafeInteger(first) || first >= size) return null;
  if (to === "") return { first, last: size - 1 };
  const last = Number(to);
  if (!Number.isSafeInteger(last) || last < first) return null;
  return { first, last: Math.min(last, size - 1) };
}

/**
 * The bytes `range` of `body`: the bytes before it are skipped, and the source is cancelled
 * once the last one went out (or when the result is cancelled).
 */
export function _sliceBody(
  body: ReadableStream<Uint8Array>,
  range: _ByteRange,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (true) {
        const chunk = await reader.read();
        if (chunk.done) {
          controller.close();
          return;
        }
        const start = offset;
        offset += chunk.value.byteLength;
        if (offset <= range.first) continue;
        const from = Math.max(0, range.first - start);
        const to = Math.min(chunk.value.byteLength, range.last + 1 - start);
        controller.enqueue(chunk.value.subarray(from, to));
        if (offset > range.last) {
          controller.close();
          await reader.cancel().catch(() => {});
        }
        return;
      }
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}
