/**
 * What the command line asks of a manager's state that the public class does not show: whether
 * an https origin speaks HTTP/2 on a route, as the manager's queue learns it, and when its
 * background work (a cache's revalidation) is done. Set by the manager class, which alone
 * reaches its state.
 *
 * @module
 */

import type { NetworkProxy } from "../proxy/network_proxy.ts";

/**
 * Whether the https origin of `url` speaks HTTP/2 on the route a request to it took (directly
 * when `proxy` is absent or `none`, else through its tunnel), as the manager's queue learns it
 * in one TLS handshake per origin and route (made now if it made none): `undefined` when the
 * handshake failed or was not made, and `null` (no promise) where the manager asks none: with a
 * `proxyFactory`, through a proxy that opens no tunnel, with a client certificate through a tunnel.
 */
export let originHttp2: (
  manager: object,
  url: URL,
  proxy?: NetworkProxy,
) => Promise<boolean | undefined> | null;

/** Sets {@linkcode originHttp2}: the manager class does, once. */
export function setOriginHttp2(get: typeof originHttp2): void {
  originHttp2 = get;
}

/**
 * Settles once the work of `manager` that outlives its replies (the cache's background
 * revalidations, those started meanwhile too) is done; it never rejects. Closing the manager
 * aborts that work instead.
 */
export let backgroundDone: (manager: object) => Promise<void>;

/** Sets {@linkcode backgroundDone}: the manager class does, once. */
export function setBackgroundDone(get: typeof backgroundDone): void {
  backgroundDone = get;
}
