/**
 * HTTP Basic authentication (RFC 7617): the `Authorization` value for a user name and
 * password, encoded as UTF-8.
 *
 * @module
 */

import type { AuthCredentials } from "./auth_credentials.ts";

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * Builds the `Authorization` (or `Proxy-Authorization`) value of the Basic scheme:
 * `Basic base64(user-id ":" password)`, the text encoded as UTF-8 (the only `charset` RFC 7617
 * defines, and what servers that send none expect today).
 *
 * @param credentials The user name and password.
 * @returns The header value, starting with `Basic `.
 * @throws {TypeError} When the user name contains a colon, or either part a control character.
 */
export function basicAuthorization(credentials: AuthCredentials): string {
  const { username, password } = credentials;
  // Credentials stay out of messages: the user name is not echoed.
  if (username.includes(":")) {
    throw new TypeError(
      "Cannot use Basic authentication: 'username' must not contain ':' (RFC 7617 user-id)",
    );
  }
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(username) || /[\x00-\x1f\x7f]/.test(password)) {
    throw new TypeError(
      "Cannot use Basic authentication: 'username' and 'password' must not contain control characters",
    );
  }
  return `Basic ${base64(new TextEncoder().encode(`${username}:${password}`))}`;
}
