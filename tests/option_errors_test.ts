/**
 * One error model for every option, setter and method argument that takes a number, after the
 * web platform's: a value of the wrong type (`"5"`, `null`) throws a `TypeError`; a number out
 * of range (negative, too large, not an integer, `NaN` or `Infinity` where a finite number is
 * needed) throws a `RangeError`. Both name the option.
 */

import assert from "node:assert/strict";
import * as netaccess from "../mod.ts";
import { createMockManager, MockTransport } from "../testing.ts";
import { CredentialCache } from "../src/auth/credential_cache.ts";
import { digestAuthorization, parseDigestChallenge } from "../src/auth/digest.ts";

/** One number option: how to give it a value, and values of each kind it refuses. */
interface Case {
  /** The option as the message names it (`retry.limit`). */
  field: string;
  /** Gives the option `value` (throwing, or rejecting, when it refuses it). */
  give: (value: unknown) => unknown;
  /** Values of a wrong type: a `TypeError`. */
  wrongType: unknown[];
  /** Numbers out of range: a `RangeError`. */
  outOfRange: unknown[];
}

const NOT_NUMBERS = ["5", null, true, 5n];
/** Out of range for an integer at least 0. */
const NOT_COUNTS = [-1, 1.5, NaN, Infinity];
/** Out of range for a delay that becomes a timer. */
const NOT_TIMERS = [-1, 1.5, NaN, Infinity, 2 ** 31];
/** Out of range for an integer at least 1. */
const NOT_POSITIVE = [0, -1, 1.5, NaN, Infinity];

async function refused(
  give: (value: unknown) => unknown,
  value: unknown,
  Type: typeof TypeError | typeof RangeError,
  field: string,
): Promise<void> {
  let error: unknown;
  try {
    await give(value);
  } catch (caught) {
    error = caught;
  }
  const shown = Deno.inspect(value);
  assert.ok(error !== undefined, `${field} = ${shown}: nothing thrown`);
  assert.equal(
    (error as Error).constructor,
    Type,
    `${field} = ${shown}: expected a ${Type.name}, got ${error}`,
  );
  assert.ok(
    (error as Error).message.includes(`'${field}'`),
    `${field} = ${shown}: the message does not name '${field}': ${(error as Error).message}`,
  );
}

async function checkCases(t: Deno.TestContext, name: string, cases: Case[]): Promise<void> {
  for (const { field, give, wrongType, outOfRange } of cases) {
    await t.step(`${name} '${field}': a value of the wrong type is a TypeError`, async () => {
      for (const value of wrongType) await refused(give, value, TypeError, field);
    });
    await t.step(`${name} '${field}': a number out of range is a RangeError`, async () => {
      for (const value of outOfRange) await refused(give, value, RangeError, field);
    });
  }
}

/** The manager's number settings, with what each refuses. */
const MANAGER_NUMBERS: [field: string, outOfRange: unknown[]][] = [
  ["maxRedirects", NOT_COUNTS],
  ["transferTimeout", NOT_TIMERS],
  ["timeout", NOT_TIMERS],
  ["maxConnectionsPerHost", NOT_POSITIVE],
  ["readBufferSize", NOT_COUNTS],
  ["decompressionGuard", [-2, 1.5, NaN, Infinity]],
  ["maxBodySize", NOT_COUNTS],
];

/** The retry options that are numbers (or lists of them), with what each refuses. */
const RETRY_NUMBERS: [field: string, outOfRange: unknown[]][] = [
  ["limit", NOT_COUNTS],
  ["delay", NOT_TIMERS],
  ["backoffLimit", NOT_TIMERS],
  ["maxRetryAfter", NOT_TIMERS],
  ["maxRetryTime", NOT_COUNTS],
];

/** Cases for the retry options of `init` made by `make`. */
function retryCases(make: (retry: unknown) => unknown): Case[] {
  return [
    { field: "retry", give: make, wrongType: [], outOfRange: NOT_COUNTS },
    ...RETRY_NUMBERS.map(([field, outOfRange]) => ({
      field: `retry.${field}`,
      give: (value: unknown) => make({ [field]: value }),
      wrongType: NOT_NUMBERS,
      outOfRange,
    })),
    {
      field: "retry.statusCodes",
      give: (value: unknown) => make({ statusCodes: [503, value] }),
      wrongType: NOT_NUMBERS,
      outOfRange: [99, 600, 500.5, NaN],
    },
    {
      field: "retry.errorCodes",
      give: (value: unknown) => make({ errorCodes: [netaccess.NetworkError.TimeoutError, value] }),
      wrongType: NOT_NUMBERS,
      outOfRange: [12345, -1, NaN],
    },
  ];
}

Deno.test("the manager's number options and settings: TypeError for a wrong type, RangeError out of range", async (t) => {
  await using manager = new netaccess.NetworkAccessManager();
  await checkCases(t, "new NetworkAccessManager", [
    ...MANAGER_NUMBERS.map(([field, outOfRange]) => ({
      field,
      give: (value: unknown) => new netaccess.NetworkAccessManager({ [field]: value }),
      wrongType: NOT_NUMBERS,
      outOfRange,
    })),
    ...retryCases((retry) => new netaccess.NetworkAccessManager({ retry } as never)),
  ]);
  await checkCases(
    t,
    "manager setter",
    MANAGER_NUMBERS.map(([field, outOfRange]) => ({
      field,
      give: (value: unknown) => {
        (manager as unknown as Record<string, unknown>)[field] = value;
      },
      wrongType: [...NOT_NUMBERS, undefined],
      outOfRange,
    })),
  );
  await checkCases(t, "manager method", [
    {
      field: "timeout",
      give: (value) => manager.connectToHost("http://127.0.0.1:9/", { timeout: value as number }),
      wrongType: NOT_NUMBERS,
      outOfRange: [0, -1, NaN, Infinity, 2 ** 31],
    },
    ...["limit", "maxPages"].map((field) => ({
      field,
      give: (value: unknown) => manager.paginate("http://127.0.0.1:9/", { [field]: value }),
      wrongType: NOT_NUMBERS,
      outOfRange: [-1, 1.5, NaN],
    })),
    ...["reconnectionTime", "maxReconnects", "maxEventLength"].map((field) => ({
      field,
      give: (value: unknown) => manager.eventStream("http://127.0.0.1:9/", { [field]: value }),
      wrongType: NOT_NUMBERS,
      outOfRange: [-1, 1.5, NaN],
    })),
  ]);
});

Deno.test("a request's number attributes: TypeError for a wrong type, RangeError out of range", async (t) => {
  const request = new netaccess.NetworkRequest("https://example.com/");
  const attribute = ([field, outOfRange]: [string, unknown[]]) => ({ field, outOfRange });
  const requestNumbers = MANAGER_NUMBERS.filter(([field]) => field !== "maxConnectionsPerHost")
    .map(attribute);
  const requestCases = (
    make: (init: Record<string, unknown>) => unknown,
    wrongType = NOT_NUMBERS,
  ): Case[] => [
    ...requestNumbers.map(({ field, outOfRange }) => ({
      field,
      give: (value: unknown) => make({ [field]: value }),
      wrongType,
      outOfRange,
    })),
    {
      field: "postRedirects[1]",
      give: (value: unknown) => make({ postRedirects: [302, value] }),
      wrongType: NOT_NUMBERS,
      outOfRange: [307, 301.5, NaN],
    },
    ...retryCases((retry) => make({ retry })),
  ];
  await checkCases(
    t,
    "new NetworkRequest",
    requestCases((init) => new netaccess.NetworkRequest("https://example.com/", init)),
  );
  // clone() keeps the attributes given as null, as those left out.
  const notNumbersButNull = NOT_NUMBERS.filter((value) => value !== null);
  await checkCases(
    t,
    "request.clone",
    requestCases((init) => request.clone(init), notNumbersButNull),
  );
  await checkCases(
    t,
    "new NetworkRequestFactory requestInit",
    requestCases((requestInit) =>
      new netaccess.NetworkRequestFactory("https://example.com/", { requestInit })
    ),
  );
});

Deno.test("the stores' number options and arguments: TypeError for a wrong type, RangeError out of range", async (t) => {
  const cache = new netaccess.MemoryCache();
  const jar = new netaccess.MemoryCookieJar();
  const hsts = new netaccess.MemoryHstsStore();
  const metaData = { url: "https://example.com/", status: 200, headers: {} };
  const cookie = { name: "a", value: "b", domain: "example.com" };
  await checkCases(t, "cache", [
    {
      field: "maxSize",
      give: (maxSize) => new netaccess.MemoryCache({ maxSize: maxSize as number }),
      wrongType: NOT_NUMBERS,
      outOfRange: NOT_POSITIVE,
    },
    {
      field: "maxSize",
      give: (maxSize) => netaccess.KvCache.open({ path: ":memory:", maxSize: maxSize as number }),
      wrongType: NOT_NUMBERS,
      outOfRange: NOT_POSITIVE,
    },
    {
      field: "status",
      give: (status) => cache.prepare({ ...metaData, status: status as number }),
      wrongType: NOT_NUMBERS,
      outOfRange: [199, 600, 200.5, NaN],
    },
    {
      field: "expires",
      give: (expires) => cache.prepare({ ...metaData, expires: expires as number }),
      wrongType: ["5", true],
      outOfRange: [NaN, Infinity],
    },
  ]);
  await checkCases(t, "cookie jar", [
    ...["maxCookiesPerDomain", "maxCookies"].flatMap((field) => [
      {
        field,
        give: (value: unknown) => new netaccess.MemoryCookieJar({ [field]: value }),
        wrongType: NOT_NUMBERS,
        outOfRange: NOT_POSITIVE,
      },
      {
        field,
        give: (value: unknown) => netaccess.KvCookieJar.open({ path: ":memory:", [field]: value }),
        wrongType: NOT_NUMBERS,
        outOfRange: NOT_POSITIVE,
      },
    ]),
    {
      field: "expires",
      give: (expires) => jar.insertCookie({ ...cookie, expires: expires as number }),
      wrongType: ["5", true],
      outOfRange: [NaN],
    },
    ...["creationTime", "lastAccessTime"].map((field) => ({
      field,
      give: (value: unknown) => jar.insertCookie({ ...cookie, [field]: value }),
      wrongType: NOT_NUMBERS,
      outOfRange: [NaN, Infinity],
    })),
  ]);
  await checkCases(t, "HSTS store", [
    {
      field: "expires",
      give: (expires) =>
        hsts.set({ host: "example.com", expires: expires as number, includeSubDomains: false }),
      wrongType: NOT_NUMBERS,
      outOfRange: [NaN],
    },
    {
      field: "expires",
      give: (expires) =>
        new netaccess.MemoryHstsStore({
          preload: [{ host: "example.com", expires: expires as number }],
        }),
      wrongType: ["5", true],
      outOfRange: [NaN],
    },
    {
      field: "expires",
      give: (expires) =>
        netaccess.KvHstsStore.open({
          path: ":memory:",
          preload: [{ host: "example.com", expires: expires as number }],
        }),
      wrongType: ["5", true],
      outOfRange: [NaN],
    },
  ]);
  await checkCases(t, "new KvNetworkAccessManagerFactory", [
    {
      field: "maxSize",
      give: (maxSize) =>
        new netaccess.KvNetworkAccessManagerFactory({ cache: { maxSize } as never }),
      wrongType: NOT_NUMBERS,
      outOfRange: NOT_POSITIVE,
    },
    {
      field: "manager.maxRedirects",
      give: (value) =>
        new netaccess.KvNetworkAccessManagerFactory({ manager: { maxRedirects: value } as never }),
      wrongType: NOT_NUMBERS,
      outOfRange: NOT_COUNTS,
    },
  ]);
});

Deno.test("a reply's and the credentials' number arguments: TypeError for a wrong type, RangeError out of range", async (t) => {
  await using mocked = createMockManager();
  mocked.mock.route("GET", "/events", { body: "data: x\n\n" });
  const challenge = parseDigestChallenge({
    scheme: "digest",
    realm: "r",
    params: { realm: "r", nonce: "n", qop: "auth" },
  })!;
  await checkCases(t, "argument", [
    {
      field: "maxEventLength",
      give: async (maxEventLength) => {
        const reply = mocked.manager.get("https://api.test/events");
        try {
          reply.events({ maxEventLength: maxEventLength as number });
        } finally {
          reply.abort();
          await reply.finished;
        }
      },
      wrongType: NOT_NUMBERS,
      outOfRange: [-1, 1.5, NaN, Infinity],
    },
    {
      field: "maxEntries",
      give: (maxEntries) => new CredentialCache(maxEntries as number),
      wrongType: ["5", null, true],
      outOfRange: NOT_POSITIVE,
    },
    {
      field: "nc",
      give: (nc) =>
        digestAuthorization({
          challenge,
          credentials: { username: "u", password: "p" },
          method: "GET",
          uri: "/",
          nc: nc as number,
          cnonce: "c",
        }),
      wrongType: NOT_NUMBERS,
      outOfRange: [0, -1, 1.5, 2 ** 32, NaN],
    },
  ]);
});

Deno.test("the mock transport's number options: TypeError for a wrong type, RangeError out of range", async (t) => {
  const mock = new MockTransport();
  await checkCases(t, "mock", [
    {
      field: "latency",
      give: (latency) => new MockTransport({ latency: latency as number }),
      wrongType: NOT_NUMBERS,
      outOfRange: [-1, NaN, Infinity, 2 ** 31],
    },
    {
      field: "latency",
      give: (latency) => mock.route("GET", "/a", "ok", { latency: latency as number }),
      wrongType: NOT_NUMBERS,
      outOfRange: [-1, NaN, Infinity, 2 ** 31],
    },
    {
      field: "times",
      give: (times) => mock.route("GET", "/a", "ok", { times: times as number }),
      wrongType: NOT_NUMBERS,
      outOfRange: NOT_POSITIVE.filter((n) => n !== Infinity),
    },
    {
      field: "failure",
      give: (code) => mock.fail("GET", "/a", code as never),
      wrongType: NOT_NUMBERS,
      outOfRange: [12345, -1, 1.5, NaN],
    },
    {
      field: "status",
      give: (status) => mock.route("GET", "/a", { status: status as number }),
      wrongType: NOT_NUMBERS,
      outOfRange: [199, 600, 200.5, NaN],
    },
    {
      field: "chunkDelay",
      give: (chunkDelay) =>
        mock.route("GET", "/a", { chunks: ["a", "b"], chunkDelay: chunkDelay as number }),
      wrongType: NOT_NUMBERS,
      outOfRange: [-1, NaN, Infinity, 2 ** 31],
    },
  ]);
});
