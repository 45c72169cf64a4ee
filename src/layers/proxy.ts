/**
 * The proxy layer: picks the proxy of each exchange (explicit proxy, proxy factory, or the
 * system's), lets the network gate check it, hands the transport the pooled
 * `Deno.HttpClient` for it, and turns failures through a proxy into proxy error codes with
 * credentials removed from every message.
 *
 * @module
 */

import type { Exchange, Layer } from "../exchange.ts";
import type { _ProxyClientPool } from "../_proxy_client.ts";
import {
  _classifyProxyError,
  _probeConnect,
  _probeProxy,
  _proxyLabel,
  _proxyQuery,
  _redactProxy,
  _resolveProxy,
  type NetworkProxy,
  type ProxyFactory,
} from "../proxy.ts";
import { NetworkError, NetworkReplyError } from "../network_error.ts";
import type { ClientCertificate } from "../tls.ts";

/** What the proxy layer reads from the manager for each exchange. */
export interface ProxySettings {
  proxy(): NetworkProxy | undefined;
  proxyFactory(): ProxyFactory | undefined;
  caCerts(): string[];
  /** The TLS client certificate for an https target, if any. */
  clientCertificate?(url: URL): ClientCertificate | undefined;
  /** The manager's transfer timeout (ms, 0 = off), for requests that set none. */
  transferTimeout?(): number;
  /** Checked once the proxy is known, before any client is made; throws to refuse. */
  gate?(exchange: Exchange, proxy: NetworkProxy): Promise<void>;
  /**
   * The proxy variables of the environment as last read, and whether they name a proxy;
   * read from the process for each exchange when absent.
   */
  env?(): { vars: Record<string, string | undefined>; hasProxy: boolean };
}

/**
 * Waits for the response through a proxy; when it has not come after half the transfer
 * timeout, asks the proxy whether it is alive (within a quarter of it), and fails with
 * `ProxyTimeoutError` when it is silent, before the transfer timeout would fail the reply
 * as a timeout of the target.
 */
async function watchProxy(
  sending: Promise<Response>,
  proxy: NetworkProxy,
  timeout: number,
  caCerts: string[],
): Promise<Response> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let probing: Promise<unknown> | undefined;
  const silent = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const probeTimeout = Math.max(1, Math.floor(timeout / 4));
      probing = _probeProxy(proxy, { probeTimeout, caCerts }).then((found) => {
        if (found !== "timeout") return;
        reject(
          new NetworkReplyError(
            NetworkError.ProxyTimeoutError,
            `Proxy ${_proxyLabel(proxy)} did not answer within ${
              Math.floor(timeout / 2) + probeTimeout
            } ms (transferTimeout ${timeout} ms)`,
          ),
        );
      });
    }, Math.floor(timeout / 2));
  });
  silent.catch(() => {});
  try {
    return await Promise.race([sending, silent]);
  } finally {
    clearTimeout(timer);
    await probing;
  }
}

/**
 * Some HTTP proxies (tinyproxy 1.11) answer a forwarded request whose proxy credentials are
 * wrong with 401 and `WWW-Authenticate`, as if the origin had asked. When a 401 comes back
 * through an http proxy that was sent credentials, the proxy is asked for a tunnel with the
 * same credentials: refused with 401 or 407, the 401 was the proxy's, and the reply fails
 * with `ProxyAuthenticationRequiredError`; otherwise the response is the origin's.
 */
async function refusedCredentials(
  response: Response,
  proxy: NetworkProxy,
  exchange: Exchange,
  caCerts: string[],
): Promise<Response> {
  if (
    response.status !== 401 || exchange.url.protocol !== "http:" ||
    (proxy.type !== "http" && proxy.type !== "https") || proxy.username === undefined
  ) {
    return response;
  }
  const status = await _probeConnect(
    proxy,
    `${exchange.url.hostname}:${_proxyQuery(exchange.url).port}`,
    { caCerts },
  );
  if (status !== 401 && status !== 407) return response;
  await response.body?.cancel().catch(() => {});
  throw new NetworkReplyError(
    NetworkError.ProxyAuthenticationRequiredError,
    `Proxy ${
      _proxyLabel(proxy)
    } refused the credentials (HTTP 401 to the forwarded request, HTTP ${status} to CONNECT)`,
  );
}

/** Creates the proxy layer over a client pool. */
export function proxyLayer(pool: _ProxyClientPool, settings: ProxySettings): Layer {
  return (next) => async (exchange) => {
    const { protocol } = exchange.url;
    if (protocol !== "http:" && protocol !== "https:") return await next(exchange);
    let proxy: NetworkProxy = { type: "none" };
    const env = settings.env?.();
    const chosen = settings.proxy() !== undefined || settings.proxyFactory() !== undefined;
    // No proxy set and none in the environment: a direct connection, nothing to look up.
    if (chosen || env === undefined || env.hasProxy) {
      try {
        proxy = _resolveProxy(_proxyQuery(exchange.url), {
          proxy: settings.proxy(),
          proxyFactory: settings.proxyFactory(),
          env: env?.vars,
        });
      } catch (error) {
        throw new NetworkReplyError(
          NetworkError.UnknownNetworkError,
          _redactProxy((error as Error).message, settings.proxy() ?? { type: "none" }),
          { cause: error },
        );
      }
    }
    exchange.proxy = proxy;
    await settings.gate?.(exchange, proxy);
    if (exchange.client === undefined) {
      try {
        exchange.client = pool.get(proxy, {
          caCerts: settings.caCerts(),
          clientCertificate: protocol === "https:"
            ? settings.clientCertificate?.(exchange.url)
            : undefined,
          envHasProxy: env?.hasProxy,
        });
      } catch (error) {
        throw new NetworkReplyError(
          proxy.type === "none" ? NetworkError.UnknownNetworkError : NetworkError.UnknownProxyError,
          `Cannot use ${_proxyLabel(proxy)}: ${_redactProxy((error as Error).message, proxy)}`,
          { cause: error },
        );
      }
    }
    const timeout = exchange.request.transferTimeout ?? settings.transferTimeout?.() ?? 0;
    try {
      const sending = next(exchange);
      if (proxy.type === "none" || timeout <= 0) {
        return await refusedCredentials(await sending, proxy, exchange, settings.caCerts());
      }
      sending.catch(() => {});
      const response = await watchProxy(sending, proxy, timeout, settings.caCerts());
      return await refusedCredentials(response, proxy, exchange, settings.caCerts());
    } catch (error) {
      if (exchange.signal.aborted) throw error;
      if (proxy.type === "none") throw error;
      throw await _classifyProxyError(
        error instanceof NetworkReplyError && error.cause !== undefined ? error.cause : error,
        proxy,
        exchange.url,
        { caCerts: settings.caCerts() },
      );
    }
  };
}
