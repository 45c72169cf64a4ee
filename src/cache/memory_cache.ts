/**
 * {@linkcode MemoryCache}, a {@linkcode NetworkCache} that keeps responses in memory for the
 * life of the process.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import { checkClock } from "../_clock.ts";
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
 * Options of {@linkcode MemoryCache}.
 *
 * @example A small cache on a clock of its own
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryCache, type MemoryCacheOptions } from "@netaccess/core";
 *
 * let now = 0;
 * const options: MemoryCacheOptions = { maxSize: 1024 * 1024, clock: () => now };
 * await using cache = new MemoryCache(options);
 * await cache.insert({ url: "https://example.com/", status: 200, headers: {}, expires: 1000 }, []);
 * now = 2000;
 * assert.equal(cache.maxSize, 1048576);
 * assert.equal(await cache.metaData("https://example.com/"), null);
 * ```
 */
export interface MemoryCacheOptions {
  /**
   * The size in bytes (bodies plus metadata) the cache stays under; least recently used
   * entries are evicted down to 90% of it, and an entry larger than three quarters of it is
   * not stored.
   *
   * @default {52428800}
   */
  maxSize?: number;
  /**
   * The time source for expiry and access times.
   *
   * @default {Date.now}
   */
  clock?: Clock;
  /**
   * Whether the cache serves one user (`"private"`, as a browser's) or several (`"shared"`,
   * as in a server that makes requests for its users): see {@linkcode CacheMode}. A memory
   * cache lives in one process, most often one user's application, hence the default; a server
   * acting for several users sets `"shared"`.
   *
   * @default {"private"}
   */
  mode?: CacheMode;
}

interface Stored extends CacheEntry {
  readonly chunks: readonly Uint8Array[];
}

let generations = 0;

/**
 * A {@linkcode NetworkCache} in memory: fast, private to the process, gone when it exits.
 *
 * @example A manager with an in-memory cache
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryCache } from "@netaccess/core";
 *
 * await using cache = new MemoryCache({ maxSize: 10 * 1024 * 1024 });
 * await cache.insert({ url: "https://example.com/a", status: 200, headers: {} }, [
 *   new TextEncoder().encode("body"),
 * ]);
 * assert.equal(await cache.cacheSize() > 0, true);
 * ```
 */
export class MemoryCache implements NetworkCache {
  #entries = new Map<string, Map<string, Stored>>();
  #size = 0;
  #maxSize: number;
  #clock: Clock;
  #closed = false;
  /** Whether the cache layer treats this cache as shared or private; see {@linkcode CacheMode}. */
  readonly mode: CacheMode;

  /**
   * Creates an empty cache.
   *
   * @param options The size limit, clock and mode.
   * @throws {RangeError} When `maxSize` is not a positive integer.
   * @throws {TypeError} When `clock` is not a function or `mode` is not a mode.
   */
  constructor(options: MemoryCacheOptions = {}) {
    this.#maxSize = _checkMaxSize(options.maxSize, "create cache");
    this.#clock = checkClock("Cannot create cache", options.clock);
    this.mode = _checkMode(options.mode, "create cache", "private");
  }

  /** The size in bytes the cache stays under. */
  get maxSize(): number {
    return this.#maxSize;
  }

  /** Settles once the cache may be used, rejecting when it is closed. */
  #use(what: string): Promise<void> {
    return this.#closed
      ? Promise.reject(new TypeError(`Cannot ${what}: the cache is closed`))
      : Promise.resolve();
  }

  #get(url: string, variant: string): Stored | null {
    const stored = this.#entries.get(url)?.get(variant);
    if (stored === undefined) return null;
    if (_isExpired(stored, this.#clock())) {
      this.#delete(stored);
      return null;
    }
    return stored;
  }

  #delete(stored: Stored): void {
    const variants = this.#entries.get(stored.url);
    if (variants?.get(stored.variant) !== stored) return;
    variants.delete(stored.variant);
    if (variants.size === 0) this.#entries.delete(stored.url);
    this.#size -= stored.size;
  }

  #set(stored: Stored): void {
    let variants = this.#entries.get(stored.url);
    if (variants === undefined) {
      variants = new Map();
      this.#entries.set(stored.url, variants);
    }
    const old = variants.get(stored.variant);
    if (old !== undefined) this.#size -= old.size;
    variants.set(stored.variant, stored);
    this.#size += stored.size;
  }

  /**
   * Reads the metadata of one stored variant of a URL; an expired entry is a miss.
   *
   * @param url The URL; its fragment is ignored.
   * @param variant The variant, `""` for a response without `Vary`.
   * @returns The entry, or `null` on a miss.
   * @throws {TypeError} When `url` is not a valid URL or the cache is closed.
   */
  async metaData(url: string | URL, variant = ""): Promise<CacheEntry | null> {
    await this.#use("read cache");
    const stored = this.#get(_cacheUrl(url, "read cache"), variant);
    return stored === null ? null : _publicEntry(stored);
  }

  /**
   * Reads the metadata of every stored variant of a URL.
   *
   * @param url The URL; its fragment is ignored.
   * @returns The live entries.
   * @throws {TypeError} When `url` is not a valid URL or the cache is closed.
   */
  async variants(url: string | URL): Promise<CacheEntry[]> {
    await this.#use("read cache");
    const key = _cacheUrl(url, "read cache");
    const entries: CacheEntry[] = [];
    for (const variant of [...(this.#entries.get(key)?.keys() ?? [])]) {
      const stored = this.#get(key, variant);
      if (stored !== null) entries.push(_publicEntry(stored));
    }
    return entries;
  }

  /**
   * Opens the body stored with `entry` and records the access.
   *
   * @param entry An entry returned by this cache.
   * @returns The body, or `null` when the entry was replaced, removed or expired since.
   * @throws {TypeError} When the cache is closed.
   */
  async body(entry: CacheEntry): Promise<ReadableStream<Uint8Array> | null> {
    await this.#use("read cache");
    const stored = this.#get(entry.url, entry.variant);
    if (stored === null || stored.generation !== entry.generation) return null;
    this.#set({ ...stored, lastAccess: this.#clock() });
    const chunks = [...stored.chunks];
    let index = 0;
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        const chunk = chunks[index++];
        if (chunk === undefined) controller.close();
        else controller.enqueue(chunk.slice());
      },
    });
  }

  /**
   * Starts storing a response whose body is still arriving.
   *
   * @param metaData The response to store.
   * @returns The writer that receives the body and publishes the entry.
   * @throws {TypeError} When a field of `metaData` is invalid or the cache is closed.
   * @throws {RangeError} When `status` is not an HTTP status.
   */
  prepare(metaData: CacheMetaData): CacheWriter {
    if (this.#closed) throw new TypeError("Cannot store cache entry: the cache is closed");
    const fields = _checkMetaData(metaData, "store cache entry");
    const metaSize = _metaSize(fields);
    const limit = _maxEntrySize(this.#maxSize);
    const chunks: Uint8Array[] = [];
    let bodySize = 0;
    let state: "open" | "too-large" | "committed" | "aborted" = "open";
    const usable = (what: string): Promise<void> =>
      state === "committed" || state === "aborted"
        ? Promise.reject(new TypeError(`Cannot ${what}: the cache writer is already ${state}`))
        : Promise.resolve();
    const writer: CacheWriter = {
      write: async (chunk: Uint8Array): Promise<void> => {
        await usable("write cache entry");
        if (state === "open") {
          bodySize += chunk.length;
          if (bodySize + metaSize > limit) {
            state = "too-large";
            chunks.length = 0;
          } else if (chunk.length > 0) {
            chunks.push(chunk.slice());
          }
        }
        return;
      },
      commit: async (): Promise<boolean> => {
        await usable("commit cache entry");
        const accepted = state === "open" && !this.#closed;
        state = "committed";
        if (!accepted) return false;
        const now = this.#clock();
        const stored: Stored = {
          ...fields,
          bodySize,
          size: bodySize + metaSize,
          storedAt: now,
          lastAccess: now,
          generation: `m${++generations}`,
          chunks,
        };
        this.#set(stored);
        if (this.#size > this.#maxSize) this.#evict(stored);
        return true;
      },
      abort: (): Promise<void> => {
        if (state !== "committed") {
          state = "aborted";
          chunks.length = 0;
        }
        return Promise.resolve();
      },
      [Symbol.asyncDispose]: (): Promise<void> => writer.abort(),
    };
    return writer;
  }

  /**
   * Stores a response, reading its body to the end; an error from `body` or an abort stores
   * nothing and is rethrown.
   *
   * @param metaData The response to store.
   * @param body The body chunks.
   * @param options The abort signal.
   * @returns Whether the entry was stored (`false` when it is too large).
   * @throws {TypeError} When a field of `metaData` is invalid or the cache is closed.
   */
  insert(
    metaData: CacheMetaData,
    body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options: CacheInsertOptions = {},
  ): Promise<boolean> {
    try {
      return _insertInto(this.prepare(metaData), body, options.signal);
    } catch (error) {
      return Promise.reject(error);
    }
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
    await this.#use("update cache entry");
    const stored = this.#get(entry.url, entry.variant);
    if (stored === null || stored.generation !== entry.generation) return false;
    const fields = _applyUpdate(stored, update, "update cache entry");
    const metaSize = _metaSize({ ...fields, url: stored.url, variant: stored.variant });
    const updated: Stored = {
      ...stored,
      ...fields,
      size: stored.bodySize + metaSize,
      lastAccess: this.#clock(),
    };
    this.#set(updated);
    if (this.#size > this.#maxSize) this.#evict(updated);
    return true;
  }

  /**
   * Marks an entry as used now.
   *
   * @param entry The entry as read.
   * @returns A promise that resolves at once.
   * @throws {TypeError} When the cache is closed.
   */
  async touch(entry: CacheEntry): Promise<void> {
    await this.#use("update cache entry");
    const stored = this.#get(entry.url, entry.variant);
    if (stored !== null && stored.generation === entry.generation) {
      this.#set({ ...stored, lastAccess: this.#clock() });
    }
  }

  /**
   * Removes every variant stored for a URL.
   *
   * @param url The URL; its fragment is ignored.
   * @returns Whether anything was removed.
   * @throws {TypeError} When `url` is not a valid URL or the cache is closed.
   */
  async remove(url: string | URL): Promise<boolean> {
    await this.#use("remove cache entry");
    const variants = this.#entries.get(_cacheUrl(url, "remove cache entry"));
    if (variants === undefined) return false;
    for (const stored of [...variants.values()]) this.#delete(stored);
    return true;
  }

  /**
   * Removes every entry.
   *
   * @returns A promise that resolves at once.
   * @throws {TypeError} When the cache is closed.
   */
  async clear(): Promise<void> {
    await this.#use("clear cache");
    this.#entries.clear();
    this.#size = 0;
  }

  /**
   * The bytes the stored entries count: bodies plus metadata.
   *
   * @returns The size in bytes.
   */
  async cacheSize(): Promise<number> {
    await this.#use("read cache");
    return this.#size;
  }

  /** Evicts expired entries, then least recently used ones; `keep` goes last. */
  #evict(keep?: Stored): void {
    const now = this.#clock();
    const all = [...this.#entries.values()].flatMap((variants) => [...variants.values()]);
    for (const stored of all) if (_isExpired(stored, now)) this.#delete(stored);
    if (this.#size <= this.#maxSize) return;
    const target = _evictionTarget(this.#maxSize);
    const last = (s: Stored) => s.generation === keep?.generation ? 1 : 0;
    const order = (a: Stored, b: Stored) => last(a) - last(b) || _evictionOrder(a, b);
    for (const stored of all.filter((s) => !_isExpired(s, now)).sort(order)) {
      if (this.#size <= target) break;
      this.#delete(stored);
    }
  }

  /**
   * Drops expired entries, and evicts least recently used ones down to 90% of `maxSize` when
   * over it.
   *
   * @returns The cache size afterwards.
   * @throws {TypeError} When the cache is closed.
   */
  async expire(): Promise<number> {
    await this.#use("expire cache");
    this.#evict();
    return this.#size;
  }

  /**
   * Empties and closes the cache; writers still open store nothing. Safe to call twice.
   *
   * @returns A promise that resolves at once.
   */
  close(): Promise<void> {
    this.#closed = true;
    this.#entries.clear();
    this.#size = 0;
    return Promise.resolve();
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
