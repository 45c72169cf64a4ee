/**
 * {@linkcode NetworkAccessManager}: what all of an application's requests share, and the
 * operations that send them.
 *
 * @module
 */

import type { NetworkBody } from "./body.ts";
import type { NetworkAccessManagerEventMap } from "./events.ts";
import type { Layer } from "./exchange.ts";
import type { HostQueue } from "./host_queue.ts";
import type { Authenticator } from "./layers/auth.ts";
import type { RedirectVerifier } from "./layers/redirect.ts";
import type { RetryOptions } from "./retry_options.ts";
import type { NetworkAccessibility } from "./network_accessibility.ts";
import type { NetworkProxy, ProxyFactory } from "./proxy/network_proxy.ts";
import type { ClientCertificate } from "./tls.ts";
import type { NetworkCache } from "./cache/network_cache.ts";
import type { CookieJar } from "./cookies/cookie_jar.ts";
import type { HstsStore } from "./hsts/hsts_store.ts";
import type { Clock } from "./clock.ts";
import type { EventStreamOptions } from "./event_stream.ts";
import { openEventStream } from "./_event_stream.ts";
import type { PaginateOptions } from "./paginate.ts";
import { paginate } from "./_paginate.ts";
import type { ServerSentEvent } from "./sse.ts";
import type {
  CacheLoadControl,
  NetworkRequest,
  NetworkRequestInit,
  RedirectPolicy,
} from "./request.ts";
import type { NetworkReply } from "./reply.ts";
import type { LayerPosition, NetworkAccessManagerOptions } from "./manager_options.ts";
import { warmConnection } from "./manager/_connect.ts";
import { customOperation } from "./manager/_send.ts";
import { ManagerCore } from "./manager/_core.ts";
import { inspectManagers } from "./manager/_inspect.ts";
import { setBackgroundDone, setOriginHttp2 } from "./manager/_origin_http2.ts";
import { TypedEventTarget } from "./_typed_event_target.ts";

export type { LayerPosition, NetworkAccessManagerOptions };

/**
 * The network access manager: one object holds what an application's requests share, and
 * every request returns a {@linkcode NetworkReply} at once. Qt's `QNetworkAccessManager`,
 * made for Deno.
 *
 * Requests flow down a pipeline of layers to the transport; `use()` adds layers of your own.
 * Settings are constructor options and writable properties, read when a request is sent.
 *
 * Events: `finished` ({@linkcode NetworkReplyEvent}) for every reply;
 * `networkaccessiblechanged` ({@linkcode NetworkAccessibleChangedEvent}) on every change of
 * {@linkcode NetworkAccessManager.networkAccessible}.
 *
 * @example Download with progress, then check the outcome
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, NetworkError } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager({ transferTimeout: 30_000 });
 * const reply = manager.get("data:text/plain,hello%20world");
 * let loaded = 0;
 * reply.addEventListener("downloadprogress", (e) => {
 *   loaded = e.loaded;
 * });
 * const text = await reply.text();
 * assert.equal(reply.error, NetworkError.NoError, reply.errorString);
 * assert.equal(text, "hello world");
 * assert.equal(loaded, 11);
 * ```
 */
export class NetworkAccessManager
  extends TypedEventTarget<NetworkAccessManagerEventMap, NetworkAccessManager>
  implements AsyncDisposable {
  readonly #core: ManagerCore;

  static {
    inspectManagers(NetworkAccessManager.prototype); // `console.log(manager)` shows its state
    setOriginHttp2((manager, url, proxy) =>
      (manager as NetworkAccessManager).#core.http2(url, proxy)
    );
    setBackgroundDone((manager) => (manager as NetworkAccessManager).#core.backgroundDone());
  }

  /**
   * Creates a manager.
   *
   * @param options Settings; each is also a writable property.
   * @throws {TypeError} When an option has the wrong type, is not one of its choices, or is
   * no option of the manager (a misspelt name: the message names it and the closest option).
   * @throws {RangeError} When a numeric option is out of range.
   */
  constructor(options: NetworkAccessManagerOptions = {}) {
    super();
    this.#core = new ManagerCore(this, options);
  }

  /** The redirect policy of requests that set none. */
  get redirectPolicy(): RedirectPolicy {
    return this.#core.redirectPolicy;
  }
  set redirectPolicy(value: RedirectPolicy) {
    this.#core.redirectPolicy = value;
  }

  /** The most redirects a request follows. */
  get maxRedirects(): number {
    return this.#core.maxRedirects;
  }
  set maxRedirects(value: number) {
    this.#core.maxRedirects = value;
  }

  /** The inactivity timeout in milliseconds (0 = off). */
  get transferTimeout(): number {
    return this.#core.transferTimeout;
  }
  set transferTimeout(value: number) {
    this.#core.transferTimeout = value;
  }

  /** The total timeout of a reply in milliseconds (0 = off). */
  get timeout(): number {
    return this.#core.timeout;
  }
  set timeout(value: number) {
    this.#core.timeout = value;
  }

  /**
   * Requests in flight at once per scheme, host and port. Raising it starts requests waiting
   * for a slot at once; lowering it lets those in flight finish.
   */
  get maxConnectionsPerHost(): number {
    return this.#core.maxConnectionsPerHost;
  }
  set maxConnectionsPerHost(value: number) {
    this.#core.maxConnectionsPerHost = value;
  }

  /** Bytes a reply buffers while nobody reads it (0 = unlimited). */
  get readBufferSize(): number {
    return this.#core.readBufferSize;
  }
  set readBufferSize(value: number) {
    this.#core.readBufferSize = value;
  }

  /** The decompression guard threshold in bytes (-1 = off). */
  get decompressionGuard(): number {
    return this.#core.decompressionGuard;
  }
  set decompressionGuard(value: number) {
    this.#core.decompressionGuard = value;
  }

  /** The most body bytes a reply accepts, after decompression (0 = no limit). */
  get maxBodySize(): number {
    return this.#core.maxBodySize;
  }
  set maxBodySize(value: number) {
    this.#core.maxBodySize = value;
  }

  /** The HTTP cache, or `null` for none. */
  get cache(): NetworkCache | null {
    return this.#core.cache;
  }
  set cache(value: NetworkCache | null) {
    this.#core.cache = value;
  }

  /** Where replies come from for requests that set no `cacheLoadControl`. */
  get cacheLoadControl(): CacheLoadControl {
    return this.#core.cacheLoadControl;
  }
  set cacheLoadControl(value: CacheLoadControl) {
    this.#core.cacheLoadControl = value;
  }

  /** The cookie jar, or `null` when cookies are not handled. */
  get cookieJar(): CookieJar | null {
    return this.#core.cookieJar;
  }
  set cookieJar(value: CookieJar | null) {
    this.#core.cookieJar = value;
  }

  /** The HSTS store, or `null` when HSTS is off. */
  get hstsStore(): HstsStore | null {
    return this.#core.hstsStore;
  }
  set hstsStore(value: HstsStore | null) {
    this.#core.hstsStore = value;
  }

  /** The proxy of every request, or `undefined` to use `proxyFactory` or the system's. */
  get proxy(): NetworkProxy | undefined {
    return this.#core.proxy;
  }
  set proxy(value: NetworkProxy | undefined) {
    this.#core.proxy = value;
  }

  /** Chooses the proxies of each request when no `proxy` is set. */
  get proxyFactory(): ProxyFactory | undefined {
    return this.#core.proxyFactory;
  }
  set proxyFactory(value: ProxyFactory | undefined) {
    this.#core.proxyFactory = value;
  }

  /**
   * Extra CA certificates (PEM) trusted for https targets and https proxies. Setting it takes
   * effect for the requests sent from then on (they connect anew, with the new trust);
   * connections already open are left to finish, and the clients made with the old certificates
   * are let go of. Managers with equal certificates (and client certificate and proxy) share one
   * HTTP client, and its connections, in the process. The array read is frozen.
   *
   * @throws {TypeError} When set to anything but an array of PEM certificates Deno can read.
   */
  get caCerts(): readonly string[] {
    return this.#core.caCerts;
  }
  set caCerts(value: readonly string[]) {
    this.#core.caCerts = value;
  }

  /**
   * The TLS client certificate presented to a URL's origin: the one `clientCertificates`
   * names for it, else `clientCertificate`; `undefined` for none and for URLs that are not
   * https.
   *
   * @param url Any URL of the origin.
   * @returns The client certificate, or `undefined`.
   *
   * @example Per-origin certificates win over the default one
   * ```ts
   * import assert from "node:assert/strict";
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * const pem = (label: string) => `-----BEGIN ${label}-----\nAA==\n-----END ${label}-----\n`;
   * const everyone = { cert: pem("CERTIFICATE"), key: pem("PRIVATE KEY") };
   * const api = { cert: pem("CERTIFICATE"), key: pem("EC PRIVATE KEY") };
   * await using manager = new NetworkAccessManager({
   *   clientCertificate: everyone,
   *   clientCertificates: { "https://api.example.com:8443": api },
   * });
   * assert.deepEqual(manager.clientCertificateFor("https://api.example.com:8443/x"), api);
   * assert.deepEqual(manager.clientCertificateFor("https://example.com/"), everyone);
   * assert.equal(manager.clientCertificateFor("http://example.com/"), undefined);
   * ```
   */
  clientCertificateFor(url: string | URL): ClientCertificate | undefined {
    return this.#core.clientCertificateFor(url);
  }

  /**
   * Whether requests may use the network. Reads the switch as set, unless Deno's `net`
   * permission is not granted for every host: then `"unknown"` while it would be asked for
   * or some host already used is still granted, else `"not-accessible"`. Setting
   * `"not-accessible"` (or `false`) turns network access off; `"accessible"` (or `true`) turns it
   * back on. Every
   * change fires `networkaccessiblechanged` ({@linkcode NetworkAccessibleChangedEvent}).
   *
   * @example Working offline from the cache
   * ```ts
   * import assert from "node:assert/strict";
   * import { MemoryCache, NetworkAccessManager } from "@netaccess/core";
   *
   * await using manager = new NetworkAccessManager({ cache: new MemoryCache() });
   * manager.networkAccessible = "not-accessible";
   * const reply = manager.get("http://127.0.0.1:9/", { cacheLoadControl: "prefer-cache" });
   * await reply.finished;
   * assert.equal(reply.errorString, "Network access is disabled");
   * ```
   */
  get networkAccessible(): NetworkAccessibility {
    return this.#core.networkAccessible;
  }
  set networkAccessible(value: NetworkAccessibility | boolean) {
    this.#core.networkAccessible = value;
  }

  /** Whether a missing permission is asked for with `Deno.permissions.request`. */
  get requestPermissions(): boolean {
    return this.#core.requestPermissions;
  }
  set requestPermissions(value: boolean) {
    this.#core.requestPermissions = value;
  }

  /** Supplies credentials for 401 and 407 challenges, or `undefined` for none. */
  get authenticator(): Authenticator | undefined {
    return this.#core.authenticator;
  }
  set authenticator(value: Authenticator | undefined) {
    this.#core.authenticator = value;
  }

  /** Decides redirects under the `"user-verified"` policy, or `undefined` for none. */
  get redirectVerifier(): RedirectVerifier | undefined {
    return this.#core.redirectVerifier;
  }
  set redirectVerifier(value: RedirectVerifier | undefined) {
    this.#core.redirectVerifier = value;
  }

  /**
   * Forgets every credential the manager cached (per protection space: origin and realm, of
   * servers and proxies), and which protection spaces challenged with Digest, so the next request
   * to a protected resource is challenged again.
   * Qt's `clearAccessCache()`.
   *
   * @example Logging out
   * ```ts
   * import assert from "node:assert/strict";
   * import { createMockManager } from "@netaccess/core/testing";
   *
   * let asked = 0;
   * await using mocked = createMockManager({
   *   authenticator: () => (asked++, { username: "me", password: "secret" }),
   * });
   * mocked.mock.route("GET", "/account", (request) =>
   *   request.headers.has("authorization")
   *     ? { body: "my account" }
   *     : { status: 401, headers: { "www-authenticate": 'Basic realm="shop"' } });
   * const url = "https://shop.example/account";
   * assert.equal(await mocked.manager.get(url).text(), "my account");
   * assert.equal(await mocked.manager.get(url).text(), "my account"); // cached credentials
   * assert.equal(asked, 1);
   * mocked.manager.clearAccessCache();
   * assert.equal(await mocked.manager.get(url).text(), "my account");
   * assert.equal(asked, 2); // challenged and asked again
   * ```
   */
  clearAccessCache(): void {
    this.#core.clearAccessCache();
  }

  /** Retrying of failed requests: `false` (off), `true`, a limit, or {@linkcode RetryOptions}. */
  get retry(): RetryOptions | number | boolean {
    return this.#core.retry;
  }
  set retry(value: RetryOptions | number | boolean) {
    this.#core.retry = value;
  }

  /** The clock of cache freshness, `Retry-After` dates and the default cookie jar's expiry. */
  get clock(): Clock {
    return this.#core.clock;
  }

  /** The client certificate of every https origin `clientCertificates` does not name (read-only). */
  get clientCertificate(): ClientCertificate | undefined {
    return this.#core.clientCertificate;
  }

  /** The client certificates by origin, normalized (`"https://a.example"`); read-only. */
  get clientCertificates(): Readonly<Record<string, ClientCertificate>> {
    return this.#core.clientCertificates;
  }

  /**
   * Lets go of the pooled HTTP clients (one per proxy configuration, for the 16 used most
   * recently), closing those no other manager shares; the next requests open new connections, on
   * new clients, direct ones included. Qt's `clearConnectionCache()`.
   *
   * @example The next request opens a new connection
   * ```ts
   * import assert from "node:assert/strict";
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * const ports: number[] = [];
   * await using server = Deno.serve(
   *   { hostname: "127.0.0.1", port: 0, onListen() {} },
   *   (_request, info) => (ports.push(info.remoteAddr.port), new Response("ok")),
   * );
   * await using manager = new NetworkAccessManager();
   * const url = `http://127.0.0.1:${server.addr.port}/`;
   * await manager.get(url).text();
   * manager.clearConnectionCache();
   * await manager.get(url).text();
   * assert.notEqual(ports[1], ports[0]);
   * ```
   */
  clearConnectionCache(): void {
    this.#core.clearConnectionCache();
  }

  /**
   * Warms a connection to the origin of `url` (Qt's `connectToHost` and
   * `connectToHostEncrypted`) by sending it a `HEAD /` through the pipeline, so the next
   * request finds the connection (and its TLS session) open in the pool. A hint only: the
   * request skips the cache and cookies, follows no redirect, is not retried and never asks the
   * `authenticator` (a 401 or 407 ends it); whatever happens, the promise resolves, at the
   * latest after `timeout` ms (the warm-up request is then aborted).
   *
   * @param url Any URL of the origin (`http:` or `https:`); others are ignored.
   * @param options `timeout`: how long to wait at most, in ms (default 30 000).
   * @returns Resolves when the warm-up request has finished or timed out; rejects only for
   * invalid options.
   * @throws {TypeError} When `options` is not an object or has a key other than `timeout`, or
   * `timeout` is not a number.
   * @throws {RangeError} When `timeout` is a number that is not positive, or longer than a timer
   * can wait.
   *
   * @example Warm the connection while preparing the first request
   * ```ts
   * import assert from "node:assert/strict";
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * const seen: string[] = [];
   * await using server = Deno.serve(
   *   { hostname: "127.0.0.1", port: 0, onListen() {} },
   *   (request) => {
   *     seen.push(`${request.method} ${new URL(request.url).pathname}`);
   *     return new Response("ok");
   *   },
   * );
   * await using manager = new NetworkAccessManager();
   * const origin = `http://127.0.0.1:${server.addr.port}`;
   * const warming = manager.connectToHost(`${origin}/items`, { timeout: 5_000 });
   * // ... build the request ...
   * await warming;
   * assert.equal(await manager.get(`${origin}/items`).text(), "ok");
   * assert.deepEqual(seen, ["HEAD /", "GET /items"]);
   * ```
   */
  connectToHost(url: string | URL, options: { timeout?: number | undefined } = {}): Promise<void> {
    return warmConnection((request) => this.head(request), url, options);
  }

  /** The per-origin request queue (read-only view for monitoring). */
  get queue(): HostQueue {
    return this.#core.queue;
  }

  /** The replies under way. */
  get runningReplies(): readonly NetworkReply[] {
    return this.#core.runningReplies;
  }

  /**
   * Adds a layer of your own (Qt's `createRequest` override, as composition). At
   * `"request"` (the default) it sees each request once, before anything else, and may
   * rewrite it or answer it; at `"network"` it sits just above the transport and sees every
   * exchange that goes to the network (each redirect hop and retry, with cookies and
   * credentials set, holding a queue slot). Later layers sit inside earlier ones.
   *
   * @param layer The layer.
   * @param position Where it sits.
   * @returns The manager, for chaining.
   * @throws {TypeError} When `layer` is not a function or `position` is unknown.
   *
   * @example A layer that answers one host itself
   * ```ts
   * import assert from "node:assert/strict";
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * await using manager = new NetworkAccessManager();
   * manager.use((next) => async (exchange) => {
   *   if (exchange.url.hostname === "mock.test") return new Response("mocked");
   *   return await next(exchange);
   * });
   * assert.equal(await manager.get("http://mock.test/").text(), "mocked");
   * ```
   */
  use(layer: Layer, position: LayerPosition = "request"): this {
    this.#core.use(layer, position);
    return this;
  }

  /**
   * Sends a GET request.
   *
   * @param request A URL or a {@linkcode NetworkRequest}.
   * @param init Request options; with a `NetworkRequest`, fields to replace (headers by name).
   * @returns The reply, at once; errors are reported on it.
   *
   * @example Reading a resource, and a missing one
   * ```ts
   * import assert from "node:assert/strict";
   * import { NetworkAccessManager, NetworkError } from "@netaccess/core";
   *
   * await using server = Deno.serve(
   *   { hostname: "127.0.0.1", port: 0, onListen() {} },
   *   (request) => new Response("hi", { status: request.url.endsWith("/hi") ? 200 : 404 }),
   * );
   * await using manager = new NetworkAccessManager();
   * const base = `http://127.0.0.1:${server.addr.port}`;
   * assert.equal(await manager.get(`${base}/hi`).text(), "hi");
   * const missing = manager.get(`${base}/nothing`);
   * await missing.finished;
   * assert.equal(missing.status, 404);
   * assert.equal(missing.error, NetworkError.ContentNotFoundError); // errors are on the reply
   * ```
   */
  get(request: string | URL | NetworkRequest, init?: NetworkRequestInit): NetworkReply {
    return this.#core.send(request, init, "get", "GET");
  }

  /**
   * Sends a HEAD request.
   *
   * @param request A URL or a {@linkcode NetworkRequest}.
   * @param init Request options; with a `NetworkRequest`, fields to replace (headers by name).
   * @returns The reply, at once; its body is empty.
   *
   * @example Asking for the headers only
   * ```ts
   * import assert from "node:assert/strict";
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * await using manager = new NetworkAccessManager();
   * const reply = manager.head("data:text/plain,hi");
   * await reply.finished;
   * assert.equal(reply.status, 200);
   * assert.equal(reply.headers.get("content-type"), "text/plain");
   * assert.equal(await reply.text(), ""); // the headers only
   * ```
   */
  head(request: string | URL | NetworkRequest, init?: NetworkRequestInit): NetworkReply {
    return this.#core.send(request, init, "head", "HEAD");
  }

  /**
   * Sends a POST request.
   *
   * @param request A URL or a {@linkcode NetworkRequest}.
   * @param body The body: string, bytes, Blob, FormData, URLSearchParams, a stream, an async
   * iterable of bytes (streamed), or a plain object or array (JSON).
   * @param init Request options; with a `NetworkRequest`, fields to replace (headers by name).
   * @returns The reply, at once.
   *
   * @example Posting JSON
   * ```ts
   * import assert from "node:assert/strict";
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * await using server = Deno.serve(
   *   { hostname: "127.0.0.1", port: 0, onListen() {} },
   *   async (request) => {
   *     const item = { type: request.headers.get("content-type"), ...await request.json() };
   *     return Response.json(item, { status: 201 });
   *   },
   * );
   * await using manager = new NetworkAccessManager();
   * const reply = manager.post(`http://127.0.0.1:${server.addr.port}/items`, { name: "a" });
   * assert.deepEqual(await reply.json(), { type: "application/json", name: "a" });
   * assert.equal(reply.status, 201);
   * ```
   */
  post(
    request: string | URL | NetworkRequest,
    body?: NetworkBody,
    init?: NetworkRequestInit,
  ): NetworkReply {
    return this.#core.send(request, init, "post", "POST", body);
  }

  /**
   * Sends a PUT request.
   *
   * @param request A URL or a {@linkcode NetworkRequest}.
   * @param body The body, as for {@linkcode NetworkAccessManager.post}.
   * @param init Request options; with a `NetworkRequest`, fields to replace (headers by name).
   * @returns The reply, at once.
   *
   * @example Replacing a resource
   * ```ts
   * import assert from "node:assert/strict";
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * await using server = Deno.serve(
   *   { hostname: "127.0.0.1", port: 0, onListen() {} },
   *   async (request) => new Response(`${request.method} ${await request.text()}`),
   * );
   * await using manager = new NetworkAccessManager();
   * const url = `http://127.0.0.1:${server.addr.port}/items/1`;
   * assert.equal(await manager.put(url, "new content").text(), "PUT new content");
   * ```
   */
  put(
    request: string | URL | NetworkRequest,
    body?: NetworkBody,
    init?: NetworkRequestInit,
  ): NetworkReply {
    return this.#core.send(request, init, "put", "PUT", body);
  }

  /**
   * Sends a DELETE request.
   *
   * @param request A URL or a {@linkcode NetworkRequest}.
   * @param init Request options; with a `NetworkRequest`, fields to replace (headers by name).
   * @returns The reply, at once.
   *
   * @example Deleting a resource
   * ```ts
   * import assert from "node:assert/strict";
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * await using server = Deno.serve(
   *   { hostname: "127.0.0.1", port: 0, onListen() {} },
   *   (request) => new Response(null, { status: request.method === "DELETE" ? 204 : 405 }),
   * );
   * await using manager = new NetworkAccessManager();
   * const reply = manager.deleteResource(`http://127.0.0.1:${server.addr.port}/items/1`);
   * await reply.finished;
   * assert.equal(reply.status, 204);
   * assert.equal(reply.operation, "delete");
   * ```
   */
  deleteResource(request: string | URL | NetworkRequest, init?: NetworkRequestInit): NetworkReply {
    return this.#core.send(request, init, "delete", "DELETE");
  }

  /**
   * Sends a request with any method. GET, HEAD, POST, PUT and DELETE, in any case, are sent
   * upper-cased and keep their own `operation` (`"get"`...); any other verb is sent as given,
   * as operation `"custom"` (Qt reports `CustomOperation` for every custom request).
   *
   * @param request A URL or a {@linkcode NetworkRequest}.
   * @param verb The method, an HTTP token such as `"PATCH"` or `"PROPFIND"`.
   * @param body The body, as for {@linkcode NetworkAccessManager.post}.
   * @param init Request options; with a `NetworkRequest`, fields to replace (headers by name).
   * @returns The reply, at once; an invalid verb fails it with `ProtocolInvalidOperationError`.
   *
   * @example Sending PATCH
   * ```ts
   * import assert from "node:assert/strict";
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * await using server = Deno.serve(
   *   { hostname: "127.0.0.1", port: 0, onListen() {} },
   *   async (request) => new Response(`${request.method} ${await request.text()}`),
   * );
   * await using manager = new NetworkAccessManager();
   * const url = `http://127.0.0.1:${server.addr.port}/items/1`;
   * const reply = manager.sendCustomRequest(url, "PATCH", { done: true });
   * assert.equal(await reply.text(), 'PATCH {"done":true}');
   * assert.equal(reply.operation, "custom");
   * ```
   */
  sendCustomRequest(
    request: string | URL | NetworkRequest,
    verb: string,
    body?: NetworkBody,
    init?: NetworkRequestInit,
  ): NetworkReply {
    const { method, operation } = customOperation(verb);
    return this.#core.send(request, init, operation, method, body);
  }

  /**
   * Iterates the items of a paginated API across its pages. Each page is a GET through the
   * whole pipeline (cache, cookies, authentication, retry, queue). By default a page's items
   * are its body parsed as a JSON array, and the next page is the target of its `Link`
   * header's `rel="next"` (RFC 8288), resolved against the page's URL and sent with the
   * headers and attributes of the first request; a link to a page already walked ends the
   * walk, and a link to another scheme than http or https (`file:`, `data:`) fails it with
   * `ProtocolUnknownError`. A page on another origin than the first request's, and every page
   * after it, goes without the headers a redirect to another origin drops (Authorization,
   * Proxy-Authorization, Cookie, the request's `sensitiveHeaders`). A page that fails ends the
   * iteration with its reply's error (a {@linkcode NetworkReplyError} with the reply's code
   * and message); its items are not yielded, except those an async iterable `items` already
   * streamed, before the error. Breaking out of the loop aborts the page in flight, and no
   * further page is requested.
   *
   * @typeParam Item The type of the items.
   * @param request The first page: a URL or a {@linkcode NetworkRequest}.
   * @param options `items`, `next`, `limit` and `maxPages`.
   * @returns An async iterator of the items.
   * @throws {TypeError} At once, when an option has the wrong type, or the request's
   *   `Last-Event-ID` header and `lastEventId` name different IDs.
   * @throws {RangeError} At once, when `limit` or `maxPages` is a number that is neither a
   * non-negative integer nor `Infinity`.
   *
   * @example Following `Link: <...>; rel="next"`
   * ```ts
   * import assert from "node:assert/strict";
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * await using manager = new NetworkAccessManager({
   *   transport: async ({ url }) => {
   *     const page = Number(url.searchParams.get("page") ?? "1");
   *     const headers = page < 3 ? { link: `</items?page=${page + 1}>; rel="next"` } : undefined;
   *     return Response.json([page * 10, page * 10 + 1], { headers });
   *   },
   * });
   * const items: number[] = [];
   * for await (const item of manager.paginate<number>("https://api.example.com/items")) {
   *   items.push(item);
   * }
   * assert.deepEqual(items, [10, 11, 20, 21, 30, 31]);
   * ```
   */
  paginate<Item = unknown>(
    request: string | URL | NetworkRequest,
    options?: PaginateOptions<Item>,
  ): AsyncGenerator<Item, void, undefined> {
    return paginate<Item>((target) => this.get(target), request, options);
  }

  /**
   * Opens a Server-Sent Events stream that reconnects as `EventSource` does. Each connection
   * is a GET through the pipeline with `Accept: text/event-stream` (whatever `Accept` the
   * request has), past the cache; its body
   * is parsed as {@linkcode NetworkReply.events} does. After a network error or the end of the
   * body, the stream waits the reconnection time (the server's `retry` field, or
   * `reconnectionTime`) and connects again with `Last-Event-ID` set to the last event ID
   * (without it when the ID holds a control character no header can carry). It
   * ends without reconnecting after a 204 (quietly), another status than 200 or a response
   * that is not `text/event-stream` (throwing a {@linkcode NetworkReplyError} whose message
   * quotes the start of the body, the API's reason, credentials masked), and stops on
   * `break` or `return()` (at once, also while a `next()` waits), or when `signal` (or the
   * request's signal) aborts. When the manager closes, it
   * throws the closed manager's `OperationCanceledError` at once, also while it waits to
   * reconnect.
   *
   * @typeParam Type The event types the stream sends, for typing `event.type`.
   * @param request The stream's URL or a {@linkcode NetworkRequest}.
   * @param options `signal`, `lastEventId`, `reconnectionTime`, `maxReconnects`,
   *   `maxEventLength`.
   * @returns An async iterator of the events of every connection.
   * @throws {TypeError} At once, when an option has the wrong type, or the request's
   *   `Last-Event-ID` header and `lastEventId` name different IDs.
   * @throws {RangeError} At once, when a number is out of range.
   *
   * @example Reading events until one says stop
   * ```ts
   * import assert from "node:assert/strict";
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * await using manager = new NetworkAccessManager({
   *   transport: async () =>
   *     new Response("event: tick\ndata: 1\n\nevent: stop\ndata: \n\n", {
   *       headers: { "content-type": "text/event-stream" },
   *     }),
   * });
   * const ticks: string[] = [];
   * for await (const event of manager.eventStream<"tick" | "stop">("https://example.com/clock")) {
   *   if (event.type === "stop") break;
   *   ticks.push(event.data);
   * }
   * assert.deepEqual(ticks, ["1"]);
   * ```
   */
  eventStream<Type extends string = string>(
    request: string | URL | NetworkRequest,
    options?: EventStreamOptions,
  ): AsyncGenerator<ServerSentEvent<Type>, void, undefined> {
    return openEventStream<Type>(
      (target, init) => this.get(target, init),
      request,
      options,
      this.#core.closeSignal,
    );
  }

  /**
   * Aborts every running reply with `OperationCanceledError` and releases what the manager
   * opened. Safe to call twice; requests made afterwards fail at once.
   *
   * @returns Resolves when every reply has finished.
   */
  close(): Promise<void> {
    return this.#core.close();
  }

  /** Closes the manager, as {@linkcode NetworkAccessManager.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
