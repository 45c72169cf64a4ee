/**
 * The queue layer: takes a slot of the per-origin queue for every network exchange and
 * releases it exactly once, when the response body is done, fails or is cancelled.
 *
 * @module
 */

import { _onBodyEnd, type Layer, responseInfo } from "../exchange.ts";
import type { HostQueue } from "../host_queue.ts";

/** Creates the queue layer over `queue`. Exchanges for `file:` and `data:` take no slot. */
export function _queueLayer(queue: HostQueue): Layer {
  return (next) => async (exchange) => {
    const { protocol, host } = exchange.url;
    if (protocol !== "http:" && protocol !== "https:") return await next(exchange);
    const key = `${protocol}//${host}`;
    const release = await queue.acquire(key, exchange.request.priority, exchange.signal);
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
