import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { NetworkAccessManager, NetworkError } from "../../mod.ts";
import { guardUnhandledRejections, serve, takeUnhandledRejections } from "../_helpers/server.ts";

guardUnhandledRejections();

/** Byte arrays one after another. */
function joined(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** A body that arrives in chunks of `size` bytes. */
function inChunks(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.byteLength) controller.close();
      else controller.enqueue(bytes.slice(at, at += size));
    },
  });
}

Deno.test("transport decodes zstd bodies and fails those that do not decode", async (t) => {
  const encoder = new TextEncoder();
  const first = encoder.encode("hello zstd ".repeat(5000));
  const second = encoder.encode("world ".repeat(5000));
  const frame = zstdCompressSync(first);
  const skippable = new Uint8Array([0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 7, 7, 7]);
  const bodies = new Map<string, [Uint8Array, string, number?]>([
    ["/one", [frame, "zstd"]],
    ["/one-in-bytes", [frame, "zstd", 1]],
    ["/two-frames", [joined(frame, zstdCompressSync(second)), "zstd"]],
    ["/skippable", [joined(skippable, frame, skippable), "zstd", 5]],
    ["/stacked", [zstdCompressSync(gzipSync(first)), "gzip, zstd"]],
    ["/cut-short", [frame.subarray(0, frame.byteLength - 1), "zstd"]],
    ["/trailing", [joined(frame, new Uint8Array([1, 2, 3])), "zstd"]],
    ["/not-zstd", [first.subarray(0, 100), "zstd"]],
    ["/bomb", [zstdCompressSync(new Uint8Array(64 * 1024 * 1024)), "zstd"]],
    ["/unknown", [first.subarray(0, 100), "foo"]],
  ]);
  await using server = serve((request) => {
    const [body, coding, chunk] = bodies.get(new URL(request.url).pathname)!;
    return new Response(chunk ? inChunks(body, chunk) : body.slice(), {
      headers: { "content-encoding": coding },
    });
  });
  await using manager = new NetworkAccessManager();
  const cases: [string, string][] = [
    ["/one", "hello zstd ".repeat(5000)],
    ["/one-in-bytes", "hello zstd ".repeat(5000)],
    ["/two-frames", "hello zstd ".repeat(5000) + "world ".repeat(5000)],
    ["/skippable", "hello zstd ".repeat(5000)],
    ["/stacked", "hello zstd ".repeat(5000)],
  ];
  for (const [path, text] of cases) {
    await t.step(`${path} decodes`, async () => {
      const reply = manager.get(`${server.url}${path}`);
      assert.equal(await reply.text(), text, reply.errorString);
      assert.equal(reply.error, NetworkError.NoError);
    });
  }
  const failures: [string, string][] = [
    ["/cut-short", "unexpected end of file"],
    ["/trailing", "data follows the end of the compressed stream"],
    ["/not-zstd", "no zstd frame opens the data"],
  ];
  for (const [path, why] of failures) {
    await t.step(`${path} fails`, async () => {
      const reply = manager.get(`${server.url}${path}`);
      await reply.finished;
      assert.equal(reply.error, NetworkError.ProtocolFailure, reply.errorString);
      assert.equal(
        reply.errorString,
        `The zstd body of ${server.url}${path} cannot be decoded (${why})`,
      );
    });
  }
  await t.step("the decompression guard stops zstd past 100:1", async () => {
    const reply = manager.get(`${server.url}/bomb`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolFailure, reply.errorString);
    assert.match(reply.errorString, /over 100:1\), a likely decompression bomb/);
  });
  await t.step("a coding the library does not know comes as received", async () => {
    const reply = manager.get(`${server.url}/unknown`);
    assert.deepEqual(await reply.bytes(), first.subarray(0, 100));
    assert.equal(reply.error, NetworkError.NoError);
    assert.equal(reply.headers.get("content-encoding"), "foo");
  });
  assert.deepEqual(takeUnhandledRejections(), []);
});
