/**
 * What the manager's constructor and setters check options against: the names of its options,
 * and what a store option got instead of a store.
 *
 * @module
 */

import { describe } from "../_validation.ts";
import type { NetworkAccessManagerOptions } from "../manager_options.ts";

/**
 * What a store option got, with the mending of the likeliest mistakes: a store still opening
 * (`KvCache.open()` not awaited), a class where an instance belongs. `kind` ends the stores'
 * names (`Cache`: `KvCache`, `MemoryCache`).
 */
export function storeGot(value: unknown, kind: string): string {
  if (value instanceof Promise) return `, got a Promise: await Kv${kind}.open() before passing it`;
  if (typeof value === "function") {
    return `, got a function: pass an instance, such as new Memory${kind}()`;
  }
  return `, got ${describe(value)}`;
}

/**
 * Checks a store option: `null` (off) or an object with the store's `method`. `type` is what it
 * must be, with its article (`a NetworkCache`), and `kind` ends the stores' names (see
 * {@linkcode storeGot}).
 *
 * @returns The value, checked.
 * @throws {TypeError} Naming the option, what it must be and what it got.
 */
export function checkStore<T>(
  what: string,
  name: string,
  value: T,
  method: string,
  type: string,
  kind: string,
): T {
  if (
    value !== null &&
    (typeof value !== "object" || typeof (value as Record<string, unknown>)[method] !== "function")
  ) {
    throw new TypeError(`${what}: '${name}' must be ${type} or null${storeGot(value, kind)}`);
  }
  return value;
}

/** The names of the manager's options (the type says every one is here). */
export const MANAGER_OPTIONS: readonly string[] = Object.keys(
  {
    redirectPolicy: 1,
    maxRedirects: 1,
    transferTimeout: 1,
    timeout: 1,
    maxConnectionsPerHost: 1,
    readBufferSize: 1,
    decompressionGuard: 1,
    maxBodySize: 1,
    layers: 1,
    cache: 1,
    cacheLoadControl: 1,
    cookieJar: 1,
    hstsStore: 1,
    proxy: 1,
    proxyFactory: 1,
    caCerts: 1,
    clientCertificate: 1,
    clientCertificates: 1,
    networkAccessible: 1,
    requestPermissions: 1,
    authenticator: 1,
    redirectVerifier: 1,
    clock: 1,
    transport: 1,
    retry: 1,
  } satisfies Record<keyof NetworkAccessManagerOptions, 1>,
);
