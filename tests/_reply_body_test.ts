import assert from "node:assert/strict";
import { NetworkAccessManager, NetworkError, NetworkReplyError, NetworkRequest } from "../mod.ts";
import { readHead, serve, serveTcp } from "./_helpers/server.ts";

const KIB = 1024;
const MIB = 1024 * KIB;

/**
 * A server that sends `total` bytes in 16 KiB chunks and counts what it produced. With
 * `stallAfter`, it stops sending after that many bytes until the client goes away (or the test
 * ends), so a reply that finishes proves it did not wait for the rest.
 */
function bodyServer(total: number, withLength: boolean, stallAfter = Infinity) {
  const state = { produced: 0, cancelled: false };
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const server = serve(() => {
    let sent = 0;
    const block = new Uint8Array(16 * KIB).fill(42);
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent >= stallAfter) await released;
        if (sent >= total || state.cancelled) return controller.close();
        sent += block.byteLength;
        state.produced = sent;
        controller.enqueue(block);
      },
      cancel() {
        state.cancelled = true;
        release();
      },
    }, { highWaterMark: 0 });
    const headers: Record<string, string> = { "content-type": "application/octet-stream" };
    if (withLength) headers["content-length"] = String(total);
    return new Response(body, { headers });
  });
  return {
    state,
    url: server.url,
    [Symbol.asyncDispose]: async () => {
      release();
      await server.close();
    },
  };
}

Deno.test("maxBodySize: a 1 MiB body with a 64 KiB limit fails the reply", async (t) => {
  await t.step(
    "without Content-Length: reading stops once the body grows past the limit",
    async () => {
      await using server = bodyServer(MIB, false, 128 * KIB);
      await using manager = new NetworkAccessManager({ maxBodySize: 64 * KIB });
      const reply = manager.get(server.url);
      let errorEvent = 0;
      reply.addEventListener("error", () => errorEvent++);
      const error = await reply.bytes().catch((e) => e);
      assert.ok(error instanceof NetworkReplyError, String(error));
      assert.equal(error.code, NetworkError.ProtocolFailure);
      assert.equal(reply.error, NetworkError.ProtocolFailure);
      assert.equal(errorEvent, 1);
      assert.match(reply.errorString, /grew past the limit of 65536 bytes; reading stopped/);
      assert.match(reply.errorString, new RegExp(server.url));
      // Received: the chunk that went past the limit counts, though no reader gets it.
      assert.ok(reply.bytesReceived > 64 * KIB, `received ${reply.bytesReceived} bytes`);
      assert.ok(reply.bytesReceived <= server.state.produced, `received ${reply.bytesReceived}`);
      // The reply finished while the server still held most of the body back.
      assert.ok(server.state.produced <= 128 * KIB + 16 * KIB, `produced ${server.state.produced}`);
    },
  );

  await t.step("with Content-Length: the reply fails before the body is read", async () => {
    await using server = bodyServer(MIB, true, 0);
    await using manager = new NetworkAccessManager({ maxBodySize: 64 * KIB });
    const reply = manager.get(server.url);
    let metadata = 0;
    reply.addEventListener("metadatachanged", () => metadata++);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolFailure);
    assert.equal(reply.status, 200, "the status and headers are still known");
    assert.equal(metadata, 1);
    assert.equal(reply.bytesReceived, 0);
    assert.match(
      reply.errorString,
      /declares 1048576 bytes \(Content-Length\), over the limit of 65536 bytes; nothing was read/,
    );
    await assert.rejects(reply.bytes(), NetworkReplyError);
    assert.ok(server.state.produced <= 16 * KIB, `produced ${server.state.produced}`);
  });

  await t.step("with Content-Length sent in full: nothing is handed to the reader", async () => {
    await using server = bodyServer(MIB, true);
    await using manager = new NetworkAccessManager({ maxBodySize: 64 * KIB });
    const reply = manager.get(server.url);
    const chunks: number[] = [];
    const error = await (async () => {
      for await (const chunk of reply) chunks.push(chunk.byteLength);
    })().catch((e) => e);
    assert.ok(error instanceof NetworkReplyError);
    assert.deepEqual(chunks, []);
    assert.equal(reply.bytesReceived, 0);
  });
});

Deno.test("maxBodySize: bytesReceived counts what arrived before reading stopped", async () => {
  // One 16 KiB chunk, no Content-Length, a 1 KiB limit: the first chunk is already past it.
  await using server = bodyServer(16 * KIB, false);
  await using manager = new NetworkAccessManager({ maxBodySize: KIB });
  const reply = manager.get(server.url, { headers: { "accept-encoding": "identity" } });
  const progress: number[] = [];
  reply.addEventListener("downloadprogress", (e) => progress.push(e.loaded));
  const chunks: Uint8Array[] = [];
  const error = await (async () => {
    for await (const chunk of reply) chunks.push(chunk);
  })().catch((e) => e);
  assert.ok(error instanceof NetworkReplyError && error.code === NetworkError.ProtocolFailure);
  assert.deepEqual(chunks, [], "no reader gets bytes past the limit");
  assert.ok(reply.bytesReceived > KIB, `received ${reply.bytesReceived} bytes`);
  assert.ok(reply.bytesReceived <= 16 * KIB, `received ${reply.bytesReceived} bytes`);
  assert.equal(progress.at(-1), reply.bytesReceived);
});

Deno.test("maxBodySize: bodies up to the limit, and without a limit, are read whole", async (t) => {
  await using server = bodyServer(MIB, false);
  await t.step("off by default", async () => {
    await using manager = new NetworkAccessManager();
    assert.equal(manager.maxBodySize, 0);
    assert.equal((await manager.get(server.url).bytes()).byteLength, MIB);
  });
  await t.step("exactly at the limit", async () => {
    await using manager = new NetworkAccessManager({ maxBodySize: MIB });
    assert.equal((await manager.get(server.url).bytes()).byteLength, MIB);
  });
  await t.step("the request's limit wins over the manager's", async () => {
    await using manager = new NetworkAccessManager({ maxBodySize: 64 * KIB });
    const loose = manager.get(server.url, { maxBodySize: 0 });
    assert.equal((await loose.bytes()).byteLength, MIB);
    manager.maxBodySize = 0;
    const strict = manager.get(new NetworkRequest(server.url, { maxBodySize: MIB - 1 }));
    await strict.finished;
    assert.equal(strict.error, NetworkError.ProtocolFailure);
  });
  await t.step("a 304 is not affected by the length of what it stands for", async () => {
    // A 304 has no body; its Content-Length may tell the size of the representation.
    await using raw = serveTcp(async (conn) => {
      await readHead(conn);
      await conn.write(
        new TextEncoder().encode(
          `HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: ${MIB}\r\n\r\n`,
        ),
      );
    });
    await using manager = new NetworkAccessManager({ maxBodySize: 1 });
    const reply = manager.get(raw.url, { headers: { "if-none-match": '"v1"' } });
    await reply.finished;
    assert.equal(reply.status, 304);
    assert.equal(reply.error, NetworkError.NoError, reply.errorString);
    assert.equal((await reply.bytes()).byteLength, 0);
  });
  await t.step("HEAD replies are not affected by a declared length", async () => {
    await using sized = bodyServer(MIB, true);
    await using manager = new NetworkAccessManager({ maxBodySize: 1 });
    const reply = manager.head(sized.url);
    await reply.finished;
    assert.equal(reply.error, NetworkError.NoError);
  });
});

Deno.test("maxBodySize counts the bytes after decompression", async () => {
  const plain = new Uint8Array(256 * KIB).fill(97);
  const gzipped = new Uint8Array(
    await new Response(new Blob([plain]).stream().pipeThrough(new CompressionStream("gzip")))
      .arrayBuffer(),
  );
  await using server = serve(() =>
    new Response(gzipped, { headers: { "content-encoding": "gzip" } })
  );
  await using manager = new NetworkAccessManager({ maxBodySize: 64 * KIB });
  assert.ok(gzipped.byteLength < 64 * KIB);
  const reply = manager.get(server.url);
  await reply.finished;
  assert.equal(reply.error, NetworkError.ProtocolFailure);
  assert.match(reply.errorString, /grew past the limit/);
});

Deno.test("maxBodySize must be a non-negative integer", () => {
  assert.throws(
    () => new NetworkAccessManager({ maxBodySize: -1 }),
    /Cannot create manager: 'maxBodySize' must be a non-negative integer, got -1/,
  );
  const manager = new NetworkAccessManager();
  assert.throws(() => (manager.maxBodySize = 1.5), /'maxBodySize' must be a non-negative integer/);
  assert.throws(
    () => new NetworkRequest("https://example.com/", { maxBodySize: Number.NaN }),
    /Cannot create request: 'maxBodySize' must be a non-negative integer, got NaN/,
  );
  void manager.close();
});

Deno.test("maxBodySize does not refuse a coded body by its Content-Length", async () => {
  // Random bytes grow when compressed: the declared length is over the limit, the body is not.
  const plain = crypto.getRandomValues(new Uint8Array(995));
  const gzipped = new Uint8Array(
    await new Response(new Blob([plain]).stream().pipeThrough(new CompressionStream("gzip")))
      .arrayBuffer(),
  );
  await using server = serve(() =>
    new Response(gzipped, { headers: { "content-encoding": "gzip" } })
  );
  assert.ok(gzipped.byteLength > 1000);
  await using manager = new NetworkAccessManager({ maxBodySize: 1000 });
  for (const decompressionGuard of [undefined, -1]) {
    const reply = manager.get(server.url, { decompressionGuard });
    assert.deepEqual(await reply.bytes(), plain, reply.errorString);
    assert.equal(reply.headers.get("content-length"), String(gzipped.byteLength));
  }
  const over = manager.get(server.url, { maxBodySize: 994 });
  await over.finished;
  assert.equal(over.error, NetworkError.ProtocolFailure);
  assert.match(over.errorString, /grew past the limit of 994 bytes/);
});
