/**
 * URL globbing, as curl's: `{a,b,c}` (a set), `[1-3]`, `[a-z]`, `[01-10]` (zero-padded as the
 * first number is written) and `[1-10:2]` (a step) give one URL for each combination, the last
 * pattern varying fastest; `\{`, `\}`, `\[` and `\]` are the characters themselves, and `[]` and
 * a bracketed IPv6 address are no pattern. `-g/--globoff` turns it off.
 *
 * @module
 */

import { Exit, EXIT_CODES } from "./exit_codes.ts";

/** The most URLs one globbed URL may give. */
export const MAX_GLOB_URLS = 10_000;

/** One URL a glob gives: its text, and the value of each of its patterns in order (`#1`...). */
export interface Globbed {
  text: string;
  values: string[];
}

/** A malformed pattern of `text`, at `at` (0-based), told as curl tells it, with a caret. */
function bad(what: string, text: string, at: number): Exit {
  return new Exit(
    EXIT_CODES.protocol,
    `${what} in URL position ${at + 1}:\n${text}\n${" ".repeat(at)}^\n` +
      "(-g/--globoff sends [ ] { } as they are)",
  );
}

/** The values of the range `[body]` (without its brackets), or `null` when it is malformed. */
function range(body: string): { count: number; at: (i: number) => string } | null {
  const match = /^(?:(\d+)-(\d+)|([a-z])-([a-z])|([A-Z])-([A-Z]))(?::(\d+))?$/.exec(body);
  if (match === null) return null;
  const step = match[7] === undefined ? 1 : Number(match[7]);
  if (match[1] !== undefined) {
    const [first, last] = [Number(match[1]), Number(match[2])];
    if (!Number.isSafeInteger(last) || first > last || step < 1) return null;
    // As curl: a first number with a leading zero pads them all to its width.
    const width = match[1].startsWith("0") ? match[1].length : 0;
    return {
      count: Math.floor((last - first) / step) + 1,
      at: (i) => String(first + i * step).padStart(width, "0"),
    };
  }
  const [first, last] = [(match[3] ?? match[5])!, (match[4] ?? match[6])!];
  const from = first.charCodeAt(0);
  if (from > last.charCodeAt(0) || step < 1) return null;
  return {
    count: Math.floor((last.charCodeAt(0) - from) / step) + 1,
    at: (i) => String.fromCharCode(from + i * step),
  };
}

/** Whether `body`, the text between brackets, is an IPv6 address (with a zone), as curl's. */
function ipv6(body: string): boolean {
  const zone = body.indexOf("%");
  const address = zone < 0 ? body : body.slice(0, zone);
  return address.includes(":") && URL.canParse(`http://[${address}]/`) &&
    (zone < 0 || /^%[\w.~%-]+$/.test(body.slice(zone)));
}

/**
 * The URLs `text` gives, as curl globs it: itself alone (no values) when it holds no pattern.
 * A malformed pattern, or more than {@linkcode MAX_GLOB_URLS} URLs, exits 3 naming it.
 */
export function expandGlob(text: string): Globbed[] {
  if (!/[[\]{}]/.test(text)) return [{ text, values: [] }];
  // The literal text and the patterns, each a list of its values' count and values.
  const parts: (string | { count: number; at: (i: number) => string })[] = [];
  let literal = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "\\" && /[[\]{}]/.test(text[i + 1] ?? "")) {
      literal += text[++i];
    } else if (c === "{") {
      const items: string[] = [];
      let item = "";
      let end = i + 1;
      for (; end < text.length && text[end] !== "}"; end++) {
        const d = text[end]!;
        if (d === "{" || d === "[") throw bad("nested brace", text, end);
        if (d === "\\" && end + 1 < text.length) item += text[++end];
        else if (d === ",") {
          items.push(item);
          item = "";
        } else item += d;
      }
      if (end >= text.length) throw bad("unmatched brace", text, i);
      if (end === i + 1) throw bad("empty string within braces", text, end);
      items.push(item);
      parts.push(literal, { count: items.length, at: (n) => items[n]! });
      literal = "";
      i = end;
    } else if (c === "[") {
      const end = text.indexOf("]", i);
      const body = end < 0 ? "" : text.slice(i + 1, end);
      // As curl's: `[]` (as in `?a[]=1`) and a bracketed IPv6 address (with a zone) are text,
      // no range.
      if (end === i + 1 || ipv6(body)) {
        literal += text.slice(i, end + 1);
      } else {
        const values = range(body);
        if (values === null) throw bad("bad range", text, i);
        parts.push(literal, values);
        literal = "";
      }
      i = end;
    } else if (c === "]" || c === "}") {
      throw bad("unmatched close brace/bracket", text, i);
    } else {
      literal += c;
    }
  }
  parts.push(literal);
  const patterns = parts.filter((part) => typeof part !== "string");
  const total = patterns.reduce((product, pattern) => product * pattern.count, 1);
  if (total > MAX_GLOB_URLS) {
    throw new Exit(
      EXIT_CODES.protocol,
      `"${text}" gives ${total} URLs, more than ${MAX_GLOB_URLS} (-g/--globoff sends ` +
        "[ ] { } as they are)",
    );
  }
  const out: Globbed[] = [];
  for (let n = 0; n < total; n++) {
    // The last pattern varies fastest, as curl's.
    let rest = n;
    const values: string[] = new Array(patterns.length);
    for (let p = patterns.length - 1; p >= 0; p--) {
      values[p] = patterns[p]!.at(rest % patterns[p]!.count);
      rest = Math.floor(rest / patterns[p]!.count);
    }
    let p = 0;
    out.push({
      text: parts.map((part) => typeof part === "string" ? part : values[p++]).join(""),
      values,
    });
  }
  return out;
}

/** An output file name of a globbed URL: each `#N` is the value of its Nth pattern, as curl's. */
export function globName(name: string, values: readonly string[]): string {
  if (values.length === 0) return name;
  return name.replace(/#(\d+)/g, (all, n: string) => values[Number(n) - 1] ?? all);
}
