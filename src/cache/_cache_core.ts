/**
 * The rules of a {@linkcode NetworkCache}, written once for {@linkcode MemoryCache} and
 * {@linkcode KvCache}: the closed check, URL and metadata validation, expiry on read, the
 * generation check of `body`, `updateMetaData` and `touch`, how often a read records an access,
 * the size limit of an entry, and least-recently-used eviction. Where the entries are kept is a
 * {@linkcode CacheBackend}: a few primitive operations, in memory or in Deno KV.
 *
 * The body is the backend's alone: a `KvCache` hit reads the record and its inline body (or its
 * first chunks) in one KV operation, which a generic read-then-open could not do.
 *
 * The cookie jars and HSTS stores follow the same design (README, "How it works").
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import { describe } from "../_validation.ts";
import {
  _applyUpdate,
  _cacheUrl,
  _cacheVariant,
  _checkMetaData,
  _declaredLength,
  _evictionOrder,
  _evictionTarget,
  _insertInto,
  _isExpired,
  _maxEntrySize,
  type _MetaFields,
  _metaSize,
  _wholeSize,
} from "./_entry.ts";
import type {
  CacheEntry,
  CacheInsertOptions,
  CacheMetaData,
  CacheMetaDataUpdate,
  CacheWriter,
} from "./network_cache.ts";

/** Attempts of a read-modify-write that lost a race to another writer of the same entry. */
export const ATTEMPTS = 32;

/** A stored entry as a backend read it: the entry, and whatever the backend needs to change it. */
export interface StoredEntry {
  readonly entry: CacheEntry;
}

/**
 * The room a cache has for an entry: an entry of up to `size` bytes (body plus metadata) fits;
 * when `exact`, no larger one does, else a larger one may (the cache was asked for less).
 */
export interface EntryRoom {
  size: number;
  exact: boolean;
}

/** What a backend's writer is given: the checked metadata, its size, and the entry limit. */
export interface WriterSpec {
  fields: _MetaFields & { url: string; variant: string };
  metaSize: number;
  /** The largest entry (body plus metadata) the cache accepts. */
  limit: number;
  /**
   * The body size known before the body is written (a `Content-Length`, a body given whole),
   * or `null`: the size the entry has at least, for deciding before it is written.
   */
  expected: number | null;
  /**
   * The room the cache has for an entry of `size` bytes, given the size counter as read before
   * the entry is written (`null` when unreadable) and what its publication replaces at its key:
   * the bytes that record counts, and whether it is one the cache cannot read (a newer
   * format's). An entry larger than an exact room is one `published` would find no room for.
   */
  room(size: number, counter: number | null, replaced: number, unreadable: boolean): Promise<
    EntryRoom
  >;
  /**
   * Called after an entry of body generation `generation` was published; resolves with whether
   * the entry stays (eviction removes one that does not fit in what the cache has left).
   */
  published(generation: string): Promise<boolean>;
}

/** Where a cache keeps its entries: a few primitive operations, in memory or in KV. */
export interface CacheBackend<S extends StoredEntry> {
  /** A last access younger than this (ms) is not rewritten by a read: `0` records every read. */
  readonly touchThreshold: number;
  /**
   * Reads the entry at `url` and `variant`, expired or not; a corrupt one is removed, one of a
   * newer format is a miss left in place.
   */
  read(url: string, variant: string): Promise<S | null>;
  /** Reads the entries of one URL, or all of them; corrupt ones are removed (as `read`). */
  list(url?: string): Promise<S[]>;
  /** Writes `entry` over `stored` with the same body, unless it changed since it was read. */
  replace(stored: S, entry: CacheEntry): Promise<boolean>;
  /** Removes `stored`, unless it changed since it was read. */
  remove(stored: S): Promise<boolean>;
  /** Opens the body of `entry` when the entry still holds it. */
  body(entry: CacheEntry): Promise<ReadableStream<Uint8Array<ArrayBuffer>> | null>;
  /** A writer that publishes an entry when its body completed. */
  writer(spec: WriterSpec): CacheWriter;
  /** The bytes the stored entries count. */
  size(): Promise<number>;
  /**
   * Removes the records of `url` that `read` and `list` leave in place (a newer format's), for
   * an explicit removal; absent when there are none.
   */
  removeNewer?(url: string): Promise<boolean>;
  /** Removes everything. */
  clear(): Promise<void>;
  /** Called after each publication, once eviction is done. */
  afterPublish(): Promise<void>;
  /**
   * Reclaims what interrupted or replaced writes left; `live` lists the live entries (dropping
   * expired ones). Returns the size afterwards.
   */
  reclaim(live: () => Promise<S[]>): Promise<number>;
  /** Releases what the backend holds. */
  close(): Promise<void>;
}

/** The rules of a cache over a backend; the public classes forward their methods here. */
export class CacheCore<S extends StoredEntry> {
  readonly #backend: CacheBackend<S>;
  readonly #maxSize: number;
  readonly #clock: Clock;
  #closed = false;
  /**
   * What the entries this cache cannot evict (a newer format's) counted when it last listed
   * its entries against the size, or `null` before: a store within the room this leaves goes
   * ahead without a listing of its own.
   */
  #unevictable: number | null = null;

  constructor(backend: CacheBackend<S>, maxSize: number, clock: Clock) {
    this.#backend = backend;
    this.#maxSize = maxSize;
    this.#clock = clock;
  }

  get maxSize(): number {
    return this.#maxSize;
  }

  #check(what: string): void {
    if (this.#closed) throw new TypeError(`Cannot ${what}: the cache is closed`);
  }

  /** Checks that `entry` is an entry the store gave (its URL, variant and generation). */
  #checkEntry(what: string, entry: CacheEntry): void {
    this.#check(what);
    const { url, variant, generation, lastAccess } = (entry ?? {}) as Partial<CacheEntry>;
    if (
      typeof url !== "string" || typeof variant !== "string" || typeof generation !== "string" ||
      typeof lastAccess !== "number"
    ) {
      throw new TypeError(
        `Cannot ${what}: 'entry' must be a CacheEntry from metaData() or variants(), got ${
          describe(entry)
        }`,
      );
    }
  }

  /** `stored`, or `null` (after removing it) when it expired. */
  async #live(stored: S | null): Promise<S | null> {
    if (stored === null || !_isExpired(stored.entry, this.#clock())) return stored;
    await this.#backend.remove(stored);
    return null;
  }

  /** The live entries of one URL, or all of them; expired ones are removed. */
  async #liveList(url?: string): Promise<S[]> {
    const live: S[] = [];
    for (const stored of await this.#backend.list(url)) {
      if ((await this.#live(stored)) !== null) live.push(stored);
    }
    return live;
  }

  async metaData(url: string | URL, variant?: string): Promise<CacheEntry | null> {
    this.#check("read cache");
    const key = _cacheUrl(url, "read cache");
    const stored = await this.#backend.read(key, _cacheVariant(variant, "read cache"));
    if (stored === null) return null;
    if (!_isExpired(stored.entry, this.#clock())) return stored.entry;
    await this.#backend.remove(stored);
    return null;
  }

  async variants(url: string | URL): Promise<CacheEntry[]> {
    this.#check("read cache");
    const live = await this.#liveList(_cacheUrl(url, "read cache"));
    return live.map((stored) => stored.entry);
  }

  async body(entry: CacheEntry): Promise<ReadableStream<Uint8Array<ArrayBuffer>> | null> {
    this.#checkEntry("read cache", entry);
    const body = await this.#backend.body(entry);
    const now = this.#clock();
    if (body !== null && now - entry.lastAccess >= this.#backend.touchThreshold) {
      try {
        await this.#touch(entry, now);
      } catch {
        // Best effort: a missed access only makes the entry older for eviction.
      }
    }
    return body;
  }

  prepare(metaData: CacheMetaData): CacheWriter {
    return this.#prepare(metaData, null);
  }

  /** A writer for `metaData`, whose body is `expected` bytes (`null`: as its headers declare). */
  #prepare(metaData: CacheMetaData, expected: number | null): CacheWriter {
    this.#check("store cache entry");
    const fields = _checkMetaData(metaData, "store cache entry");
    return this.#backend.writer({
      fields,
      metaSize: _metaSize(fields),
      limit: _maxEntrySize(this.#maxSize),
      expected: expected ?? _declaredLength(fields.headers),
      room: (size, counter, replaced, unreadable) =>
        this.#room(size, counter, replaced, unreadable),
      published: (generation) => this.#afterPublish(generation),
    });
  }

  insert(
    metaData: CacheMetaData,
    body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options: CacheInsertOptions = {},
  ): Promise<boolean> {
    try {
      return _insertInto(this.#prepare(metaData, _wholeSize(body)), body, options.signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Evicts when over `maxSize` (see {@linkcode #evict}), the entry just written last; resolves
   * with whether that entry stays.
   */
  async #afterPublish(keep: string): Promise<boolean> {
    if (this.#closed) return true;
    const kept = await this.#backend.size() > this.#maxSize ? await this.#evict(keep) : true;
    await this.#backend.afterPublish();
    return kept;
  }

  /**
   * The room for an entry of `size` bytes (see `WriterSpec.room`): when the counter leaves it
   * that much under `maxSize`, what it leaves (nothing is evicted for the entry); otherwise
   * what evicting every other entry of this cache would leave, the room {@linkcode #evict}
   * finds after the publication, exactly.
   */
  async #room(
    size: number,
    counter: number | null,
    replaced: number,
    unreadable: boolean,
  ): Promise<EntryRoom> {
    if (counter !== null && counter - replaced + size <= this.#maxSize) {
      return { size: this.#maxSize - counter + replaced, exact: false };
    }
    // Within the room the last listing found: the eviction after the publication decides.
    const known = this.#unevictable;
    if (known !== null && known + size <= this.#maxSize) {
      return { size: this.#maxSize - known, exact: false };
    }
    const live = await this.#liveList();
    // The entry replaced goes with the publication: one this cache reads is among `live`.
    const floor = this.#learn(live, await this.#backend.size()) - (unreadable ? replaced : 0);
    return { size: this.#maxSize - floor, exact: true };
  }

  /**
   * What the entries this cache cannot evict count: `size` (read after `live` was listed)
   * less the live entries; remembered for {@linkcode #room}.
   */
  #learn(live: S[], size: number): number {
    this.#unevictable = live.reduce((rest, s) => rest - s.entry.size, size);
    return this.#unevictable;
  }

  async updateMetaData(entry: CacheEntry, update: CacheMetaDataUpdate): Promise<boolean> {
    this.#checkEntry("update cache entry", entry);
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const stored = await this.#live(await this.#backend.read(entry.url, entry.variant));
      if (stored === null || stored.entry.generation !== entry.generation) return false;
      const old = stored.entry;
      const fields = _applyUpdate(old, update, "update cache entry");
      const size = old.bodySize + _metaSize({ ...fields, url: old.url, variant: old.variant });
      const updated = { ...old, ...fields, size, lastAccess: this.#clock() };
      if (await this.#backend.replace(stored, updated)) {
        return await this.#afterPublish(old.generation);
      }
    }
    return false;
  }

  async touch(entry: CacheEntry): Promise<void> {
    this.#checkEntry("update cache entry", entry);
    const now = this.#clock();
    if (now - entry.lastAccess >= this.#backend.touchThreshold) await this.#touch(entry, now);
  }

  /** Records an access at `now` to the entry, unless it changed or its last access is recent. */
  async #touch(entry: CacheEntry, now: number): Promise<void> {
    const stored = await this.#live(await this.#backend.read(entry.url, entry.variant));
    if (stored === null || stored.entry.generation !== entry.generation) return;
    if (now - stored.entry.lastAccess < this.#backend.touchThreshold) return;
    await this.#backend.replace(stored, { ...stored.entry, lastAccess: now });
  }

  async remove(url: string | URL): Promise<boolean> {
    this.#check("remove cache entry");
    const key = _cacheUrl(url, "remove cache entry");
    let removed = false;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const stored = await this.#backend.list(key);
      if (stored.length === 0) break;
      for (const one of stored) if (await this.#backend.remove(one)) removed = true;
    }
    if (await this.#backend.removeNewer?.(key)) removed = true;
    return removed;
  }

  async clear(): Promise<void> {
    this.#check("clear cache");
    await this.#backend.clear();
  }

  async cacheSize(): Promise<number> {
    this.#check("read cache");
    return await this.#backend.size();
  }

  /**
   * Drops expired entries; when still over `maxSize`, evicts least recently used ones down to
   * 90% of it, the entry holding generation `keep` last. Resolves with whether that entry stays.
   *
   * The size may count entries this cache cannot evict (a newer format's, in a database several
   * versions share): what is left of `maxSize` after them is this cache's room. Eviction frees
   * only what brings the size within `maxSize`: down to 90% of it when this cache's other
   * entries can make that room, down to `maxSize` itself when they cannot. When even all of
   * them could not, nothing is evicted (they would go for no gain, and every later store would
   * empty the cache again); the entry `keep` alone is removed, since it does not fit.
   */
  async #evict(keep?: string): Promise<boolean> {
    const live = await this.#liveList();
    let size = await this.#backend.size();
    if (size <= this.#maxSize) return true;
    const kept = live.find((s) => s.entry.generation === keep);
    const others = live.filter((s) => s !== kept).sort((a, b) => _evictionOrder(a.entry, b.entry));
    // What evicting every other entry leaves: the entry kept, and what this cache cannot evict.
    const floor = this.#learn(live, size) + (kept?.entry.size ?? 0);
    if (floor > this.#maxSize) {
      return kept === undefined || !(await this.#backend.remove(kept));
    }
    const target = _evictionTarget(this.#maxSize);
    const goal = floor <= target ? target : this.#maxSize;
    for (const stored of others) {
      if (size <= goal) break;
      await this.#backend.remove(stored);
      // Read again, not counted down: other caches on the database may be evicting too.
      size = await this.#backend.size();
    }
    return true;
  }

  async expire(): Promise<number> {
    this.#check("expire cache");
    const size = await this.#backend.reclaim(() => this.#liveList());
    if (size > this.#maxSize) await this.#evict();
    return await this.#backend.size();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#backend.close();
  }
}
