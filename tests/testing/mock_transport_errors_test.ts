import assert from "node:assert/strict";
import { NetworkError, NetworkReplyError } from "../../mod.ts";
import { createMockManager, MockTransport } from "../../testing.ts";

Deno.test("A mock handler that throws fails the reply with a message naming its route", async () => {
  await using mocked = createMockManager();
  mocked.mock.route("GET", "/users/:id", () => {
    throw new RangeError("no such user");
  });
  const reply = mocked.manager.get("https://api.test/users/7");
  await reply.finished;
  assert.equal(reply.error, NetworkError.UnknownNetworkError);
  assert.equal(
    reply.errorString,
    "The handler of mock route GET /users/:id threw RangeError: no such user for " +
      "GET https://api.test/users/7",
  );
});

Deno.test("A mock handler's NetworkReplyError keeps its code", async () => {
  await using mocked = createMockManager();
  mocked.mock.route("GET", "/slow", () => {
    throw new NetworkReplyError(NetworkError.TimeoutError, "simulated timeout");
  });
  const reply = mocked.manager.get("https://api.test/slow");
  await reply.finished;
  assert.equal(reply.error, NetworkError.TimeoutError);
  assert.equal(reply.errorString, "simulated timeout");
});

Deno.test("A mock route's Response whose body was read fails with a message naming the route", async () => {
  await using mocked = createMockManager();
  const answer = new Response("once");
  mocked.mock.route("GET", "/once", answer);
  await answer.text();
  const reply = mocked.manager.get("https://api.test/once");
  await reply.finished;
  assert.equal(reply.error, NetworkError.UnknownNetworkError);
  assert.match(
    reply.errorString,
    /^The Response of mock route GET \/once has a body that was already read/,
  );
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
      const reply = mocked.manager.get("https://api.test/gone");
      await reply.finished;
      assert.equal(reply.error, NetworkError.UnknownNetworkError);
      assert.equal(
        reply.errorString,
        "Mock route GET /gone answered Response.error(), a network error, for GET " +
          "https://api.test/gone",
      );
    });
  }
});

Deno.test("A canned mock answer that is no valid response is refused when the route is added", () => {
  const mock = new MockTransport();
  assert.throws(() => mock.route("GET", "/a", { status: 99 }), {
    name: "RangeError",
    message: /^Cannot add mock route: .*\(99\)/,
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
  const reply = mocked.manager.get("https://api.test/odd");
  await reply.finished;
  assert.equal(reply.error, NetworkError.UnknownNetworkError);
  assert.match(
    reply.errorString,
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
