/**
 * How many requests the manager's queue lets an https origin have at once: past the HTTP/1.1
 * limit, the origin's HTTP/2 answer on the route its requests take. The origin is asked (in
 * `_http2.ts`) when a request to it first has to wait, or the command line asks for its HTTP
 * version: directly, or through the tunnel of the HTTP or SOCKS5 proxy its requests go through,
 * with that proxy's credentials, as Deno's `fetch` reaches it. The answer is kept under the origin
 * and its route, so that what an origin said on one route is never read for another (a proxy
 * set, a proxy variable that became readable), and one handshake serves both.
 *
 * @module
 */

import { _askable, _http2Key, _Http2Origins, _IDLE_MS } from "../_http2.ts";
import type { _PermissionGate } from "../_permission_gate.ts";
import { netHost } from "../layers/access.ts";
import { queueKey } from "../layers/queue.ts";
import { type NetworkProxy, type ProxyFactory, proxyQuery } from "../proxy/network_proxy.ts";
import type { ProxyEnvSnapshot } from "../proxy/system_proxy.ts";
import { resolveProxy } from "../proxy/_resolve.ts";
import type { ClientCertificate } from "../tls.ts";

/** What {@linkcode Http2Routes} reads of the manager. */
export interface Http2RouteSettings {
  /** Whether origins are asked at all: the manager sends with Deno's own `fetch`. */
  asks(): boolean;
  proxy(): NetworkProxy | undefined;
  proxyFactory(): ProxyFactory | undefined;
  /** The proxy variables as the manager reads them now. */
  env(): ProxyEnvSnapshot;
  caCerts(): readonly string[];
  clientCertificate(url: URL): ClientCertificate | undefined;
  permissions(): _PermissionGate | null;
  closed(): boolean;
  /** An origin (the queue's key) turned out to speak HTTP/2: its waiting requests may go. */
  wake(key: string): void;
}

/** The route an origin's waiting requests take: the key of its answer, and what it was found with. */
interface Route {
  key: string;
  proxy: NetworkProxy | undefined;
  env: ProxyEnvSnapshot;
}

/**
 * An HTTP/2 origin whose connection may be gone, held to the HTTP/1.1 limit until both have come:
 * a response of it (Deno's `fetch` then has a connection to share) and its new answer (`h2`).
 */
interface Warming {
  responded: boolean;
  /** Whether the origin said `h2` again: `undefined` until it answered. */
  h2: boolean | undefined;
}

/** The HTTP/2 answers of the manager's origins, each on its route. */
export class Http2Routes {
  readonly origins: _Http2Origins;
  readonly #settings: Http2RouteSettings;
  /** Per origin (the queue's key): the route its requests took when one first waited. */
  readonly #routes = new Map<string, Route>();
  /**
   * Per HTTP/2 origin (the queue's key): when it last had more requests in flight than the
   * HTTP/1.1 limit, sent a response, or was learned (`performance.now()`).
   */
  readonly #busyAt = new Map<string, number>();
  /** The HTTP/2 origins held to the HTTP/1.1 limit after an idle time ({@linkcode _IDLE_MS}). */
  readonly #warming = new Map<string, Warming>();

  constructor(settings: Http2RouteSettings) {
    this.#settings = settings;
    this.origins = new _Http2Origins((_, url) => {
      const key = queueKey(url.protocol, url.host);
      this.#busyAt.set(key, performance.now());
      settings.wake(key);
    });
  }

  /**
   * How many requests the origin (the queue's key) takes with `active` in flight: `max` (the
   * HTTP/1.1 limit), or past it, as many as it allows when it speaks HTTP/2 on its route (an old
   * answer asked again meanwhile). An HTTP/2 origin that had neither a response nor more than
   * `max` in flight for {@linkcode _IDLE_MS} is held to `max` until a response of it came and it
   * said `h2` again.
   */
  limit(key: string, active: number, max: number): number {
    const origins = this.origins;
    if (active < max && active < origins.fewestStreams) return max;
    const route = this.#routes.get(key);
    if (route === undefined || !origins.speaks(route.key)) return max;
    // The proxy variables changed since: the route is found again when a request next waits.
    if (route.env !== this.#settings.env()) {
      this.#routes.delete(key);
      return max;
    }
    const streams = origins.streams(route.key, max);
    if (this.#warming.has(key)) return Math.min(max, streams);
    const now = performance.now();
    const busyAt = this.#busyAt.get(key);
    this.#busyAt.set(key, now);
    if (busyAt !== undefined && now - busyAt >= _IDLE_MS && this.#settings.asks()) {
      this.#warm(key, route);
      return Math.min(max, streams);
    }
    if (origins.stale(route.key)) this.waiting(key, new URL(key), true);
    return streams;
  }

  /**
   * Holds an HTTP/2 origin whose connection may be gone to the HTTP/1.1 limit, and asks it again:
   * its waiting requests go once a response of it came and it said `h2` (Deno's `fetch` then
   * shares that connection rather than opening one per request); an HTTP/1.1 answer forgets that
   * it speaks HTTP/2.
   */
  #warm(key: string, route: Route): void {
    const warming: Warming = { responded: false, h2: undefined };
    this.#warming.set(key, warming);
    this.origins.age(route.key);
    this.waiting(key, new URL(key), true);
    this.origins.answer(route.key).then((h2) => {
      if (this.#warming.get(key) !== warming) return;
      warming.h2 = h2 === true;
      if (!warming.h2) this.#warming.delete(key);
      else if (warming.responded) this.#warmed(key);
    });
  }

  /** The origin warmed up: its requests go at HTTP/2's concurrency again. */
  #warmed(key: string): void {
    this.#warming.delete(key);
    this.#busyAt.set(key, performance.now());
    this.#settings.wake(key);
  }

  /**
   * A response of `url`'s origin came (its headers): its connection is in use, and an HTTP/2
   * origin held after an idle time lets its requests go once it also said `h2` again. Nothing to
   * do while no origin is known to speak HTTP/2.
   */
  responded(url: URL): void {
    if (this.#busyAt.size === 0) return;
    const key = queueKey(url.protocol, url.host);
    if (this.#busyAt.has(key)) this.#busyAt.set(key, performance.now());
    const warming = this.#warming.get(key);
    if (warming === undefined || warming.responded) return;
    warming.responded = true;
    if (warming.h2) this.#warmed(key);
  }

  /**
   * A request to `key` waits for a slot: an https origin is asked on the route of its requests
   * whether it speaks HTTP/2, whose requests share one connection (`again`: an old `h2` answer,
   * anew). Not with a `proxyFactory`, which alone knows each request's route.
   */
  waiting(key: string, url: URL, again = false): void {
    const settings = this.#settings;
    if (url.protocol !== "https:" || !settings.asks() || settings.proxyFactory()) return;
    const env = settings.env();
    const known = this.#routes.get(key);
    // Asked once per origin and route: the proxy and certificate lookups below are for the
    // first waiter.
    if (!again && known?.env === env && this.origins.asked(known.key)) return;
    let proxy: NetworkProxy | undefined;
    try {
      proxy = resolveProxy(proxyQuery(url), { proxy: settings.proxy(), env: env.vars });
    } catch {
      return;
    }
    if (proxy.type === "none") proxy = undefined;
    const route = { key: _http2Key(key, proxy), proxy, env };
    this.#routes.set(key, route);
    this.#learn(route, url, again);
  }

  /**
   * Whether the https origin of `url` speaks HTTP/2 on the route a request to it took: directly
   * (`proxy` absent or `none`), or through `proxy`'s tunnel; asked now if not yet, its answer
   * shared with the queue's. `null` where the manager asks none: with a `proxyFactory`, through
   * a proxy that opens no tunnel, or with a client certificate through a tunnel ({@linkcode _askable}).
   */
  on(url: URL, proxy: NetworkProxy | undefined): Promise<boolean | undefined> | null {
    const settings = this.#settings;
    if (proxy?.type === "none") proxy = undefined;
    if (
      proxy !== undefined &&
      (settings.proxyFactory() || !_askable(proxy, settings.clientCertificate(url)))
    ) return null;
    const key = _http2Key(queueKey(url.protocol, url.host), proxy);
    if (settings.asks() && !this.origins.asked(key)) {
      this.#learn({ key, proxy, env: settings.env() }, url, false);
    }
    return this.origins.answer(key);
  }

  /** A request to `url` got no response (see {@linkcode _Http2Origins.lost}). */
  lost(url: URL, error: unknown): void {
    const key = queueKey(url.protocol, url.host);
    this.origins.lost(this.#routes.get(key)?.key ?? key, error);
  }

  /** Forgets what was learned, and every route (see {@linkcode _Http2Origins.clear}). */
  clear(): void {
    this.#routes.clear();
    this.#busyAt.clear();
    this.#warming.clear();
    this.origins.clear();
  }

  /**
   * Asks the origin in a handshake of its own, when Deno's `net` permission grants the hosts it
   * connects to (queried, so that Deno never prompts): the origin's, and the proxy's.
   */
  #learn({ key, proxy }: Route, url: URL, again: boolean): void {
    const settings = this.#settings;
    const certificate = settings.clientCertificate(url);
    const learn = () => {
      if (!settings.closed()) {
        this.origins.learn(key, url, settings.caCerts(), certificate, again, proxy);
      }
    };
    const permissions = settings.permissions();
    permissions?.ifNetGranted(netHost(url), () => {
      if (proxy === undefined) learn();
      else permissions.ifNetGranted(netHost(new URL(proxy.url!)), learn);
    });
  }
}
