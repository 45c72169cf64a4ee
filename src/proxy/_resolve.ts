/** The proxy one request goes through: explicit, from a factory, or the system's. */

import { describe } from "../_validation.ts";
import {
  type NetworkProxy,
  type ProxyFactory,
  type ProxyQuery,
  validateProxy,
} from "./network_proxy.ts";
import { isSystemProxyFactory } from "./_system_factories.ts";
import { _withoutUserinfo } from "../_redact.ts";
import { systemProxyFactory } from "./system_proxy.ts";

/** Options of {@linkcode resolveProxy}. */
export interface ResolveProxyOptions {
  /** An explicit proxy; wins over `proxyFactory`. */
  proxy?: NetworkProxy;
  /** Consulted when there is no explicit proxy; the system factory when absent too. */
  proxyFactory?: ProxyFactory;
  /** The environment the `"system"` proxy reads; the process environment when absent. */
  env?: Record<string, string | undefined>;
}

/**
 * The proxy one request goes through: the explicit `proxy` when there is one (Qt's rule),
 * else the first usable entry of `proxyFactory(query)`, else the system proxy. `"system"`
 * expands to {@linkcode systemProxyFactory}; an empty list means `{ type: "none" }`.
 * Unusable entries of a factory's list are skipped; when none is usable, the first one's
 * validation error is thrown.
 *
 * @returns A normalized proxy, never of type `"system"`.
 * @throws {TypeError} When the explicit proxy, or every listed proxy, is invalid, or the
 * factory does not return an array.
 * @throws {Error} When the factory throws: a message naming it and the request's URL, the
 * factory's error as its `cause`.
 */
export function resolveProxy(query: ProxyQuery, options: ResolveProxyOptions = {}): NetworkProxy {
  const system = (): NetworkProxy => systemProxyFactory(options.env)(query)[0] ?? { type: "none" };
  if (options.proxy !== undefined) {
    const proxy = validateProxy(options.proxy, "Cannot use proxy");
    return proxy.type === "system" ? system() : proxy;
  }
  if (options.proxyFactory === undefined) return system();
  let list: unknown;
  try {
    list = options.proxyFactory(query);
  } catch (error) {
    // The system's factory says itself which variable is wrong.
    if (isSystemProxyFactory(options.proxyFactory)) throw error;
    const url = _withoutUserinfo(query.url);
    throw new Error(`The proxy factory failed for ${url.href}: ${String(error)}`, {
      cause: error,
    });
  }
  if (!Array.isArray(list)) {
    throw new TypeError(
      `Cannot use proxy: 'proxyFactory' must return an array, got ${describe(list)}`,
    );
  }
  let firstError: unknown;
  for (const entry of list) {
    try {
      const proxy = validateProxy(entry, "Cannot use proxy");
      return proxy.type === "system" ? system() : proxy;
    } catch (error) {
      firstError ??= error;
    }
  }
  if (firstError !== undefined) throw firstError;
  return { type: "none" };
}
