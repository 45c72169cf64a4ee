/**
 * The in-memory cookie jar, a manager's default.
 *
 * @module
 */

import type { CookieJar, CookieJarOptions, NetworkCookieInit } from "./cookie_jar.ts";
import type { NetworkCookie } from "./network_cookie.ts";
import type { _CookieEngine } from "./_cookie_engine.ts";
import type { _StoredCookie, _StoreLimits } from "./_cookie_store.ts";
import { _resolveLimits, _toUrl } from "./_jar_args.ts";
import { _loadEngines } from "./_load_engines.ts";

/**
 * Options of {@linkcode MemoryCookieJar}.
 *
 * @example Cookies expiring by the jar's clock
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryCookieJar, type MemoryCookieJarOptions } from "@netaccess/core";
 *
 * let now = Date.parse("2030-01-01T00:00:00Z");
 * const options: MemoryCookieJarOptions = { clock: () => now, maxCookies: 500 };
 * const jar = new MemoryCookieJar(options);
 * await jar.setCookiesFromUrl(["session=abc; Max-Age=60"], "https://example.com/");
 * assert.equal((await jar.allCookies()).length, 1);
 * now += 61_000;
 * assert.deepEqual(await jar.allCookies(), []); // expired a second ago
 * ```
 */
export type MemoryCookieJarOptions = CookieJarOptions;

/**
 * Whether `jar` is a {@linkcode MemoryCookieJar} that never stored a cookie: it has none for
 * any URL, and a lookup can be skipped.
 */
export let jarNeverStored: (jar: CookieJar) => boolean;

/**
 * The `Cookie` header `jar` sends to `url`, written from its records with no cookie object
 * made, when `jar` is a {@linkcode MemoryCookieJar} whose store is loaded (`null` for no
 * cookie); `undefined` otherwise, when the caller asks `cookiesForUrl`.
 */
export let jarCookieHeader: (
  jar: CookieJar,
  url: URL,
) => string | null | Promise<string | null> | undefined;

/**
 * A {@linkcode CookieJar} in memory, for one process and its lifetime; the default jar of a
 * manager. Cookies follow RFC 6265bis as browsers apply it, through tough-cookie: the public
 * suffix list (no cookie for `co.uk`), host-only cookies, path rules, `Secure` only from and
 * to https or loopback http, `__Secure-` and `__Host-` prefixes, `Max-Age` over `Expires`,
 * expiry by the injected clock, size limits, and least-recently-used eviction per site and
 * in total.
 *
 * @example Cookies of a response sent back with the next request
 * ```ts
 * import assert from "node:assert/strict";
 * import { cookieHeader, MemoryCookieJar } from "@netaccess/core";
 *
 * const jar = new MemoryCookieJar({ maxCookies: 500 });
 * const stored = await jar.setCookiesFromUrl(
 *   ["theme=dark; Max-Age=3600", "bad=1; Domain=co.uk"],
 *   "https://shop.example.co.uk/",
 * );
 * assert.equal(stored, 1); // a public suffix cannot take cookies
 * const cookies = await jar.cookiesForUrl("https://shop.example.co.uk/cart");
 * assert.equal(cookieHeader(cookies), "theme=dark");
 * ```
 */
export class MemoryCookieJar implements CookieJar {
  readonly #limits: _StoreLimits;
  /** Made on the first call that may store a cookie; until then the jar is empty. */
  #engine: Promise<_CookieEngine> | undefined;

  static {
    // Only a jar whose lookup is this class's own: a subclass that overrides `cookiesForUrl`
    // (to filter or add cookies) is always asked.
    const own = (jar: CookieJar) => jar.cookiesForUrl === MemoryCookieJar.prototype.cookiesForUrl;
    jarNeverStored = (jar) => #engine in jar && jar.#engine === undefined && own(jar);
    jarCookieHeader = (jar, url) => {
      if (!(#ready in jar) || jar.#ready === undefined || !own(jar)) return undefined;
      return jar.#ready.engine.cookieHeaderNow(url, jar.#ready.find);
    };
  }
  /** The engine once loaded, and the lookup of its store, which answers at once. */
  #ready: {
    engine: _CookieEngine;
    find: (domains: readonly string[]) => readonly _StoredCookie[][];
  } | undefined;

  /**
   * Creates an empty jar.
   *
   * @param options Clock and limits.
   * @throws {RangeError} When a limit is a number that is not a positive integer.
   * @throws {TypeError} When a limit is not a number, or `clock` is not a function.
   */
  constructor(options?: MemoryCookieJarOptions) {
    this.#limits = _resolveLimits(options, "create cookie jar");
  }

  /** The engine, loaded with tough-cookie on first use (not at import, nor to read an empty jar). */
  #load(): Promise<_CookieEngine> {
    this.#engine ??= _loadEngines().then(
      (engines) => {
        const { engine, store } = engines._memoryEngine(this.#limits);
        this.#ready = { engine, find: (domains) => store.findNow(domains) };
        return engine;
      },
      (error) => {
        this.#engine = undefined;
        throw error;
      },
    );
    return this.#engine;
  }

  /**
   * The cookies to send to `url`, in `Cookie` header order (longer paths first, then earlier
   * creation); sets their last-access time.
   *
   * @param url The request URL.
   * @returns The cookies.
   * @throws {TypeError} When `url` is not a valid URL.
   */
  cookiesForUrl(url: string | URL): Promise<NetworkCookie[]> {
    const ready = this.#ready;
    if (ready !== undefined) {
      try {
        return Promise.resolve(ready.engine.cookiesForUrlNow(url, ready.find));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    // A jar that never stored a cookie has nothing for any valid URL (and no engine loaded).
    if (this.#engine === undefined) {
      if (url instanceof URL) return Promise.resolve([]);
      try {
        _toUrl(url, "get cookies");
      } catch (error) {
        return Promise.reject(error);
      }
      return Promise.resolve([]);
    }
    return this.#engine.then((engine) => engine.cookiesForUrl(url));
  }

  /**
   * Stores the cookies of `Set-Cookie` header values received from `url`.
   *
   * @param setCookieHeaders The `Set-Cookie` values, one cookie each.
   * @param url The response URL.
   * @returns How many cookies were stored.
   * @throws {TypeError} When `url` is not a valid URL or a value is not a string.
   */
  async setCookiesFromUrl(setCookieHeaders: readonly string[], url: string | URL): Promise<number> {
    return await (await this.#load()).setCookiesFromUrl(setCookieHeaders, url);
  }

  /**
   * Adds a cookie, replacing one with the same domain, path and name.
   *
   * @param cookie The cookie.
   * @returns True when stored (false for an expired cookie, which removes the old one).
   * @throws {TypeError} When a field has the wrong type or form, or the cookie breaks a rule
   *   of the `__Secure-` and `__Host-` name prefixes.
   * @throws {RangeError} When a time (`expires`, `creationTime`, `lastAccessTime`) is a number out
   * of a Date's range (epoch milliseconds within ±8.64e15: not `Infinity`, `NaN` or `1e20`), or
   * `name` and `value` are longer than 4096 bytes together.
   */
  async insertCookie(cookie: NetworkCookieInit): Promise<boolean> {
    return await (await this.#load()).insertCookie(cookie);
  }

  /**
   * Replaces the cookie with the same domain, path and name, if any.
   *
   * @param cookie The cookie.
   * @returns True when a cookie was replaced.
   * @throws {TypeError} When a field has the wrong type or form, or the cookie breaks a rule
   *   of the `__Secure-` and `__Host-` name prefixes.
   * @throws {RangeError} When a time (`expires`, `creationTime`, `lastAccessTime`) is a number out
   * of a Date's range (epoch milliseconds within ±8.64e15: not `Infinity`, `NaN` or `1e20`), or
   * `name` and `value` are longer than 4096 bytes together.
   */
  async updateCookie(cookie: NetworkCookieInit): Promise<boolean> {
    return await (await this.#load()).updateCookie(cookie);
  }

  /**
   * Removes the cookie with the same domain, path and name.
   *
   * @param cookie Which cookie.
   * @returns True when a cookie was removed.
   * @throws {TypeError} When a field has the wrong type or form.
   */
  async deleteCookie(
    cookie: Pick<NetworkCookieInit, "name" | "domain" | "path">,
  ): Promise<boolean> {
    return await (await this.#load()).deleteCookie(cookie);
  }

  /**
   * Every cookie that has not expired, oldest first.
   *
   * @returns The cookies.
   */
  async allCookies(): Promise<NetworkCookie[]> {
    return this.#engine === undefined ? [] : await (await this.#engine).allCookies();
  }

  /**
   * Removes every cookie.
   *
   * @returns When done.
   */
  async clear(): Promise<void> {
    if (this.#engine !== undefined) await (await this.#engine).clear();
  }
}
