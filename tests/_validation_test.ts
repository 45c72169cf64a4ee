import assert from "node:assert/strict";
import {
  checkChoice,
  checkFunction,
  checkInteger,
  checkKeys,
  describe,
  numberError,
} from "../src/_validation.ts";
import {
  KvCache,
  KvCookieJar,
  KvHstsStore,
  KvNetworkAccessManagerFactory,
  MemoryCache,
  MemoryCookieJar,
  MemoryHstsStore,
  NetworkAccessManager,
  NetworkError,
  NetworkRequest,
  NetworkRequestFactory,
} from "../mod.ts";
import { checkClock, systemClock } from "../src/_clock.ts";
import { isToken } from "../src/_http_token.ts";
import { checkPrefix } from "../src/_kv.ts";

Deno.test("describe shows a value as an error message does", () => {
  assert.equal(describe("x"), '"x"');
  assert.equal(describe("a".repeat(100)), JSON.stringify(`${"a".repeat(57)}...`));
  assert.equal(describe(3), "3");
  assert.equal(describe(null), "null");
  assert.equal(describe(undefined), "undefined");
  assert.equal(describe([1]), "an array");
  assert.equal(describe({}), "an object");
  assert.equal(describe(new Date(0)), "an instance of Date");
  assert.equal(describe(() => 1), "a function");
  assert.equal(describe(5n), "5n");
});

Deno.test("numberError is a TypeError for no number and a RangeError for one out of range", () => {
  for (const value of ["5", null, undefined, 5n, {}]) {
    const error = numberError("Cannot go", "n", value, "a positive integer");
    assert.equal(error.constructor, TypeError);
    assert.equal(
      error.message,
      `Cannot go: 'n' must be a positive integer, got ${describe(value)}`,
    );
  }
  for (const value of [0, -1, 1.5, NaN, Infinity]) {
    assert.equal(
      numberError("Cannot go", "n", value, "a positive integer").constructor,
      RangeError,
    );
  }
  assert.equal(
    numberError("Cannot go", "n", 2 ** 31, "at most 2147483647", "use 0 to turn it off").message,
    "Cannot go: 'n' must be at most 2147483647, got 2147483648; use 0 to turn it off",
  );
  assert.throws(() => checkInteger("Cannot go", "n", "1", 0), {
    name: "TypeError",
    message: `Cannot go: 'n' must be a non-negative integer, got "1"`,
  });
});

Deno.test("option checks name the field and the value", () => {
  assert.throws(() => checkChoice("Cannot go", "mode", "fast", ["slow"]), {
    name: "TypeError",
    message: `Cannot go: 'mode' must be one of "slow", got "fast"`,
  });
  checkChoice("Cannot go", "mode", undefined, ["slow"]);
  assert.throws(() => checkInteger("Cannot go", "n", 0, 1), {
    name: "RangeError",
    message: "Cannot go: 'n' must be a positive integer, got 0",
  });
  assert.throws(() => checkInteger("Cannot go", "n", 1.5, 0), {
    message: "Cannot go: 'n' must be a non-negative integer, got 1.5",
  });
  assert.throws(() => checkInteger("Cannot go", "n", -2, -1), {
    message: "Cannot go: 'n' must be an integer >= -1, got -2",
  });
  assert.throws(() => checkFunction("Cannot go", "f", 1), {
    name: "TypeError",
    message: "Cannot go: 'f' must be a function, got 1",
  });
});

Deno.test("checkClock defaults to the wall clock and rejects non-functions", () => {
  assert.equal(checkClock("Cannot open store", undefined), systemClock);
  const clock = () => 5;
  assert.equal(checkClock("Cannot open store", clock), clock);
  assert.throws(() => checkClock("Cannot open store", 5), {
    name: "TypeError",
    message: "Cannot open store: 'clock' must be a function, got 5",
  });
});

Deno.test("isToken accepts RFC 9110 tokens only", () => {
  assert.equal(isToken("PROPFIND"), true);
  assert.equal(isToken("x-custom!"), true);
  assert.equal(isToken("GET /"), false);
  assert.equal(isToken(""), false);
  assert.equal(isToken(7), false);
});

Deno.test("checkPrefix copies a valid KV prefix and rejects others in one message shape", () => {
  const fallback = ["app", "store"];
  assert.deepEqual(checkPrefix("Cannot open store", undefined, fallback), fallback);
  assert.notEqual(checkPrefix("Cannot open store", undefined, fallback), fallback);
  assert.deepEqual(checkPrefix("Cannot open store", ["a", 1, true], fallback), ["a", 1, true]);
  assert.throws(() => checkPrefix("Cannot open store", "a", fallback), {
    name: "TypeError",
    message: `Cannot open store: 'prefix' must be a non-empty array of key parts, got "a"`,
  });
  assert.throws(() => checkPrefix("Cannot open store", [{}], fallback), {
    message: "Cannot open store: 'prefix[0]' must be a KV key part (a string, number, bigint, " +
      "boolean or Uint8Array), got an object",
  });
  // Too long is out of range: a RangeError, as a cookie partition key too long is.
  assert.throws(() => checkPrefix("Cannot open store", ["x".repeat(600)], fallback), {
    name: "RangeError",
    message: "Cannot open store: 'prefix' must be at most 512 bytes, got 600",
  });
});

Deno.test("checkKeys refuses an unknown key, naming it and the option it is closest to", () => {
  const known = ["timeout", "maxConnectionsPerHost", "cache"];
  checkKeys("Cannot x", { timeout: 1, cache: null }, known);
  const refused = (options: object, field?: string) => {
    try {
      checkKeys("Cannot x", options, known, field);
    } catch (error) {
      assert.ok(error instanceof TypeError);
      return error.message;
    }
    assert.fail("accepted");
  };
  assert.equal(
    refused({ timout: 1 }),
    "Cannot x: unknown option 'timout'; did you mean 'timeout'?",
  );
  assert.equal(
    refused({ tiemout: 1 }),
    "Cannot x: unknown option 'tiemout'; did you mean 'timeout'?",
  );
  assert.equal(
    refused({ maxconnectionsperhost: 1 }),
    "Cannot x: unknown option 'maxconnectionsperhost'; did you mean 'maxConnectionsPerHost'?",
  );
  // An undefined value is still a misspelt option.
  assert.match(refused({ Cache: undefined }), /unknown option 'Cache'; did you mean 'cache'\?/);
  assert.equal(
    refused({ proxy: 1 }),
    "Cannot x: unknown option 'proxy'; the options are 'timeout', 'maxConnectionsPerHost', 'cache'",
  );
  assert.equal(
    refused({ cahce: 1 }, "store"),
    "Cannot x: unknown option 'store.cahce'; did you mean 'store.cache'?",
  );
});

Deno.test("every options object refuses a misspelt option instead of ignoring it", async (t) => {
  const throws = async (make: () => unknown, message: RegExp) => {
    await assert.rejects(async () => await make(), (error) => {
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, message);
      return true;
    });
  };
  await t.step("manager", async () => {
    await throws(
      () => new NetworkAccessManager({ timout: 10 } as never),
      /^Cannot create manager: unknown option 'timout'; did you mean 'timeout'\?$/,
    );
    await throws(
      () => new NetworkAccessManager({ maxConectionsPerHost: 2 } as never),
      /unknown option 'maxConectionsPerHost'; did you mean 'maxConnectionsPerHost'\?/,
    );
  });
  await t.step("request, its clone and a request call's options", async () => {
    await throws(
      () => new NetworkRequest("https://example.com/", { priorty: "high" } as never),
      /^Cannot create request: unknown option 'priorty'; did you mean 'priority'\?$/,
    );
    const request = new NetworkRequest("https://example.com/");
    await throws(
      () => request.clone({ urll: "https://example.org/" } as never),
      /did you mean 'url'/,
    );
    await using manager = new NetworkAccessManager({
      transport: () => Promise.resolve(new Response()),
    });
    for (
      const reply of [
        manager.get("https://example.com/", { timout: 5 } as never),
        manager.get(request, { timout: 5 } as never),
      ]
    ) {
      await reply.finished;
      assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError);
      assert.match(reply.errorString, /unknown option 'timout'; did you mean 'timeout'\?/);
    }
    // An unknown option is an invalid operation, whatever its name: not an invalid URL.
    const named = manager.get("https://example.com/", { baseUrl: "https://example.org/" } as never);
    await named.finished;
    assert.equal(named.error, NetworkError.ProtocolInvalidOperationError);
    assert.match(
      named.errorString,
      /^Cannot create request: unknown option 'baseUrl'; the options/,
    );
  });
  await t.step("request factory", async () => {
    await throws(
      () => new NetworkRequestFactory("https://example.com/", { header: {} } as never),
      /^Cannot create request factory: unknown option 'header'; did you mean 'headers'\?$/,
    );
  });
  await t.step("manager factory, its stores and create()", async () => {
    await throws(
      () => new KvNetworkAccessManagerFactory({ pth: ":memory:" } as never),
      /^Cannot create manager factory: unknown option 'pth'; did you mean 'path'\?$/,
    );
    await throws(
      () => new KvNetworkAccessManagerFactory({ cookieJar: { share: true } } as never),
      /unknown option 'cookieJar.share'; did you mean 'cookieJar.shared'\?/,
    );
    await using factory = await KvNetworkAccessManagerFactory.open({ path: ":memory:" });
    await throws(
      () => factory.create({ partiton: "u1" } as never),
      /^Cannot create manager: unknown option 'partiton'; did you mean 'partition'\?$/,
    );
  });
  await t.step("retry, paginate and event stream options", async () => {
    await throws(
      () => new NetworkAccessManager({ retry: { limt: 3 } } as never),
      /^Cannot create manager: unknown option 'retry.limt'; did you mean 'retry.limit'\?$/,
    );
    await throws(
      () => new NetworkRequest("https://example.com/", { retry: { dealy: 0 } } as never),
      /unknown option 'retry.dealy'; did you mean 'retry.delay'\?/,
    );
    await using manager = new NetworkAccessManager({
      transport: () => Promise.resolve(new Response("[]")),
    });
    const drain = async (items: AsyncIterable<unknown>) => {
      for await (const _ of items) { /* nothing */ }
    };
    await throws(
      () => drain(manager.paginate("https://example.com/", { maxPage: 1 } as never)),
      /^Cannot paginate: unknown option 'maxPage'; did you mean 'maxPages'\?$/,
    );
    await throws(
      () => drain(manager.eventStream("https://example.com/", { lastEventID: "1" } as never)),
      /^Cannot open event stream: unknown option 'lastEventID'; did you mean 'lastEventId'\?$/,
    );
  });
  await t.step("stores", async () => {
    await throws(
      () => new MemoryCache({ maxsize: 1 } as never),
      /'maxsize'; did you mean 'maxSize'/,
    );
    await throws(() => KvCache.open({ maxsize: 1 } as never), /^Cannot open cache: unknown option/);
    await throws(() => new MemoryCookieJar({ maxCookie: 1 } as never), /did you mean 'maxCookies'/);
    await throws(
      () => KvCookieJar.open({ partion: "a" } as never),
      /^Cannot open cookie jar: unknown option 'partion'; did you mean 'partition'\?$/,
    );
    await throws(() => new MemoryHstsStore({ prelaod: [] } as never), /did you mean 'preload'/);
    await throws(() => KvHstsStore.open({ prefx: ["a"] } as never), /did you mean 'prefix'/);
  });
});

Deno.test("every options object refuses an array (it has no options), naming what it got", async () => {
  const cases: [string, () => unknown, string][] = [
    ["new MemoryCache", () => new MemoryCache([] as never), "Cannot create cache"],
    ["KvCache.open", () => KvCache.open([] as never), "Cannot open cache"],
    ["new MemoryHstsStore", () => new MemoryHstsStore([] as never), "Cannot create HSTS store"],
    ["KvHstsStore.open", () => KvHstsStore.open([] as never), "Cannot open HSTS store"],
    [
      "new NetworkRequestFactory",
      () => new NetworkRequestFactory("https://example.com/", [] as never),
      "Cannot create request factory",
    ],
    [
      "new NetworkRequest",
      () => new NetworkRequest("https://example.com/", [] as never),
      "Cannot create request",
    ],
    [
      "clone",
      () => new NetworkRequest("https://example.com/").clone([] as never),
      "Cannot create request",
    ],
  ];
  for (const [name, make, what] of cases) {
    await assert.rejects(async () => await make(), (error) => {
      assert.ok(error instanceof TypeError, `${name}: ${error}`);
      assert.match(error.message, new RegExp(`^${what}: '\\w+' must be an object, got an array$`));
      return true;
    }, name);
  }
});
