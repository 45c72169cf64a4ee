/**
 * The HSTS layer (RFC 6797): when the manager has an HSTS store, rewrites `http:` requests to
 * known hosts to `https:` before anything is sent, and learns `Strict-Transport-Security`
 * from responses received over https: those passed up and those a layer below does not pass up
 * (a 401 the auth layer answers, a status the retry layer sends again for).
 *
 * @module
 */

import { type Exchange, type Layer, responseInfo, setInterimResponse } from "../exchange.ts";
import { normalizeHost } from "../hsts/_host.ts";
import { coveringHost, upgradeUrl } from "../hsts/_upgrade.ts";
import type { HstsStore } from "../hsts/hsts_store.ts";
import { NetworkError, NetworkReplyError } from "../network_error.ts";
import { discard, failedOnResponse } from "../_response.ts";
import { replyRedirected } from "../reply.ts";
import { PLAIN_HTTP_HINT } from "../tls.ts";

/** What the HSTS layer reads, for each request. */
export interface HstsSettings {
  /** The store; `null` turns the layer off. */
  readonly hstsStore: HstsStore | null;
}

/** Creates the HSTS layer; it does nothing while `settings.hstsStore` is null. */
export function hstsLayer(settings: HstsSettings): Layer {
  return (next) => async (exchange) => {
    const store = settings.hstsStore;
    if (store === null) return await next(exchange);
    let upgraded: URL | null;
    try {
      upgraded = await upgradeUrl(exchange.url, store);
    } catch (error) {
      throw new NetworkReplyError(
        NetworkError.UnknownNetworkError,
        `Cannot send to ${exchange.url.host}: the HSTS store failed (${
          (error as Error)?.message ?? error
        })`,
        { cause: error },
      );
    }
    setInterimResponse(exchange, hstsLayer, (response) => learn(store, exchange, response));
    let response: Response;
    if (upgraded === null) response = await next(exchange);
    else {
      exchange.url = upgraded;
      try {
        response = await next(exchange);
      } catch (error) {
        // A failed request reports the URL it tried, as a response would have.
        const { reply } = exchange;
        replyRedirected(reply, reply.redirects, upgraded);
        throw await upgradedFailure(error, exchange.url.hostname, store);
      }
    }
    try {
      await learn(store, exchange, response);
    } catch (failure) {
      discard(response);
      throw failedOnResponse(failure, response); // the reply shows the response it came with
    }
    return response;
  };
}

/** Learns the `Strict-Transport-Security` of `response`, received over https from the network. */
async function learn(store: HstsStore, exchange: Exchange, response: Response): Promise<void> {
  const sts = response.headers.get("strict-transport-security");
  if (sts === null) return;
  const info = responseInfo(response);
  const url = info.url ?? exchange.url;
  if (url.protocol !== "https:" || info.fromCache) return;
  try {
    await store.learn(url.hostname, sts);
  } catch (error) {
    throw new NetworkReplyError(
      NetworkError.UnknownNetworkError,
      `Cannot record the HSTS policy of ${url.hostname}: the HSTS store failed (${
        (error as Error)?.message ?? error
      })`,
      { cause: error },
    );
  }
}

/**
 * The failure of a request HSTS upgraded to https: a TLS handshake with a plain HTTP server says
 * why an http: URL does not help, instead of suggesting one, naming the host whose policy
 * covers `host` (itself, or a parent domain's that includes subdomains) when the store tells.
 */
async function upgradedFailure(error: unknown, host: string, store: HstsStore): Promise<unknown> {
  if (
    !(error instanceof NetworkReplyError) ||
    error.code !== NetworkError.SslHandshakeFailedError || !error.message.includes(PLAIN_HTTP_HINT)
  ) {
    return error;
  }
  const covering = await coveringHost(host, store);
  const why = covering === normalizeHost(host)
    ? `${host} is in the HSTS store, so an http: URL does not help; remove the host from the ` +
      `store to reach it over http`
    : covering !== undefined
    ? `${host} is covered by the includeSubDomains policy of ${covering} in the HSTS store, so ` +
      `an http: URL does not help; remove ${covering} from the store to reach it over http`
    : `${host} is covered by an HSTS policy in the store, so an http: URL does not help; ` +
      `remove that policy from the store to reach it over http`;
  return new NetworkReplyError(
    error.code,
    error.message.replace(
      PLAIN_HTTP_HINT,
      `(a plain HTTP server? the URL was upgraded from http: to https: by HSTS policy, as ${why})`,
    ),
    { cause: error.cause, reply: error.reply },
  );
}
