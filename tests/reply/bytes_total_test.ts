import assert from "node:assert/strict";
import { NetworkAccessManager, NetworkError } from "../../mod.ts";
import {
  guardUnhandledRejections,
  readHead,
  serve,
  serveTcp,
  takeUnhandledRejections,
} from "../_helpers/server.ts";

guardUnhandledRejections();

Deno.test("bytesTotal of a body of unknown size is its size once it ended whole", async (t) => {
  await using server = serve(() =>
    new Response(
      new ReadableStream({
        start(controller) {
          for (let i = 0; i < 10; i++) controller.enqueue(new Uint8Array(5000));
          controller.close();
        },
      }),
    )
  );
  await using manager = new NetworkAccessManager();
  await t.step("read by bytes()", async () => {
    const reply = manager.get(server.url);
    let atMetadata: number | undefined;
    reply.addEventListener("metadatachanged", () => atMetadata = reply.bytesTotal);
    assert.equal((await reply.bytes()).byteLength, 50_000);
    assert.equal(atMetadata, -1);
    assert.equal(reply.bytesTotal, 50_000);
  });
  await t.step("read by an iterator, with progress events", async () => {
    const reply = manager.get(server.url);
    const progress: [number, number][] = [];
    reply.addEventListener("downloadprogress", (e) => progress.push([e.loaded, e.total]));
    for await (const _ of reply);
    await reply.finished;
    assert.deepEqual(progress.at(-1), [50_000, 50_000]);
    assert.equal(reply.bytesTotal, 50_000);
  });
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("bytesTotal of a body cut short stays unknown", async () => {
  await using server = serveTcp(async (conn) => {
    await readHead(conn);
    await conn.write(new TextEncoder().encode(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n",
    ));
  });
  await using manager = new NetworkAccessManager();
  const reply = manager.get(server.url);
  await reply.finished;
  assert.notEqual(reply.error, NetworkError.NoError);
  assert.equal(reply.bytesTotal, -1);
  assert.deepEqual(takeUnhandledRejections(), []);
});
