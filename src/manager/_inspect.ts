/**
 * What `console.log` and `Deno.inspect` show of a manager: its replies under way and its
 * settings, rather than the empty `EventTarget` it would show as.
 *
 * @module
 */

import { _redactUrls } from "../_redact.ts";
import type { NetworkProxy } from "../proxy/network_proxy.ts";

/** The public state of a manager that is shown. */
export interface ShownManager {
  readonly runningReplies: readonly unknown[];
  readonly networkAccessible: string;
  readonly maxConnectionsPerHost: number;
  readonly redirectPolicy: string;
  readonly maxRedirects: number;
  readonly timeout: number;
  readonly transferTimeout: number;
  readonly cache: object | null;
  readonly cookieJar: object | null;
  readonly hstsStore: object | null;
  readonly proxy: NetworkProxy | undefined;
}

type Inspect = (value: unknown, options: unknown) => string;

/** A store by the name of its class (its contents are no setting), or `null` when off. */
function storeName(store: object | null): string | null {
  return store === null ? null : store.constructor?.name ?? "Object";
}

/**
 * The fields shown for `manager`: how many replies run, whether the network is accessible, the
 * per-host limit, redirect and timeout settings, the stores by class name, and the proxy by its
 * type and address (without credentials).
 */
export function shownManager(manager: ShownManager): Record<string, unknown> {
  const proxy = manager.proxy;
  return {
    runningReplies: manager.runningReplies.length,
    networkAccessible: manager.networkAccessible,
    maxConnectionsPerHost: manager.maxConnectionsPerHost,
    redirectPolicy: manager.redirectPolicy,
    maxRedirects: manager.maxRedirects,
    timeout: manager.timeout,
    transferTimeout: manager.transferTimeout,
    cache: storeName(manager.cache),
    cookieJar: storeName(manager.cookieJar),
    hstsStore: storeName(manager.hstsStore),
    proxy: proxy === undefined
      ? undefined
      : `${proxy.type}${proxy.url === undefined ? "" : ` ${_redactUrls(proxy.url)}`}`,
  };
}

/** Makes `console.log` and `Deno.inspect` show the managers of `prototype` by their state. */
export function inspectManagers(prototype: object): void {
  Object.defineProperty(prototype, Symbol.for("Deno.customInspect"), {
    value(this: ShownManager, inspect: Inspect, options: unknown): string {
      return `NetworkAccessManager ${inspect(shownManager(this), options)}`;
    },
    configurable: true,
  });
}
