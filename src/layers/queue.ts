/**
 * The queue layer: takes a slot of the per-origin queue for every network exchange (or sends
 * it in the slot its request took, or waited for, before it entered the pipeline: see the
 * manager's `#enqueue`) and releases it exactly once: at once when the response has no body
 * left to read, else when the reply has its body in memory or finishes (read, failed or
 * aborted), when the retry layer waits to send again, or when the reply sends its next hop. An
 * exchange made while network access was off waits for no slot: the network gate refuses it.
 *
 * @module
 */

import {
  type Exchange,
  type Layer,
  responseInfo,
  signalIfMade,
  takeHeldSlot,
} from "../exchange.ts";
import type { HostQueue } from "../host_queue.ts";
import { holdSlot, monitorQueued, replyAborted, replyAbortSource } from "../reply.ts";
import { sendHolding } from "./_hold.ts";

/** The queue's key of an origin (`https://example.com:8443`): its slots and HTTP/2 state. */
export function queueKey(protocol: string, host: string): string {
  return `${protocol}//${host}`;
}

/**
 * {@linkcode queueKey} that gives the last origin's string again when the origin is the same (a
 * string made once is hashed once): one per pipeline, one per manager.
 */
export function lastQueueKey(): (protocol: string, host: string) => string {
  let lastKey = "";
  let lastHost: string | undefined;
  let lastProtocol: string | undefined;
  return (protocol, host) => {
    if (host !== lastHost || protocol !== lastProtocol) {
      lastKey = queueKey(protocol, host);
      lastHost = host;
      lastProtocol = protocol;
    }
    return lastKey;
  };
}

/**
 * Hands the slot an exchange was sent in to what holds it now that `response` came: freed at once
 * when the response has no body left to read (a body already received holds the connection no
 * longer), else held by the reply until its body is done, and by the exchange for its next hop.
 */
export function keepSlot(exchange: Exchange, response: Response, release: () => void): void {
  if (response.body === null || responseInfo(response).bodyReceived) {
    release();
    return;
  }
  exchange.releaseSlot = release;
  holdSlot(exchange.reply, release);
}

/**
 * Creates the queue layer over `queue`. Exchanges for `file:` and `data:` take no slot.
 *
 * @param queue The per-origin queue.
 * @param onWait Called with the origin's key when an exchange has to wait for a slot.
 * @param onFailed Called with an exchange whose send failed (no response), and the error.
 * @param onResponse Called with an exchange sent in a slot once its response came.
 */
export function queueLayer(
  queue: HostQueue,
  onWait?: (key: string, exchange: Exchange) => void,
  onFailed?: (exchange: Exchange, error: unknown) => void,
  onResponse?: (exchange: Exchange) => void,
): Layer {
  const keep = onResponse === undefined
    ? keepSlot
    : (exchange: Exchange, response: Response, release: () => void) => {
      keepSlot(exchange, response, release);
      onResponse(exchange);
    };
  return (next) => {
    /** Sends `exchange` holding a slot; releases it exactly once. */
    const send = (exchange: Exchange, release: () => void): Promise<Response> =>
      sendHolding(next, exchange, release, keep, onFailed);
    return (exchange) => {
      const { protocol, host } = exchange.url;
      if (protocol !== "http:" && protocol !== "https:") return next(exchange);
      const key = queueKey(protocol, host);
      // Hops of one reply go one after the other: the last one's response is done with.
      exchange.releaseSlot?.();
      // Neither waiting nor a free slot makes the exchange's signal: the reply stands in for it.
      const signal = signalIfMade(exchange);
      const aborted = signal === undefined ? replyAborted(exchange.reply) : signal.aborted;
      // The slot the request waited for before it entered the pipeline, or a free one: no
      // promise of its own before sending.
      const held = takeHeldSlot(exchange, key);
      if (aborted) held?.();
      const release = aborted ? undefined : held ?? queue.tryAcquire(key);
      if (release !== undefined) return send(exchange, release);
      // Made while network access was off (and passed down for the cache to answer): the
      // network gate below refuses it at once, which waiting for a slot would only delay.
      if (exchange.offline) return next(exchange);
      // A hop that waits has not started: its transfer timeout starts again when it is sent.
      monitorQueued(exchange.reply);
      const acquiring = queue.acquire(
        key,
        exchange.request.priority,
        signal ?? replyAbortSource(exchange.reply),
      );
      if (onWait !== undefined && queue.waiting(key) > 0) onWait(key, exchange);
      return acquiring.then((release) => send(exchange, release));
    };
  };
}
