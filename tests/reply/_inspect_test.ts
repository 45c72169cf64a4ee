import assert from "node:assert/strict";
import { NetworkAccessManager, NetworkReplyError } from "../../mod.ts";
import { MockTransport } from "../../testing.ts";

Deno.test("console.log(reply) shows the reply's URL, operation, state, status and error", async (t) => {
  const mock = new MockTransport();
  mock.route("GET", "https://example.com/ok", { body: "hello" });
  mock.route("GET", "https://example.com/missing", { status: 404, statusText: "Not Found" });
  mock.route("PATCH", "https://example.com/item", { status: 204 });
  await using manager = new NetworkAccessManager({ transport: mock.handler });
  await t.step("running, then finished", async () => {
    const reply = manager.get("https://user:secret@example.com/ok");
    assert.equal(
      Deno.inspect(reply),
      Deno.inspect(reply, {}),
      "the same with or without options",
    );
    assert.match(
      Deno.inspect(reply),
      /^NetworkReply \{\s+url: "https:\/\/example\.com\/ok",\s+operation: "get",\s+state: "running",\s+status: 0,\s+error: "NoError \(0\)",/,
    );
    await reply.text();
    const shown = Deno.inspect(reply);
    assert.match(shown, /state: "finished",\s+status: 200,\s+error: "NoError \(0\)"/);
    assert.match(shown, /bytesReceived: 5,/);
    assert.ok(!shown.includes("secret"), shown);
  });
  await t.step("an error by name, code and sentence; a custom verb by its method", async () => {
    const missing = manager.get("https://example.com/missing");
    await missing.finished;
    assert.match(
      Deno.inspect(missing),
      /status: 404,\s+error: "ContentNotFoundError \(203\)",\s+errorString: "Error transferring https:\/\/example\.com\/missing - server replied: 404 Not Found",/,
    );
    const patch = manager.sendCustomRequest("https://example.com/item", "PATCH", "x");
    await patch.finished;
    assert.match(Deno.inspect(patch), /operation: "custom",\s+method: "PATCH",/);
  });
  await t.step("a thrown error shows the reply it names, not an empty object", async () => {
    const failed = manager.get("https://example.com/none", { signal: AbortSignal.abort() });
    const thrown = await failed.text().catch((error) => error);
    assert.ok(thrown instanceof NetworkReplyError);
    assert.match(Deno.inspect(thrown), /reply: NetworkReply \{[^}]*state: "finished"/);
  });
});
