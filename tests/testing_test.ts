import assert from "node:assert/strict";
import vm from "node:vm";
import { NetworkAccessManager, NetworkError, NetworkRequest } from "../mod.ts";
import { createMockManager, MockTransport, RequestRecorder } from "../testing.ts";
import { guardUnhandledRejections, serve, takeUnhandledRejections } from "./_helpers/server.ts";

guardUnhandledRejections();

Deno.test("MockTransport routes by method and URL pattern, first match first", async (t) => {
  await using mocked = createMockManager();
  mocked.mock
    .route("GET", "/users/:id", (_request, { params }) => ({ json: { id: params.id } }))
    .route("DELETE", "/users/:id", { status: 204 })
    .route("GET", "https://:sub.example.test/*", (_r, { params }) => new Response(params.sub))
    .route("*", new URLPattern({ pathname: "/any" }), "any method")
    .route("GET", { hostname: "first.test" }, "first")
    .route("GET", { hostname: "first.test" }, "second");
  await t.step("a path pattern matches on any origin and captures params", async () => {
    assert.deepEqual(await mocked.manager.get("https://a.test/users/7").json(), { id: "7" });
    assert.deepEqual(await mocked.manager.get("http://b.test:8080/users/8").json(), { id: "8" });
  });
  await t.step("the method must match", async () => {
    const reply = mocked.manager.deleteResource("https://a.test/users/7");
    await reply.finished;
    assert.equal(reply.status, 204);
  });
  await t.step("a full URL pattern captures host groups", async () => {
    assert.equal(await mocked.manager.get("https://api.example.test/x").text(), "api");
  });
  await t.step("'*' matches every method", async () => {
    assert.equal(await mocked.manager.put("https://a.test/any", "x").text(), "any method");
    assert.equal(
      await mocked.manager.sendCustomRequest("https://a.test/any", "PATCH").text(),
      "any method",
    );
  });
  await t.step("the first matching route answers", async () => {
    assert.equal(await mocked.manager.get("https://first.test/").text(), "first");
  });
  await t.step("unmatched requests get a 404 that names them", async () => {
    const reply = mocked.manager.post("https://a.test/nothing", "x");
    assert.match(
      await reply.text(),
      /^No mock route matches POST https:\/\/a\.test\/nothing; the routes, closest first:\n/,
    );
    assert.equal(reply.status, 404);
    assert.equal(reply.error, NetworkError.ContentNotFoundError);
  });
  assert.equal(mocked.mock.calls, 8);
});

Deno.test("MockTransport answers with canned fields, a reusable Response, or a handler's Request view", async (t) => {
  await using mocked = createMockManager();
  await t.step("json sets the body and the content type", async () => {
    mocked.mock.route("GET", "/json", { status: 201, statusText: "Created", json: [1, 2] });
    const reply = mocked.manager.get("https://a.test/json");
    assert.deepEqual(await reply.json(), [1, 2]);
    assert.equal(reply.status, 201);
    assert.equal(reply.statusText, "Created");
    assert.equal(reply.headers.get("content-type"), "application/json");
    assert.equal(reply.url.href, "https://a.test/json");
  });
  await t.step("a Response is answered as a copy each time", async () => {
    mocked.mock.route("GET", "/same", new Response("same", { headers: { "x-a": "1" } }));
    for (let i = 0; i < 3; i++) {
      const reply = mocked.manager.get("https://a.test/same");
      assert.equal(await reply.text(), "same");
      assert.equal(reply.headers.get("x-a"), "1");
    }
  });
  await t.step("a handler sees method, URL, headers and body as a web Request", async () => {
    mocked.mock.route("POST", "/echo", async (request) =>
      Response.json({
        method: request.method,
        url: request.url,
        type: request.headers.get("content-type"),
        custom: request.headers.get("x-custom"),
        body: await request.json(),
      }));
    const reply = mocked.manager.post("https://a.test/echo", { a: 1 }, {
      headers: { "x-custom": "yes" },
    });
    assert.deepEqual(await reply.json(), {
      method: "POST",
      url: "https://a.test/echo",
      type: "application/json",
      custom: "yes",
      body: { a: 1 },
    });
  });
  await t.step("HEAD gets the headers and no body", async () => {
    mocked.mock.route("HEAD", "/head", { body: "ignored", headers: { "x-h": "1" } });
    const reply = mocked.manager.head("https://a.test/head");
    assert.equal(await reply.text(), "");
    assert.equal(reply.headers.get("x-h"), "1");
  });
  await t.step("a GET with a body fails as with the real transport", async () => {
    mocked.mock.route("GET", "/get", "x");
    const reply = mocked.manager.sendCustomRequest("https://a.test/get", "GET", "body");
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError);
  });
});

Deno.test("MockTransport injects failures as NetworkError codes, for a number of times", async () => {
  await using mocked = createMockManager();
  mocked.mock
    .fail("GET", "/flaky", NetworkError.RemoteHostClosedError, { times: 2 })
    .route("GET", "/flaky", "fine");
  const errors: number[] = [];
  for (let i = 0; i < 3; i++) {
    const reply = mocked.manager.get("https://a.test/flaky");
    await reply.finished;
    errors.push(reply.error);
    if (i === 0) assert.match(reply.errorString, /^Mock failure for GET https:\/\/a\.test\/flaky/);
  }
  assert.deepEqual(errors, [
    NetworkError.RemoteHostClosedError,
    NetworkError.RemoteHostClosedError,
    NetworkError.NoError,
  ]);
});

Deno.test("MockTransport fails a request whose handler returns no answer, naming the route", async (t) => {
  await using mocked = createMockManager();
  const results: [string, unknown, string][] = [
    ["/undefined", undefined, "undefined (a missing `return`?)"],
    ["/null", null, "null"],
    ["/number", 42, "42"],
    ["/text", "hi", '"hi"'],
    ["/bytes", new Uint8Array([1]), "an instance of Uint8Array"],
  ];
  for (const [path, result] of results) {
    mocked.mock.route("GET", `https://api.test${path}`, () => result as never);
  }
  for (const [path, , shown] of results) {
    await t.step(`a handler returning ${shown}`, async () => {
      const reply = mocked.manager.get(`https://api.test${path}`);
      await reply.finished;
      assert.equal(reply.error, NetworkError.UnknownNetworkError);
      assert.equal(
        reply.errorString,
        `The handler of mock route GET https://api.test${path} returned ${shown} for GET ` +
          `https://api.test${path}; it must return a Response or a { status, headers, body | json } object`,
      );
    });
  }
  await t.step("the documented results still answer", async () => {
    mocked.mock
      .route("GET", "/response", () => new Response("r", { status: 202 }))
      .route(
        "GET",
        "/fields",
        () => Promise.resolve({ status: 201, headers: { "x-a": "1" }, body: "f" }),
      )
      .route("GET", "/json", () => ({ json: { ok: true } }));
    const response = mocked.manager.get("https://a.test/response");
    assert.equal(await response.text(), "r");
    assert.equal(response.status, 202);
    const fields = mocked.manager.get("https://a.test/fields");
    assert.equal(await fields.text(), "f");
    assert.equal(fields.headers.get("x-a"), "1");
    assert.deepEqual(await mocked.manager.get("https://a.test/json").json(), { ok: true });
  });
});

Deno.test("MockTransport names a route by its method and full pattern", async (t) => {
  await using mocked = createMockManager();
  mocked.mock
    .fail("GET", "https://down.example/*", NetworkError.ConnectionRefusedError)
    .fail("*", "/gone/:id", NetworkError.RemoteHostClosedError)
    .fail("post", new URLPattern({ hostname: "h.test", pathname: "/p" }), 1);
  const cases = [
    ["GET", "https://down.example/s", "GET https://down.example/*"],
    ["GET", "https://a.test/gone/1", "* /gone/:id"],
    ["POST", "https://h.test/p", "POST *://h.test:*/p"],
  ];
  for (const [method, url, route] of cases) {
    await t.step(route!, async () => {
      const reply = mocked.manager.sendCustomRequest(url!, method!);
      await reply.finished;
      assert.equal(reply.errorString, `Mock failure for ${method} ${url} (route ${route})`);
    });
  }
});

Deno.test("MockTransport adds latency, with an injected sleep or a real one that abort stops", async (t) => {
  await t.step("route latency wins over the transport's", async () => {
    const waits: number[] = [];
    const mock = new MockTransport({
      latency: 50,
      sleep: (ms) => (waits.push(ms), Promise.resolve()),
    });
    mock.route("GET", "/slow", "slow", { latency: 2000 }).route("GET", "/", "default");
    await using manager = new NetworkAccessManager({ transport: mock.handler });
    assert.equal(await manager.get("https://a.test/slow").text(), "slow");
    assert.equal(await manager.get("https://a.test/").text(), "default");
    assert.deepEqual(waits, [2000, 50]);
  });
  await t.step("an abort ends a real latency wait at once", async () => {
    await using mocked = createMockManager();
    mocked.mock.route("GET", "/slow", "slow", { latency: 60_000 });
    const reply = mocked.manager.get("https://a.test/slow");
    setTimeout(() => reply.abort(), 5);
    await reply.finished;
    assert.equal(reply.error, NetworkError.OperationCanceledError);
  });
});

Deno.test("MockTransport falls back to a given handler for unmatched requests", async () => {
  await using server = serve(() => new Response("from the network"));
  const mock = new MockTransport({
    fallback: () => Promise.resolve(new Response("fallback")),
  }).route("GET", "/mocked", "mocked");
  await using manager = new NetworkAccessManager({ transport: mock.handler });
  assert.equal(await manager.get(`${server.url}/mocked`).text(), "mocked");
  assert.equal(await manager.get(`${server.url}/other`).text(), "fallback");
});

Deno.test("MockTransport validates routes with messages naming the field", () => {
  const mock = new MockTransport();
  assert.throws(() => mock.route("GET", "/items/(", "x"), {
    name: "TypeError",
    message: `Cannot add mock route: 'pattern' must be a valid URL pattern, got "/items/("`,
  });
  // Values as every message shows them: a long string cut, an object by its kind, with the
  // reason URLPattern gave (its parts are not shown).
  assert.throws(() => mock.route("GET", `/${"a".repeat(70)}(`, "x"), {
    name: "TypeError",
    message: `Cannot add mock route: 'pattern' must be a valid URL pattern, got "/${
      "a".repeat(56)
    }..."`,
  });
  assert.throws(() => mock.route("GET", { hostname: "a b" }, "x"), {
    name: "TypeError",
    message: "Cannot add mock route: 'pattern' must be a valid URL pattern, got an object " +
      `(Failed to parse hostname from "a b": invalid domain character)`,
  });
  assert.throws(() => mock.route("GET", 5 as never, "x"), {
    name: "TypeError",
    message: /^Cannot add mock route: 'pattern' must be a valid URL pattern, got 5 \(/,
  });
  assert.throws(() => mock.fail("GET", "/x", 12345 as never), {
    message: "Cannot add mock route: 'failure' must be a NetworkError code, got 12345",
  });
  assert.throws(() => mock.route("GET", "/x", "x", { times: 0 }), {
    name: "RangeError",
    message: "Cannot add mock route: 'times' must be a positive integer, got 0",
  });
  for (const [responder, shown] of [[null, "null"], [42, "42"], [[], "an array"]] as const) {
    assert.throws(() => mock.route("GET", "/x", responder as never), {
      name: "TypeError",
      message: "Cannot add mock route: 'responder' must be a Response, a " +
        `{ status, headers, body | json } object, a string or a handler function, got ${shown}`,
    });
  }
  assert.throws(() => new MockTransport({ latency: -1 }), {
    message: "Cannot create mock transport: 'latency' must be a non-negative number, got -1",
  });
  assert.throws(() => mock.route("GET", "/x", "x", { latency: 2 ** 31 }), {
    name: "RangeError",
    message: "Cannot add mock route: 'latency' must be at most 2147483647 ms (about 24.8 days, " +
      "the longest timer), got 2147483648; use 0 to answer without waiting",
  });
  mock.route("GET", "/x", "x");
  mock.reset();
  assert.equal(mock.calls, 0);
});

Deno.test("MockTransport takes a pattern init and a canned answer made in another realm", async () => {
  await using mocked = createMockManager();
  mocked.mock
    .route(
      "GET",
      vm.runInNewContext('({ hostname: "other.test" })'),
      vm.runInNewContext('({ status: 201, body: "route" })'),
    )
    .route("GET", "/handler", () => vm.runInNewContext("({ status: 202, json: { a: 1 } })"));
  const reply = mocked.manager.get("https://other.test/x");
  assert.equal(await reply.text(), "route");
  assert.equal(reply.status, 201);
  const handled = mocked.manager.get("https://a.test/handler");
  assert.deepEqual(await handled.json(), { a: 1 });
  assert.equal(handled.status, 202);
});

Deno.test("MockTransport refuses a pattern that is no string, URLPattern or init object, which URLPattern would take as matching every URL", async (t) => {
  const refused: [unknown, string][] = [
    [null, "null"],
    [undefined, "undefined"],
    [[], "an array"],
    [["/a"], "an array"],
    [new Map(), "an instance of Map"],
    [new Date(0), "an instance of Date"],
    [5, "5"],
    [true, "true"],
    [() => {}, "a function"],
    [Symbol("s"), "Symbol(s)"],
  ];
  for (const [pattern, shown] of refused) {
    await t.step(shown, () => {
      const message =
        `Cannot add mock route: 'pattern' must be a valid URL pattern, got ${shown} ` +
        "(a string, a URLPattern or its init object)";
      const mock = new MockTransport();
      assert.throws(() => mock.route("GET", pattern as never, "caught"), {
        name: "TypeError",
        message,
      });
      assert.throws(() => mock.fail("GET", pattern as never, NetworkError.ConnectionRefusedError), {
        name: "TypeError",
        message,
      });
    });
  }
  await t.step(
    "an init object (a null-prototype one, a URL), and a URLPattern are taken",
    async () => {
      await using mocked = createMockManager();
      mocked.mock
        .route("GET", { hostname: "a.example" }, "a")
        .route("GET", Object.assign(Object.create(null), { pathname: "/b" }), "b")
        .route("GET", new URLPattern({ pathname: "/c" }), "c")
        .route("GET", new URL("https://d.example/d"), "d");
      assert.equal(await mocked.manager.get("https://a.example/x").text(), "a");
      assert.equal(await mocked.manager.get("https://other.example/b").text(), "b");
      assert.equal(await mocked.manager.get("https://other.example/c").text(), "c");
      assert.equal(await mocked.manager.get("https://d.example/d").text(), "d");
      const missed = mocked.manager.get("https://other.example/d");
      await missed.finished;
      assert.equal(missed.status, 404, "no route matches every URL");
    },
  );
});

Deno.test("RequestRecorder records method, URL, headers, body and hop of every exchange", async (t) => {
  await t.step("bodies of every kind, with the content type the transport would send", async () => {
    await using mocked = createMockManager();
    mocked.mock.route("*", "/*", { status: 204 });
    await mocked.manager.post("https://a.test/json", { a: [1] }).finished;
    await mocked.manager.put("https://a.test/text", "plain").finished;
    await mocked.manager.post("https://a.test/form", new URLSearchParams({ q: "1" })).finished;
    await mocked.manager.post("https://a.test/stream", new Blob(["streamed"]).stream()).finished;
    await mocked.manager.get("https://a.test/none", { headers: { "x-k": "v" } }).finished;
    const [json, text, form, stream, none] = mocked.recorder.requests;
    assert.deepEqual(json!.json(), { a: [1] });
    assert.equal(json!.headers.get("content-type"), "application/json");
    assert.equal(text!.method, "PUT");
    assert.equal(text!.text(), "plain");
    assert.equal(text!.headers.get("content-type"), "text/plain;charset=UTF-8");
    assert.equal(form!.text(), "q=1");
    assert.equal(stream!.text(), "streamed");
    assert.equal(none!.body, null);
    assert.equal(none!.headers.get("x-k"), "v");
    assert.equal(none!.url.href, "https://a.test/none");
    assert.equal(none!.hop, 0);
    assert.equal(mocked.recorder.last, none);
    mocked.recorder.clear();
    assert.equal(mocked.recorder.requests.length, 0);
  });
  await t.step("json() names the request when its body is empty or not JSON", async () => {
    await using mocked = createMockManager();
    mocked.mock.route("*", "/*", { status: 204 });
    await mocked.manager.post("https://a.test/empty?token=s3cret", new Uint8Array()).finished;
    await mocked.manager.put("https://a.test/text", "plain words").finished;
    await mocked.manager.get("https://a.test/none").finished;
    const [empty, text, none] = mocked.recorder.requests;
    assert.throws(() => empty!.json(), {
      name: "SyntaxError",
      message:
        "POST https://a.test/empty?token=[redacted] was sent with no body: there is no JSON to parse",
    });
    assert.throws(() => text!.json(), (error: Error) => {
      assert.equal(error.name, "SyntaxError");
      assert.match(
        error.message,
        /^The body PUT https:\/\/a\.test\/text was sent with is not JSON \(/,
      );
      assert.match(error.message, /; its body: plain words$/);
      return true;
    });
    const token = "s3cret-token-4f9a";
    const request = new NetworkRequest("https://a.test/form", {
      headers: { authorization: `Bearer ${token}` },
    });
    await mocked.manager.put(request, `token=${token}`).finished;
    assert.throws(() => mocked.recorder.last!.json(), (error: Error) => {
      assert.match(
        error.message,
        /is not JSON \(Unexpected token 'o'\); its body: token=\[redacted\]$/,
      );
      assert.ok(!error.message.includes("s3cr"), error.message);
      assert.ok(!String(error.cause).includes("s3cr"), String(error.cause));
      return true;
    });
    assert.throws(
      () => none!.json(),
      /^SyntaxError: GET https:\/\/a\.test\/none was sent with no body/,
    );
  });
  await t.step("it works above the real transport", async () => {
    await using server = serve(async (request) => new Response(await request.text()));
    const recorder = new RequestRecorder();
    await using manager = new NetworkAccessManager();
    manager.use(recorder.layer, "network");
    assert.equal(await manager.post(server.url, "echoed").text(), "echoed");
    assert.equal(recorder.last?.text(), "echoed");
  });
});

Deno.test("createMockManager passes manager options and refuses a transport", async () => {
  await using mocked = createMockManager({ maxConnectionsPerHost: 2, retry: 1 });
  assert.equal(mocked.manager.maxConnectionsPerHost, 2);
  assert.equal(mocked.manager.retry, 1);
  assert.throws(() => createMockManager({ transport: () => Promise.reject() } as never), {
    message: "Cannot create mock manager: 'transport' is the mock's; pass 'mock' instead",
  });
  const mock = new MockTransport().route("GET", "/", "shared");
  await using other = createMockManager({ mock });
  assert.equal(other.mock, mock);
  assert.equal(await other.manager.get("https://a.test/").text(), "shared");
  await other.close();
  const late = other.manager.get("https://a.test/");
  await late.finished;
  assert.equal(late.error, NetworkError.OperationCanceledError);
});

Deno.test("testing helpers leave no unhandled rejection behind", () => {
  assert.deepEqual(takeUnhandledRejections(), []);
});
