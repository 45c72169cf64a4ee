/**
 * {@linkcode NetworkRequestFactory}: requests to one API made from a base URL, common headers,
 * a bearer token and common query parameters (Qt's `QNetworkRequestFactory`).
 *
 * @module
 */

import {
  checkRequestInit,
  makeHeaders,
  NetworkRequest,
  type NetworkRequestInit,
} from "./request.ts";
import { checkKeys, checkObject, describe, isPlainObject, numberError } from "./_validation.ts";

/**
 * Query parameters: a `URLSearchParams`, a record, or name/value pairs. A value is a string, a
 * finite number or a boolean (written as `String` writes it); in a record, an array repeats the
 * name for each of its values and `undefined` leaves the name out. Anything else (`null`,
 * an object) throws a `TypeError` naming it, and `NaN` or `Infinity` a `RangeError`.
 *
 * @example The three forms of query parameters
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkRequestFactory, type QueryInit } from "@netaccess/core";
 *
 * const api = new NetworkRequestFactory("https://api.example.com/search");
 * const cursor: string | undefined = undefined;
 * const queries: QueryInit[] = [
 *   { q: "pen", page: 2, exact: true, tag: ["a", "b"], cursor },
 *   [["tag", "a"], ["tag", "b"]],
 *   new URLSearchParams("page=2"),
 * ];
 * assert.deepEqual(queries.map((query) => api.createRequest("", query).url.search), [
 *   "?q=pen&page=2&exact=true&tag=a&tag=b",
 *   "?tag=a&tag=b",
 *   "?page=2",
 * ]);
 * ```
 */
export type QueryInit =
  | URLSearchParams
  | Record<string, QueryValue | readonly QueryValue[] | undefined>
  | readonly (readonly [string, QueryValue])[];

/**
 * One query parameter value: a string, a finite number or a boolean.
 *
 * @example Numbers and booleans are written as `String` writes them
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkRequestFactory, type QueryValue } from "@netaccess/core";
 *
 * const page: QueryValue = 2;
 * const api = new NetworkRequestFactory("https://api.example.com/items");
 * assert.equal(api.createRequest("", { page, all: false }).url.search, "?page=2&all=false");
 * ```
 */
export type QueryValue = string | number | boolean;

/**
 * Options of {@linkcode NetworkRequestFactory}.
 *
 * @example A factory for one API
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkRequestFactory, type NetworkRequestFactoryOptions } from "@netaccess/core";
 *
 * const options: NetworkRequestFactoryOptions = {
 *   headers: { accept: "application/json" },
 *   bearerToken: "s3cret",
 *   query: { lang: "en" },
 *   requestInit: { priority: "high", transferTimeout: 10_000 },
 * };
 * const api = new NetworkRequestFactory("https://api.example.com/v1", options);
 * const request = api.createRequest("users");
 * assert.equal(request.url.href, "https://api.example.com/v1/users?lang=en");
 * assert.equal(request.priority, "high");
 * assert.equal(request.headers.get("authorization"), "Bearer s3cret");
 * ```
 */
export interface NetworkRequestFactoryOptions {
  /**
   * Headers sent with every request (a request's own Authorization is replaced by the bearer
   * token when one is set).
   * @default {{}}
   */
  headers?: HeadersInit | Record<string, string | null | undefined> | undefined;
  /**
   * A token sent as `Authorization: Bearer <token>` with every request.
   * @default {undefined}
   */
  bearerToken?: string | undefined;
  /**
   * Query parameters added to every request, after those of the base URL.
   * @default {{}}
   */
  query?: QueryInit | undefined;
  /**
   * Other request attributes every request gets (priority, timeouts, retry, cache and cookie
   * controls...); not `headers` (a `TypeError`): the factory's `headers` are those.
   * @default {{}}
   */
  requestInit?: Omit<NetworkRequestInit, "headers"> | undefined;
}

const WHAT = "Cannot create request factory";

/** The names of the options (the type says every one is here). */
const OPTIONS = Object.keys(
  {
    headers: 1,
    bearerToken: 1,
    query: 1,
    requestInit: 1,
  } satisfies Record<keyof NetworkRequestFactoryOptions, 1>,
);

function checkToken(what: string, token: unknown): string | undefined {
  if (token === undefined) return undefined;
  if (typeof token !== "string" || token === "" || /[\r\n\0]|[^\0-\xff]/.test(token)) {
    // A token is a credential: what is wrong with it is told, never the token.
    const got = typeof token === "object"
      ? describe(token)
      : typeof token !== "string"
      ? `a ${typeof token}`
      : token === ""
      ? '""'
      : /[\r\n\0]/.test(token)
      ? "one with a line break or NUL (not shown)"
      : "one with a character above U+00FF (not shown)";
    throw new TypeError(
      `${what}: 'bearerToken' must be a non-empty string of Latin-1 characters without line ` +
        `breaks, got ${got}`,
    );
  }
  return token;
}

/**
 * The parameters of `query`: a `URLSearchParams`, a plain object, or an array of `[name, value]`
 * pairs, whose values are strings, finite numbers or booleans (a record's arrays repeat the
 * name, its `undefined` values are left out). Anything else (`null`, an object; `NaN`, a
 * `RangeError`) throws,
 * rather than being turned into text by `URLSearchParams`.
 */
function toParams(what: string, field: string, query: QueryInit | undefined): URLSearchParams {
  if (query === undefined) return new URLSearchParams();
  if (query instanceof URLSearchParams) return new URLSearchParams(query);
  const bad = (where: string, expected: string, value: unknown) =>
    new TypeError(`${what}: '${field}${where}' must be ${expected}, got ${describe(value)}`);
  const VALUE = "a string, a finite number or a boolean";
  const text = (where: string, value: unknown, expected = VALUE): string => {
    if (typeof value === "string") return value;
    if ((typeof value === "number" && Number.isFinite(value)) || typeof value === "boolean") {
      return String(value);
    }
    // A number that is not finite is of the right type, out of range: a RangeError.
    throw numberError(what, `${field}${where}`, value, expected);
  };
  const params = new URLSearchParams();
  if (Array.isArray(query)) {
    query.forEach((pair: unknown, i) => {
      if (!Array.isArray(pair) || pair.length !== 2) {
        const got = Array.isArray(pair)
          ? `an array of ${pair.length} ${pair.length === 1 ? "item" : "items"}`
          : describe(pair);
        throw new TypeError(`${what}: '${field}[${i}]' must be a [name, value] pair, got ${got}`);
      }
      if (typeof pair[0] !== "string") throw bad(`[${i}][0]`, "a string", pair[0]);
      params.append(pair[0], text(`[${i}][1]`, pair[1]));
    });
    return params;
  }
  if (!isPlainObject(query)) {
    throw bad("", "URLSearchParams, a record or [name, value] pairs", query);
  }
  const ALL = `${VALUE}, an array of them, or undefined (left out)`;
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined) continue;
    if (!Array.isArray(value)) params.append(name, text(`.${name}`, value, ALL));
    else value.forEach((item, i) => params.append(name, text(`.${name}[${i}]`, item)));
  }
  return params;
}

function toBase(what: string, value: unknown): URL {
  let url: URL;
  try {
    url = new URL(value as string | URL);
  } catch {
    throw new TypeError(
      `${what}: 'baseUrl' must be an absolute URL, got ${describe(value)}`,
    );
  }
  url.hash = "";
  return url;
}

/** Decodes percent-escapes (up to three levels, as layered decoders might), keeping bad ones. */
function _decode(segment: string): string {
  let text = segment;
  for (let i = 0; i < 3 && text.includes("%"); i++) {
    try {
      const decoded = decodeURIComponent(text);
      if (decoded === text) break;
      text = decoded;
    } catch {
      break;
    }
  }
  return text;
}

/**
 * Whether a relative path climbs above its starting point: its `..` segments, read after
 * percent-decoding and with backslashes as slashes (as URL parsers and servers read them),
 * outnumber the segments before them at some point.
 */
function _climbsAbove(path: string): boolean {
  let depth = 0;
  for (const segment of path.split(/[\/\\]/)) {
    for (const part of _decode(segment).split(/[\/\\]/)) {
      const trimmed = part.trim();
      if (trimmed === "" || trimmed === ".") continue;
      if (trimmed === "..") {
        if (--depth < 0) return true;
      } else depth++;
    }
  }
  return false;
}

/**
 * Makes requests to one API: a base URL to which each path is joined with exactly one `/`,
 * headers and query parameters common to all, and a bearer token. Qt's
 * `QNetworkRequestFactory`. The settings are read when a request is made, so changing the token
 * affects the next requests only.
 *
 * @example Requests to a JSON API with a token
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkRequestFactory } from "@netaccess/core";
 *
 * const api = new NetworkRequestFactory("https://api.example.com/v1/", {
 *   headers: { accept: "application/json" },
 *   bearerToken: "s3cret",
 *   query: { lang: "en" },
 * });
 * const request = api.createRequest("/users", { page: "2" });
 * assert.equal(request.url.href, "https://api.example.com/v1/users?lang=en&page=2");
 * assert.equal(request.headers.get("authorization"), "Bearer s3cret");
 * ```
 */
export class NetworkRequestFactory {
  #baseUrl: URL;
  #headers: Headers;
  #bearerToken: string | undefined;
  #query: URLSearchParams;
  #requestInit: Omit<NetworkRequestInit, "headers">;

  /**
   * Creates a factory.
   *
   * @param baseUrl The absolute URL every path is joined to (its query is kept as written, its
   * fragment dropped).
   * @param options Common headers, bearer token, query parameters and request attributes.
   * @throws {TypeError} When `baseUrl` is not an absolute URL, an option is unknown (misspelt),
   * a header is invalid, `requestInit` has `headers`, or the token is empty or holds a line
   * break.
   */
  constructor(baseUrl: string | URL, options: NetworkRequestFactoryOptions = {}) {
    this.#baseUrl = toBase(WHAT, baseUrl);
    checkObject(WHAT, "options", options);
    checkKeys(WHAT, options, OPTIONS);
    this.#headers = makeHeaders(WHAT, options.headers === undefined ? {} : options.headers);
    this.#bearerToken = checkToken(WHAT, options.bearerToken);
    this.#query = toParams(WHAT, "query", options.query);
    checkObject(WHAT, "requestInit", options.requestInit);
    if ((options.requestInit as { headers?: unknown } | undefined)?.headers !== undefined) {
      throw new TypeError(
        `${WHAT}: 'requestInit.headers' is not used; give the headers of every request in ` +
          "'headers'",
      );
    }
    // Fail now, not on the first request, when an attribute is invalid.
    checkRequestInit(WHAT, "requestInit", options.requestInit);
    this.#requestInit = { ...options.requestInit };
  }

  /** The base URL (a copy). */
  get baseUrl(): URL {
    return new URL(this.#baseUrl.href);
  }
  set baseUrl(value: string | URL) {
    this.#baseUrl = toBase("Cannot set baseUrl", value);
  }

  /** The headers common to every request (live: changes apply to the next requests). */
  get commonHeaders(): Headers {
    return this.#headers;
  }
  set commonHeaders(value: HeadersInit) {
    this.#headers = makeHeaders("Cannot set commonHeaders", value, undefined, "commonHeaders");
  }

  /** The bearer token, or `undefined`. */
  get bearerToken(): string | undefined {
    return this.#bearerToken;
  }
  set bearerToken(value: string | undefined) {
    this.#bearerToken = checkToken("Cannot set bearerToken", value);
  }

  /** Stops sending a bearer token (Qt's `clearBearerToken()`). */
  clearBearerToken(): void {
    this.#bearerToken = undefined;
  }

  /** The query parameters common to every request (live). */
  get queryParameters(): URLSearchParams {
    return this.#query;
  }
  set queryParameters(value: QueryInit) {
    this.#query = toParams("Cannot set queryParameters", "queryParameters", value);
  }

  /**
   * Makes a request for `path` under the base URL.
   *
   * @param path A path joined to the base URL's path with exactly one `/` (`""` for the base
   * URL itself). `?` and `#` in it are part of the path (percent-encoded); give query
   * parameters in `query`.
   * @param query Parameters added after the base URL's and the common ones.
   * @returns A new request with the common headers, token, parameters and attributes.
   * @throws {TypeError} When `path` is not a string, leads outside the base path (`../admin`,
   * `%2e%2e/admin`, `..\\admin`), or `query` is not a query.
   *
   * @example Paths are joined with exactly one slash
   * ```ts
   * import assert from "node:assert/strict";
   * import { NetworkRequestFactory } from "@netaccess/core";
   *
   * const api = new NetworkRequestFactory("https://api.example.com/v1");
   * assert.equal(api.createRequest("items/3").url.href, "https://api.example.com/v1/items/3");
   * assert.equal(api.createRequest("/items/3").url.href, "https://api.example.com/v1/items/3");
   * ```
   */
  createRequest(path: string = "", query?: QueryInit): NetworkRequest {
    const what = "Cannot create request";
    if (typeof path !== "string") {
      throw new TypeError(`${what}: 'path' must be a string, got ${describe(path)}`);
    }
    const url = new URL(this.#baseUrl.href);
    if (path !== "") {
      const base = url.pathname.replace(/\/+$/, "");
      const tail = path.replace(/^\/+/, "").replaceAll("?", "%3F").replaceAll("#", "%23");
      const escape = () =>
        new TypeError(
          `${what}: path ${describe(path)} leads outside the base path '${base}/' of ` +
            `${url.origin}: a '..' segment (also as '%2e%2e', or after a backslash) may not climb ` +
            "above it",
        );
      if (_climbsAbove(tail)) throw escape();
      url.pathname = `${base}/${tail}`;
      if (url.pathname !== base && !url.pathname.startsWith(`${base}/`)) throw escape();
    }
    // Appended to the base URL's query as it is written: `url.searchParams` would write that
    // again as a form (`a,b` as `a%2Cb`, `flag` as `flag=`).
    const added = new URLSearchParams(this.#query);
    for (const [name, value] of toParams(what, "query", query)) added.append(name, value);
    const text = added.toString();
    if (text !== "") url.search = url.search === "" ? text : `${url.search.slice(1)}&${text}`;
    const headers = new Headers(this.#headers);
    if (this.#bearerToken !== undefined) {
      headers.set("authorization", `Bearer ${this.#bearerToken}`);
    }
    return new NetworkRequest(url, { ...this.#requestInit, headers });
  }
}
