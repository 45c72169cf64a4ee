/**
 * What the manager's constructor and setters check options against: the names of its options,
 * the check of each, and what a store option got instead of a store. A factory runs the same
 * checks on the options of the managers it will make, naming each option by its path
 * (`manager.timeout`).
 *
 * @module
 */

import { checkClock } from "../_clock.ts";
import {
  checkChoice,
  checkFunction,
  checkInteger,
  checkKeys,
  checkTimer,
  describe,
} from "../_validation.ts";
import type { NetworkCache } from "../cache/network_cache.ts";
import type { Clock } from "../clock.ts";
import type { CookieJar } from "../cookies/cookie_jar.ts";
import type { Handler, Layer } from "../exchange.ts";
import type { HstsStore } from "../hsts/hsts_store.ts";
import type { Authenticator } from "../layers/auth.ts";
import type { RedirectVerifier } from "../layers/redirect.ts";
import type { NetworkAccessManagerOptions } from "../manager_options.ts";
import { ACCESSIBILITIES, type NetworkAccessibility } from "../network_accessibility.ts";
import { type NetworkProxy, type ProxyFactory, validateProxy } from "../proxy/network_proxy.ts";
import { type CacheLoadControl, type RedirectPolicy, requestChoices } from "../request.ts";
import { checkedRetry, type RetryOptions } from "../retry_options.ts";
import {
  checkCaCerts,
  checkClientCertificate,
  checkClientCertificates,
  type ClientCertificate,
} from "../tls.ts";

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
 * Checks the value of one option and returns what the manager keeps of it (a checked copy where
 * the caller could change the object given). The message starts with `what` and names the
 * option `field`.
 */
type Check<T> = (what: string, field: string, value: unknown) => T;

function choice<T extends string>(allowed: readonly string[]): Check<T> {
  return (what, field, value) => {
    checkChoice(what, field, value, allowed, true);
    return value as T;
  };
}

function integer(min: number): Check<number> {
  return (what, field, value) => {
    checkInteger(what, field, value, min, true);
    return value as number;
  };
}

/** A delay in milliseconds that becomes a timer. */
const timer: Check<number> = (what, field, value) => {
  checkTimer(what, field, value, undefined, true);
  return value as number;
};

/** A function, or `undefined` (unset). */
function callback<T>(): Check<T | undefined> {
  return (what, field, value) => {
    checkFunction(what, field, value);
    return value as T | undefined;
  };
}

/** A store (`type` names its interface, `kind` ends its classes' names) with `method`, or `null`. */
function store<T>(type: string, kind: string, method: string): Check<T | null> {
  return (what, field, value) => {
    if (
      value !== null &&
      (typeof value !== "object" ||
        typeof (value as Record<string, unknown>)[method] !== "function")
    ) {
      throw new TypeError(`${what}: '${field}' must be ${type} or null${storeGot(value, kind)}`);
    }
    return value as T | null;
  };
}

/**
 * The check of every option, in the order the constructor runs them (the first option refused
 * is the one named).
 */
export const OPTION_CHECKS = {
  redirectPolicy: choice<RedirectPolicy>(requestChoices.redirectPolicy),
  maxRedirects: integer(0),
  transferTimeout: timer,
  timeout: timer,
  maxConnectionsPerHost: integer(1),
  readBufferSize: integer(0),
  decompressionGuard: integer(-1),
  maxBodySize: integer(0),
  transport: callback<Handler>(),
  cookieJar: store<CookieJar>("a CookieJar", "CookieJar", "cookiesForUrl"),
  cache: store<NetworkCache>("a NetworkCache", "Cache", "variants"),
  cacheLoadControl: choice<CacheLoadControl>(requestChoices.cacheLoadControl),
  hstsStore: store<HstsStore>("an HstsStore", "HstsStore", "learn"),
  proxy: (what: string, field: string, value: unknown): NetworkProxy | undefined =>
    value === undefined ? undefined : validateProxy(value, what, field),
  proxyFactory: callback<ProxyFactory>(),
  caCerts: (what: string, field: string, value: unknown): readonly string[] =>
    checkCaCerts(what, value, field),
  clientCertificate: (what: string, field: string, value: unknown): ClientCertificate =>
    checkClientCertificate(what, field, value),
  clientCertificates: (
    what: string,
    field: string,
    value: unknown,
  ): Map<string, ClientCertificate> => checkClientCertificates(what, value, field),
  clock: (what: string, field: string, value: unknown): Clock => checkClock(what, value, field),
  authenticator: callback<Authenticator>(),
  redirectVerifier: callback<RedirectVerifier>(),
  // A frozen copy: the object given stays the caller's (a factory gives one to each manager).
  retry: (what: string, field: string, value: unknown): RetryOptions | number | boolean =>
    checkedRetry(what, value as RetryOptions | number | boolean, true, field),
  layers: (what: string, field: string, value: unknown): Layer[] => {
    if (!Array.isArray(value)) {
      throw new TypeError(
        `${what}: '${field}' must be an array of functions, got ${describe(value)}`,
      );
    }
    for (let i = 0; i < value.length; i++) {
      if (typeof value[i] !== "function") {
        throw new TypeError(
          `${what}: '${field}[${i}]' must be a function, got ${describe(value[i])}`,
        );
      }
    }
    return value;
  },
  networkAccessible: (what: string, field: string, value: unknown): NetworkAccessibility => {
    const choice = value === true ? "accessible" : value === false ? "not-accessible" : value;
    checkChoice(what, field, choice, ACCESSIBILITIES, true);
    return choice as NetworkAccessibility;
  },
  requestPermissions: (what: string, field: string, value: unknown): boolean => {
    if (typeof value !== "boolean") {
      throw new TypeError(`${what}: '${field}' must be a boolean, got ${describe(value)}`);
    }
    return value;
  },
} satisfies Record<keyof NetworkAccessManagerOptions, Check<unknown>>;

/** The names of the manager's options: those {@linkcode OPTION_CHECKS} checks (its type says every one). */
export const MANAGER_OPTIONS: readonly string[] = Object.keys(OPTION_CHECKS);

/** Options as the checks returned them: each given one checked (and copied where it could change). */
export type CheckedOptions = {
  -readonly [K in keyof typeof OPTION_CHECKS]?: ReturnType<typeof OPTION_CHECKS[K]>;
};

/**
 * Checks the options of a manager without making one: every name is an option, every value
 * one the option takes. The message starts with `what` and names an option by its own name, or
 * under `path` (`manager`: `'manager.timeout' must be...`, `unknown option 'manager.timout'`).
 *
 * @returns The options given (`undefined` ones left out), checked.
 * @throws {TypeError} When an option is no option, has the wrong type or is not one of its
 * choices.
 * @throws {RangeError} When a numeric option is out of range.
 */
export function checkManagerOptions(
  what: string,
  options: NetworkAccessManagerOptions,
  path?: string,
): CheckedOptions {
  checkKeys(what, options, MANAGER_OPTIONS, path);
  const checked: Record<string, unknown> = {};
  for (const name in OPTION_CHECKS) {
    const value = options[name as keyof NetworkAccessManagerOptions];
    if (value === undefined) continue;
    const check: Check<unknown> = OPTION_CHECKS[name as keyof typeof OPTION_CHECKS];
    checked[name] = check(what, path === undefined ? name : `${path}.${name}`, value);
  }
  return checked as CheckedOptions;
}
