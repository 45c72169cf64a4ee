/** Rules the cache stores share: URL keys, metadata validation, sizes, eviction order. */

import { checkInteger, describe, numberError } from "../_validation.ts";
import { _COOKIE_FIELDS } from "./_policy.ts";
import type {
  CacheEntry,
  CacheMetaData,
  CacheMetaDataUpdate,
  CacheMode,
  CacheWriter,
} from "./network_cache.ts";

/** The default `maxSize` of the stores, Qt's 50 MiB. */
export const _DEFAULT_MAX_SIZE = 50 * 1024 * 1024;

const ENCODER = new TextEncoder();

/** The length of `text` in UTF-8 bytes. */
export function _byteLength(text: string): number {
  // deno-lint-ignore no-control-regex
  return /^[\x00-\x7F]*$/.test(text) ? text.length : ENCODER.encode(text).length;
}

/** A cache entry's variant: `""` when not given, else a string (`what` names the operation). */
export function _cacheVariant(variant: unknown, what: string): string {
  if (variant === undefined) return "";
  if (typeof variant !== "string") {
    throw new TypeError(`Cannot ${what}: 'variant' must be a string, got ${describe(variant)}`);
  }
  return variant;
}

/** The URL a cache keys on: parsed, serialized, without its fragment. */
export function _cacheUrl(url: string | URL, what: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`Cannot ${what}: 'url' must be a valid URL, got ${describe(url)}`);
  }
  const href = parsed.href;
  if (!href.includes("#")) return href;
  parsed.hash = ""; // also drops an empty fragment's "#"
  return parsed.href;
}

/** Validates the `maxSize` option of a store. */
export function _checkMaxSize(maxSize: unknown, what: string): number {
  if (maxSize === undefined) return _DEFAULT_MAX_SIZE;
  checkInteger(`Cannot ${what}`, "maxSize", maxSize, 1);
  return maxSize as number;
}

/** Validates the `mode` option of a store. */
export function _checkMode(mode: unknown, what: string, fallback: CacheMode): CacheMode {
  if (mode === undefined) return fallback;
  if (mode !== "shared" && mode !== "private") {
    throw new TypeError(
      `Cannot ${what}: 'mode' must be "shared" or "private", got ${describe(mode)}`,
    );
  }
  return mode;
}

/** The fields of an entry that the metadata sets, validated and normalized. */
export interface _MetaFields {
  status: number;
  statusText: string;
  headers: [string, string][];
  policy: unknown;
  expires: number | null;
}

/** The statuses a stored response may have: those a `Response` can carry, 200 to 599. */
export function _isStoredStatus(status: unknown): status is number {
  return typeof status === "number" && Number.isInteger(status) && status >= 200 && status <= 599;
}

/** A reason phrase as `Response` accepts it (RFC 9112): tab, space and visible bytes. */
const STATUS_TEXT = /^[\t\x20-\x7E\x80-\xFF]*$/;
/** A field name (an RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A field value as `Headers` accepts it: bytes, without NUL, CR or LF. */
// deno-lint-ignore no-control-regex
const HEADER_VALUE = /^[^\x00\r\n\u0100-\uFFFF]*$/;

/** Whether `text` is a status text a `Response` accepts. */
export function _isStatusText(text: unknown): text is string {
  return typeof text === "string" && STATUS_TEXT.test(text);
}

/**
 * Whether a stored name-value pair is a header a `Response` accepts (pairs were normalized by
 * `Headers` when stored, so a stored value needs no trimming).
 */
export function _isHeader(name: string, value: string): boolean {
  return HEADER_NAME.test(name) && HEADER_VALUE.test(value);
}

/** The pairs of headers in any form `Headers` takes, for naming the one it refused. */
function headerPairs(init: unknown): unknown[] {
  if (typeof init !== "object" || init === null) return [];
  if (Symbol.iterator in init) {
    try {
      return [...(init as Iterable<unknown>)];
    } catch {
      return [];
    }
  }
  return Object.entries(init);
}

/** Why `Headers` refused `init`: the header at fault, named, with its value when that is it. */
function headersFault(init: unknown): string {
  if (typeof init !== "object" || init === null) {
    return `must be a Headers, pairs or a record, got ${describe(init)}`;
  }
  for (const pair of headerPairs(init)) {
    if (!Array.isArray(pair) || pair.length !== 2) {
      return `must hold name-value pairs, got ${describe(pair)}`;
    }
    const [name, value] = pair as [unknown, unknown];
    try {
      new Headers([[name as string, "" as string]]);
    } catch {
      return `has an invalid header name ${describe(String(name))}`;
    }
    try {
      new Headers([["x", value as string]]);
    } catch {
      return `has an invalid value for header ${describe(String(name))}: ${
        describe(String(value))
      } (no NUL, CR or LF; characters up to U+00FF)`;
    }
  }
  return "are invalid";
}

function checkFields(
  source: CacheMetaDataUpdate,
  base: _MetaFields | null,
  what: string,
): _MetaFields {
  // Left out (or `undefined`), the stored value; `null` is checked, and refused, as given.
  const status = source.status === undefined ? base?.status : source.status;
  if (!_isStoredStatus(status)) {
    throw numberError(`Cannot ${what}`, "status", status, "an HTTP status from 200 to 599");
  }
  const statusText = source.statusText === undefined ? base?.statusText ?? "" : source.statusText;
  if (typeof statusText !== "string") {
    throw new TypeError(
      `Cannot ${what}: 'statusText' must be a string, got ${describe(statusText)}`,
    );
  }
  if (!_isStatusText(statusText)) {
    throw new TypeError(
      `Cannot ${what}: 'statusText' must be tabs, spaces and visible characters up to U+00FF ` +
        `(no line breaks), got ${describe(statusText)}`,
    );
  }
  let headers: [string, string][];
  if (source.headers === undefined && base !== null) {
    headers = base.headers;
  } else {
    try {
      // One user's cookies are never stored (see CacheMode); `Headers` names are lower case.
      headers = [...new Headers(source.headers)].filter(([name]) => !_COOKIE_FIELDS.has(name));
    } catch (error) {
      throw new TypeError(`Cannot ${what}: 'headers' ${headersFault(source.headers)}`, {
        cause: error,
      });
    }
  }
  let policy = base?.policy ?? null;
  if (source.policy !== undefined) {
    try {
      JSON.stringify(source.policy);
      // Copied once here, frozen with the headers: reads hand both out without copies.
      policy = structuredClone(source.policy);
    } catch (error) {
      throw new TypeError(`Cannot ${what}: 'policy' must be JSON-compatible`, { cause: error });
    }
  }
  const expires = source.expires === undefined ? (base?.expires ?? null) : source.expires;
  if (expires !== null && (typeof expires !== "number" || !Number.isFinite(expires))) {
    throw numberError(`Cannot ${what}`, "expires", expires, "a finite time in epoch ms or null");
  }
  return {
    status,
    statusText,
    headers: _deepFreeze(headers),
    policy: _deepFreeze(policy),
    expires,
  };
}

/** Freezes `value` and everything it holds; returns it. */
export function _deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) _deepFreeze(inner);
  }
  return value;
}

/** Validates and normalizes the metadata of a response to store. */
export function _checkMetaData(
  metaData: CacheMetaData,
  what: string,
): _MetaFields & { url: string; variant: string } {
  if (typeof metaData !== "object" || metaData === null) {
    throw new TypeError(`Cannot ${what}: metadata must be an object, got ${describe(metaData)}`);
  }
  const url = _cacheUrl(metaData.url, what);
  const variant = _cacheVariant(metaData.variant, what);
  if (metaData.headers === undefined) {
    throw new TypeError(`Cannot ${what}: 'headers' are required`);
  }
  return { url, variant, ...checkFields(metaData, null, what) };
}

/** Applies an update to the fields of a stored entry. */
export function _applyUpdate(
  base: _MetaFields,
  update: CacheMetaDataUpdate,
  what: string,
): _MetaFields {
  if (typeof update !== "object" || update === null) {
    throw new TypeError(`Cannot ${what}: the update must be an object, got ${describe(update)}`);
  }
  return checkFields(update, base, what);
}

/** The bytes the metadata of an entry counts toward the cache size. */
export function _metaSize(fields: _MetaFields & { url: string; variant: string }): number {
  return _byteLength(
    JSON.stringify([
      fields.url,
      fields.variant,
      fields.status,
      fields.statusText,
      fields.headers,
      fields.policy,
      fields.expires,
    ]),
  );
}

/** Whether an entry's `expires` passed at `now`. */
export function _isExpired(entry: { expires: number | null }, now: number): boolean {
  return entry.expires !== null && entry.expires <= now;
}

/** The largest entry a store of `maxSize` accepts: three quarters of it (Qt's rule). */
export function _maxEntrySize(maxSize: number): number {
  return Math.floor(maxSize * 3 / 4);
}

/** The size eviction brings a store down to: 90% of `maxSize`. */
export function _evictionTarget(maxSize: number): number {
  return Math.floor(maxSize * 9 / 10);
}

/** Orders entries for eviction: least recently used first, then oldest stored. */
export function _evictionOrder(a: CacheEntry, b: CacheEntry): number {
  return a.lastAccess - b.lastAccess || a.storedAt - b.storedAt;
}

/** The fields of an entry, and no others, in the order they are stored. */
export function _entryFields(entry: CacheEntry): CacheEntry {
  return {
    url: entry.url,
    variant: entry.variant,
    status: entry.status,
    statusText: entry.statusText,
    headers: entry.headers,
    policy: entry.policy,
    expires: entry.expires,
    bodySize: entry.bodySize,
    size: entry.size,
    storedAt: entry.storedAt,
    lastAccess: entry.lastAccess,
    generation: entry.generation,
  };
}

/**
 * The public view of an entry, frozen; its headers and policy were frozen when stored, so
 * they are shared rather than copied.
 */
export function _publicEntry(entry: CacheEntry): CacheEntry {
  return Object.freeze(_entryFields(entry));
}

/**
 * The body size `headers` declare: a `Content-Length` of a body without a content coding (a
 * decoded body's length is not the one declared); `null` when there is none, or several.
 */
export function _declaredLength(headers: readonly [string, string][]): number | null {
  let length: number | null = null;
  for (const [name, value] of headers) {
    if (name === "content-encoding" && value.trim().toLowerCase() !== "identity") return null;
    if (name === "content-length") {
      if (length !== null || !/^[0-9]{1,15}$/.test(value)) return null;
      length = Number(value);
    }
  }
  return length;
}

/** The size of a body given whole, as an array of chunks; `null` for any other. */
export function _wholeSize(body: unknown): number | null {
  if (!Array.isArray(body)) return null;
  let size = 0;
  for (const chunk of body) {
    if (!(chunk instanceof Uint8Array)) return null;
    size += chunk.length;
  }
  return size;
}

/**
 * Reads `body` into `writer`, stopping on `signal`; commits when the body completed, aborts
 * and rethrows otherwise.
 */
export async function _insertInto(
  writer: CacheWriter,
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  const iterator: AsyncIterator<Uint8Array> | Iterator<Uint8Array> = Symbol.asyncIterator in body
    ? (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
    : (body as Iterable<Uint8Array>)[Symbol.iterator]();
  let aborted: Promise<never> | undefined;
  let onAbort: (() => void) | undefined;
  if (signal !== undefined) {
    aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
    });
    aborted.catch(() => {});
  }
  let done = false;
  try {
    signal?.throwIfAborted();
    while (true) {
      const next = Promise.resolve(iterator.next());
      const result = aborted === undefined ? await next : await Promise.race([next, aborted]);
      if (result.done) break;
      const chunk: unknown = result.value;
      if (!(chunk instanceof Uint8Array)) {
        throw new TypeError(`Cannot store cache entry: body chunks must be Uint8Array`);
      }
      await writer.write(chunk);
      signal?.throwIfAborted();
    }
    done = true;
  } catch (error) {
    await writer.abort();
    if (!done) {
      // Not awaited: a source stuck in a read finishes its return() only when that read ends.
      Promise.resolve()
        .then(() => iterator.return?.())
        .catch(() => {});
    }
    throw error;
  } finally {
    if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
  }
  return await writer.commit();
}
