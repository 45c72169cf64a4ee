/** Exchanges for driving one layer directly in tests. */

import { Exchange, type NetworkReply, NetworkRequest } from "../../mod.ts";

/** A bodiless GET exchange for `url`, reporting to `reply`, never aborted. */
export function getExchange(url: string, reply: NetworkReply): Exchange {
  return new Exchange({
    url: new URL(url),
    method: "GET",
    headers: new Headers(),
    body: null,
    request: new NetworkRequest(url),
    reply,
    signal: new AbortController().signal,
    monitor: { activity() {}, uploadProgress() {} },
  });
}
