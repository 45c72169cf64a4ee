/**
 * The interface between the HTTP cache layer and the stores that keep responses:
 * {@linkcode NetworkCache}, with Qt's `QAbstractNetworkCache` roles (metadata, body, insert,
 * update metadata, remove, clear, size).
 *
 * @module
 */

/**
 * What the cache layer gives a store about a response it stores, or learns after a `304`.
 * Qt's `QNetworkCacheMetaData`.
 *
 * @example Storing one variant of a URL
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CacheMetaData, MemoryCache } from "@netaccess/core";
 *
 * await using cache = new MemoryCache();
 * const metaData: CacheMetaData = {
 *   url: "https://example.com/news#top",
 *   variant: "accept-language=en",
 *   status: 200,
 *   headers: { "content-type": "text/html", vary: "accept-language" },
 *   expires: Date.now() + 60_000,
 * };
 * await cache.insert(metaData, [new TextEncoder().encode("<h1>News</h1>")]);
 * const entry = await cache.metaData("https://example.com/news", "accept-language=en");
 * assert.equal(entry?.url, "https://example.com/news");
 * assert.equal(entry?.bodySize, 13);
 * ```
 */
export interface CacheMetaData {
  /** The URL the response answers; the fragment is dropped. */
  url: string | URL;
  /**
   * Which variant of the URL this is, when the response has a `Vary` header: for example the
   * request's values of the headers it names. Responses with the same URL and variant replace
   * each other; those with different variants are kept side by side.
   *
   * @default {""}
   */
  variant?: string;
  /** The HTTP status of the response, from 200 to 599 (what a `Response` can carry). */
  status: number;
  /**
   * The HTTP status text of the response: tabs, spaces and visible characters up to U+00FF.
   *
   * @default {""}
   */
  statusText?: string;
  /** The response headers as stored: names and values that `Headers` accepts. */
  headers: HeadersInit;
  /**
   * The freshness state of the response, opaque to the store: a JSON-compatible value such as
   * the result of `CachePolicy#toObject()` from `http-cache-semantics`. Left `null`, a manager
   * takes the entry as the response to a GET of `url` received when it was stored
   * ({@linkcode CacheEntry.storedAt}), and serves it as any stored response: fresh for what its
   * `Cache-Control` or `Expires` say, revalidated with its `ETag` or `Last-Modified`.
   *
   * @default {null}
   */
  policy?: unknown;
  /**
   * The time (epoch ms) after which the store drops the entry: a freshness lifetime, or a
   * longer one when the response can still be revalidated. `null` keeps the entry until it is
   * evicted to make room or removed.
   *
   * @default {null}
   */
  expires?: number | null;
}

/**
 * The changes {@linkcode NetworkCache.updateMetaData} applies to a stored entry, for example
 * the headers and policy that a `304 Not Modified` refreshed.
 *
 * @example Refreshing a stored response after a `304`
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CacheMetaDataUpdate, MemoryCache } from "@netaccess/core";
 *
 * await using cache = new MemoryCache();
 * const url = "https://example.com/data.json";
 * await cache.insert({ url, status: 200, headers: { etag: '"v1"' } }, [new Uint8Array(8)]);
 * const entry = await cache.metaData(url);
 * const update: CacheMetaDataUpdate = { headers: { etag: '"v1"', "cache-control": "max-age=60" } };
 * assert.ok(entry);
 * assert.equal(await cache.updateMetaData(entry, update), true);
 * assert.deepEqual((await cache.metaData(url))?.headers, [
 *   ["cache-control", "max-age=60"],
 *   ["etag", '"v1"'],
 * ]);
 * ```
 */
export type CacheMetaDataUpdate = Partial<Omit<CacheMetaData, "url" | "variant">>;

/**
 * A stored response as a store returns it: its metadata and the facts of its storage.
 *
 * @example Listing the stored variants of a URL
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CacheEntry, MemoryCache } from "@netaccess/core";
 *
 * await using cache = new MemoryCache();
 * const url = "https://example.com/logo.svg";
 * await cache.insert({ url, status: 200, headers: {} }, [new TextEncoder().encode("<svg/>")]);
 * const entries: CacheEntry[] = await cache.variants(url);
 * assert.deepEqual(entries.map((e) => [e.status, e.bodySize, e.expires]), [[200, 6, null]]);
 * ```
 */
export interface CacheEntry {
  /** The URL, normalized (no fragment). */
  readonly url: string;
  /** The variant; `""` when the response has none. */
  readonly variant: string;
  /** The HTTP status. */
  readonly status: number;
  /** The HTTP status text. */
  readonly statusText: string;
  /** The stored response headers, in order, as name-value pairs. */
  readonly headers: [string, string][];
  /** The stored freshness state (see {@linkcode CacheMetaData.policy}). */
  readonly policy: unknown;
  /** When the store drops the entry (epoch ms), or `null`. */
  readonly expires: number | null;
  /** The length of the body in bytes. */
  readonly bodySize: number;
  /** What the entry counts toward {@linkcode NetworkCache.cacheSize}: body plus metadata bytes. */
  readonly size: number;
  /** When the entry was stored (epoch ms, by the store's clock). */
  readonly storedAt: number;
  /** When the entry was last stored, read or touched (epoch ms), the order of eviction. */
  readonly lastAccess: number;
  /**
   * Which stored body this metadata belongs to. {@linkcode NetworkCache.body} reads exactly this
   * body, and {@linkcode NetworkCache.updateMetaData} updates the entry only while it still holds it.
   */
  readonly generation: string;
}

/**
 * Receives the body of a response being stored, while it is also streamed elsewhere. Nothing
 * is visible to readers until {@linkcode CacheWriter.commit} succeeds; an aborted writer, or one
 * whose body grows larger than the store accepts, stores nothing.
 *
 * @example Storing a body as it arrives
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CacheWriter, MemoryCache } from "@netaccess/core";
 *
 * await using cache = new MemoryCache();
 * const url = "https://example.com/feed";
 * await using writer: CacheWriter = cache.prepare({ url, status: 200, headers: {} });
 * await writer.write(new TextEncoder().encode("first chunk, "));
 * assert.equal(await cache.metaData(url), null); // nothing is visible before the commit
 * await writer.write(new TextEncoder().encode("second chunk"));
 * assert.equal(await writer.commit(), true);
 * assert.equal((await cache.metaData(url))?.bodySize, 25);
 * ```
 */
export interface CacheWriter extends AsyncDisposable {
  /**
   * Appends a chunk of the body. Storage failures do not reject: they make
   * {@linkcode CacheWriter.commit} return `false`.
   *
   * @param chunk The next bytes of the body; copied, so the caller may reuse the buffer.
   * @returns A promise that resolves once the chunk is accepted (back-pressure).
   * @throws {TypeError} When the writer was already committed or aborted.
   */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Publishes the entry: readers see the new metadata and body together, or the old entry.
   *
   * @returns Whether the entry was stored.
   * @throws {TypeError} When the writer was already committed or aborted.
   */
  commit(): Promise<boolean>;
  /**
   * Discards everything written; safe to call more than once and after a commit (then a no-op).
   *
   * @returns A promise that resolves once the written chunks are deleted.
   */
  abort(): Promise<void>;
}

/**
 * Options of {@linkcode NetworkCache.insert}.
 *
 * @example Giving up on a body that stalls
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CacheInsertOptions, MemoryCache } from "@netaccess/core";
 *
 * await using cache = new MemoryCache();
 * const controller = new AbortController();
 * const options: CacheInsertOptions = { signal: controller.signal };
 * const stalled = new ReadableStream<Uint8Array>({ pull() {} }); // never delivers a chunk
 * const url = "https://example.com/slow";
 * const inserting = cache.insert({ url, status: 200, headers: {} }, stalled, options);
 * controller.abort(new Error("gave up"));
 * await assert.rejects(inserting, { message: "gave up" });
 * assert.equal(await cache.metaData(url), null);
 * ```
 */
export interface CacheInsertOptions {
  /**
   * Aborting it stops reading the body and stores nothing.
   *
   * @default {undefined}
   */
  signal?: AbortSignal | undefined;
}

/**
 * Whom a cache serves, which decides what it may store (RFC 9111 section 3):
 *
 * - `"private"`: one user's cache, as a browser's. It stores responses marked `private` and
 *   responses to requests that carried credentials, and reads `max-age`, ignoring `s-maxage`.
 * - `"shared"`: a cache that serves several users, as a proxy's or a CDN's. It never stores a
 *   `private` response; a response to a request with `Authorization` only when `public`,
 *   `s-maxage` or `must-revalidate` allows it (section 3.5); a response to a request that
 *   carried a `Cookie` or credentials in its URL only when it says `public` or `s-maxage`
 *   (Varnish's rule); and it honours `s-maxage` and `proxy-revalidate`.
 *
 * In either mode, `Set-Cookie` and `Set-Cookie2` are never stored.
 *
 * @example The mode of a cache shared by every user of a server
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CacheMode, KvCache, MemoryCache } from "@netaccess/core";
 *
 * await using kv = await KvCache.open({ path: ":memory:" });
 * const mode: CacheMode = kv.mode;
 * assert.equal(mode, "shared"); // the default of a store that many processes share
 * assert.equal(new MemoryCache().mode, "private");
 * assert.equal(new MemoryCache({ mode: "shared" }).mode, "shared");
 * ```
 */
export type CacheMode = "shared" | "private";

/**
 * A store of HTTP responses that the cache layer of a `NetworkAccessManager` reads and writes.
 * Qt's `QAbstractNetworkCache`. {@linkcode MemoryCache} and {@linkcode KvCache} implement it;
 * an application may give its own.
 *
 * The store knows nothing of HTTP caching rules: it keeps entries by URL and variant, drops
 * those whose {@linkcode CacheEntry.expires} passed, and evicts the least recently used ones
 * to stay under its {@linkcode NetworkCache.maxSize}.
 *
 * @example Storing a response and reading it back
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryCache } from "@netaccess/core";
 *
 * await using cache = new MemoryCache();
 * await cache.insert(
 *   { url: "https://example.com/", status: 200, headers: { "content-type": "text/plain" } },
 *   [new TextEncoder().encode("hello")],
 * );
 * const entry = await cache.metaData("https://example.com/");
 * assert.ok(entry);
 * assert.equal(entry.status, 200);
 * const body = await cache.body(entry);
 * assert.ok(body);
 * assert.equal(await new Response(body).text(), "hello");
 * ```
 *
 * @example Pre-filling the cache a manager serves
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryCache, NetworkAccessManager } from "@netaccess/core";
 *
 * await using cache = new MemoryCache();
 * const url = "https://example.com/config.json";
 * await cache.insert(
 *   { url, status: 200, headers: { "cache-control": "max-age=3600", etag: '"v1"' } },
 *   [new TextEncoder().encode('{"theme":"dark"}')],
 * );
 * await using manager = new NetworkAccessManager({ cache });
 * // Fresh for an hour from now, then revalidated with If-None-Match: "v1".
 * const reply = manager.get(url, { cacheLoadControl: "always-cache" });
 * assert.deepEqual(await reply.json(), { theme: "dark" });
 * assert.equal(reply.fromCache, true);
 * ```
 */
export interface NetworkCache extends AsyncDisposable {
  /** The size (bytes) the store keeps {@linkcode NetworkCache.cacheSize} under by eviction. */
  readonly maxSize: number;
  /**
   * Whether the cache layer treats the store as a shared or a private cache (see
   * {@linkcode CacheMode}). A store that does not say is treated as shared.
   *
   * @default {"shared"}
   */
  readonly mode?: CacheMode;
  /**
   * Reads the metadata of one stored variant of a URL. An expired, corrupt or foreign entry is
   * a miss (and is removed).
   *
   * @param url The URL; its fragment is ignored.
   * @param variant The variant, `""` for a response without `Vary`.
   * @returns The entry, or `null` on a miss.
   * @throws {TypeError} When `url` is not a valid URL, or `variant` is given and not a string.
   */
  metaData(url: string | URL, variant?: string): Promise<CacheEntry | null>;
  /**
   * Reads the metadata of every stored variant of a URL, so the caller can pick the one whose
   * request headers match.
   *
   * @param url The URL; its fragment is ignored.
   * @returns The live entries, in no particular order.
   * @throws {TypeError} When `url` is not a valid URL.
   */
  variants(url: string | URL): Promise<CacheEntry[]>;
  /**
   * Opens the body of an entry, exactly the body stored with that metadata, and counts the
   * read as an access for eviction. A body replaced or collected in the meantime is a miss.
   *
   * @param entry An entry returned by this store.
   * @returns The body as a stream, or `null` when it is no longer stored.
   */
  body(entry: CacheEntry): Promise<ReadableStream<Uint8Array> | null>;
  /**
   * Starts storing a response whose body is still arriving (Qt's `prepare()`). An entry stored
   * without a `policy` is one a manager serves by its headers (see
   * {@linkcode CacheMetaData.policy}); `Set-Cookie` and `Set-Cookie2` fields are not stored.
   *
   * @param metaData The response to store.
   * @returns The writer that receives the body and publishes the entry.
   * @throws {TypeError} When a field of `metaData` is invalid.
   * @throws {RangeError} When `status` is a number outside 200 to 599, or `expires` one that is
   * not finite.
   */
  prepare(metaData: CacheMetaData): CacheWriter;
  /**
   * Stores a response, reading its body to the end; the entry is published only when the body
   * completed. An error from `body` or an abort stores nothing and is rethrown. As Qt's
   * `insert()`, it pre-fills the cache a manager reads: an entry stored without a `policy` is
   * served by its headers (see {@linkcode CacheMetaData.policy}). `Set-Cookie` and
   * `Set-Cookie2` fields are not stored.
   *
   * @param metaData The response to store.
   * @param body The body chunks.
   * @param options The abort signal.
   * @returns Whether the entry was stored (`false` when it is too large for the store).
   * @throws {TypeError} When a field of `metaData` is invalid.
   * @throws {RangeError} When `status` is a number outside 200 to 599, or `expires` one that is
   * not finite.
   */
  insert(
    metaData: CacheMetaData,
    body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options?: CacheInsertOptions,
  ): Promise<boolean>;
  /**
   * Replaces fields of a stored entry, keeping its body, for example after a `304`. Nothing
   * changes when the entry was replaced or removed since `entry` was read. `Set-Cookie` and
   * `Set-Cookie2` fields are not stored.
   *
   * @param entry The entry as read.
   * @param update The fields to replace.
   * @returns Whether the entry was updated.
   * @throws {TypeError} When a field of `update` is invalid.
   * @throws {RangeError} When `status` is a number outside 200 to 599, or `expires` one that is
   * not finite.
   */
  updateMetaData(entry: CacheEntry, update: CacheMetaDataUpdate): Promise<boolean>;
  /**
   * Marks an entry as used now, for least-recently-used eviction (for example after a `HEAD`
   * served from the cache).
   *
   * @param entry The entry as read.
   * @returns A promise that resolves once the access is recorded.
   */
  touch(entry: CacheEntry): Promise<void>;
  /**
   * Removes every variant stored for a URL (after an unsafe method).
   *
   * @param url The URL; its fragment is ignored.
   * @returns Whether anything was removed.
   * @throws {TypeError} When `url` is not a valid URL.
   */
  remove(url: string | URL): Promise<boolean>;
  /**
   * Removes every entry.
   *
   * @returns A promise that resolves once the store is empty.
   */
  clear(): Promise<void>;
  /**
   * The bytes the stored entries count: bodies plus metadata.
   *
   * @returns The size in bytes.
   */
  cacheSize(): Promise<number>;
  /**
   * Drops expired entries, reclaims what interrupted writers left behind, and evicts the least
   * recently used entries down to 90% of {@linkcode NetworkCache.maxSize} when over it.
   *
   * @returns The cache size afterwards.
   */
  expire(): Promise<number>;
  /**
   * Releases the store; writers still open store nothing. Safe to call twice.
   *
   * @returns A promise that resolves once the store is closed.
   */
  close(): Promise<void>;
}
