/**
 * Sending an exchange while it holds something its reply frees once the body is done (a queue
 * slot, a proxy's HTTP client): the hold is handed on when the response comes, and freed at once
 * when sending fails.
 *
 * @module
 */

import type { Exchange, Handler } from "../exchange.ts";

/**
 * Sends `exchange` with `send`, holding `release`: given to `keep` with the response, or called
 * at once when `send` throws or its promise rejects.
 *
 * @param send The handler that sends it.
 * @param exchange The exchange.
 * @param release Frees what the exchange holds; called exactly once, here or by `keep`'s holder.
 * @param keep Hands `release` on once the response came (to the reply, until its body is done).
 * @param failed Told of the error when `send`'s promise rejects (after `release`).
 * @returns The response of `send`.
 */
export function sendHolding(
  send: Handler,
  exchange: Exchange,
  release: () => void,
  keep: (exchange: Exchange, response: Response, release: () => void) => void,
  failed?: (exchange: Exchange, error: unknown) => void,
): Promise<Response> {
  let sending: Promise<Response>;
  try {
    sending = send(exchange);
  } catch (error) {
    release();
    return Promise.reject(error);
  }
  return sending.then((response) => {
    keep(exchange, response, release);
    return response;
  }, (error) => {
    release();
    failed?.(exchange, error);
    throw error;
  });
}
