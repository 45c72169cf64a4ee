/**
 * A {@linkcode NetworkCache} that passes every call to another one and records what the
 * manager stored and refreshed, so `--verbose` can say what the cache decided.
 *
 * @module
 */

import type {
  CacheEntry,
  CacheInsertOptions,
  CacheMetaData,
  CacheMetaDataUpdate,
  CacheMode,
  CacheWriter,
  NetworkCache,
} from "../../mod.ts";

/** What happened to one URL's entry. */
export type _CacheWrite = "stored" | "refreshed";

/** Records writes by URL; passes everything to the inner cache. */
export class _ObservedCache implements NetworkCache {
  readonly #inner: NetworkCache;
  /** URL (href) to what was written under it, in order. */
  readonly writes = new Map<string, _CacheWrite[]>();

  constructor(inner: NetworkCache) {
    this.#inner = inner;
  }

  #record(url: string | URL, what: _CacheWrite): void {
    const key = new URL(url).href;
    const list = this.writes.get(key) ?? [];
    list.push(what);
    this.writes.set(key, list);
  }

  get mode(): CacheMode | undefined {
    return this.#inner.mode;
  }
  get maxSize(): number {
    return this.#inner.maxSize;
  }
  metaData(url: string | URL, variant?: string): Promise<CacheEntry | null> {
    return this.#inner.metaData(url, variant);
  }
  variants(url: string | URL): Promise<CacheEntry[]> {
    return this.#inner.variants(url);
  }
  body(entry: CacheEntry): Promise<ReadableStream<Uint8Array> | null> {
    return this.#inner.body(entry);
  }
  prepare(metaData: CacheMetaData): CacheWriter {
    const writer = this.#inner.prepare(metaData);
    const commit = writer.commit.bind(writer);
    writer.commit = async () => {
      const stored = await commit();
      if (stored) this.#record(metaData.url, "stored");
      return stored;
    };
    return writer;
  }
  async insert(
    metaData: CacheMetaData,
    body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options?: CacheInsertOptions,
  ): Promise<boolean> {
    const stored = await this.#inner.insert(metaData, body, options);
    if (stored) this.#record(metaData.url, "stored");
    return stored;
  }
  async updateMetaData(entry: CacheEntry, update: CacheMetaDataUpdate): Promise<boolean> {
    const updated = await this.#inner.updateMetaData(entry, update);
    if (updated) this.#record(entry.url, "refreshed");
    return updated;
  }
  touch(entry: CacheEntry): Promise<void> {
    return this.#inner.touch(entry);
  }
  remove(url: string | URL): Promise<boolean> {
    return this.#inner.remove(url);
  }
  clear(): Promise<void> {
    return this.#inner.clear();
  }
  cacheSize(): Promise<number> {
    return this.#inner.cacheSize();
  }
  expire(): Promise<number> {
    return this.#inner.expire();
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
