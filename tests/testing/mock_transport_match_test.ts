import assert from "node:assert/strict";
import { MemoryCache, NetworkError } from "../../mod.ts";
import { createMockManager, MockTransport } from "../../testing.ts";
import { guardUnhandledRejections, takeUnhandledRejections } from "../_helpers/server.ts";

guardUnhandledRejections();

Deno.test("MockTransport matches the query by value, whatever the order of its parameters", async (t) => {
  await using mocked = createMockManager();
  mocked.mock
    .route("GET", "/search", "object", { query: { q: "pen", page: /^\d+$/ } })
    .route("GET", "/list", "string", { query: "b=2&a=1&a=0" })
    .route("GET", "/fn", "function", { query: (query) => query.has("debug") })
    .route("GET", "/*", "no query matcher");
  const text = (url: string) => mocked.manager.get(`https://a.test${url}`).text();
  await t.step("an object: each parameter once and matching, no other", async () => {
    assert.equal(await text("/search?page=2&q=pen"), "object");
    assert.equal(await text("/search?q=pen&page=2"), "object");
    assert.equal(await text("/search?q=pen&page=x"), "no query matcher");
    assert.equal(await text("/search?q=pen"), "no query matcher");
    assert.equal(await text("/search?q=pen&page=2&extra=1"), "no query matcher");
    assert.equal(await text("/search?q=pen&q=pen&page=2"), "no query matcher");
  });
  await t.step("a query string: the same pairs in any order", async () => {
    assert.equal(await text("/list?a=0&b=2&a=1"), "string");
    assert.equal(await text("/list?a=1&b=2"), "no query matcher");
  });
  await t.step("a function over the whole query", async () => {
    assert.equal(await text("/fn?debug"), "function");
    assert.equal(await text("/fn"), "no query matcher");
  });
});

Deno.test("MockTransport matches headers by name in any case, with the body's content type", async () => {
  await using mocked = createMockManager();
  mocked.mock
    .route("POST", "/items", "json", {
      headers: { "Content-Type": "application/json", authorization: /^Bearer / },
    })
    .route("POST", "/items", "tagged", { headers: (headers) => headers.get("x-tag") === "t" })
    .route("POST", "/items", "other");
  const post = (body: unknown, headers: Record<string, string>) =>
    mocked.manager.post("https://a.test/items", body as never, { headers }).text();
  assert.equal(await post({ a: 1 }, { Authorization: "Bearer k" }), "json");
  assert.equal(await post({ a: 1 }, { authorization: "Basic k" }), "other");
  assert.equal(await post("text", { authorization: "Bearer k" }), "other");
  assert.equal(await post("text", { "x-tag": "t" }), "tagged");
});

Deno.test("MockTransport matches bodies as text or as JSON values, and the handler still reads them", async (t) => {
  await using mocked = createMockManager();
  mocked.mock
    .route("POST", "/login", "exact", { body: "user=ann" })
    .route("POST", "/login", "regexp", { body: /^user=/ })
    .route("POST", "/items", async (request) => ({ json: await request.json() }), {
      json: { name: "pen", tags: ["a", "b"] },
    })
    .route("*", "/*", "other");
  await t.step("a string and a RegExp", async () => {
    assert.equal(await mocked.manager.post("https://a.test/login", "user=ann").text(), "exact");
    assert.equal(await mocked.manager.post("https://a.test/login", "user=bob").text(), "regexp");
    assert.equal(await mocked.manager.post("https://a.test/login", "x").text(), "other");
  });
  await t.step("JSON compared by value, keys in any order", async () => {
    const reply = mocked.manager.post("https://a.test/items", '{"tags":["a","b"],"name":"pen"}');
    assert.deepEqual(await reply.json(), { tags: ["a", "b"], name: "pen" });
    const order = mocked.manager.post("https://a.test/items", { name: "pen", tags: ["b", "a"] });
    assert.equal(await order.text(), "other");
    assert.equal(await mocked.manager.post("https://a.test/items", "not json").text(), "other");
  });
  await t.step("a one-shot stream body is read once and still reaches the handler", async () => {
    const body = new Blob(['{"name":"pen","tags":["a","b"]}']).stream();
    const reply = mocked.manager.post("https://a.test/items", body);
    assert.deepEqual(await reply.json(), { name: "pen", tags: ["a", "b"] });
    assert.deepEqual(mocked.recorder.last?.json(), { name: "pen", tags: ["a", "b"] });
  });
});

Deno.test("MockTransport matches what the redirect, cookie, auth and cache layers above it send", async () => {
  await using mocked = createMockManager({
    cache: new MemoryCache(),
    authenticator: () => ({ username: "ann", password: "pw" }),
  });
  mocked.mock
    .route("GET", "/old", { status: 302, headers: { location: "/me", "set-cookie": "sid=1" } }, {
      times: 1,
    })
    .route("GET", "/me", { body: "ann", headers: { "cache-control": "max-age=60" } }, {
      headers: { cookie: "sid=1", authorization: `Basic ${btoa("ann:pw")}` },
      times: 1,
    })
    .route("GET", "/me", { status: 401, headers: { "www-authenticate": 'Basic realm="r"' } }, {
      headers: { cookie: "sid=1" },
      times: 1,
    });
  const reply = mocked.manager.get("https://a.test/old");
  assert.equal(await reply.text(), "ann");
  assert.equal(reply.url.href, "https://a.test/me");
  const cached = mocked.manager.get("https://a.test/me");
  assert.equal(await cached.text(), "ann");
  assert.equal(cached.fromCache, true);
  mocked.mock.assertNoPendingRoutes();
  assert.deepEqual(mocked.recorder.requests.map((sent) => sent.url.pathname), [
    "/old",
    "/me",
    "/me",
  ]);
});

Deno.test("MockTransport gives a route with times to no more concurrent requests than that", async (t) => {
  await using mocked = createMockManager();
  const texts = (path: string, body?: string) =>
    Promise.all(
      [1, 2, 3].map(() =>
        body === undefined
          ? mocked.manager.get(`https://a.test${path}`).text()
          : mocked.manager.post(`https://a.test${path}`, body).text()
      ),
    );
  await t.step("matched on method and URL", async () => {
    mocked.mock.route("GET", "/x", "first", { times: 1 }).route("GET", "/x", "later");
    assert.deepEqual(await texts("/x"), ["first", "later", "later"]);
  });
  await t.step("matched on a body that is read first", async () => {
    mocked.mock.route("POST", "/y", "first", { body: "b", times: 1 }).route("POST", "/y", "later");
    assert.deepEqual(await texts("/y", "b"), ["first", "later", "later"]);
  });
  mocked.mock.assertNoPendingRoutes();
});

Deno.test("MockTransport validates matchers with messages naming the field", () => {
  const mock = new MockTransport();
  assert.throws(() => mock.route("GET", "/users?page=1&sort=name", "x"), {
    name: "TypeError",
    message: `Cannot add mock route: 'pattern' must be a valid URL pattern, got ` +
      `"/users?page=1&sort=name" (a path pattern has no query: match it with the 'query' ` +
      `option, { query: "page=1&sort=name" })`,
  });
  assert.throws(() => mock.route("GET", "/x", "x", { query: { q: 1 as never } }), {
    name: "TypeError",
    message: "Cannot add mock route: 'query.q' must be a string, a RegExp or a function, got 1",
  });
  assert.throws(() => mock.route("GET", "/x", "x", { headers: 5 as never }), {
    message: "Cannot add mock route: 'headers' must be an object or a function, got 5",
  });
  assert.throws(() => mock.route("GET", "/x", "x", { headers: { accept: null as never } }), {
    message: "Cannot add mock route: 'headers.accept' must be a string, a RegExp or a function, " +
      "got null",
  });
  for (const [query, shown] of [[[], "an array"], [null, "null"]]) {
    assert.throws(() => mock.route("GET", "/x", "x", { query: query as never }), {
      message: "Cannot add mock route: 'query' must be an object, a URLSearchParams, a string " +
        `or a function, got ${shown}`,
    });
  }
  assert.throws(() => mock.route("POST", "/x", "x", { body: "a", json: {} }), {
    message: "Cannot add mock route: give 'body' or 'json' to match the body, not both",
  });
  assert.throws(() => mock.route("POST", "/x", "x", { body: 3 as never }), {
    message: "Cannot add mock route: 'body' must be a string, a RegExp or a function, got 3",
  });
});

Deno.test("MockTransport answers an unmatched request with the routes that came closest and why", async () => {
  await using mocked = createMockManager();
  mocked.mock
    .route("GET", "/other", "x")
    .route("POST", "/users", "y")
    .route("GET", "/users", "z", { query: { page: "1" }, headers: { "x-k": "v" } })
    .route("GET", "/users", "once", { times: 1 });
  assert.equal(await mocked.manager.get("https://a.test/users").text(), "once");
  const reply = mocked.manager.get("https://a.test/users?page=2");
  assert.equal(reply.status, 0); // not finished yet
  assert.equal(
    await reply.text(),
    "No mock route matches GET https://a.test/users?page=2; the routes, closest first:\n" +
      "  POST /users: the method is GET\n" +
      '  GET /users (query page="1", headers x-k: "v"): query "page" is "2", not "1"\n' +
      "  GET /users: used up after 1\n" +
      "  GET /other: the URL does not match",
  );
  assert.equal(reply.error, NetworkError.ContentNotFoundError);
});

Deno.test("MockTransport names an unmatched request in the errorString, or fails it when asked", async (t) => {
  await t.step("by default a 404 whose status text names the request", async () => {
    await using mocked = createMockManager();
    const reply = mocked.manager.get("https://a.test/missing");
    await reply.finished;
    assert.equal(reply.status, 404);
    assert.equal(
      reply.errorString,
      "Error transferring https://a.test/missing - server replied: 404 No mock route matches " +
        "GET https://a.test/missing",
    );
  });
  await t.step('unmatched: "fail" fails the reply with the routes in its errorString', async () => {
    await using mocked = createMockManager({ mock: new MockTransport({ unmatched: "fail" }) });
    mocked.mock.route("POST", "/users", { json: [] });
    const reply = mocked.manager.get("https://a.test/users");
    const message = "No mock route matches GET https://a.test/users; the routes, closest " +
      "first:\n  POST /users: the method is GET";
    await assert.rejects(reply.json(), { code: NetworkError.ContentNotFoundError, message });
    assert.equal(reply.error, NetworkError.ContentNotFoundError);
    assert.equal(reply.errorString, message);
    assert.equal(reply.status, 0);
  });
  await t.step("the option is checked", () => {
    assert.throws(() => new MockTransport({ unmatched: "throw" as never }), {
      name: "TypeError",
      message:
        `Cannot create mock transport: 'unmatched' must be one of "404", "fail", got "throw"`,
    });
  });
});

Deno.test("MockTransport lists the routes not used up, and asserts there are none", async (t) => {
  await using mocked = createMockManager();
  mocked.mock
    .route("GET", "/always", "a")
    .route("GET", "/twice", "t", { times: 2 })
    .route("POST", "/never", "n", { json: { a: 1 } })
    .fail("GET", "/down", NetworkError.ConnectionRefusedError, { times: 1 });
  await t.step("before any request every route is pending", () => {
    assert.deepEqual(mocked.mock.pendingRoutes(), [
      { name: "GET /always", calls: 0, times: Infinity },
      { name: "GET /twice", calls: 0, times: 2 },
      { name: 'POST /never (json {"a":1})', calls: 0, times: Infinity },
      { name: "GET /down", calls: 0, times: 1 },
    ]);
  });
  await t.step("the message is a table of them and of the unmatched requests", async () => {
    await mocked.manager.get("https://a.test/always").text();
    await mocked.manager.get("https://a.test/twice").text();
    await mocked.manager.get("https://a.test/down").finished;
    await mocked.manager.get("https://a.test/missing").text();
    assert.throws(() => mocked.mock.assertNoPendingRoutes(), {
      message: "2 mock routes were not used up:\n" +
        "  route                       calls  times\n" +
        "  GET /twice                      1      2\n" +
        '  POST /never (json {"a":1})      0    any\n' +
        "1 request matched no route:\n" +
        "  GET https://a.test/missing",
    });
  });
  await t.step("once every route is used up, it passes", async () => {
    await mocked.manager.get("https://a.test/twice").text();
    await mocked.manager.post("https://a.test/never", { a: 1 }).text();
    assert.deepEqual(mocked.mock.pendingRoutes(), []);
    mocked.mock.assertNoPendingRoutes();
    mocked.mock.reset();
    mocked.mock.assertNoPendingRoutes();
  });
});

Deno.test("mock matching leaves no unhandled rejection behind", () => {
  assert.deepEqual(takeUnhandledRejections(), []);
});
