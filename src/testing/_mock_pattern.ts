/**
 * The URL pattern of a mock route: checked and compiled from what `route()` was given, and shown
 * in messages as it was given.
 *
 * @module
 */

import { describe, isPlainObject } from "../_validation.ts";

/** What a route's pattern may be: a `URLPattern`, its init, or a string. */
export type MockPattern = string | URLPattern | URLPatternInit;

/**
 * Compiles a route's pattern: a string (a path on any origin when it starts with `/`), a
 * `URLPattern` init object (a plain object, or a `URL`, whose parts are an init's fields) or a
 * `URLPattern`. Anything else is refused: `new URLPattern()` takes `null`, `undefined`, an array
 * or an instance of another class as a pattern that matches every URL.
 */
export function compilePattern(what: string, pattern: MockPattern): URLPattern {
  if (pattern instanceof URLPattern) return pattern;
  if (typeof pattern !== "string" && !isPlainObject(pattern) && !(pattern instanceof URL)) {
    throw new TypeError(
      `${what}: 'pattern' must be a valid URL pattern, got ${describe(pattern)} ` +
        "(a string, a URLPattern or its init object)",
    );
  }
  try {
    return typeof pattern === "string" && pattern.startsWith("/")
      ? new URLPattern({ pathname: pattern })
      : new URLPattern(pattern);
  } catch (error) {
    const path = typeof pattern === "string" && pattern.startsWith("/") ? pattern : "";
    const query = path.indexOf("?");
    // A string is shown; the parts of an object are not, so the reason URLPattern gave is.
    const hint = query !== -1
      ? ` (a path pattern has no query: match it with the 'query' option, ` +
        `{ query: ${JSON.stringify(path.slice(query + 1))} })`
      : typeof pattern === "string"
      ? ""
      : ` (${(error as Error).message.split("\n")[0]})`;
    throw new TypeError(
      `${what}: 'pattern' must be a valid URL pattern, got ${describe(pattern)}${hint}`,
      { cause: error },
    );
  }
}

/** The pattern as it was given, for messages: a string as written, else its parts. */
export function describePattern(given: MockPattern, pattern: URLPattern): string {
  if (typeof given === "string") return given;
  const parts = ["protocol", "username", "password", "hostname", "port"] as const;
  if (parts.every((part) => pattern[part] === "*") && pattern.search === "*") {
    return pattern.pathname;
  }
  const port = pattern.port === "" ? "" : `:${pattern.port}`;
  const search = pattern.search === "*" || pattern.search === "" ? "" : `?${pattern.search}`;
  return `${pattern.protocol}://${pattern.hostname}${port}${pattern.pathname}${search}`;
}
