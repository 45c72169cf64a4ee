/**
 * The backend of {@linkcode KvCache}: entry records in Deno KV (layout in
 * `_kv_cache_schema.ts`), each checked against its versionstamp when it changes, so that
 * processes sharing the database see one entry or the other, never a mix.
 *
 * A record read is decoded once per stored version (memo by versionstamp), and an inline body
 * read with it is handed to the next `body()` of that entry, so a hit is one KV read. On a
 * database in a local file, a hit makes no KV read at all while nothing was written to the
 * database since its record was last read (`_kv_changes.ts` tells, from SQLite's wal-index).
 */

import type { Clock } from "../clock.ts";
import { _samePart } from "../_kv.ts";
import type { _KvChanges } from "../_kv_changes.ts";
import { isNewerRecord } from "../_kv_record.ts";
import { NetworkError, NetworkReplyError } from "../network_error.ts";
import { ATTEMPTS, type CacheBackend, type WriterSpec } from "./_cache_core.ts";
import {
  _CHUNK_SIZE,
  _chunkCount,
  type _DecodedEntry,
  _decodeEntry,
  _decodeGeneration,
  _encodeEntry,
  _encodeGeneration,
  _entryAccount,
  _inlineRecordSize,
  type _Keys,
  _MAX_VALUE,
  _READ_BATCH,
  _RETIRE_GRACE_MS,
  _STALE_WRITE_MS,
  _TOUCH_THRESHOLD_MS,
  _u64,
  _urlPart,
  _variantPart,
} from "./_kv_cache_schema.ts";
import { _KvCacheStorage } from "./_kv_cache_storage.ts";
import { _KvCacheWriter } from "./_kv_cache_writer.ts";
import type { CacheEntry, CacheWriter } from "./network_cache.ts";

/** Chunks read before a body opens: a body this short is read whole. */
const FIRST_WINDOW = 32;
/** Decoded records kept, so a repeated hit on the same version parses nothing. */
const MEMO_SIZE = 256;
/** Retired bodies collected after each publication. */
const SWEEP_BATCH = 8;
/** Bytes of the records kept between reads while the database is unchanged. */
const RECENT_BYTES = 4 * 1024 * 1024;
/** What a kept record counts besides its bytes (its key and bookkeeping): misses count too. */
const RECENT_ENTRY = 256;
/** The largest record kept between reads. */
const RECENT_RECORD = 64 * 1024;

/** A record read, kept for the next read while the database is unchanged. */
interface Recent {
  readonly item: Deno.KvEntryMaybe<unknown>;
  readonly generation: number;
  readonly size: number;
}

/** An entry record as read: decoded, with its key and the version read. */
interface KvStored extends _DecodedEntry {
  readonly key: Deno.KvKey;
  readonly versionstamp: string;
}

/** Entry records in Deno KV, for {@linkcode KvCache}. */
export class KvBackend implements CacheBackend<KvStored> {
  /** A read writes nothing unless the last access is older than this. */
  readonly touchThreshold = _TOUCH_THRESHOLD_MS;
  #kv: Deno.Kv;
  #owned: boolean;
  #keys: _Keys;
  #clock: Clock;
  #storage: _KvCacheStorage;
  /** The change detector of the database's file, or `null` (every read goes to KV). */
  #changes: _KvChanges | null = null;
  /** The records read last, by URL and variant, with the generation they were read in. */
  #recent = new Map<string, Recent>();
  #recentBytes = 0;
  readonly #recentBudget: number;
  #writers = new Set<_KvCacheWriter>();
  /** Decoded records by versionstamp, so a repeated hit parses nothing. */
  #memo = new Map<string, { key: Deno.KvKey; decoded: _DecodedEntry }>();
  /** The inline body read with an entry (`null`: the body is in chunks). */
  #bodies = new WeakMap<CacheEntry, Uint8Array | null>();
  /** While `reclaim` lists the entries: the URL key parts holding a newer format's records. */
  #newerUrls: Deno.KvKeyPart[] | null = null;

  constructor(
    kv: Deno.Kv,
    owned: boolean,
    keys: _Keys,
    clock: Clock,
    recentBudget = RECENT_BYTES,
  ) {
    this.#recentBudget = recentBudget;
    this.#kv = kv;
    this.#owned = owned;
    this.#keys = keys;
    this.#clock = clock;
    this.#storage = new _KvCacheStorage(kv, keys, clock);
  }

  /**
   * Decodes the record `item` holds, from the memo when this version was decoded before; a
   * record that does not belong at its key is `null`. The entry returned is a fresh frozen
   * object (its headers and policy are shared, and frozen too).
   */
  async #decode(item: Deno.KvEntry<unknown>): Promise<KvStored | null> {
    const memo = this.#memo.get(item.versionstamp);
    const n = this.#keys.prefix.length;
    let decoded: _DecodedEntry;
    // One commit may write several keys (another writer's): the memo is of this key only.
    if (
      memo !== undefined && item.key.length === n + 3 &&
      _samePart(memo.key[n + 1], item.key[n + 1]!) &&
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
    const { key, versionstamp } = item;
    return { entry, inline: decoded.inline, body, key, versionstamp };
  }

  /**
   * Removes a corrupt or foreign value, unless it changed since it was read, with what it
   * counts and holds. A record of this key that still says its size and where its body is
   * goes as {@linkcode KvBackend.remove} removes an entry: its size off the counter, its body
   * retired. Anything else (a value too broken to say, a record copied from another URL's key)
   * is deleted, the counter is recomputed, and the bodies of the key's URL that no entry
   * references are retired. A record of a newer format is left in place (`isNewerRecord` in
   * `../_kv_record.ts`). Returns `null`.
   */
  async #dropCorrupt(item: Deno.KvEntry<unknown>): Promise<null> {
    const n = this.#keys.prefix.length;
    if (isNewerRecord(item.value)) {
      const urlPart = item.key[n + 1];
      if (urlPart !== undefined) this.#newerUrls?.push(urlPart);
      return null;
    }
    const account = _entryAccount(item.value);
    if (
      account !== null && item.key.length === n + 3 &&
      _samePart(item.key[n + 1], await _urlPart(account.url)) &&
      _samePart(item.key[n + 2], await _variantPart(account.variant))
    ) {
      await this.#remove(item, account.size, account.inline ? null : account.generation);
      return null;
    }
    const result = await this.#storage.commit((a) => a.check(item).delete(item.key));
    if (result.ok) {
      await this.#storage.reconcileSize();
      const urlPart = item.key[n + 1];
      if (urlPart !== undefined) await this.#storage.retireUnreferenced(urlPart);
    }
    return null;
  }

  /**
   * Reads records without a KV read while `changes` says that nothing was written to the
   * database since they were read. The backend closes it.
   */
  watch(changes: _KvChanges): void {
    this.#changes = changes;
  }

  async read(url: string, variant: string): Promise<KvStored | null> {
    const item = await this.#readItem(url, variant);
    if (item.versionstamp === null) return null;
    return await this.#decode(item) ?? await this.#dropCorrupt(item);
  }

  /**
   * The record at `url` and `variant` as KV holds it: read, or kept from the last read when
   * nothing was written to the database since (its bytes copied, so that a reader of the inline
   * body changes nothing another reads).
   */
  async #readItem(url: string, variant: string): Promise<Deno.KvEntryMaybe<unknown>> {
    const changes = this.#changes;
    const at = `${variant}\n${url}`;
    // Taken before the read: a write after it gives a new generation, so what the read found
    // is never used past a write it may not have seen.
    const generation = changes === null ? 0 : changes.generation();
    const kept = this.#recent.get(at);
    if (kept !== undefined && changes !== null && kept.generation === generation) {
      const value = kept.item.value;
      return value instanceof Uint8Array
        ? { ...kept.item as Deno.KvEntry<unknown>, value: value.slice() }
        : kept.item;
    }
    const key = this.#keys.entry(url, variant);
    const item = await this.#storage.get(Array.isArray(key) ? key : await key);
    if (changes !== null) this.#keep(at, item, generation);
    return item;
  }

  /**
   * Keeps `item` for the next read of `at`, within the budget (oldest dropped first): each
   * entry counts its bytes, its key and a fixed share, so that misses are bounded too.
   */
  #keep(at: string, item: Deno.KvEntryMaybe<unknown>, generation: number): void {
    const value = item.value;
    const old = this.#recent.get(at);
    if (old !== undefined) {
      this.#recent.delete(at);
      this.#recentBytes -= old.size;
    }
    // Only records of documented bytes (or a miss); a 0.1.0 record is read each time.
    const bytes = value instanceof Uint8Array
      ? value.byteLength
      : item.versionstamp === null
      ? 0
      : -1;
    if (bytes < 0 || bytes > RECENT_RECORD) return;
    const size = bytes + 2 * at.length + RECENT_ENTRY;
    while (this.#recentBytes + size > this.#recentBudget && this.#recent.size > 0) {
      const [oldest, dropped] = this.#recent.entries().next().value!;
      this.#recent.delete(oldest);
      this.#recentBytes -= dropped.size;
    }
    this.#recent.set(at, {
      item: value instanceof Uint8Array
        ? { ...item as Deno.KvEntry<unknown>, value: value.slice() }
        : item,
      generation,
      size,
    });
    this.#recentBytes += size;
  }

  async list(url?: string): Promise<KvStored[]> {
    const prefix = url === undefined
      ? this.#keys.under("e")
      : this.#keys.under("e", await _urlPart(url));
    const all: KvStored[] = [];
    for (const item of await this.#storage.list({ prefix })) {
      const stored = await this.#decode(item) ?? await this.#dropCorrupt(item);
      if (stored !== null) all.push(stored);
    }
    return all;
  }

  async replace(stored: KvStored, entry: CacheEntry): Promise<boolean> {
    const result = await this.#storage.commit((a) => {
      a.check(stored);
      if (entry.size !== stored.entry.size) {
        a.sum(this.#keys.size, _u64(entry.size - stored.entry.size));
      }
      this.#rewrite(a, stored.key, entry, stored.body);
    });
    return result.ok;
  }

  /**
   * Writes `entry` at `key` (the caller checks the version it replaces), with its body inline
   * when it was and still fits, in chunks under the same generation otherwise.
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

  /** Removes an entry if it is still the version read; then retires its body. */
  remove({ key, versionstamp, entry, inline }: KvStored): Promise<boolean> {
    return this.#remove({ key, versionstamp }, entry.size, inline ? null : entry.generation);
  }

  /**
   * Removes the record `item` if it is still the version read, taking `size` off the counter;
   * then retires body `generation` (`null` for a body inline in the record).
   */
  async #remove(
    item: Deno.AtomicCheck,
    size: number,
    generation: string | null,
  ): Promise<boolean> {
    const result = await this.#storage.commit((a) =>
      a.check(item).sum(this.#keys.size, _u64(-size)).delete(item.key)
    );
    if (!result.ok) return false;
    if (generation !== null) await this.#storage.retire(generation);
    return true;
  }

  /** Removes the entry at `url`/`variant` if it still holds `generation` (its body is broken). */
  async #dropBroken(entry: CacheEntry): Promise<void> {
    const key = await this.#keys.entry(entry.url, entry.variant);
    const item = await this.#storage.get(key);
    const stored = _decodeEntry(item.value);
    if (item.versionstamp !== null && stored?.entry.generation === entry.generation) {
      await this.remove({ ...stored, key, versionstamp: item.versionstamp });
    }
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

  /**
   * Where the body of `entry` is: inline bytes, `null` for chunks, `undefined` when gone. The
   * inline body read with the entry is handed out once (the reader owns those bytes); after
   * that, or for an entry this process did not read, the record is read again.
   */
  #bodyOf(entry: CacheEntry): Uint8Array | null | Promise<Uint8Array | null | undefined> {
    const known = this.#bodies.get(entry);
    if (known === null) return null;
    this.#bodies.delete(entry);
    return known ?? this.#readBody(entry);
  }

  /** Reads the record of `entry` again for its inline body (see {@linkcode #bodyOf}). */
  async #readBody(entry: CacheEntry): Promise<Uint8Array | null | undefined> {
    const key = await this.#keys.entry(entry.url, entry.variant);
    const stored = _decodeEntry((await this.#storage.get(key)).value);
    if (stored?.entry.generation !== entry.generation) return stored?.inline ? undefined : null;
    return stored.body;
  }

  /** Why chunks of the body of `entry` are gone, as the entry's record tells now. */
  async #lost(entry: CacheEntry): Promise<string> {
    const key = await this.#keys.entry(entry.url, entry.variant);
    const item = await this.#storage.get(key);
    if (item.versionstamp === null) {
      return "it was removed (the cache cleared, or the entry deleted), and collected before " +
        "this reader finished";
    }
    return _decodeEntry(item.value)?.entry.generation === entry.generation
      ? "a chunk of it is missing or damaged in the database"
      : "it was replaced, and collected before this reader finished";
  }

  async body(entry: CacheEntry): Promise<ReadableStream<Uint8Array<ArrayBuffer>> | null> {
    const where = this.#bodyOf(entry);
    const inline = where instanceof Promise ? await where : where;
    if (inline === undefined) return null;
    if (inline !== null) {
      return new ReadableStream<Uint8Array<ArrayBuffer>>({
        start(controller) {
          // What KV reads is a copy over an ArrayBuffer of its own.
          if (inline.length > 0) controller.enqueue(inline as Uint8Array<ArrayBuffer>);
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
    const queue = first;
    let next = first.length;
    return new ReadableStream<Uint8Array<ArrayBuffer>>({
      pull: async (controller) => {
        if (queue.length === 0 && next < count) {
          const end = Math.min(count, next + _READ_BATCH);
          const chunks = await this.#readChunks(entry, next, end);
          if (chunks === null) {
            controller.error(
              new NetworkReplyError(
                NetworkError.UnknownContentError,
                `Cannot read cached body of '${entry.url}': ${await this.#lost(entry)}`,
              ),
            );
            return;
          }
          queue.push(...chunks);
          next = end;
        }
        const chunk = queue.shift();
        if (chunk === undefined) controller.close();
        else controller.enqueue(chunk as Uint8Array<ArrayBuffer>);
      },
    });
  }

  writer(spec: WriterSpec): CacheWriter {
    const { fields } = spec;
    const writer = new _KvCacheWriter({
      fields,
      metaSize: spec.metaSize,
      limit: spec.limit,
      expected: spec.expected,
      clock: this.#clock,
      keys: this.#keys,
      getMany: (keys) => this.#storage.getMany(keys),
      commit: (build) => this.#storage.commit(build),
      entryKey: async () => await this.#keys.entry(fields.url, fields.variant),
      deleteGeneration: (generation, chunks) => this.#storage.deleteGeneration(generation, chunks),
      reconcileSize: () => this.#storage.reconcileSize(),
      retire: (generation) => this.#storage.retire(generation),
      room: spec.room,
      published: spec.published,
      done: () => this.#writers.delete(writer),
    });
    this.#writers.add(writer);
    return writer;
  }

  /**
   * Removes the records of `url` of a newer format, which reads and housekeeping leave in place:
   * for an explicit removal (and the invalidation an unsafe request makes). What they counted is
   * unknown, so the size counter is recomputed; their bodies are the newer version's to collect.
   */
  async removeNewer(url: string): Promise<boolean> {
    const prefix = this.#keys.under("e", await _urlPart(url));
    let removed = false;
    for (const item of await this.#storage.list({ prefix })) {
      if (!isNewerRecord(item.value)) continue;
      if ((await this.#storage.commit((a) => a.check(item).delete(item.key))).ok) removed = true;
    }
    if (removed) await this.#storage.reconcileSize();
    return removed;
  }

  size(): Promise<number> {
    return this.#storage.size();
  }

  /** Removes every entry, and everything else under the cache's prefix, at once. */
  async clear(): Promise<void> {
    const n = this.#keys.prefix.length;
    for (const item of await this.#storage.list({ prefix: this.#keys.under("e") })) {
      const account = _entryAccount(item.value);
      await this.#storage.commit((a) => {
        a.check(item);
        if (account !== null) a.sum(this.#keys.size, _u64(-account.size));
        a.delete(item.key);
      });
    }
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      let collected = 0;
      for (const item of await this.#storage.list({ prefix: this.#keys.under("g") })) {
        // The body of an entry published since the entries were removed (by another process)
        // is that entry's: it stays, as if published after clear().
        if (await this.#referenced(item)) continue;
        await this.#storage.collect(item);
        collected++;
      }
      if (collected === 0) break;
    }
    // What remains has no generation record: chunks of none, and values we did not write
    // (a key with a tag of ours but not our shape among them: `[...P, "e"]`, `[...P, "n", 1]`).
    const rest = (await this.#storage.list({ prefix: this.#keys.prefix })).filter((item) => {
      const tag = item.key[n];
      if (item.key.length === n + 1) return tag !== "n";
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

  /** Whether an entry of the URL of the published body `item` references that body. */
  async #referenced(item: Deno.KvEntry<unknown>): Promise<boolean> {
    const record = _decodeGeneration(item.value);
    const generation = item.key[this.#keys.prefix.length + 1];
    if (record?.state !== "published" || typeof generation !== "string") return false;
    const prefix = this.#keys.under("e", await _urlPart(record.url));
    return (await this.#storage.list({ prefix })).some((entry) => {
      const account = _entryAccount(entry.value);
      return account !== null && !account.inline && account.generation === generation;
    });
  }

  /** Collects a few retired bodies. */
  afterPublish(): Promise<void> {
    return this.#storage.sweep(SWEEP_BATCH);
  }

  /**
   * Reclaims the chunks of writes that were interrupted (no progress for ten minutes by the
   * cache's clock), of bodies replaced or removed more than five minutes ago, and of replaced
   * bodies a crashed writer left (retired when found, so collected five minutes later);
   * recomputes the size counter.
   */
  async reclaim(live: () => Promise<KvStored[]>): Promise<number> {
    // Generations first: one published before this listing is referenced by an entry that
    // the later listing of entries sees, unless it was replaced (then it is garbage).
    const generations = await this.#storage.list({ prefix: this.#keys.under("g") });
    const newerUrls: Deno.KvKeyPart[] = [];
    this.#newerUrls = newerUrls;
    let referenced: Set<string>;
    try {
      referenced = new Set((await live()).map((stored) => stored.entry.generation));
    } finally {
      this.#newerUrls = null;
    }
    const now = this.#clock();
    for (const item of generations) {
      const generation = item.key[this.#keys.prefix.length + 1];
      // A newer format's body, or one a newer format's entry of its URL may reference: kept.
      if (isNewerRecord(item.value)) continue;
      const record = _decodeGeneration(item.value);
      if (typeof generation === "string" && referenced.has(generation)) continue;
      if (record !== null && newerUrls.length > 0) {
        const urlPart = await _urlPart(record.url);
        if (newerUrls.some((part) => _samePart(part, urlPart))) continue;
      }
      if (record?.state === "pending" && now - record.touchedAt < _STALE_WRITE_MS) continue;
      if (record?.state === "retired" && now - record.touchedAt < _RETIRE_GRACE_MS) continue;
      if (record?.state === "published" && typeof generation === "string") {
        // Replaced or removed, and not yet retired: by a writer that died, or by one about to
        // retire it, whose readers may still be reading it. It gets their grace period.
        await this.#storage.retire(generation);
        continue;
      }
      await this.#storage.collect(item);
    }
    await this.#storage.sweep();
    return await this.#storage.reconcileSize();
  }

  /** Makes open writers store nothing, and closes a database the cache opened. */
  async close(): Promise<void> {
    await Promise.all([...this.#writers].map((writer) => writer.discard()));
    this.#memo.clear();
    this.#recent.clear();
    this.#recentBytes = 0;
    // The detector's file closes before the database it watches.
    this.#changes?.close();
    this.#changes = null;
    if (this.#owned) this.#kv.close();
  }
}
