/** The `Strict-Transport-Security` header parser (RFC 6797 section 6.1). */

import { TCHAR } from "../_http_token.ts";

/** The longest lifetime a policy may have, in seconds (about 68 years); larger values are capped. */
const MAX_AGE_CAP = 2_147_483_648;

/** The directives of a valid `Strict-Transport-Security` header. */
export interface StsDirectives {
  /** The `max-age` directive, in seconds. */
  maxAge: number;
  /** Whether `includeSubDomains` was present. */
  includeSubDomains: boolean;
}

/**
 * Parses a `Strict-Transport-Security` value strictly by RFC 6797 section 6.1: directives
 * separated by `;`, names case-insensitive, values tokens or quoted strings, each directive at
 * most once, `max-age` required (digits only), `includeSubDomains` without a value, unknown
 * directives ignored.
 *
 * @param value The header's value.
 * @returns The directives, or `null` when the value is malformed.
 */
export function parseStrictTransportSecurity(value: string): StsDirectives | null {
  const seen = new Map<string, string | undefined>();
  let i = 0;
  const n = value.length;
  const skipOws = () => {
    while (i < n && (value[i] === " " || value[i] === "\t")) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TCHAR.test(value[i]!)) i++;
    return value.slice(start, i);
  };
  for (;;) {
    skipOws();
    if (i >= n) break;
    if (value[i] === ";") {
      i++;
      continue;
    }
    const name = readToken().toLowerCase();
    if (name === "") return null;
    skipOws();
    let directiveValue: string | undefined;
    if (value[i] === "=") {
      i++;
      skipOws();
      if (value[i] === '"') {
        i++;
        let text = "";
        let closed = false;
        while (i < n) {
          const c = value[i]!;
          if (c === "\\") {
            if (i + 1 >= n) return null;
            text += value[i + 1];
            i += 2;
          } else if (c === '"') {
            i++;
            closed = true;
            break;
          } else {
            text += c;
            i++;
          }
        }
        if (!closed) return null;
        directiveValue = text;
      } else {
        directiveValue = readToken();
        if (directiveValue === "") return null;
      }
      skipOws();
    }
    if (i < n && value[i] !== ";") return null;
    if (seen.has(name)) return null;
    seen.set(name, directiveValue);
  }
  if (!seen.has("max-age")) return null;
  const maxAge = seen.get("max-age");
  if (maxAge === undefined || !/^\d+$/.test(maxAge)) return null;
  if (seen.has("includesubdomains") && seen.get("includesubdomains") !== undefined) return null;
  return {
    maxAge: Math.min(Number(maxAge), MAX_AGE_CAP),
    includeSubDomains: seen.has("includesubdomains"),
  };
}

/**
 * Parses a `Strict-Transport-Security` value as `Headers` gives it: several header fields
 * arrive joined by `", "`. A comma outside a quoted string separates fields; only the first
 * field counts (RFC 6797 section 8.1), and only when every field is a valid policy, since a
 * comma inside one field (`max-age=1; x=a,b`) is indistinguishable from two fields and makes
 * that field invalid.
 *
 * @param value The header's value.
 * @returns The directives of the first field, or `null`.
 */
export function parseStsHeaderValue(value: string): StsDirectives | null {
  const fields: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted && c === "\\") i++;
    else if (c === '"') quoted = !quoted;
    else if (c === "," && !quoted) {
      fields.push(value.slice(start, i));
      start = i + 1;
    }
  }
  fields.push(value.slice(start));
  let first: StsDirectives | null = null;
  for (const field of fields) {
    const directives = parseStrictTransportSecurity(field);
    if (directives === null) return null;
    first ??= directives;
  }
  return first;
}
