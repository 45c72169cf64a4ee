/**
 * Request matchers of a mock route besides method and URL pattern: query, headers and body,
 * each checked with a reason when it misses, for the messages of unmatched requests.
 *
 * @module
 */

import { describe } from "../_validation.ts";

/** A value matcher: the exact string, a RegExp it must match, or a predicate. */
export type MockValueMatcher = string | RegExp | ((value: string) => boolean);

/** The query a route requires (see `MockRouteOptions.query`). */
export type MockQueryMatcher =
  | Record<string, MockValueMatcher>
  | URLSearchParams
  | string
  | ((query: URLSearchParams) => boolean);

/** The headers a route requires (see `MockRouteOptions.headers`). */
export type MockHeadersMatcher =
  | Record<string, MockValueMatcher>
  | ((headers: Headers) => boolean);

/** The body a route requires (see `MockRouteOptions.body`). */
export type MockBodyMatcher = MockValueMatcher;

/** The checked matchers of one route. */
export interface RouteMatchers {
  query?: (query: URLSearchParams) => string | null;
  headers?: (headers: Headers) => string | null;
  body?: (text: string) => string | null;
  /** What the matchers require, for the route's name. */
  label: string;
}

function show(matcher: MockValueMatcher): string {
  if (typeof matcher === "string") return JSON.stringify(matcher);
  if (matcher instanceof RegExp) return String(matcher);
  return "(a function)";
}

function testValue(matcher: MockValueMatcher, value: string): boolean {
  if (typeof matcher === "string") return matcher === value;
  if (matcher instanceof RegExp) {
    matcher.lastIndex = 0;
    return matcher.test(value);
  }
  return matcher(value) === true;
}

function isValueMatcher(value: unknown): value is MockValueMatcher {
  return typeof value === "string" || value instanceof RegExp || typeof value === "function";
}

function sortedEntries(params: URLSearchParams): string {
  return [...params].map(([k, v]) => `${k}=${v}`).sort().join("&");
}

/** Deep equality of JSON values: objects by key whatever the order, arrays in order. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    return a.length === other.length && a.every((item, i) => jsonEqual(item, other[i]));
  }
  const left = Object.entries(a as Record<string, unknown>).filter(([, v]) => v !== undefined);
  const right = b as Record<string, unknown>;
  const rightKeys = Object.keys(right).filter((key) => right[key] !== undefined);
  return left.length === rightKeys.length &&
    left.every(([key, value]) => Object.hasOwn(right, key) && jsonEqual(value, right[key]));
}

function queryMatcher(
  what: string,
  query: MockQueryMatcher,
): (q: URLSearchParams) => string | null {
  if (typeof query === "function") {
    return (q) =>
      query(q) === true ? null : `query ${describe(q.toString())} refused by the function`;
  }
  if (typeof query === "string" || query instanceof URLSearchParams) {
    const wanted = sortedEntries(new URLSearchParams(query));
    return (q) => sortedEntries(q) === wanted ? null : `query is ${describe(q.toString())}`;
  }
  if (query === null || typeof query !== "object" || Array.isArray(query)) {
    throw new TypeError(
      `${what}: 'query' must be an object, a URLSearchParams, a string or a function, got ${
        describe(query)
      }`,
    );
  }
  const entries = Object.entries(query);
  for (const [name, value] of entries) {
    if (!isValueMatcher(value)) {
      throw new TypeError(
        `${what}: 'query.${name}' must be a string, a RegExp or a function, got ${describe(value)}`,
      );
    }
  }
  return (q) => {
    for (const [name, matcher] of entries) {
      const values = q.getAll(name);
      if (values.length === 0) return `query has no ${JSON.stringify(name)}`;
      if (values.length > 1) return `query has ${values.length} values of ${JSON.stringify(name)}`;
      if (!testValue(matcher, values[0]!)) {
        return `query ${JSON.stringify(name)} is ${describe(values[0]!)}, not ${show(matcher)}`;
      }
    }
    const extra = [...new Set(q.keys())].filter((name) => !Object.hasOwn(query, name));
    return extra.length === 0
      ? null
      : `query has ${extra.map((n) => JSON.stringify(n)).join(", ")} too`;
  };
}

function headersMatcher(
  what: string,
  headers: MockHeadersMatcher,
): (h: Headers) => string | null {
  if (typeof headers === "function") {
    return (h) => headers(h) === true ? null : "headers refused by the function";
  }
  if (headers === null || typeof headers !== "object" || Array.isArray(headers)) {
    throw new TypeError(
      `${what}: 'headers' must be an object or a function, got ${describe(headers)}`,
    );
  }
  const entries = Object.entries(headers);
  for (const [name, value] of entries) {
    if (!isValueMatcher(value)) {
      throw new TypeError(
        `${what}: 'headers.${name}' must be a string, a RegExp or a function, got ${
          describe(value)
        }`,
      );
    }
  }
  return (h) => {
    for (const [name, matcher] of entries) {
      const value = h.get(name);
      if (value === null) return `header ${name.toLowerCase()} is missing`;
      if (!testValue(matcher, value)) {
        return `header ${name.toLowerCase()} is ${describe(value)}, not ${show(matcher)}`;
      }
    }
    return null;
  };
}

/**
 * Checks a route's `query`, `headers`, `body` and `json` options and builds its matchers, or
 * returns `undefined` when it has none.
 */
export function compileMatchers(
  what: string,
  options: { query?: unknown; headers?: unknown; body?: unknown; json?: unknown },
): RouteMatchers | undefined {
  const { query, headers, body, json } = options;
  if (query === undefined && headers === undefined && body === undefined && json === undefined) {
    return undefined;
  }
  const labels: string[] = [];
  const matchers: RouteMatchers = { label: "" };
  if (query !== undefined) {
    matchers.query = queryMatcher(what, query as MockQueryMatcher);
    labels.push(
      typeof query === "function"
        ? "query (a function)"
        : typeof query === "string" || query instanceof URLSearchParams
        ? `query ${new URLSearchParams(query).toString()}`
        : `query ${
          Object.entries(query as Record<string, MockValueMatcher>)
            .map(([k, v]) => `${k}=${show(v)}`).join(" ")
        }`,
    );
  }
  if (headers !== undefined) {
    matchers.headers = headersMatcher(what, headers as MockHeadersMatcher);
    labels.push(
      typeof headers === "function"
        ? "headers (a function)"
        : `headers ${
          Object.entries(headers as Record<string, MockValueMatcher>)
            .map(([k, v]) => `${k.toLowerCase()}: ${show(v)}`).join(", ")
        }`,
    );
  }
  if (body !== undefined && json !== undefined) {
    throw new TypeError(`${what}: give 'body' or 'json' to match the body, not both`);
  }
  if (body !== undefined) {
    if (!isValueMatcher(body)) {
      throw new TypeError(
        `${what}: 'body' must be a string, a RegExp or a function, got ${describe(body)}`,
      );
    }
    matchers.body = (text) => testValue(body, text) ? null : `body is ${describe(text)}`;
    labels.push(`body ${typeof body === "string" ? describe(body) : show(body)}`);
  } else if (json !== undefined) {
    let wanted: unknown;
    try {
      wanted = JSON.parse(JSON.stringify(json));
    } catch (error) {
      throw new TypeError(`${what}: 'json' must be a JSON value`, { cause: error });
    }
    matchers.body = (text) => {
      let got: unknown;
      try {
        got = JSON.parse(text);
      } catch {
        return `body ${describe(text)} is not JSON`;
      }
      return jsonEqual(got, wanted) ? null : `JSON body is ${describe(text)}`;
    };
    const shown = JSON.stringify(wanted);
    labels.push(`json ${shown.length > 60 ? `${shown.slice(0, 57)}...` : shown}`);
  }
  matchers.label = labels.join(", ");
  return matchers;
}

/** The message of `assertNoPendingRoutes`: a table of the pending routes, then the unmatched requests. */
export function pendingMessage(
  pending: readonly { name: string; calls: number; times: number }[],
  unmatched: readonly string[],
): string {
  const rows = [
    ["route", "calls", "times"],
    ...pending.map((route) => [
      route.name,
      String(route.calls),
      route.times === Infinity ? "any" : String(route.times),
    ]),
  ];
  const width = Math.max(...rows.map((row) => row[0]!.length));
  const table = rows.map(([name, calls, times]) =>
    `  ${name!.padEnd(width)}  ${calls!.padStart(5)}  ${times!.padStart(5)}`
  );
  let message = `${pending.length} mock route${pending.length === 1 ? " was" : "s were"} ` +
    `not used up:\n${table.join("\n")}`;
  if (unmatched.length > 0) {
    message += `\n${unmatched.length} request${unmatched.length === 1 ? "" : "s"} matched no ` +
      `route:\n${unmatched.map((line) => `  ${line}`).join("\n")}`;
  }
  return message;
}
