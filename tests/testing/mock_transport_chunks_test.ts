import assert from "node:assert/strict";
import { NetworkError } from "../../mod.ts";
import { createMockManager, MockTransport } from "../../testing.ts";
import { guardUnhandledRejections, takeUnhandledRejections } from "../_helpers/server.ts";

guardUnhandledRejections();

Deno.test("MockTransport streams a chunked body one chunk per read, with progress", async () => {
  await using mocked = createMockManager();
  mocked.mock.route("GET", "/big", {
    headers: { "content-length": "9" },
    chunks: ["abc", new Uint8Array([100, 101, 102]), "ghi"],
  });
  for (let round = 0; round < 2; round++) {
    const reply = mocked.manager.get("https://a.test/big");
    const progress: string[] = [];
    reply.addEventListener("downloadprogress", (event) => {
      const { loaded, total } = event as unknown as { loaded: number; total: number };
      progress.push(`${loaded}/${total}`);
    });
    const chunks: string[] = [];
    for await (const chunk of reply) chunks.push(new TextDecoder().decode(chunk));
    assert.deepEqual(chunks, ["abc", "def", "ghi"]);
    assert.equal(progress[0], "3/9");
    assert.equal(progress.at(-1), "9/9");
    assert.equal(reply.error, NetworkError.NoError);
  }
});

Deno.test("MockTransport waits chunkDelay between chunks, with the injected sleep", async () => {
  const waits: number[] = [];
  await using mocked = createMockManager({
    mock: new MockTransport({ sleep: (ms) => (waits.push(ms), Promise.resolve()) }),
  });
  mocked.mock.route("GET", "/slow", { chunks: ["a", "b", "c"], chunkDelay: 40 });
  assert.equal(await mocked.manager.get("https://a.test/slow").text(), "abc");
  assert.deepEqual(waits, [40, 40]);
});

Deno.test("MockTransport's stalled chunks trip the transfer timeout and leave no timer", async (t) => {
  await t.step("the timeout fails the reply", async () => {
    await using mocked = createMockManager({ transferTimeout: 30 });
    mocked.mock.route("GET", "/stall", { chunks: ["first", "late"], chunkDelay: 60_000 });
    const reply = mocked.manager.get("https://a.test/stall");
    const chunks: string[] = [];
    await assert.rejects(async () => {
      for await (const chunk of reply) chunks.push(new TextDecoder().decode(chunk));
    }, { code: NetworkError.TimeoutError });
    assert.deepEqual(chunks, ["first"]);
    assert.equal(reply.error, NetworkError.TimeoutError);
  });
  await t.step("an abort while a chunk is awaited", async () => {
    await using mocked = createMockManager();
    mocked.mock.route("GET", "/stall", { chunks: ["first", "late"], chunkDelay: 60_000 });
    const reply = mocked.manager.get("https://a.test/stall");
    await assert.rejects(async () => {
      for await (const _chunk of reply) setTimeout(() => reply.abort(), 5);
    }, { code: NetworkError.OperationCanceledError });
    assert.equal(reply.error, NetworkError.OperationCanceledError);
  });
  await t.step("a reply never read", async () => {
    await using mocked = createMockManager();
    mocked.mock.route("GET", "/stall", { chunks: ["first", "late"], chunkDelay: 60_000 });
    mocked.manager.get("https://a.test/stall");
    await new Promise((resolve) => setTimeout(resolve, 10));
  });
});

Deno.test("MockTransport validates chunks with messages naming the field", () => {
  const mock = new MockTransport();
  assert.throws(() => mock.route("GET", "/x", { chunks: ["a", 1 as never] }), {
    name: "TypeError",
    message: "Cannot add mock route: 'chunks[1]' must be a string or a Uint8Array, got 1",
  });
  assert.throws(() => mock.route("GET", "/x", { chunks: "ab" as never }), {
    message: "Cannot add mock route: 'chunks' must be an array of strings or bytes, got \"ab\"",
  });
  assert.throws(() => mock.route("GET", "/x", { chunks: [], chunkDelay: -1 }), {
    name: "RangeError",
    message: "Cannot add mock route: 'chunkDelay' must be a non-negative number, got -1",
  });
});

Deno.test("mock chunks leave no unhandled rejection behind", () => {
  assert.deepEqual(takeUnhandledRejections(), []);
});
