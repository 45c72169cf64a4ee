/**
 * {@linkcode KvCache}, a {@linkcode NetworkCache} in Deno KV: persistent, and shared by every
 * process (or Deno Deploy instance) that opens the same database.
 *
 * @module
 */

import { _openKv, checkPrefix } from "../_kv.ts";
import type { Clock } from "../clock.ts";
import { checkClock } from "../_clock.ts";
import { NetworkError, NetworkReplyError } from "../network_error.ts";
import {
  _applyUpdate,
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
} from "./_entry.ts";
import {
  _CHUNK_SIZE,
  _chunkCount,
  type _DecodedEntry,
  _decodeEntry,
  _decodeGeneration,
  _encodeEntry,
  _encodeGeneration,
  _inlineRecordSize,
  _Keys,
  _MAX_VALUE,
  _READ_BATCH,
  _RETIRE_GRACE_MS,
  _samePart,
  _STALE_WRITE_MS,
  _TOUCH_THRESHOLD_MS,
  _u64,
  _urlPart,
  _variantPart,
} from "./_kv_cache_schema.ts";
import { _KvCacheStorage } from "./_kv_cache_storage.ts";
import { _KvCacheWriter, _PUBLISH_ATTEMPTS } from "./_kv_cache_writer.ts";
import type {
  CacheEntry,
  CacheInsertOptions,
  CacheMetaData,
  CacheMetaDataUpdate,
  CacheMode,
  CacheWriter,
  NetworkCache,
} from "./network_cache.ts";

/** Chunks read before {@linkcode KvCache.body} resolves: a body this short is read whole. */
const FIRST_WINDOW = 32;
/** Decoded records kept, so a repeated hit on the same version parses nothing. */
const MEMO_SIZE = 256;
/** Retired bodies collected after each publication. */
const SWEEP_BATCH = 8;

/**
 * Options of {@linkcode KvCache.open}.
 *
 * @example Two caches sharing one database under different prefixes
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvCache, type KvCacheOptions } from "@netaccess/core";
 *
 * await using kv = await Deno.openKv(":memory:");
 * const options: KvCacheOptions = { kv, prefix: ["app", "http"], maxSize: 8 * 1024 * 1024 };
 * await using cache = await KvCache.open(options);
 * await using other = await KvCache.open({ kv, prefix: ["app", "images"] });
 * await cache.insert({ url: "https://example.com/", status: 200, headers: {} }, [
 *   new Uint8Array(4),
 * ]);
 * assert.equal(await cache.cacheSize() > 0, true);
 * assert.equal(await other.cacheSize(), 0);
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

/**
 * A {@linkcode NetworkCache} in Deno KV, persistent and safe to share between processes.
 *
 * A body that fits in one KV value (64 KiB with its metadata) is stored in the entry record, so
 * a hit is one KV read; a longer one is stored in 64 KiB chunks under a generation id, read
 * with the record's first chunks in parallel. Every entry is published by one atomic write of
 * its record, checked against the version it replaces: a reader sees the old entry or the new
 * one, never a mix, even while another process writes the same URL. A body that was replaced
 * or removed stays readable for five minutes, so a reader that started on it finishes it. A
 * write that fails, is aborted or is interrupted (the process dies) publishes nothing;
 * {@linkcode KvCache.expire} reclaims the chunks it left once it made no progress for ten
 * minutes. Expiry is checked on every read, by the cache's clock; a read writes nothing unless
 * the entry's last access is more than a minute old. A corrupt or foreign value under the
 * prefix is a miss and is removed. Records are documented bytes behind a format version byte,
 * readable from other runtimes; records written by version 0.1.0 are still read.
 *
 * @example A persistent cache
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvCache } from "@netaccess/core";
 *
 * await using cache = await KvCache.open({ path: ":memory:", maxSize: 20 * 1024 * 1024 });
 * await cache.insert({ url: "https://example.com/", status: 200, headers: {} }, [
 *   new TextEncoder().encode("hello"),
 * ]);
 * const entry = await cache.metaData("https://example.com/");
 * assert.equal(entry?.bodySize, 5);
 * ```
 */
export class KvCache implements NetworkCache {
  #kv: Deno.Kv;
  #owned: boolean;
  #keys: _Keys;
  #maxSize: number;
  #clock: Clock;
  #closed = false;
  #storage: _KvCacheStorage;
  #writers = new Set<_KvCacheWriter>();
  /** Decoded records by versionstamp, so a repeated hit parses nothing. */
  #memo = new Map<string, { key: Deno.KvKey; decoded: _DecodedEntry }>();
  /** The inline body read with an entry (`null`: the body is in chunks). */
  #bodies = new WeakMap<CacheEntry, Uint8Array | null>();
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
    this.#keys = new _Keys(prefix);
    this.#maxSize = maxSize;
    this.#clock = clock;
    this.#storage = new _KvCacheStorage(kv, this.#keys, clock);
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

  // --- KV access, retried while another process holds the lock ------------------------------

  #check(what: string): void {
    if (this.#closed) throw new TypeError(`Cannot ${what}: the cache is closed`);
  }

  // --- entries ------------------------------------------------------------------------------

  /**
   * Decodes the record `item` holds, from the memo when this version was decoded before; a
   * record that does not belong at its key is `null`. The entry returned is a fresh frozen
   * object (its headers and policy are shared, and frozen too).
   */
  async #decode(item: Deno.KvEntry<unknown>): Promise<_DecodedEntry | null> {
    const memo = this.#memo.get(item.versionstamp);
    const n = this.#keys.prefix.length;
    let decoded: _DecodedEntry;
    if (
      memo !== undefined && _samePart(memo.key[n + 1], item.key[n + 1]!) &&
      _samePart(memo.key[n + 2], item.key[n + 2]!)
    ) {
      decoded = memo.decoded;
    } else {
      const fresh = _decodeEntry(item.value);
      if (fresh === null) return null;
      const { entry } = fresh;
      if (
        item.key.length !== n + 3 ||
        !_samePart(item.key[n + 1], await _urlPart(entry.url)) ||
        !_samePart(item.key[n + 2], await _variantPart(entry.variant))
      ) {
        return null;
      }
      decoded = { entry, inline: fresh.inline, body: null };
      if (this.#memo.size >= MEMO_SIZE) this.#memo.delete(this.#memo.keys().next().value!);
      this.#memo.set(item.versionstamp, { key: item.key, decoded });
    }
    const entry: CacheEntry = Object.freeze({ ...decoded.entry });
    let body: Uint8Array | null = null;
    if (decoded.inline) {
      const value = item.value as Uint8Array;
      body = value.subarray(value.length - entry.bodySize);
    }
    this.#bodies.set(entry, body);
    return { entry, inline: decoded.inline, body };
  }

  /**
   * Reads a stored entry; a corrupt or foreign value is removed and an expired entry dropped,
   * both reported as `null`.
   */
  async #live(item: Deno.KvEntryMaybe<unknown>): Promise<_DecodedEntry | null> {
    if (item.versionstamp === null) return null;
    const decoded = await this.#decode(item);
    if (decoded === null) {
      await this.#storage.commit((a) => a.check(item).delete(item.key));
      return null;
    }
    if (_isExpired(decoded.entry, this.#clock())) {
      await this.#removeEntry(item.key, item.versionstamp, decoded);
      return null;
    }
    return decoded;
  }

  /** Removes an entry if it is still the version read; then retires its body. */
  async #removeEntry(
    key: Deno.KvKey,
    versionstamp: string,
    { entry, inline }: { entry: CacheEntry; inline: boolean },
  ): Promise<boolean> {
    const result = await this.#storage.commit((a) =>
      a.check({ key, versionstamp }).sum(this.#keys.size, _u64(-entry.size)).delete(key)
    );
    if (!result.ok) return false;
    if (!inline) await this.#storage.retire(entry.generation);
    return true;
  }

  /** Removes the entry at `url`/`variant` if it still holds `generation` (its body is broken). */
  async #dropBroken(entry: CacheEntry): Promise<void> {
    const key = await this.#keys.entry(entry.url, entry.variant);
    const item = await this.#storage.get(key);
    const stored = _decodeEntry(item.value);
    if (item.versionstamp !== null && stored?.entry.generation === entry.generation) {
      await this.#removeEntry(key, item.versionstamp, stored);
    }
  }

  /**
   * Reads the metadata of one stored variant of a URL. An expired, corrupt or foreign entry is
   * a miss, and is removed. A body stored inline is read with it, so a following
   * {@linkcode KvCache.body} reads nothing more.
   *
   * @param url The URL; its fragment is ignored.
   * @param variant The variant, `""` for a response without `Vary`.
   * @returns The entry, or `null` on a miss.
   * @throws {TypeError} When `url` is not a valid URL or the cache is closed.
   */
  async metaData(url: string | URL, variant = ""): Promise<CacheEntry | null> {
    this.#check("read cache");
    const key = await this.#keys.entry(_cacheUrl(url, "read cache"), String(variant));
    return (await this.#live(await this.#storage.get(key)))?.entry ?? null;
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
    const part = await _urlPart(_cacheUrl(url, "read cache"));
    const entries: CacheEntry[] = [];
    for (const item of await this.#storage.list({ prefix: this.#keys.under("e", part) })) {
      const decoded = await this.#live(item);
      if (decoded !== null) entries.push(decoded.entry);
    }
    return entries;
  }

  /**
   * Reads chunks `[start, end)` of a body, `_READ_BATCH` keys per `getMany`, all batches at
   * once; `null` when one is missing or malformed. With `withRecord`, the entry's record is
   * read in the first batch, and a record that no longer holds this body is `null` too.
   */
  async #readChunks(
    entry: CacheEntry,
    start: number,
    end: number,
    withRecord?: Deno.KvKey,
  ): Promise<Uint8Array[] | null> {
    const count = _chunkCount(entry);
    const batches: Promise<Deno.KvEntryMaybe<unknown>[]>[] = [];
    let i = start;
    while (i < end || withRecord !== undefined) {
      const keys: Deno.KvKey[] = [];
      if (withRecord !== undefined) keys.push(withRecord);
      for (; i < end && keys.length < _READ_BATCH; i++) {
        keys.push(this.#keys.chunk(entry.generation, i));
      }
      batches.push(this.#storage.getMany(keys));
      withRecord = undefined;
    }
    const items = (await Promise.all(batches)).flat();
    if (items.length > end - start) {
      const record = items.shift()!;
      if (record.versionstamp === null) return null;
      const stored = this.#memo.get(record.versionstamp)?.decoded ?? _decodeEntry(record.value);
      if (stored?.entry.generation !== entry.generation) return null;
    }
    const chunks: Uint8Array[] = [];
    for (const item of items) {
      const index = start + chunks.length;
      const expected = index === count - 1 ? entry.bodySize - index * _CHUNK_SIZE : _CHUNK_SIZE;
      if (!(item.value instanceof Uint8Array) || item.value.length !== expected) return null;
      chunks.push(item.value);
    }
    return chunks;
  }

  /** Where the body of `entry` is: inline bytes, `null` for chunks, `undefined` when gone. */
  async #bodyOf(entry: CacheEntry): Promise<Uint8Array | null | undefined> {
    const known = this.#bodies.get(entry);
    if (known === null) return null;
    // Handed out once: the reader owns those bytes.
    this.#bodies.delete(entry);
    if (known !== undefined) return known;
    const key = await this.#keys.entry(entry.url, entry.variant);
    const stored = _decodeEntry((await this.#storage.get(key)).value);
    if (stored?.entry.generation !== entry.generation) return stored?.inline ? undefined : null;
    return stored.body;
  }

  /**
   * Opens the body stored with `entry`, exactly that body. A body stored inline was read with
   * the entry; a longer one of up to 2 MiB is read whole before this resolves, and a longer
   * one streams. A body replaced meanwhile stays readable for five minutes; a reader slower
   * than that fails with a `NetworkReplyError` of code `UnknownContentError`. The access is
   * recorded when the last one is more than a minute old.
   *
   * @param entry An entry returned by this cache.
   * @returns The body, or `null` when it is no longer stored (removed, corrupt).
   * @throws {TypeError} When the cache is closed.
   */
  async body(entry: CacheEntry): Promise<ReadableStream<Uint8Array> | null> {
    this.#check("read cache");
    const inline = await this.#bodyOf(entry);
    if (inline === undefined) return null;
    if (inline !== null) {
      await this.#touchIfStale(entry);
      return new ReadableStream<Uint8Array>({
        start(controller) {
          if (inline.length > 0) controller.enqueue(inline);
          controller.close();
        },
      });
    }
    const count = _chunkCount(entry);
    const key = await this.#keys.entry(entry.url, entry.variant);
    const first = await this.#readChunks(entry, 0, Math.min(count, FIRST_WINDOW), key);
    if (first === null) {
      await this.#dropBroken(entry);
      return null;
    }
    await this.#touchIfStale(entry);
    const queue = first;
    let next = first.length;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (queue.length === 0 && next < count) {
          const end = Math.min(count, next + _READ_BATCH);
          const chunks = await this.#readChunks(entry, next, end);
          if (chunks === null) {
            controller.error(
              new NetworkReplyError(
                NetworkError.UnknownContentError,
                `Cannot read cached body of '${entry.url}': it was replaced, and collected ` +
                  `before this reader finished`,
              ),
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

  async #touchIfStale(entry: CacheEntry): Promise<void> {
    if (this.#clock() - entry.lastAccess < _TOUCH_THRESHOLD_MS) return;
    try {
      await this.touch(entry);
    } catch {
      // Best effort: a missed access only makes the entry older for eviction.
    }
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
    const writer = new _KvCacheWriter({
      fields,
      metaSize: _metaSize(fields),
      limit: _maxEntrySize(this.#maxSize),
      clock: this.#clock,
      keys: this.#keys,
      get: (key) => this.#storage.get(key),
      commit: (build) => this.#storage.commit(build),
      entryKey: async () => await this.#keys.entry(fields.url, fields.variant),
      deleteGeneration: (generation, chunks) => this.#storage.deleteGeneration(generation, chunks),
      retire: (generation) => this.#storage.retire(generation),
      published: (generation) => this.#afterPublish(generation),
      done: () => this.#writers.delete(writer),
    });
    this.#writers.add(writer);
    return writer;
  }

  /**
   * Evicts down to 90% of `maxSize` when over it, keeping the entry just written; collects a
   * few retired bodies.
   */
  async #afterPublish(keep: string): Promise<void> {
    if (this.#closed) return;
    if (await this.cacheSize() > this.#maxSize) {
      await this.#evict(_evictionTarget(this.#maxSize), keep);
    }
    await this.#storage.sweep(SWEEP_BATCH);
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
   * Writes `entry` at `key` over `item` (checked), with its body inline when it was and still
   * fits, in chunks under the same generation otherwise.
   */
  #rewrite(
    a: Deno.AtomicOperation,
    key: Deno.KvKey,
    entry: CacheEntry,
    body: Uint8Array | null,
  ): void {
    if (body !== null && _inlineRecordSize(entry, body.length) > _MAX_VALUE) {
      for (let i = 0; i * _CHUNK_SIZE < body.length; i++) {
        a.set(
          this.#keys.chunk(entry.generation, i),
          body.slice(i * _CHUNK_SIZE, (i + 1) * _CHUNK_SIZE),
        );
      }
      a.set(
        this.#keys.generation(entry.generation),
        _encodeGeneration({
          state: "published",
          url: entry.url,
          chunks: _chunkCount(entry),
          touchedAt: entry.lastAccess,
        }),
      );
      body = null;
    }
    a.set(key, _encodeEntry(entry, body));
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
    const key = await this.#keys.entry(entry.url, entry.variant);
    for (let attempt = 0; attempt < _PUBLISH_ATTEMPTS; attempt++) {
      const item = await this.#storage.get(key);
      const live = await this.#live(item);
      if (live === null || live.entry.generation !== entry.generation) return false;
      const stored = live.entry;
      const fields: _MetaFields = _applyUpdate(stored, update, "update cache entry");
      const size = stored.bodySize +
        _metaSize({ ...fields, url: stored.url, variant: stored.variant });
      const record: CacheEntry = { ...stored, ...fields, size, lastAccess: this.#clock() };
      const result = await this.#storage.commit((a) => {
        a.check(item).sum(this.#keys.size, _u64(size - stored.size));
        this.#rewrite(a, key, record, live.body);
      });
      if (result.ok) {
        await this.#afterPublish(stored.generation);
        return true;
      }
    }
    return false;
  }

  /**
   * Marks an entry as used now, unless it changed since it was read or its last access is
   * less than a minute old (so that reads write nothing). A record written by version 0.1.0
   * is rewritten in the current format.
   *
   * @param entry The entry as read.
   * @returns A promise that resolves once the access is recorded.
   * @throws {TypeError} When the cache is closed.
   */
  async touch(entry: CacheEntry): Promise<void> {
    this.#check("update cache entry");
    const now = this.#clock();
    if (now - entry.lastAccess < _TOUCH_THRESHOLD_MS) return;
    const key = await this.#keys.entry(entry.url, entry.variant);
    const item = await this.#storage.get(key);
    const stored = _decodeEntry(item.value);
    if (stored?.entry.generation !== entry.generation) return;
    if (now - stored.entry.lastAccess < _TOUCH_THRESHOLD_MS) return;
    await this.#storage.commit((a) => {
      a.check(item);
      this.#rewrite(a, key, { ...stored.entry, lastAccess: now }, stored.body);
    });
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
    const part = await _urlPart(_cacheUrl(url, "remove cache entry"));
    let removed = false;
    for (let attempt = 0; attempt < _PUBLISH_ATTEMPTS; attempt++) {
      const items = await this.#storage.list({ prefix: this.#keys.under("e", part) });
      if (items.length === 0) break;
      for (const item of items) {
        const decoded = _decodeEntry(item.value);
        if (decoded === null) {
          await this.#storage.commit((a) => a.check(item).delete(item.key));
        } else if (await this.#removeEntry(item.key, item.versionstamp, decoded)) {
          removed = true;
        }
      }
    }
    return removed;
  }

  /**
   * Removes every entry, and everything else under the cache's prefix, at once (a reader of a
   * body removed this way fails).
   *
   * @returns A promise that resolves once the cache is empty.
   * @throws {TypeError} When the cache is closed.
   */
  async clear(): Promise<void> {
    this.#check("clear cache");
    const n = this.#keys.prefix.length;
    for (const item of await this.#storage.list({ prefix: this.#keys.under("e") })) {
      const decoded = _decodeEntry(item.value);
      await this.#storage.commit((a) => {
        a.check(item);
        if (decoded !== null) a.sum(this.#keys.size, _u64(-decoded.entry.size));
        a.delete(item.key);
      });
    }
    for (let attempt = 0; attempt < _PUBLISH_ATTEMPTS; attempt++) {
      const generations = await this.#storage.list({ prefix: this.#keys.under("g") });
      if (generations.length === 0) break;
      for (const item of generations) await this.#storage.collect(item);
    }
    // What remains has no generation record: chunks of none, and values we did not write.
    const rest = (await this.#storage.list({ prefix: this.#keys.prefix })).filter((item) => {
      const tag = item.key[n];
      if (tag === "n") return false;
      if (tag === "c" && typeof item.key[n + 1] === "string") return true;
      return tag !== "e" && tag !== "g";
    });
    for (const item of rest) {
      const tag = item.key[n];
      const generation = item.key[n + 1];
      if (tag === "c" && typeof generation === "string") {
        const record = await this.#storage.get(this.#keys.generation(generation));
        if (record.versionstamp !== null) continue; // a write that started meanwhile
      }
      await this.#storage.commit((a) => a.check(item).delete(item.key));
    }
    await this.#storage.reconcileSize();
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
    return await this.#storage.size();
  }

  /** Live entries with the version each was read at; expired and foreign ones are removed. */
  async #liveEntries(): Promise<
    { key: Deno.KvKey; versionstamp: string; decoded: _DecodedEntry }[]
  > {
    const live = [];
    for (const item of await this.#storage.list({ prefix: this.#keys.under("e") })) {
      const decoded = await this.#live(item);
      if (decoded !== null) live.push({ key: item.key, versionstamp: item.versionstamp, decoded });
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
    live.sort((a, b) =>
      last(a.decoded.entry) - last(b.decoded.entry) ||
      _evictionOrder(a.decoded.entry, b.decoded.entry)
    );
    for (const { key, versionstamp, decoded } of live) {
      if (size <= target) break;
      if (await this.#removeEntry(key, versionstamp, decoded)) size -= decoded.entry.size;
    }
  }

  /**
   * Drops expired entries, reclaims the chunks of writes that were interrupted (no progress
   * for ten minutes by the cache's clock), of bodies replaced or removed more than five
   * minutes ago, and of replaced bodies a crashed writer left; removes corrupt records, and
   * evicts least recently used entries down to 90% of `maxSize` when over it.
   *
   * @returns The cache size afterwards.
   * @throws {TypeError} When the cache is closed.
   */
  async expire(): Promise<number> {
    this.#check("expire cache");
    // Generations first: one published before this listing is referenced by an entry that
    // the later listing of entries sees, unless it was replaced (then it is garbage).
    const generations = await this.#storage.list({ prefix: this.#keys.under("g") });
    const referenced = new Set(
      (await this.#liveEntries()).map(({ decoded }) => decoded.entry.generation),
    );
    const now = this.#clock();
    for (const item of generations) {
      const generation = item.key[this.#keys.prefix.length + 1];
      const record = _decodeGeneration(item.value);
      if (typeof generation === "string" && referenced.has(generation)) continue;
      if (record?.state === "pending" && now - record.touchedAt < _STALE_WRITE_MS) continue;
      if (record?.state === "retired" && now - record.touchedAt < _RETIRE_GRACE_MS) continue;
      await this.#storage.collect(item);
    }
    await this.#storage.sweep();
    const size = await this.#storage.reconcileSize();
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
    this.#memo.clear();
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
