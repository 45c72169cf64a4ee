/**
 * The proxy layer: picks the proxy of each exchange (explicit proxy, proxy factory, or the
 * system's), hands the transport the pooled `Deno.HttpClient` for it, and turns failures
 * through a proxy into proxy error codes with credentials removed from every message.
 *
 * @module
 */

import type { Layer } from "../exchange.ts";
import type { _ProxyClientPool } from "../_proxy_client.ts";
import {
  _classifyProxyError,
  _proxyQuery,
  _redactProxy,
  _resolveProxy,
  type NetworkProxy,
  type ProxyFactory,
} from "../proxy.ts";
import { NetworkReplyError } from "../network_error.ts";

/** What the proxy layer reads from the manager for each exchange. */
export interface _ProxySettings {
  proxy(): NetworkProxy | undefined;
  proxyFactory(): ProxyFactory | undefined;
  caCerts(): string[];
}

/** Creates the proxy layer over a client pool. */
export function _proxyLayer(pool: _ProxyClientPool, settings: _ProxySettings): Layer {
  return (next) => async (exchange) => {
    const { protocol } = exchange.url;
    if (protocol !== "http:" && protocol !== "https:") return await next(exchange);
    let proxy: NetworkProxy;
    try {
      proxy = _resolveProxy(_proxyQuery(exchange.url), {
        proxy: settings.proxy(),
        proxyFactory: settings.proxyFactory(),
      });
    } catch (error) {
      throw new NetworkReplyError(
        99,
        _redactProxy((error as Error).message, settings.proxy() ?? { type: "none" }),
        { cause: error },
      );
    }
    exchange.client ??= pool.get(proxy, { caCerts: settings.caCerts() });
    exchange.state.set("proxy", proxy);
    try {
      return await next(exchange);
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
