import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { deflateRawSync, deflateSync, gzipSync, zstdCompressSync } from "node:zlib";
import { MemoryCache, NetworkAccessManager, NetworkError } from "../../mod.ts";
import { _gunzip } from "../../src/layers/_decoders.ts";
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

/** A body whose first byte comes alone, the rest a moment later. */
function firstByteAlone(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    async start(controller) {
      controller.enqueue(bytes.slice(0, 1));
      await new Promise((resolve) => setTimeout(resolve, 20));
      controller.enqueue(bytes.slice(1));
      controller.close();
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

Deno.test("transport fails a deflate body cut short, zlib or raw, and does not cache it", async (t) => {
  const plain = new TextEncoder().encode("hello deflate ".repeat(5000));
  const zlibBody = deflateSync(plain);
  const rawBody = deflateRawSync(plain);
  const bodies = new Map<string, [Uint8Array, number?, string?]>([
    ["/zlib", [zlibBody]],
    ["/raw", [rawBody]],
    ["/zlib-in-chunks", [zlibBody, 7]],
    ["/raw-in-chunks", [rawBody, 7]],
    // Raw deflate is told from zlib by two bytes: the first chunk here has one.
    ["/raw-first-byte-alone", [rawBody, 0]],
    ["/raw-in-bytes", [rawBody, 1]],
    // Each coding of a stack is zlib or raw, as it comes.
    ["/raw-in-zlib", [deflateSync(rawBody), 0, "deflate, deflate"]],
    ["/raw-in-raw", [deflateRawSync(rawBody), 0, "deflate, deflate"]],
    ["/raw-in-raw-first-byte-alone", [deflateRawSync(rawBody), 0, "deflate, deflate"]],
    ["/zlib-cut-short", [zlibBody.subarray(0, zlibBody.byteLength >> 1)]],
    ["/zlib-cut-in-chunks", [zlibBody.subarray(0, zlibBody.byteLength >> 1), 7]],
    ["/zlib-without-checksum", [zlibBody.subarray(0, zlibBody.byteLength - 4)]],
    ["/raw-cut-short", [rawBody.subarray(0, rawBody.byteLength >> 1)]],
    ["/raw-cut-to-ten-bytes", [rawBody.subarray(0, 10)]],
    // The compressed data ends with a chunk: the bytes after it come in one of their own.
    ["/zlib-trailing", [joined(zlibBody, new Uint8Array([1, 2, 3])), zlibBody.byteLength]],
  ]);
  let sent = 0;
  await using server = serve((request) => {
    sent++;
    const path = new URL(request.url).pathname;
    const [body, chunk, coding = "deflate"] = bodies.get(path)!;
    const stream = path.endsWith("-first-byte-alone")
      ? firstByteAlone(body)
      : chunk
      ? inChunks(body, chunk)
      : body.slice();
    return new Response(stream, {
      headers: { "content-encoding": coding, "cache-control": "max-age=3600" },
    });
  });
  await using manager = new NetworkAccessManager({ cache: new MemoryCache() });
  const whole = [
    "/zlib",
    "/raw",
    "/zlib-in-chunks",
    "/raw-in-chunks",
    "/raw-in-bytes",
    "/raw-in-zlib",
    "/raw-in-raw",
    "/raw-in-raw-first-byte-alone",
    "/raw-first-byte-alone",
  ];
  for (const path of whole) {
    await t.step(`${path} decodes`, async () => {
      const reply = manager.get(`${server.url}${path}`);
      assert.deepEqual(await reply.bytes(), plain, reply.errorString);
      assert.equal(reply.error, NetworkError.NoError);
    });
  }
  for (
    const path of [
      "/zlib-cut-short",
      "/zlib-cut-in-chunks",
      "/zlib-without-checksum",
      "/raw-cut-short",
      "/raw-cut-to-ten-bytes",
    ]
  ) {
    await t.step(`${path} fails and is not cached`, async () => {
      for (const _ of [1, 2]) {
        const before = sent;
        const reply = manager.get(`${server.url}${path}`);
        await reply.finished;
        assert.equal(reply.error, NetworkError.ProtocolFailure, reply.errorString);
        assert.equal(
          reply.errorString,
          `The deflate body of ${server.url}${path} cannot be decoded (unexpected end of file)`,
        );
        assert.equal(reply.fromCache, false);
        assert.equal(sent, before + 1, "asked of the server again");
      }
    });
  }
  await t.step("bytes after the end of the compressed data fail", async () => {
    const reply = manager.get(`${server.url}/zlib-trailing`);
    await reply.finished;
    assert.equal(
      reply.errorString,
      `The deflate body of ${server.url}/zlib-trailing cannot be decoded ` +
        "(data follows the end of the compressed stream)",
    );
  });
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("a body that does not decode fails when the decoder tells it, the body still open", async (t) => {
  const plain = new TextEncoder().encode("hello decoders ".repeat(500));
  const frame = zstdCompressSync(plain);
  // A zstd frame whose headers hold and whose compressed block does not.
  const corruptFrame = frame.slice();
  corruptFrame.fill(0, 9, 13);
  const trailing = new Uint8Array([9, 9, 9]);
  const cases: [string, string, Uint8Array, string][] = [
    [
      "corrupt gzip",
      "gzip",
      Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff),
      "invalid block type",
    ],
    [
      "gzip, then other bytes",
      "gzip",
      joined(gzipSync(plain), trailing),
      "data follows the end of the compressed stream",
    ],
    [
      "corrupt zlib deflate",
      "deflate",
      Uint8Array.of(0x78, 0x9c, 0xff, 0xff, 0xff, 0xff),
      "invalid block type",
    ],
    [
      "zlib deflate, then other bytes",
      "deflate",
      joined(deflateSync(plain), trailing),
      "data follows the end of the compressed stream",
    ],
    [
      "raw deflate, then other bytes",
      "deflate",
      joined(deflateRawSync(plain), trailing),
      "data follows the end of the compressed stream",
    ],
    ["corrupt zstd", "zstd", corruptFrame, "Zstd decompress error: Data corruption detected"],
  ];
  const bodies = new Map(
    cases.map(([name, coding, body]) => [`/${name}`, [coding, body] as const]),
  );
  await using server = serve((request) => {
    const [coding, body] = bodies.get(decodeURIComponent(new URL(request.url).pathname))!;
    // One chunk, and then the body stays open.
    return new Response(
      new ReadableStream({ start: (controller) => controller.enqueue(body) }),
      { headers: { "content-encoding": coding } },
    );
  });
  await using manager = new NetworkAccessManager();
  for (const [name, coding, , why] of cases) {
    await t.step(name, async () => {
      const url = `${server.url}/${encodeURIComponent(name)}`;
      const reply = manager.get(url);
      // A guard, not a measure: a decoder that waits for more bytes is stopped by it.
      const guard = setTimeout(() => reply.abort(), 5000);
      await reply.finished;
      clearTimeout(guard);
      assert.equal(reply.error, NetworkError.ProtocolFailure, reply.errorString);
      assert.equal(reply.errorString, `The ${coding} body of ${url} cannot be decoded (${why})`);
    });
  }
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("gzip's zero padding after the last member is skipped however it is chunked; other bytes fail", async (t) => {
  const member = new Uint8Array(gzipSync(new TextEncoder().encode("hello world")));
  const decode = async (chunks: Uint8Array[]) => {
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        for (const [index, chunk] of chunks.entries()) {
          // Each chunk reaches the decoder on its own, after it has ended on the one before.
          if (index > 0) await new Promise((resolve) => setTimeout(resolve, 5));
          controller.enqueue(chunk);
        }
        controller.close();
      },
    });
    return await new Response(body.pipeThrough(await _gunzip())).text();
  };
  const zeros = (n: number) => new Uint8Array(n);
  for (
    const [name, chunks] of [
      ["member, 0, 0", [member, zeros(1), zeros(1)]],
      ["member and 0, then 0", [new Uint8Array([...member, 0]), zeros(1)]],
      ["member, then four zeros a byte at a time", [member, ...[1, 2, 3, 4].map(() => zeros(1))]],
    ] as const
  ) {
    await t.step(name, async () => {
      assert.equal(await decode([...chunks]), "hello world");
    });
  }
  await t.step("member, 0, then a byte that is not padding", async () => {
    await assert.rejects(decode([member, zeros(1), new Uint8Array([1])]), {
      message: "data follows the end of the compressed stream",
    });
  });
});
