/**
 * The interface every cookie jar implements, and the options the jars share.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import type { CookieSameSite, NetworkCookie } from "./network_cookie.ts";

/**
 * A cookie to insert with {@linkcode CookieJar.insertCookie}: a {@linkcode NetworkCookie}
 * whose fields other than `name`, `value` and `domain` may be left out.
 *
 * @example Adding a domain cookie by hand
 * ```ts
 * import assert from "node:assert/strict";
 * import { cookieHeader, MemoryCookieJar, type NetworkCookieInit } from "@netaccess/core";
 *
 * const jar = new MemoryCookieJar();
 * const cookie: NetworkCookieInit = { name: "lang", value: "en", domain: ".example.com" };
 * assert.equal(await jar.insertCookie(cookie), true);
 * assert.equal(cookieHeader(await jar.cookiesForUrl("https://docs.example.com/")), "lang=en");
 * assert.equal(cookieHeader(await jar.cookiesForUrl("https://example.org/")), null);
 * ```
 */
export interface NetworkCookieInit {
  /** The name; may be empty (a nameless cookie). */
  name: string;
  /** The value. */
  value: string;
  /**
   * The domain. A leading dot (`.example.com`) makes a domain cookie, sent to subdomains too,
   * unless `hostOnly` says otherwise. A host name (no scheme, port or path); a domain cookie's
   * may not be a public suffix.
   */
  domain: string;
  /**
   * The path, starting with `/`.
   *
   * @default {"/"}
   */
  path?: string | undefined;
  /**
   * Expiry in epoch milliseconds (what `Date.now()` gives, not seconds), or null for a session
   * cookie.
   *
   * @default {null}
   */
  expires?: number | null | undefined;
  /**
   * Sent only over secure connections.
   *
   * @default {false}
   */
  secure?: boolean | undefined;
  /**
   * Marked `HttpOnly`.
   *
   * @default {false}
   */
  httpOnly?: boolean | undefined;
  /** The `SameSite` attribute. */
  sameSite?: CookieSameSite | undefined;
  /**
   * Sent only to `domain` itself.
   *
   * @default {true, or false when `domain` starts with a dot}
   */
  hostOnly?: boolean | undefined;
  /**
   * Creation time in epoch milliseconds.
   *
   * @default {the jar's clock}
   */
  creationTime?: number | undefined;
  /**
   * Last access time in epoch milliseconds.
   *
   * @default {the creation time}
   */
  lastAccessTime?: number | undefined;
}

/**
 * A cookie jar: where the cookie layer of a manager takes the cookies for a request and puts
 * the cookies of a response, modelled on Qt's `QNetworkCookieJar`. Every method is async.
 * Cookies follow RFC 6265bis as current browsers apply it.
 *
 * @example One request and its response, by hand
 * ```ts
 * import assert from "node:assert/strict";
 * import { cookieHeader, type CookieJar, MemoryCookieJar } from "@netaccess/core";
 *
 * const jar: CookieJar = new MemoryCookieJar();
 * const url = "https://example.com/account";
 * await jar.setCookiesFromUrl(["session=abc; Secure; HttpOnly; SameSite=Lax"], url);
 * const header = cookieHeader(await jar.cookiesForUrl(url));
 * assert.equal(header, "session=abc");
 * ```
 */
export interface CookieJar {
  /**
   * The cookies to send to `url`, in `Cookie` header order (longer paths first, then earlier
   * creation); marks them as used for the least-recently-used eviction. Expired cookies are
   * removed and never returned.
   *
   * @param url The request URL (http, https, ws or wss; other schemes get no cookies).
   * @returns The cookies, possibly none.
   * @throws {TypeError} When `url` is not a valid URL.
   */
  cookiesForUrl(url: string | URL): Promise<NetworkCookie[]>;
  /**
   * Stores the cookies of a response's `Set-Cookie` header lines received from `url`, by
   * the rules of RFC 6265bis; a line the rules refuse is skipped.
   *
   * @param setCookieHeaders The `Set-Cookie` header values, one cookie each.
   * @param url The URL of the response.
   * @returns How many cookies were stored (created or replaced).
   * @throws {TypeError} When `url` is not a valid URL or a header is not a string.
   */
  setCookiesFromUrl(setCookieHeaders: readonly string[], url: string | URL): Promise<number>;
  /**
   * Adds a cookie, replacing one with the same domain, path and name. An expired cookie
   * removes that cookie instead.
   *
   * @param cookie The cookie to add.
   * @returns True when the cookie was stored.
   * @throws {TypeError} When a field of `cookie` has the wrong type or form, or the cookie breaks
   *   a rule of the `__Secure-` and `__Host-` name prefixes.
   * @throws {RangeError} When a time (`expires`, `creationTime`, `lastAccessTime`) is a number out
   * of a Date's range (epoch milliseconds within ±8.64e15: not `Infinity`, `NaN` or `1e20`), or
   * `name` and `value` are longer than 4096 bytes together.
   */
  insertCookie(cookie: NetworkCookieInit): Promise<boolean>;
  /**
   * Replaces the cookie with the same domain, path and name, if there is one.
   *
   * @param cookie The new form of the cookie.
   * @returns True when a cookie was replaced.
   * @throws {TypeError} When a field of `cookie` has the wrong type or form, or the cookie breaks
   *   a rule of the `__Secure-` and `__Host-` name prefixes.
   * @throws {RangeError} When a time (`expires`, `creationTime`, `lastAccessTime`) is a number out
   * of a Date's range (epoch milliseconds within ±8.64e15: not `Infinity`, `NaN` or `1e20`), or
   * `name` and `value` are longer than 4096 bytes together.
   */
  updateCookie(cookie: NetworkCookieInit): Promise<boolean>;
  /**
   * Removes the cookie with the same domain, path and name.
   *
   * @param cookie The cookie to remove (only `domain`, `path` and `name` count).
   * @returns True when a cookie was removed.
   * @throws {TypeError} When a field of `cookie` has the wrong type or form (a flag, `secure`,
   * `httpOnly` or `hostOnly`, that is no boolean included).
   */
  deleteCookie(cookie: Pick<NetworkCookieInit, "name" | "domain" | "path">): Promise<boolean>;
  /**
   * Every cookie the jar holds that has not expired, oldest first.
   *
   * @returns The cookies.
   */
  allCookies(): Promise<NetworkCookie[]>;
  /** Removes every cookie. */
  clear(): Promise<void>;
}

/**
 * Options shared by {@linkcode MemoryCookieJar} and {@linkcode KvCookieJar}.
 *
 * @example The same limits for a jar in memory and one in Deno KV
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CookieJarOptions, KvCookieJar, MemoryCookieJar } from "@netaccess/core";
 *
 * const limits: CookieJarOptions = { maxCookiesPerDomain: 2, maxCookies: 1000 };
 * await using kvJar = await KvCookieJar.open({ ...limits, path: ":memory:" });
 * for (const jar of [new MemoryCookieJar(limits), kvJar]) {
 *   await jar.setCookiesFromUrl(["a=1", "b=2", "c=3"], "https://example.com/");
 *   const names = (await jar.allCookies()).map((c) => c.name).sort();
 *   assert.deepEqual(names, ["b", "c"]); // "a" was evicted
 * }
 * ```
 */
export interface CookieJarOptions {
  /**
   * The source of the current time, for expiry, creation and last-access times.
   *
   * @default {Date.now}
   */
  clock?: Clock | undefined;
  /**
   * How many cookies one site (registrable domain, e.g. `example.co.uk`, subdomains included)
   * may hold; storing one more evicts that site's least recently used cookies (expired ones
   * first) down to 90 % of the limit (162 of 180).
   *
   * @default {180}
   */
  maxCookiesPerDomain?: number | undefined;
  /**
   * How many cookies the jar may hold; storing one more evicts the least recently used
   * (expired ones first) down to 90 % of the limit (2700 of 3000).
   *
   * @default {3000}
   */
  maxCookies?: number | undefined;
}
