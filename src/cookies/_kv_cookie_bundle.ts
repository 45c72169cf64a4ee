/**
 * The bytes of a {@linkcode _KvCookieStore} bundle: how a domain's cookies are split into parts
 * that each fit in one KV value, how a part decodes, and which cookies go when a bundle would be
 * too large for one atomic write (layout in `_kv_cookie_store.ts`).
 */

import { decodeRecord, encodeRecord, recordSize } from "../_kv_record.ts";
import {
  type _CookieId,
  _evictionOrder,
  _isSameCookie,
  _isStoredCookie,
  _publicCookie,
  type _StoredCookie,
} from "./_cookie_store.ts";

/** The largest KV value. */
const MAX_VALUE = 65536;
/** The most bytes one atomic operation writes (keys and values). */
const MAX_MUTATION_BYTES = 819200;
/**
 * The most parts a bundle can have: all of them are written by one atomic operation, and any
 * two consecutive parts together hold more than one value's room (the first cookie of the
 * later one did not fit in the earlier one). A first part that claims more is corrupt.
 */
const MAX_PARTS = 2 * Math.ceil(MAX_MUTATION_BYTES / MAX_VALUE) + 1;
/**
 * The most bytes the parts of one bundle take: what one atomic write holds, less room for the
 * parts' keys, the counts and the check that go with them.
 */
const MAX_BUNDLE_BYTES = MAX_MUTATION_BYTES - 64 * 1024;
const ENCODER = new TextEncoder();
/** The bytes a part has for its cookies: a value, less the envelope (header, tag, part count). */
const PART_ROOM = MAX_VALUE - recordSize({ tag: crypto.randomUUID(), parts: 999999, cookies: [] });
/** A number whose JSON is as long as any number's (24 characters). */
const LONGEST_NUMBER = -2.2250738585072014e-308;
/**
 * The most bytes a stored cookie's fields other than name, value, domain and path take in a
 * part: its JSON with those four empty, every number at its longest, and a comma.
 */
const RECORD_FIELD_BYTES = JSON.stringify({
  name: "",
  value: "",
  domain: "",
  path: "",
  expires: LONGEST_NUMBER,
  secure: false,
  httpOnly: false,
  hostOnly: false,
  creationTime: LONGEST_NUMBER,
  lastAccessTime: LONGEST_NUMBER,
  sameSite: "strict",
  seq: LONGEST_NUMBER,
}).length + 1;

/** One decoded bundle part. */
export interface _Part {
  tag: string;
  parts: number;
  cookies: _StoredCookie[];
}

export function _record(c: _StoredCookie): _StoredCookie {
  return { ..._publicCookie(c), seq: c.seq };
}

export function _decodePart(value: unknown, domain: string): _Part | null {
  const decoded = decodeRecord(value);
  if (decoded === null || decoded.rest.length !== 0) return null;
  const parsed = decoded.meta;
  if (typeof parsed !== "object" || parsed === null) return null;
  const { tag, parts, cookies } = parsed as Record<string, unknown>;
  if (typeof tag !== "string" || !Array.isArray(cookies)) return null;
  if (
    parts !== undefined &&
    !(Number.isInteger(parts) && (parts as number) >= 1 && (parts as number) <= MAX_PARTS)
  ) return null;
  const valid = cookies.filter((c): c is _StoredCookie =>
    _isStoredCookie(c) && c.domain === domain
  );
  return { tag, parts: (parts as number | undefined) ?? 1, cookies: valid };
}

/** Splits cookies into the bytes of bundle parts, each within the KV value limit. */
export function _encodeBundle(cookies: _StoredCookie[]): Uint8Array[] {
  const tag = crypto.randomUUID();
  const groups: _StoredCookie[][] = [[]];
  let size = 0;
  // Room for the envelope of a part: header, tag, part count, brackets and commas.
  const room = PART_ROOM;
  for (const c of cookies) {
    const stored = _record(c);
    const bytes = ENCODER.encode(JSON.stringify(stored)).length + 1;
    if (bytes > room) {
      throw new RangeError(`Cannot store cookie '${c.name}': it is larger than a KV value`);
    }
    if (size + bytes > room) {
      groups.push([]);
      size = 0;
    }
    groups.at(-1)!.push(stored);
    size += bytes;
  }
  return groups.map((group, i) =>
    encodeRecord(i === 0 ? { tag, parts: groups.length, cookies: group } : { tag, cookies: group })
  );
}

/**
 * Encodes `cookies` as bundle parts that one atomic write can store: when they take more than
 * {@linkcode MAX_BUNDLE_BYTES}, cookies other than `keep` go in eviction order (expired first,
 * then least recently used) until the rest fit.
 */
export function _encodeFitting(
  cookies: _StoredCookie[],
  keep: _CookieId,
  now: number,
): { cookies: _StoredCookie[]; parts: Uint8Array[] } {
  let parts = _encodeBundle(cookies);
  let bytes = parts.reduce((sum, part) => sum + part.length, 0);
  if (bytes <= MAX_BUNDLE_BYTES) return { cookies, parts };
  const victims = cookies.filter((c) => !_isSameCookie(c, keep)).sort(_evictionOrder(now));
  while (bytes > MAX_BUNDLE_BYTES && victims.length > 0) {
    // Enough victims to cover the excess, then encode again: a part may end with unused room.
    const gone = new Set<_StoredCookie>();
    for (let excess = bytes - MAX_BUNDLE_BYTES; excess > 0 && victims.length > 0;) {
      const victim = victims.shift()!;
      gone.add(victim);
      excess -= ENCODER.encode(JSON.stringify(_record(victim))).length + 1;
    }
    cookies = cookies.filter((c) => !gone.has(c));
    parts = _encodeBundle(cookies);
    bytes = parts.reduce((sum, part) => sum + part.length, 0);
  }
  return { cookies, parts };
}

/** Whether `now` is the record `then` was: the same cookie, not set again or used since. */
export function _unchangedSince(then: _StoredCookie, now: _StoredCookie): boolean {
  return _isSameCookie(then, now) && then.value === now.value &&
    then.expires === now.expires && then.lastAccessTime === now.lastAccessTime;
}

/**
 * Whether a record of a cookie of this name, value, domain and path fits in one bundle part
 * (with the longest form of its other fields).
 */
export function _recordFits(name: string, value: string, domain: string, path: string): boolean {
  // JSON strings of the four: quotes and escapes (at most 6 bytes per UTF-16 unit).
  const text = name.length + value.length + domain.length + path.length;
  if (6 * text + 8 + RECORD_FIELD_BYTES <= PART_ROOM) return true;
  const bytes = ENCODER.encode(JSON.stringify([name, value, domain, path])).length;
  return bytes + RECORD_FIELD_BYTES <= PART_ROOM;
}
