/**
 * {@linkcode KvCache}, a {@linkcode NetworkCache} in Deno KV: persistent, and shared by every
 * process (or Deno Deploy instance) that opens the same database.
 *
 * @module
 */

import { _claimPrefix, _kvPath, _openKv, checkPrefix } from "../_kv.ts";
import { _KvChanges } from "../_kv_changes.ts";
import { checkClock } from "../_clock.ts";
import { checkKeys, checkObject } from "../_validation.ts";
import { CacheCore, type StoredEntry } from "./_cache_core.ts";
import { _checkMaxSize, _checkMode } from "./_entry.ts";
import { KvBackend } from "./_kv_backend.ts";
import { _Keys } from "./_kv_cache_schema.ts";
import type { Clock } from "../clock.ts";
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
  path?: string | undefined;
  /**
   * A database the application opened and shares with the cache; the cache never closes it.
   *
   * @default {undefined}
   */
  kv?: Deno.Kv | undefined;
  /**
   * The key prefix under which the cache keeps everything; two caches with different prefixes
   * share a database without seeing each other. Non-empty, at most 512 bytes of text.
   * A prefix that starts with, or is the start of, the prefix of another store open on the same
   * `kv` object (or equals that of a store of another kind) is refused: clearing one would remove
   * the other's entries. Stores on other `Deno.Kv` objects or in other processes are not checked.
   *
   * @default {["netaccess", "cache"]}
   */
  prefix?: Deno.KvKey | undefined;
  /**
   * The size in bytes (bodies plus metadata) the cache stays under; least recently used
   * entries are evicted down to 90% of it, and an entry larger than three quarters of it is
   * not stored. The size counts the entries of every version sharing the database (see
   * `cacheSize()`); this version evicts its own entries only, and only as many as bring the size
   * within `maxSize`. When a newer version's entries leave too little room for an entry, that
   * entry is not stored (`insert()` and `commit()` return `false`) and no other is evicted for
   * it; none of its body is written when its size is known before (a body given whole, a
   * `Content-Length`), and no more of it once it is known not to fit.
   *
   * @default {52428800}
   */
  maxSize?: number | undefined;
  /**
   * The time source for expiry, access times and the age of interrupted writes.
   *
   * @default {Date.now}
   */
  clock?: Clock | undefined;
  /**
   * Whether the cache serves one user (`"private"`) or several (`"shared"`): see
   * {@linkcode CacheMode}. A KV database is shared by every process and every edge instance on
   * it, which most often act for many users, hence the default; an application acting for one
   * user only may set `"private"`.
   *
   * @default {"shared"}
   */
  mode?: CacheMode | undefined;
}

/** The names of the options (the type says every one is here). */
const OPTIONS = Object.keys(
  {
    path: 1,
    kv: 1,
    prefix: 1,
    maxSize: 1,
    clock: 1,
    mode: 1,
  } satisfies Record<keyof KvCacheOptions, 1>,
);

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
 * prefix (a record whose status, status text or headers no `Response` can carry included) is a
 * miss and is removed, with the size it counted and its body. Records are documented bytes behind a format version byte,
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
  readonly #core: CacheCore<StoredEntry>;
  /** Forgets the cache's prefix among those open on its database (see `_claimPrefix`). */
  readonly #release: () => void;
  /** Whether the cache layer treats this cache as shared or private; see {@linkcode CacheMode}. */
  readonly mode: CacheMode;

  private constructor(core: CacheCore<StoredEntry>, mode: CacheMode, release: () => void) {
    this.#core = core;
    this.mode = mode;
    this.#release = release;
  }

  /**
   * Opens a cache in a KV database: a file it opens (and closes), or one the application gives.
   *
   * @param options Where to store, under which prefix, the size limit, the clock and the mode.
   * @returns The open cache.
   * @throws {TypeError} When both `path` and `kv` are given, or an option has the wrong type or
   * is unknown (misspelt).
   * @throws {RangeError} When `maxSize` is a number that is not a positive integer, or `prefix`
   * is longer than 512 bytes or nests with the prefix of another store open on `kv`.
   */
  static async open(options: KvCacheOptions = {}): Promise<KvCache> {
    checkObject("Cannot open cache", "options", options);
    checkKeys("Cannot open cache", options, OPTIONS);
    const maxSize = _checkMaxSize(options.maxSize, "open cache");
    const clock: Clock = checkClock("Cannot open cache", options.clock);
    const prefix = checkPrefix("Cannot open cache", options.prefix, ["netaccess", "cache"]);
    const mode = _checkMode(options.mode, "open cache", "shared");
    const { kv, owned } = await _openKv(options, "cache");
    const release = _claimPrefix(kv, "cache", prefix);
    const backend = new KvBackend(kv, owned, new _Keys(prefix), clock);
    // A database in a file the cache (or a manager factory) opened: a hit on a record read
    // before, with nothing written since, needs no KV read.
    const path = owned ? options.path : _kvPath(kv);
    const changes = typeof path === "string" ? _KvChanges.open(path) : null;
    if (changes !== null) backend.watch(changes);
    return new KvCache(new CacheCore(backend, maxSize, clock), mode, release);
  }

  /** The size in bytes the cache stays under. */
  get maxSize(): number {
    return this.#core.maxSize;
  }

  /**
   * Reads the metadata of one stored variant of a URL: one KV read (none on a database opened
   * by `path` when nothing was written to it since this record was last read), parsed once per
   * stored version. An expired, corrupt or foreign entry is a miss, and is removed. A body stored
   * inline is read with it, so a following {@linkcode KvCache.body} reads nothing more.
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
   * Reads the metadata of every stored variant of a URL (one KV listing); expired, corrupt
   * and foreign entries are removed.
   *
   * @param url The URL; its fragment is ignored.
   * @returns The live entries, in key order.
   * @throws {TypeError} When `url` is not a valid URL or the cache is closed.
   */
  variants(url: string | URL): Promise<CacheEntry[]> {
    return this.#core.variants(url);
  }

  /**
   * Opens the body stored with `entry`, exactly that body. A body stored inline was read with
   * the entry; a longer one of up to 2 MiB is read whole before this resolves, and a longer
   * one streams. A body replaced meanwhile stays readable for five minutes; a reader slower
   * than that, or one whose body {@linkcode KvCache.clear} removed, fails with a
   * `NetworkReplyError` of code `UnknownContentError` that tells which. The access is
   * recorded when the last one is more than a minute old.
   *
   * @param entry An entry returned by this cache.
   * @returns The body, or `null` when it is no longer stored (removed, corrupt).
   * @throws {TypeError} When the cache is closed.
   */
  body(entry: CacheEntry): Promise<ReadableStream<Uint8Array<ArrayBuffer>> | null> {
    return this.#core.body(entry);
  }

  /**
   * Starts storing a response whose body is still arriving; the body goes to KV in chunks as
   * it comes, and the entry is published by {@linkcode CacheWriter.commit}.
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
   * Stores a response, writing its body to KV as it is read; the entry is published only once
   * the body completed. An error from `body` or an abort stores nothing and is rethrown.
   * An entry stored without a `policy` is one a manager serves by its headers (see
   * {@linkcode CacheMetaData.policy}); `Set-Cookie` and `Set-Cookie2` fields are not stored.
   *
   * @param metaData The response to store.
   * @param body The body chunks.
   * @param options The abort signal.
   * @returns Whether the entry was stored (`false` when it is too large, or storage failed).
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
   * was read with: one atomic write checked against the version read, retried when another
   * process changed the entry meanwhile.
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
   * Marks an entry as used now, unless it changed since it was read or its last access is
   * less than a minute old (so that reads write nothing). A record written by version 0.1.0
   * is rewritten in the current format.
   *
   * @param entry The entry as read.
   * @returns A promise that resolves once the access is recorded.
   * @throws {TypeError} When the cache is closed.
   */
  touch(entry: CacheEntry): Promise<void> {
    return this.#core.touch(entry);
  }

  /**
   * Removes every variant stored for a URL, each by an atomic write checked against the
   * version read, records a later version wrote in a newer format included; their bodies stay
   * readable for five minutes to readers that started on them.
   *
   * @param url The URL; its fragment is ignored.
   * @returns Whether anything was removed.
   * @throws {TypeError} When `url` is not a valid URL or the cache is closed.
   */
  remove(url: string | URL): Promise<boolean> {
    return this.#core.remove(url);
  }

  /**
   * Removes every entry, and everything else under the cache's prefix, at once (a reader of a
   * body removed this way fails, told that it was removed). An entry another process publishes while the cache clears
   * stays whole, as if published after the clearing; a write still in progress stores nothing.
   *
   * @returns A promise that resolves once the cache is empty.
   * @throws {TypeError} When the cache is closed.
   */
  clear(): Promise<void> {
    return this.#core.clear();
  }

  /**
   * The bytes the stored entries count: bodies plus metadata. Kept by every publication and
   * removal in the same atomic operation, so it is exact. It covers the entries of every
   * version sharing the database: a later version's record counts the `size` its metadata
   * says (the record header every format keeps), or its bytes when its header does not say,
   * both when that version stores it and when this one recounts (`expire()`).
   *
   * @returns The size in bytes.
   * @throws {TypeError} When the cache is closed.
   */
  cacheSize(): Promise<number> {
    return this.#core.cacheSize();
  }

  /**
   * Drops expired entries, reclaims the chunks of writes that were interrupted (no progress
   * for ten minutes by the cache's clock), of bodies replaced or removed more than five
   * minutes ago, and of replaced bodies a crashed writer left (five minutes after it finds
   * them, as a reader may still be reading one); removes corrupt records, and
   * evicts least recently used entries down to 90% of `maxSize` when over it.
   *
   * @returns The cache size afterwards.
   * @throws {TypeError} When the cache is closed.
   */
  expire(): Promise<number> {
    return this.#core.expire();
  }

  /**
   * Closes the cache: writers still open store nothing, and a database the cache opened is
   * closed (one given as `kv` is not). Safe to call twice.
   *
   * @returns A promise that resolves once closed.
   */
  close(): Promise<void> {
    this.#release();
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
