/**
 * The layout of a {@linkcode KvCache} in Deno KV: its keys, and the bytes of its records.
 *
 * Keys, under the cache's prefix `P`:
 * - `[...P, "e", url, variant]`: an entry record. A URL over 1 KiB or a variant over 256 bytes
 *   is keyed by its SHA-256 digest (a `Uint8Array`, never equal to a string part).
 * - `[...P, "g", generation]`: the record of one body generation (a write in progress, a
 *   published body, a replaced one waiting to be collected).
 * - `[...P, "c", generation, index]`: chunk `index` of a body, 64 KiB (the last one shorter),
 *   stored as raw bytes.
 * - `[...P, "r", retiredAt, generation]`: a replaced or removed body that readers may still be
 *   reading, collected once it is older than {@linkcode _RETIRE_GRACE_MS}.
 * - `[...P, "n"]`: the size counter, a `Deno.KvU64` kept by `sum` mutations: the bytes the entry
 *   records of every version sharing the database count ({@linkcode _countedSize}).
 *
 * Records are in the byte layout of `../_kv_record.ts`, which any runtime can decode: a format
 * byte, the length of the metadata, the metadata as UTF-8 JSON, then any further bytes. An entry record
 * whose metadata says `"inline": true` carries its whole body after the metadata (a body that
 * fits in one KV value is read with its metadata in one operation); any other entry's body is
 * in chunks. Entry metadata: `url`, `variant`, `status`, `statusText`, `headers` (name-value
 * pairs), `policy`, `expires` (epoch ms or `null`), `bodySize`, `size`, `storedAt`,
 * `lastAccess`, `generation`, `inline`. Generation metadata: `state` (`"pending"`,
 * `"published"`, `"dead"` or `"retired"`), `url`, `chunks`, `touchedAt`.
 *
 * Records written by version 0.1.0 (V8-serialised objects with `v: 1`) are still read; a
 * record is rewritten in the current format when it next changes.
 */

import {
  decodeRecord,
  encodeRecord,
  isNewerRecord,
  newerRecordMeta,
  recordSize,
} from "../_kv_record.ts";
import {
  _byteLength,
  _deepFreeze,
  _entryFields,
  _isHeader,
  _isStatusText,
  _isStoredStatus,
} from "./_entry.ts";
import type { CacheEntry } from "./network_cache.ts";

/** Bytes per stored body chunk: the largest KV value. */
export const _CHUNK_SIZE = 65536;
/** The largest KV value: an entry record with its body inline stays within it. */
export const _MAX_VALUE = 65536;
/** Keys per `getMany` (the KV limit). */
export const _READ_BATCH = 10;
/** A replaced body stays readable this long (by the cache's clock) before it is collected. */
export const _RETIRE_GRACE_MS = 5 * 60 * 1000;
/** A write that made no progress for this long was interrupted; `expire()` reclaims it. */
export const _STALE_WRITE_MS = 10 * 60 * 1000;
/** A last access younger than this is not rewritten, so a hit writes nothing. */
export const _TOUCH_THRESHOLD_MS = 60 * 1000;
/** The longest URL kept verbatim in a key; longer ones are hashed. */
const MAX_URL_KEY_BYTES = 1024;
/** The longest variant kept verbatim in a key; longer ones are hashed. */
const MAX_VARIANT_KEY_BYTES = 256;
const U64 = 1n << 64n;
const ENCODER = new TextEncoder();

/** An entry record as read: the entry (frozen), where its body is, and the body when inline. */
export interface _DecodedEntry {
  entry: CacheEntry;
  inline: boolean;
  body: Uint8Array | null;
}

/** The record of one body generation. */
export interface _GenerationRecord {
  state: "pending" | "published" | "dead" | "retired";
  url: string;
  chunks: number;
  touchedAt: number;
}

/** A size change as the unsigned 64-bit addend of a KV `sum` (which wraps around). */
export function _u64(delta: number): bigint {
  return ((BigInt(delta) % U64) + U64) % U64;
}

/** Whether a KV value is a usable size counter, and its value. */
export function _counterValue(value: unknown): number | null {
  return value instanceof Deno.KvU64 && value.value < U64 / 2n ? Number(value.value) : null;
}

/** The number of chunks a body of `bodySize` bytes stored in chunks takes. */
export function _chunkCount(entry: { bodySize: number; inline?: boolean }): number {
  return entry.inline === true ? 0 : Math.ceil(entry.bodySize / _CHUNK_SIZE);
}

function isInteger(value: unknown, min = 0): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= min;
}

function isTime(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

/** The bytes of an entry record; `body` is given when it is inline. */
export function _encodeEntry(entry: CacheEntry, body: Uint8Array | null): Uint8Array {
  return encodeRecord(entryFields(entry, body !== null), body);
}

/** The bytes an entry record of `entry` with an inline body of `bodySize` takes. */
export function _inlineRecordSize(entry: CacheEntry, bodySize: number): number {
  return recordSize(entryFields(entry, true), bodySize);
}

function entryFields(entry: CacheEntry, inline: boolean): CacheEntry & { inline: boolean } {
  return { ..._entryFields(entry), inline };
}

/**
 * Whether a decoded record holds an entry: its fields of the right types, and a status, status
 * text and headers a `Response` accepts (a record changed outside the cache could hold others,
 * and would fail every request for its URL).
 */
function checkEntry(r: Record<string, unknown>): boolean {
  if (
    typeof r.url !== "string" || typeof r.variant !== "string" ||
    !_isStoredStatus(r.status) || !_isStatusText(r.statusText) || !Array.isArray(r.headers) ||
    !(r.expires === null || isTime(r.expires)) || !isInteger(r.bodySize) ||
    !isInteger(r.size) || !isTime(r.storedAt) || !isTime(r.lastAccess) ||
    typeof r.generation !== "string" || !("policy" in r)
  ) {
    return false;
  }
  for (const header of r.headers) {
    if (
      !Array.isArray(header) || header.length !== 2 || typeof header[0] !== "string" ||
      typeof header[1] !== "string" || !_isHeader(header[0], header[1])
    ) {
      return false;
    }
  }
  return true;
}

/** What an entry record counts, read from a record that may be corrupt otherwise. */
export interface _EntryAccount {
  url: string;
  variant: string;
  /** The bytes the record counts in the size counter. */
  size: number;
  /** The body generation, in chunks unless `inline`. */
  generation: string;
  inline: boolean;
}

/**
 * The fields of an entry record, of either format, that its removal needs: its URL and
 * variant, the size it counts and where its body is; `null` when even these are unreadable
 * (a newer format's record among them: see {@linkcode _countedSize}).
 */
export function _entryAccount(value: unknown): _EntryAccount | null {
  let meta: unknown = value;
  let inline: unknown = false;
  if (value instanceof Uint8Array) {
    meta = decodeRecord(value)?.meta;
    if (typeof meta !== "object" || meta === null) return null;
    inline = (meta as Record<string, unknown>).inline;
  } else if (typeof meta !== "object" || meta === null || (meta as { v?: unknown }).v !== 1) {
    return null;
  }
  const r = meta as Record<string, unknown>;
  if (
    typeof r.url !== "string" || typeof r.variant !== "string" || !isInteger(r.size) ||
    typeof r.generation !== "string" || typeof inline !== "boolean"
  ) {
    return null;
  }
  return { url: r.url, variant: r.variant, size: r.size, generation: r.generation, inline };
}

/**
 * What the value at an entry key counts in the size counter, which every version sharing the
 * database adds to and takes from: the `size` of a record this version reads; the `size` of a
 * newer format's record, read by the header every format keeps, or its bytes when that header
 * does not say (what it takes at least); nothing for any other value (corrupt, foreign).
 */
export function _countedSize(value: unknown): number {
  const account = _entryAccount(value);
  if (account !== null) return account.size;
  if (!isNewerRecord(value)) return 0;
  const size = (newerRecordMeta(value) as { size?: unknown } | null)?.size;
  return isInteger(size) ? size : (value as Uint8Array).length;
}

/**
 * Decodes an entry record of either format; `null` for anything else. The entry and its
 * headers and policy are frozen, so they can be handed out without copies.
 */
export function _decodeEntry(value: unknown): _DecodedEntry | null {
  if (value instanceof Uint8Array) {
    const decoded = decodeRecord(value);
    if (decoded === null || typeof decoded.meta !== "object" || decoded.meta === null) return null;
    const r = decoded.meta as Record<string, unknown>;
    if (!checkEntry(r) || typeof r.inline !== "boolean") return null;
    if (r.inline ? decoded.rest.length !== r.bodySize : decoded.rest.length !== 0) return null;
    const inline = r.inline as boolean;
    return { entry: publicEntry(r), inline, body: inline ? decoded.rest : null };
  }
  // Version 0.1.0: a V8-serialised object.
  if (typeof value !== "object" || value === null) return null;
  const r = value as Record<string, unknown>;
  if (r.v !== 1 || !checkEntry(r)) return null;
  return { entry: publicEntry(r), inline: false, body: null };
}

function publicEntry(r: Record<string, unknown>): CacheEntry {
  return _deepFreeze(_entryFields(r as unknown as CacheEntry));
}

/** The bytes of a generation record. */
export function _encodeGeneration(record: _GenerationRecord): Uint8Array {
  return encodeRecord(record);
}

/** Decodes a generation record of either format; `null` for anything else. */
export function _decodeGeneration(value: unknown): _GenerationRecord | null {
  let meta: unknown = value;
  if (value instanceof Uint8Array) {
    const decoded = decodeRecord(value);
    if (decoded === null || decoded.rest.length !== 0) return null;
    meta = decoded.meta;
  }
  if (typeof meta !== "object" || meta === null) return null;
  const r = meta as Record<string, unknown>;
  if (
    (r.state !== "pending" && r.state !== "published" && r.state !== "dead" &&
      r.state !== "retired") ||
    typeof r.url !== "string" || !isInteger(r.chunks) || !isTime(r.touchedAt)
  ) {
    return null;
  }
  return r as unknown as _GenerationRecord;
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", ENCODER.encode(text)));
}

/** A URL as a key part: verbatim when short, its SHA-256 digest (bytes) when long. */
export function _urlPart(url: string): string | Promise<Uint8Array> {
  return _byteLength(url) <= MAX_URL_KEY_BYTES ? url : sha256(url);
}

/** A variant as a key part: verbatim when short, its SHA-256 digest (bytes) when long. */
export function _variantPart(variant: string): string | Promise<Uint8Array> {
  return _byteLength(variant) <= MAX_VARIANT_KEY_BYTES ? variant : sha256(variant);
}

/** The keys of one cache's records. */
export class _Keys {
  readonly prefix: Deno.KvKey;
  readonly size: Deno.KvKey;

  constructor(prefix: Deno.KvKey) {
    this.prefix = prefix;
    this.size = [...prefix, "n"];
  }

  /** The key of the entry at `url` and `variant`. */
  entry(url: string, variant: string): Deno.KvKey | Promise<Deno.KvKey> {
    const urlPart = _urlPart(url);
    const variantPart = _variantPart(variant);
    if (typeof urlPart === "string" && typeof variantPart === "string") {
      return [...this.prefix, "e", urlPart, variantPart];
    }
    return Promise.all([urlPart, variantPart]).then(([u, v]) => [...this.prefix, "e", u, v]);
  }

  /** The key of a generation record. */
  generation(generation: string): Deno.KvKey {
    return [...this.prefix, "g", generation];
  }

  /** The key of chunk `index` of a generation. */
  chunk(generation: string, index: number): Deno.KvKey {
    return [...this.prefix, "c", generation, index];
  }

  /** The key marking a retired generation. */
  retired(retiredAt: number, generation: string): Deno.KvKey {
    return [...this.prefix, "r", retiredAt, generation];
  }

  /** A key under one tag. */
  under(...parts: Deno.KvKeyPart[]): Deno.KvKey {
    return [...this.prefix, ...parts];
  }
}
