/**
 * A reply whose whole body has arrived: it finishes whatever its `readBufferSize` and reader
 * (nothing is left on the network to pause), `break` then aborts nothing, and a returned
 * iterator is done.
 */

import assert from "node:assert/strict";
import { MemoryCache, NetworkAccessManager, NetworkError, type NetworkReply } from "../mod.ts";
import { serve } from "./_helpers/server.ts";

/** Whether `reply` finishes within `ms`. */
async function finishesWithin(reply: NetworkReply, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const done = await Promise.race([reply.finished.then(() => true), late]);
  clearTimeout(timer);
  return done;
}

/** A server whose bodies send 10 bytes, then end when `release` is called. */
function stalling(headers?: HeadersInit) {
  let release = () => {};
  const server = serve(() =>
    new Response(
      new ReadableStream({
        async start(controller) {
          controller.enqueue(new Uint8Array(10));
          await new Promise<void>((resolve) => (release = resolve));
          controller.close();
        },
      }),
      { headers },
    )
  );
  return { server, release: () => release() };
}

Deno.test("a reply whose whole body of known length arrived finishes past readBufferSize", async (t) => {
  const ports: number[] = [];
  await using server = serve((request, info) => {
    ports.push(info.remoteAddr.port);
    const cached = new URL(request.url).pathname === "/cached";
    const headers = { "cache-control": cached ? "max-age=60" : "no-store" };
    return new Response(new Uint8Array(30_000).fill(1), { headers });
  });
  // Read in one operation (nothing watches it) or through a stream (a readyread listener).
  for (const watched of [false, true]) {
    await t.step(watched ? "streamed" : "read at once", async () => {
      await using manager = new NetworkAccessManager({ readBufferSize: 1000 });
      ports.length = 0;
      const reply = manager.get(`${server.url}/plain`);
      if (watched) reply.addEventListener("readyread", () => {});
      assert.ok(await finishesWithin(reply, 2000), `not finished: ${Deno.inspect(reply)}`);
      assert.equal(reply.error, NetworkError.NoError);
      assert.equal(reply.bytesReceived, 30_000);
      // Its connection serves the next request.
      assert.equal((await manager.get(`${server.url}/plain`).bytes()).byteLength, 30_000);
      assert.equal(ports.length, 2);
      assert.equal(ports[0], ports[1], "the next request opened a connection of its own");
      // The body stays buffered for a reader that comes late.
      const body = await reply.bytes();
      assert.equal(body.byteLength, 30_000);
      assert.ok(body.every((byte) => byte === 1));
    });
  }
  await t.step("stored by the cache", async () => {
    await using manager = new NetworkAccessManager({
      readBufferSize: 1000,
      cache: new MemoryCache(),
    });
    const reply = manager.get(`${server.url}/cached`);
    reply.addEventListener("readyread", () => {});
    assert.ok(await finishesWithin(reply, 2000), `not finished: ${Deno.inspect(reply)}`);
    const again = manager.get(`${server.url}/cached`);
    assert.equal((await again.bytes()).byteLength, 30_000);
    assert.equal(again.fromCache, true);
    assert.equal((await reply.bytes()).byteLength, 30_000);
  });
});

Deno.test("a body whose last byte came with its stream still open is read to its end", async () => {
  // The whole body in one chunk; the stream ends only when it is pulled again.
  let pulls = 0;
  await using manager = new NetworkAccessManager({
    readBufferSize: 1,
    transport: () => {
      const body = new ReadableStream<Uint8Array>({
        start: (controller) => controller.enqueue(new TextEncoder().encode("whole body")),
        pull: (controller) => void (pulls++, controller.close()),
      }, { highWaterMark: 0 });
      return Promise.resolve(new Response(body, { headers: { "content-length": "10" } }));
    },
  });
  const reply = manager.get("https://origin.test/");
  reply.addEventListener("readyread", () => {});
  assert.ok(await finishesWithin(reply, 1000), `not finished: ${Deno.inspect(reply)}`);
  assert.equal(reply.error, NetworkError.NoError);
  assert.equal(pulls, 1);
  assert.equal(await reply.text(), "whole body");
});

Deno.test("break once the whole body arrived finishes the reply without error", async (t) => {
  await using server = serve(() => new Response(new Uint8Array(200_000)));
  await using manager = new NetworkAccessManager();
  await t.step("on its last chunk", async () => {
    const reply = manager.get(`${server.url}/`);
    let size = 0;
    for await (const chunk of reply) {
      size += chunk.byteLength;
      if (size >= 200_000) break;
    }
    await reply.finished;
    assert.equal(reply.error, NetworkError.NoError, reply.errorString);
    assert.equal(reply.bytesReceived, 200_000);
  });
  await t.step("before the body is complete, it aborts", async () => {
    const { server: open, release } = stalling({ "content-length": "20" });
    await using _ = open;
    const reply = manager.get(`${open.url}/`);
    for await (const _ of reply) break;
    assert.equal(reply.error, NetworkError.OperationCanceledError);
    release();
  });
});

Deno.test("a returned iterator of a reply is done", async () => {
  const { server, release } = stalling();
  await using _ = server;
  await using manager = new NetworkAccessManager();
  const reply = manager.get(`${server.url}/`);
  const iterator = reply[Symbol.asyncIterator]();
  assert.equal((await iterator.next()).value?.byteLength, 10);
  assert.deepEqual(await iterator.return!(), { value: undefined, done: true });
  assert.equal(reply.error, NetworkError.OperationCanceledError);
  assert.deepEqual(await iterator.next(), { value: undefined, done: true });
  assert.deepEqual(await iterator.next(), { value: undefined, done: true });
  release();
});
