/**
 * The options of a {@linkcode NetworkAccessManager}, and where user layers sit in its
 * pipeline.
 *
 * @module
 */

import type { Handler, Layer } from "./exchange.ts";
import type { NetworkCache } from "./cache/network_cache.ts";
import type { Clock } from "./clock.ts";
import type { CookieJar } from "./cookies/cookie_jar.ts";
import type { HstsStore } from "./hsts/hsts_store.ts";
import type { Authenticator } from "./layers/auth.ts";
import type { RedirectVerifier } from "./layers/redirect.ts";
import type { NetworkAccessibility } from "./network_accessibility.ts";
import type { NetworkProxy, ProxyFactory } from "./proxy/network_proxy.ts";
import type { CacheLoadControl, RedirectPolicy } from "./request.ts";
import type { RetryOptions } from "./retry_options.ts";
import type { ClientCertificate } from "./tls.ts";

/**
 * Where a user layer sits in the pipeline.
 *
 * @example A layer at the network position sees every redirect hop
 * ```ts
 * import assert from "node:assert/strict";
 * import { type LayerPosition, NetworkAccessManager } from "@netaccess/core";
 *
 * const transport = async ({ url }: { url: URL }) =>
 *   url.pathname === "/old" ? Response.redirect("https://example.com/new") : new Response("moved");
 * await using manager = new NetworkAccessManager({ transport });
 * const position: LayerPosition = "network";
 * const paths: string[] = [];
 * manager.use((next) => (exchange) => {
 *   paths.push(exchange.url.pathname);
 *   return next(exchange);
 * }, position);
 * assert.equal(await manager.get("https://example.com/old").text(), "moved");
 * assert.deepEqual(paths, ["/old", "/new"]);
 * ```
 */
export type LayerPosition = "request" | "network";

/**
 * The options of a {@linkcode NetworkAccessManager}; every field is optional.
 *
 * @example A manager with a stricter redirect policy, fewer connections and retries
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, type NetworkAccessManagerOptions } from "@netaccess/core";
 *
 * const options: NetworkAccessManagerOptions = {
 *   redirectPolicy: "same-origin",
 *   maxConnectionsPerHost: 2,
 *   transferTimeout: 30_000,
 *   retry: { limit: 2 },
 * };
 * await using manager = new NetworkAccessManager(options);
 * assert.equal(manager.redirectPolicy, "same-origin");
 * assert.equal(manager.maxConnectionsPerHost, 2);
 * ```
 */
export interface NetworkAccessManagerOptions {
  /**
   * The redirect policy of requests that set none.
   * @default {"no-less-safe"}
   */
  redirectPolicy?: RedirectPolicy | undefined;
  /**
   * The most redirects a request follows before failing with `TooManyRedirectsError`.
   * @default {50}
   */
  maxRedirects?: number | undefined;
  /**
   * Inactivity timeout in milliseconds, reset by every byte moved either way (0 = off).
   * @default {0}
   */
  transferTimeout?: number | undefined;
  /**
   * Total timeout in milliseconds (0 = off): the longest a reply may take from the call to
   * its end (queue, proxy, connection, redirects, authentication, retries and the body) before
   * it fails with `TimeoutError`. A request's own `timeout` wins.
   * @default {0}
   */
  timeout?: number | undefined;
  /**
   * Requests in flight at once per scheme, host and port; the rest wait in priority order.
   * An https origin that speaks HTTP/2, reached directly or through an HTTP or SOCKS5 proxy
   * (asked once by ALPN on that route, when a request first has to wait for it), takes up to
   * 100, over one connection.
   * @default {6}
   */
  maxConnectionsPerHost?: number | undefined;
  /**
   * Bytes of body a reply buffers while nobody reads it (0 = unlimited).
   * @default {0}
   */
  readBufferSize?: number | undefined;
  /**
   * Decompressed size in bytes from which a reply whose compression ratio exceeds 40:1
   * (gzip, deflate) or 100:1 (br, zstd) fails as a likely decompression bomb; -1 turns the
   * guard off. While it is on, requests ask for `Accept-Encoding: identity` (unless they set
   * their own) and the library decodes what servers compress anyway (stacked codings too, by
   * the highest ratio of theirs), counting the compressed bytes of every body; off, `fetch`
   * negotiates gzip and br and decodes them. A body in a coding that is not decoded (on: any
   * but gzip, deflate, br and zstd) is handed over still coded, as its `Content-Encoding` says.
   * @default {10485760}
   */
  decompressionGuard?: number | undefined;
  /**
   * The most body bytes a reply accepts (after decompression), 0 for no limit. A body that
   * grows past it fails the reply with `ProtocolFailure` and stops being read at once; a
   * declared `Content-Length` over it fails the reply before the body is read (not a response
   * without a body: a HEAD reply, a 204, a 304).
   * @default {0}
   */
  maxBodySize?: number | undefined;
  /**
   * User layers, outermost first, at the `"request"` position (see {@linkcode NetworkAccessManager.use}).
   * @default {[]}
   */
  layers?: readonly Layer[] | undefined;
  /**
   * The HTTP cache; `null` for none.
   * @default {null}
   */
  cache?: NetworkCache | null | undefined;
  /**
   * Where replies come from for requests that set no `cacheLoadControl` (Qt's
   * `CacheLoadControl`): `"prefer-network"` serves fresh stored responses and revalidates stale
   * ones, `"always-network"` never reads the cache, `"prefer-cache"` serves any stored response,
   * `"always-cache"` never uses the network.
   * @default {"prefer-network"}
   */
  cacheLoadControl?: CacheLoadControl | undefined;
  /**
   * The cookie jar; `null` turns cookie handling off. The default jar keeps time by `clock`.
   * @default {new MemoryCookieJar()}
   */
  cookieJar?: CookieJar | null | undefined;
  /**
   * The HSTS store; HSTS (RFC 6797) is on when one is given.
   * @default {null}
   */
  hstsStore?: HstsStore | null | undefined;
  /**
   * The proxy of every request; wins over `proxyFactory` (Qt's rule). When neither is set,
   * the system's proxy settings apply (`systemProxyFactory()`).
   * @default {undefined}
   */
  proxy?: NetworkProxy | undefined;
  /**
   * Chooses the proxies of each request when no `proxy` is set. The manager keeps an HTTP
   * client for each of the 16 proxy configurations used most recently; an older one is closed
   * once no reply reads a body through it.
   * @default {undefined}
   */
  proxyFactory?: ProxyFactory | undefined;
  /**
   * Extra CA certificates (PEM) trusted for https targets and https proxies. Managers with
   * equal certificates (and client certificate and proxy) share one HTTP client, and its open
   * connections, until the last of them closes.
   * @default {[]}
   */
  caCerts?: readonly string[] | undefined;
  /**
   * The TLS client certificate (PEM `cert` and `key`) presented to every https server that
   * asks for one (mutual TLS); `clientCertificates` wins for the origins it names.
   * @default {undefined}
   */
  clientCertificate?: ClientCertificate | undefined;
  /**
   * TLS client certificates per https origin (`"https://host:port"`, the port when not 443),
   * winning over `clientCertificate`.
   * @default {{}}
   */
  clientCertificates?: Record<string, ClientCertificate> | undefined;
  /**
   * Whether requests may use the network: `"not-accessible"` turns network access off (new
   * `http:`/`https:` requests fail with `UnknownNetworkError` unless the cache can answer
   * them; `file:` and `data:` still work). Requests are also gated by Deno's `net`
   * permission for their host. `true` and `false` stand for `"accessible"` and
   * `"not-accessible"`.
   * @default {"accessible"}
   */
  networkAccessible?: NetworkAccessibility | boolean | undefined;
  /**
   * Asks for a missing `net` (or `read`, for `file:`) permission with
   * `Deno.permissions.request` (a prompt on a terminal) instead of failing the reply.
   * @default {false}
   */
  requestPermissions?: boolean | undefined;
  /**
   * Supplies credentials when a server (401) or an http proxy (407) asks and neither the
   * credential cache nor the URL has working ones; see {@linkcode Authenticator}.
   * @default {undefined}
   */
  authenticator?: Authenticator | undefined;
  /**
   * Decides each redirect under the `"user-verified"` redirect policy; without one, such
   * redirects are refused. See {@linkcode RedirectVerifier}.
   * @default {undefined}
   */
  redirectVerifier?: RedirectVerifier | undefined;
  /**
   * The clock of cache freshness, `Retry-After` dates and the default cookie jar's expiry. A
   * store made apart (a cookie jar, an HSTS store) keeps time by its own `clock`.
   * @default {Date.now}
   */
  clock?: Clock | undefined;
  /**
   * The bottom of the pipeline: sends an exchange and returns the response. Replace it to
   * answer requests without sockets (tests, mocks).
   * @default {transport}
   */
  transport?: Handler | undefined;
  /**
   * Retrying of failed requests (connection errors, 408, 413, 429, 500, 502, 503, 504) for
   * idempotent methods: `true` for the defaults of {@linkcode RetryOptions}, a number for a
   * limit, or options; requests may override it with their own `retry`.
   * @default {false}
   */
  retry?: RetryOptions | number | boolean | undefined;
}
