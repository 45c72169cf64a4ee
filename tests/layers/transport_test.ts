import assert from "node:assert/strict";
import { MemoryCache, NetworkAccessManager, NetworkError } from "../../mod.ts";
import { _contentTypeFor } from "../../src/layers/_file.ts";
import {
  guardUnhandledRejections,
  readHead,
  serve,
  serveTcp,
  takeUnhandledRejections,
} from "../_helpers/server.ts";

guardUnhandledRejections();

Deno.test("transport reads file: URLs with GET and HEAD", async (t) => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/hello world.json`;
  await Deno.writeTextFile(path, '{"hello":"file"}');
  const url = new URL(`file://${path}`);
  await using manager = new NetworkAccessManager();
  try {
    await t.step("GET streams the file with length and type", async () => {
      const reply = manager.get(url);
      assert.deepEqual(await reply.json(), { hello: "file" });
      assert.equal(reply.status, 200);
      assert.equal(reply.headers.get("content-length"), "16");
      assert.equal(reply.headers.get("content-type"), "application/json");
      assert.ok(reply.headers.get("last-modified"));
      assert.equal(reply.bytesTotal, 16);
      assert.equal(reply.error, NetworkError.NoError);
    });
    await t.step("an extension it does not know, whatever its name, is octet-stream", async () => {
      for (const name of ["data.unknown", "data.constructor", "data.__proto__"]) {
        await Deno.writeTextFile(`${dir}/${name}`, "x");
        const reply = manager.get(new URL(`file://${dir}/${name}`));
        assert.equal(await reply.text(), "x");
        assert.equal(reply.headers.get("content-type"), "application/octet-stream", name);
      }
    });
    await t.step("HEAD has the metadata and no body", async () => {
      const reply = manager.head(url);
      assert.equal((await reply.bytes()).byteLength, 0);
      assert.equal(reply.headers.get("content-length"), "16");
    });
    await t.step("a missing file is ContentNotFoundError", async () => {
      const reply = manager.get(new URL(`file://${dir}/missing.txt`));
      await reply.finished;
      assert.equal(reply.error, NetworkError.ContentNotFoundError);
      assert.match(reply.errorString, /missing\.txt does not exist/);
    });
    await t.step("a directory is ContentOperationNotPermittedError", async () => {
      const reply = manager.get(new URL(`file://${dir}`));
      await reply.finished;
      assert.equal(reply.error, NetworkError.ContentOperationNotPermittedError);
    });
    await t.step("an encoded / (and on Windows \\) in the path is refused, naming it", async () => {
      await Deno.mkdir(`${dir}/sub`);
      await Deno.writeTextFile(`${dir}/secret.txt`, "secret");
      for (
        const [name, encoded, shown] of [
          ["sub%2F..%2Fsecret.txt", "%2F", '"/"'],
          ["sub%2f..%2fsecret.txt", "%2f", '"/"'],
          ...Deno.build.os === "windows" ? [["sub%5C..%5Csecret.txt", "%5C", '"\\"']] : [],
        ]
      ) {
        const target = new URL(`file://${dir}/${name}`);
        assert.ok(target.pathname.startsWith(`${dir}/sub`), "the path shows no way out of sub/");
        const reply = manager.get(target);
        await reply.finished;
        assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError, reply.errorString);
        assert.equal(
          reply.errorString,
          `Invalid file URL ${target.href}: its path holds ${encoded}, an encoded ${shown}, ` +
            "which a file: URL may not (Node's fileURLToPath refuses it too): decoded, it would " +
            "separate directories where the URL's path shows none",
        );
      }
      if (Deno.build.os !== "windows") {
        // A backslash is a character of a name here, not a separator: its file is opened.
        await Deno.writeTextFile(`${dir}/a\\b.txt`, "backslash");
        assert.equal(await manager.get(new URL(`file://${dir}/a%5Cb.txt`)).text(), "backslash");
      }
      // An encoded % before 2F is no separator.
      await Deno.writeTextFile(`${dir}/a%2Fb.txt`, "percent");
      assert.equal(await manager.get(new URL(`file://${dir}/a%252Fb.txt`)).text(), "percent");
    });
    await t.step("POST to a file is ProtocolInvalidOperationError", async () => {
      const reply = manager.post(url, "x");
      await reply.finished;
      assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError);
      assert.match(reply.errorString, /file: URLs support GET and HEAD only/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test({
  name: "a file: URL without read permission fails with a message naming --allow-read",
  permissions: { read: false },
  async fn() {
    await using manager = new NetworkAccessManager();
    const reply = manager.get("file:///etc/hostname");
    await reply.finished;
    assert.equal(reply.error, NetworkError.UnknownNetworkError, reply.errorString);
    assert.match(
      reply.errorString,
      /read permission is not granted \(grant it with --allow-read=\/etc\/hostname\)/,
    );
  },
});

Deno.test("transport answers data: URLs", async (t) => {
  await using manager = new NetworkAccessManager();
  await t.step("text with a charset", async () => {
    const reply = manager.get("data:text/plain;charset=utf-8,h%C3%A9llo");
    assert.equal(await reply.text(), "héllo");
    assert.equal(reply.headers.get("content-type"), "text/plain;charset=utf-8");
    assert.equal(reply.fromCache, false);
  });
  await t.step("base64 bytes", async () => {
    const reply = manager.get("data:application/octet-stream;base64,AAEC");
    assert.deepEqual(await reply.bytes(), new Uint8Array([0, 1, 2]));
  });
  await t.step("HEAD has no body", async () => {
    const reply = manager.head("data:,abc");
    assert.equal((await reply.bytes()).byteLength, 0);
    assert.equal(reply.headers.get("content-length"), "3");
    assert.equal(reply.bytesTotal, 0);
  });
  await t.step("bytesTotal is the decoded length, known with the metadata", async () => {
    for (
      const [url, length] of [["data:application/octet-stream;base64,AAECAw==", 4], [
        "data:text/plain;charset=utf-8,h%C3%A9llo",
        6,
      ], ["data:,", 0]] as const
    ) {
      const reply = manager.get(url);
      const atMetadata: number[] = [];
      reply.addEventListener("metadatachanged", () => atMetadata.push(reply.bytesTotal));
      const progress: [number, number][] = [];
      reply.addEventListener("downloadprogress", (e) => progress.push([e.loaded, e.total]));
      assert.equal((await reply.bytes()).byteLength, length);
      assert.deepEqual(atMetadata, [length], url);
      assert.equal(reply.bytesTotal, length);
      assert.equal(reply.headers.get("content-length"), String(length));
      assert.deepEqual(progress.at(-1), [length, length]);
    }
  });
  await t.step("PUT is ProtocolInvalidOperationError", async () => {
    const reply = manager.put("data:,abc", "x");
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError);
  });
  await t.step("a GET with a body is refused with a message", async () => {
    const reply = manager.sendCustomRequest("http://127.0.0.1:9/", "GET", "body");
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError);
    assert.match(reply.errorString, /GET request cannot have a body/);
  });
});

Deno.test("_contentTypeFor maps extensions and falls back to octet-stream", () => {
  assert.equal(_contentTypeFor("/a/b.HTML"), "text/html;charset=UTF-8");
  assert.equal(_contentTypeFor("/a/b.png"), "image/png");
  assert.equal(_contentTypeFor("/a.dir/noext"), "application/octet-stream");
  assert.equal(_contentTypeFor("/a/b.unknownext"), "application/octet-stream");
});

Deno.test("transport fails methods fetch cannot send and over-long URLs with their own code", async (t) => {
  const seen: string[] = [];
  await using server = serve((request) => {
    seen.push(request.method);
    return new Response("ok");
  });
  await using manager = new NetworkAccessManager();
  for (const method of ["CONNECT", "TRACE", "track"]) {
    await t.step(method, async () => {
      const reply = manager.sendCustomRequest(`${server.url}/`, method);
      await reply.finished;
      assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError);
      assert.match(reply.errorString, new RegExp(`Cannot send a ${method} request`));
    });
  }
  await t.step("a 100 KiB URL", async () => {
    const reply = manager.get(`${server.url}/${"a".repeat(100 * 1024)}`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError);
    assert.match(reply.errorString, /the URL is 10\d{4} characters long, over the 65533/);
  });
  await t.step("the longest URL that can be sent is sent", async () => {
    await using raw = serveTcp(async (conn) => {
      await readHead(conn);
      await conn.write(new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    });
    const base = `http://127.0.0.1:${raw.port}/`;
    const reply = manager.get(base + "b".repeat(65_533 - base.length));
    assert.equal(await reply.text(), "ok");
    const over = manager.get(base + "b".repeat(65_534 - base.length));
    await over.finished;
    assert.equal(over.error, NetworkError.ProtocolInvalidOperationError);
  });
  assert.ok(seen.every((method) => method === "GET"));
});

Deno.test("transport asks for identity coding without changing the exchange's headers", async (t) => {
  const sent: { encoding: string | null; type: string | null }[] = [];
  await using server = serve((request) => {
    sent.push({
      encoding: request.headers.get("accept-encoding"),
      type: request.headers.get("content-type"),
    });
    return new Response("ok");
  });
  await using manager = new NetworkAccessManager();
  const after: (string | null)[] = [];
  const given: Headers[] = [];
  manager.use((next) => async (exchange) => {
    given.push(exchange.headers);
    const response = await next(exchange);
    after.push(exchange.headers.get("accept-encoding"));
    return response;
  }, "network");
  await t.step("a GET sends identity; the layers above never see it", async () => {
    assert.equal(await manager.get(server.url).text(), "ok");
    assert.deepEqual(sent.at(-1), { encoding: "identity", type: null });
    assert.deepEqual(after.at(-1), null);
    assert.deepEqual([...given.at(-1)!.keys()], []);
  });
  await t.step("a body with its own content type sends both", async () => {
    assert.equal(await manager.post(server.url, "text").text(), "ok");
    assert.deepEqual(sent.at(-1), { encoding: "identity", type: "text/plain;charset=UTF-8" });
    assert.deepEqual(after.at(-1), null);
  });
  await t.step("headers that cannot be changed are sent as a copy", async () => {
    const fetched = await fetch("data:,x");
    await fetched.body?.cancel();
    const frozen = fetched.headers;
    manager.use((next) => (exchange) => {
      exchange.headers = frozen;
      return next(exchange);
    }, "network");
    assert.equal(await manager.get(server.url).text(), "ok");
    assert.equal(sent.at(-1)!.encoding, "identity");
    assert.equal(frozen.get("accept-encoding"), null);
  });
});

Deno.test("transport gives fetch a header record of each request's own", async () => {
  // A stubbed fetch that writes to the record it is given: neither fails, nor leaks the write
  // into the next request.
  const seen: string[][] = [];
  const real = globalThis.fetch;
  globalThis.fetch = ((_input: unknown, init?: RequestInit) => {
    const record = init!.headers as Record<string, string>;
    seen.push(Object.keys(record));
    record["x-written"] = "by the stub";
    return Promise.resolve(new Response("ok"));
  }) as typeof fetch;
  try {
    await using manager = new NetworkAccessManager();
    await using lean = new NetworkAccessManager({ decompressionGuard: -1 });
    assert.equal(await manager.get("http://127.0.0.1:9/a").text(), "ok");
    assert.equal(await manager.get("http://127.0.0.1:9/b").text(), "ok");
    assert.equal(await lean.get("http://127.0.0.1:9/c").text(), "ok");
    assert.equal(await lean.get("http://127.0.0.1:9/d").text(), "ok");
  } finally {
    globalThis.fetch = real;
  }
  assert.deepEqual(seen, [["accept-encoding"], ["accept-encoding"], [], []]);
});

Deno.test("transport sends every request header as given, repeated and unusual names too", async () => {
  let received: [string, string][] = [];
  await using server = serve((request) => {
    const ours = ["x-one", "__proto__", "constructor", "set-cookie", "accept-encoding"];
    received = [...request.headers].filter(([name]) => ours.includes(name));
    return new Response("ok");
  });
  await using manager = new NetworkAccessManager({ decompressionGuard: -1 });
  const headers = new Headers([["x-one", "1"], ["__proto__", "p"], ["constructor", "c"]]);
  headers.append("set-cookie", "a=1");
  headers.append("set-cookie", "b=2");
  headers.set("accept-encoding", "gzip");
  assert.equal(await manager.get(server.url, { headers }).text(), "ok");
  assert.deepEqual(
    received.sort(),
    [
      ["__proto__", "p"],
      ["accept-encoding", "gzip"],
      ["constructor", "c"],
      ["set-cookie", "a=1"],
      ["set-cookie", "b=2"],
      ["x-one", "1"],
    ].sort(),
  );
});

Deno.test("transport ignores a Content-Length sent beside Transfer-Encoding: chunked", async (t) => {
  // RFC 9112 section 6.3: Transfer-Encoding overrides Content-Length, which is removed before
  // the response goes on. The declared lengths are false: longer and shorter than the body.
  const body = "twenty-eight bytes, chunked.";
  await using server = serveTcp(async (conn) => {
    const head = await readHead(conn);
    const declared = head.startsWith("GET /short") ? 5 : 5000;
    await conn.write(new TextEncoder().encode(
      "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n" +
        `Content-Length: ${declared}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
        `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    ));
  });
  for (const path of ["/long", "/short"]) {
    await t.step(
      `a false length (${path}): unknown, the body read to its chunked end`,
      async () => {
        await using manager = new NetworkAccessManager();
        const reply = manager.get(`${server.url}${path}`);
        const progress: [number, number][] = [];
        let totalAtMetadata: number | undefined;
        reply.addEventListener("metadatachanged", () => totalAtMetadata = reply.bytesTotal);
        reply.addEventListener("downloadprogress", (e) => progress.push([e.loaded, e.total]));
        assert.equal(await reply.text(), body);
        assert.equal(reply.error, NetworkError.NoError, reply.errorString);
        assert.equal(totalAtMetadata, -1);
        assert.equal(reply.headers.get("content-length"), null);
        assert.equal(reply.headers.get("transfer-encoding"), "chunked");
        assert.deepEqual(progress.at(-1), [28, 28]);
        assert.equal(reply.bytesTotal, 28); // known once the body ended, as the last event says
        assert.ok(progress.every(([, total]) => total === -1 || total === 28), String(progress));
      },
    );
  }
  await t.step("maxBodySize does not refuse the body for its false length", async () => {
    await using manager = new NetworkAccessManager({ maxBodySize: 1000 });
    const reply = manager.get(`${server.url}/long`);
    assert.equal(await reply.text(), body, reply.errorString);
  });
  await t.step("the cache stores no false length", async () => {
    const cache = new MemoryCache();
    await using manager = new NetworkAccessManager({ cache });
    assert.equal(await manager.get(`${server.url}/long`).text(), body);
    const hit = manager.get(`${server.url}/long`);
    assert.equal(await hit.text(), body);
    assert.equal(hit.fromCache, true);
    assert.notEqual(hit.headers.get("content-length"), "5000");
    assert.ok(hit.bytesTotal === -1 || hit.bytesTotal === 28, String(hit.bytesTotal));
    const stored = await cache.metaData(new URL(`${server.url}/long`));
    assert.equal(
      stored?.headers.find(([name]) => name.toLowerCase() === "content-length")?.[1],
      undefined,
    );
  });
  assert.deepEqual(takeUnhandledRejections(), []);
});

/** `bytes` compressed whole in `format`. */
async function compressed(
  bytes: Uint8Array<ArrayBuffer>,
  format: CompressionFormat,
): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream(format));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Several byte arrays, one after another. */
async function joined(...parts: Uint8Array<ArrayBuffer>[]): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await new Blob(parts).arrayBuffer());
}

Deno.test("transport decodes every member of a gzip body", async (t) => {
  const encoder = new TextEncoder();
  const first = encoder.encode("hello ".repeat(5000));
  const second = encoder.encode("world ".repeat(5000));
  const members = await joined(await compressed(first, "gzip"), await compressed(second, "gzip"));
  const bodies = new Map<string, [Uint8Array<ArrayBuffer>, string]>([
    ["/two", [members, "gzip"]],
    ["/three-x-gzip", [await joined(members, await compressed(first, "gzip")), "x-gzip"]],
    ["/padded", [await joined(members, new Uint8Array(8)), "gzip"]],
    ["/stacked", [await compressed(members, "brotli"), "gzip, br"]],
    ["/bomb", [
      await joined(
        await compressed(first, "gzip"),
        await compressed(new Uint8Array(64 * 1024 * 1024), "gzip"),
      ),
      "gzip",
    ]],
  ]);
  await using server = serve((request) => {
    const path = new URL(request.url).pathname;
    const [body, coding] = bodies.get(path.replace("-chunked", ""))!;
    return new Response(path.endsWith("-chunked") ? new Blob([body]).stream() : body, {
      headers: { "content-encoding": coding },
    });
  });
  await using manager = new NetworkAccessManager();
  const text = "hello ".repeat(5000) + "world ".repeat(5000);
  for (const path of ["/two", "/two-chunked", "/stacked"]) {
    await t.step(`${path}: the members one after another`, async () => {
      const reply = manager.get(`${server.url}${path}`);
      assert.equal(await reply.text(), text, reply.errorString);
      assert.equal(reply.error, NetworkError.NoError);
    });
  }
  await t.step("the decoded chunks are plain Uint8Arrays", async () => {
    for await (const chunk of manager.get(`${server.url}/two`)) {
      assert.equal(Object.getPrototypeOf(chunk), Uint8Array.prototype);
    }
  });
  await t.step("three members under x-gzip", async () => {
    const reply = manager.get(`${server.url}/three-x-gzip`);
    assert.equal(await reply.text(), text + "hello ".repeat(5000), reply.errorString);
  });
  await t.step("zero bytes after the last member are padding", async () => {
    const reply = manager.get(`${server.url}/padded`);
    assert.equal(await reply.text(), text, reply.errorString);
  });
  await t.step("the decompression guard weighs the members after the first too", async () => {
    const reply = manager.get(`${server.url}/bomb`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolFailure, reply.errorString);
    assert.match(reply.errorString, /decompression bomb/);
    assert.ok(reply.bytesReceived < 12 * 1024 * 1024, `${reply.bytesReceived} bytes decoded`);
  });
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("transport tells of bytes after the end of a compressed body", async () => {
  const plain = new TextEncoder().encode("hello world ".repeat(100));
  const bodies = new Map<string, Uint8Array<ArrayBuffer>>();
  const formats = [["gzip", "gzip"], ["deflate", "deflate"], ["br", "brotli"]] as const;
  for (const [coding, format] of formats) {
    bodies.set(coding, await joined(await compressed(plain, format), new Uint8Array([1, 2, 3])));
  }
  await using server = serve((request) => {
    const coding = new URL(request.url).pathname.slice(1);
    return new Response(bodies.get(coding), { headers: { "content-encoding": coding } });
  });
  await using manager = new NetworkAccessManager();
  for (const coding of bodies.keys()) {
    const reply = manager.get(`${server.url}/${coding}`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolFailure, reply.errorString);
    assert.equal(
      reply.errorString,
      `The ${coding} body of ${server.url}/${coding} cannot be decoded ` +
        "(data follows the end of the compressed stream)",
    );
  }
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("transport tells in words why a data: URL is invalid", async () => {
  await using manager = new NetworkAccessManager();
  const base64 = "Invalid data: URL: its data is not valid base64";
  for (
    const [url, message] of [
      [
        "data:text/plain;base64,!!!",
        `${base64} ("!" at character 0 of the data is not in its alphabet)`,
      ],
      ["data:;base64,ab%21c", `${base64} ("!" at character 2 of the data is not in its alphabet)`],
      [
        "data:;base64,aGVsbG8=\u00e9",
        `${base64} (byte 0xC3 at character 8 of the data is not in its alphabet)`,
      ],
      ["data:;base64,a", `${base64} (its length leaves one character over, which encodes no byte)`],
      ["data:;base64,ab=c", `${base64} (a character follows its "=" padding)`],
      ["data:;base64,aGVsbG8==", `${base64} (its "=" padding is not where base64 allows it)`],
      [
        "data:text/plain",
        "Invalid data: URL: it has no comma before its data (data:[<media type>][;base64],<data>)",
      ],
    ] as const
  ) {
    const reply = manager.get(url);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolUnknownError, url);
    assert.equal(reply.errorString, message);
  }
});
