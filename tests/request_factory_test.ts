import assert from "node:assert/strict";
import vm from "node:vm";
import { NetworkAccessManager, NetworkRequestFactory } from "../mod.ts";
import { createMockManager } from "../testing.ts";
import { guardUnhandledRejections, serve, takeUnhandledRejections } from "./_helpers/server.ts";

guardUnhandledRejections();

Deno.test("NetworkRequestFactory joins paths to the base URL with exactly one slash", async (t) => {
  const cases: [string, string, string][] = [
    ["https://api.test/v1", "users", "https://api.test/v1/users"],
    ["https://api.test/v1", "/users", "https://api.test/v1/users"],
    ["https://api.test/v1/", "users", "https://api.test/v1/users"],
    ["https://api.test/v1/", "/users", "https://api.test/v1/users"],
    ["https://api.test/v1//", "//users/7/", "https://api.test/v1/users/7/"],
    ["https://api.test", "users", "https://api.test/users"],
    ["https://api.test/", "/", "https://api.test/"],
    ["https://api.test/v1", "", "https://api.test/v1"],
    ["https://api.test/v1#frag", "a", "https://api.test/v1/a"],
    ["https://api.test/v1", "a b/c%20d", "https://api.test/v1/a%20b/c%20d"],
    [
      "https://api.test/v1",
      "what?no=query#nor-fragment",
      "https://api.test/v1/what%3Fno=query%23nor-fragment",
    ],
  ];
  for (const [base, path, expected] of cases) {
    await t.step(`${JSON.stringify(base)} + ${JSON.stringify(path)}`, () => {
      assert.equal(new NetworkRequestFactory(base).createRequest(path).url.href, expected);
    });
  }
  await t.step("no path: the base URL", () => {
    assert.equal(
      new NetworkRequestFactory("https://api.test/v1/").createRequest().url.href,
      "https://api.test/v1/",
    );
  });
});

Deno.test("NetworkRequestFactory adds the base URL's, the common and the call's query parameters in order", () => {
  const api = new NetworkRequestFactory("https://api.test/v1?key=k", { query: { lang: "en" } });
  assert.equal(
    api.createRequest("items", { page: "2", q: "a b&c" }).url.href,
    "https://api.test/v1/items?key=k&lang=en&page=2&q=a+b%26c",
  );
  assert.equal(
    api.createRequest("items", [["tag", "x"], ["tag", "y"]]).url.search,
    "?key=k&lang=en&tag=x&tag=y",
  );
  api.queryParameters.set("lang", "fr");
  assert.equal(
    api.createRequest("items", new URLSearchParams("a=1")).url.search,
    "?key=k&lang=fr&a=1",
  );
  api.queryParameters = {};
  assert.equal(api.createRequest("items").url.search, "?key=k");
});

Deno.test("NetworkRequestFactory takes a query record made in another realm", () => {
  const record = vm.runInNewContext('({ lang: "en", tag: ["x", "y"] })');
  const api = new NetworkRequestFactory("https://api.test/v1", { query: record });
  assert.equal(api.createRequest("items").url.search, "?lang=en&tag=x&tag=y");
  assert.equal(
    api.createRequest("items", vm.runInNewContext('({ page: 2, q: "a b" })')).url.search,
    "?lang=en&tag=x&tag=y&page=2&q=a+b",
  );
  const bare = vm.runInNewContext('Object.assign(Object.create(null), { n: "1" })');
  assert.equal(api.createRequest("items", bare).url.search, "?lang=en&tag=x&tag=y&n=1");
});

Deno.test("NetworkRequestFactory keeps the base URL's query as written when it adds parameters", () => {
  const base = "https://api.test/v1?fields=id,name&flag&path=a/b~c&sig=x%2By";
  const api = new NetworkRequestFactory(base, { query: { lang: "en" } });
  assert.equal(
    api.createRequest("items", { q: "a,b" }).url.search,
    "?fields=id,name&flag&path=a/b~c&sig=x%2By&lang=en&q=a%2Cb",
  );
  assert.equal(
    new NetworkRequestFactory(base).createRequest("items").url.search,
    "?fields=id,name&flag&path=a/b~c&sig=x%2By",
  );
  assert.equal(
    new NetworkRequestFactory("https://api.test/v1?").createRequest("items", { a: 1 }).url.href,
    "https://api.test/v1/items?a=1",
  );
});

Deno.test("NetworkRequestFactory sends common headers, and the bearer token overrides Authorization", () => {
  const api = new NetworkRequestFactory("https://api.test/", {
    headers: { accept: "application/json", authorization: "Basic Zm9vOmJhcg==" },
  });
  const plain = api.createRequest("a");
  assert.equal(plain.headers.get("accept"), "application/json");
  assert.equal(plain.headers.get("authorization"), "Basic Zm9vOmJhcg==");
  api.bearerToken = "tok-1";
  assert.equal(api.createRequest("a").headers.get("authorization"), "Bearer tok-1");
  assert.equal(
    plain.headers.get("authorization"),
    "Basic Zm9vOmJhcg==",
    "earlier requests keep theirs",
  );
  const first = api.createRequest("a");
  first.headers.set("x-only", "first");
  assert.equal(api.createRequest("a").headers.get("x-only"), null, "requests do not share headers");
  api.clearBearerToken();
  assert.equal(api.bearerToken, undefined);
  assert.equal(api.createRequest("a").headers.get("authorization"), "Basic Zm9vOmJhcg==");
  api.commonHeaders = { "x-api": "2" };
  assert.deepEqual([...api.createRequest("a").headers], [["x-api", "2"]]);
});

Deno.test("NetworkRequestFactory gives every request its request attributes", () => {
  const api = new NetworkRequestFactory("https://api.test/", {
    requestInit: { priority: "high", transferTimeout: 5000, retry: 3, attributes: { tag: "x" } },
  });
  const request = api.createRequest("a");
  assert.equal(request.priority, "high");
  assert.equal(request.transferTimeout, 5000);
  assert.equal(request.retry, 3);
  assert.deepEqual(request.attributes, { tag: "x" });
});

Deno.test("NetworkRequestFactory requests go through a manager", async () => {
  await using mocked = createMockManager();
  mocked.mock.route(
    "GET",
    "https://api.test/v2/users/:id",
    (request, { params }) =>
      Response.json({
        id: params.id,
        auth: request.headers.get("authorization"),
        url: request.url,
      }),
  );
  const api = new NetworkRequestFactory("https://api.test/v2/", {
    bearerToken: "t",
    query: { v: "1" },
  });
  const reply = mocked.manager.get(api.createRequest("users/9"));
  assert.deepEqual(await reply.json(), {
    id: "9",
    auth: "Bearer t",
    url: "https://api.test/v2/users/9?v=1",
  });
});

Deno.test("NetworkRequestFactory validates its options with messages naming them", () => {
  assert.throws(() => new NetworkRequestFactory("/relative"), {
    name: "TypeError",
    message: `Cannot create request factory: 'baseUrl' must be an absolute URL, got "/relative"`,
  });
  assert.throws(() => new NetworkRequestFactory("https://a.test/", { bearerToken: "a\r\nb" }), {
    message:
      "Cannot create request factory: 'bearerToken' must be a non-empty string of Latin-1 characters without line breaks, got one with a line break or NUL (not shown)",
  });
  assert.throws(
    () => new NetworkRequestFactory("https://a.test/", { headers: { "bad name": "x" } }),
    {
      message: /^Cannot create request factory: invalid header/,
    },
  );
  assert.throws(
    () => new NetworkRequestFactory("https://a.test/", { headers: { "x-note": "€" } }),
    {
      message:
        /^Cannot create request factory: invalid header "x-note": its name and value must be Latin-1 .* got the value "€"; encode the text first, e\.g\. with encodeURIComponent$/,
    },
  );
  assert.throws(
    () =>
      new NetworkRequestFactory("https://a.test/", {
        requestInit: { priority: "urgent" as never },
      }),
    {
      message:
        /^Cannot create request factory: 'requestInit.priority' must be one of "high", "normal", "low", got "urgent"$/,
    },
  );
  const requestInits: [init: Record<string, unknown>, Type: typeof TypeError, message: string][] = [
    [
      { timeout: -1 },
      RangeError,
      "Cannot create request factory: 'requestInit.timeout' must be a non-negative integer, got -1",
    ],
    [
      { timout: 1 },
      TypeError,
      "Cannot create request factory: unknown option 'requestInit.timout'; did you mean 'requestInit.timeout'?",
    ],
    [
      { signal: "x" },
      TypeError,
      "Cannot create request factory: 'requestInit.signal' must be an AbortSignal, got \"x\"",
    ],
    [
      { sensitiveHeaders: ["a b"] },
      TypeError,
      "Cannot create request factory: 'requestInit.sensitiveHeaders[0]' must be a header name, got \"a b\"",
    ],
    [
      { attributes: 5 },
      TypeError,
      "Cannot create request factory: 'requestInit.attributes' must be an object, got 5",
    ],
    [
      { retry: { delay: -1 } },
      RangeError,
      "Cannot create request factory: 'requestInit.retry.delay' must be a non-negative integer, got -1",
    ],
    [
      { postRedirects: [302, 307] },
      RangeError,
      "Cannot create request factory: 'requestInit.postRedirects[1]' must be 301, 302 or 303, got 307",
    ],
  ];
  for (const [requestInit, Type, message] of requestInits) {
    assert.throws(
      () => new NetworkRequestFactory("https://a.test/", { requestInit: requestInit as never }),
      (error: unknown) => {
        assert.ok(error instanceof Type, String(error));
        assert.equal((error as Error).message, message);
        return true;
      },
    );
  }
  assert.throws(
    () =>
      new NetworkRequestFactory("https://a.test/", {
        requestInit: { headers: { accept: "application/json" } } as never,
      }),
    {
      name: "TypeError",
      message:
        "Cannot create request factory: 'requestInit.headers' is not used; give the headers of every request in 'headers'",
    },
  );
  const api = new NetworkRequestFactory("https://a.test/");
  assert.throws(() => (api.baseUrl = "nope"), {
    message: `Cannot set baseUrl: 'baseUrl' must be an absolute URL, got "nope"`,
  });
  assert.throws(() => new NetworkRequestFactory(null as never), {
    message: "Cannot create request factory: 'baseUrl' must be an absolute URL, got null",
  });
  // A token of the wrong type is not shown, unless it is an object (which holds none).
  for (const [token, shown] of [[null, "null"], [5, "a number"], [{}, "an object"]]) {
    const message = new RegExp(`'bearerToken' must be .*, got ${shown}$`);
    assert.throws(
      () => new NetworkRequestFactory("https://a.test/", { bearerToken: token as never }),
      {
        message,
      },
    );
    assert.throws(() => (api.bearerToken = token as never), { message });
  }
  assert.throws(() => (api.bearerToken = ""), {
    message: /^Cannot set bearerToken: 'bearerToken' must be a non-empty string/,
  });
  assert.throws(() => api.createRequest(3 as never), {
    message: "Cannot create request: 'path' must be a string, got 3",
  });
  assert.throws(() => (api.commonHeaders = "accept: */*" as never), {
    name: "TypeError",
    message:
      "Cannot set commonHeaders: 'commonHeaders' must be a Headers, a record or an array of " +
      '[name, value] pairs, got "accept: */*"',
  });
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("NetworkRequestFactory takes query values as strings, numbers and booleans, naming what is not", () => {
  const api = new NetworkRequestFactory("https://a.test/");
  const records = "URLSearchParams, a record or [name, value] pairs";
  const value = "a string, a finite number or a boolean";
  const cases: [unknown, string, name?: string][] = [
    [5, `'query' must be ${records}, got 5`],
    [null, `'query' must be ${records}, got null`],
    ["a=b", `'query' must be ${records}, got "a=b"`],
    [new Map([["a", "b"]]), `'query' must be ${records}, got an instance of Map`],
    [
      { a: null },
      `'query.a' must be ${value}, an array of them, or undefined (left out), got null`,
    ],
    [
      { page: NaN },
      `'query.page' must be ${value}, an array of them, or undefined (left out), got NaN`,
      "RangeError",
    ],
    [{ b: [1, Infinity] }, `'query.b[1]' must be ${value}, got Infinity`, "RangeError"],
    [[["a", -Infinity]], `'query[0][1]' must be ${value}, got -Infinity`, "RangeError"],
    [{ b: ["x", null] }, `'query.b[1]' must be ${value}, got null`],
    [{ b: [["x"]] }, `'query.b[0]' must be ${value}, got an array`],
    [
      { d: new Date(0) },
      `'query.d' must be ${value}, an array of them, or undefined (left out), got an instance of Date`,
    ],
    [[["a"]], "'query[0]' must be a [name, value] pair, got an array of 1 item"],
    [["ab"], `'query[0]' must be a [name, value] pair, got "ab"`],
    [[["a", "1"], ["b", undefined]], `'query[1][1]' must be ${value}, got undefined`],
    [[[1, "a"]], "'query[0][0]' must be a string, got 1"],
  ];
  // A number that is not finite is of the right type and out of range: a RangeError.
  for (const [query, message, name = "TypeError"] of cases) {
    assert.throws(() => new NetworkRequestFactory("https://a.test/", { query: query as never }), {
      name,
      message: `Cannot create request factory: ${message}`,
    });
    assert.throws(() => api.createRequest("x", query as never), {
      name,
      message: `Cannot create request: ${message}`,
    });
  }
  assert.throws(() => (api.queryParameters = { a: {} } as never), {
    message: `Cannot set queryParameters: 'queryParameters.a' must be ${value}, an array of ` +
      "them, or undefined (left out), got an object",
  });
  const plain = Object.assign(Object.create(null), { a: "1" });
  assert.equal(api.createRequest("x", plain).url.search, "?a=1");
});

Deno.test("NetworkRequestFactory writes numbers and booleans, repeats arrays and leaves out undefined", async () => {
  await using server = serve((request) => new Response(new URL(request.url).search));
  const api = new NetworkRequestFactory(`${server.url}/search?key=k`, {
    query: { lang: "en", debug: undefined, v: 2 },
  });
  await using manager = new NetworkAccessManager();
  const cursor: string | undefined = undefined;
  const request = api.createRequest("items", {
    q: "a b&c",
    page: 2,
    exact: false,
    tag: ["x", "y"],
    limit: [10],
    none: [],
    cursor,
  });
  assert.equal(
    await manager.get(request).text(),
    "?key=k&lang=en&v=2&q=a+b%26c&page=2&exact=false&tag=x&tag=y&limit=10",
  );
  const pairs = api.createRequest("items", [["page", 3], ["all", true], ["tag", "z"]]);
  assert.equal(await manager.get(pairs).text(), "?key=k&lang=en&v=2&page=3&all=true&tag=z");
});

Deno.test("NetworkRequestFactory rejects paths that lead outside the base path, with the token", async (t) => {
  const api = new NetworkRequestFactory("https://api.test/v1/", { bearerToken: "s3cret" });
  const escapes = [
    "../admin",
    "/../admin",
    "%2e%2e/admin",
    "%2E%2E/admin",
    ".%2e/admin",
    "%2e./admin",
    "..\\admin",
    "users\\..\\..\\admin",
    "users/../../admin",
    "a/b/../../../admin",
    "..",
    "..%2fadmin",
    "..%5cadmin",
    "%252e%252e/admin",
    "./../admin",
  ];
  for (const path of escapes) {
    await t.step(path, () => {
      assert.throws(() => api.createRequest(path), {
        name: "TypeError",
        message: `Cannot create request: path ${
          JSON.stringify(path)
        } leads outside the base path '/v1/' of https://api.test: a '..' segment (also as '%2e%2e', or after a backslash) may not climb above it`,
      });
    });
  }
  await t.step("a long path is cut, as messages show every string", () => {
    assert.throws(() => api.createRequest(`../${"x".repeat(70)}`), {
      name: "TypeError",
      message: new RegExp(`^Cannot create request: path "\\.\\./x{54}\\.\\.\\." leads outside`),
    });
  });
  await t.step("paths that stay below the base are joined", () => {
    const inside: [string, string][] = [
      ["users/../items", "https://api.test/v1/items"],
      ["a/./b", "https://api.test/v1/a/b"],
      ["..a/b..", "https://api.test/v1/..a/b.."],
      ["users/%2e%2e/items", "https://api.test/v1/items"],
      ["a\\b", "https://api.test/v1/a/b"],
    ];
    for (const [path, href] of inside) assert.equal(api.createRequest(path).url.href, href);
  });
});

Deno.test("a factory's request sent with headers of the call keeps its own, each replaced or removed by name", async (t) => {
  await using server = serve((request) =>
    Response.json(Object.fromEntries(
      ["authorization", "accept", "x-client", "if-none-match"].map((name) => [
        name,
        request.headers.get(name),
      ]),
    ))
  );
  const api = new NetworkRequestFactory(`${server.url}/v1/`, {
    headers: { accept: "application/json", "x-client": "app/1" },
    bearerToken: "s3cret",
  });
  await using manager = new NetworkAccessManager();
  await t.step("a header of the call is added; the token and the common headers stay", async () => {
    const reply = manager.get(api.createRequest("items"), {
      headers: { "if-none-match": '"v1"' },
    });
    assert.deepEqual(await reply.json(), {
      authorization: "Bearer s3cret",
      accept: "application/json",
      "x-client": "app/1",
      "if-none-match": '"v1"',
    });
  });
  await t.step("one of the same name replaces it, as Headers or pairs too", async () => {
    for (const headers of [new Headers({ "x-client": "cli/2" }), [["x-client", "cli/2"]]]) {
      const reply = manager.get(api.createRequest("items"), { headers: headers as HeadersInit });
      assert.equal(((await reply.json()) as Record<string, string>)["x-client"], "cli/2");
    }
  });
  await t.step("undefined or null removes it", async () => {
    const reply = manager.post(api.createRequest("items"), { a: 1 }, {
      headers: { "x-client": undefined, authorization: null },
    });
    assert.deepEqual(await reply.json(), {
      authorization: null,
      accept: "application/json",
      "x-client": null,
      "if-none-match": null,
    });
  });
  await t.step("the factory's request is left as it was", () => {
    const request = api.createRequest("items");
    manager.get(request, { headers: { "x-client": null } }).abort();
    assert.equal(request.headers.get("x-client"), "app/1");
  });
});

Deno.test("a header record's undefined and null values are not sent as text", async () => {
  await using server = serve((request) =>
    new Response(JSON.stringify([...request.headers].filter(([name]) => name.startsWith("x-"))))
  );
  await using manager = new NetworkAccessManager();
  const maybe: string | undefined = undefined;
  const reply = manager.get(server.url, { headers: { "x-a": "1", "x-b": maybe, "x-c": null } });
  assert.deepEqual(await reply.json(), [["x-a", "1"]]);
  const api = new NetworkRequestFactory(server.url, { headers: { "x-d": undefined, "x-e": "2" } });
  assert.deepEqual(await manager.get(api.createRequest()).json(), [["x-e", "2"]]);
});
