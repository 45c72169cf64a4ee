import assert from "node:assert/strict";
import { NetworkError, NetworkReplyError } from "../../mod.ts";
import { createMockManager } from "../../testing.ts";

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
