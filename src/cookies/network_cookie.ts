/**
 * The plain-data cookie the cookie jars store and return, and the `Cookie` header it makes.
 *
 * @module
 */

/**
 * The `SameSite` attribute of a cookie, in lower case; `undefined` when absent or unknown.
 *
 * @example Setting and reading `SameSite`
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CookieSameSite, MemoryCookieJar } from "@netaccess/core";
 *
 * const jar = new MemoryCookieJar();
 * const sameSite: CookieSameSite = "strict";
 * await jar.insertCookie({ name: "csrf", value: "t0k3n", domain: "example.com", sameSite });
 * await jar.setCookiesFromUrl(["theme=dark; SameSite=Lax"], "https://example.com/");
 * const cookies = await jar.allCookies();
 * assert.deepEqual(cookies.map((c) => [c.name, c.sameSite]), [
 *   ["csrf", "strict"],
 *   ["theme", "lax"],
 * ]);
 * ```
 */
export type CookieSameSite = "strict" | "lax" | "none";

/**
 * A cookie as a cookie jar stores it: plain data (structured-cloneable, JSON-safe), the same
 * in memory and in Deno KV. A cookie is identified by `domain`, `path` and `name`.
 *
 * @example Reading the cookies a jar holds
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryCookieJar, type NetworkCookie } from "@netaccess/core";
 *
 * const jar = new MemoryCookieJar();
 * await jar.setCookiesFromUrl(["id=42; Path=/; HttpOnly"], "https://example.com/login");
 * const cookies: NetworkCookie[] = await jar.allCookies();
 * assert.equal(cookies[0]?.name, "id");
 * assert.equal(cookies[0]?.hostOnly, true);
 * ```
 */
export interface NetworkCookie {
  /** The name; empty for a nameless cookie (`Set-Cookie: foo`), which is sent as its value. */
  name: string;
  /** The value. */
  value: string;
  /** The domain, lower case, punycode, without a leading dot. */
  domain: string;
  /** The path, starting with `/`. */
  path: string;
  /** When the cookie expires, in milliseconds since the Unix epoch; null for a session cookie. */
  expires: number | null;
  /** Sent only over https (and over http to loopback hosts). */
  secure: boolean;
  /** Not for scripts; kept and reported, the jar itself is an HTTP API. */
  httpOnly: boolean;
  /** The `SameSite` attribute, or `undefined` when absent. */
  sameSite?: CookieSameSite;
  /** Sent only to `domain` itself (no `Domain` attribute), not to its subdomains. */
  hostOnly: boolean;
  /** When the cookie was first stored, in epoch milliseconds (kept when it is replaced). */
  creationTime: number;
  /** When the cookie was last stored or sent, in epoch milliseconds. */
  lastAccessTime: number;
}

/**
 * Formats the value of a `Cookie` request header from cookies in the order given (the order
 * of {@linkcode CookieJar.cookiesForUrl}): `name=value` pairs joined by `"; "`, a nameless
 * cookie as its value alone.
 *
 * @param cookies The cookies to send, already in `Cookie` header order.
 * @returns The header value, or null when there is no cookie to send (send no header).
 *
 * @example Building the Cookie header for a request
 * ```ts
 * import assert from "node:assert/strict";
 * import { cookieHeader, MemoryCookieJar } from "@netaccess/core";
 *
 * const jar = new MemoryCookieJar();
 * await jar.setCookiesFromUrl(["a=1", "b=2; Path=/docs", "nameless"], "https://example.com/");
 * const header = cookieHeader(await jar.cookiesForUrl("https://example.com/docs/x"));
 * assert.equal(header, "b=2; a=1; nameless");
 * ```
 */
export function cookieHeader(cookies: readonly NetworkCookie[]): string | null {
  if (cookies.length === 0) return null;
  return cookies.map((c) => c.name === "" ? c.value : `${c.name}=${c.value}`).join("; ");
}
