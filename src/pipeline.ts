/**
 * The pipeline: the built-in layers in the order a request meets them, from the reply down to
 * the transport, and why each sits where it does. Read this, then `exchange.ts`, then the one
 * layer in question under `layers/`.
 *
 * Each layer takes a small settings interface of its own and reads it for each request, so a
 * setting changed on the manager applies to the next request; the manager satisfies them all.
 *
 * With no layer of the user's, no cache and no HSTS store, a request that none of the layers
 * would change on its way down takes the direct lane (`directLane` below) to the transport, and
 * goes through the layers only when its response is one they act on. A request that has to wait
 * for a queue slot may wait before it enters the pipeline (the manager's `#enqueue`) and then
 * comes down holding its slot, which the queue layer or the lane sends it in.
 *
 * @module
 */

import type { CredentialCache } from "./auth/credential_cache.ts";
import { jarCookieHeader, jarNeverStored } from "./cookies/memory_cookie_jar.ts";
import {
  type Exchange,
  type Handler,
  type Layer,
  setReplay,
  takeHeldSlot,
  takeReplay,
} from "./exchange.ts";
import type { HostQueue } from "./host_queue.ts";
import { accessLayer, type AccessSettings, knownGranted, networkGate } from "./layers/access.ts";
import { authLayer, type AuthSettings, isChallenge } from "./layers/auth.ts";
import { cacheLayer, type CacheSettings } from "./layers/cache.ts";
import {
  cookiesLayer,
  type CookiesSettings,
  cookiesToStore,
  ownCookieHeader,
} from "./layers/cookies.ts";
import { hstsLayer, type HstsSettings } from "./layers/hsts.ts";
import { DIRECT, proxyLayer, type ProxySettings } from "./layers/proxy.ts";
import { keepSlot, lastQueueKey, queueLayer } from "./layers/queue.ts";
import { followsRedirect, redirectLayer, type RedirectSettings } from "./layers/redirect.ts";
import { replyAborted } from "./reply.ts";
import { retryLayer, type RetryLayerSettings } from "./layers/retry.ts";
import { transport } from "./layers/transport.ts";
import { _guardLayer, _guardTransport } from "./layers/_guard.ts";
import type { _ProxyClientPool } from "./_proxy_client.ts";

/** The settings every built-in layer reads; a manager has them all. */
export interface PipelineSettings
  extends
    CacheSettings,
    CookiesSettings,
    HstsSettings,
    RedirectSettings,
    AuthSettings,
    RetryLayerSettings {}

/** What the pipeline is built from besides the settings. */
export interface PipelineParts {
  /** User layers at the `"request"` position, outermost first. */
  requestLayers: readonly Layer[];
  /** User layers at the `"network"` position, outermost first. */
  networkLayers: readonly Layer[];
  /** The bottom of the pipeline: the built-in `transport` or the user's own. */
  transport: Handler;
  /** The switch and the permissions (with the cache settings, for offline answers). */
  access: Omit<AccessSettings, "cache" | "cacheLoadControl">;
  /** The proxies, CA certificates, client certificates and transfer timeout. */
  proxy: Omit<ProxySettings, "gate">;
  /** The per-origin request queue. */
  queue: HostQueue;
  /** Called with the origin's key when an exchange has to wait for a queue slot. */
  onQueueWait?: (key: string, exchange: Exchange) => void;
  /** Called with an exchange sent in a queue slot that got no response, and the error. */
  onSendFailed?: (exchange: Exchange, error: unknown) => void;
  /** Called with an exchange sent in a queue slot once its response (its headers) came. */
  onResponse?: (exchange: Exchange) => void;
  /** The HTTP clients, one per proxy configuration, for the 16 used most recently. */
  pool: _ProxyClientPool;
  /** The credentials of the protection spaces met so far. */
  credentials: CredentialCache;
  /**
   * Whether a direct connection needs no HTTP client of its own: no proxy (set, from a
   * factory or from the environment), no CA or client certificates. Read for each request by
   * the direct lane; without it the lane is off.
   */
  plainDirect?: () => boolean;
  /**
   * Runs work that outlives the reply it started from (a background revalidation): the
   * manager aborts it through the signal when it closes, and waits for it.
   */
  background?: (task: (signal: AbortSignal) => Promise<void>) => void;
}

/** Whether an exchange may be retried: the request or the manager turned retry on. */
function retrying(settings: PipelineSettings, exchange: Exchange): boolean {
  return exchange.request.retry !== undefined || settings.retry !== false;
}

/**
 * Wraps a layer so that it costs one check and no promise while `on(exchange)` is false: the
 * exchange goes straight to the next handler.
 */
function skipWhenOff(layer: Layer, on: (exchange: Exchange) => boolean): Layer {
  return (next) => {
    const active = layer(next);
    return (exchange) => on(exchange) ? active(exchange) : next(exchange);
  };
}

/**
 * Builds the pipeline: the user's request layers, the built-in layers of the features that are
 * on (a cache, a cookie jar, an HSTS store; build it again when one turns on or off), the
 * user's network layers, and the transport at the bottom. User code (layers, a transport of one's
 * own) is guarded: a throw or a non-`Response` fails the reply with a message naming it.
 *
 * @param settings The settings the layers read for each request (the manager).
 * @param parts The layers, transport, queue, pools and private settings.
 * @returns The handler a reply sends its first exchange to.
 */
export function buildPipeline(settings: PipelineSettings, parts: PipelineParts): Handler {
  const plainDirect = parts.plainDirect;
  const requestLayers = [...parts.requestLayers];
  const networkLayers = [...parts.networkLayers];
  const features: Features = {
    cache: settings.cache !== null,
    cookies: settings.cookieJar !== null,
    hsts: settings.hstsStore !== null,
  };
  if (
    plainDirect === undefined || requestLayers.length > 0 || networkLayers.length > 0 ||
    parts.transport !== transport || features.cache || features.hsts
  ) {
    return composeLayers(settings, parts, features, requestLayers, networkLayers, false);
  }
  // The direct lane is possible: the layers are made when a request first needs them (a manager
  // whose requests all take the lane makes none), as they would have been made now.
  let pipeline: Handler | undefined;
  return directLane(
    settings,
    parts,
    plainDirect,
    (exchange) => (pipeline ??= composeLayers(settings, parts, features, [], [], true))(exchange),
  );
}

/** Which of the features with a layer of their own were on when the pipeline was built. */
interface Features {
  cache: boolean;
  cookies: boolean;
  hsts: boolean;
}

/**
 * The layers from the reply down to the transport. With `replays`, the direct lane is above
 * them: the pipeline takes back the responses it received where the queue would send.
 */
function composeLayers(
  settings: PipelineSettings,
  parts: PipelineParts,
  features: Features,
  requestLayers: readonly Layer[],
  networkLayers: readonly Layer[],
  replays: boolean,
): Handler {
  const access: AccessSettings = {
    get cache() {
      return settings.cache;
    },
    get cacheLoadControl() {
      return settings.cacheLoadControl;
    },
    accessible: () => parts.access.accessible(),
    permissions: () => parts.access.permissions(),
    requestPermissions: () => parts.access.requestPermissions(),
  };
  const guarded = (position: string) => (layer: Layer, index: number) =>
    _guardLayer(layer, `Layer ${index + 1} at the "${position}" position`);
  // Once per request, each hop, each attempt: the layers from the reply down to the queue.
  const upper: Layer[] = [
    // First, and once per request: they see the request as the user made it and may answer it.
    ...requestLayers.map(guarded("request")),
    // Before any work: a request that network access forbids fails (or goes offline) at once.
    accessLayer(access),
    // Above every per-hop layer: each hop goes down again through HSTS, cookies, auth and cache.
    redirectLayer(
      settings,
      features.cache || networkLayers.length > 0 || parts.transport !== transport,
    ),
    // Before cookies and credentials are chosen: they depend on the upgraded https URL.
    ...(features.hsts ? [hstsLayer(settings)] : []),
    // Above the cache: a cached response sets no cookie, and every hop sends the jar's cookies.
    ...(features.cookies ? [cookiesLayer(settings)] : []),
    // Above the cache: a 401 or 407 is answered by sending again, never stored.
    authLayer(settings, parts.credentials),
    // Above retry and queue: a fresh hit takes no queue slot and is never retried.
    ...(features.cache ? [cacheLayer(settings, parts.background)] : []),
    // Above the queue: every attempt waits for a slot of its own. Requests may turn it on. A
    // response it sends again for goes to the HSTS and cookies layers as an interim response.
    skipWhenOff(retryLayer(settings), (exchange) => retrying(settings, exchange)),
  ];
  // Each attempt sent to the network: from the queue down to the transport.
  const lower: Layer[] = [
    // Holds a slot per origin only while the network is used, until the body is done.
    queueLayer(parts.queue, parts.onQueueWait, parts.onSendFailed, parts.onResponse),
    // Last before sending: the proxy and its client for each attempt, then the network gate.
    proxyLayer(parts.pool, { ...parts.proxy, gate: networkGate(access) }),
    // Every exchange that goes to the network: each hop and retry, cookies and credentials set.
    ...networkLayers.map(guarded("network")),
  ];
  const bottom = parts.transport === transport
    ? transport
    : _guardTransport(parts.transport, "The transport (the 'transport' option)");
  const compose = (layers: Layer[], below: Handler) =>
    layers.reduceRight<Handler>((next, layer) => layer(next), below);
  const sent = compose(lower, bottom);
  if (!replays) return compose(upper, sent);
  return compose(upper, (exchange) => {
    const received = takeReplay(exchange);
    return received === undefined ? sent(exchange) : Promise.resolve(received);
  });
}

/**
 * The direct lane: a request that none of the layers would change on its way down but for the
 * cookies of a memory jar (no `Cookie` header of its own, no credentials to offer, no retry, a
 * direct connection the `net` permission is known to allow, the queue slot the manager took for
 * it when it was made: see its `#enqueue`) goes from the reply to the transport in one step,
 * doing what the cookies, queue and proxy layers would.
 * Its response goes up the same way unless a layer acts on it (a redirect to follow, a 401 or
 * 407 to answer, cookies to store): then the layers above the queue run with it, and where the
 * queue would send the exchange, that response comes back instead (`takeReplay`). Any other
 * request takes the pipeline.
 *
 * The checks on the way down restate when each layer has nothing to do; a layer that comes to do
 * more on the way down needs its check here too (`tests/settings_change_test.ts` fails when one
 * is missing). On the way up the lane asks the layers' own predicates.
 */
function directLane(
  settings: PipelineSettings,
  parts: PipelineParts,
  plainDirect: () => boolean,
  pipeline: Handler,
): Handler {
  const { credentials } = parts;
  let grantedOrigin: string | undefined;
  let grantedEpoch = -1;
  const keyOf = lastQueueKey();
  const lane = (exchange: Exchange): Promise<Response> => {
    const { url, request } = exchange;
    const { protocol } = url;
    const jar = settings.cookieJar;
    if (
      (protocol !== "http:" && protocol !== "https:") || credentials.mayAnswer(url) ||
      retrying(settings, exchange) ||
      (jar !== null && ownCookieHeader(exchange) !== null) ||
      parts.access.accessible() === "not-accessible" || !plainDirect() ||
      replyAborted(exchange.reply)
    ) {
      return pipeline(exchange);
    }
    // The jar's cookies, when a memory jar writes their header at once (as the cookies layer
    // has it written); any other jar is asked by the cookies layer.
    let cookie: string | null = null;
    if (jar !== null && request.cookieLoadControl === "automatic" && !jarNeverStored(jar)) {
      let written: string | null | Promise<string | null> | undefined;
      try {
        written = jarCookieHeader(jar, url);
      } catch {
        written = undefined;
      }
      if (written !== null && typeof written !== "string") return pipeline(exchange);
      cookie = written;
    }
    const key = keyOf(protocol, url.host);
    // The network gate's check: granted (kept for the last origin while no permission changes).
    // Anything but a grant goes the pipeline's way, whose gate says why (or asks for it, with
    // `requestPermissions`).
    const permissions = parts.access.permissions();
    if (permissions !== null && (key !== grantedOrigin || permissions.epoch !== grantedEpoch)) {
      if (!knownGranted(permissions, url)) return pipeline(exchange);
      grantedOrigin = key;
      grantedEpoch = permissions.epoch;
    }
    // The slot the manager took when the request was made (or waited for, before the pipeline).
    const release = takeHeldSlot(exchange, key);
    if (release === undefined) return pipeline(exchange);
    exchange.proxy = DIRECT;
    // Sent with the jar's cookies; the exchange's headers are the request's own again after.
    if (cookie !== null) exchange.headers.set("cookie", cookie);
    let sending: Promise<Response>;
    try {
      sending = transport(exchange);
    } finally {
      if (cookie !== null) exchange.headers.delete("cookie");
    }
    return sending.then((response) => {
      keepSlot(exchange, response, release);
      parts.onResponse?.(exchange);
      // A response a layer acts on goes up through the layers.
      const status = response.status;
      if (
        isChallenge(status) ||
        followsRedirect(request.redirectPolicy ?? settings.redirectPolicy, status) ||
        (jar !== null && cookiesToStore(exchange, response).length > 0)
      ) {
        setReplay(exchange, response);
        return pipeline(exchange);
      }
      return response;
    }, (error) => {
      release();
      parts.onSendFailed?.(exchange, error);
      throw error;
    });
  };
  return lane;
}
