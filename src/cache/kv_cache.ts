/**
 * {@linkcode KvCache}, a {@linkcode NetworkCache} in Deno KV: persistent, and shared by every
 * process (or Deno Deploy instance) that opens the same database.
 *
 * @module
 */

import { _openKv, _retryLocked, checkPrefix } from "../_kv.ts";
import type { Clock } from "../clock.ts";
import { checkClock } from "../_clock.ts";
import {
  _applyUpdate,
  _byteLength,
  _cacheUrl,
  _checkMaxSize,
  _checkMetaData,
  _checkMode,
  _evictionOrder,
  _evictionTarget,
  _insertInto,
  _isExpired,
  _maxEntrySize,
  type _MetaFields,
  _metaSize,
  _publicEntry,
} from "./_entry.ts";
import type {
  CacheEntry,
  CacheInsertOptions,
  CacheMetaData,
  CacheMetaDataUpdate,
  CacheMode,
  CacheWriter,
  NetworkCache,
} from "./network_cache.ts";

/**
 * Options of {@linkcode KvCache.open}.
 *
 * @example Two caches sharing one database under different prefixes
 * ```ts
 * import { KvCache, type KvCacheOptions } from "@netaccess/core";
 *
 * await using kv = await Deno.openKv(":memory:");
 * const options: KvCacheOptions = { kv, prefix: ["app", "http"], maxSize: 8 * 1024 * 1024 };
 * await using cache = await KvCache.open(options);
 * await using other = await KvCache.open({ kv, prefix: ["app", "images"] });
 * await cache.insert({ url: "https://example.com/", status: 200, headers: {} }, [
 *   new Uint8Array(4),
 * ]);
 * console.log(await cache.cacheSize() > 0, await other.cacheSize()); // true 0
 * ```
 */
export interface KvCacheOptions {
  /**
   * A SQLite file (or `":memory:"`) to open; the cache opens it and closes it on
   * {@linkcode KvCache.close}. Give either `path` or `kv`; with neither, Deno's default
   * database is opened.
   *
   * @default {undefined}
   */
  path?: string;
  /**
   * A database the application opened and shares with the cache; the cache never closes it.
   *
   * @default {undefined}
   */
  kv?: Deno.Kv;
  /**
   * The key prefix under which the cache keeps everything; two caches with different prefixes
   * share a database without seeing each other. Non-empty, at most 512 bytes of text.
   *
   * @default {["netaccess", "cache"]}
   */
  prefix?: Deno.KvKey;
  /**
   * The size in bytes (bodies plus metadata) the cache stays under; least recently used
   * entries are evicted down to 90% of it, and an entry larger than three quarters of it is
   * not stored.
   *
   * @default {52428800}
   */
  maxSize?: number;
  /**
   * The time source for expiry, access times and the age of interrupted writes.
   *
   * @default {Date.now}
   */
  clock?: Clock;
  /**
   * Whether the cache serves one user (`"private"`) or several (`"shared"`): see
   * {@linkcode CacheMode}. A KV database is shared by every process and every edge instance on
   * it, which most often act for many users, hence the default; an application acting for one
   * user only may set `"private"`.
   *
   * @default {"shared"}
   */
  mode?: CacheMode;
}

/** Bytes per stored body chunk: the largest KV value. */
const CHUNK_SIZE = 65536;
/** Full chunks a writer buffers before writing them in one atomic operation. */
const FLUSH_CHUNKS = 8;
/** Keys per `getMany` (the KV limit). */
const READ_BATCH = 10;
/** Chunks read before {@linkcode KvCache.body} resolves: a body this short is read whole. */
const FIRST_WINDOW = 32;
/** Deletions per atomic operation. */
const DELETE_BATCH = 500;
/** A write that made no progress for this long was interrupted; `expire()` reclaims it. */
const STALE_WRITE_MS = 10 * 60 * 1000;
/** Publications retried after losing a race to another writer of the same entry. */
const PUBLISH_ATTEMPTS = 32;
/** The longest URL kept verbatim in a key; longer ones are hashed. */
const MAX_URL_KEY_BYTES = 1024;
/** The longest variant kept verbatim in a key; longer ones are hashed. */
const MAX_VARIANT_KEY_BYTES = 256;
const U64 = 1n << 64n;

/** A stored entry: the public fields plus the record version. */
interface EntryRecord extends CacheEntry {
  readonly v: 1;
}

/** The record of one body generation: a write in progress, a published body, or a dead one. */
interface GenerationRecord {
  state: "pending" | "published" | "dead";
  url: string;
  chunks: number;
  touchedAt: number;
}

/** A size change as the unsigned 64-bit addend of a KV `sum` (which wraps around). */
function u64(delta: number): bigint {
  return ((BigInt(delta) % U64) + U64) % U64;
}

function chunkCount(bodySize: number): number {
  return Math.ceil(bodySize / CHUNK_SIZE);
}

function isInteger(value: unknown, min = 0): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= min;
}

function isTime(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

function parseEntry(value: unknown): EntryRecord | null {
  if (typeof value !== "object" || value === null) return null;
  const r = value as Record<string, unknown>;
  if (
    r.v !== 1 || typeof r.url !== "string" || typeof r.variant !== "string" ||
    !isInteger(r.status, 100) || typeof r.statusText !== "string" || !Array.isArray(r.headers) ||
    !(r.expires === null || isTime(r.expires)) || !isInteger(r.bodySize) ||
    !isInteger(r.size) || !isTime(r.storedAt) || !isTime(r.lastAccess) ||
    typeof r.generation !== "string" || !("policy" in r)
  ) {
    return null;
  }
  for (const header of r.headers) {
    if (
      !Array.isArray(header) || header.length !== 2 || typeof header[0] !== "string" ||
      typeof header[1] !== "string"
    ) {
      return null;
    }
  }
  return r as unknown as EntryRecord;
}

function parseGeneration(value: unknown): GenerationRecord | null {
  if (typeof value !== "object" || value === null) return null;
  const r = value as Record<string, unknown>;
  if (
    (r.state !== "pending" && r.state !== "published" && r.state !== "dead") ||
    typeof r.url !== "string" || !isInteger(r.chunks) || !isTime(r.touchedAt)
  ) {
    return null;
  }
  return r as unknown as GenerationRecord;
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** A URL or variant as a key part: verbatim when short, its SHA-256 digest (bytes) when long. */
async function keyPart(text: string, maxBytes: number): Promise<string | Uint8Array> {
  return _byteLength(text) <= maxBytes ? text : await sha256(text);
}

function samePart(a: Deno.KvKeyPart | undefined, b: Deno.KvKeyPart): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    return a.length === b.length && a.every((byte, i) => byte === b[i]);
  }
  return a === b;
}

/**
 * A {@linkcode NetworkCache} in Deno KV, persistent and safe to share between processes.
 *
 * Bodies are stored in 64 KiB chunks under a generation id and published by one atomic write of
 * the metadata, checked against the version it replaces: a reader sees the old entry or the
 * new one, never a mix, even while another process writes the same URL. A write that fails,
 * is aborted or is interrupted (the process dies) publishes nothing; {@linkcode KvCache.expire}
 * reclaims the chunks it left once it made no progress for ten minutes. Expiry is checked on
 * every read, by the cache's clock. A corrupt or foreign value under the prefix is a miss and
 * is removed.
 *
 * @example A persistent cache
 * ```ts
 * import { KvCache } from "@netaccess/core";
 *
 * await using cache = await KvCache.open({ path: ":memory:", maxSize: 20 * 1024 * 1024 });
 * await cache.insert({ url: "https://example.com/", status: 200, headers: {} }, [
 *   new TextEncoder().encode("hello"),
 * ]);
 * const entry = await cache.metaData("https://example.com/");
 * console.log(entry?.bodySize); // 5
 * ```
 */
export class KvCache implements NetworkCache {
  #kv: Deno.Kv;
  #owned: boolean;
  #prefix: Deno.KvKey;
  #maxSize: number;
  #clock: Clock;
  #closed = false;
  #writers = new Set<KvCacheWriter>();
  /** Whether the cache layer treats this cache as shared or private; see {@linkcode CacheMode}. */
  readonly mode: CacheMode;

  private constructor(
    kv: Deno.Kv,
    owned: boolean,
    prefix: Deno.KvKey,
    maxSize: number,
    clock: Clock,
    mode: CacheMode,
  ) {
    this.mode = mode;
    this.#kv = kv;
    this.#owned = owned;
    this.#prefix = prefix;
    this.#maxSize = maxSize;
    this.#clock = clock;
  }

  /**
   * Opens a cache in a KV database: a file it opens (and closes), or one the application gives.
   *
   * @param options Where to store, under which prefix, the size limit, the clock and the mode.
   * @returns The open cache.
   * @throws {TypeError} When both `path` and `kv` are given, or an option has the wrong type.
   * @throws {RangeError} When `maxSize` is not a positive integer.
   */
  static async open(options: KvCacheOptions = {}): Promise<KvCache> {
    const maxSize = _checkMaxSize(options.maxSize, "open cache");
    const clock = checkClock("Cannot open cache", options.clock);
    const prefix = checkPrefix("Cannot open cache", options.prefix, ["netaccess", "cache"]);
    const mode = _checkMode(options.mode, "open cache", "shared");
    const { kv, owned } = await _openKv(options, "cache");
    return new KvCache(kv, owned, prefix, maxSize, clock, mode);
  }

  /** The size in bytes the cache stays under. */
  get maxSize(): number {
    return this.#maxSize;
  }

  // --- keys -------------------------------------------------------------------------------

  async #entryKey(url: string, variant: string): Promise<Deno.KvKey> {
    return [
      ...this.#prefix,
      "e",
      await keyPart(url, MAX_URL_KEY_BYTES),
      await keyPart(variant, MAX_VARIANT_KEY_BYTES),
    ];
  }

  #genKey(generation: string): Deno.KvKey {
    return [...this.#prefix, "g", generation];
  }

  #chunkKey(generation: string, index: number): Deno.KvKey {
    return [...this.#prefix, "c", generation, index];
  }

  get #sizeKey(): Deno.KvKey {
    return [...this.#prefix, "n"];
  }

  // --- KV access, retried while another process holds the lock ------------------------------

  #check(what: string): void {
    if (this.#closed) throw new TypeError(`Cannot ${what}: the cache is closed`);
  }

  #get(key: Deno.KvKey): Promise<Deno.KvEntryMaybe<unknown>> {
    return _retryLocked(() => this.#kv.get(key));
  }

  async #commit(
    build: (atomic: Deno.AtomicOperation) => void,
  ): Promise<Deno.KvCommitResult | Deno.KvCommitError> {
    const attempt = () =>
      _retryLocked(() => {
        const atomic = this.#kv.atomic();
        build(atomic);
        return atomic.commit();
      });
    try {
      return await attempt();
    } catch (error) {
      // A foreign value where the size counter belongs: recompute the counter, then retry.
      // KV applies the mutations before a failing `sum` without rolling them back, so every
      // operation here puts its `sum` before any other mutation.
      if (!(error instanceof TypeError && /non-U64/.test(error.message))) throw error;
      await this.#reconcileSize();
      return await attempt();
    }
  }

  #list(prefix: Deno.KvKey): Promise<Deno.KvEntry<unknown>[]> {
    return _retryLocked(async () => {
      const entries: Deno.KvEntry<unknown>[] = [];
      for await (const entry of this.#kv.list({ prefix })) entries.push(entry);
      return entries;
    });
  }

  // --- entries ------------------------------------------------------------------------------

  /** Whether `key` is where a record for `entry` belongs. */
  async #keyFits(key: Deno.KvKey, entry: EntryRecord): Promise<boolean> {
    const n = this.#prefix.length;
    return key.length === n + 3 &&
      samePart(key[n + 1], await keyPart(entry.url, MAX_URL_KEY_BYTES)) &&
      samePart(key[n + 2], await keyPart(entry.variant, MAX_VARIANT_KEY_BYTES));
  }

  /**
   * Parses a stored entry; a corrupt or foreign value is removed and an expired entry dropped,
   * both reported as `null`.
   */
  async #live(item: Deno.KvEntryMaybe<unknown>): Promise<EntryRecord | null> {
    if (item.versionstamp === null) return null;
    const entry = parseEntry(item.value);
    if (entry === null || !(await this.#keyFits(item.key, entry))) {
      await this.#commit((a) =>
        a.check({ key: item.key, versionstamp: item.versionstamp }).delete(item.key)
      );
      return null;
    }
    if (_isExpired(entry, this.#clock())) {
      await this.#removeEntry(item.key, item.versionstamp, entry);
      return null;
    }
    return entry;
  }

  /** Removes an entry if it is still the version read; then deletes its body. */
  async #removeEntry(key: Deno.KvKey, versionstamp: string, entry: EntryRecord): Promise<boolean> {
    const result = await this.#commit((a) =>
      a.check({ key, versionstamp }).sum(this.#sizeKey, u64(-entry.size)).delete(key)
    );
    if (!result.ok) return false;
    await this.#deleteGeneration(entry.generation, chunkCount(entry.bodySize));
    return true;
  }

  /** Deletes the chunks of a generation, then its record (so a crash midway leaves a trace). */
  async #deleteGeneration(generation: string, chunks: number): Promise<void> {
    for (let start = 0; start < chunks; start += DELETE_BATCH) {
      const end = Math.min(chunks, start + DELETE_BATCH);
      await this.#commit((a) => {
        for (let i = start; i < end; i++) a.delete(this.#chunkKey(generation, i));
      });
    }
    await this.#commit((a) => a.delete(this.#genKey(generation)));
  }

  /** Removes the entry at `url`/`variant` if it still holds `generation` (its body is broken). */
  async #dropBroken(entry: CacheEntry): Promise<void> {
    const key = await this.#entryKey(entry.url, entry.variant);
    const item = await this.#get(key);
    const stored = parseEntry(item.value);
    if (item.versionstamp !== null && stored?.generation === entry.generation) {
      await this.#removeEntry(key, item.versionstamp, stored);
    }
  }

  /**
   * Reads the metadata of one stored variant of a URL. An expired, corrupt or foreign entry is
   * a miss, and is removed.
   *
   * @param url The URL; its fragment is ignored.
   * @param variant The variant, `""` for a response without `Vary`.
   * @returns The entry, or `null` on a miss.
   * @throws {TypeError} When `url` is not a valid URL or the cache is closed.
   */
  async metaData(url: string | URL, variant = ""): Promise<CacheEntry | null> {
    this.#check("read cache");
    const key = await this.#entryKey(_cacheUrl(url, "read cache"), String(variant));
    const entry = await this.#live(await this.#get(key));
    return entry === null ? null : _publicEntry(entry);
  }

  /**
   * Reads the metadata of every stored variant of a URL.
   *
   * @param url The URL; its fragment is ignored.
   * @returns The live entries.
   * @throws {TypeError} When `url` is not a valid URL or the cache is closed.
   */
  async variants(url: string | URL): Promise<CacheEntry[]> {
    this.#check("read cache");
    const part = await keyPart(_cacheUrl(url, "read cache"), MAX_URL_KEY_BYTES);
    const entries: CacheEntry[] = [];
    for (const item of await this.#list([...this.#prefix, "e", part])) {
      const entry = await this.#live(item);
      if (entry !== null) entries.push(_publicEntry(entry));
    }
    return entries;
  }

  /** Reads chunks `[start, end)` of a body; `null` when one is missing or malformed. */
  async #readChunks(
    entry: CacheEntry,
    start: number,
    end: number,
  ): Promise<Uint8Array[] | null> {
    const count = chunkCount(entry.bodySize);
    const batches: Promise<Deno.KvEntryMaybe<unknown>[]>[] = [];
    for (let i = start; i < end; i += READ_BATCH) {
      const keys: Deno.KvKey[] = [];
      for (let j = i; j < Math.min(end, i + READ_BATCH); j++) {
        keys.push(this.#chunkKey(entry.generation, j));
      }
      batches.push(_retryLocked(() => this.#kv.getMany(keys)));
    }
    const chunks: Uint8Array[] = [];
    for (const item of (await Promise.all(batches)).flat()) {
      const index = start + chunks.length;
      const expected = index === count - 1 ? entry.bodySize - index * CHUNK_SIZE : CHUNK_SIZE;
      if (!(item.value instanceof Uint8Array) || item.value.length !== expected) return null;
      chunks.push(item.value);
    }
    return chunks;
  }

  /**
   * Opens the body stored with `entry`, exactly that body, and records the access. A body of
   * up to 2 MiB is read whole before this resolves; a longer one streams, and fails with an
   * error if it is replaced and collected while it is read.
   *
   * @param entry An entry returned by this cache.
   * @returns The body, or `null` when it is no longer stored (replaced, removed, corrupt).
   * @throws {TypeError} When the cache is closed.
   */
  async body(entry: CacheEntry): Promise<ReadableStream<Uint8Array> | null> {
    this.#check("read cache");
    const count = chunkCount(entry.bodySize);
    const first = await this.#readChunks(entry, 0, Math.min(count, FIRST_WINDOW));
    if (first === null) {
      await this.#dropBroken(entry);
      return null;
    }
    await this.touch(entry);
    const queue = first;
    let next = first.length;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (queue.length === 0 && next < count) {
          const end = Math.min(count, next + READ_BATCH);
          const chunks = await this.#readChunks(entry, next, end);
          if (chunks === null) {
            controller.error(
              new Error(`Cannot read cached body of '${entry.url}': it was replaced while read`),
            );
            return;
          }
          queue.push(...chunks);
          next = end;
        }
        const chunk = queue.shift();
        if (chunk === undefined) controller.close();
        else controller.enqueue(chunk);
      },
    });
  }

  // --- writing ------------------------------------------------------------------------------

  /**
   * Starts storing a response whose body is still arriving; the body goes to KV in chunks as
   * it comes, and the entry is published by {@linkcode CacheWriter.commit}.
   *
   * @param metaData The response to store.
   * @returns The writer that receives the body and publishes the entry.
   * @throws {TypeError} When a field of `metaData` is invalid or the cache is closed.
   * @throws {RangeError} When `status` is not an HTTP status.
   */
  prepare(metaData: CacheMetaData): CacheWriter {
    this.#check("store cache entry");
    const fields = _checkMetaData(metaData, "store cache entry");
    const writer = new KvCacheWriter({
      fields,
      metaSize: _metaSize(fields),
      limit: _maxEntrySize(this.#maxSize),
      clock: this.#clock,
      get: (key) => this.#get(key),
      commit: (build) => this.#commit(build),
      entryKey: () => this.#entryKey(fields.url, fields.variant),
      genKey: (generation) => this.#genKey(generation),
      chunkKey: (generation, index) => this.#chunkKey(generation, index),
      sizeKey: this.#sizeKey,
      deleteGeneration: (generation, chunks) => this.#deleteGeneration(generation, chunks),
      published: (generation) => this.#afterPublish(generation),
      done: () => this.#writers.delete(writer),
    });
    this.#writers.add(writer);
    return writer;
  }

  /** Evicts down to 90% of `maxSize` when over it, keeping the entry just written. */
  async #afterPublish(keep: string): Promise<void> {
    if (!this.#closed && await this.cacheSize() > this.#maxSize) {
      await this.#evict(_evictionTarget(this.#maxSize), keep);
    }
  }

  /**
   * Stores a response, reading its body to the end; an error from `body` or an abort stores
   * nothing and is rethrown.
   *
   * @param metaData The response to store.
   * @param body The body chunks.
   * @param options The abort signal.
   * @returns Whether the entry was stored (`false` when it is too large, or storage failed).
   * @throws {TypeError} When a field of `metaData` is invalid or the cache is closed.
   */
  async insert(
    metaData: CacheMetaData,
    body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options: CacheInsertOptions = {},
  ): Promise<boolean> {
    return await _insertInto(this.prepare(metaData), body, options.signal);
  }

  /**
   * Replaces fields of a stored entry, keeping its body, while it still holds the body `entry`
   * was read with.
   *
   * @param entry The entry as read.
   * @param update The fields to replace.
   * @returns Whether the entry was updated.
   * @throws {TypeError} When a field of `update` is invalid or the cache is closed.
   */
  async updateMetaData(entry: CacheEntry, update: CacheMetaDataUpdate): Promise<boolean> {
    this.#check("update cache entry");
    const key = await this.#entryKey(entry.url, entry.variant);
    for (let attempt = 0; attempt < PUBLISH_ATTEMPTS; attempt++) {
      const item = await this.#get(key);
      const stored = await this.#live(item);
      if (stored === null || stored.generation !== entry.generation) return false;
      const fields: _MetaFields = _applyUpdate(stored, update, "update cache entry");
      const size = stored.bodySize +
        _metaSize({ ...fields, url: stored.url, variant: stored.variant });
      const record: EntryRecord = { ...stored, ...fields, size, lastAccess: this.#clock() };
      const result = await this.#commit((a) =>
        a.check(item).sum(this.#sizeKey, u64(size - stored.size)).set(key, record)
      );
      if (result.ok) {
        await this.#afterPublish(stored.generation);
        return true;
      }
    }
    return false;
  }

  /**
   * Marks an entry as used now, unless it changed since it was read.
   *
   * @param entry The entry as read.
   * @returns A promise that resolves once the access is recorded.
   * @throws {TypeError} When the cache is closed.
   */
  async touch(entry: CacheEntry): Promise<void> {
    this.#check("update cache entry");
    const key = await this.#entryKey(entry.url, entry.variant);
    const item = await this.#get(key);
    const stored = parseEntry(item.value);
    const now = this.#clock();
    if (stored?.generation !== entry.generation || stored.lastAccess === now) return;
    await this.#commit((a) => a.check(item).set(key, { ...stored, lastAccess: now }));
  }

  /**
   * Removes every variant stored for a URL.
   *
   * @param url The URL; its fragment is ignored.
   * @returns Whether anything was removed.
   * @throws {TypeError} When `url` is not a valid URL or the cache is closed.
   */
  async remove(url: string | URL): Promise<boolean> {
    this.#check("remove cache entry");
    const part = await keyPart(_cacheUrl(url, "remove cache entry"), MAX_URL_KEY_BYTES);
    let removed = false;
    for (let attempt = 0; attempt < PUBLISH_ATTEMPTS; attempt++) {
      const items = await this.#list([...this.#prefix, "e", part]);
      if (items.length === 0) break;
      for (const item of items) {
        const entry = parseEntry(item.value);
        if (entry === null) {
          await this.#commit((a) => a.check(item).delete(item.key));
        } else if (await this.#removeEntry(item.key, item.versionstamp, entry)) {
          removed = true;
        }
      }
    }
    return removed;
  }

  /**
   * Removes every entry, and everything else under the cache's prefix.
   *
   * @returns A promise that resolves once the cache is empty.
   * @throws {TypeError} When the cache is closed.
   */
  async clear(): Promise<void> {
    this.#check("clear cache");
    const n = this.#prefix.length;
    for (const item of await this.#list([...this.#prefix, "e"])) {
      const entry = parseEntry(item.value);
      await this.#commit((a) => {
        a.check(item);
        if (entry !== null) a.sum(this.#sizeKey, u64(-entry.size));
        a.delete(item.key);
      });
    }
    for (let attempt = 0; attempt < PUBLISH_ATTEMPTS; attempt++) {
      const generations = await this.#list([...this.#prefix, "g"]);
      if (generations.length === 0) break;
      for (const item of generations) await this.#collect(item);
    }
    // What remains has no generation record: chunks of none, and values we did not write.
    const rest = (await this.#list(this.#prefix)).filter((item) => {
      const tag = item.key[n];
      if (tag === "n") return false;
      if (tag === "c" && typeof item.key[n + 1] === "string") return true;
      return tag !== "e" && tag !== "g";
    });
    for (const item of rest) {
      const tag = item.key[n];
      const generation = item.key[n + 1];
      if (tag === "c" && typeof generation === "string") {
        const record = await this.#get(this.#genKey(generation));
        if (record.versionstamp !== null) continue; // a write that started meanwhile
      }
      await this.#commit((a) => a.check(item).delete(item.key));
    }
    await this.#reconcileSize();
  }

  /**
   * Deletes a generation given its record as read: marked dead first, so that a writer still
   * adding to it fails its next check; a record that changed meanwhile is left alone.
   */
  async #collect(item: Deno.KvEntry<unknown>): Promise<void> {
    const generation = item.key[this.#prefix.length + 1];
    const record = parseGeneration(item.value);
    if (
      record === null || typeof generation !== "string" ||
      item.key.length !== this.#prefix.length + 2
    ) {
      await this.#commit((a) => a.check(item).delete(item.key));
      return;
    }
    if (record.state !== "dead") {
      const result = await this.#commit((a) =>
        a.check(item).set(item.key, { ...record, state: "dead" })
      );
      if (!result.ok) return;
    }
    await this.#deleteGeneration(generation, record.chunks);
  }

  /**
   * The bytes the stored entries count: bodies plus metadata. Kept by every publication and
   * removal in the same atomic operation, so it is exact.
   *
   * @returns The size in bytes.
   * @throws {TypeError} When the cache is closed.
   */
  async cacheSize(): Promise<number> {
    this.#check("read cache");
    const item = await this.#get(this.#sizeKey);
    if (item.versionstamp === null) return 0;
    if (item.value instanceof Deno.KvU64 && item.value.value < U64 / 2n) {
      return Number(item.value.value);
    }
    return await this.#reconcileSize();
  }

  /** Recomputes the size counter from the entries, unless something changed it meanwhile. */
  async #reconcileSize(): Promise<number> {
    for (let attempt = 0; attempt < PUBLISH_ATTEMPTS; attempt++) {
      const counter = await this.#get(this.#sizeKey);
      let total = 0;
      for (const item of await this.#list([...this.#prefix, "e"])) {
        total += parseEntry(item.value)?.size ?? 0;
      }
      const result = await this.#commit((a) =>
        a.check(counter).set(this.#sizeKey, new Deno.KvU64(BigInt(total)))
      );
      if (result.ok) return total;
    }
    return await this.cacheSize();
  }

  /** Live entries with the version each was read at; expired and foreign ones are removed. */
  async #liveEntries(): Promise<{ key: Deno.KvKey; versionstamp: string; entry: EntryRecord }[]> {
    const live = [];
    for (const item of await this.#list([...this.#prefix, "e"])) {
      const entry = await this.#live(item);
      if (entry !== null) live.push({ key: item.key, versionstamp: item.versionstamp, entry });
    }
    return live;
  }

  /**
   * Evicts expired entries, then least recently used ones until the size is `target`; the
   * entry holding generation `keep` goes last.
   */
  async #evict(target: number, keep?: string): Promise<void> {
    const live = await this.#liveEntries();
    let size = await this.cacheSize();
    const last = (e: CacheEntry) => e.generation === keep ? 1 : 0;
    live.sort((a, b) => last(a.entry) - last(b.entry) || _evictionOrder(a.entry, b.entry));
    for (const { key, versionstamp, entry } of live) {
      if (size <= target) break;
      if (await this.#removeEntry(key, versionstamp, entry)) size -= entry.size;
    }
  }

  /**
   * Drops expired entries, reclaims the chunks of writes that were interrupted (no progress
   * for ten minutes by the cache's clock) or replaced bodies a crashed writer left, removes
   * corrupt records, and evicts least recently used entries down to 90% of `maxSize` when over it.
   *
   * @returns The cache size afterwards.
   * @throws {TypeError} When the cache is closed.
   */
  async expire(): Promise<number> {
    this.#check("expire cache");
    // Generations first: one published before this listing is referenced by an entry that
    // the later listing of entries sees, unless it was replaced (then it is garbage).
    const generations = await this.#list([...this.#prefix, "g"]);
    const referenced = new Set((await this.#liveEntries()).map(({ entry }) => entry.generation));
    const now = this.#clock();
    for (const item of generations) {
      const generation = item.key[this.#prefix.length + 1];
      const record = parseGeneration(item.value);
      if (typeof generation === "string" && referenced.has(generation)) continue;
      if (record?.state === "pending" && now - record.touchedAt < STALE_WRITE_MS) continue;
      await this.#collect(item);
    }
    const size = await this.#reconcileSize();
    if (size > this.#maxSize) await this.#evict(_evictionTarget(this.#maxSize));
    return await this.cacheSize();
  }

  /**
   * Closes the cache: writers still open store nothing, and a database the cache opened is
   * closed (one given as `kv` is not). Safe to call twice.
   *
   * @returns A promise that resolves once closed.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#writers].map((writer) => writer.discard()));
    if (this.#owned) this.#kv.close();
  }

  /**
   * Closes the cache, for `await using`.
   *
   * @returns A promise that resolves once closed.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** What a writer needs from its cache. */
interface WriterContext {
  fields: _MetaFields & { url: string; variant: string };
  metaSize: number;
  limit: number;
  clock: Clock;
  get(key: Deno.KvKey): Promise<Deno.KvEntryMaybe<unknown>>;
  commit(
    build: (atomic: Deno.AtomicOperation) => void,
  ): Promise<Deno.KvCommitResult | Deno.KvCommitError>;
  entryKey(): Promise<Deno.KvKey>;
  genKey(generation: string): Deno.KvKey;
  chunkKey(generation: string, index: number): Deno.KvKey;
  sizeKey: Deno.KvKey;
  deleteGeneration(generation: string, chunks: number): Promise<void>;
  published(generation: string): Promise<void>;
  done(): void;
}

/**
 * Writes a body in chunks under a fresh generation id, recording progress in the generation
 * record in the same atomic operation, then publishes the entry.
 */
class KvCacheWriter implements CacheWriter {
  #context: WriterContext;
  #generation = crypto.randomUUID();
  #state: "open" | "failed" | "committed" | "aborted" = "open";
  #current = new Uint8Array(CHUNK_SIZE);
  #fill = 0;
  #ready: Uint8Array[] = [];
  /** Chunks handed to a flush (their indexes are taken). */
  #queued = 0;
  /** Chunks known to be stored. */
  #written = 0;
  #bodySize = 0;
  /** The versionstamp of the generation record as this writer last wrote it. */
  #generationStamp: string | null = null;
  #chain: Promise<void> = Promise.resolve();
  #committing: Promise<boolean> | null = null;

  constructor(context: WriterContext) {
    this.#context = context;
  }

  #ensureUsable(what: string): void {
    if (this.#state === "committed" || this.#state === "aborted") {
      throw new TypeError(`Cannot ${what}: the cache writer is already ${this.#state}`);
    }
  }

  write(chunk: Uint8Array): Promise<void> {
    try {
      this.#ensureUsable("write cache entry");
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#state !== "open") return this.#chain;
    this.#bodySize += chunk.length;
    if (this.#bodySize + this.#context.metaSize > this.#context.limit) {
      this.#fail();
      return this.#chain;
    }
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(CHUNK_SIZE - this.#fill, chunk.length - offset);
      this.#current.set(chunk.subarray(offset, offset + take), this.#fill);
      this.#fill += take;
      offset += take;
      if (this.#fill === CHUNK_SIZE) {
        this.#ready.push(this.#current);
        this.#current = new Uint8Array(CHUNK_SIZE);
        this.#fill = 0;
      }
    }
    while (this.#ready.length >= FLUSH_CHUNKS) {
      const chunks = this.#ready.splice(0, FLUSH_CHUNKS);
      const start = this.#queued;
      this.#queued += chunks.length;
      this.#chain = this.#chain.then(() => this.#flush(start, chunks));
    }
    return this.#chain;
  }

  /** Stops storing: nothing will be published, and what was written is deleted. */
  #fail(): void {
    if (this.#state !== "open") return;
    this.#state = "failed";
    this.#ready = [];
    this.#chain = this.#chain.then(() => this.#cleanUp());
  }

  async #cleanUp(): Promise<void> {
    if (this.#generationStamp === null) return;
    this.#generationStamp = null;
    try {
      await this.#context.deleteGeneration(this.#generation, this.#written);
    } catch {
      // Left for expire(): the generation record is pending and goes stale.
    }
  }

  async #flush(start: number, chunks: Uint8Array[]): Promise<void> {
    if (this.#state !== "open") return;
    const { commit, genKey, chunkKey, fields, clock } = this.#context;
    const key = genKey(this.#generation);
    const record: GenerationRecord = {
      state: "pending",
      url: fields.url,
      chunks: start + chunks.length,
      touchedAt: clock(),
    };
    try {
      const result = await commit((a) => {
        a.check({ key, versionstamp: this.#generationStamp });
        chunks.forEach((chunk, i) => a.set(chunkKey(this.#generation, start + i), chunk));
        a.set(key, record);
      });
      if (result.ok) {
        this.#generationStamp = result.versionstamp;
        this.#written = start + chunks.length;
      } else {
        // expire() reclaimed this write as interrupted and deletes what it wrote.
        this.#generationStamp = null;
        this.#fail();
      }
    } catch {
      this.#fail();
    }
  }

  commit(): Promise<boolean> {
    try {
      this.#ensureUsable("commit cache entry");
    } catch (error) {
      return Promise.reject(error);
    }
    this.#committing = this.#commit();
    return this.#committing;
  }

  async #commit(): Promise<boolean> {
    await this.#chain;
    if (this.#state !== "open") {
      this.#state = "committed";
      this.#context.done();
      return false;
    }
    this.#state = "committed";
    try {
      const published = await this.#publish();
      if (!published) await this.#cleanUp();
      return published;
    } catch {
      await this.#cleanUp();
      return false;
    } finally {
      this.#context.done();
    }
  }

  async #publish(): Promise<boolean> {
    const { commit, get, entryKey, genKey, chunkKey, sizeKey, fields, metaSize, clock } =
      this.#context;
    if (this.#fill > 0) this.#ready.push(this.#current.slice(0, this.#fill));
    const start = this.#queued;
    const rest = this.#ready;
    const chunks = start + rest.length;
    const size = this.#bodySize + metaSize;
    const key = await entryKey();
    const generationKey = genKey(this.#generation);
    for (let attempt = 0; attempt < PUBLISH_ATTEMPTS; attempt++) {
      const current = await get(key);
      const old = parseEntry(current.value);
      const now = clock();
      const record: EntryRecord = {
        v: 1,
        ...fields,
        bodySize: this.#bodySize,
        size,
        storedAt: now,
        lastAccess: now,
        generation: this.#generation,
      };
      const result = await commit((a) => {
        a.check(current).check({ key: generationKey, versionstamp: this.#generationStamp });
        a.sum(sizeKey, u64(size - (old?.size ?? 0))); // first: see #commit
        rest.forEach((chunk, i) => a.set(chunkKey(this.#generation, start + i), chunk));
        a.set(generationKey, { state: "published", url: fields.url, chunks, touchedAt: now });
        a.set(key, record);
      });
      if (result.ok) {
        this.#generationStamp = null;
        if (old !== null && old.generation !== this.#generation) {
          try {
            await this.#context.deleteGeneration(old.generation, chunkCount(old.bodySize));
          } catch {
            // Left for expire(): the old generation is no longer referenced.
          }
        }
        try {
          await this.#context.published(this.#generation);
        } catch {
          // Eviction is retried by the next publication or expire().
        }
        return true;
      }
      if (this.#generationStamp !== null) {
        const mine = await get(generationKey);
        if (mine.versionstamp !== this.#generationStamp) {
          this.#generationStamp = null; // reclaimed by expire()
          return false;
        }
      }
    }
    return false;
  }

  /** Makes the writer store nothing (its commit returns false), for closing the cache. */
  async discard(): Promise<void> {
    this.#fail();
    await this.#chain;
    await this.#committing?.catch(() => {});
  }

  async abort(): Promise<void> {
    if (this.#state === "committed" || this.#state === "aborted") {
      await this.#committing; // a publication in flight finishes before the cache closes
      return;
    }
    this.#fail();
    this.#state = "aborted";
    await this.#chain;
    this.#context.done();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.abort();
  }
}
