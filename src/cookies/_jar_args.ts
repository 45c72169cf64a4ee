/**
 * The checks of the cookie jars' options and arguments, apart from the cookie engine so that a
 * jar is made, and an empty one read, without loading tough-cookie and the public suffix list.
 */

import type { Clock } from "../clock.ts";
import { checkClock } from "../_clock.ts";
import type { CookieJarOptions } from "./cookie_jar.ts";
import type { _StoreLimits } from "./_cookie_store.ts";
import { checkInteger, checkKeys, describe } from "../_validation.ts";

const DEFAULT_MAX_PER_DOMAIN = 180;
const DEFAULT_MAX_COOKIES = 3000;

/** The names of the options every jar has (the type says every one is here). */
export const _JAR_OPTIONS: readonly string[] = Object.keys(
  { clock: 1, maxCookiesPerDomain: 1, maxCookies: 1 } satisfies Record<keyof CookieJarOptions, 1>,
);

/**
 * Checks the shared jar options and fills in the defaults; `known` names every option of the
 * jar (the shared ones by default).
 */
export function _resolveLimits(
  options: CookieJarOptions | undefined,
  what: string,
  known: readonly string[] = _JAR_OPTIONS,
): _StoreLimits {
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    throw new TypeError(`Cannot ${what}: options must be an object, got ${describe(options)}`);
  }
  if (options !== undefined) checkKeys(`Cannot ${what}`, options, known);
  const clock = checkClock(`Cannot ${what}`, options?.clock);
  const positive = (field: string, value: unknown, fallback: number): number => {
    if (value === undefined) return fallback;
    checkInteger(`Cannot ${what}`, field, value, 1);
    return value as number;
  };
  return {
    clock: clock as Clock,
    maxCookiesPerDomain: positive(
      "maxCookiesPerDomain",
      options?.maxCookiesPerDomain,
      DEFAULT_MAX_PER_DOMAIN,
    ),
    maxCookies: positive("maxCookies", options?.maxCookies, DEFAULT_MAX_COOKIES),
  };
}

/** The URL argument of a jar method, or a TypeError naming it. */
export function _toUrl(url: unknown, what: string): URL {
  if (url instanceof URL) return url;
  if (typeof url === "string") {
    try {
      return new URL(url);
    } catch {
      // reported below
    }
  }
  throw new TypeError(`Cannot ${what}: 'url' must be a valid URL, got ${describe(url)}`);
}
