/**
 * How the cache compares the values of the request fields a `Vary` names (RFC 9111 section
 * 4.1): two values match when one becomes the other by changes the fields' syntax says mean
 * nothing. Only changes that can never select a different response are made:
 *
 * - whitespace around the commas of a list (and, in the `Accept` fields, around the semicolons
 *   of parameters) is dropped; combining field lines with a comma and optional whitespace is
 *   how HTTP joins them (RFC 9110 section 5.3), so it carries no meaning. Quoted strings and
 *   comments are kept as they are, and so are fields with one value whose commas are not list
 *   separators (`Cookie`, `User-Agent`, dates, `Referer`, credentials).
 * - `Accept-Language`, `Accept-Encoding` and `Accept-Charset` are compared in lower case:
 *   language ranges, content codings, charsets and the `q` weight are case-insensitive (RFC 9110
 *   sections 12.5.3, 12.5.4, 8.3.2, 12.4.2), and these fields have nothing else to say, unless
 *   the value holds a quoted string (which is then not of the field's syntax).
 *
 * Order is not ignored (a list's order can state a preference, as RFC 9110 section 12.5.4 says
 * for `Accept-Language`), nor are `q` weights read: choosing for the origin which variant it
 * would have sent is content negotiation, not matching.
 */

/** Fields with one value, whose commas and spaces are part of it. */
const SINGLETON_FIELDS: ReadonlySet<string> = new Set([
  "authorization",
  "cookie",
  "date",
  "if-modified-since",
  "if-range",
  "if-unmodified-since",
  "proxy-authorization",
  "referer",
  "user-agent",
]);

/** Fields of case-insensitive tokens and weights. */
const CASELESS_FIELDS: ReadonlySet<string> = new Set([
  "accept-charset",
  "accept-encoding",
  "accept-language",
]);

/** Fields whose list members take `;` parameters with optional whitespace around the `;`. */
const PARAMETER_FIELDS: ReadonlySet<string> = new Set(["accept", ...CASELESS_FIELDS]);

/**
 * The value of request field `name` (lower case) as the cache compares it when a `Vary` names
 * the field; `null` (absent) stays `null`.
 */
export function _selectingValue(name: string, value: string | null): string | null {
  if (value === null || SINGLETON_FIELDS.has(name)) return value;
  const caseless = CASELESS_FIELDS.has(name) && !value.includes('"');
  const spaced = value.includes(" ") || value.includes("\t");
  if (!spaced) return caseless ? value.toLowerCase() : value;
  const compact = dropListSpace(value, PARAMETER_FIELDS.has(name));
  return caseless ? compact.toLowerCase() : compact;
}

/**
 * `value` without whitespace at its ends and around its list commas (and semicolons, when
 * `semicolons`), outside quoted strings and comments.
 */
function dropListSpace(value: string, semicolons: boolean): string {
  let out = "";
  let quoted = false;
  let depth = 0;
  let afterSeparator = true;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (quoted || depth > 0) {
      out += c;
      if (c === "\\" && i + 1 < value.length) out += value[++i];
      else if (quoted && c === '"') quoted = false;
      else if (!quoted && c === "(") depth++;
      else if (!quoted && c === ")") depth--;
      continue;
    }
    if (c === " " || c === "\t") {
      if (!afterSeparator) out += c;
      continue;
    }
    if (c === "," || (semicolons && c === ";")) {
      out = out.replace(/[ \t]+$/, "") + c;
      afterSeparator = true;
      continue;
    }
    afterSeparator = false;
    if (c === '"') quoted = true;
    else if (c === "(") depth = 1;
    out += c;
  }
  return depth > 0 || quoted ? out : out.replace(/[ \t]+$/, "");
}
