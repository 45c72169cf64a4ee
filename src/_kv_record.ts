/**
 * The byte layout of every record the KV stores write (cache entries and body generations,
 * cookie bundles, HSTS policies), so that any runtime opening the database (Node and Bun through
 * npm's `@deno/kv`) decodes them: byte 0 is the format version ({@linkcode RECORD_FORMAT}),
 * bytes 1-4 the length `n` of the metadata as a big-endian unsigned integer, then `n` bytes of
 * UTF-8 JSON, then any bytes the record carries after it (a cache entry's inline body).
 *
 * A record whose format byte is higher than {@linkcode RECORD_FORMAT} was written by a later
 * version sharing the database: a reader treats it as a miss and its housekeeping (removal of
 * corrupt values, eviction, collection of bodies) leaves it in place, or two versions sharing one
 * database would delete each other's records. A value of this format or an older one that does
 * not decode is corrupt, and may be removed. Only an explicit removal (a cache's `remove(url)`,
 * `clear()`) deletes a later version's records.
 *
 * Every format keeps this header (bytes 1-4 and the JSON metadata after them) and adds fields to
 * the metadata rather than renaming them, so that a version reads, from a later version's record,
 * what the versions sharing a database keep together: the `size` a cache entry counts in the
 * cache's size counter ({@linkcode newerRecordMeta}).
 */

/** The format version byte of the records this version writes. */
export const RECORD_FORMAT = 2;
const HEADER_BYTES = 5;
const ENCODER = new TextEncoder();
/** Replaces invalid UTF-8 with U+FFFD: several times faster than a fatal decoder. */
const LENIENT = new TextDecoder();
const FATAL = new TextDecoder("utf-8", { fatal: true });

/**
 * The text of UTF-8 `bytes`, or a `TypeError` when they are not valid UTF-8. A lenient decode
 * yields U+FFFD wherever the bytes are invalid, so text without it needs no second look.
 */
function decodeUtf8(bytes: Uint8Array): string {
  const text = LENIENT.decode(bytes);
  return text.includes("\uFFFD") ? FATAL.decode(bytes) : text;
}

/** A record: `meta` as JSON behind the format byte and its length, then `rest`. */
export function encodeRecord(meta: unknown, rest: Uint8Array | null = null): Uint8Array {
  const json = ENCODER.encode(JSON.stringify(meta));
  const out = new Uint8Array(HEADER_BYTES + json.length + (rest?.length ?? 0));
  out[0] = RECORD_FORMAT;
  new DataView(out.buffer).setUint32(1, json.length);
  out.set(json, HEADER_BYTES);
  if (rest !== null) out.set(rest, HEADER_BYTES + json.length);
  return out;
}

/** The bytes a record of `meta` takes, with `restBytes` after it. */
export function recordSize(meta: unknown, restBytes = 0): number {
  return HEADER_BYTES + ENCODER.encode(JSON.stringify(meta)).length + restBytes;
}

/**
 * Whether `value` is a record of a format newer than this version writes: a miss that this
 * version's housekeeping leaves in place (see the module documentation).
 */
export function isNewerRecord(value: unknown): boolean {
  return value instanceof Uint8Array && value.length > 0 && value[0]! > RECORD_FORMAT;
}

/**
 * Splits a record of the current format into its parsed metadata and the bytes after it;
 * `null` for anything else (another format, a foreign or truncated value).
 */
export function decodeRecord(value: unknown): { meta: unknown; rest: Uint8Array } | null {
  if (!(value instanceof Uint8Array) || value[0] !== RECORD_FORMAT) return null;
  return split(value);
}

/**
 * The metadata of a record of a newer format, read by the header every format keeps (see the
 * module documentation); `null` for a record of this format or an older one, or one whose header
 * does not decode.
 */
export function newerRecordMeta(value: unknown): unknown {
  return isNewerRecord(value) ? split(value as Uint8Array)?.meta ?? null : null;
}

/** A record's parsed metadata and the bytes after it, whatever its format byte says. */
function split(value: Uint8Array): { meta: unknown; rest: Uint8Array } | null {
  if (value.length < HEADER_BYTES) return null;
  const length = ((value[1]! << 24) | (value[2]! << 16) | (value[3]! << 8) | value[4]!) >>> 0;
  if (HEADER_BYTES + length > value.length) return null;
  try {
    const meta: unknown = JSON.parse(
      decodeUtf8(value.subarray(HEADER_BYTES, HEADER_BYTES + length)),
    );
    return { meta, rest: value.subarray(HEADER_BYTES + length) };
  } catch {
    return null;
  }
}
