/**
 * {@linkcode NetworkRequest}: a URL, headers, a priority and the per-request attributes that
 * override the manager's settings.
 *
 * @module
 */

import { _CREDENTIAL_HEADERS, _redactHeaders, _shownUrl } from "./_redact.ts";
import { checkRetry, type RetryOptions } from "./retry_options.ts";
import { isToken } from "./_http_token.ts";
import {
  checkChoice,
  checkInteger,
  checkKeys,
  checkObject,
  checkTimer,
  describe,
  headersError,
  numberError,
} from "./_validation.ts";

/**
 * The priority of a request in its host's queue.
 *
 * @example High-priority requests jump the host's queue
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, type Priority } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager({
 *   maxConnectionsPerHost: 1,
 *   transport: async (exchange) => new Response(exchange.url.pathname),
 * });
 * const order: string[] = [];
 * const send = (path: string, priority: Priority) =>
 *   manager.get(`https://example.com${path}`, { priority }).text().then((t) => order.push(t));
 * await Promise.all([send("/first", "normal"), send("/later", "low"), send("/soon", "high")]);
 * assert.deepEqual(order, ["/first", "/soon", "/later"]);
 * ```
 */
export type Priority = "high" | "normal" | "low";

/**
 * Where a request may be answered from (Qt's `CacheLoadControl`).
 *
 * @example Answering from the cache only
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CacheLoadControl, MemoryCache, NetworkAccessManager } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager({
 *   cache: new MemoryCache(),
 *   transport: async () => new Response("stored", { headers: { "cache-control": "max-age=60" } }),
 * });
 * await manager.get("https://example.com/").text();
 * const offline: CacheLoadControl = "always-cache";
 * const reply = manager.get("https://example.com/", { cacheLoadControl: offline });
 * assert.equal(await reply.text(), "stored");
 * assert.equal(reply.fromCache, true);
 * ```
 */
export type CacheLoadControl =
  | "always-network"
  | "prefer-network"
  | "prefer-cache"
  | "always-cache";

/**
 * Whether the cookie layer handles cookies for a request (`"automatic"`) or leaves them alone.
 *
 * @example A request that sends no cookies from the jar
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CookieControl, NetworkAccessManager } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager({
 *   transport: async (exchange) =>
 *     new Response(exchange.headers.get("cookie") ?? "no cookie", {
 *       headers: { "set-cookie": "session=1" },
 *     }),
 * });
 * await manager.get("https://example.com/login").text();
 * const cookies: CookieControl = "manual";
 * const anonymous = manager.get("https://example.com/", { cookieLoadControl: cookies });
 * assert.equal(await anonymous.text(), "no cookie");
 * assert.equal(await manager.get("https://example.com/").text(), "session=1");
 * ```
 */
export type CookieControl = "automatic" | "manual";

/**
 * How redirects are followed (Qt's `RedirectPolicy`).
 *
 * @example Refusing redirects to another origin
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, NetworkError, type RedirectPolicy } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager({
 *   transport: async () => Response.redirect("https://other.example/"),
 * });
 * const policy: RedirectPolicy = "same-origin";
 * const reply = manager.get("https://example.com/", { redirectPolicy: policy });
 * await reply.finished;
 * assert.equal(reply.error === NetworkError.InsecureRedirectError, true);
 * ```
 */
export type RedirectPolicy = "manual" | "no-less-safe" | "same-origin" | "user-verified";

/**
 * The options of a {@linkcode NetworkRequest}; every field is optional.
 *
 * @example The same options for a request object or a single call
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, NetworkRequest, type NetworkRequestInit } from "@netaccess/core";
 *
 * const init: NetworkRequestInit = {
 *   headers: { accept: "text/plain" },
 *   priority: "low",
 *   cacheSaveControl: false,
 *   attributes: { traceId: "abc" },
 * };
 * const request = new NetworkRequest("data:text/plain,hi", init);
 * assert.equal(request.priority, "low");
 * assert.equal(request.attributes.traceId, "abc");
 * await using manager = new NetworkAccessManager();
 * assert.equal(await manager.get("data:text/plain,hi", init).text(), "hi");
 * ```
 */
export interface NetworkRequestInit {
  /**
   * Request headers. In a record, a header whose value is `undefined` or `null` is not sent;
   * given with a {@linkcode NetworkRequest} to an operation, each one replaces the request's
   * header of that name, and `undefined` or `null` removes it.
   */
  headers?: HeadersInit | Record<string, string | null | undefined> | undefined;
  /**
   * The request's priority in its host's queue.
   * @default {"normal"}
   */
  priority?: Priority | undefined;
  /** Where the reply may come from; `undefined` means the manager's setting. */
  cacheLoadControl?: CacheLoadControl | undefined;
  /**
   * Whether a response to this request may be stored in the cache.
   * @default {true}
   */
  cacheSaveControl?: boolean | undefined;
  /**
   * `"manual"` sends no cookies from the jar with this request.
   * @default {"automatic"}
   */
  cookieLoadControl?: CookieControl | undefined;
  /**
   * `"manual"` stores no cookie from this request's responses.
   * @default {"automatic"}
   */
  cookieSaveControl?: CookieControl | undefined;
  /** The redirect policy; `undefined` means the manager's. */
  redirectPolicy?: RedirectPolicy | undefined;
  /** The most redirects followed; `undefined` means the manager's (50 by default). */
  maxRedirects?: number | undefined;
  /**
   * The redirect statuses (of 301, 302 and 303) after which a POST is sent again as a POST,
   * with its body, as curl's `--post301`, `--post302` and `--post303`; after the others it
   * becomes a GET without body, as browsers and `fetch` do.
   *
   * @example A POST that a 302 sends on, body and all
   * ```ts
   * import assert from "node:assert/strict";
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * const seen: string[] = [];
   * await using manager = new NetworkAccessManager({
   *   transport: async ({ url, method }) => {
   *     seen.push(`${method} ${url.pathname}`);
   *     return url.pathname === "/old" ? Response.redirect("https://example.com/new", 302) : new Response("ok");
   *   },
   * });
   * const reply = manager.post("https://example.com/old", "a=1", { postRedirects: [302] });
   * await reply.finished;
   * assert.deepEqual(seen, ["POST /old", "POST /new"]);
   * ```
   * @default {[]}
   */
  postRedirects?: readonly number[] | undefined;
  /**
   * Whether every redirect hop is sent with the request's method, where a 301 or 302 after a
   * POST, or a 303, would make it a GET: its body is dropped all the same (unless
   * `postRedirects` keeps it). This is what curl does with `-X METHOD` and `-L`; it is not
   * what the HTTP specification asks of a 303.
   *
   * @example A DELETE that a 303 leaves a DELETE
   * ```ts
   * import assert from "node:assert/strict";
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * const seen: string[] = [];
   * await using manager = new NetworkAccessManager({
   *   transport: async ({ url, method }) => {
   *     seen.push(`${method} ${url.pathname}`);
   *     return url.pathname === "/a" ? Response.redirect("https://example.com/b", 303) : new Response("ok");
   *   },
   * });
   * await manager.deleteResource("https://example.com/a", { keepRedirectMethod: true }).finished;
   * assert.deepEqual(seen, ["DELETE /a", "DELETE /b"]);
   * ```
   * @default {false}
   */
  keepRedirectMethod?: boolean | undefined;
  /** Inactivity timeout in milliseconds (0 = off); `undefined` means the manager's. */
  transferTimeout?: number | undefined;
  /**
   * Total timeout in milliseconds (0 = off): the longest the whole reply may take, from the
   * call through the queue, redirects, retries and the body, before it fails with
   * `TimeoutError`; `undefined` means the manager's.
   */
  timeout?: number | undefined;
  /**
   * Aborts the reply when it aborts: with `TimeoutError` when its reason is a `TimeoutError`
   * (`AbortSignal.timeout(ms)`), else with `OperationCanceledError`. Its reason is the `cause` of
   * the `NetworkReplyError` the body readers then throw.
   */
  signal?: AbortSignal | undefined;
  /**
   * Bytes of body buffered while nobody reads (0 = unlimited); `undefined` means the manager's.
   */
  readBufferSize?: number | undefined;
  /**
   * Decompressed size from which the decompression guard applies, in bytes (-1 = off);
   * `undefined` means the manager's (10 MiB).
   */
  decompressionGuard?: number | undefined;
  /**
   * The most body bytes the reply accepts, after decompression (0 = no limit); `undefined`
   * means the manager's `maxBodySize`.
   */
  maxBodySize?: number | undefined;
  /**
   * Header names (besides Authorization, Proxy-Authorization and Cookie) removed when a
   * redirect leaves the request's origin.
   */
  sensitiveHeaders?: Iterable<string> | undefined;
  /** Free-form attributes read by user layers (Qt's `QNetworkRequest::User` attributes). */
  attributes?: Record<string, unknown> | undefined;
  /**
   * Retrying of this request: `true` for the defaults, a number for a limit, options, or
   * `false` for none; `undefined` means the manager's `retry`. When the manager's `retry` is
   * an object, its fields apply where this one sets none.
   */
  retry?: RetryOptions | number | boolean | undefined;
}

const PRIORITIES: readonly string[] = ["high", "normal", "low"];
const LOAD_CONTROLS: readonly string[] = [
  "always-network",
  "prefer-network",
  "prefer-cache",
  "always-cache",
];
const COOKIE_CONTROLS: readonly string[] = ["automatic", "manual"];
const REDIRECT_POLICIES: readonly string[] = [
  "manual",
  "no-less-safe",
  "same-origin",
  "user-verified",
];

/** The names of a request's options (the type says every one is here). */
const INIT_OPTIONS = Object.keys(
  {
    headers: 1,
    priority: 1,
    cacheLoadControl: 1,
    cacheSaveControl: 1,
    cookieLoadControl: 1,
    cookieSaveControl: 1,
    redirectPolicy: 1,
    maxRedirects: 1,
    postRedirects: 1,
    keepRedirectMethod: 1,
    transferTimeout: 1,
    timeout: 1,
    signal: 1,
    readBufferSize: 1,
    decompressionGuard: 1,
    maxBodySize: 1,
    sensitiveHeaders: 1,
    attributes: 1,
    retry: 1,
  } satisfies Record<keyof NetworkRequestInit, 1>,
);
/** The names of the changes `clone()` takes: the options and the URL. */
const CLONE_OPTIONS = [...INIT_OPTIONS, "url"];

/**
 * Checks the attributes a request and its init share; the messages start with `what` and name
 * each field after `at` (`requestInit.` for a factory's).
 */
function checkAttributes(what: string, attributes: NetworkRequestInit, at = ""): void {
  checkChoice(what, `${at}priority`, attributes.priority, PRIORITIES);
  checkChoice(what, `${at}cacheLoadControl`, attributes.cacheLoadControl, LOAD_CONTROLS);
  checkChoice(what, `${at}cookieLoadControl`, attributes.cookieLoadControl, COOKIE_CONTROLS);
  checkChoice(what, `${at}cookieSaveControl`, attributes.cookieSaveControl, COOKIE_CONTROLS);
  checkChoice(what, `${at}redirectPolicy`, attributes.redirectPolicy, REDIRECT_POLICIES);
  checkInteger(what, `${at}maxRedirects`, attributes.maxRedirects, 0);
  const post = attributes.postRedirects;
  if (post !== undefined && !Array.isArray(post)) {
    throw new TypeError(
      `${what}: '${at}postRedirects' must be an array of 301, 302 and 303, got ${describe(post)}`,
    );
  }
  const index = post?.findIndex((status) => status !== 301 && status !== 302 && status !== 303) ??
    -1;
  if (index !== -1) {
    throw numberError(what, `${at}postRedirects[${index}]`, post![index], "301, 302 or 303");
  }
  const keep = attributes.keepRedirectMethod;
  if (keep !== undefined && typeof keep !== "boolean") {
    throw new TypeError(
      `${what}: '${at}keepRedirectMethod' must be a boolean, got ${describe(keep)}`,
    );
  }
  checkTimer(what, `${at}transferTimeout`, attributes.transferTimeout);
  checkTimer(what, `${at}timeout`, attributes.timeout);
  checkInteger(what, `${at}readBufferSize`, attributes.readBufferSize, 0);
  checkInteger(what, `${at}decompressionGuard`, attributes.decompressionGuard, -1);
  checkInteger(what, `${at}maxBodySize`, attributes.maxBodySize, 0);
  const save = attributes.cacheSaveControl;
  if (save !== undefined && typeof save !== "boolean") {
    throw new TypeError(
      `${what}: '${at}cacheSaveControl' must be a boolean, got ${describe(save)}`,
    );
  }
  checkRetry(what, attributes.retry, false, `${at}retry`);
}

function checkSignal(what: string, signal: unknown, at = ""): void {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`${what}: '${at}signal' must be an AbortSignal, got ${describe(signal)}`);
  }
}

/**
 * Checks the options of the requests another object makes (a factory's `requestInit`, its
 * `field`), headers aside, as the constructor of {@linkcode NetworkRequest} checks them: the
 * messages start with `what` and name `field.option`.
 *
 * @throws {TypeError} As the constructor, for the options other than `headers`.
 * @throws {RangeError} As the constructor.
 */
export function checkRequestInit(what: string, field: string, init: unknown): void {
  checkObject(what, field, init);
  if (init === undefined) return;
  const at = `${field}.`;
  checkKeys(what, init as object, INIT_OPTIONS, field);
  checkAttributes(what, init as NetworkRequestInit, at);
  const { signal, sensitiveHeaders, attributes } = init as NetworkRequestInit;
  checkSignal(what, signal, at);
  if (sensitiveHeaders !== undefined) sensitiveNames(what, sensitiveHeaders, at);
  if (attributes !== undefined) checkObject(what, `${at}attributes`, attributes);
}

/**
 * The lower-case names of a request's `sensitiveHeaders`: an array (or other iterable, not a
 * string) of header names; the message of one that is not starts with `what` (the field after
 * `at`, as {@linkcode checkAttributes} names it).
 */
function sensitiveNames(what: string, names: unknown, at = ""): Set<string> {
  if (
    typeof names !== "object" || names === null ||
    typeof (names as Iterable<unknown>)[Symbol.iterator] !== "function"
  ) {
    throw new TypeError(
      `${what}: '${at}sensitiveHeaders' must be an array (or other iterable) of header names, got ${
        describe(names)
      }`,
    );
  }
  const sensitive = new Set<string>();
  let i = 0;
  for (const name of names as Iterable<unknown>) {
    if (!isToken(name)) {
      throw new TypeError(
        `${what}: '${at}sensitiveHeaders[${i}]' must be a header name, got ${describe(name)}`,
      );
    }
    sensitive.add(name.toLowerCase());
    i++;
  }
  return sensitive;
}

/**
 * Takes the URL of a request the manager made itself for the first exchange, without a copy: the
 * request keeps its `href` and makes its own `URL` from it when `url` is read.
 */
export let takeUrl: (request: NetworkRequest) => URL;

/**
 * A new `URL` of the `href` {@linkcode takeUrl} kept, whatever was done to the request's `url`
 * since: the first exchange's, for a request that waited in the queue without one.
 */
export let keptUrl: (request: NetworkRequest) => URL;

/** The `href` {@linkcode takeUrl} kept (the URL it was sent to), or `undefined` if none. */
export let keptHref: (request: NetworkRequest) => string | undefined;

/**
 * Keeps the headers of a request the manager made itself for its first exchange while the request
 * waits for its queue slot: `headers`, read meanwhile, is a copy of them, so that a change made to
 * it while the request waits is not sent (as a `url` set then is not).
 */
export let keepHeaders: (request: NetworkRequest) => void;

/**
 * A copy of the headers {@linkcode keepHeaders} kept, for the first exchange (whose layers may
 * change it); the request has them back as its `headers`, unless it was given or made others.
 */
export let keptHeaders: (request: NetworkRequest) => Headers;

/** The headers kept by {@linkcode keepHeaders}: only for requests that wait with them. */
const KEPT = new WeakMap<NetworkRequest, Headers>();

/** Headers that never go to another origin than their request's, besides its `sensitiveHeaders`. */
const CROSS_ORIGIN_STRIPPED = _CREDENTIAL_HEADERS;

/**
 * Removes from `headers` what must not follow a request to another origin (a redirect, a next
 * page): Authorization, Proxy-Authorization, Cookie and the names in `sensitive` (lower case).
 */
export function stripCrossOriginHeaders(headers: Headers, sensitive: Iterable<string>): void {
  for (const name of CROSS_ORIGIN_STRIPPED) headers.delete(name);
  for (const name of sensitive) headers.delete(name);
}

/**
 * Makes the headers of `init`: a record's `undefined` and `null` values are left out (rather
 * than sent as the text "undefined"); `base`, when given, is copied first and each header of
 * `init` replaces it, an `undefined` or `null` value removing it.
 *
 * @throws {TypeError} When a header is invalid; the message starts with `what` (and names the
 * headers `field`, by default `headers`, when they are not an object).
 */
export function makeHeaders(
  what: string,
  init: NonNullable<NetworkRequestInit["headers"]>,
  base?: Headers,
  field?: string,
): Headers {
  try {
    const record = !(init instanceof Headers) && !Array.isArray(init) &&
      !(Symbol.iterator in init);
    if (base === undefined && !record) return new Headers(init as HeadersInit);
    const headers = new Headers(base);
    if (!record) {
      const seen = new Set<string>();
      for (const [name, value] of new Headers(init as HeadersInit)) {
        if (!seen.has(name)) headers.delete(name);
        seen.add(name);
        headers.append(name, value);
      }
      return headers;
    }
    for (const [name, value] of Object.entries(init)) {
      if (value === undefined || value === null) headers.delete(name);
      else headers.set(name, value);
    }
    return headers;
  } catch (error) {
    throw headersError(what, init, error, field);
  }
}

/** `Deno.inspect`, as a custom inspection is given it. */
type Inspect = (value: unknown, options: unknown) => string;

/** Sets a field of a request. */
type Setter<V> = (request: NetworkRequest, value: V) => void;

/** The options of a request made from a URL alone. */
const NO_INIT: NetworkRequestInit = Object.freeze({});

function parseUrl(input: string | URL): URL {
  if (input instanceof URL) return new URL(input.href);
  if (typeof input !== "string") {
    throw new TypeError(
      `Cannot create request: 'url' must be a string or URL, got ${describe(input)}`,
    );
  }
  try {
    return new URL(input);
  } catch {
    throw new TypeError(
      `Cannot create request: invalid URL ${describe(input)}${urlHint(input)}`,
    );
  }
}

/**
 * Why a URL does not parse, or how to mend it, when it is empty, relative, has no scheme or an
 * IPv6 zone ID; else "".
 */
function urlHint(input: string): string {
  if (input.trim() === "") return input === "" ? ": it is empty" : ": it is whitespace alone";
  const zone = /^[a-z][\w+.-]*:\/\/(?:[^/?#@]*@)?\[[^\]/?#%]*(%[^\]/?#]*)\]/i.exec(input);
  if (zone) {
    return `: its IPv6 address has a zone ID (${JSON.stringify(zone[1])}), which URLs (the ` +
      "WHATWG URL standard, and so fetch) do not allow";
  }
  if (/^[/.?#]/.test(input)) {
    return ": it is relative, and a request needs an absolute URL such as " +
      `"https://example.com${input.startsWith("/") ? input : `/${input}`}" (a ` +
      "NetworkRequestFactory joins paths to a base URL)";
  }
  if (/^[\w-]+(\.[\w-]+)*(:\d+)?([/?#]|$)/.test(input)) {
    return `: it has no scheme; did you mean "https://${input}"?`;
  }
  return "";
}

/**
 * A request: what to fetch and how. Qt's `QNetworkRequest`: the manager's settings apply unless
 * an attribute here overrides them. Properties are writable until the request is sent; the
 * manager reads them when `get()` (or another operation) is called.
 *
 * @example A request with a header and a priority
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, NetworkRequest } from "@netaccess/core";
 *
 * const request = new NetworkRequest("data:application/json,[1,2]", {
 *   headers: { accept: "application/json" },
 *   priority: "high",
 *   transferTimeout: 30_000,
 * });
 * await using manager = new NetworkAccessManager();
 * assert.deepEqual(await manager.get(request).json(), [1, 2]);
 * ```
 */
export class NetworkRequest {
  /** The target URL. */
  declare url: URL;
  /** The URL, or `undefined` while only its `href` is kept (see `takeUrl`). */
  #url: URL | undefined;
  /**
   * The `href` of a URL handed to the manager's first exchange (or to be, once the request has
   * its queue slot): `url` is made from it when read, unless one was set.
   */
  #href: string | undefined;
  /** The request headers. */
  declare headers: Headers;
  /** The headers, made when first read unless given. */
  #headers: Headers | undefined;
  /** The priority in the host's queue. */
  priority: Priority;
  /** Where the reply may come from; `undefined` means the manager's setting. */
  cacheLoadControl: CacheLoadControl | undefined;
  /** Whether a response may be stored in the cache. */
  cacheSaveControl: boolean;
  /** Whether cookies from the jar are sent. */
  cookieLoadControl: CookieControl;
  /** Whether cookies from responses are stored. */
  cookieSaveControl: CookieControl;
  /** The redirect policy; `undefined` means the manager's. */
  redirectPolicy: RedirectPolicy | undefined;
  /** The most redirects followed; `undefined` means the manager's. */
  maxRedirects: number | undefined;
  /** The redirect statuses (301, 302, 303) after which a POST stays a POST, with its body. */
  postRedirects: readonly number[] | undefined;
  /** Whether every redirect hop keeps the request's method (curl's `-X` with `-L`). */
  keepRedirectMethod: boolean;
  /** Inactivity timeout in milliseconds (0 = off); `undefined` means the manager's. */
  transferTimeout: number | undefined;
  /** Total timeout in milliseconds (0 = off); `undefined` means the manager's. */
  timeout: number | undefined;
  /** Aborts the reply when it aborts (with `TimeoutError` for `AbortSignal.timeout()`). */
  signal: AbortSignal | undefined;
  /** Bytes buffered while nobody reads (0 = unlimited); `undefined` means the manager's. */
  readBufferSize: number | undefined;
  /** Decompression guard threshold in bytes (-1 = off); `undefined` means the manager's. */
  decompressionGuard: number | undefined;
  /** The most body bytes the reply accepts (0 = no limit); `undefined` means the manager's. */
  maxBodySize: number | undefined;
  /** Extra header names stripped when a redirect leaves the origin (lower case). */
  declare sensitiveHeaders: Set<string>;
  /** Free-form attributes for user layers. */
  declare attributes: Record<string, unknown>;
  /** The sensitive header names and the attributes, made when first read unless given. */
  #sensitive: Set<string> | undefined;
  #attributes: Record<string, unknown> | undefined;
  /** Retrying of this request; `undefined` means the manager's `retry`. */
  retry: RetryOptions | number | boolean | undefined;

  static {
    // These are fields to their readers. A URL the manager took for its exchange is copied from
    // its `href` when first read (most replies never read it); the headers, sensitive header
    // names and attributes are made when first read (most requests made from a URL alone never
    // read them).
    const field = <V>(name: string, get: (request: NetworkRequest) => V, set: Setter<V>) =>
      Object.defineProperty(NetworkRequest.prototype, name, {
        get(this: NetworkRequest): V {
          return get(this);
        },
        set(this: NetworkRequest, value: V) {
          set(this, value);
        },
        configurable: true,
        enumerable: true,
      });
    // A URL set keeps the `href` taken for the first exchange: a waiting request is sent to it.
    field("url", (request) => request.#url ??= new URL(request.#href!), (request, value: URL) => {
      request.#url = value;
    });
    // A request waiting with headers kept for its first exchange (only one whose URL the manager
    // took may) makes a copy of them.
    const made = (request: NetworkRequest) =>
      request.#href === undefined ? new Headers() : new Headers(KEPT.get(request));
    field("headers", (request) => request.#headers ??= made(request), (request, value) => {
      request.#headers = value;
    });
    field("sensitiveHeaders", (request) => request.#sensitive ??= new Set(), (request, value) => {
      request.#sensitive = value;
    });
    field("attributes", (request) => request.#attributes ??= {}, (request, value) => {
      request.#attributes = value;
    });
    // Shown by `console.log` and `Deno.inspect` with every field, as plain fields would be.
    Object.defineProperty(NetworkRequest.prototype, Symbol.for("Deno.customInspect"), {
      value(this: NetworkRequest, inspect: Inspect, options: unknown): string {
        // The fields made when first read are no own fields: shown as they are, or empty.
        const { url: _u, headers: _h, sensitiveHeaders: _s, attributes: _a, ...own } = { ...this };
        // Credentials are not shown: a URL's password and the values of its query parameters
        // that are credentials, the values of the credential headers and of the request's
        // sensitive headers (their names are).
        const sensitive = this.#sensitive ?? new Set<string>();
        const shown = {
          url: _shownUrl(this.#url ?? new URL(this.#href!)),
          headers: _redactHeaders(this.#headers ?? KEPT.get(this) ?? new Headers(), sensitive),
          ...own,
          sensitiveHeaders: sensitive,
          attributes: this.#attributes ?? {},
        };
        return `NetworkRequest ${inspect(shown, options)}`;
      },
      configurable: true,
    });
    takeUrl = (request) => {
      const url = request.url;
      request.#href = url.href;
      request.#url = undefined;
      return url;
    };
    keptUrl = (request) => new URL(request.#href!);
    keptHref = (request) => request.#href;
    keepHeaders = (request) => {
      KEPT.set(request, request.#headers!);
      request.#headers = undefined;
    };
    keptHeaders = (request) => {
      const kept = KEPT.get(request)!;
      KEPT.delete(request);
      request.#headers ??= kept;
      return new Headers(kept);
    };
  }

  /**
   * Creates a request.
   *
   * @param url The target, absolute.
   * @param init Headers, priority and attributes.
   * @throws {TypeError} When the URL is invalid (relative, or without a scheme: the message
   * says how to mend it), `init` is not an object or has a key that is no option (the message
   * names it and the closest option), a header name or value is invalid, an attribute has a
   * value outside its choices, or a numeric attribute is not a number (the message names the
   * field).
   * @throws {RangeError} When a numeric attribute (or a status of `postRedirects`) is a number out
   * of range.
   */
  constructor(url: string | URL, init: NetworkRequestInit = NO_INIT) {
    const what = "Cannot create request";
    this.#url = parseUrl(url);
    if (init !== NO_INIT) {
      checkObject(what, "init", init);
      checkKeys(what, init, INIT_OPTIONS);
    }
    if (init.headers !== undefined) this.#headers = makeHeaders(what, init.headers);
    // A request made from a URL alone has nothing to check.
    if (init !== NO_INIT) checkAttributes(what, init);
    checkSignal(what, init.signal);
    this.priority = init.priority ?? "normal";
    this.cacheLoadControl = init.cacheLoadControl;
    this.cacheSaveControl = init.cacheSaveControl ?? true;
    this.cookieLoadControl = init.cookieLoadControl ?? "automatic";
    this.cookieSaveControl = init.cookieSaveControl ?? "automatic";
    this.redirectPolicy = init.redirectPolicy;
    this.maxRedirects = init.maxRedirects;
    this.postRedirects = init.postRedirects;
    this.keepRedirectMethod = init.keepRedirectMethod ?? false;
    this.transferTimeout = init.transferTimeout;
    this.timeout = init.timeout;
    this.signal = init.signal;
    this.readBufferSize = init.readBufferSize;
    this.decompressionGuard = init.decompressionGuard;
    this.maxBodySize = init.maxBodySize;
    if (init.sensitiveHeaders !== undefined) {
      this.#sensitive = sensitiveNames(what, init.sensitiveHeaders);
    }
    if (init.attributes !== undefined) {
      checkObject(what, "attributes", init.attributes);
      this.#attributes = { ...init.attributes };
    }
    this.retry = init.retry;
  }

  /**
   * Returns a copy of this request with `changes` applied (headers are copied, not shared).
   *
   * @param changes Fields to replace; `headers` replaces all headers. A field left out or
   * `undefined` keeps this request's value; `null` is refused where the constructor refuses it.
   * @returns A new request.
   * @throws {TypeError} Under the same conditions as the constructor.
   * @throws {RangeError} Under the same conditions as the constructor.
   */
  clone(changes: NetworkRequestInit & { url?: string | URL } = {}): NetworkRequest {
    checkObject("Cannot create request", "changes", changes);
    checkKeys("Cannot create request", changes, CLONE_OPTIONS);
    // A change left out or `undefined` keeps this request's value; any other, `null` too, is
    // checked as the constructor checks it.
    const { url = this.url, ...given } = changes;
    const init: Record<string, unknown> = {
      headers: this.headers,
      priority: this.priority,
      cacheLoadControl: this.cacheLoadControl,
      cacheSaveControl: this.cacheSaveControl,
      cookieLoadControl: this.cookieLoadControl,
      cookieSaveControl: this.cookieSaveControl,
      redirectPolicy: this.redirectPolicy,
      maxRedirects: this.maxRedirects,
      postRedirects: this.postRedirects,
      keepRedirectMethod: this.keepRedirectMethod,
      transferTimeout: this.transferTimeout,
      timeout: this.timeout,
      signal: this.signal,
      readBufferSize: this.readBufferSize,
      decompressionGuard: this.decompressionGuard,
      maxBodySize: this.maxBodySize,
      sensitiveHeaders: this.sensitiveHeaders,
      attributes: this.attributes,
      retry: this.retry,
    } satisfies Required<Record<keyof NetworkRequestInit, unknown>>;
    for (const [key, value] of Object.entries(given)) if (value !== undefined) init[key] = value;
    return new NetworkRequest(url, init);
  }
}

/**
 * Checks the attributes of a caller's request again (they are writable) and returns what is
 * wrong, or `null`. The manager fails a reply with this message instead of sending.
 */
export function requestProblem(request: NetworkRequest): string | null {
  const what = "Invalid request";
  try {
    if (!(request.url instanceof URL)) throw new TypeError(`${what}: 'url' must be a URL`);
    if (!(request.headers instanceof Headers)) {
      throw new TypeError(`${what}: 'headers' must be a Headers object`);
    }
    checkAttributes(what, request);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

export const requestChoices = {
  priority: PRIORITIES,
  cacheLoadControl: LOAD_CONTROLS,
  cookieControl: COOKIE_CONTROLS,
  redirectPolicy: REDIRECT_POLICIES,
} as const;
