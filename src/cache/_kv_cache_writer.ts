/**
 * The writer of {@linkcode KvCache}: a body small enough goes inline in the entry record, a
 * longer one in chunks under a fresh generation, and the entry is published by one atomic
 * write checked against the version it replaces.
 */

import type { Clock } from "../clock.ts";
import { isNewerRecord } from "../_kv_record.ts";
import { ATTEMPTS, type EntryRoom } from "./_cache_core.ts";
import type { _MetaFields } from "./_entry.ts";
import {
  _CHUNK_SIZE,
  _countedSize,
  _counterValue,
  _encodeEntry,
  _encodeGeneration,
  _entryAccount,
  _inlineRecordSize,
  type _Keys,
  _MAX_VALUE,
  _u64,
} from "./_kv_cache_schema.ts";
import type { CacheEntry, CacheWriter } from "./network_cache.ts";

/** Full chunks a writer buffers before writing them in one atomic operation. */
const FLUSH_CHUNKS = 8;

/** What a writer needs from its cache. */
export interface _WriterContext {
  fields: _MetaFields & { url: string; variant: string };
  metaSize: number;
  limit: number;
  /** The body size known before it is written, or `null` (see `WriterSpec`). */
  expected: number | null;
  clock: Clock;
  keys: _Keys;
  getMany(keys: Deno.KvKey[]): Promise<Deno.KvEntryMaybe<unknown>[]>;
  commit(
    build: (atomic: Deno.AtomicOperation) => void,
  ): Promise<Deno.KvCommitResult | Deno.KvCommitError>;
  entryKey(): Promise<Deno.KvKey>;
  deleteGeneration(generation: string, chunks: number): Promise<void>;
  /** Recomputes the size counter from the entry records. */
  reconcileSize(): Promise<number>;
  /** Retires the body an entry held, once the entry no longer references it. */
  retire(generation: string): Promise<void>;
  /** The room the cache has for the entry (see `WriterSpec`). */
  room(size: number, counter: number | null, replaced: number, unreadable: boolean): Promise<
    EntryRoom
  >;
  /** Resolves with whether the entry published stays (see `WriterSpec`). */
  published(generation: string): Promise<boolean>;
  done(): void;
}

/**
 * Writes a body in chunks under a fresh generation id, recording progress in the generation
 * record in the same atomic operation, then publishes the entry.
 *
 * Whether the entry fits in the room the cache has is decided before its first chunk is
 * written, from the entry record and the size counter read in one operation (the read the
 * publication makes anyway, done earlier): with the body size known up front an entry that
 * cannot fit writes nothing; with a body still arriving, no chunk is written once the body is
 * known not to fit.
 */
export class _KvCacheWriter implements CacheWriter {
  #context: _WriterContext;
  #generation = crypto.randomUUID();
  #state: "open" | "failed" | "committed" | "aborted" = "open";
  #current = new Uint8Array(_CHUNK_SIZE);
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
  #key: Deno.KvKey | null = null;
  /** The entry record and the size counter as read before a chunk was written, not used yet. */
  #read: Deno.KvEntryMaybe<unknown>[] | null = null;
  /** The room known for the entry, once asked for. */
  #room: EntryRoom | null = null;
  /** The largest entry known to fit at most (the exact room), for dropping the body at once. */
  #cap = Infinity;

  constructor(context: _WriterContext) {
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
    const size = this.#bodySize + this.#context.metaSize;
    if (size > this.#context.limit || size > this.#cap) {
      this.#fail();
      return this.#chain;
    }
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(_CHUNK_SIZE - this.#fill, chunk.length - offset);
      this.#current.set(chunk.subarray(offset, offset + take), this.#fill);
      this.#fill += take;
      offset += take;
      if (this.#fill === _CHUNK_SIZE) {
        this.#ready.push(this.#current);
        this.#current = new Uint8Array(_CHUNK_SIZE);
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

  /** The entry key, computed once. */
  async #entryKey(): Promise<Deno.KvKey> {
    return this.#key ??= await this.#context.entryKey();
  }

  /**
   * Whether an entry of `size` bytes fits: in the room known, or else in the room the cache
   * finds from `read` (the entry record and the size counter; read now when not given, and
   * kept for the publication).
   */
  async #fits(size: number, read?: Deno.KvEntryMaybe<unknown>[]): Promise<boolean> {
    const known = this.#room;
    if (known !== null && (size <= known.size || known.exact)) return size <= known.size;
    const { getMany, keys, room } = this.#context;
    read ??= this.#read ??= await getMany([await this.#entryKey(), keys.size]);
    const [current, counter] = read as [Deno.KvEntryMaybe<unknown>, Deno.KvEntryMaybe<unknown>];
    const value = counter.versionstamp === null ? 0 : _counterValue(counter.value);
    const replaced = current.versionstamp === null ? 0 : _countedSize(current.value);
    this.#room = await room(size, value, replaced, isNewerRecord(current.value));
    if (this.#room.exact) this.#cap = this.#room.size;
    return size <= this.#room.size;
  }

  async #flush(start: number, chunks: Uint8Array[]): Promise<void> {
    if (this.#state !== "open") return;
    try {
      // The size the body has at least: what arrived so far, or what it declared.
      const size = Math.max(this.#bodySize, this.#context.expected ?? 0);
      if (!(await this.#fits(size + this.#context.metaSize))) return this.#fail();
    } catch {
      return this.#fail();
    }
    if (this.#state !== "open") return; // aborted meanwhile
    const { commit, keys, fields, clock } = this.#context;
    const key = keys.generation(this.#generation);
    const record = _encodeGeneration({
      state: "pending",
      url: fields.url,
      chunks: start + chunks.length,
      touchedAt: clock(),
    });
    try {
      const result = await commit((a) => {
        a.check({ key, versionstamp: this.#generationStamp });
        chunks.forEach((chunk, i) => a.set(keys.chunk(this.#generation, start + i), chunk));
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

  /** The whole body, when nothing was flushed and it fits in the entry record. */
  #inlineBody(entry: CacheEntry): Uint8Array | null {
    if (this.#queued > 0 || _inlineRecordSize(entry, this.#bodySize) > _MAX_VALUE) return null;
    const body = new Uint8Array(this.#bodySize);
    let offset = 0;
    for (const chunk of this.#ready) {
      body.set(chunk, offset);
      offset += chunk.length;
    }
    body.set(this.#current.subarray(0, this.#fill), offset);
    return body;
  }

  async #publish(): Promise<boolean> {
    const { commit, getMany, keys, fields, metaSize, clock } = this.#context;
    if (this.#fill > 0) this.#ready.push(this.#current.slice(0, this.#fill));
    this.#fill = 0;
    const start = this.#queued;
    const rest = this.#ready;
    const chunks = start + rest.length;
    const size = this.#bodySize + metaSize;
    const key = await this.#entryKey();
    const generationKey = keys.generation(this.#generation);
    let inline: Uint8Array | null | undefined;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      // After a lost race, the generation record too: expire() may have reclaimed this write.
      const read = this.#read ?? await getMany(
        attempt > 0 && this.#generationStamp !== null
          ? [key, keys.size, generationKey]
          : [key, keys.size],
      );
      this.#read = null;
      const current = read[0]!;
      const mine = read[2];
      if (mine !== undefined && mine.versionstamp !== this.#generationStamp) {
        this.#generationStamp = null; // reclaimed by expire()
        return false;
      }
      // A retry read the counter afresh: a room it gave only as far as asked is asked again.
      if (attempt > 0 && this.#room?.exact === false) this.#room = null;
      if (!(await this.#fits(size, read))) return false;
      // Read as the size counter counts it: a record corrupt in its other fields is replaced.
      const old = _entryAccount(current.value);
      const now = clock();
      const entry: CacheEntry = {
        ...fields,
        bodySize: this.#bodySize,
        size,
        storedAt: now,
        lastAccess: now,
        generation: this.#generation,
      };
      inline ??= this.#inlineBody(entry);
      const record = _encodeEntry(entry, inline);
      const result = await commit((a) => {
        a.check(current);
        a.sum(keys.size, _u64(size - (old?.size ?? 0))); // first: see commitCounted in ../_kv.ts
        if (inline === null) {
          a.check({ key: generationKey, versionstamp: this.#generationStamp });
          rest.forEach((chunk, i) => a.set(keys.chunk(this.#generation, start + i), chunk));
          a.set(
            generationKey,
            _encodeGeneration({ state: "published", url: fields.url, chunks, touchedAt: now }),
          );
        }
        a.set(key, record);
      });
      if (result.ok) {
        this.#generationStamp = null;
        if (old === null && current.versionstamp !== null) {
          // A value this version cannot read (a newer format's record, a foreign one) was
          // replaced: what it counted, if anything, is unknown, so the counter is recomputed.
          try {
            await this.#context.reconcileSize();
          } catch {
            // Recomputed by the next expire().
          }
        }
        if (old !== null && !old.inline && old.generation !== this.#generation) {
          try {
            await this.#context.retire(old.generation);
          } catch {
            // Left for expire(): the old generation is no longer referenced.
          }
        }
        try {
          return await this.#context.published(this.#generation);
        } catch {
          // Eviction is retried by the next publication or expire().
          return true;
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
