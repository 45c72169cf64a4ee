/**
 * What the cache layer did for a reply, where the command line's `--verbose` reads it: how it
 * answered without the network, and which exchanges are its background revalidations.
 *
 * @module
 */

import type { Exchange } from "../exchange.ts";
import type { NetworkReply } from "../reply.ts";

/**
 * How the cache answered a request without the network: a `"fresh"` stored response; a stale
 * one the request's `max-stale` accepts (`"max-stale"`), one its `stale-while-revalidate`
 * serves while it is revalidated in the background, or one its `stale-if-error` serves for a
 * failure or a 500-504; any stored one, fresh or not, under the `"prefer-cache"` or
 * `"always-cache"` load control (`"load-control"`); or a `504 Gateway Timeout` of its own for
 * `only-if-cached` with nothing usable stored (`"gateway-timeout"`).
 */
export type _CacheServed =
  | "fresh"
  | "max-stale"
  | "stale-while-revalidate"
  | "stale-if-error"
  | "load-control"
  | "gateway-timeout";

/** Whether anything reads these records: until then, the cache layer records nothing. */
let recording = false;

/** Starts recording how the cache answers and which exchanges revalidate (the CLI does). */
export function _recordCacheServed(): void {
  recording = true;
}

/** How each reply's last response from the cache was served. */
const served = new WeakMap<NetworkReply, _CacheServed>();
/** The exchanges that revalidate a stale response already served. */
const revalidations = new WeakSet<Exchange>();

/**
 * Records how the cache answered `exchange` (its reply's last such answer wins).
 *
 * @param exchange The exchange the cache answered.
 * @param how How.
 */
export function _noteCacheServed(exchange: Exchange, how: _CacheServed): void {
  if (recording) served.set(exchange.reply, how);
}

/**
 * How the cache last answered one of `reply`'s requests without the network, if it did.
 *
 * @param reply The reply.
 * @returns How, or `undefined`.
 */
export function _cacheServed(reply: NetworkReply): _CacheServed | undefined {
  return served.get(reply);
}

/**
 * Marks `exchange` as the background revalidation of a stale response already served.
 *
 * @param exchange The exchange the cache sends on its own.
 */
export function _noteRevalidation(exchange: Exchange): void {
  if (recording) revalidations.add(exchange);
}

/**
 * Whether `exchange` is the cache's background revalidation (sent for the reply's request but
 * after its response was served: nothing of the reply's own).
 *
 * @param exchange An exchange a network layer sees.
 * @returns `true` for a background revalidation.
 */
export function _isRevalidation(exchange: Exchange): boolean {
  return revalidations.has(exchange);
}
