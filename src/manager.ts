/**
 * {@linkcode NetworkAccessManager}: what all of an application's requests share, and the
 * operations that send them.
 *
 * @module
 */

import type { NetworkBody } from "./body.ts";
import { type NetworkAccessManagerEventMap, NetworkReplyEvent } from "./events.ts";
import { Exchange, type Handler, type Layer } from "./exchange.ts";
import { HostQueue } from "./host_queue.ts";
import { effectiveAccessibility } from "./layers/access.ts";
import type { Authenticator } from "./layers/auth.ts";
import type { RedirectVerifier } from "./layers/redirect.ts";
import { buildPipeline } from "./pipeline.ts";
import { checkRetry, type RetryOptions } from "./retry_options.ts";
import { transport } from "./layers/transport.ts";
import { _envHasProxy, _ProxyClientPool } from "./_proxy_client.ts";
import { _PermissionGate } from "./_permission_gate.ts";
import {
  ACCESSIBILITIES,
  type NetworkAccessibility,
  NetworkAccessibleChangedEvent,
} from "./network_accessibility.ts";
import {
  type NetworkProxy,
  type ProxyFactory,
  proxyQuery,
  validateProxy,
} from "./proxy/network_proxy.ts";
import { envEpoch, processProxyEnv } from "./proxy/system_proxy.ts";
import { resolveProxy } from "./proxy/_resolve.ts";
import { checkClientCertificate, checkClientCertificates, type ClientCertificate } from "./tls.ts";
import { _HTTP2_STREAMS, _Http2Origins } from "./_http2.ts";
import type { NetworkCache } from "./cache/network_cache.ts";
import type { CookieJar } from "./cookies/cookie_jar.ts";
import { MemoryCookieJar } from "./cookies/memory_cookie_jar.ts";
import type { HstsStore } from "./hsts/hsts_store.ts";
import { CredentialCache } from "./auth/credential_cache.ts";
import type { Clock } from "./clock.ts";
import { checkClock } from "./_clock.ts";
import type { EventStreamOptions } from "./event_stream.ts";
import { openEventStream } from "./_event_stream.ts";
import type { PaginateOptions } from "./paginate.ts";
import { paginate } from "./_paginate.ts";
import type { ServerSentEvent } from "./sse.ts";
import {
  type CacheLoadControl,
  type NetworkRequest,
  type NetworkRequestInit,
  type RedirectPolicy,
  requestChoices,
} from "./request.ts";
import { checkChoice, checkInteger, checkTimer } from "./_validation.ts";
import {
  abortReplyFor,
  cancelReply,
  failReply,
  NetworkReply,
  type Operation,
  replyMonitor,
  replySignal,
  startReply,
} from "./reply.ts";
import type { LayerPosition, NetworkAccessManagerOptions } from "./manager_options.ts";
import { warmConnection } from "./manager/_connect.ts";
import { customOperation, prepareRequest } from "./manager/_send.ts";

export type { LayerPosition, NetworkAccessManagerOptions };

const MIB = 1024 * 1024;

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
 * import { NetworkAccessManager, NetworkError } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager({ transferTimeout: 30_000 });
 * const reply = manager.get("data:text/plain,hello%20world");
 * reply.addEventListener("downloadprogress", (e) => console.log(e.loaded, e.total));
 * const text = await reply.text();
 * if (reply.error !== NetworkError.NoError) console.error(reply.errorString);
 * else console.log(text); // "hello world"
 * ```
 */
export class NetworkAccessManager extends EventTarget implements AsyncDisposable {
  #redirectPolicy: RedirectPolicy = "no-less-safe";
  #maxRedirects = 50;
  #transferTimeout = 0;
  #timeout = 0;
  #maxConnectionsPerHost = 6;
  #readBufferSize = 0;
  #decompressionGuard = 10 * MIB;
  #maxBodySize = 0;
  #transport: Handler;
  #cache: NetworkCache | null = null;
  #cacheLoadControl: CacheLoadControl = "prefer-network";
  #cookieJar: CookieJar | null;
  #hstsStore: HstsStore | null = null;
  #proxy: NetworkProxy | undefined;
  #proxyFactory: ProxyFactory | undefined;
  #caCerts: string[] = [];
  #clientCertificate: ClientCertificate | undefined;
  #clientCertificates = new Map<string, ClientCertificate>();
  #networkAccessible: NetworkAccessibility = "accessible";
  #reportedAccessible: NetworkAccessibility | undefined;
  #requestPermissions = false;
  #permissions: _PermissionGate | null = null;
  #authenticator: Authenticator | undefined;
  #redirectVerifier: RedirectVerifier | undefined;
  readonly #credentials = new CredentialCache();
  #retry: RetryOptions | number | boolean = false;
  readonly #clock: Clock;
  readonly #pool = new _ProxyClientPool();
  readonly #requestLayers: Layer[] = [];
  readonly #networkLayers: Layer[] = [];
  #pipeline: Handler | undefined;
  /** Which of the cache, the cookie jar and the HSTS store were on when the pipeline was built. */
  #features = 0;
  readonly #queue: HostQueue;
  /** The proxy environment as last read, and the permission epoch it was read under. */
  #proxyEnv:
    | { epoch: number; vars: Record<string, string | undefined>; hasProxy: boolean }
    | undefined;
  readonly #http2 = new _Http2Origins((key) => this.#queue.wake(key));
  readonly #running = new Set<NetworkReply>();
  /** Work that outlives its reply (background revalidations), aborted and awaited by close(). */
  readonly #background = new Set<Promise<void>>();
  readonly #closeSignal = new AbortController();
  #closed = false;
  /** Whether a `finished` listener was ever added: no event object is made otherwise. */
  #finishedListened = false;
  #closing: Promise<void> | undefined;
  #what = "Cannot create manager";

  /**
   * Creates a manager.
   *
   * @param options Settings; each is also a writable property.
   * @throws {TypeError} When an option has the wrong type or is not one of its choices (the
   * message names it).
   * @throws {RangeError} When a numeric option is out of range.
   */
  constructor(options: NetworkAccessManagerOptions = {}) {
    super();
    if (options === null || typeof options !== "object") {
      throw new TypeError(`Cannot create manager: 'options' must be an object, got ${options}`);
    }
    if (options.redirectPolicy !== undefined) this.redirectPolicy = options.redirectPolicy;
    if (options.maxRedirects !== undefined) this.maxRedirects = options.maxRedirects;
    if (options.transferTimeout !== undefined) this.transferTimeout = options.transferTimeout;
    if (options.timeout !== undefined) this.timeout = options.timeout;
    if (options.maxConnectionsPerHost !== undefined) {
      this.maxConnectionsPerHost = options.maxConnectionsPerHost;
    }
    if (options.readBufferSize !== undefined) this.readBufferSize = options.readBufferSize;
    if (options.decompressionGuard !== undefined) {
      this.decompressionGuard = options.decompressionGuard;
    }
    if (options.maxBodySize !== undefined) this.maxBodySize = options.maxBodySize;
    if (options.transport !== undefined && typeof options.transport !== "function") {
      throw new TypeError(
        `Cannot create manager: 'transport' must be a function, got ${typeof options.transport}`,
      );
    }
    this.#transport = options.transport ?? transport;
    this.#cookieJar = null;
    this.cookieJar = options.cookieJar === undefined
      ? new MemoryCookieJar({ clock: () => this.#clock() })
      : options.cookieJar;
    if (options.cache !== undefined) this.cache = options.cache;
    if (options.cacheLoadControl !== undefined) this.cacheLoadControl = options.cacheLoadControl;
    if (options.hstsStore !== undefined) this.hstsStore = options.hstsStore;
    if (options.proxy !== undefined) this.proxy = options.proxy;
    if (options.proxyFactory !== undefined) this.proxyFactory = options.proxyFactory;
    if (options.caCerts !== undefined) {
      if (!Array.isArray(options.caCerts) || options.caCerts.some((c) => typeof c !== "string")) {
        throw new TypeError(`Cannot create manager: 'caCerts' must be an array of PEM strings`);
      }
      this.#caCerts = [...options.caCerts];
    }
    if (options.clientCertificate !== undefined) {
      this.#clientCertificate = checkClientCertificate(
        this.#what,
        "clientCertificate",
        options.clientCertificate,
      );
    }
    if (options.clientCertificates !== undefined) {
      this.#clientCertificates = checkClientCertificates(this.#what, options.clientCertificates);
    }
    this.#clock = checkClock("Cannot create manager", options.clock);
    if (options.authenticator !== undefined) this.authenticator = options.authenticator;
    if (options.redirectVerifier !== undefined) this.redirectVerifier = options.redirectVerifier;
    if (options.retry !== undefined) this.retry = options.retry;
    for (const layer of options.layers ?? []) this.use(layer);
    if (this.#transport === transport) {
      this.#permissions = new _PermissionGate(() => this.#accessibilityChanged());
    }
    if (options.networkAccessible !== undefined) {
      this.networkAccessible = options.networkAccessible;
    }
    if (options.requestPermissions !== undefined) {
      this.requestPermissions = options.requestPermissions;
    }
    this.#reportedAccessible = this.networkAccessible;
    this.#queue = new HostQueue((key) =>
      this.#http2.speaks(key)
        ? Math.max(_HTTP2_STREAMS, this.#maxConnectionsPerHost)
        : this.#maxConnectionsPerHost
    );
    this.#what = "Cannot set manager option";
  }

  /**
   * Adds an event listener, typed for the events of {@linkcode NetworkAccessManagerEventMap}.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options Listener options.
   */
  override addEventListener<K extends keyof NetworkAccessManagerEventMap>(
    type: K,
    listener: (this: NetworkAccessManager, event: NetworkAccessManagerEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /**
   * Adds an event listener.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options Listener options.
   */
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    if (listener !== null && type === "finished") this.#finishedListened = true;
    super.addEventListener(type, listener, options);
  }

  /**
   * Removes an event listener, typed for the events of {@linkcode NetworkAccessManagerEventMap}.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options Listener options.
   */
  override removeEventListener<K extends keyof NetworkAccessManagerEventMap>(
    type: K,
    listener: (this: NetworkAccessManager, event: NetworkAccessManagerEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  /**
   * Removes an event listener.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options Listener options.
   */
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener, options);
  }

  /** The redirect policy of requests that set none. */
  get redirectPolicy(): RedirectPolicy {
    return this.#redirectPolicy;
  }
  set redirectPolicy(value: RedirectPolicy) {
    checkChoice(this.#what, "redirectPolicy", value, requestChoices.redirectPolicy);
    this.#redirectPolicy = value;
  }

  /** The most redirects a request follows. */
  get maxRedirects(): number {
    return this.#maxRedirects;
  }
  set maxRedirects(value: number) {
    checkInteger(this.#what, "maxRedirects", value, 0);
    this.#maxRedirects = value;
  }

  /** The inactivity timeout in milliseconds (0 = off). */
  get transferTimeout(): number {
    return this.#transferTimeout;
  }
  set transferTimeout(value: number) {
    checkTimer(this.#what, "transferTimeout", value);
    this.#transferTimeout = value;
  }

  /** The total timeout of a reply in milliseconds (0 = off). */
  get timeout(): number {
    return this.#timeout;
  }
  set timeout(value: number) {
    checkTimer(this.#what, "timeout", value);
    this.#timeout = value;
  }

  /** Requests in flight at once per scheme, host and port. */
  get maxConnectionsPerHost(): number {
    return this.#maxConnectionsPerHost;
  }
  set maxConnectionsPerHost(value: number) {
    checkInteger(this.#what, "maxConnectionsPerHost", value, 1);
    this.#maxConnectionsPerHost = value;
  }

  /** Bytes a reply buffers while nobody reads it (0 = unlimited). */
  get readBufferSize(): number {
    return this.#readBufferSize;
  }
  set readBufferSize(value: number) {
    checkInteger(this.#what, "readBufferSize", value, 0);
    this.#readBufferSize = value;
  }

  /** The decompression guard threshold in bytes (-1 = off). */
  get decompressionGuard(): number {
    return this.#decompressionGuard;
  }
  set decompressionGuard(value: number) {
    checkInteger(this.#what, "decompressionGuard", value, -1);
    this.#decompressionGuard = value;
  }

  /** The most body bytes a reply accepts, after decompression (0 = no limit). */
  get maxBodySize(): number {
    return this.#maxBodySize;
  }
  set maxBodySize(value: number) {
    checkInteger(this.#what, "maxBodySize", value, 0);
    this.#maxBodySize = value;
  }

  /** The HTTP cache, or `null` for none. */
  get cache(): NetworkCache | null {
    return this.#cache;
  }
  set cache(value: NetworkCache | null) {
    if (value !== null && (typeof value !== "object" || typeof value.variants !== "function")) {
      throw new TypeError(`${this.#what}: 'cache' must be a NetworkCache or null`);
    }
    this.#cache = value;
  }

  /** Where replies come from for requests that set no `cacheLoadControl`. */
  get cacheLoadControl(): CacheLoadControl {
    return this.#cacheLoadControl;
  }
  set cacheLoadControl(value: CacheLoadControl) {
    checkChoice(this.#what, "cacheLoadControl", value, requestChoices.cacheLoadControl);
    this.#cacheLoadControl = value;
  }

  /** The cookie jar, or `null` when cookies are not handled. */
  get cookieJar(): CookieJar | null {
    return this.#cookieJar;
  }
  set cookieJar(value: CookieJar | null) {
    if (
      value !== null && (typeof value !== "object" || typeof value.cookiesForUrl !== "function")
    ) {
      throw new TypeError(`${this.#what}: 'cookieJar' must be a CookieJar or null`);
    }
    this.#cookieJar = value;
  }

  /** The HSTS store, or `null` when HSTS is off. */
  get hstsStore(): HstsStore | null {
    return this.#hstsStore;
  }
  set hstsStore(value: HstsStore | null) {
    if (value !== null && (typeof value !== "object" || typeof value.learn !== "function")) {
      throw new TypeError(`${this.#what}: 'hstsStore' must be an HstsStore or null`);
    }
    this.#hstsStore = value;
  }

  /** The proxy of every request, or `undefined` to use `proxyFactory` or the system's. */
  get proxy(): NetworkProxy | undefined {
    return this.#proxy;
  }
  set proxy(value: NetworkProxy | undefined) {
    this.#proxy = value === undefined ? undefined : validateProxy(value, this.#what);
  }

  /** Chooses the proxies of each request when no `proxy` is set. */
  get proxyFactory(): ProxyFactory | undefined {
    return this.#proxyFactory;
  }
  set proxyFactory(value: ProxyFactory | undefined) {
    if (value !== undefined && typeof value !== "function") {
      throw new TypeError(`${this.#what}: 'proxyFactory' must be a function, got ${typeof value}`);
    }
    this.#proxyFactory = value;
  }

  /** Extra CA certificates (PEM) trusted for https. */
  get caCerts(): readonly string[] {
    return this.#caCerts;
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
    let origin: URL;
    try {
      origin = new URL(url);
    } catch {
      return undefined;
    }
    if (origin.protocol !== "https:") return undefined;
    return this.#clientCertificates.get(origin.origin) ?? this.#clientCertificate;
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
    const permissions = this.#permissions;
    return effectiveAccessibility(
      this.#networkAccessible,
      permissions?.netState(),
      permissions?.someNetGranted(),
    );
  }
  set networkAccessible(value: NetworkAccessibility | boolean) {
    const choice = value === true ? "accessible" : value === false ? "not-accessible" : value;
    checkChoice(this.#what, "networkAccessible", choice ?? null, ACCESSIBILITIES);
    this.#networkAccessible = choice;
    this.#accessibilityChanged();
  }

  /** Whether a missing permission is asked for with `Deno.permissions.request`. */
  get requestPermissions(): boolean {
    return this.#requestPermissions;
  }
  set requestPermissions(value: boolean) {
    if (typeof value !== "boolean") {
      throw new TypeError(
        `${this.#what}: 'requestPermissions' must be a boolean, got ${typeof value}`,
      );
    }
    this.#requestPermissions = value;
  }

  #accessibilityChanged(): void {
    if (this.#reportedAccessible === undefined) return;
    const now = this.networkAccessible;
    if (now === this.#reportedAccessible) return;
    this.#reportedAccessible = now;
    this.dispatchEvent(new NetworkAccessibleChangedEvent(now));
  }

  /** Supplies credentials for 401 and 407 challenges, or `undefined` for none. */
  get authenticator(): Authenticator | undefined {
    return this.#authenticator;
  }
  set authenticator(value: Authenticator | undefined) {
    if (value !== undefined && typeof value !== "function") {
      throw new TypeError(`${this.#what}: 'authenticator' must be a function, got ${typeof value}`);
    }
    this.#authenticator = value;
  }

  /** Decides redirects under the `"user-verified"` policy, or `undefined` for none. */
  get redirectVerifier(): RedirectVerifier | undefined {
    return this.#redirectVerifier;
  }
  set redirectVerifier(value: RedirectVerifier | undefined) {
    if (value !== undefined && typeof value !== "function") {
      throw new TypeError(
        `${this.#what}: 'redirectVerifier' must be a function, got ${typeof value}`,
      );
    }
    this.#redirectVerifier = value;
  }

  /**
   * Forgets every credential the manager cached (per protection space: origin and realm, of
   * servers and proxies), so the next request to a protected resource is challenged again.
   * Qt's `clearAccessCache()`.
   *
   * @example Logging out
   * ```ts
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * await using manager = new NetworkAccessManager();
   * manager.clearAccessCache();
   * ```
   */
  clearAccessCache(): void {
    this.#credentials.clear();
  }

  /** Retrying of failed requests: `false` (off), `true`, a limit, or {@linkcode RetryOptions}. */
  get retry(): RetryOptions | number | boolean {
    return this.#retry;
  }
  set retry(value: RetryOptions | number | boolean) {
    checkRetry(this.#what, value);
    this.#retry = value ?? false;
  }

  /** The clock of cache freshness, cookie expiry and HSTS lifetimes. */
  get clock(): Clock {
    return this.#clock;
  }

  /**
   * Closes the pooled HTTP clients (one per proxy configuration); the next requests open new
   * connections. Qt's `clearConnectionCache()`.
   *
   * @example
   * ```ts
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * await using manager = new NetworkAccessManager();
   * manager.clearConnectionCache();
   * ```
   */
  clearConnectionCache(): void {
    this.#pool.clear();
    this.#proxyEnv = undefined;
    this.#http2.clear();
  }

  /**
   * Warms a connection to the origin of `url` (Qt's `connectToHost` and
   * `connectToHostEncrypted`) by sending it a `HEAD /` through the pipeline, so the next
   * request finds the connection (and its TLS session) open in the pool. A hint only: the
   * request skips the cache and cookies, follows no redirect and is not retried; whatever
   * happens, the promise resolves, at the latest after `timeout` ms (the warm-up request is
   * then aborted).
   *
   * @param url Any URL of the origin (`http:` or `https:`); others are ignored.
   * @param options `timeout`: how long to wait at most, in ms (default 30 000).
   * @returns Resolves when the warm-up request has finished or timed out; rejects only for an
   * invalid `timeout`.
   * @throws {RangeError} When `timeout` is not a positive number.
   *
   * @example Warm the connection while preparing the first request
   * ```ts
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * await using manager = new NetworkAccessManager();
   * const warming = manager.connectToHost("http://127.0.0.1:9/", { timeout: 5_000 });
   * // ... build the request ...
   * await warming;
   * ```
   */
  connectToHost(url: string | URL, options: { timeout?: number } = {}): Promise<void> {
    return warmConnection((origin, init) => this.head(origin, init), url, options);
  }

  /** The per-origin request queue (read-only view for monitoring). */
  get queue(): HostQueue {
    return this.#queue;
  }

  /** The replies under way. */
  get runningReplies(): readonly NetworkReply[] {
    return [...this.#running];
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
    if (typeof layer !== "function") {
      throw new TypeError(`Cannot add layer: 'layer' must be a function, got ${typeof layer}`);
    }
    checkChoice("Cannot add layer", "position", position, ["request", "network"]);
    (position === "request" ? this.#requestLayers : this.#networkLayers).push(layer);
    this.#pipeline = undefined;
    return this;
  }

  /**
   * Sends a GET request.
   *
   * @param request A URL or a {@linkcode NetworkRequest}.
   * @param init Request options when `request` is a URL.
   * @returns The reply, at once; errors are reported on it.
   *
   * @example
   * ```ts
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * await using manager = new NetworkAccessManager();
   * console.log(await manager.get("data:,hi").text());
   * ```
   */
  get(request: string | URL | NetworkRequest, init?: NetworkRequestInit): NetworkReply {
    return this.#send(request, init, "get", "GET");
  }

  /**
   * Sends a HEAD request.
   *
   * @param request A URL or a {@linkcode NetworkRequest}.
   * @param init Request options when `request` is a URL.
   * @returns The reply, at once; its body is empty.
   *
   * @example
   * ```ts
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * await using manager = new NetworkAccessManager();
   * const reply = manager.head("data:,hi");
   * await reply.finished;
   * console.log(reply.headers.get("content-type"));
   * ```
   */
  head(request: string | URL | NetworkRequest, init?: NetworkRequestInit): NetworkReply {
    return this.#send(request, init, "head", "HEAD");
  }

  /**
   * Sends a POST request.
   *
   * @param request A URL or a {@linkcode NetworkRequest}.
   * @param body The body: string, bytes, Blob, FormData, URLSearchParams, a stream, an async
   * iterable of bytes (streamed), or a plain object or array (JSON).
   * @param init Request options when `request` is a URL.
   * @returns The reply, at once.
   *
   * @example
   * ```ts
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * await using manager = new NetworkAccessManager();
   * const reply = manager.post("http://127.0.0.1:9/items", { name: "a" });
   * await reply.finished;
   * console.log(reply.error, reply.errorString);
   * ```
   */
  post(
    request: string | URL | NetworkRequest,
    body?: NetworkBody,
    init?: NetworkRequestInit,
  ): NetworkReply {
    return this.#send(request, init, "post", "POST", body);
  }

  /**
   * Sends a PUT request.
   *
   * @param request A URL or a {@linkcode NetworkRequest}.
   * @param body The body, as for {@linkcode NetworkAccessManager.post}.
   * @param init Request options when `request` is a URL.
   * @returns The reply, at once.
   *
   * @example
   * ```ts
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * await using manager = new NetworkAccessManager();
   * await manager.put("http://127.0.0.1:9/items/1", "new content").finished;
   * ```
   */
  put(
    request: string | URL | NetworkRequest,
    body?: NetworkBody,
    init?: NetworkRequestInit,
  ): NetworkReply {
    return this.#send(request, init, "put", "PUT", body);
  }

  /**
   * Sends a DELETE request.
   *
   * @param request A URL or a {@linkcode NetworkRequest}.
   * @param init Request options when `request` is a URL.
   * @returns The reply, at once.
   *
   * @example
   * ```ts
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * await using manager = new NetworkAccessManager();
   * await manager.deleteResource("http://127.0.0.1:9/items/1").finished;
   * ```
   */
  deleteResource(request: string | URL | NetworkRequest, init?: NetworkRequestInit): NetworkReply {
    return this.#send(request, init, "delete", "DELETE");
  }

  /**
   * Sends a request with any method.
   *
   * @param request A URL or a {@linkcode NetworkRequest}.
   * @param verb The method, an HTTP token such as `"PATCH"` or `"PROPFIND"`.
   * @param body The body, as for {@linkcode NetworkAccessManager.post}.
   * @param init Request options when `request` is a URL.
   * @returns The reply, at once; an invalid verb fails it with `ProtocolInvalidOperationError`.
   *
   * @example
   * ```ts
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * await using manager = new NetworkAccessManager();
   * await manager.sendCustomRequest("http://127.0.0.1:9/items/1", "PATCH", { done: true }).finished;
   * ```
   */
  sendCustomRequest(
    request: string | URL | NetworkRequest,
    verb: string,
    body?: NetworkBody,
    init?: NetworkRequestInit,
  ): NetworkReply {
    const { method, operation } = customOperation(verb);
    return this.#send(request, init, operation, method, body);
  }

  /**
   * Iterates the items of a paginated API across its pages. Each page is a GET through the
   * whole pipeline (cache, cookies, authentication, retry, queue). By default a page's items
   * are its body parsed as a JSON array, and the next page is the target of its `Link`
   * header's `rel="next"` (RFC 8288), resolved against the page's URL and sent with the
   * headers and attributes of the first request. A page that fails ends the iteration with
   * its reply's error (a {@linkcode NetworkReplyError} with the reply's code and message);
   * its items are not yielded. Breaking out of the loop aborts the page in flight, and no
   * further page is requested.
   *
   * @typeParam Item The type of the items.
   * @param request The first page: a URL or a {@linkcode NetworkRequest}.
   * @param options `items`, `next`, `limit` and `maxPages`.
   * @returns An async iterator of the items.
   * @throws {TypeError} At once, when an option has the wrong type.
   * @throws {RangeError} At once, when `limit` or `maxPages` is not a non-negative integer
   * or `Infinity`.
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
   * is a GET through the pipeline with `Accept: text/event-stream`, past the cache; its body
   * is parsed as {@linkcode NetworkReply.events} does. After a network error or the end of the
   * body, the stream waits the reconnection time (the server's `retry` field, or
   * `reconnectionTime`) and connects again with `Last-Event-ID` set to the last event ID. It
   * ends without reconnecting after a 204 (quietly), another status than 200 or a response
   * that is not `text/event-stream` (throwing a {@linkcode NetworkReplyError}), and stops on
   * `break` or when `signal` (or the request's signal) aborts.
   *
   * @typeParam Type The event types the stream sends, for typing `event.type`.
   * @param request The stream's URL or a {@linkcode NetworkRequest}.
   * @param options `signal`, `lastEventId`, `reconnectionTime`, `maxReconnects`.
   * @returns An async iterator of the events of every connection.
   * @throws {TypeError} At once, when an option has the wrong type.
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
    return openEventStream<Type>((target, init) => this.get(target, init), request, options);
  }

  /**
   * Aborts every running reply with `OperationCanceledError` and releases what the manager
   * opened. Safe to call twice; requests made afterwards fail at once.
   *
   * @returns Resolves when every reply has finished.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Closes the manager, as {@linkcode NetworkAccessManager.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(): Promise<void> {
    this.#closed = true;
    const message = "Operation canceled: the manager was closed";
    // One reason for all: closing 100,000 replies makes no 100,000 exceptions.
    const reason = new DOMException(message, "AbortError");
    this.#queue.close(reason);
    const replies = [...this.#running];
    for (const reply of replies) cancelReply(reply, message, reason);
    this.#closeSignal.abort(reason);
    await Promise.all([...replies.map((reply) => reply.finished), ...this.#background]);
    await this.#http2.settled();
    this.#pool.clear();
    this.#permissions?.close();
  }

  /**
   * A request to `key` waits for a slot: when the origin is https and reached directly, find
   * out whether it speaks HTTP/2, whose requests share one connection and need not wait.
   */
  #waiting(key: string, url: URL): void {
    if (url.protocol !== "https:" || this.#transport !== transport || this.#proxyFactory) return;
    try {
      const proxy = resolveProxy(proxyQuery(url), {
        proxy: this.#proxy,
        env: this.#systemProxyEnv().vars,
      });
      if (proxy.type !== "none") return;
    } catch {
      return;
    }
    this.#http2.learn(key, url, this.#caCerts, this.clientCertificateFor(url));
  }

  /**
   * The proxy variables of the environment, read once and again when the `env` permission
   * changes or `clearConnectionCache()` is called.
   */
  #systemProxyEnv(): { vars: Record<string, string | undefined>; hasProxy: boolean } {
    const epoch = envEpoch();
    if (this.#proxyEnv?.epoch !== epoch) {
      const vars = processProxyEnv();
      this.#proxyEnv = { epoch, vars, hasProxy: _envHasProxy(vars) };
    }
    return this.#proxyEnv;
  }

  #buildPipeline(): Handler {
    return buildPipeline(this, {
      requestLayers: this.#requestLayers,
      networkLayers: this.#networkLayers,
      transport: this.#transport,
      access: {
        accessible: () => this.#networkAccessible,
        permissions: () => this.#permissions,
        requestPermissions: () => this.#requestPermissions,
      },
      proxy: {
        proxy: () => this.#proxy,
        proxyFactory: () => this.#proxyFactory,
        caCerts: () => this.#caCerts,
        clientCertificate: (url) => this.clientCertificateFor(url),
        transferTimeout: () => this.#transferTimeout,
        env: () => this.#systemProxyEnv(),
      },
      queue: this.#queue,
      onQueueWait: (key, exchange) => this.#waiting(key, exchange.url),
      pool: this.#pool,
      credentials: this.#credentials,
      background: (task) => {
        if (this.#closed) return;
        const running: Promise<void> = task(this.#closeSignal.signal).catch(() => {}).finally(() =>
          this.#background.delete(running)
        );
        this.#background.add(running);
      },
    });
  }

  #send(
    input: string | URL | NetworkRequest,
    init: NetworkRequestInit | undefined,
    operation: Operation,
    method: string,
    body?: NetworkBody,
  ): NetworkReply {
    const { request, body: requestBody, problem, code } = prepareRequest(
      input,
      init,
      method,
      body,
      this.#closed,
    );
    const signal = request.signal;
    const onAbort = () => abortReplyFor(reply, signal!.reason);
    const reply: NetworkReply = new NetworkReply(request, operation, method, {
      transferTimeout: request.transferTimeout ?? this.#transferTimeout,
      timeout: request.timeout ?? this.#timeout,
      readBufferSize: request.readBufferSize ?? this.#readBufferSize,
      decompressionGuard: request.decompressionGuard ?? this.#decompressionGuard,
      maxBodySize: request.maxBodySize ?? this.#maxBodySize,
      onFinished: (finished) => {
        signal?.removeEventListener("abort", onAbort);
        this.#running.delete(finished);
        if (this.#finishedListened) this.dispatchEvent(new NetworkReplyEvent("finished", finished));
      },
    });
    if (problem !== null) {
      const message = problem;
      const failure = code;
      requestBody?.discard();
      queueMicrotask(() => failReply(reply, failure, message));
      return reply;
    }
    this.#running.add(reply);
    const exchange = new Exchange({
      url: new URL(request.url.href),
      method,
      headers: new Headers(request.headers),
      body: requestBody,
      request,
      reply,
      signal: replySignal(reply),
      monitor: replyMonitor(reply),
    });
    // The pipeline holds the layers of the features that are on: rebuilt when one turns on or off.
    const features = (this.#cache === null ? 0 : 1) | (this.#cookieJar === null ? 0 : 2) |
      (this.#hstsStore === null ? 0 : 4);
    if (this.#pipeline === undefined || features !== this.#features) {
      this.#pipeline = this.#buildPipeline();
      this.#features = features;
    }
    startReply(reply, this.#pipeline, exchange);
    if (signal) {
      if (signal.aborted) queueMicrotask(onAbort);
      else signal.addEventListener("abort", onAbort, { once: true });
    }
    return reply;
  }
}
