/**
 * Lets tests use host names (`home.example.org:8888`, `a.test`) for a loopback server: a
 * network-position layer that sends every http exchange to 127.0.0.1 on one port while the
 * `Host` header keeps the name, through a `Deno.HttpClient` made with `allowHost`.
 *
 * @module
 */

import { type Layer, setResponseInfo } from "../../src/exchange.ts";

/** A host-routing layer and the HTTP client it sends with. */
export interface LoopbackHosts extends Disposable {
  /** Add with `manager.use(hosts.layer, "network")`. */
  layer: Layer;
  /** Every exchange the layer routed, as the URL the pipeline meant. */
  routed: URL[];
  /** Closes the HTTP client. */
  close(): void;
}

/**
 * Routes http exchanges to `127.0.0.1:port`, keeping the host name in `Host`. Each exchange
 * is restored when it comes back up (URL, client, headers), and its response is recorded as
 * being for the URL the pipeline meant.
 */
export function loopbackHosts(port: number): LoopbackHosts {
  const client = Deno.createHttpClient({ allowHost: true });
  const routed: URL[] = [];
  const layer: Layer = (next) => async (exchange) => {
    const original = exchange.url;
    if (original.protocol !== "http:") return await next(exchange);
    const originalClient = exchange.client;
    const originalHost = exchange.headers.get("host");
    const target = new URL(original.href);
    target.hostname = "127.0.0.1";
    target.port = String(port);
    routed.push(original);
    exchange.url = target;
    exchange.client = client;
    exchange.headers.set("host", original.host);
    try {
      return setResponseInfo(await next(exchange), { url: original });
    } finally {
      exchange.url = original;
      exchange.client = originalClient;
      if (originalHost === null) exchange.headers.delete("host");
      else exchange.headers.set("host", originalHost);
    }
  };
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    client.close();
  };
  return { layer, routed, close, [Symbol.dispose]: close };
}
