/**
 * Cookies an insecure origin sets that would shadow a Secure cookie (RFC 6265bis "leave secure
 * cookies alone"), for tests that store the Secure one while the jar stores the other.
 */

import { strict as assert } from "node:assert";
import type { CookieJar } from "../../src/cookies/cookie_jar.ts";

/** The Secure cookie, set over https, and the insecure one, set over http: `[Set-Cookie, URL]`. */
export interface ShadowCase {
  name: string;
  secure: [string, string];
  insecure: [string, string];
}

/**
 * `id=secret; Secure` and `id=evil` with more attributes: of the same name, domain and path; at
 * a parent path; of a parent domain; of a subdomain.
 */
export const SHADOW_CASES: readonly ShadowCase[] = ([
  // [name, Secure cookie's attributes, its host, insecure cookie's attributes, its URL]
  ["of the same name, domain and path", "", "example.com", "", "example.com/"],
  ["at a parent path", "; Path=/", "example.com", "; Path=/app", "example.com/app/x"],
  ["of a parent domain", "; Domain=example.com", "www.example.com", "", "www.example.com/"],
  ["of a subdomain", "", "www.example.com", "; Domain=example.com", "example.com/"],
] as const).map(([name, secure, host, insecure, url]) => ({
  name,
  secure: [`id=secret; Secure${secure}`, `https://${host}/`],
  insecure: [`id=evil${insecure}`, `http://${url}`],
}));

/** Checks that `jar` holds the Secure cookie `id=secret` and no other. */
export async function assertSecureKept(jar: CookieJar): Promise<void> {
  const stored = (await jar.allCookies()).map((c) => [c.name, c.value, c.secure]);
  assert.deepEqual(stored, [["id", "secret", true]]);
}
