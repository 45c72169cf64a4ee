import assert from "node:assert/strict";
import { NetworkError, NetworkReplyError } from "../../mod.ts";
import { createMockManager, type MockManager, MockTransport } from "../../testing.ts";

/** The error code and text a GET of `url` through the mocked manager finishes with. */
async function outcome(mocked: MockManager, url: string): Promise<[number, string]> {
  const reply = mocked.manager.get(url);
  await reply.finished;
  return [reply.error, reply.errorString];
}

Deno.test("A mock handler that throws fails the reply with a message naming its route", async () => {
  await using mocked = createMockManager();
  mocked.mock.route("GET", "/users/:id", () => {
    throw new RangeError("no such user");
  });
  assert.deepEqual(await outcome(mocked, "https://api.test/users/7"), [
    NetworkError.UnknownNetworkError,
    "The handler of mock route GET /users/:id threw RangeError: no such user for " +
    "GET https://api.test/users/7",
  ]);
});

Deno.test("A mock handler's NetworkReplyError keeps its code", async () => {
  await using mocked = createMockManager();
  mocked.mock.route("GET", "/slow", () => {
    throw new NetworkReplyError(NetworkError.TimeoutError, "simulated timeout");
  });
  assert.deepEqual(await outcome(mocked, "https://api.test/slow"), [
    NetworkError.TimeoutError,
    "simulated timeout",
  ]);
});

Deno.test("A mock route's Response whose body was read fails with a message naming the route", async () => {
  await using mocked = createMockManager();
  const answer = new Response("once");
  mocked.mock.route("GET", "/once", answer);
  await answer.text();
  const [code, text] = await outcome(mocked, "https://api.test/once");
  assert.equal(code, NetworkError.UnknownNetworkError);
  assert.match(text, /^The Response of mock route GET \/once has a body that was already read/);
});

Deno.test("A mock route answering Response.error() fails the reply as a network error", async (t) => {
  for (
    const [what, responder] of [
      ["a Response", Response.error()],
      ["a handler", () => Response.error()],
    ] as const
  ) {
    await t.step(what, async () => {
      await using mocked = createMockManager();
      mocked.mock.route("GET", "/gone", responder);
      assert.deepEqual(await outcome(mocked, "https://api.test/gone"), [
        NetworkError.UnknownNetworkError,
        "Mock route GET /gone answered Response.error(), a network error, for GET " +
        "https://api.test/gone",
      ]);
    });
  }
});

Deno.test("A canned mock answer that is no valid response is refused when the route is added", () => {
  const mock = new MockTransport();
  assert.throws(() => mock.route("GET", "/a", { status: 99 }), {
    name: "RangeError",
    message: "Cannot add mock route: 'status' must be an HTTP status from 200 to 599, got 99",
  });
  assert.throws(() => mock.route("GET", "/a", { status: 204, body: "x" }), {
    name: "TypeError",
    message: /^Cannot add mock route: .*null body status/,
  });
  assert.throws(() => mock.route("GET", "/a", { headers: { "bad name": "x" } }), {
    name: "TypeError",
    message: /^Cannot add mock route: .*bad name/,
  });
  assert.deepEqual(mock.pendingRoutes(), []);
});

Deno.test("A mock handler's answer that is no valid response fails naming the route", async () => {
  await using mocked = createMockManager();
  mocked.mock.route("GET", "/odd", () => ({ status: 1000 }));
  const [code, text] = await outcome(mocked, "https://api.test/odd");
  assert.equal(code, NetworkError.UnknownNetworkError);
  assert.match(
    text,
    /^The handler of mock route GET \/odd returned an invalid answer for GET https:\/\/api\.test\/odd: .*1000/,
  );
});

Deno.test("MockTransport lists the requests no route matched, also those the fallback answered", async () => {
  const mock = new MockTransport({ fallback: () => Promise.resolve(new Response("elsewhere")) });
  mock.route("GET", "/users", "u");
  await using mocked = createMockManager({ mock });
  await mocked.manager.get("https://api.test/users").text();
  assert.deepEqual(mocked.mock.unmatchedRequests, []);
  assert.equal(await mocked.manager.post("https://api.test/user?x=1", "a").text(), "elsewhere");
  assert.deepEqual(mocked.mock.unmatchedRequests, ["POST https://api.test/user?x=1"]);
  mocked.mock.reset();
  assert.deepEqual(mocked.mock.unmatchedRequests, []);
});

Deno.test("A misspelt MockTransport option is refused, naming it and the one meant", async (t) => {
  const refuses = (make: () => unknown, message: string) => () =>
    assert.throws(make, { name: "TypeError", message });
  await t.step(
    "of the transport",
    refuses(
      () => new MockTransport({ latncy: 5 } as never),
      "Cannot create mock transport: unknown option 'latncy'; did you mean 'latency'?",
    ),
  );
  await t.step(
    "of a route",
    refuses(
      () => new MockTransport().route("GET", "/a", "x", { tims: 1 } as never),
      "Cannot add mock route: unknown option 'tims'; did you mean 'times'?",
    ),
  );
  await t.step(
    "of a canned answer",
    refuses(
      () => new MockTransport().route("GET", "/a", { status: 200, bdy: "x" } as never),
      "Cannot add mock route: unknown option 'responder.bdy'; did you mean 'responder.body'?",
    ),
  );
  await t.step(
    "a failure given to fail() besides its code",
    refuses(
      () => new MockTransport().fail("GET", "/a", 1, { failure: 2 } as never),
      "Cannot add mock route: unknown option 'failure'; the code is fail()'s third argument",
    ),
  );
  await t.step(
    "options that are no object",
    refuses(
      () => new MockTransport().route("GET", "/a", "x", 5 as never),
      "Cannot add mock route: 'options' must be an object, got 5",
    ),
  );
});

Deno.test("A mock route's method that is no HTTP token is refused, naming it", () => {
  for (const method of ["GE T", "", "GET\n", 5]) {
    assert.throws(() => new MockTransport().route(method as string, "/a", "x"), {
      name: "TypeError",
      message: `Cannot add mock route: 'method' must be an HTTP method or "*", got ${
        typeof method === "string" ? JSON.stringify(method) : method
      }`,
    });
  }
  new MockTransport().route("*", "/a", "x").route("M-SEARCH", "/b", "x");
});

Deno.test("A mock handler's answer with an unknown field fails the reply naming it", async () => {
  await using mocked = createMockManager();
  mocked.mock.route("GET", "/a", () => ({ status: 200, bdy: "x" }) as never);
  assert.deepEqual(await outcome(mocked, "https://api.test/a"), [
    NetworkError.UnknownNetworkError,
    "The handler of mock route GET /a returned an invalid answer for GET https://api.test/a: " +
    "Cannot answer from mock route: unknown option 'bdy'; did you mean 'body'?",
  ]);
});
