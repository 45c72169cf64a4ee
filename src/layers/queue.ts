/**
 * The queue layer: takes a slot of the per-origin queue for every network exchange and
 * releases it exactly once, when the response body is done, fails or is cancelled.
 *
 * @module
 */

import { _onBodyEnd, type Exchange, type Layer, responseInfo } from "../exchange.ts";
import type { HostQueue } from "../host_queue.ts";

/**
 * Creates the queue layer over `queue`. Exchanges for `file:` and `data:` take no slot.
 *
 * @param queue The per-origin queue.
 * @param onWait Called with the origin's key when an exchange has to wait for a slot.
 */
export function _queueLayer(
  queue: HostQueue,
  onWait?: (key: string, exchange: Exchange) => void,
): Layer {
  return (next) => async (exchange) => {
    const { protocol, host } = exchange.url;
    if (protocol !== "http:" && protocol !== "https:") return await next(exchange);
    const key = `${protocol}//${host}`;
    const acquiring = queue.acquire(key, exchange.request.priority, exchange.signal);
    if (onWait !== undefined && queue.waiting(key) > 0) onWait(key, exchange);
    const release = await acquiring;
    let response: Response;
    try {
      response = await next(exchange);
    } catch (error) {
      release();
      throw error;
    }
    // A body already received holds the connection no longer.
    if (responseInfo(response).bodyReceived) {
      release();
      return response;
    }
    return _onBodyEnd(response, exchange.signal, release);
  };
}
