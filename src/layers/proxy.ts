/**
 * The proxy layer: picks the proxy of each exchange (explicit proxy, proxy factory, or the
 * system's), lets the network gate check it, hands the transport the pooled
 * `Deno.HttpClient` for it, and turns failures through a proxy into proxy error codes with
 * credentials removed from every message.
 *
 * @module
 */

import {
  type Exchange,
  type Handler,
  type Layer,
  proxyChosen,
  responseInfo,
  TransferTimeoutAbort,
} from "../exchange.ts";
import type { _ProxyClientPool } from "../_proxy_client.ts";
import type { NetworkProxy, ProxyFactory } from "../proxy/network_proxy.ts";
import { proxyLabel, proxyQuery } from "../proxy/network_proxy.ts";
import { classifyProxyError, proxyTimeoutError } from "../proxy/_probe.ts";
import { redactProxy } from "../proxy/_redact.ts";
import { resolveProxy } from "../proxy/_resolve.ts";
import { NetworkError, NetworkReplyError } from "../network_error.ts";
import { basicAuthorization } from "../auth/basic.ts";
import { holdSlot } from "../reply.ts";
import { sendHolding } from "./_hold.ts";
import { notPermitted } from "./_net_permission.ts";
import type { ClientCertificate } from "../tls.ts";

/** What the proxy layer reads from the manager for each exchange. */
export interface ProxySettings {
  proxy(): NetworkProxy | undefined;
  proxyFactory(): ProxyFactory | undefined;
  caCerts(): readonly string[];
  /** The TLS client certificate for an https target, if any. */
  clientCertificate?(url: URL): ClientCertificate | undefined;
  /** The manager's transfer timeout (ms, 0 = off), for requests that set none. */
  transferTimeout?(): number;
  /** Checked once the proxy is known, before any client is made; throws to refuse. */
  gate?(exchange: Exchange, proxy: NetworkProxy): Promise<void> | undefined;
  /**
   * The proxy variables of the environment as last read, and whether they name a proxy;
   * read from the process for each exchange when absent.
   */
  env?(): { vars: Record<string, string | undefined>; hasProxy: boolean };
}

/** The proxy of a direct connection. */
export const DIRECT: NetworkProxy = Object.freeze({ type: "none" });

/**
 * Hands the hold on the client an exchange was sent with to its reply: released at once when the
 * response has no body left to read, else when the reply's body is done (read, failed or
 * aborted), as a queue slot is.
 */
function keepClient(exchange: Exchange, response: Response, release: () => void): void {
  if (response.body === null || responseInfo(response).bodyReceived) release();
  else holdSlot(exchange.reply, release);
}

/**
 * The proxy to make the client for: without its credentials when a plain-http request carries a
 * `Proxy-Authorization` of its own (the auth layer's answer to a challenge, a Digest one
 * included, or the request's), which Deno would replace with the Basic credentials of the
 * client's proxy.
 */
function ownAuthorization(exchange: Exchange, proxy: NetworkProxy, protocol: string): NetworkProxy {
  if (
    proxy.username === undefined || protocol !== "http:" ||
    !exchange.headers.has("proxy-authorization")
  ) {
    return proxy;
  }
  return { type: proxy.type, url: proxy.url };
}

/**
 * The Basic `Proxy-Authorization` of an `https` proxy's own credentials for a plain-http request
 * that carries none: Deno sends them to an `http` proxy itself, to an `https` one never.
 */
function httpsProxyBasic(exchange: Exchange, proxy: NetworkProxy, protocol: string) {
  if (
    proxy.type !== "https" || proxy.username === undefined || protocol !== "http:" ||
    exchange.headers.has("proxy-authorization")
  ) {
    return undefined;
  }
  return basicAuthorization({ username: proxy.username, password: proxy.password ?? "" });
}

/** Creates the proxy layer over a client pool. */
export function proxyLayer(pool: _ProxyClientPool, settings: ProxySettings): Layer {
  return (next) => {
    // Made once per pipeline, not per request.
    function send(
      exchange: Exchange,
      proxy: NetworkProxy,
      envHasProxy: boolean | undefined,
      protocol: string,
    ): Promise<Response> {
      // A direct connection that takes fetch's own client (the pool's rule): nothing to make.
      const plain = proxy === DIRECT && envHasProxy === false &&
        pool.takesDefaultClient(
          settings.caCerts().length,
          protocol === "https:" && settings.clientCertificate?.(exchange.url) !== undefined,
          envHasProxy,
        );
      // Set for this attempt only: the layers above send the next hop from what they asked.
      const basic = httpsProxyBasic(exchange, proxy, protocol);
      const given = exchange.headers;
      if (basic !== undefined) {
        exchange.headers = new Headers(given);
        exchange.headers.set("proxy-authorization", basic);
      }
      let release: (() => void) | undefined;
      if (exchange.client === undefined && !plain) {
        try {
          const client = exchange.client = pool.get(ownAuthorization(exchange, proxy, protocol), {
            caCerts: settings.caCerts(),
            clientCertificate: protocol === "https:"
              ? settings.clientCertificate?.(exchange.url)
              : undefined,
            envHasProxy,
            secureTarget: protocol === "https:",
            targetAuthority: exchange.url.host,
          });
          // The client stays open while this request uses it, even once the pool lets it go.
          if (client !== undefined) release = pool.hold(client);
        } catch (error) {
          exchange.headers = given;
          const message = redactProxy((error as Error).message, proxy);
          // Without a proxy, only the TLS settings can be refused: the client certificate of the
          // origin, or the CA certificates.
          const what = proxy.type !== "none"
            ? proxyLabel(proxy)
            : protocol === "https:" && settings.clientCertificate?.(exchange.url) !== undefined
            ? `the client certificate for ${exchange.url.origin} (Deno refused it or its key)`
            : "the CA certificates (caCerts)";
          // The proxy's permission, revoked since the gate let the send go.
          throw notPermitted(error, exchange.url, proxy) ?? new NetworkReplyError(
            proxy.type === "none"
              ? NetworkError.UnknownNetworkError
              : NetworkError.UnknownProxyError,
            `Cannot use ${what}: ${message}`,
            { cause: error },
          );
        }
      }
      const timeout = exchange.request.transferTimeout ?? settings.transferTimeout?.() ?? 0;
      // Direct and without a transfer timeout: failures and responses pass through as they are.
      const direct = proxy.type === "none" && timeout <= 0;
      if (release === undefined) {
        return direct ? next(exchange) : throughProxy(exchange, proxy, timeout, given);
      }
      const send: Handler = direct
        ? next
        : (exchange) => throughProxy(exchange, proxy, timeout, given);
      return sendHolding(send, exchange, release, keepClient);
    }

    async function throughProxy(
      exchange: Exchange,
      proxy: NetworkProxy,
      timeout: number,
      given: Headers,
    ): Promise<Response> {
      try {
        return await next(exchange);
      } catch (error) {
        if (proxy.type === "none") throw error;
        // Refused by Deno for want of a permission: nothing the proxy did.
        if (error instanceof NetworkReplyError && error.cause instanceof Deno.errors.NotCapable) {
          throw error;
        }
        if (exchange.signal.aborted) {
          // Only once the transfer timeout failed the exchange is the proxy probed.
          const timedOut = timeout > 0 && exchange.signal.reason instanceof TransferTimeoutAbort;
          throw (timedOut
            ? await proxyTimeoutError(proxy, timeout, settings.caCerts())
            : undefined) ??
            error;
        }
        throw await classifyProxyError(
          error instanceof NetworkReplyError && error.cause !== undefined ? error.cause : error,
          proxy,
          exchange.url,
          { caCerts: settings.caCerts() },
        );
      } finally {
        exchange.headers = given;
      }
    }

    return (exchange) => {
      const { protocol } = exchange.url;
      if (protocol !== "http:" && protocol !== "https:") return next(exchange);
      // No promise of its own for a direct connection already allowed: the exchange goes on.
      try {
        let proxy = DIRECT;
        const env = settings.env?.();
        const configured = settings.proxy();
        const chosen = configured !== undefined || settings.proxyFactory() !== undefined;
        // No proxy set and none in the environment, or `{ type: "none" }` set (checked when it
        // was set, and it wins over a factory): a direct connection, nothing to look up.
        if (configured?.type !== "none" && (chosen || env === undefined || env.hasProxy)) {
          try {
            proxy = resolveProxy(proxyQuery(exchange.url), {
              proxy: configured,
              proxyFactory: settings.proxyFactory(),
              env: env?.vars,
            });
          } catch (error) {
            throw new NetworkReplyError(
              NetworkError.UnknownNetworkError,
              redactProxy((error as Error).message, configured ?? { type: "none" }),
              { cause: error },
            );
          }
        }
        exchange.proxy = proxy;
        // The proxy's credentials, known only now (see `layers/auth.ts`).
        proxyChosen(exchange)?.(exchange, proxy);
        const gating = settings.gate?.(exchange, proxy);
        if (gating !== undefined) {
          return gating.then(() => send(exchange, proxy, env?.hasProxy, protocol));
        }
        return send(exchange, proxy, env?.hasProxy, protocol);
      } catch (error) {
        return Promise.reject(error);
      }
    };
  };
}
