/**
 * {@linkcode MockTransport}: a transport that answers from routes, without sockets.
 *
 * @module
 */

import {
  checkChoice,
  checkFunction,
  checkInteger,
  checkKeys,
  checkObject,
  describe,
  isPlainObject,
  numberError,
} from "../_validation.ts";
import { isToken } from "../_http_token.ts";
import { type Exchange, type Handler, setResponseInfo } from "../exchange.ts";
import { checkLength, unreadable, withBody } from "../_response.ts";
import { NetworkError, type NetworkErrorCode, NetworkReplyError } from "../network_error.ts";
import { sleep } from "../retry_options.ts";
import { checkAnswer, checkDelay, type MockResponseInit, toResponse } from "./_mock_response.ts";
import { compileMatchers, pendingMessage, type RouteMatchers } from "./_mock_match.ts";
import { compilePattern, describePattern } from "./_mock_pattern.ts";
import { bufferBody, drain, exchangeToRequest, requestHeaders, sentUrl } from "./_mock_request.ts";

export type { MockResponseInit };

/**
 * What a route handler is given besides the request.
 *
 * @example A handler that reads the captured path groups and the exchange
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager } from "@netaccess/core";
 * import { type MockContext, MockTransport } from "@netaccess/core/testing";
 *
 * function fileInfo(_request: Request, { params, exchange }: MockContext) {
 *   return { json: { file: params.file, hop: exchange.hop, host: exchange.url.hostname } };
 * }
 * const mock = new MockTransport().route("GET", "/files/:file", fileInfo);
 * await using manager = new NetworkAccessManager({ transport: mock.handler });
 * assert.deepEqual(await manager.get("https://files.example/files/a.txt").json(), {
 *   file: "a.txt",
 *   hop: 0,
 *   host: "files.example",
 * });
 * ```
 */
export interface MockContext {
  /** The groups the route's URL pattern captured (pathname, then hostname and search). */
  params: Record<string, string | undefined>;
  /** The exchange being answered (its `hop`, `request`, `reply`, `signal`). */
  exchange: Exchange;
}

/**
 * Answers a matched request, as a `Deno.serve` handler does. A handler that throws fails the
 * reply with `UnknownNetworkError` and a message naming its route; a `NetworkReplyError` it
 * throws fails the reply with that error's code, to simulate a failure of its own.
 *
 * @example An echo handler that reads the request body
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager } from "@netaccess/core";
 * import { type MockHandler, MockTransport } from "@netaccess/core/testing";
 *
 * const echo: MockHandler = async (request) => ({ body: `echo: ${await request.text()}` });
 * const mock = new MockTransport().route("POST", "/echo", echo);
 * await using manager = new NetworkAccessManager({ transport: mock.handler });
 * assert.equal(await manager.post("https://api.example/echo", "hello").text(), "echo: hello");
 * ```
 */
export type MockHandler = (
  request: Request,
  context: MockContext,
) => Response | MockResponseInit | Promise<Response | MockResponseInit>;

/**
 * How a route answers: a `Response` (sent as a copy each time), canned fields or a handler.
 *
 * @example Routes from a table of the three kinds of answer
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager } from "@netaccess/core";
 * import { type MockResponder, MockTransport } from "@netaccess/core/testing";
 *
 * const answers: Record<string, MockResponder> = {
 *   "/ping": new Response("pong"),
 *   "/health": { json: { up: true } },
 *   "/time": () => ({ body: "12:00" }),
 * };
 * const mock = new MockTransport();
 * for (const [path, answer] of Object.entries(answers)) mock.route("GET", path, answer);
 * await using manager = new NetworkAccessManager({ transport: mock.handler });
 * assert.equal(await manager.get("https://api.example/ping").text(), "pong");
 * assert.deepEqual(await manager.get("https://api.example/health").json(), { up: true });
 * ```
 */
export type MockResponder = Response | MockResponseInit | MockHandler;

/**
 * How a route behaves besides its answer.
 *
 * @example A route that fails once after a delay, then a route that answers
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, NetworkError } from "@netaccess/core";
 * import { type MockRouteOptions, MockTransport } from "@netaccess/core/testing";
 *
 * const flaky: MockRouteOptions = {
 *   latency: 5,
 *   failure: NetworkError.RemoteHostClosedError,
 *   times: 1,
 * };
 * const mock = new MockTransport()
 *   .route("GET", "/report", {}, flaky)
 *   .route("GET", "/report", "ready");
 * await using manager = new NetworkAccessManager({ transport: mock.handler });
 * const first = manager.get("https://api.example/report");
 * await first.finished;
 * assert.equal(first.error === NetworkError.RemoteHostClosedError, true);
 * assert.equal(await manager.get("https://api.example/report").text(), "ready");
 * ```
 */
export interface MockRouteOptions {
  /**
   * Milliseconds to wait before answering (aborting the reply stops the wait).
   * @default {the transport's latency}
   */
  latency?: number | undefined;
  /**
   * Fail the exchange with this {@linkcode NetworkError} code instead of answering, as a
   * connection error would (e.g. `NetworkError.ConnectionRefusedError`).
   * @default {undefined}
   */
  failure?: NetworkErrorCode | undefined;
  /**
   * How many requests the route answers; then it no longer matches and later routes (or the
   * fallback) answer. Useful for "fail twice, then succeed".
   * @default {Infinity}
   */
  times?: number | undefined;
  /**
   * The query the request must have, whatever the order of its parameters: an object of
   * parameter names to a value, a RegExp or a predicate (every named parameter present once
   * and matching, no other parameter), a query string or `URLSearchParams` (the same pairs,
   * in any order), or a predicate over the whole query.
   * @default {undefined (any query the URL pattern allows)}
   */
  query?:
    | Record<string, string | RegExp | ((value: string) => boolean)>
    | URLSearchParams
    | string
    | ((query: URLSearchParams) => boolean);
  /**
   * Headers the request must have (others may be there too): names, in any case, to a value,
   * a RegExp or a predicate; or a predicate over all the headers.
   * @default {undefined (any headers)}
   */
  headers?:
    | Record<string, string | RegExp | ((value: string) => boolean)>
    | ((headers: Headers) => boolean);
  /**
   * The body the request must have, as text (`""` for none): the exact text, a RegExp or a
   * predicate.
   * @default {undefined (any body)}
   */
  body?: string | RegExp | ((text: string) => boolean) | undefined;
  /**
   * A value the request's body must equal once parsed as JSON (objects compared by value,
   * whatever the order of their keys).
   * @default {undefined (any body)}
   */
  json?: unknown;
}

/**
 * A route as {@linkcode MockTransport.pendingRoutes} lists it.
 *
 * @example Listing the routes a test has not used up
 * ```ts
 * import assert from "node:assert/strict";
 * import { type MockRouteInfo, MockTransport } from "@netaccess/core/testing";
 *
 * const mock = new MockTransport().route("GET", "/a", "a", { times: 2 });
 * const pending: MockRouteInfo[] = mock.pendingRoutes();
 * assert.deepEqual(pending, [{ name: "GET /a", calls: 0, times: 2 }]);
 * ```
 */
export interface MockRouteInfo {
  /** The method, the pattern and what the route matches besides, as messages show it. */
  readonly name: string;
  /** How many requests the route has answered. */
  readonly calls: number;
  /** How many it answers in all (`Infinity` unless `times` was given). */
  readonly times: number;
}

/**
 * Options of {@linkcode MockTransport}.
 *
 * @example Simulated latency without real waits, and a fallback for unmatched requests
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager } from "@netaccess/core";
 * import { MockTransport, type MockTransportOptions } from "@netaccess/core/testing";
 *
 * const waits: number[] = [];
 * const options: MockTransportOptions = {
 *   latency: 250,
 *   sleep: async (ms) => void waits.push(ms),
 *   fallback: async (exchange) => new Response(`fallback for ${exchange.url.pathname}`),
 * };
 * const mock = new MockTransport(options).route("GET", "/known", "routed");
 * await using manager = new NetworkAccessManager({ transport: mock.handler });
 * assert.equal(await manager.get("https://api.example/known").text(), "routed");
 * assert.deepEqual(waits, [250]); // the latency, handed to `sleep`
 * assert.equal(await manager.get("https://api.example/other").text(), "fallback for /other");
 * ```
 */
export interface MockTransportOptions {
  /**
   * Milliseconds every route waits before answering unless it sets its own.
   * @default {0}
   */
  latency?: number | undefined;
  /**
   * Answers requests no route matches; by default a 404 response whose body names the
   * request. Pass the library's `transport` to let them go to the network.
   * @default {undefined}
   */
  fallback?: Handler | undefined;
  /**
   * What a request no route matches (and no `fallback` takes) gets: `"404"` a 404 response
   * whose status text names the request and whose body lists the routes, closest first, with
   * why each missed; `"fail"` fails the reply with `ContentNotFoundError` and that text as its
   * `errorString`, so a body reader such as `json()` throws it rather than a parse error.
   * @default {"404"}
   */
  unmatched?: "404" | "fail" | undefined;
  /**
   * Waits `ms` milliseconds or until `signal` aborts; replace it to simulate latency without
   * real waits.
   * @default {a setTimeout-based wait}
   */
  sleep?: ((ms: number, signal: AbortSignal) => Promise<void>) | undefined;
}

interface Route {
  method: string;
  pattern: URLPattern;
  /** The method and the full pattern, for messages. */
  name: string;
  responder: MockResponder;
  latency: number | undefined;
  failure: NetworkErrorCode | undefined;
  remaining: number;
  times: number;
  calls: number;
  matchers: RouteMatchers | undefined;
}

const KNOWN_CODES = new Set<number>(Object.values(NetworkError));
/** The names of the transport's options (the type says every one is here). */
const OPTIONS = Object.keys(
  { latency: 1, fallback: 1, unmatched: 1, sleep: 1 } satisfies Record<
    keyof MockTransportOptions,
    1
  >,
);
/** The names of a route's options (the type says every one is here). */
const ROUTE_OPTIONS = Object.keys(
  { latency: 1, failure: 1, times: 1, query: 1, headers: 1, body: 1, json: 1 } satisfies Record<
    keyof MockRouteOptions,
    1
  >,
);
/** What a `latency` of 0 does, for the message of one too long. */
const NO_WAIT = "use 0 to answer without waiting";

/** A canned answer (`MockResponseInit`): a plain object, as a handler's result may also be. */
function isResponseInit(value: unknown): value is MockResponseInit {
  return isPlainObject(value);
}

/**
 * A transport for tests: answers requests from routes matched by method and URL pattern
 * (`URLPattern`), with latency and failure injection, so code that uses a
 * {@linkcode NetworkAccessManager} is tested without sockets. Pass {@linkcode MockTransport.handler}
 * as the manager's `transport` option, or use {@linkcode createMockManager}.
 *
 * Routes are tried in the order they were added; the first whose method and pattern match
 * answers. A string pattern that starts with `/` matches the path on any origin; otherwise it
 * is a full `URLPattern` string such as `"https://api.example.com/users/:id"`.
 *
 * @example Routes with a canned answer, a handler and an injected failure
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, NetworkError } from "@netaccess/core";
 * import { MockTransport } from "@netaccess/core/testing";
 *
 * const mock = new MockTransport()
 *   .route("GET", "/users/:id", (_request, { params }) => ({ json: { id: params.id } }))
 *   .route("POST", "/users", async (request) => ({ status: 201, json: await request.json() }))
 *   .fail("GET", "https://down.example/*", NetworkError.ConnectionRefusedError);
 * await using manager = new NetworkAccessManager({ transport: mock.handler });
 * assert.deepEqual(await manager.get("https://api.example/users/7").json(), { id: "7" });
 * const down = manager.get("https://down.example/status");
 * await down.finished;
 * assert.equal(down.error === NetworkError.ConnectionRefusedError, true);
 * ```
 */
export class MockTransport {
  readonly #routes: Route[] = [];
  readonly #latency: number;
  readonly #fallback: Handler | undefined;
  readonly #failUnmatched: boolean;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly #unmatched: string[] = [];
  #calls = 0;

  /**
   * Creates a mock transport with no routes.
   *
   * @param options Default latency, the fallback for unmatched requests, the wait function.
   * @throws {RangeError} When `latency` is a number that is negative, not finite, or longer
   * than a timer can wait.
   * @throws {TypeError} When `latency` is not a number, `fallback` or `sleep` is not a function,
   * `unmatched` is neither `"404"` nor `"fail"`, or an option is unknown (misspelt).
   */
  constructor(options: MockTransportOptions = {}) {
    const what = "Cannot create mock transport";
    checkObject(what, "options", options);
    checkKeys(what, options, OPTIONS);
    checkDelay(what, "latency", options.latency, NO_WAIT);
    checkFunction(what, "fallback", options.fallback);
    checkFunction(what, "sleep", options.sleep);
    this.#latency = options.latency ?? 0;
    checkChoice(what, "unmatched", options.unmatched, ["404", "fail"]);
    this.#failUnmatched = options.unmatched === "fail";
    this.#fallback = options.fallback;
    this.#sleep = options.sleep ?? sleep;
  }

  /**
   * Adds a route.
   *
   * @param method An HTTP method, or `"*"` for any.
   * @param pattern A `URLPattern`, its init (a plain object, or a `URL`), or a string (a path
   * when it starts with `/`); `null` and `undefined` are refused.
   * @param responder How to answer; a `Response` is copied for each request.
   * @param options Latency, failure and how many times the route answers.
   * @returns The transport, for chaining.
   * @throws {TypeError} When `method` is neither an HTTP token nor `"*"`, the pattern is invalid
   * or none of a string, a `URLPattern` and its init, `responder` is none of a `Response`, a
   * `MockResponseInit` object, a string or a function, its fields make no valid response (bad
   * headers, a body with a null-body status such as 204) or one is unknown (misspelt), an option
   * is unknown, or a number option (`latency`, `times`, `failure`, a canned `status` or
   * `chunkDelay`) is not a number.
   * @throws {RangeError} When one of them is a number out of range: `latency` negative, `times`
   * not a positive integer, `failure` no NetworkError code or `NoError`, `status` outside 200-599.
   *
   * @example Fail twice, then answer
   * ```ts
   * import assert from "node:assert/strict";
   * import { NetworkError } from "@netaccess/core";
   * import { MockTransport } from "@netaccess/core/testing";
   *
   * const mock = new MockTransport()
   *   .route("GET", "/flaky", { status: 503 }, { times: 2 })
   *   .route("GET", "/flaky", "ok at last");
   * assert.equal(mock.calls, 0);
   * ```
   */
  route(
    method: string,
    pattern: string | URLPattern | URLPatternInit,
    responder: MockResponder | string = {},
    options: MockRouteOptions = {},
  ): this {
    const what = "Cannot add mock route";
    if (method !== "*" && !isToken(method)) {
      throw new TypeError(
        `${what}: 'method' must be an HTTP method or "*", got ${describe(method)}`,
      );
    }
    const compiled = compilePattern(what, pattern);
    if (
      typeof responder !== "string" && typeof responder !== "function" &&
      !(responder instanceof Response) && !isResponseInit(responder)
    ) {
      throw new TypeError(
        `${what}: 'responder' must be a Response, a { status, headers, body | json } object, ` +
          `a string or a handler function, got ${describe(responder)}`,
      );
    }
    if (isResponseInit(responder)) checkAnswer(what, responder, "responder");
    checkObject(what, "options", options);
    checkKeys(what, options, ROUTE_OPTIONS);
    const route = options;
    const matchers = compileMatchers(what, route);
    checkDelay(what, "latency", route.latency, NO_WAIT);
    if (route.failure !== undefined && !KNOWN_CODES.has(route.failure)) {
      throw numberError(what, "failure", route.failure, "a NetworkError code");
    }
    if (route.failure === NetworkError.NoError) {
      throw numberError(
        what,
        "failure",
        route.failure,
        "a NetworkError code other than NoError",
        "NoError is no failure: route() answers",
      );
    }
    const times = route.times;
    if (times !== Infinity) checkInteger(what, "times", times, 1);
    const name = `${method.toUpperCase()} ${describePattern(pattern, compiled)}`;
    this.#routes.push({
      method: method.toUpperCase(),
      pattern: compiled,
      name: matchers ? `${name} (${matchers.label})` : name,
      responder: typeof responder === "string" ? { body: responder } : responder,
      latency: route.latency,
      failure: route.failure,
      remaining: route.times ?? Infinity,
      times: route.times ?? Infinity,
      calls: 0,
      matchers,
    });
    return this;
  }

  /**
   * Adds a route that fails as a connection error would, with a {@linkcode NetworkError} code.
   *
   * @param method An HTTP method, or `"*"` for any.
   * @param pattern A `URLPattern`, its init, or a string (a path when it starts with `/`).
   * @param code The code the reply fails with, such as `NetworkError.ConnectionRefusedError`.
   * @param options Latency and how many times the route fails.
   * @returns The transport, for chaining.
   * @throws {TypeError} When the pattern is invalid or none of a string, a `URLPattern` and its
   * init object, or `code` is not a number.
   * @throws {RangeError} When `code` is a number that is no NetworkError code, or `NoError`.
   *
   * @example A host that refuses connections
   * ```ts
   * import assert from "node:assert/strict";
   * import { NetworkAccessManager, NetworkError } from "@netaccess/core";
   * import { MockTransport } from "@netaccess/core/testing";
   *
   * const mock = new MockTransport().fail("*", "https://down.example/*", NetworkError.ConnectionRefusedError);
   * await using manager = new NetworkAccessManager({ transport: mock.handler });
   * const reply = manager.get("https://down.example/");
   * await reply.finished;
   * assert.equal(reply.error, 1);
   * ```
   */
  fail(
    method: string,
    pattern: string | URLPattern | URLPatternInit,
    code: NetworkErrorCode,
    options: Omit<MockRouteOptions, "failure"> = {},
  ): this {
    checkObject("Cannot add mock route", "options", options);
    if ("failure" in options) {
      throw new TypeError(
        "Cannot add mock route: unknown option 'failure'; the code is fail()'s third argument",
      );
    }
    return this.route(method, pattern, {}, { ...options, failure: code });
  }

  /** Removes every route, forgets unmatched requests and sets the call count back to 0. */
  reset(): void {
    this.#routes.length = 0;
    this.#unmatched.length = 0;
    this.#calls = 0;
  }

  /**
   * The requests no route matched, as `"GET https://host/path"`, oldest first, whether the
   * `fallback` answered them or not; {@linkcode MockTransport.reset} forgets them. Assert that it
   * is empty to catch a request the default 404 would hide.
   *
   * @example Every request the code made was routed
   * ```ts
   * import assert from "node:assert/strict";
   * import { createMockManager } from "@netaccess/core/testing";
   *
   * await using mocked = createMockManager();
   * mocked.mock.route("GET", "/users", { json: [] });
   * await mocked.manager.get("https://api.example/users").json();
   * await mocked.manager.get("https://api.example/user").finished;
   * assert.deepEqual(mocked.mock.unmatchedRequests, ["GET https://api.example/user"]);
   * ```
   */
  get unmatchedRequests(): readonly string[] {
    return [...this.#unmatched];
  }

  /** How many exchanges the transport has been asked to send. */
  get calls(): number {
    return this.#calls;
  }

  /**
   * The transport as a {@linkcode Handler}, for the manager's `transport` option.
   *
   * @returns The handler.
   */
  get handler(): Handler {
    return (exchange) => this.#handle(exchange);
  }

  /**
   * The routes not used up: those given `times` that answered fewer requests, and the others
   * that answered none.
   *
   * @returns Each such route's name, calls and times, in the order they were added.
   *
   * @example A route the code under test never called
   * ```ts
   * import assert from "node:assert/strict";
   * import { createMockManager } from "@netaccess/core/testing";
   *
   * await using mocked = createMockManager();
   * mocked.mock.route("GET", "/used", "u").route("POST", "/unused", "x");
   * await mocked.manager.get("https://api.example/used").text();
   * assert.deepEqual(mocked.mock.pendingRoutes().map((route) => route.name), ["POST /unused"]);
   * ```
   */
  pendingRoutes(): MockRouteInfo[] {
    return this.#routes
      .filter((route) => route.times === Infinity ? route.calls === 0 : route.remaining > 0)
      .map(({ name, calls, times }) => ({ name, calls, times }));
  }

  /**
   * Throws when a route is not used up (see {@linkcode MockTransport.pendingRoutes}), with a
   * table of those routes and the requests that matched no route; call it at the end of a test.
   *
   * @throws {Error} When a route is pending, naming each with its calls and times.
   *
   * @example Every route was called
   * ```ts
   * import assert from "node:assert/strict";
   * import { createMockManager } from "@netaccess/core/testing";
   *
   * await using mocked = createMockManager();
   * mocked.mock.route("GET", "/a", "a", { times: 2 }).route("GET", "/b", "b");
   * await mocked.manager.get("https://api.example/a").text();
   * await mocked.manager.get("https://api.example/b").text();
   * assert.throws(() => mocked.mock.assertNoPendingRoutes(), /GET \/a +1 +2/);
   * await mocked.manager.get("https://api.example/a").text();
   * mocked.mock.assertNoPendingRoutes();
   * ```
   */
  assertNoPendingRoutes(): void {
    const pending = this.pendingRoutes();
    if (pending.length === 0) return;
    throw new Error(pendingMessage(pending, this.#unmatched));
  }

  /**
   * Finds the first route that matches, reading the request body only when a route whose
   * method and URL match has a body matcher; otherwise returns why each route missed.
   */
  async #find(
    exchange: Exchange,
    method: string,
  ): Promise<{ route: Route; match: URLPatternResult } | { misses: string[] }> {
    const near: string[] = [];
    const far: string[] = [];
    let headers: Headers | undefined;
    let text: string | undefined;
    for (const route of this.#routes) {
      const match = route.pattern.exec(exchange.url.href);
      if (!match) {
        far.push(`${route.name}: the URL does not match`);
        continue;
      }
      if (route.method !== "*" && route.method !== method) {
        near.push(`${route.name}: the method is ${method}`);
        continue;
      }
      if (route.remaining <= 0) {
        near.push(`${route.name}: used up after ${route.times}`);
        continue;
      }
      const matchers = route.matchers;
      let reason: string | null = null;
      if (matchers?.query) reason = matchers.query(exchange.url.searchParams);
      if (reason === null && matchers?.headers) {
        headers ??= requestHeaders(exchange);
        reason = matchers.headers(headers);
      }
      if (reason === null && matchers?.body) {
        text ??= await bufferBody(exchange);
        reason = matchers.body(text);
      }
      // Reading the body waited: a concurrent request may have used the route up meanwhile.
      if (reason === null && route.remaining <= 0) reason = `used up after ${route.times}`;
      if (reason === null) {
        // Taken at once: a concurrent request must not match a route this one used up.
        route.remaining--;
        route.calls++;
        return { route, match };
      }
      near.push(`${route.name}: ${reason}`);
    }
    return { misses: [...near, ...far] };
  }

  async #handle(exchange: Exchange): Promise<Response> {
    this.#calls++;
    exchange.monitor.activity();
    const method = exchange.method.toUpperCase();
    const found = await this.#find(exchange, method);
    // The URL a server would see, in what a test reads.
    const url = sentUrl(exchange.url);
    if ("misses" in found) {
      const request = `${method} ${url.href}`;
      this.#unmatched.push(request);
      if (this.#fallback) return await this.#fallback(exchange);
      await exchange.body?.discard();
      const { misses } = found;
      const shown = misses.slice(0, 10).map((miss) => `\n  ${miss}`).join("");
      const more = misses.length > 10 ? `\n  ... and ${misses.length - 10} more` : "";
      const text = `No mock route matches ${request}` +
        (misses.length === 0 ? " (no routes)" : `; the routes, closest first:${shown}${more}`);
      if (this.#failUnmatched) throw new NetworkReplyError(NetworkError.ContentNotFoundError, text);
      return setResponseInfo(
        new Response(text, { status: 404, statusText: `No mock route matches ${request}` }),
        { url: exchange.url },
      );
    }
    const { route, match } = found;
    const latency = route.latency ?? this.#latency;
    if (latency > 0) await this.#sleep(latency, exchange.signal);
    if (exchange.signal.aborted) throw exchange.signal.reason;
    if (route.failure !== undefined) {
      await exchange.body?.discard();
      throw new NetworkReplyError(
        route.failure,
        `Mock failure for ${method} ${url.href} (route ${route.name})`,
      );
    }
    let response: Response;
    const responder = route.responder;
    if (typeof responder === "function") {
      const request = exchangeToRequest(exchange, url);
      const params: Record<string, string | undefined> = {
        ...match.search.groups,
        ...match.hostname.groups,
        ...match.pathname.groups,
      };
      let result: unknown;
      try {
        result = await responder(request, { params, exchange });
      } catch (error) {
        if (error instanceof NetworkReplyError || exchange.signal.aborted) throw error;
        const thrown = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        throw new NetworkReplyError(
          NetworkError.UnknownNetworkError,
          `The handler of mock route ${route.name} threw ${thrown} for ${method} ${url.href}`,
          { cause: error },
        );
      }
      if (!(result instanceof Response) && !isResponseInit(result)) {
        throw new NetworkReplyError(
          NetworkError.UnknownNetworkError,
          `The handler of mock route ${route.name} returned ${
            result === undefined ? "undefined (a missing `return`?)" : describe(result)
          } for ${method} ${url.href}; it must return a Response or a ` +
            `{ status, headers, body | json } object`,
        );
      }
      if (result instanceof Response && unreadable(result)) {
        throw new NetworkReplyError(
          NetworkError.UnknownNetworkError,
          `The handler of mock route ${route.name} returned a Response whose body ${
            unreadable(result)
          } for ${method} ${url.href}; a body can be read once: return a new Response each time`,
        );
      }
      try {
        response = toResponse(result, this.#sleep, exchange.signal);
      } catch (error) {
        throw new NetworkReplyError(
          NetworkError.UnknownNetworkError,
          `The handler of mock route ${route.name} returned an invalid answer for ${method} ` +
            `${url.href}: ${(error as Error).message}`,
          { cause: error },
        );
      }
    } else {
      await drain(exchange);
      if (responder instanceof Response && unreadable(responder)) {
        throw new NetworkReplyError(
          NetworkError.UnknownNetworkError,
          `The Response of mock route ${route.name} has a body that ${
            unreadable(responder)
          }, so it ` +
            `cannot be copied for ${method} ${url.href}; leave it unread, or answer ` +
            `with { status, headers, body } or a handler`,
        );
      }
      response = responder instanceof Response
        ? responder.clone()
        : toResponse(responder, this.#sleep, exchange.signal);
    }
    if (response.type === "error") {
      throw new NetworkReplyError(
        NetworkError.UnknownNetworkError,
        `Mock route ${route.name} answered Response.error(), a network error, for ${method} ` +
          url.href,
      );
    }
    if (method === "HEAD") {
      response.body?.cancel().catch(() => {});
      response = withBody(response, null);
    }
    exchange.monitor.activity();
    // A body that ends short of its `Content-Length` is named after the route.
    checkLength(response, `Mock route ${route.name}`);
    return setResponseInfo(response, { url: exchange.url });
  }
}
