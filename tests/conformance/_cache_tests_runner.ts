/**
 * Runs the cache-tests suite (http-tests/cache-tests, the suite behind cache-tests.fyi) through
 * a NetworkAccessManager with its cache on, and scores it like cache-tests.fyi: the same
 * checks as the suite's own client, one request after another, with simulated time.
 */

import type { NetworkCache } from "../../src/cache/network_cache.ts";
import { NetworkAccessManager } from "../../src/manager.ts";
import { NetworkRequest, type NetworkRequestInit } from "../../src/request.ts";
import type { NetworkReply } from "../../src/reply.ts";
import {
  CacheTestsOrigin,
  fixupHeader,
  type ServerRequest,
  type TestHeader,
  type TestRequest,
} from "./_cache_tests_origin.ts";

/** One test of tests.json. */
export interface CacheTest {
  id: string;
  name: string;
  kind?: "required" | "optimal" | "check";
  depends_on?: string[];
  cdn_only?: boolean;
  browser_skip?: boolean;
  browser_only?: boolean;
  requests: TestRequest[];
}

/** One suite of tests.json. */
export interface CacheTestSuite {
  id: string;
  name: string;
  tests: CacheTest[];
}

/** A test's raw result: `true`, or the error class and message, as cache-tests records it. */
export type RawResult = true | [string, string];

/** How cache-tests.fyi shows a result. */
export type Verdict =
  | "pass"
  | "fail"
  | "optional_fail"
  | "yes"
  | "no"
  | "setup_fail"
  | "dependency_fail"
  | "untested";

/** The conformance data folder, next to the project. */
export const CONFORMANCE_ROOT = new URL("../../../shared/conformance/", import.meta.url);

/** Reads tests.json, or `null` when the conformance folder is absent. */
export async function loadSuites(): Promise<CacheTestSuite[] | null> {
  try {
    const text = await Deno.readTextFile(new URL("cache-tests/tests.json", CONFORMANCE_ROOT));
    return JSON.parse(text) as CacheTestSuite[];
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** Reads a published result file (for example `chrome`), or `null`. */
export async function loadPublished(name: string): Promise<Record<string, RawResult> | null> {
  try {
    const url = new URL(`cache-tests/results/${name}.json`, CONFORMANCE_ROOT);
    return JSON.parse(await Deno.readTextFile(url));
  } catch {
    return null;
  }
}

/**
 * Which tests a run takes: `"browser"` for a private cache (the browsers' profile: no
 * `cdn_only`, no `browser_skip`; 300 tests), `"shared"` for a shared cache (the proxies'
 * profile without the CDN-only `CDN-Cache-Control` suite: no `browser_only`, no `cdn_only`;
 * 341 tests).
 */
export type Profile = "browser" | "shared";

/** Whether a test belongs to the browser (private cache) profile. */
export function inBrowserProfile(test: CacheTest): boolean {
  return test.cdn_only !== true && test.browser_skip !== true;
}

/** Whether a test belongs to `profile`. */
export function inProfile(test: CacheTest, profile: Profile): boolean {
  if (profile === "browser") return inBrowserProfile(test);
  return test.cdn_only !== true && test.browser_only !== true;
}

class Assertion extends Error {
  override name = "Assertion";
}
class Setup extends Error {
  override name = "Setup";
}

function check(isSetup: boolean, condition: boolean, message: string): void {
  if (condition) return;
  throw isSetup ? new Setup(message) : new Assertion(message);
}

function setupCheck(config: TestRequest, member: string): boolean {
  return config.setup === true || (config.setup_tests?.includes(member) ?? false);
}

/** A simulated clock: starts at a whole second, moves only when told. */
export class SimulatedClock {
  #now: number;
  /** @param start The start, epoch ms. */
  constructor(start: number = Math.floor(Date.now() / 1000) * 1000) {
    this.#now = start;
  }
  /** The current time, epoch ms. */
  now = (): number => this.#now;
  /** Moves time forward. */
  advance(ms: number): void {
    this.#now += ms;
  }
}

const PAUSE_MS = 3000;
const NO_BODY_STATUS = new Set([204, 304]);
const SKIP_RESPONSE_HEADERS = new Set(["date"]);

interface Received {
  status: number;
  headers: Headers;
  text: string;
}

function requestInit(
  config: TestRequest,
  index: number,
  testId: string,
  previous: Headers | undefined,
): { init: NetworkRequestInit; method: string; body: string | undefined } {
  const headers = new Headers();
  for (const [name, raw] of config.request_headers ?? []) {
    let value: string | number = raw;
    if (config.magic_ims && name.toLowerCase() === "if-modified-since") {
      const serverNow = Number(previous?.get("server-now"));
      value = fixupHeader([name, raw] as TestHeader, serverNow, "", config)[1];
    }
    headers.append(name, String(value));
  }
  headers.set("Test-ID", testId);
  headers.set("Req-Num", String(index + 1));
  const init: NetworkRequestInit = { headers };
  // Fetch's cache modes, as the manager's cache load control and request headers.
  switch (config.cache) {
    case "no-cache":
      if (!headers.has("cache-control")) headers.set("cache-control", "max-age=0");
      break;
    case "no-store":
      init.cacheLoadControl = "always-network";
      init.cacheSaveControl = false;
      break;
    case "reload":
      init.cacheLoadControl = "always-network";
      break;
    case "force-cache":
      init.cacheLoadControl = "prefer-cache";
      break;
    case "only-if-cached":
      init.cacheLoadControl = "always-cache";
      break;
  }
  if (config.redirect === "manual") init.redirectPolicy = "manual";
  return { init, method: config.request_method ?? "GET", body: config.request_body };
}

async function send(
  manager: NetworkAccessManager,
  url: string,
  method: string,
  init: NetworkRequestInit,
  body: string | undefined,
): Promise<{ reply: NetworkReply; received: Received | null }> {
  const request = new NetworkRequest(url, init);
  const reply = method === "GET" && body === undefined
    ? manager.get(request)
    : manager.sendCustomRequest(request, method, body);
  const text = await reply.text().catch(() => "");
  await reply.finished;
  // A reply without an HTTP response is a rejected fetch for the suite.
  if (reply.status === 0) return { reply, received: null };
  return { reply, received: { status: reply.status, headers: reply.headers, text } };
}

function checkResponse(
  config: TestRequest,
  index: number,
  uuid: string,
  response: Received,
): void {
  const reqNum = index + 1;
  const resNum = Number.parseInt(response.headers.get("server-request-count") ?? "", 10);
  const numbers = response.headers.get("request-numbers");
  if (numbers !== null) {
    const list = numbers.split(" ").map((n) => Number.parseInt(n, 10));
    check(true, list.length === new Set(list).size, "retry");
  }
  if (config.expected_type !== undefined) {
    const typeSetup = setupCheck(config, "expected_type");
    if (config.expected_type === "cached") {
      if (!(response.status === 304 && Number.isNaN(resNum))) {
        check(typeSetup, resNum < reqNum, `Response ${reqNum} does not come from cache`);
      }
    }
    if (config.expected_type === "not_cached") {
      check(typeSetup, resNum === reqNum, `Response ${reqNum} comes from cache`);
    }
  }
  if ("expected_status" in config) {
    if (config.expected_status !== null && config.expected_status !== undefined) {
      check(
        setupCheck(config, "expected_status"),
        response.status === config.expected_status,
        `Response ${reqNum} status is ${response.status}, not ${config.expected_status}`,
      );
    }
  } else if (config.response_status !== undefined) {
    check(
      true,
      response.status === config.response_status[0],
      `Response ${reqNum} status is ${response.status}, not ${config.response_status[0]}`,
    );
  } else if (response.status === 999) {
    check(
      setupCheck(config, "expected_type"),
      false,
      `Request ${reqNum} should have been conditional, but it was not.`,
    );
  } else {
    check(
      true,
      response.status === 200,
      `Response ${reqNum} status is ${response.status}, not 200`,
    );
  }
  const serverNow = Number(response.headers.get("server-now"));
  for (const header of config.expected_response_headers ?? []) {
    const setup = setupCheck(config, "expected_response_headers");
    if (typeof header === "string") {
      check(
        setup,
        response.headers.has(header),
        `Response ${reqNum} ${header} header not present.`,
      );
    } else if (header.length > 2) {
      const [name, op, operand] = header as [string, string, string | number];
      check(setup, response.headers.has(name), `Response ${reqNum} ${name} header not present.`);
      const value = response.headers.get(name);
      if (op === "=") {
        const expected = response.headers.get(String(operand));
        check(
          setup,
          value === expected,
          `Response ${reqNum} header ${name} is ${value}, should match ${operand} (${expected})`,
        );
      } else {
        check(
          setup,
          Number.parseInt(value ?? "", 10) > Number(operand),
          `Response ${reqNum} header ${name} is ${value}, should be bigger than ${operand}`,
        );
      }
    } else {
      const expected = fixupHeader(
        header as TestHeader,
        serverNow,
        response.headers.get("server-base-url") ?? "",
        config,
      )[1];
      const value = response.headers.get(header[0]);
      check(
        setup,
        value === expected,
        `Response ${reqNum} header ${header[0]} is "${value}", not "${expected}"`,
      );
    }
  }
  for (const header of config.expected_response_headers_missing ?? []) {
    const setup = setupCheck(config, "expected_response_headers_missing");
    if (typeof header === "string") {
      check(
        setup,
        !response.headers.has(header),
        `Response ${reqNum} includes unexpected header ${header}: "${
          response.headers.get(header)
        }"`,
      );
    }
    // The reference client reads `headers[name]` of a Fetch Headers object here, which is always
    // undefined: the name-value form never fails there, and so not here.
  }
  if (config.check_body === false) return;
  if ("expected_response_text" in config) {
    if (config.expected_response_text !== null) {
      check(
        setupCheck(config, "expected_response_text"),
        response.text === config.expected_response_text,
        `Response body is "${response.text}", not "${config.expected_response_text}"`,
      );
    }
  } else if (config.response_body !== undefined && config.response_body !== null) {
    check(
      true,
      response.text === config.response_body,
      `Response body is "${response.text}", not "${config.response_body}"`,
    );
  } else if (!NO_BODY_STATUS.has(response.status) && config.request_method !== "HEAD") {
    check(true, response.text === uuid, `Response body is "${response.text}", not "${uuid}"`);
  }
}

function checkServerRequests(
  requests: TestRequest[],
  responses: Received[],
  serverState: ServerRequest[],
): void {
  let testIdx = 0;
  for (let i = 0; i < requests.length; i++) {
    const config = requests[i]!;
    const response = responses[i]!;
    const serverRequest = serverState[testIdx];
    const reqNum = i + 1;
    const typeSetup = setupCheck(config, "expected_type");
    const validating: string[] = [];
    if (config.expected_type === "cached") continue;
    if (config.expected_type === "not_cached") {
      check(
        typeSetup,
        serverRequest?.request_num === reqNum,
        `Response ${reqNum} comes from cache (${serverRequest?.request_num} on server)`,
      );
    }
    if (config.expected_type === "etag_validated") validating.push("if-none-match");
    if (config.expected_type === "lm_validated") validating.push("if-modified-since");
    testIdx++;
    for (const name of validating) {
      check(typeSetup, serverRequest !== undefined, `request ${reqNum} wasn't sent to server`);
      check(
        typeSetup,
        name in serverRequest!.request_headers,
        `request ${reqNum} doesn't have ${name} header`,
      );
    }
    for (const header of config.expected_request_headers ?? []) {
      const setup = setupCheck(config, "expected_request_headers");
      if (typeof header === "string") {
        check(
          setup,
          serverRequest !== undefined && header.toLowerCase() in serverRequest.request_headers,
          `Request ${reqNum} ${header} header not present.`,
        );
      } else {
        const value = serverRequest?.request_headers[header[0].toLowerCase()];
        check(
          setup,
          value === header[1],
          `Request ${reqNum} header ${header[0]} is "${value}", not "${header[1]}"`,
        );
      }
    }
    for (const header of config.expected_request_headers_missing ?? []) {
      const setup = setupCheck(config, "expected_request_headers_missing");
      if (typeof header === "string") {
        check(
          setup,
          !(serverRequest && header.toLowerCase() in serverRequest.request_headers),
          `Request ${reqNum} ${header} header present.`,
        );
      } else {
        const value = serverRequest?.request_headers[header[0].toLowerCase()];
        check(setup, value !== header[1], `Request ${reqNum} header ${header[0]} is "${value}"`);
      }
    }
    if (serverRequest !== undefined) {
      for (const [name, expected] of serverRequest.response_headers) {
        if (SKIP_RESPONSE_HEADERS.has(name.toLowerCase())) continue;
        const received = response.headers.get(name);
        check(
          true,
          received === expected,
          `Response ${reqNum} header ${name} is "${received}", not "${expected}"`,
        );
      }
    }
    if (config.expected_method !== undefined) {
      check(
        setupCheck(config, "expected_method"),
        serverRequest?.request_method === config.expected_method,
        `Request ${reqNum} had method ${serverRequest?.request_method}, not ${config.expected_method}`,
      );
    }
  }
}

/** Runs one test; resolves with its raw result. */
export async function runTest(
  test: CacheTest,
  manager: NetworkAccessManager,
  origin: CacheTestsOrigin,
  clock: SimulatedClock,
): Promise<RawResult> {
  const uuid = crypto.randomUUID();
  const requests = structuredClone(test.requests);
  origin.configure(uuid, requests);
  const responses: Received[] = [];
  try {
    for (let i = 0; i < requests.length; i++) {
      const config = requests[i]!;
      let path = `/test/${uuid}`;
      if (config.filename !== undefined) path += `/${config.filename}`;
      if (config.query_arg !== undefined) path += `?${config.query_arg}`;
      const { init, method, body } = requestInit(config, i, test.id, responses[i - 1]?.headers);
      const { reply, received } = await send(manager, origin.url + path, method, init, body);
      if (received === null) {
        return ["TypeError", `Request ${i + 1} failed: ${reply.errorString}`];
      }
      responses.push(received);
      checkResponse(config, i, uuid, received);
      if (config.pause_after) clock.advance(PAUSE_MS);
    }
    checkServerRequests(requests, responses, origin.state(uuid));
    return true;
  } catch (error) {
    if (error instanceof Assertion || error instanceof Setup) return [error.name, error.message];
    return [(error as Error).name ?? "Error", (error as Error).message];
  }
}

/** Runs every test of `profile` through a fresh manager over `makeCache`. */
export async function runSuites(
  suites: CacheTestSuite[],
  makeCache: (clock: SimulatedClock) => Promise<NetworkCache>,
  profile: Profile = "browser",
): Promise<Record<string, RawResult>> {
  const clock = new SimulatedClock();
  const cache = await makeCache(clock);
  await using origin = new CacheTestsOrigin(clock);
  await using manager = new NetworkAccessManager({ cache, clock: clock.now, cookieJar: null });
  const results: Record<string, RawResult> = {};
  try {
    for (const suite of suites) {
      for (const test of suite.tests) {
        if (!inProfile(test, profile)) continue;
        results[test.id] = await runTest(test, manager, origin, clock);
      }
    }
  } finally {
    await cache.close();
  }
  return results;
}

function lookupTest(suites: CacheTestSuite[], id: string): CacheTest | undefined {
  for (const suite of suites) {
    for (const test of suite.tests) if (test.id === id) return test;
  }
  return undefined;
}

/** cache-tests.fyi's verdict for a test, dependencies honoured. */
export function verdict(
  suites: CacheTestSuite[],
  id: string,
  results: Record<string, RawResult>,
): Verdict {
  const test = lookupTest(suites, id);
  const result = results[id];
  if (test === undefined || result === undefined) return "untested";
  for (const dependency of test.depends_on ?? []) {
    const v = verdict(suites, dependency, results);
    if (v !== "pass" && v !== "yes") return "dependency_fail";
  }
  if (result !== true && result[0] === "Setup") return "setup_fail";
  const kind = test.kind ?? "required";
  if (kind === "required") return result === true ? "pass" : "fail";
  if (kind === "optimal") return result === true ? "pass" : "optional_fail";
  return result === true ? "yes" : "no";
}

/** Counts of one suite or of all: required pass / fail / other, optimal, check. */
export interface Tally {
  required: { pass: number; fail: number; other: number };
  optimal: { pass: number; fail: number; other: number };
  check: { yes: number; no: number; other: number };
}

/** Tallies the verdicts of the tests of `profile` in `suites`. */
export function tally(
  allSuites: CacheTestSuite[],
  suites: CacheTestSuite[],
  results: Record<string, RawResult>,
  profile: Profile = "browser",
): Tally {
  const t: Tally = {
    required: { pass: 0, fail: 0, other: 0 },
    optimal: { pass: 0, fail: 0, other: 0 },
    check: { yes: 0, no: 0, other: 0 },
  };
  for (const suite of suites) {
    for (const test of suite.tests) {
      if (!inProfile(test, profile)) continue;
      const v = verdict(allSuites, test.id, results);
      const kind = test.kind ?? "required";
      if (kind === "check") {
        if (v === "yes") t.check.yes++;
        else if (v === "no") t.check.no++;
        else t.check.other++;
      } else {
        const bucket = kind === "required" ? t.required : t.optimal;
        if (v === "pass") bucket.pass++;
        else if (v === "fail" || v === "optional_fail") bucket.fail++;
        else bucket.other++;
      }
    }
  }
  return t;
}

/** Formats one table row per suite and a total line. */
export function formatTable(
  title: string,
  suites: CacheTestSuite[],
  results: Record<string, RawResult>,
  profile: Profile = "browser",
): string {
  const rows: string[][] = [[
    "suite",
    "required pass/fail/other",
    "optimal pass/fail/other",
    "check yes/no/other",
  ]];
  const line = (name: string, t: Tally) => [
    name,
    `${t.required.pass}/${t.required.fail}/${t.required.other}`,
    `${t.optimal.pass}/${t.optimal.fail}/${t.optimal.other}`,
    `${t.check.yes}/${t.check.no}/${t.check.other}`,
  ];
  for (const suite of suites) {
    if (!suite.tests.some((test) => inProfile(test, profile))) continue;
    rows.push(line(suite.id, tally(suites, [suite], results, profile)));
  }
  rows.push(line("TOTAL", tally(suites, suites, results, profile)));
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const text = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ")).join("\n");
  return `${title}\n${text}`;
}
