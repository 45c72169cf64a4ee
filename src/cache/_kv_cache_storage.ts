/**
 * The KV operations of {@linkcode KvCache} below the level of entries: reads and checked
 * writes retried while another process holds the lock, the size counter, and the life of body
 * generations (retired when replaced, collected after the grace period).
 */

import { _retryLocked, _samePart, commitCounted } from "../_kv.ts";
import { isNewerRecord } from "../_kv_record.ts";
import type { Clock } from "../clock.ts";
import {
  _countedSize,
  _counterValue,
  _decodeGeneration,
  _encodeGeneration,
  _entryAccount,
  type _Keys,
  _RETIRE_GRACE_MS,
  _urlPart,
} from "./_kv_cache_schema.ts";
import { ATTEMPTS } from "./_cache_core.ts";

/** Deletions per atomic operation. */
const DELETE_BATCH = 500;

/** One cache's KV database, keys and clock. */
export class _KvCacheStorage {
  readonly kv: Deno.Kv;
  readonly #keys: _Keys;
  readonly #clock: Clock;

  constructor(kv: Deno.Kv, keys: _Keys, clock: Clock) {
    this.kv = kv;
    this.#keys = keys;
    this.#clock = clock;
  }

  /** The size counter; a foreign value there is recomputed. */
  async size(): Promise<number> {
    const item = await this.get(this.#keys.size);
    if (item.versionstamp === null) return 0;
    return _counterValue(item.value) ?? await this.reconcileSize();
  }

  /** Reads several keys in one operation. */
  getMany(keys: Deno.KvKey[]): Promise<Deno.KvEntryMaybe<unknown>[]> {
    return _retryLocked(() => this.kv.getMany(keys));
  }

  get(key: Deno.KvKey): Promise<Deno.KvEntryMaybe<unknown>> {
    return _retryLocked(() => this.kv.get(key));
  }

  commit(
    build: (atomic: Deno.AtomicOperation) => void,
  ): Promise<Deno.KvCommitResult | Deno.KvCommitError> {
    // A foreign value where the size counter belongs: recompute the counter, then retry.
    return commitCounted(this.kv, build, () => this.reconcileSize());
  }

  list(selector: Deno.KvListSelector): Promise<Deno.KvEntry<unknown>[]> {
    return _retryLocked(() => Array.fromAsync(this.kv.list(selector)));
  }

  /**
   * Marks a body no entry references any more as retired: readers that started on it may
   * finish it, and it is collected once older than the grace period.
   */
  async retire(generation: string): Promise<void> {
    const key = this.#keys.generation(generation);
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const item = await this.get(key);
      const record = _decodeGeneration(item.value);
      if (item.versionstamp === null || record === null) return; // collected, or for expire()
      if (record.state === "retired" || record.state === "dead") return;
      const now = this.#clock();
      const result = await this.commit((a) =>
        a.check(item)
          .set(key, _encodeGeneration({ ...record, state: "retired", touchedAt: now }))
          .set(this.#keys.retired(now, generation), new Uint8Array(0))
      );
      if (result.ok) return;
    }
  }

  /**
   * Retires the published bodies of one URL (`urlPart` as in its entry keys) that none of its
   * entries references: what an entry record too corrupt to name its body left.
   */
  async retireUnreferenced(urlPart: Deno.KvKeyPart): Promise<void> {
    // Generations first, as expire() lists them: a body published before this listing is
    // referenced by an entry the later listing sees, unless it was replaced (then it is garbage).
    const generations = await this.list({ prefix: this.#keys.under("g") });
    const referenced = new Set<string>();
    for (const item of await this.list({ prefix: this.#keys.under("e", urlPart) })) {
      // A newer format's entry may reference any of the URL's bodies: none is retired.
      if (isNewerRecord(item.value)) return;
      const account = _entryAccount(item.value);
      if (account !== null) referenced.add(account.generation);
    }
    const n = this.#keys.prefix.length;
    for (const item of generations) {
      const generation = item.key[n + 1];
      const record = _decodeGeneration(item.value);
      if (
        typeof generation !== "string" || record?.state !== "published" ||
        referenced.has(generation) || !_samePart(urlPart, await _urlPart(record.url))
      ) {
        continue;
      }
      await this.retire(generation);
    }
  }

  /** Collects retired bodies older than the grace period, at most `limit` of them. */
  async sweep(limit?: number): Promise<void> {
    const cutoff = this.#clock() - _RETIRE_GRACE_MS;
    const markers = await this.list({
      start: this.#keys.under("r"),
      // `true` sorts after every string part: the markers of `cutoff` itself are included.
      end: this.#keys.under("r", cutoff, true),
    });
    const n = this.#keys.prefix.length;
    for (const marker of markers.slice(0, limit)) {
      const generation = marker.key[n + 2];
      const item = typeof generation === "string"
        ? await this.get(this.#keys.generation(generation))
        : null;
      // The marker of a newer format's body is that version's to collect.
      if (isNewerRecord(item?.value)) continue;
      const record = _decodeGeneration(item?.value);
      if (
        item?.versionstamp && record?.state === "retired" && record.touchedAt === marker.key[n + 1]
      ) {
        await this.collect(item as Deno.KvEntry<unknown>);
      } else {
        await this.commit((a) => a.check(marker).delete(marker.key));
      }
    }
  }

  /** Deletes the chunks of a generation, then its record (so a crash midway leaves a trace). */
  async deleteGeneration(generation: string, chunks: number): Promise<void> {
    for (let start = 0; start < chunks; start += DELETE_BATCH) {
      const end = Math.min(chunks, start + DELETE_BATCH);
      await this.commit((a) => {
        for (let i = start; i < end; i++) a.delete(this.#keys.chunk(generation, i));
      });
    }
    await this.commit((a) => a.delete(this.#keys.generation(generation)));
  }

  /**
   * Deletes a generation given its record as read: marked dead first, so that a writer still
   * adding to it fails its next check; a record that changed meanwhile is left alone.
   */
  async collect(item: Deno.KvEntry<unknown>): Promise<void> {
    const n = this.#keys.prefix.length;
    const generation = item.key[n + 1];
    const record = _decodeGeneration(item.value);
    if (record === null || typeof generation !== "string" || item.key.length !== n + 2) {
      // A corrupt record cannot say how many chunks its body has: those stored go first.
      if (typeof generation === "string" && item.key.length === n + 2) {
        const chunks = await this.list({ prefix: this.#keys.under("c", generation) });
        for (let start = 0; start < chunks.length; start += DELETE_BATCH) {
          await this.commit((a) => {
            for (const chunk of chunks.slice(start, start + DELETE_BATCH)) a.delete(chunk.key);
          });
        }
      }
      await this.commit((a) => a.check(item).delete(item.key));
      return;
    }
    if (record.state !== "dead") {
      const result = await this.commit((a) => {
        a.check(item).set(item.key, _encodeGeneration({ ...record, state: "dead" }));
        if (record.state === "retired") {
          a.delete(this.#keys.retired(record.touchedAt, generation));
        }
      });
      if (!result.ok) return;
    }
    await this.deleteGeneration(generation, record.chunks);
  }

  /**
   * Recomputes the size counter from the entry records, a newer format's included (see
   * `_countedSize`), unless something changed it meanwhile.
   */
  async reconcileSize(): Promise<number> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const counter = await this.get(this.#keys.size);
      let total = 0;
      for (const item of await this.list({ prefix: this.#keys.under("e") })) {
        total += _countedSize(item.value);
      }
      const result = await this.commit((a) =>
        a.check(counter).set(this.#keys.size, new Deno.KvU64(BigInt(total)))
      );
      if (result.ok) return total;
    }
    return await this.size();
  }
}
