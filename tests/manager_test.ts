import assert from "node:assert/strict";
import {
  KvCache,
  MemoryCookieJar,
  MemoryHstsStore,
  NetworkAccessManager,
  NetworkError,
  type NetworkReply,
  type NetworkReplyEvent,
  NetworkRequest,
} from "../mod.ts";
import { createMockManager } from "../testing.ts";
import { guardUnhandledRejections, serve, takeUnhandledRejections } from "./_helpers/server.ts";

guardUnhandledRejections();

function echoServer() {
  return serve(async (request) => {
    const body = new Uint8Array(await request.arrayBuffer());
    return Response.json({
      method: request.method,
      url: request.url,
      contentType: request.headers.get("content-type"),
      contentLength: request.headers.get("content-length"),
      transferEncoding: request.headers.get("transfer-encoding"),
      custom: request.headers.get("x-custom"),
      authorization: request.headers.get("authorization"),
      body: new TextDecoder().decode(body),
      size: body.byteLength,
    });
  });
}

Deno.test("NetworkAccessManager sends each operation with its method", async (t) => {
  await using server = await echoServer();
  await using manager = new NetworkAccessManager();
  const cases: [string, () => NetworkReply, string][] = [
    ["get", () => manager.get(`${server.url}/a`), "GET"],
    ["head", () => manager.head(`${server.url}/a`), "HEAD"],
    ["post", () => manager.post(`${server.url}/a`, "x"), "POST"],
    ["put", () => manager.put(`${server.url}/a`, "x"), "PUT"],
    ["deleteResource", () => manager.deleteResource(`${server.url}/a`), "DELETE"],
    [
      "sendCustomRequest",
      () => manager.sendCustomRequest(`${server.url}/a`, "PATCH", "x"),
      "PATCH",
    ],
  ];
  for (const [name, send, method] of cases) {
    await t.step(name, async () => {
      const reply = send();
      assert.equal(reply.method, method);
      if (method === "HEAD") {
        assert.equal((await reply.bytes()).byteLength, 0);
        assert.equal(reply.status, 200);
      } else {
        const echoed = await reply.json() as { method: string };
        assert.equal(echoed.method, method);
      }
      assert.equal(reply.error, NetworkError.NoError);
      assert.equal(reply.isFinished, true);
    });
  }
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("NetworkAccessManager sends every body type", async (t) => {
  await using server = await echoServer();
  await using manager = new NetworkAccessManager();
  const form = new FormData();
  form.set("field", "value");
  form.set("file", new Blob(["file body"], { type: "text/plain" }), "a.txt");
  const cases: [string, unknown, (echo: Record<string, unknown>) => void][] = [
    ["string", "héllo", (e) => {
      assert.equal(e.body, "héllo");
      assert.equal(e.contentType, "text/plain;charset=UTF-8");
      assert.equal(e.contentLength, "6");
    }],
    ["Uint8Array", new TextEncoder().encode("bytes"), (e) => assert.equal(e.body, "bytes")],
    [
      "ArrayBuffer",
      new TextEncoder().encode("buffer").buffer,
      (e) => assert.equal(e.body, "buffer"),
    ],
    ["Blob", new Blob(["blob"], { type: "text/x-blob" }), (e) => {
      assert.equal(e.body, "blob");
      assert.equal(e.contentType, "text/x-blob");
    }],
    ["FormData", form, (e) => {
      assert.match(String(e.contentType), /^multipart\/form-data; boundary=/);
      assert.match(String(e.body), /name="field"\r\n\r\nvalue/);
      assert.match(String(e.body), /filename="a.txt"[\s\S]*file body/);
    }],
    ["URLSearchParams", new URLSearchParams({ a: "1", b: "x y" }), (e) => {
      assert.equal(e.body, "a=1&b=x+y");
      assert.equal(e.contentType, "application/x-www-form-urlencoded;charset=UTF-8");
    }],
    [
      "ReadableStream",
      ReadableStream.from([new Uint8Array([65, 66]), new Uint8Array([67])]),
      (e) => {
        assert.equal(e.body, "ABC");
        assert.equal(e.transferEncoding, "chunked");
      },
    ],
    [
      "AsyncIterable",
      (async function* () {
        yield new TextEncoder().encode("it");
        yield new TextEncoder().encode("er");
      })(),
      (e) => assert.equal(e.body, "iter"),
    ],
    ["JSON object", { a: [1, 2] }, (e) => {
      assert.equal(e.body, '{"a":[1,2]}');
      assert.equal(e.contentType, "application/json");
    }],
  ];
  for (const [name, body, check] of cases) {
    await t.step(name, async () => {
      const reply = manager.post(`${server.url}/body`, body as string);
      const echo = await reply.json() as Record<string, unknown>;
      assert.equal(reply.error, NetworkError.NoError, reply.errorString);
      check(echo);
    });
  }
  await t.step("a user Content-Type wins over the body's", async () => {
    const reply = manager.post(`${server.url}/body`, { a: 1 }, {
      headers: { "content-type": "application/vnd.x+json" },
    });
    assert.equal(
      (await reply.json() as Record<string, unknown>).contentType,
      "application/vnd.x+json",
    );
  });
});

Deno.test("NetworkAccessManager streams a request body without buffering it", async () => {
  let pulled = 0;
  let serverSawFirstChunkBeforeLastPull = false;
  const firstChunk = Promise.withResolvers<void>();
  await using server = serve(async (request) => {
    const reader = request.body!.getReader();
    let size = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (size === 0) firstChunk.resolve();
      size += value.byteLength;
    }
    return new Response(String(size));
  });
  await using manager = new NetworkAccessManager();
  const chunks = 8;
  const body = (async function* () {
    for (let i = 0; i < chunks; i++) {
      if (i === chunks - 1) {
        await firstChunk.promise;
        serverSawFirstChunkBeforeLastPull = pulled > 0;
      }
      pulled++;
      yield new Uint8Array(64 * 1024);
    }
  })();
  const reply = manager.post(`${server.url}/upload`, body);
  assert.equal(await reply.text(), String(chunks * 64 * 1024));
  assert.equal(serverSawFirstChunkBeforeLastPull, true);
});

Deno.test("NetworkAccessManager reports bad URLs, headers, methods and bodies on the reply", async (t) => {
  await using manager = new NetworkAccessManager();
  await t.step("invalid URL", async () => {
    const reply = manager.get("http://[::1");
    assert.equal(reply.isFinished, false);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolUnknownError);
    assert.match(reply.errorString, /invalid URL "http:\/\/\[::1"/);
    await assert.rejects(reply.text(), { name: "NetworkReplyError", code: 301 });
    // A long one is cut, as messages show every string.
    const long = manager.get(`http://[${"a".repeat(70)}`);
    await long.finished;
    assert.equal(
      long.errorString,
      `Cannot create request: invalid URL "http://[${"a".repeat(49)}..."`,
    );
  });
  await t.step("relative URL, named with a hint", async () => {
    const reply = manager.get("/relative");
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolUnknownError);
    assert.equal(
      reply.errorString,
      'Cannot create request: invalid URL "/relative": it is relative, and a request needs an ' +
        'absolute URL such as "https://example.com/relative" (a NetworkRequestFactory joins ' +
        "paths to a base URL)",
    );
  });
  await t.step("a URL without a scheme, named with a hint", async () => {
    for (
      const [url, hint] of [
        ["example.com", '"https://example.com"'],
        ["api.example.com/v1?x=1", '"https://api.example.com/v1?x=1"'],
        ["127.0.0.1:8000/x", '"https://127.0.0.1:8000/x"'],
      ]
    ) {
      const reply = manager.get(url!);
      await reply.finished;
      assert.equal(reply.error, NetworkError.ProtocolUnknownError);
      assert.equal(
        reply.errorString,
        `Cannot create request: invalid URL "${url}": it has no scheme; did you mean ${hint}?`,
      );
    }
    // "localhost:8000" parses, as a URL of the scheme "localhost".
    const reply = manager.get("localhost:8000/x");
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolUnknownError);
    assert.match(reply.errorString, /; did you mean "http:\/\/localhost:8000\/x"\?$/);
  });
  await t.step("an empty URL and an IPv6 zone ID, named with the reason", async () => {
    for (
      const [url, why] of [
        ["", "it is empty"],
        [" \t", "it is whitespace alone"],
        [
          "http://[fe80::1%25eth0]/",
          'its IPv6 address has a zone ID ("%25eth0"), which URLs (the WHATWG URL standard, ' +
          "and so fetch) do not allow",
        ],
        [
          "https://[fe80::1%eth0]:8080/x",
          'its IPv6 address has a zone ID ("%eth0"), which URLs (the WHATWG URL standard, ' +
          "and so fetch) do not allow",
        ],
      ]
    ) {
      const reply = manager.get(url!);
      await reply.finished;
      assert.equal(reply.error, NetworkError.ProtocolUnknownError);
      assert.equal(
        reply.errorString,
        `Cannot create request: invalid URL ${JSON.stringify(url)}: ${why}`,
      );
    }
  });
  await t.step("unknown scheme", async () => {
    const reply = manager.get("gopher://example.invalid/");
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolUnknownError);
    assert.match(reply.errorString, /Protocol "gopher" is unknown/);
  });
  await t.step("invalid header name", async () => {
    const reply = manager.get("http://127.0.0.1:9/", { headers: { "bad header": "x" } });
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError);
    assert.match(reply.errorString, /invalid header/);
  });
  await t.step("invalid header value", async () => {
    const reply = manager.get("http://127.0.0.1:9/", { headers: { "x-a": "line\nbreak" } });
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError);
  });
  await t.step("a header value beyond Latin-1, named with a hint", async () => {
    for (const headers of [{ "x-note": "café €" }, [["x-note", "café €"]]] as HeadersInit[]) {
      const reply = manager.get("http://127.0.0.1:9/", { headers });
      await reply.finished;
      assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError);
      assert.equal(
        reply.errorString,
        `Cannot create request: invalid header "x-note": its name and value must be Latin-1 ` +
          `(ByteStrings, no character above U+00FF), got the value "café €"; encode the text ` +
          "first, e.g. with encodeURIComponent",
      );
    }
  });
  await t.step(
    "a header name beyond Latin-1 is named as the name, not blamed on the value",
    async () => {
      const reply = manager.get("http://127.0.0.1:9/", { headers: { "X€": "v" } });
      await reply.finished;
      assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError);
      assert.equal(
        reply.errorString,
        `Cannot create request: invalid header name "X€": a name must be Latin-1 (a ByteString, no ` +
          "character above U+00FF), and a token (RFC 9110: letters, digits and !#$%&'*+-.^_`|~)",
      );
    },
  );
  await t.step("init that is not an object", async () => {
    const request = new NetworkRequest("http://127.0.0.1:9/");
    for (
      const [input, init, got] of [
        ["http://127.0.0.1:9/", 5, "5"],
        ["http://127.0.0.1:9/", null, "null"],
        [request, 5, "5"],
        [request, "fast", '"fast"'],
      ] as const
    ) {
      const reply = manager.get(input, init as never);
      await reply.finished;
      assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError);
      assert.equal(
        reply.errorString,
        `Cannot create request: 'init' must be an object, got ${got}`,
      );
    }
  });
  await t.step("invalid method", async () => {
    const reply = manager.sendCustomRequest("http://127.0.0.1:9/", "BAD VERB");
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError);
    assert.match(reply.errorString, /method must be an HTTP token, got "BAD VERB"/);
    // A long one is cut, as messages show every string.
    const long = manager.sendCustomRequest("http://127.0.0.1:9/", `BAD ${"X".repeat(80)}`);
    await long.finished;
    assert.match(long.errorString, /method must be an HTTP token, got "BAD X{53}\.\.\."$/);
    // A verb that is no string is shown as given, not as the empty method the reply carries.
    for (const [verb, shown] of [[5, "5"], [null, "null"], [undefined, "undefined"]] as const) {
      const reply = manager.sendCustomRequest("http://127.0.0.1:9/", verb as never);
      await reply.finished;
      assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError);
      assert.equal(
        reply.errorString,
        `Invalid request: the method must be an HTTP token, got ${shown}`,
      );
    }
  });
  await t.step("invalid attribute", async () => {
    const reply = manager.get("http://127.0.0.1:9/", { priority: "urgent" as "high" });
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError);
    assert.match(
      reply.errorString,
      /'priority' must be one of "high", "normal", "low", got "urgent"/,
    );
  });
  await t.step("a request attribute broken after construction", async () => {
    const request = new NetworkRequest("http://127.0.0.1:9/");
    request.maxRedirects = -1;
    const reply = manager.get(request);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError);
    assert.match(reply.errorString, /'maxRedirects' must be a non-negative integer, got -1/);
  });
  await t.step("unsupported body", async () => {
    const reply = manager.post("http://127.0.0.1:9/", 42 as unknown as string);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError);
    assert.match(reply.errorString, /unsupported type, got 42/);
  });
  await t.step("events fire for listeners added after the call", async () => {
    const reply = manager.get("nope");
    const seen: string[] = [];
    reply.addEventListener("error", () => seen.push("error"));
    reply.addEventListener("finished", () => seen.push("finished"));
    await reply.finished;
    assert.deepEqual(seen, ["error", "finished"]);
  });
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("NetworkAccessManager validates its options with messages naming them", () => {
  assert.throws(() => new NetworkAccessManager({ maxConnectionsPerHost: 0 }), {
    name: "RangeError",
    message: "Cannot create manager: 'maxConnectionsPerHost' must be a positive integer, got 0",
  });
  assert.throws(() => new NetworkAccessManager({ redirectPolicy: "always" as "manual" }), {
    name: "TypeError",
    message: /'redirectPolicy' must be one of/,
  });
  assert.throws(() => new NetworkAccessManager({ transferTimeout: 1.5 }), RangeError);
  assert.throws(() => new NetworkAccessManager({ decompressionGuard: -2 }), RangeError);
  assert.throws(() => new NetworkAccessManager({ layers: 5 as never }), {
    name: "TypeError",
    message: "Cannot create manager: 'layers' must be an array of functions, got 5",
  });
  assert.throws(() => new NetworkAccessManager({ layers: { a: 1 } as never }), {
    name: "TypeError",
    message: "Cannot create manager: 'layers' must be an array of functions, got an object",
  });
  assert.throws(() => new NetworkAccessManager({ layers: [(next) => next, "x" as never] }), {
    name: "TypeError",
    message: `Cannot create manager: 'layers[1]' must be a function, got "x"`,
  });
  const manager = new NetworkAccessManager();
  assert.throws(() => (manager.maxConnectionsPerHost = -1), /'maxConnectionsPerHost'/);
  assert.equal(manager.maxConnectionsPerHost, 6);
  assert.equal(manager.redirectPolicy, "no-less-safe");
  assert.equal(manager.maxRedirects, 50);
  assert.equal(manager.transferTimeout, 0);
  assert.equal(manager.readBufferSize, 0);
  assert.equal(manager.decompressionGuard, 10 * 1024 * 1024);
});

Deno.test("NetworkAccessManager dispatches finished for every reply and closes twice safely", async () => {
  await using server = await echoServer();
  const manager = new NetworkAccessManager();
  const finished: NetworkReply[] = [];
  manager.addEventListener("finished", (e) => finished.push((e as NetworkReplyEvent).reply));
  const a = manager.get(`${server.url}/a`);
  const b = manager.get("bad url");
  await Promise.all([a.finished, b.finished]);
  assert.deepEqual(new Set(finished), new Set([a, b]));
  await manager.close();
  await manager.close();
  const late = manager.get(`${server.url}/late`);
  await late.finished;
  assert.equal(late.error, NetworkError.OperationCanceledError);
  assert.match(late.errorString, /manager was closed/);
});

Deno.test("NetworkAccessManager.close ends running replies with OperationCanceledError", async () => {
  const release = Promise.withResolvers<void>();
  await using server = serve(async () => {
    await release.promise;
    return new Response("late");
  });
  const manager = new NetworkAccessManager();
  const reply = manager.get(`${server.url}/hang`);
  const events: string[] = [];
  reply.addEventListener("error", () => events.push("error"));
  reply.addEventListener("finished", () => events.push("finished"));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(reply.isRunning, true);
  await manager[Symbol.asyncDispose]();
  assert.equal(reply.error, NetworkError.OperationCanceledError);
  assert.deepEqual(events, ["error", "finished"]);
  release.resolve();
});

Deno.test("NetworkAccessManager.use: a user layer rewrites a request and short-circuits", async () => {
  await using mocked = createMockManager();
  mocked.mock.route(
    "*",
    "/*",
    (request) => Response.json({ url: request.url, custom: request.headers.get("x-custom") }),
  );
  const { manager } = mocked;
  const server = { url: "http://api.test" };
  manager.use((next) => async (exchange) => {
    if (exchange.url.pathname === "/short") {
      return new Response("from the layer", { status: 202, headers: { "x-layer": "yes" } });
    }
    exchange.url = new URL("/rewritten", exchange.url);
    exchange.headers.set("x-custom", "added");
    return await next(exchange);
  });
  const short = manager.get(`${server.url}/short`);
  assert.equal(await short.text(), "from the layer");
  assert.equal(short.status, 202);
  assert.equal(short.headers.get("x-layer"), "yes");
  const rewritten = manager.get(`${server.url}/original`);
  const echo = await rewritten.json() as { url: string; custom: string };
  assert.equal(new URL(echo.url).pathname, "/rewritten");
  assert.equal(echo.custom, "added");
  assert.equal(rewritten.url.pathname, "/rewritten");
  assert.deepEqual(mocked.recorder.requests.map((r) => r.url.pathname), ["/rewritten"]);
});

Deno.test("NetworkAccessManager.use at the network position sees each exchange after the queue", async () => {
  await using mocked = createMockManager();
  mocked.mock.route("GET", "/x", "transport");
  const { manager } = mocked;
  const seen: string[] = [];
  manager.use((next) => (exchange) => {
    seen.push(`network ${exchange.url.pathname}`);
    return next(exchange);
  }, "network");
  manager.use((next) => (exchange) => {
    seen.push(`request ${exchange.url.pathname}`);
    return next(exchange);
  });
  assert.equal(await manager.get("http://mock.test/x").text(), "transport");
  assert.deepEqual(seen, ["request /x", "network /x"]);
  assert.throws(() => manager.use("nope" as never), /'layer' must be a function, got "nope"$/);
});

Deno.test("NetworkReply body readers work once, before or after finished", async () => {
  await using server = serve(() => new Response("body text"));
  await using manager = new NetworkAccessManager();
  const early = manager.get(server.url);
  assert.equal(await early.text(), "body text");
  await assert.rejects(early.text(), { name: "TypeError", message: /already read/ });
  const late = manager.get(server.url);
  await late.finished;
  assert.equal(await late.text(), "body text");
  assert.throws(() => late[Symbol.asyncIterator](), /already read/);
  const bad = manager.get("data:application/json,{oops");
  await assert.rejects(bad.json(), {
    name: "InvalidJsonError",
    message: /data:application\/json,\{oops is not valid JSON at line 1, column 2 \(position 1\)/,
  });
});

Deno.test("clearConnectionCache makes the next direct requests open new connections", async () => {
  const ports: number[] = [];
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (_request, info) => {
      ports.push(info.remoteAddr.port);
      return new Response("ok");
    },
  );
  const url = `http://127.0.0.1:${server.addr.port}/`;
  await using manager = new NetworkAccessManager();
  const get = async () => assert.equal(await manager.get(url).text(), "ok");
  await get();
  await get();
  assert.equal(ports[1], ports[0], "a kept-alive connection serves the second request");
  manager.clearConnectionCache();
  await get();
  await get();
  assert.notEqual(ports[2], ports[1], "the connection cache was cleared");
  assert.equal(ports[3], ports[2], "the new connection is kept alive in turn");
  manager.clearConnectionCache();
  await get();
  assert.notEqual(ports[4], ports[3], "a second clear closes the pool's own client too");
});

Deno.test("a store option still opening, or a store class, is refused with how to mend it", async () => {
  const kvCache = KvCache.open({ path: ":memory:" });
  const cases: [Record<string, unknown>, string][] = [
    [
      { cache: kvCache },
      "'cache' must be a NetworkCache or null, got a Promise: await KvCache.open() before passing it",
    ],
    [
      { cookieJar: MemoryCookieJar },
      "'cookieJar' must be a CookieJar or null, got a function: pass an instance, such as " +
      "new MemoryCookieJar()",
    ],
    [
      { hstsStore: Promise.resolve(new MemoryHstsStore()) },
      "'hstsStore' must be an HstsStore or null, got a Promise: await KvHstsStore.open() before " +
      "passing it",
    ],
    [{ cache: {} }, "'cache' must be a NetworkCache or null, got an object"],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => new NetworkAccessManager(options), {
      name: "TypeError",
      message: `Cannot create manager: ${message}`,
    });
  }
  await (await kvCache).close();
});

Deno.test("each manager reads the proxy variables once, at its first request, and again after clearConnectionCache()", async () => {
  await using server = serve(() => new Response("ok"));
  const read: string[] = [];
  const get = Deno.env.get;
  Deno.env.get = (name: string) => (read.push(name), get.call(Deno.env, name));
  try {
    {
      await using first = new NetworkAccessManager();
      assert.equal(await first.get(`${server.url}/`).text(), "ok");
    }
    read.length = 0;
    await using second = new NetworkAccessManager();
    assert.equal(await second.get(`${server.url}/`).text(), "ok");
    // A manager of its own reads them (a value set since the first one is seen).
    assert.ok(read.includes("HTTPS_PROXY"), `read: ${read.join(", ")}`);
    read.length = 0;
    assert.equal(await second.get(`${server.url}/`).text(), "ok");
    assert.equal(read.length, 0, `read: ${read.join(", ")}`);
    second.clearConnectionCache();
    assert.equal(await second.get(`${server.url}/`).text(), "ok");
    // REQUEST_METHOD is read for the proxy environment alone.
    assert.ok(read.includes("REQUEST_METHOD"), `read: ${read.join(", ")}`);
  } finally {
    Deno.env.get = get;
  }
});

Deno.test("close() of a manager with nothing running lets go of its permission listeners at once", async () => {
  await using server = serve(() => new Response("ok"));
  const status = Deno.permissions.querySync({ name: "net", host: new URL(server.url).host });
  // Granted in part (as with a --deny-net entry), so that the host's own status is watched.
  const whole = Deno.permissions.querySync({ name: "net" });
  Object.defineProperty(whole, "partial", { value: true, configurable: true });
  const listening = new Set<unknown>();
  status.addEventListener = (_type: string, listener: unknown) => listening.add(listener);
  status.removeEventListener = (_type: string, listener: unknown) => listening.delete(listener);
  try {
    const manager = new NetworkAccessManager();
    assert.equal(await manager.get(`${server.url}/`).text(), "ok");
    assert.equal(listening.size, 1);
    const closing = manager.close();
    assert.equal(listening.size, 0);
    await closing;
  } finally {
    delete (status as unknown as Record<string, unknown>).addEventListener;
    delete (status as unknown as Record<string, unknown>).removeEventListener;
    delete (whole as unknown as Record<string, unknown>).partial;
  }
});
