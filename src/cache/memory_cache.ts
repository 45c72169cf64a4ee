/**
 * {@linkcode MemoryCache}, a {@linkcode NetworkCache} that keeps responses in memory for the
 * life of the process.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import { checkClock } from "../_clock.ts";
import { checkKeys, checkObject } from "../_validation.ts";
import { CacheCore, type StoredEntry } from "./_cache_core.ts";
import { _checkMaxSize, _checkMode } from "./_entry.ts";
import { MemoryBackend } from "./_memory_backend.ts";
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
  maxSize?: number | undefined;
  /**
   * The time source for expiry and access times.
   *
   * @default {Date.now}
   */
  clock?: Clock | undefined;
  /**
   * Whether the cache serves one user (`"private"`, as a browser's) or several (`"shared"`,
   * as in a server that makes requests for its users): see {@linkcode CacheMode}. A memory
   * cache lives in one process, most often one user's application, hence the default; a server
   * acting for several users sets `"shared"`.
   *
   * @default {"private"}
   */
  mode?: CacheMode | undefined;
}

/** The names of the options (the type says every one is here). */
const OPTIONS = Object.keys(
  {
    maxSize: 1,
    clock: 1,
    mode: 1,
  } satisfies Record<keyof MemoryCacheOptions, 1>,
);

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
  readonly #core: CacheCore<StoredEntry>;
  /** Whether the cache layer treats this cache as shared or private; see {@linkcode CacheMode}. */
  readonly mode: CacheMode;

  /**
   * Creates an empty cache.
   *
   * @param options The size limit, clock and mode.
   * @throws {RangeError} When `maxSize` is a number that is not a positive integer.
   * @throws {TypeError} When `maxSize` is not a number, `clock` is not a function, `mode` is not
   * a mode, or an option is unknown (misspelt).
   */
  constructor(options: MemoryCacheOptions = {}) {
    checkObject("Cannot create cache", "options", options);
    checkKeys("Cannot create cache", options, OPTIONS);
    const maxSize = _checkMaxSize(options.maxSize, "create cache");
    const clock = checkClock("Cannot create cache", options.clock);
    this.mode = _checkMode(options.mode, "create cache", "private");
    this.#core = new CacheCore(new MemoryBackend(clock), maxSize, clock);
  }

  /** The size in bytes the cache stays under. */
  get maxSize(): number {
    return this.#core.maxSize;
  }

  /**
   * Reads the metadata of one stored variant of a URL; an expired entry is a miss (and is
   * dropped).
   *
   * @param url The URL; its fragment is ignored.
   * @param variant The variant, `""` for a response without `Vary`.
   * @returns The entry, or `null` on a miss.
   * @throws {TypeError} When `url` is not a valid URL, `variant` is not a string or the cache is
   * closed.
   */
  metaData(url: string | URL, variant = ""): Promise<CacheEntry | null> {
    return this.#core.metaData(url, variant);
  }

  /**
   * Reads the metadata of every stored variant of a URL; expired ones are dropped.
   *
   * @param url The URL; its fragment is ignored.
   * @returns The live entries, in the order they were first stored.
   * @throws {TypeError} When `url` is not a valid URL or the cache is closed.
   */
  variants(url: string | URL): Promise<CacheEntry[]> {
    return this.#core.variants(url);
  }

  /**
   * Opens the body stored with `entry` and records the access. Each chunk read is a copy: a
   * reader that changes its bytes changes nothing stored.
   *
   * @param entry An entry returned by this cache.
   * @returns The body, or `null` when the entry was replaced, removed or expired since.
   * @throws {TypeError} When the cache is closed.
   */
  body(entry: CacheEntry): Promise<ReadableStream<Uint8Array<ArrayBuffer>> | null> {
    return this.#core.body(entry);
  }

  /**
   * Starts storing a response whose body is still arriving; the chunks are kept (copied) until
   * the commit publishes them.
   * An entry stored without a `policy` is one a manager serves by its headers (see
   * {@linkcode CacheMetaData.policy}); `Set-Cookie` and `Set-Cookie2` fields are not stored.
   *
   * @param metaData The response to store.
   * @returns The writer that receives the body and publishes the entry.
   * @throws {TypeError} When a field of `metaData` is invalid or the cache is closed.
   * @throws {RangeError} When `status` is a number outside 200 to 599, or `expires` one that is
   * not finite.
   */
  prepare(metaData: CacheMetaData): CacheWriter {
    return this.#core.prepare(metaData);
  }

  /**
   * Stores a response once its body has been read to the end; an error from `body` or an abort
   * stores nothing and is rethrown.
   * An entry stored without a `policy` is one a manager serves by its headers (see
   * {@linkcode CacheMetaData.policy}); `Set-Cookie` and `Set-Cookie2` fields are not stored.
   *
   * @param metaData The response to store.
   * @param body The body chunks.
   * @param options The abort signal.
   * @returns Whether the entry was stored (`false` when it is too large).
   * @throws {TypeError} When a field of `metaData` is invalid or the cache is closed.
   * @throws {RangeError} When `status` is a number outside 200 to 599, or `expires` one that is
   * not finite.
   */
  insert(
    metaData: CacheMetaData,
    body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options: CacheInsertOptions = {},
  ): Promise<boolean> {
    return this.#core.insert(metaData, body, options);
  }

  /**
   * Replaces fields of a stored entry, keeping its body, while it still holds the body `entry`
   * was read with; counts as an access.
   *
   * @param entry The entry as read.
   * @param update The fields to replace.
   * @returns Whether the entry was updated.
   * @throws {TypeError} When a field of `update` is invalid or the cache is closed.
   * @throws {RangeError} When `status` is a number outside 200 to 599, or `expires` one that is
   * not finite.
   */
  updateMetaData(entry: CacheEntry, update: CacheMetaDataUpdate): Promise<boolean> {
    return this.#core.updateMetaData(entry, update);
  }

  /**
   * Marks an entry as used now.
   *
   * @param entry The entry as read.
   * @returns A promise that resolves once the access is recorded.
   * @throws {TypeError} When the cache is closed.
   */
  touch(entry: CacheEntry): Promise<void> {
    return this.#core.touch(entry);
  }

  /**
   * Removes every variant stored for a URL, expired ones included.
   *
   * @param url The URL; its fragment is ignored.
   * @returns Whether anything was removed.
   * @throws {TypeError} When `url` is not a valid URL or the cache is closed.
   */
  remove(url: string | URL): Promise<boolean> {
    return this.#core.remove(url);
  }

  /**
   * Removes every entry.
   *
   * @returns A promise that resolves once the cache is empty.
   * @throws {TypeError} When the cache is closed.
   */
  clear(): Promise<void> {
    return this.#core.clear();
  }

  /**
   * The bytes the stored entries count: bodies plus metadata, kept as entries come and go.
   *
   * @returns The size in bytes.
   * @throws {TypeError} When the cache is closed.
   */
  cacheSize(): Promise<number> {
    return this.#core.cacheSize();
  }

  /**
   * Drops expired entries, and evicts least recently used ones down to 90% of `maxSize` when
   * over it.
   *
   * @returns The cache size afterwards.
   * @throws {TypeError} When the cache is closed.
   */
  expire(): Promise<number> {
    return this.#core.expire();
  }

  /**
   * Empties and closes the cache; writers still open store nothing. Safe to call twice.
   *
   * @returns A promise that resolves once closed.
   */
  close(): Promise<void> {
    return this.#core.close();
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
