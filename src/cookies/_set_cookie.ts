/**
 * The `Set-Cookie` parser of RFC 6265bis section 5.6, where it differs from tough-cookie's:
 * nameless cookies, the 4096-byte name+value and 1024-byte attribute limits, control
 * characters, the last non-empty `Domain` winning,
 * `Max-Age` over `Expires`, and the 400-day cap on expiry.
 */

import { parseDate } from "tough-cookie";

/** The longest name plus value, in UTF-8 bytes. */
export const _MAX_NAME_VALUE_BYTES = 4096;
/** The longest attribute value, in UTF-8 bytes. */
export const _MAX_ATTRIBUTE_VALUE_BYTES = 1024;
/** The longest lifetime of a cookie, 400 days. */
export const _MAX_AGE_MS = 400 * 24 * 60 * 60 * 1000;
/** The latest time a Date can hold, in epoch ms (8.64e15, 100 million days after the epoch). */
export const _LATEST = 8.64e15;
/** The earliest time a Date can hold: the expiry of a cookie with `Max-Age=0`. */
export const _EARLIEST = -_LATEST;

/** A `Set-Cookie` line parsed into its name, value and the attributes that count. */
export interface _ParsedSetCookie {
  name: string;
  value: string;
  /** Expiry in epoch ms, or null for a session cookie. */
  expires: number | null;
  /** The last `Domain` attribute (leading dot removed, lower case); null when absent. */
  domain: string | null;
  /** The last `Path` attribute when it starts with `/`; null means the default path. */
  path: string | null;
  secure: boolean;
  httpOnly: boolean;
  sameSite: "strict" | "lax" | "none" | undefined;
  /** Whether the line has a `Partitioned` attribute (CHIPS). */
  partitioned: boolean;
}

// CTLs other than HTAB: %x00-08 / %x0A-1F / %x7F.
// deno-lint-ignore no-control-regex
const FORBIDDEN_CONTROL = /[\x00-\x08\x0A-\x1F\x7F]/;
const ENCODER = new TextEncoder();

/** The length of `text` in UTF-8 bytes. */
export function _byteLength(text: string): number {
  // ASCII fast path: one byte per code unit.
  // deno-lint-ignore no-control-regex
  return /^[\x00-\x7F]*$/.test(text) ? text.length : ENCODER.encode(text).length;
}

function trimWsp(text: string): string {
  return text.replace(/^[ \t]+|[ \t]+$/g, "");
}

/**
 * Parses one `Set-Cookie` header value received at time `now`.
 *
 * @returns The cookie, or null when the line must be ignored entirely.
 */
export function _parseSetCookie(line: string, now: number): _ParsedSetCookie | null {
  if (FORBIDDEN_CONTROL.test(line)) return null;
  const semicolon = line.indexOf(";");
  const pair = semicolon === -1 ? line : line.slice(0, semicolon);
  const equals = pair.indexOf("=");
  const name = equals === -1 ? "" : trimWsp(pair.slice(0, equals));
  const value = trimWsp(equals === -1 ? pair : pair.slice(equals + 1));
  if (name === "" && value === "") return null;
  if (_byteLength(name) + _byteLength(value) > _MAX_NAME_VALUE_BYTES) return null;

  const cookie: _ParsedSetCookie = {
    name,
    value,
    expires: null,
    domain: null,
    path: null,
    secure: false,
    httpOnly: false,
    sameSite: undefined,
    partitioned: false,
  };
  let maxAgeExpiry: number | null = null;
  let expiresExpiry: number | null = null;
  const attributes = semicolon === -1 ? [] : line.slice(semicolon + 1).split(";");
  for (const attribute of attributes) {
    const eq = attribute.indexOf("=");
    const attributeName = trimWsp(eq === -1 ? attribute : attribute.slice(0, eq)).toLowerCase();
    const attributeValue = eq === -1 ? "" : trimWsp(attribute.slice(eq + 1));
    if (_byteLength(attributeValue) > _MAX_ATTRIBUTE_VALUE_BYTES) continue;
    switch (attributeName) {
      case "expires": {
        const date = parseDate(attributeValue);
        if (date !== undefined) expiresExpiry = date.getTime();
        break;
      }
      case "max-age": {
        if (!/^-?[0-9]+$/.test(attributeValue)) break;
        const seconds = Number(attributeValue);
        maxAgeExpiry = seconds <= 0 ? _EARLIEST : now + Math.min(seconds * 1000, _MAX_AGE_MS);
        break;
      }
      case "domain":
        // An empty value is ignored; of the others, the last wins.
        if (attributeValue === "") break;
        cookie.domain = attributeValue.replace(/^\./, "").toLowerCase();
        break;
      case "path":
        cookie.path = attributeValue.startsWith("/") ? attributeValue : null;
        break;
      case "secure":
        cookie.secure = true;
        break;
      case "httponly":
        cookie.httpOnly = true;
        break;
      case "partitioned":
        cookie.partitioned = true;
        break;
      case "samesite": {
        const v = attributeValue.toLowerCase();
        cookie.sameSite = v === "strict" || v === "lax" || v === "none" ? v : undefined;
        break;
      }
    }
  }
  const expiry = maxAgeExpiry ?? expiresExpiry;
  cookie.expires = expiry === null ? null : Math.min(expiry, now + _MAX_AGE_MS);
  return cookie;
}

/**
 * The cookie-name prefix rule of RFC 6265bis a cookie breaks, as the field and what it must be,
 * or null when it breaks none: `__Secure-` needs `Secure`; `__Host-` needs `Secure`, no
 * `Domain` (host-only) and path `/`; both case-insensitive; a nameless cookie may not have a
 * value that starts with either. `path` is null for a default path (never `/` by itself).
 */
export function _prefixBreach(
  name: string,
  value: string,
  secure: boolean,
  hostOnly: boolean,
  path: string | null,
): { field: "value" | "secure" | "hostOnly" | "path"; must: string } | null {
  if (name === "") {
    const lowerValue = value.toLowerCase();
    return lowerValue.startsWith("__secure-") || lowerValue.startsWith("__host-")
      ? { field: "value", must: "free of a leading '__Secure-' or '__Host-' when 'name' is empty" }
      : null;
  }
  const lowerName = name.toLowerCase();
  const host = lowerName.startsWith("__host-");
  if (!host && !lowerName.startsWith("__secure-")) return null;
  const prefix = host ? "'__Host-'" : "'__Secure-'";
  if (!secure) return { field: "secure", must: `true for a name starting with ${prefix}` };
  if (host && !hostOnly) {
    return { field: "hostOnly", must: `true for a name starting with ${prefix}` };
  }
  if (host && path !== "/") {
    return { field: "path", must: `"/" for a name starting with ${prefix}` };
  }
  return null;
}

/** Whether the cookie-name prefix rules of RFC 6265bis allow a `Set-Cookie` cookie. */
export function _prefixAllowed(cookie: _ParsedSetCookie, hostOnly: boolean): boolean {
  return _prefixBreach(cookie.name, cookie.value, cookie.secure, hostOnly, cookie.path) === null;
}
