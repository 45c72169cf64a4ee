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
      outOfRange: field === "reconnectionTime" ? [-1, 1.5, NaN, 2 ** 31] : [-1, 1.5, NaN],
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
  // clone() refuses null as the constructor does: only `undefined` keeps the request's value.
  await checkCases(t, "request.clone", requestCases((init) => request.clone(init)));
  await checkCases(
    t,
    "new NetworkRequestFactory requestInit",
    // The messages name the factory's option: 'requestInit.timeout'.
    requestCases((requestInit) =>
      new netaccess.NetworkRequestFactory("https://example.com/", { requestInit })
    ).map((c) => ({ ...c, field: `requestInit.${c.field}` })),
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

/** The message of what `give` throws or rejects with, checked to be a `TypeError`. */
async function typeErrorOf(give: () => unknown): Promise<string> {
  let error: unknown;
  try {
    await give();
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof TypeError, `expected a TypeError, got ${error}`);
  return error.message;
}

Deno.test("null is refused wherever an option does not document it, with 'got null'", async (t) => {
  await t.step(
    "request.clone() refuses null as the constructor does, attribute by attribute",
    () => {
      const request = new netaccess.NetworkRequest("https://example.com/", {
        maxRedirects: 3,
        priority: "high",
        headers: { accept: "text/plain" },
      });
      // Its fields, and those made when first read (accessors): every change clone() takes.
      const fields = ["url", "headers", "sensitiveHeaders", "attributes", ...Object.keys(request)];
      assert.equal(new Set(fields).size, 20);
      for (const field of new Set(fields)) {
        const made = () =>
          field === "url"
            ? new netaccess.NetworkRequest(null as never)
            : new netaccess.NetworkRequest("https://example.com/", { [field]: null });
        const cloned = () => request.clone({ [field]: null });
        assert.throws(made, TypeError, `new NetworkRequest({ ${field}: null })`);
        let message = "";
        assert.throws(cloned, (error: Error) => {
          message = error.message;
          return error instanceof TypeError;
        }, `clone({ ${field}: null }) kept the old value`);
        assert.ok(message.includes(`'${field}'`) && message.endsWith("got null"), message);
        assert.throws(
          made,
          { message },
          `clone({ ${field}: null }): not the constructor's message`,
        );
      }
      assert.throws(() => request.clone({ maxRedirects: null as never }), {
        name: "TypeError",
        message: "Cannot create request: 'maxRedirects' must be a non-negative integer, got null",
      });
      // `undefined` is a value left out: the request's stays.
      const copy = request.clone({ maxRedirects: undefined, priority: undefined, timeout: 5 });
      assert.deepEqual([copy.maxRedirects, copy.priority, copy.timeout], [3, "high", 5]);
      assert.equal(copy.headers.get("accept"), "text/plain");
    },
  );

  await t.step(
    "a request call with a NetworkRequest and null options fails the reply",
    async () => {
      await using manager = new netaccess.NetworkAccessManager({
        transport: () => Promise.resolve(new Response("ok")),
      });
      const request = new netaccess.NetworkRequest("https://example.com/");
      const reply = manager.get(request, { maxRedirects: null as never });
      await reply.finished;
      assert.equal(reply.error, netaccess.NetworkError.ProtocolInvalidOperationError);
      assert.match(reply.errorString, /'maxRedirects' must be a non-negative integer, got null/);
    },
  );

  await t.step("an HSTS preload entry's expires and includeSubDomains", async () => {
    const open = [
      (preload: unknown) => new netaccess.MemoryHstsStore({ preload: preload as never }),
      (preload: unknown) =>
        netaccess.KvHstsStore.open({ path: ":memory:", preload: preload as never }),
    ];
    for (const make of open) {
      for (const field of ["expires", "includeSubDomains"]) {
        const message = await typeErrorOf(() => make([{ host: "example.com", [field]: null }]));
        assert.match(message, new RegExp(`'${field}' must be .*, got null$`));
      }
      assert.match(
        await typeErrorOf(() => make(["example.org", null])),
        /'host' must be a non-empty string, got null$/,
      );
      assert.match(
        await typeErrorOf(() => make([5])),
        /'host' must be a non-empty string, got 5$/,
      );
    }
  });

  await t.step("a cache entry's status, statusText and variant", async () => {
    await using cache = new netaccess.MemoryCache();
    const url = "https://example.com/";
    const metaData = { url, status: 200, statusText: "OK", headers: {} };
    const cases: [field: string, expected: string][] = [
      ["status", "an HTTP status from 200 to 599"],
      ["statusText", "a string"],
      ["variant", "a string"],
    ];
    for (const [field, expected] of cases) {
      const message = await typeErrorOf(() => cache.prepare({ ...metaData, [field]: null }));
      assert.equal(message, `Cannot store cache entry: '${field}' must be ${expected}, got null`);
    }
    await cache.insert(metaData, [new Uint8Array(2)]);
    const entry = (await cache.metaData(url))!;
    for (const [field, expected] of cases.slice(0, 2)) {
      const message = await typeErrorOf(() => cache.updateMetaData(entry, { [field]: null }));
      assert.equal(message, `Cannot update cache entry: '${field}' must be ${expected}, got null`);
    }
    const stored = (await cache.metaData(url))!;
    assert.deepEqual([stored.status, stored.statusText], [200, "OK"]);
    // Read back, a variant is a string too: null is not the variant "null".
    await cache.insert({ ...metaData, variant: "null" }, [new Uint8Array(1)]);
    for (const variant of [null, 1]) {
      assert.equal(
        await typeErrorOf(() => cache.metaData(url, variant as never)),
        `Cannot read cache: 'variant' must be a string, got ${variant}`,
      );
    }
    assert.equal((await cache.metaData(url, "null"))?.bodySize, 1);
  });

  await t.step("a request factory's headers, the manager's layers, a cookie's path", async () => {
    assert.throws(
      () => new netaccess.NetworkRequestFactory("https://a.test/", { headers: null as never }),
      {
        name: "TypeError",
        message: /^Cannot create request factory: 'headers' must be .*, got null$/,
      },
    );
    assert.throws(() => new netaccess.NetworkAccessManager({ layers: null as never }), {
      name: "TypeError",
      message: "Cannot create manager: 'layers' must be an array of functions, got null",
    });
    const jar = new netaccess.MemoryCookieJar();
    const cookie = { name: "a", value: "b", domain: "example.com", path: null as never };
    for (const call of [() => jar.insertCookie(cookie), () => jar.deleteCookie(cookie)]) {
      assert.match(
        await typeErrorOf(call),
        /'path' must be a string starting with '\/'.*, got null$/,
      );
    }
  });

  await t.step("a mock answer's statusText", () => {
    assert.throws(() => new MockTransport().route("GET", "/a", { statusText: null as never }), {
      name: "TypeError",
      message: "Cannot add mock route: 'statusText' must be a string, got null",
    });
  });
});

Deno.test("messages show a value as every other message does: strings quoted, objects by kind", async (t) => {
  await t.step("the TLS options, a private key's text not shown", () => {
    const key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7";
    const cases: [options: Record<string, unknown>, message: string][] = [
      [
        { clientCertificate: "client.pem" },
        `'clientCertificate' must be an object { cert, key }, got "client.pem"`,
      ],
      [
        { clientCertificate: key },
        "'clientCertificate' must be an object { cert, key }, got a private key (not shown)",
      ],
      [
        { clientCertificates: "x" },
        `'clientCertificates' must be an object of origins to { cert, key }, got "x"`,
      ],
      [{ caCerts: [5] }, "got 5"],
      [{ caCerts: [key] }, "got a private key (not shown)"],
    ];
    for (const [options, message] of cases) {
      assert.throws(() => new netaccess.NetworkAccessManager(options), (error: Error) => {
        assert.ok(error instanceof TypeError);
        assert.ok(error.message.endsWith(message), error.message);
        assert.ok(!error.message.includes("MIIE"), error.message);
        return true;
      });
    }
  });

  await t.step("the mock transport's fallback, sleep and method", () => {
    assert.throws(() => new MockTransport({ fallback: "x" as never }), {
      name: "TypeError",
      message: `Cannot create mock transport: 'fallback' must be a function, got "x"`,
    });
    assert.throws(() => new MockTransport({ sleep: null as never }), {
      name: "TypeError",
      message: "Cannot create mock transport: 'sleep' must be a function, got null",
    });
    for (const [method, shown] of [["", '""'], [{}, "an object"]]) {
      assert.throws(() => new MockTransport().route(method as never, "/a"), {
        name: "TypeError",
        message: `Cannot add mock route: 'method' must be an HTTP method or "*", got ${shown}`,
      });
    }
  });

  await t.step("an authenticator's answer, a string not shown", async () => {
    for (
      const [answer, shown] of [[5, "5"], [{ username: "me" }, "an object"], [
        "s3cret",
        "a string (not shown)",
      ]]
    ) {
      await using manager = new netaccess.NetworkAccessManager({
        transport: () =>
          Promise.resolve(
            new Response(null, { status: 401, headers: { "www-authenticate": 'Basic realm="r"' } }),
          ),
        authenticator: () => answer as never,
      });
      const reply = manager.get("https://example.com/");
      await reply.finished;
      assert.ok(
        reply.errorString.endsWith(
          `'authenticator' must return { username, password } strings or undefined, got ${shown}`,
        ),
        reply.errorString,
      );
    }
  });
});

Deno.test("an integer past 2^53 - 1 is refused with the limit it passed", async () => {
  const SAFE = `must be at most ${Number.MAX_SAFE_INTEGER}, got ${2 ** 53}`;
  const TIMER = `must be at most 2147483647 ms (about 24.8 days, the longest timer), got ${
    2 ** 53
  }`;
  await using manager = new netaccess.NetworkAccessManager();
  const mock = new MockTransport();
  const cases: [string, () => unknown, string][] = [
    ...["readBufferSize", "decompressionGuard", "maxBodySize", "maxRedirects"].flatMap((
      field,
    ): [string, () => unknown, string][] => [
      [`manager ${field}`, () => new netaccess.NetworkAccessManager({ [field]: 2 ** 53 }), SAFE],
      [
        `setter ${field}`,
        () => ((manager as never as Record<string, number>)[field] = 2 ** 53),
        SAFE,
      ],
      [
        `request ${field}`,
        () => new netaccess.NetworkRequest("https://example.com/", { [field]: 2 ** 53 }),
        SAFE,
      ],
    ]),
    ["retry.limit", () => new netaccess.NetworkAccessManager({ retry: { limit: 2 ** 53 } }), SAFE],
    [
      "manager transferTimeout",
      () => new netaccess.NetworkAccessManager({ transferTimeout: 2 ** 53 }),
      TIMER,
    ],
    [
      "request timeout",
      () => new netaccess.NetworkRequest("https://example.com/", { timeout: 2 ** 53 }),
      TIMER,
    ],
    ["retry.delay", () => new netaccess.NetworkAccessManager({ retry: { delay: 2 ** 53 } }), TIMER],
    ["MemoryCache maxSize", () => new netaccess.MemoryCache({ maxSize: 2 ** 53 }), SAFE],
    [
      "MemoryCookieJar maxCookies",
      () => new netaccess.MemoryCookieJar({ maxCookies: 2 ** 53 }),
      SAFE,
    ],
    ["MockTransport times", () => mock.route("GET", "/a", "ok", { times: 2 ** 53 }), SAFE],
  ];
  for (const [name, give, expected] of cases) {
    assert.throws(give, (error: Error) => {
      assert.ok(error instanceof RangeError, `${name}: ${error}`);
      assert.ok(error.message.includes(expected), `${name}: ${error.message}`);
      return true;
    });
  }
  // The largest safe integer itself is taken.
  await using largest = new netaccess.NetworkAccessManager({
    readBufferSize: Number.MAX_SAFE_INTEGER,
  });
  assert.equal(largest.readBufferSize, Number.MAX_SAFE_INTEGER);
});
