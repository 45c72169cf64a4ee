/**
 * The state behind a manager: its settings, checked as they are set, and the machinery that
 * sends requests (the pipeline, the per-origin queue, the HTTP clients, the running replies)
 * and closes it all. The public class in `manager.ts` documents the settings and forwards to
 * this one.
 *
 * @module
 */

import { listenedTypes, type TypedEventTarget } from "../_typed_event_target.ts";
import type { NetworkBody } from "../body.ts";
import type { PipelineSettings } from "../pipeline.ts";
import { NetworkReplyEvent } from "../events.ts";
import { type Exchange, type Handler, type Layer, setHeldSlot } from "../exchange.ts";
import { HostQueue, parkInQueue } from "../host_queue.ts";
import { effectiveAccessibility, knownGranted } from "../layers/access.ts";
import { lastQueueKey } from "../layers/queue.ts";
import type { Authenticator } from "../layers/auth.ts";
import type { RedirectVerifier } from "../layers/redirect.ts";
import { buildPipeline } from "../pipeline.ts";
import type { RetryOptions } from "../retry_options.ts";
import { transport } from "../layers/transport.ts";
import { _CLIENT_KEEPER, type _ClientKeeper, _ProxyClientPool } from "../_proxy_client.ts";
import { _PermissionGate } from "../_permission_gate.ts";
import {
  type NetworkAccessibility,
  NetworkAccessibleChangedEvent,
} from "../network_accessibility.ts";
import { type NetworkProxy, type ProxyFactory, sameProxy } from "../proxy/network_proxy.ts";
import { forgetProxyEnv, type ProxyEnvSnapshot, proxyEnvSnapshot } from "../proxy/system_proxy.ts";
import type { ClientCertificate } from "../tls.ts";
import { Http2Routes } from "./_http2_routes.ts";
import type { NetworkCache } from "../cache/network_cache.ts";
import type { CookieJar } from "../cookies/cookie_jar.ts";
import { MemoryCookieJar } from "../cookies/memory_cookie_jar.ts";
import type { HstsStore } from "../hsts/hsts_store.ts";
import { CredentialCache } from "../auth/credential_cache.ts";
import type { Clock } from "../clock.ts";
import { systemClock } from "../_clock.ts";
import {
  type CacheLoadControl,
  NetworkRequest,
  type NetworkRequestInit,
  type RedirectPolicy,
  takeUrl,
} from "../request.ts";
import { checkChoice, checkObject, describe } from "../_validation.ts";
import {
  abortReplyFor,
  cancelReply,
  failReply,
  holdSlot,
  keepCallersUrl,
  NetworkReply,
  replyAborted,
  replyAbortSource,
  type ReplySettings,
  sendParked,
  startReply,
} from "../reply.ts";
import { RunningReplies } from "../reply/_running.ts";
import type { Operation } from "../reply/operation.ts";
import type { LayerPosition, NetworkAccessManagerOptions } from "../manager_options.ts";
import { CLOSED_MESSAGE, firstExchange, type FirstHeaders, prepareRequest } from "./_send.ts";
import { parkWithoutExchange, WaitingGrants } from "./_waiting.ts";
import { checkManagerOptions, OPTION_CHECKS } from "./_options.ts";

const MIB = 1024 * 1024;

/**
 * The reason every reply and queued request a closed manager cancels is given: one for every
 * reply and manager, as making a `DOMException` (its stack captured) costs more than closing an
 * idle manager.
 */
const CLOSED = new DOMException(CLOSED_MESSAGE, "AbortError");

/**
 * The settings and request machinery of one manager. The layers read the settings from here
 * (it is their {@linkcode PipelineSettings}); events go to the manager.
 */
export class ManagerCore implements PipelineSettings {
  /** The manager, where `finished` and `networkaccessiblechanged` are dispatched. */
  readonly #owner: EventTarget;
  #redirectPolicy: RedirectPolicy = "no-less-safe";
  #maxRedirects = 50;
  #transferTimeout = 0;
  #timeout = 0;
  #maxConnectionsPerHost = 6;
  #readBufferSize = 0;
  #decompressionGuard = 10 * MIB;
  #maxBodySize = 0;
  /** The settings of replies whose requests set none of their own; made again on a change. */
  #replySettings: ReplySettings | undefined;
  #transport: Handler;
  #cache: NetworkCache | null = null;
  #cacheLoadControl: CacheLoadControl = "prefer-network";
  #cookieJar: CookieJar | null;
  #hstsStore: HstsStore | null = null;
  #proxy: NetworkProxy | undefined;
  #proxyFactory: ProxyFactory | undefined;
  /** The proxy variables as this manager read them (at its first request that needed them). */
  #proxyEnv: ProxyEnvSnapshot | undefined;
  #caCerts: readonly string[] = [];
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
  readonly #pool: _ProxyClientPool;
  readonly #requestLayers: Layer[] = [];
  readonly #networkLayers: Layer[] = [];
  #pipeline: Handler | undefined;
  /** Which of the cache, the cookie jar and the HSTS store were on when the pipeline was built. */
  #features = 0;
  /** The queue's key of an origin (the last origin's again while it is the same). */
  readonly #keyOf = lastQueueKey();
  readonly #queue: HostQueue;
  readonly #http2 = new Http2Routes({
    asks: () => this.#transport === transport,
    proxy: () => this.#proxy,
    proxyFactory: () => this.#proxyFactory,
    env: () => this.#envSnapshot(),
    caCerts: () => this.#caCerts,
    clientCertificate: (url) => this.clientCertificateFor(url),
    permissions: () => this.#permissions,
    closed: () => this.#closed,
    wake: (key) => this.#queue.wake(key),
  });
  readonly #running = new RunningReplies();
  /** Work that outlives its reply (background revalidations), aborted and awaited by close(). */
  readonly #background = new Set<Promise<void>>();
  /** Aborts the background work when the manager closes: made for the first such work. */
  #closeController: AbortController | undefined;
  #closed = false;
  /** The event types the owner has listeners for: no `finished` event is made otherwise. */
  readonly #listened: ReadonlySet<string>;
  #closing: Promise<void> | undefined;
  #what = "Cannot create manager";

  constructor(owner: TypedEventTarget<object, unknown>, options: NetworkAccessManagerOptions) {
    this.#owner = owner;
    this.#listened = listenedTypes(owner);
    checkObject(this.#what, "options", options);
    // A factory's managers: the factory holds their clients until it closes.
    const keeper = (options as { [_CLIENT_KEEPER]?: _ClientKeeper })[_CLIENT_KEEPER];
    this.#pool = new _ProxyClientPool(undefined, keeper);
    const checked = checkManagerOptions(this.#what, options);
    this.#redirectPolicy = checked.redirectPolicy ?? this.#redirectPolicy;
    this.#maxRedirects = checked.maxRedirects ?? this.#maxRedirects;
    this.#transferTimeout = checked.transferTimeout ?? this.#transferTimeout;
    this.#timeout = checked.timeout ?? this.#timeout;
    this.#maxConnectionsPerHost = checked.maxConnectionsPerHost ?? this.#maxConnectionsPerHost;
    this.#readBufferSize = checked.readBufferSize ?? this.#readBufferSize;
    this.#decompressionGuard = checked.decompressionGuard ?? this.#decompressionGuard;
    this.#maxBodySize = checked.maxBodySize ?? this.#maxBodySize;
    this.#transport = checked.transport ?? transport;
    this.#cookieJar = checked.cookieJar === undefined
      ? new MemoryCookieJar({ clock: () => this.#clock() })
      : checked.cookieJar;
    this.#cache = checked.cache ?? null;
    this.#cacheLoadControl = checked.cacheLoadControl ?? this.#cacheLoadControl;
    this.#hstsStore = checked.hstsStore ?? null;
    this.#proxy = checked.proxy;
    this.#proxyFactory = checked.proxyFactory;
    this.#caCerts = checked.caCerts ?? this.#caCerts;
    this.#clientCertificate = checked.clientCertificate;
    this.#clientCertificates = checked.clientCertificates ?? this.#clientCertificates;
    this.#clock = checked.clock ?? systemClock;
    this.#authenticator = checked.authenticator;
    this.#redirectVerifier = checked.redirectVerifier;
    this.#retry = checked.retry ?? this.#retry;
    if (checked.layers !== undefined) this.#requestLayers.push(...checked.layers);
    if (this.#transport === transport) {
      this.#permissions = new _PermissionGate(this.#accessibilityChanged);
    }
    this.#networkAccessible = checked.networkAccessible ?? this.#networkAccessible;
    this.#requestPermissions = checked.requestPermissions ?? this.#requestPermissions;
    this.#reportedAccessible = this.networkAccessible;
    // Past the HTTP/1.1 limit (or the fewest streams an HTTP/2 origin allows) only, an origin's
    // HTTP/2 answer is read, and asked again when old.
    const http2 = this.#http2;
    this.#queue = new HostQueue((key, active) =>
      http2.limit(key, active, this.#maxConnectionsPerHost)
    );
    this.#what = "Cannot set manager option";
  }

  get redirectPolicy(): RedirectPolicy {
    return this.#redirectPolicy;
  }
  set redirectPolicy(value: RedirectPolicy) {
    this.#redirectPolicy = OPTION_CHECKS.redirectPolicy(this.#what, "redirectPolicy", value);
  }

  get maxRedirects(): number {
    return this.#maxRedirects;
  }
  set maxRedirects(value: number) {
    this.#maxRedirects = OPTION_CHECKS.maxRedirects(this.#what, "maxRedirects", value);
  }

  get transferTimeout(): number {
    return this.#transferTimeout;
  }
  set transferTimeout(value: number) {
    this.#transferTimeout = OPTION_CHECKS.transferTimeout(this.#what, "transferTimeout", value);
    this.#replySettings = undefined;
  }

  get timeout(): number {
    return this.#timeout;
  }
  set timeout(value: number) {
    this.#timeout = OPTION_CHECKS.timeout(this.#what, "timeout", value);
    this.#replySettings = undefined;
  }

  get maxConnectionsPerHost(): number {
    return this.#maxConnectionsPerHost;
  }
  set maxConnectionsPerHost(value: number) {
    const checked = OPTION_CHECKS.maxConnectionsPerHost(this.#what, "maxConnectionsPerHost", value);
    const raised = checked > this.#maxConnectionsPerHost;
    this.#maxConnectionsPerHost = checked;
    // The slots gained go to the requests waiting (a lower limit lets those in flight finish).
    if (raised) this.#queue.wake();
  }

  get readBufferSize(): number {
    return this.#readBufferSize;
  }
  set readBufferSize(value: number) {
    this.#readBufferSize = OPTION_CHECKS.readBufferSize(this.#what, "readBufferSize", value);
    this.#replySettings = undefined;
  }

  get decompressionGuard(): number {
    return this.#decompressionGuard;
  }
  set decompressionGuard(value: number) {
    const checked = OPTION_CHECKS.decompressionGuard(this.#what, "decompressionGuard", value);
    this.#decompressionGuard = checked;
    this.#replySettings = undefined;
  }

  get maxBodySize(): number {
    return this.#maxBodySize;
  }
  set maxBodySize(value: number) {
    this.#maxBodySize = OPTION_CHECKS.maxBodySize(this.#what, "maxBodySize", value);
    this.#replySettings = undefined;
  }

  get cache(): NetworkCache | null {
    return this.#cache;
  }
  set cache(value: NetworkCache | null) {
    this.#cache = OPTION_CHECKS.cache(this.#what, "cache", value);
  }

  get cacheLoadControl(): CacheLoadControl {
    return this.#cacheLoadControl;
  }
  set cacheLoadControl(value: CacheLoadControl) {
    this.#cacheLoadControl = OPTION_CHECKS.cacheLoadControl(this.#what, "cacheLoadControl", value);
  }

  get cookieJar(): CookieJar | null {
    return this.#cookieJar;
  }
  set cookieJar(value: CookieJar | null) {
    this.#cookieJar = OPTION_CHECKS.cookieJar(this.#what, "cookieJar", value);
  }

  get hstsStore(): HstsStore | null {
    return this.#hstsStore;
  }
  set hstsStore(value: HstsStore | null) {
    this.#hstsStore = OPTION_CHECKS.hstsStore(this.#what, "hstsStore", value);
  }

  get proxy(): NetworkProxy | undefined {
    return this.#proxy;
  }
  set proxy(value: NetworkProxy | undefined) {
    const old = this.#proxy;
    this.#proxy = OPTION_CHECKS.proxy(this.#what, "proxy", value);
    // Learned on the old route: asked again on the new one.
    this.#http2.clear();
    // The clients of the old route are let go of (closed once no other manager holds them).
    if (!sameProxy(old, this.#proxy)) this.#pool.release();
  }

  get proxyFactory(): ProxyFactory | undefined {
    return this.#proxyFactory;
  }
  set proxyFactory(value: ProxyFactory | undefined) {
    OPTION_CHECKS.proxyFactory(this.#what, "proxyFactory", value);
    if (value !== this.#proxyFactory) this.#pool.release();
    this.#proxyFactory = value;
    this.#http2.clear();
  }

  get caCerts(): readonly string[] {
    return this.#caCerts;
  }
  set caCerts(value: readonly string[]) {
    const old = this.#caCerts;
    this.#caCerts = OPTION_CHECKS.caCerts(this.#what, "caCerts", value);
    this.#http2.clear(); // Learned with the old trust: asked again.
    // Every client was made with the old trust: let go of (closed once no other manager holds it).
    const now = this.#caCerts;
    if (old.length !== now.length || old.some((cert, i) => cert !== now[i])) {
      this.#pool.release();
    }
  }

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

  get networkAccessible(): NetworkAccessibility {
    const permissions = this.#permissions;
    return effectiveAccessibility(
      this.#networkAccessible,
      permissions?.netState(),
      permissions?.someNetGranted(),
    );
  }
  set networkAccessible(value: NetworkAccessibility | boolean) {
    this.#networkAccessible = OPTION_CHECKS.networkAccessible(
      this.#what,
      "networkAccessible",
      value,
    );
    this.#accessibilityChanged();
  }

  get requestPermissions(): boolean {
    return this.#requestPermissions;
  }
  set requestPermissions(value: boolean) {
    this.#requestPermissions = OPTION_CHECKS.requestPermissions(
      this.#what,
      "requestPermissions",
      value,
    );
  }

  readonly #accessibilityChanged = (): void => {
    if (this.#reportedAccessible === undefined) return;
    const now = this.networkAccessible;
    if (now === this.#reportedAccessible) return;
    this.#reportedAccessible = now;
    this.#owner.dispatchEvent(new NetworkAccessibleChangedEvent(now));
  };

  get authenticator(): Authenticator | undefined {
    return this.#authenticator;
  }
  set authenticator(value: Authenticator | undefined) {
    this.#authenticator = OPTION_CHECKS.authenticator(this.#what, "authenticator", value);
  }

  get redirectVerifier(): RedirectVerifier | undefined {
    return this.#redirectVerifier;
  }
  set redirectVerifier(value: RedirectVerifier | undefined) {
    this.#redirectVerifier = OPTION_CHECKS.redirectVerifier(this.#what, "redirectVerifier", value);
  }

  clearAccessCache(): void {
    this.#credentials.clear();
  }

  get retry(): RetryOptions | number | boolean {
    return this.#retry;
  }
  set retry(value: RetryOptions | number | boolean) {
    this.#retry = OPTION_CHECKS.retry(this.#what, "retry", value);
  }

  get clock(): Clock {
    return this.#clock;
  }

  get clientCertificate(): ClientCertificate | undefined {
    return this.#clientCertificate;
  }

  get clientCertificates(): Readonly<Record<string, ClientCertificate>> {
    return Object.freeze(Object.fromEntries(this.#clientCertificates));
  }

  clearConnectionCache(): void {
    this.#pool.clear();
    forgetProxyEnv();
    this.#http2.clear();
  }

  get queue(): HostQueue {
    return this.#queue;
  }

  get runningReplies(): readonly NetworkReply[] {
    return this.#running.toArray();
  }

  use(layer: Layer, position: LayerPosition): void {
    if (typeof layer !== "function") {
      throw new TypeError(`Cannot add layer: 'layer' must be a function, got ${describe(layer)}`);
    }
    checkChoice("Cannot add layer", "position", position, ["request", "network"]);
    (position === "request" ? this.#requestLayers : this.#networkLayers).push(layer);
    this.#pipeline = undefined;
  }

  /**
   * Aborts when the manager closes (aborted already once it has): for waits outside any reply,
   * such as an event stream's before it reconnects. Made when first asked for.
   */
  get closeSignal(): AbortSignal {
    const controller = this.#closeController ??= new AbortController();
    if (this.#closed) controller.abort(CLOSED);
    return controller.signal;
  }

  /** Settles once the background work, that started meanwhile too, is done. Never rejects. */
  async backgroundDone(): Promise<void> {
    while (this.#background.size !== 0) await Promise.all([...this.#background]);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  #close(): Promise<void> {
    this.#closed = true;
    this.#queue.close(CLOSED);
    const replies = this.#running.toArray();
    for (const reply of replies) cancelReply(reply, CLOSED_MESSAGE, CLOSED);
    this.#closeController?.abort(CLOSED);
    this.#http2.origins.close();
    // Nothing to wait for (the manager of one request, closed once it is done): released now.
    if (replies.length !== 0 || this.#background.size !== 0 || !this.#http2.origins.settledNow) {
      return this.#closeLater(replies);
    }
    this.#pool.close();
    this.#permissions?.close();
    return Promise.resolve();
  }

  async #closeLater(replies: NetworkReply[]): Promise<void> {
    await Promise.all([...replies.map((reply) => reply.finished), ...this.#background]);
    await this.#http2.origins.settled();
    this.#pool.close();
    this.#permissions?.close();
  }

  /**
   * Whether the https origin of `url` speaks HTTP/2 on the route a request to it took (asked now
   * if not yet), or `null` where the manager asks none (see {@linkcode Http2Routes.on}).
   */
  http2(url: URL, proxy?: NetworkProxy): Promise<boolean | undefined> | null {
    return this.#http2.on(url, proxy);
  }

  /** The proxy variables: read once per manager, and again once the `env` permission changes. */
  #envSnapshot(): ProxyEnvSnapshot {
    return this.#proxyEnv = proxyEnvSnapshot(this.#proxyEnv);
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
        env: () => this.#envSnapshot(),
      },
      // No proxy set, and no client of the pool's own for any direct connection (the pool's
      // rule, asked with a certificate when any origin has one).
      plainDirect: () =>
        (this.#proxy === undefined
          ? this.#proxyFactory === undefined
          : this.#proxy.type === "none") &&
        this.#pool.takesDefaultClient(
          this.#caCerts.length,
          this.#clientCertificate !== undefined || this.#clientCertificates.size !== 0,
          this.#envSnapshot().hasProxy,
        ),
      queue: this.#queue,
      onQueueWait: (key, exchange) => this.#http2.waiting(key, exchange.url),
      onSendFailed: ({ url }, error) => this.#http2.lost(url, error),
      onResponse: ({ url }) => this.#http2.responded(url),
      pool: this.#pool,
      credentials: this.#credentials,
      background: (task) => {
        if (this.#closed) return;
        const running: Promise<void> = task(
          (this.#closeController ??= new AbortController()).signal,
        ).catch(() => {}).finally(() => this.#background.delete(running));
        this.#background.add(running);
      },
    });
  }

  /** What a reply runs with: the request's own settings, else the manager's. */
  #settingsFor(
    request: NetworkRequest | undefined,
    onFinished: (reply: NetworkReply) => void,
  ): ReplySettings {
    return {
      transferTimeout: request?.transferTimeout ?? this.#transferTimeout,
      timeout: request?.timeout ?? this.#timeout,
      readBufferSize: request?.readBufferSize ?? this.#readBufferSize,
      decompressionGuard: request?.decompressionGuard ?? this.#decompressionGuard,
      maxBodySize: request?.maxBodySize ?? this.#maxBodySize,
      onFinished,
    };
  }

  readonly #replyFinished = (reply: NetworkReply): void => {
    this.#running.delete(reply);
    if (this.#listened.has("finished")) {
      this.#owner.dispatchEvent(new NetworkReplyEvent("finished", reply));
    }
  };

  /** The pipeline of the features that are on: built again when one turned on or off. */
  #currentPipeline(): Handler {
    const features = (this.#cache === null ? 0 : 1) | (this.#cookieJar === null ? 0 : 2) |
      (this.#hstsStore === null ? 0 : 4);
    if (this.#pipeline === undefined || features !== this.#features) {
      this.#pipeline = this.#buildPipeline();
      this.#features = features;
    }
    return this.#pipeline;
  }

  /**
   * Takes the queue slot of a request's origin when it is made, before the request enters the
   * pipeline, when nothing above the queue could answer it or send it to another origin (no
   * layer at the "request" position, no cache, no HSTS store) and the network may be used for
   * it (the switch is on, and the `net` permission is granted for every host or known to be
   * granted for this one). A free slot is taken at once and the request starts; without one the
   * request waits in the queue as it is: its reply and a place in line, and nothing of the
   * pipeline, whose layers run once it has its slot (cookies are read and credentials chosen
   * when it is sent). A request without a body (`exchange` undefined) waits without its
   * exchange, made when it has its slot with the URL and `headers` of the call: one made here
   * keeps its own headers meanwhile (`reply.request.headers`, read then, is a copy), a caller's
   * waits with the copies made at the call. The queue layer (or the direct lane) sends it in
   * that slot; the reply releases the slot when it finishes, if nothing took it.
   *
   * @returns Whether the request took a slot or waits for one; if not, it is to be started.
   */
  #enqueue(
    reply: NetworkReply,
    url: URL,
    exchange: Exchange | undefined,
    headers: FirstHeaders,
  ): boolean {
    if (this.#requestLayers.length !== 0 || this.#cache !== null || this.#hstsStore !== null) {
      return false;
    }
    const protocol = url.protocol;
    if (protocol !== "http:" && protocol !== "https:") return false;
    if (this.#networkAccessible === "not-accessible") return false;
    const permissions = this.#permissions;
    if (
      permissions !== null && !permissions.netGrantedForAll() && !knownGranted(permissions, url)
    ) return false;
    const key = this.#keyOf(protocol, url.host);
    const release = this.#queue.tryAcquire(key);
    if (release !== undefined) {
      const first = exchange ?? firstExchange(reply, url, headers);
      setHeldSlot(first, key, release);
      holdSlot(reply, release);
      startReply(reply, this.#currentPipeline(), first);
      return true;
    }
    const waits = exchange === undefined
      ? parkWithoutExchange(
        this.#queue,
        key,
        reply,
        url,
        headers,
        this.#grants ??= new WaitingGrants(this.#granted),
        this.#refused,
      )
      : parkInQueue(
        this.#queue,
        key,
        reply.request.priority,
        replyAbortSource(reply),
        this.#granted,
        this.#refused,
        exchange,
      );
    if (!waits) return false;
    startReply(reply);
    if (protocol === "https:") this.#http2.waiting(key, url);
    return true;
  }

  /**
   * A request that waited in `#enqueue` has its slot: it goes down the pipeline holding it, and
   * its reply releases the slot when it finishes if no layer took it (a layer answered it).
   */
  readonly #granted = (release: () => void, data: unknown): void => {
    const exchange = data as Exchange;
    const url = exchange.url;
    setHeldSlot(exchange, this.#keyOf(url.protocol, url.host), release);
    holdSlot(exchange.reply, release);
    sendParked(exchange.reply, this.#currentPipeline(), exchange);
  };

  /** The same for a request that waited without an exchange (made when one first waits). */
  #grants: WaitingGrants | undefined;

  /** The queue closed on a waiting request (the manager closes); an aborted one has finished. */
  readonly #refused = (_reason: unknown, data: unknown): void => {
    const reply = data instanceof NetworkReply ? data : (data as { reply: NetworkReply }).reply;
    if (!replyAborted(reply)) cancelReply(reply, CLOSED_MESSAGE, CLOSED);
  };

  send(
    input: string | URL | NetworkRequest,
    init: NetworkRequestInit | undefined,
    operation: Operation,
    method: unknown,
    body?: NetworkBody,
  ): NetworkReply {
    const prepared = prepareRequest(input, init, method, body, this.#closed);
    const { request, body: requestBody, problem, code } = prepared;
    const signal = request.signal;
    let onAbort: (() => void) | undefined;
    let settings: ReplySettings;
    if (
      signal === undefined && request.transferTimeout === undefined &&
      request.timeout === undefined && request.readBufferSize === undefined &&
      request.decompressionGuard === undefined && request.maxBodySize === undefined
    ) {
      // Nothing of the reply's own: the manager's settings, one object for all such replies.
      settings = this.#replySettings ??= this.#settingsFor(undefined, this.#replyFinished);
    } else {
      const abort = signal === undefined ? undefined : () => abortReplyFor(reply, signal.reason);
      onAbort = abort;
      settings = this.#settingsFor(
        request,
        abort === undefined ? this.#replyFinished : (finished) => {
          signal!.removeEventListener("abort", abort);
          this.#replyFinished(finished);
        },
      );
    }
    // A method that is no string (a custom verb) fails the reply below; the reply's is "".
    const reply: NetworkReply = new NetworkReply(
      request,
      operation,
      typeof method === "string" ? method : "",
      settings,
    );
    if (problem !== null) {
      const message = problem;
      const failure = code;
      const cause = prepared.cause; // set only on a failure
      requestBody?.discard();
      queueMicrotask(() => failReply(reply, failure, message, cause));
      return reply;
    }
    this.#running.add(reply);
    // A request made here gives its URL (parsed for it, and nothing else holds it); a caller's
    // request is copied during the call (it may be changed once the call returned), into its
    // exchange or what it waits with, and its reply keeps the URL's `href` (its `url` until a
    // response names one). A first exchange without a body is made when it is sent (after it
    // waited, if it does). From a URL alone there are no headers to copy.
    const callers = input instanceof NetworkRequest && init === undefined;
    const url = callers ? request.url : takeUrl(request);
    if (callers) keepCallersUrl(reply, url.href);
    const headers: FirstHeaders = callers
      ? "caller"
      : input instanceof NetworkRequest || init?.headers !== undefined
      ? "own"
      : undefined;
    const exchange = requestBody !== null
      ? firstExchange(reply, url, headers, requestBody)
      : undefined;
    // A one-shot body the reply never sends (aborted while it waited, refused, answered by a
    // layer) is cancelled once the reply finishes, so that its source closes; a sent one was read.
    if (requestBody !== null && !requestBody.replayable) {
      void reply.finished.then(() => requestBody.discard());
    }
    if (!this.#enqueue(reply, url, exchange, headers)) {
      startReply(reply, this.#currentPipeline(), exchange ?? firstExchange(reply, url, headers));
    }
    if (signal && onAbort !== undefined) {
      if (signal.aborted) queueMicrotask(onAbort);
      else signal.addEventListener("abort", onAbort, { once: true });
    }
    return reply;
  }
}
