import assert from "node:assert/strict";
import { MemoryCache, NetworkAccessManager, NetworkError, NetworkReplyError } from "../mod.ts";

const CHUNK = 64 * 1024;

/**
 * A body that never ends, of 64 KiB chunks (each a timer's turn later, so that a reader that does
 * not stop lets timers run), and how many it gave.
 */
function endless(): { body: ReadableStream<Uint8Array>; pulls: () => number } {
  let pulls = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      pulls++;
      controller.enqueue(new Uint8Array(CHUNK));
    },
  });
  return { body, pulls: () => pulls };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("a transport's body that goes past its Content-Length fails at once", async () => {
  const source = endless();
  await using manager = new NetworkAccessManager({
    readBufferSize: CHUNK,
    transport: () =>
      Promise.resolve(new Response(source.body, { headers: { "content-length": "10" } })),
  });
  const reply = manager.get("https://a.test/endless");
  let chunks = 0;
  await assert.rejects(async () => {
    for await (const _ of reply) if (++chunks === 2) break;
  }, NetworkReplyError);
  assert.equal(chunks, 0);
  assert.equal(reply.error, NetworkError.ProtocolFailure);
  assert.equal(
    reply.errorString,
    "The transport (the 'transport' option) answered a body for https://a.test/endless that is " +
      `longer than the 10 bytes its Content-Length declares: reading stopped at ${CHUNK} bytes`,
  );
  const pulls = source.pulls();
  await pause(50);
  assert.ok(pulls <= 3 && source.pulls() <= pulls + 1, `${pulls} then ${source.pulls()} pulls`);
});

Deno.test("a layer's endless body past a stale Content-Length reads under back-pressure, and break aborts it", async () => {
  const source = endless();
  await using manager = new NetworkAccessManager({
    readBufferSize: CHUNK,
    transport: () => Promise.resolve(new Response("0123456789")),
  });
  // The common `new Response(newBody, response)`: the headers, Content-Length too, are kept.
  manager.use((next) => async (exchange) => {
    const response = await next(exchange);
    response.headers.set("content-length", "10");
    await response.body?.cancel();
    return new Response(source.body, response);
  });
  const reply = manager.get("https://a.test/endless");
  let chunks = 0;
  for await (const _ of reply) if (++chunks === 2) break;
  const pulls = source.pulls();
  await pause(50);
  // A pull under way when the body was cancelled may still end; none follows.
  assert.ok(pulls <= 5 && source.pulls() <= pulls + 1, `${pulls} then ${source.pulls()} pulls`);
  assert.equal(reply.error, NetworkError.OperationCanceledError, reply.errorString);
});

Deno.test("break at a layer's stale Content-Length, with the body going on, aborts it", async () => {
  const source = endless();
  await using manager = new NetworkAccessManager({
    readBufferSize: CHUNK,
    transport: () => Promise.resolve(new Response("x")),
  });
  // The length declared is that of the first chunk: the loop takes the body as whole and breaks.
  manager.use((next) => async (exchange) => {
    await (await next(exchange)).body?.cancel();
    return new Response(source.body, { headers: { "content-length": String(CHUNK) } });
  });
  const reply = manager.get("https://a.test/more");
  for await (const chunk of reply) if (chunk.byteLength === CHUNK) break;
  await pause(50);
  const pulls = source.pulls();
  await pause(50);
  assert.equal(reply.error, NetworkError.OperationCanceledError, reply.errorString);
  assert.ok(source.pulls() <= pulls + 1, `${pulls} then ${source.pulls()} pulls`);
});

Deno.test("a layer that rewrites the body and keeps the headers: its stale Content-Length is a hint", async () => {
  await using manager = new NetworkAccessManager({
    transport: () => Promise.resolve(new Response("hello", { headers: { "content-length": "5" } })),
  });
  manager.use((next) => async (exchange) => {
    const response = await next(exchange);
    const text = await response.text();
    const body = exchange.url.pathname === "/longer" ? text.toUpperCase() + "!!" : "hi";
    return new Response(body, response);
  });
  for (const [path, body] of [["/longer", "HELLO!!"], ["/shorter", "hi"]] as const) {
    const reply = manager.get(`https://a.test${path}`);
    assert.equal(await reply.text(), body);
    assert.equal(reply.error, NetworkError.NoError, reply.errorString);
    assert.deepEqual([reply.bytesReceived, reply.bytesTotal], [body.length, body.length]);
  }
});

Deno.test("file: URLs of files whose size is not their length read to their end", async (t) => {
  await using manager = new NetworkAccessManager();
  await t.step("a file of size 0 with content (/proc)", async () => {
    if (Deno.build.os !== "linux") return;
    const reply = manager.get("file:///proc/self/status");
    const text = await reply.text();
    assert.equal(reply.error, NetworkError.NoError, reply.errorString);
    assert.match(text, /^Name:/);
    assert.equal(reply.bytesTotal, reply.bytesReceived);
    const head = manager.head("file:///proc/self/status");
    await head.finished;
    assert.equal(head.headers.get("content-length"), null);
  });
  await t.step("a file appended to while it is read", async () => {
    const path = await Deno.makeTempFile();
    try {
      await Deno.writeFile(path, new Uint8Array(100_000));
      const reply = manager.get(new URL(`file://${path}`).href);
      let got = 0;
      for await (const chunk of reply) {
        if (got === 0) await Deno.writeFile(path, new Uint8Array(50_000), { append: true });
        got += chunk.byteLength;
      }
      assert.equal(reply.error, NetworkError.NoError, reply.errorString);
      assert.equal(got, 150_000);
      assert.equal(reply.bytesTotal, 150_000);
    } finally {
      await Deno.remove(path);
    }
  });
  await t.step("a regular file still tells its size before it is read", async () => {
    const path = await Deno.makeTempFile();
    try {
      await Deno.writeTextFile(path, "hello");
      const reply = manager.head(new URL(`file://${path}`).href);
      await reply.finished;
      assert.equal(reply.headers.get("content-length"), "5");
    } finally {
      await Deno.remove(path);
    }
  });
});

Deno.test("the cache does not store a transport's body that ends short of its Content-Length", async () => {
  let calls = 0;
  await using manager = new NetworkAccessManager({
    cache: new MemoryCache(),
    transport: () => {
      calls++;
      return Promise.resolve(
        new Response("hel", { headers: { "cache-control": "max-age=600", "content-length": "5" } }),
      );
    },
  });
  for (let i = 0; i < 2; i++) {
    const reply = manager.get("https://a.test/short");
    await assert.rejects(reply.text(), { code: NetworkError.RemoteHostClosedError });
    assert.equal(reply.fromCache, false);
  }
  assert.equal(calls, 2);
});
