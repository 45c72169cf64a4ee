import assert from "node:assert/strict";
import vm from "node:vm";
import {
  InvalidJsonError,
  NetworkAccessManager,
  NetworkError,
  NetworkReplyError,
  NetworkRequest,
  NetworkRequestFactory,
  RequestBody,
} from "../mod.ts";
import { createMockManager } from "../testing.ts";
import { guardUnhandledRejections, serve, takeUnhandledRejections } from "./_helpers/server.ts";

guardUnhandledRejections();

Deno.test("a plain object or array body is sent as JSON with Content-Type application/json", async (t) => {
  await using mocked = createMockManager();
  mocked.mock.route("*", "/*", { status: 204 });
  const cases: [string, unknown][] = [
    ["object", { name: "pen", tags: ["a"], n: 1.5, ok: true, none: null }],
    ["array", [1, "two", { three: 3 }]],
    ["empty object", {}],
    ["null-prototype object", Object.assign(Object.create(null), { a: 1 })],
    ["values whose class has a toJSON, and a toJSON of its own", {
      date: new Date(0),
      url: new URL("https://example.com/a"),
      money: { amount: 1n, toJSON: () => "1.00" },
    }],
    ["Number, String and Boolean objects", [new Number(1), new String("a"), new Boolean(false)]],
  ];
  for (const [name, body] of cases) {
    await t.step(name, async () => {
      mocked.recorder.clear();
      await mocked.manager.post("https://api.test/items", body as never).finished;
      const sent = mocked.recorder.last!;
      assert.equal(sent.headers.get("content-type"), "application/json");
      assert.equal(sent.text(), JSON.stringify(body));
      assert.deepEqual(sent.json(), JSON.parse(JSON.stringify(body)));
    });
  }
  await t.step("a Content-Type the request sets wins", async () => {
    await mocked.manager.put("https://api.test/items/1", { a: 1 }, {
      headers: { "content-type": "application/merge-patch+json" },
    }).finished;
    assert.equal(mocked.recorder.last!.headers.get("content-type"), "application/merge-patch+json");
    assert.equal(mocked.recorder.last!.text(), `{"a":1}`);
  });
  await t.step("PATCH through sendCustomRequest", async () => {
    await mocked.manager.sendCustomRequest("https://api.test/items/1", "PATCH", [true]).finished;
    assert.equal(mocked.recorder.last!.method, "PATCH");
    assert.equal(mocked.recorder.last!.text(), "[true]");
  });
});

Deno.test("a JSON body reaches a real server with its length and type", async () => {
  await using server = serve(async (request) =>
    Response.json({
      type: request.headers.get("content-type"),
      length: request.headers.get("content-length"),
      body: await request.json(),
    })
  );
  await using real = new NetworkAccessManager();
  const body = { "ünïcode": "✓", list: [1, 2] };
  const echo = await real.post(server.url, body).json() as Record<string, unknown>;
  assert.equal(echo.type, "application/json");
  assert.equal(echo.length, String(new TextEncoder().encode(JSON.stringify(body)).byteLength));
  assert.deepEqual(echo.body, body);
});

Deno.test("a view on a SharedArrayBuffer is sent as a copy of its bytes when the request is made", async () => {
  await using server = serve(async (request) =>
    new Response(`${request.headers.get("content-length")} ${await request.text()}`)
  );
  await using real = new NetworkAccessManager();
  const shared = new SharedArrayBuffer(4);
  new Uint8Array(shared).set([65, 66, 67, 68]);
  const bytes = real.put(server.url, new Uint8Array(shared, 1, 2));
  const view = real.put(server.url, new DataView(shared, 0, 3));
  new Uint8Array(shared).fill(0); // changed after the requests were made: not sent
  assert.equal(await bytes.text(), "2 BC", bytes.errorString);
  assert.equal(await view.text(), "3 ABC", view.errorString);
});

Deno.test("a FormData body is sent with its multipart type and boundary over a Content-Type of the request's", async (t) => {
  await using server = serve(async (request) => {
    const form = await request.formData();
    return Response.json({ name: form.get("name"), type: request.headers.get("content-type") });
  });
  await using manager = new NetworkAccessManager();
  const api = new NetworkRequestFactory(server.url, {
    headers: { "content-type": "application/json", "x-client": "app" },
  });
  const cases: [string, NetworkRequest | string][] = [
    ["a factory's common application/json", api.createRequest("upload")],
    [
      "a multipart type with a boundary of the caller's",
      new NetworkRequest(server.url, {
        headers: { "content-type": "multipart/form-data; boundary=x" },
      }),
    ],
    ["no Content-Type", server.url],
  ];
  for (const [name, request] of cases) {
    await t.step(name, async () => {
      const form = new FormData();
      form.set("name", "pen");
      const body = await manager.post(request, form).json() as { name: string; type: string };
      assert.equal(body.name, "pen");
      assert.match(body.type, /^multipart\/form-data; boundary=-+\d+$/);
    });
  }
});

Deno.test("a body JSON cannot serialise, or of no supported type, fails the reply", async (t) => {
  await using mocked = createMockManager();
  mocked.mock.route("*", "/*", { status: 204 });
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  const deep: { user: { friends: unknown[] } } = { user: { friends: [] } };
  deep.user.friends.push({ name: "b", best: deep.user });
  const serialise = "^Invalid body: cannot serialise it as JSON: ";
  const cases: [string, unknown, RegExp][] = [
    ["circular", circular, new RegExp(`${serialise}\\$\\.self refers back to \\$, a cycle$`)],
    [
      "a cycle deep inside",
      deep,
      new RegExp(
        `${serialise}\\$\\.user\\.friends\\[0\\]\\.best refers back to \\$\\.user, a cycle$`,
      ),
    ],
    [
      "a BigInt inside",
      { items: [{ "unit price": 1n }] },
      new RegExp(
        `${serialise}\\$\\.items\\[0\\]\\["unit price"\\] is a BigInt \\(1n\\), which JSON cannot ` +
          "hold; send it as a string or a number$",
      ),
    ],
    [
      "a toJSON that throws",
      {
        a: {
          toJSON: () => {
            throw new Error("no");
          },
        },
      },
      new RegExp(`${serialise}\\$\\.a\\.toJSON\\(\\) threw Error: no$`),
    ],
    [
      "a getter that throws, deep inside",
      {
        list: [{
          get name(): string {
            throw new RangeError("not loaded");
          },
        }],
      },
      new RegExp(`${serialise}reading \\$\\.list\\[0\\]\\.name threw RangeError: not loaded$`),
    ],
    [
      "a Map inside",
      { user: { roles: new Map([["admin", true]]) } },
      new RegExp(
        `${serialise}\\$\\.user\\.roles is a Map, which JSON sends as \\{\\}; send ` +
          "Object\\.fromEntries\\(map\\), or its entries as an array$",
      ),
    ],
    [
      "a Set inside",
      [{ tags: new Set(["a"]) }],
      new RegExp(
        `${serialise}\\$\\[0\\]\\.tags is a Set, which JSON sends as \\{\\}; send Array\\.from\\(set\\)$`,
      ),
    ],
    [
      "a typed array inside",
      { image: { pixels: new Uint8Array([1, 2]) } },
      new RegExp(
        `${serialise}\\$\\.image\\.pixels is an instance of Uint8Array, which JSON sends as ` +
          "an object of its indices; send Array\\.from\\(\\) of it, or its bytes as a string \\(base64\\)$",
      ),
    ],
    [
      "a class instance inside, after a Date (sent by its toJSON)",
      { when: new Date(0), list: [1, new (class Point {})()] },
      new RegExp(
        `${serialise}\\$\\.list\\[1\\] is an instance of Point, which JSON sends as its own ` +
          "fields alone; send a plain object, or give its class a toJSON method$",
      ),
    ],
    [
      "a class instance",
      new (class Point {})(),
      /^Invalid body: unsupported type, got an instance of Point; send a string, bytes, .* or a plain object or array \(sent as JSON\)$/,
    ],
    ["a number", 42, /^Invalid body: unsupported type, got 42; send a string, bytes, a Blob, /],
  ];
  for (const [name, body, message] of cases) {
    await t.step(name, async () => {
      const reply = mocked.manager.post("https://api.test/items", body as never);
      await reply.finished;
      assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError);
      assert.match(reply.errorString, message);
    });
  }
  assert.equal(mocked.mock.calls, 0);
});

Deno.test("a streamed body that yields no bytes, or is already being read, fails the reply as invalid", async (t) => {
  await using server = serve(async (request) => new Response(await request.text()));
  await using manager = new NetworkAccessManager();
  const fails = async (body: unknown, message: RegExp) => {
    const reply = manager.post(server.url, body as ReadableStream<Uint8Array>);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError, reply.errorString);
    assert.match(reply.errorString, message);
  };
  await t.step("an async iterable yielding a string", async () => {
    const body = (async function* () {
      yield "text";
    })();
    await fails(
      body,
      /^Invalid body: the async iterable must yield Uint8Array chunks, got "text"$/,
    );
  });
  await t.step("a ReadableStream yielding a string", async () => {
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue("text");
        controller.close();
      },
    });
    await fails(
      body,
      /^Invalid body: the ReadableStream must yield Uint8Array chunks, got "text"$/,
    );
  });
  await t.step("the same ReadableStream sent twice", async () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array([0x61]));
        controller.close();
      },
    });
    assert.equal(await manager.post(server.url, body).text(), "a");
    await fails(body, /^Invalid body: the ReadableStream is already being read \(locked\)/);
  });
  await t.step("a ReadableStream with a reader of its own", async () => {
    const body = new ReadableStream<Uint8Array>();
    const reader = body.getReader();
    await fails(body, /already being read \(locked\).*a stream can be sent once$/);
    reader.releaseLock();
  });
});

Deno.test("reply.json() parses the body, and names the URL and the position when it is not JSON", async (t) => {
  await using mocked = createMockManager();
  mocked.mock
    .route("GET", "/good", { json: { a: [1, 2] } })
    .route("GET", "/bad", {
      body: `{"a": [1, 2,]}`,
      headers: { "content-type": "application/json" },
    })
    .route("GET", "/empty", { body: "" })
    .route("GET", "/missing", { status: 404, json: { error: "no such item" } });
  await t.step("valid JSON", async () => {
    assert.deepEqual(await mocked.manager.get("https://api.test/good").json(), { a: [1, 2] });
  });
  await t.step("invalid JSON", async () => {
    const reply = mocked.manager.get("https://api.test/bad");
    const error = await reply.json().then(() => null, (e) => e);
    assert.ok(error instanceof InvalidJsonError);
    assert.ok(error instanceof SyntaxError, "a SyntaxError, as JSON.parse and Response.json throw");
    assert.ok(!(error instanceof NetworkReplyError), "not a network error");
    assert.equal(error.reply, reply);
    assert.equal(error.position, 12);
    assert.ok(error.cause instanceof SyntaxError);
    assert.match(
      error.message,
      /^The body of https:\/\/api\.test\/bad is not valid JSON at line 1, column 13 \(position 12\): /,
    );
    assert.equal(reply.error, NetworkError.NoError, "the reply itself succeeded");
  });
  await t.step("an empty body is undefined", async () => {
    assert.equal(await mocked.manager.get("https://api.test/empty").json(), undefined);
  });
  await t.step("an error status still has its JSON body", async () => {
    const reply = mocked.manager.get("https://api.test/missing");
    assert.deepEqual(await reply.json(), { error: "no such item" });
    assert.equal(reply.error, NetworkError.ContentNotFoundError);
  });
  await t.step("no body at all after a connection error", async () => {
    mocked.mock.fail("GET", "/down", NetworkError.ConnectionRefusedError);
    await assert.rejects(mocked.manager.get("https://api.test/down").json(), {
      name: "NetworkReplyError",
      code: NetworkError.ConnectionRefusedError,
    });
  });
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("reply.json() names the position of every kind of JSON syntax error", async (t) => {
  await using mocked = createMockManager();
  const cases: [string, number][] = [
    [`{"a": [1, 2,]}`, 12],
    [`{"a" 1}`, 5],
    [`[1, 2`, 5],
    [`{"a": tru}`, 9],
    [`[1] x`, 4],
    [`{'a': 1}`, 1],
    [`"unterminated`, 13],
    [` `, 1],
    [`  [01]`, 4],
  ];
  for (const [body, position] of cases) {
    await t.step(JSON.stringify(body), async () => {
      mocked.mock.reset();
      mocked.mock.route("GET", "/x", { body });
      await assert.rejects(mocked.manager.get("https://api.test/x").json(), {
        name: "InvalidJsonError",
        position,
        message: new RegExp(
          `is not valid JSON at line 1, column ${position + 1} \\(position ${position}\\): `,
        ),
      });
    });
  }
});

Deno.test("reply.json() of a body that is not JSON names the line and column and quotes the text around it, on one line, credentials masked", async (t) => {
  const token = "s3cret-token-4f9a";
  const bodies: Record<string, string> = {
    "/lines": `{\n  "id": 7,\n  "owner": "${token}",\n  "done": tru\n}`,
    "/echo": `{"echo":"Bearer ${token}" oops, "more": "text that is long enough to be cut off"}`,
    "/token": `token=${token}`,
    "/cut": `[1, 2`,
    "/utf16": `\u00ff\u00fe\u0022\u0000`,
    "/after": `[1] x`,
  };
  await using server = serve((request) => {
    const path = new URL(request.url).pathname;
    const charset = path === "/utf16" ? "; charset=UTF-16" : "";
    // Bytes as they are: a UTF-16 body starts with its BOM, FF FE.
    const body = Uint8Array.from(bodies[path]!, (c) => c.charCodeAt(0));
    return new Response(body, { headers: { "content-type": `application/json${charset}` } });
  });
  await using manager = new NetworkAccessManager();
  const failure = async (path: string): Promise<InvalidJsonError> => {
    const request = new NetworkRequest(`${server.url}${path}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const error = await manager.get(request).json().then(() => null, (e) => e);
    assert.ok(error instanceof InvalidJsonError);
    assert.doesNotMatch(error.message, /\n/, "one line");
    assert.ok(!error.message.includes(token.slice(0, 8)), error.message);
    assert.ok(!String(error.cause).includes(token.slice(0, 8)), String(error.cause));
    return error;
  };
  await t.step("a body over several lines", async () => {
    const error = await failure("/lines");
    assert.equal(error.position, 58);
    assert.equal(
      error.message,
      `The body of ${server.url}/lines is not valid JSON at line 4, column 14 (position 58): ` +
        `Unexpected token '\\u000a'; the text before it: ...` +
        `"ner\\": \\"[redacted]\\",\\n  \\"done\\": tru", from it: "\\n}"`,
    );
  });
  await t.step("a credential the body echoes where it stops being JSON", async () => {
    const error = await failure("/echo");
    assert.equal(
      error.message,
      `The body of ${server.url}/echo is not valid JSON at line 1, column 36 (position 35): ` +
        `Expected ',' or '}' after property value; the text before it: ` +
        `"{\\"echo\\":\\"[redacted]\\" ", from it: "oops, \\"more\\": \\"text "...`,
    );
  });
  await t.step("a credential the parser's own message would quote", async () => {
    const error = await failure("/token");
    assert.match(error.message, /\(position 1\): Unexpected token 'o'; the text before it: "t", /);
    assert.match(error.message, /from it: "oken=\[redacted\]"$/);
  });
  await t.step(
    "a JSON type with another charset than UTF-8 is named: the body is read as UTF-8",
    async () => {
      const error = await failure("/utf16");
      assert.match(
        error.message,
        /\/utf16 \(Content-Type "application\/json; charset=UTF-16", read as UTF-8, as JSON is\) is not valid JSON at line 1, column 1 \(position 0\): /,
      );
    },
  );
  await t.step("text after the JSON value", async () => {
    const error = await failure("/after");
    assert.match(
      error.message,
      /at line 1, column 5 \(position 4\): Unexpected non-whitespace character after JSON; the text before it: "\[1\] ", from it: "x"$/,
    );
  });
  await t.step("a body that ends too early", async () => {
    const error = await failure("/cut");
    assert.match(
      error.message,
      /at line 1, column 6 \(position 5\): Expected ',' or '\]' after array element; the text before it: "\[1, 2", then the body ends$/,
    );
  });
});

Deno.test("reply.json() names where a deeply nested body stops being JSON", async () => {
  const depth = 100_000;
  const bodies: Record<string, string> = {
    "/arrays": `${"[".repeat(depth)}x`,
    "/objects": `${'{"a":'.repeat(depth)}x`,
  };
  await using server = serve((request) => new Response(bodies[new URL(request.url).pathname]));
  await using manager = new NetworkAccessManager();
  for (const [path, body] of Object.entries(bodies)) {
    const error = await manager.get(`${server.url}${path}`).json().then(() => null, (e) => e);
    assert.ok(error instanceof InvalidJsonError, String(error));
    assert.equal(error.position, body.length - 1);
    assert.match(error.message, /: Unexpected token 'x'; the text before it: \.\.\."/);
    assert.match(error.message, /, from it: "x"$/);
  }
});

Deno.test("reply.json() resolves undefined for a body with no bytes: 204, Content-Length 0, HEAD", async (t) => {
  await using server = serve((request) => {
    const path = new URL(request.url).pathname;
    if (path === "/204") return new Response(null, { status: 204 });
    if (path === "/space") return new Response(" \n", { status: 200 });
    if (path === "/bom") return new Response(Uint8Array.of(0xef, 0xbb, 0xbf), { status: 200 });
    return new Response(request.method === "HEAD" ? null : "", {
      status: path === "/404" ? 404 : 200,
      headers: { "content-type": "application/json", "content-length": "0" },
    });
  });
  await using manager = new NetworkAccessManager();
  await t.step("204 No Content", async () => {
    const reply = manager.deleteResource(`${server.url}/204`);
    assert.equal(await reply.json(), undefined);
    assert.equal(reply.status, 204);
  });
  await t.step("200 with Content-Length: 0", async () => {
    assert.equal(await manager.post(`${server.url}/empty`, { a: 1 }).json(), undefined);
  });
  await t.step("HEAD", async () => {
    assert.equal(await manager.head(`${server.url}/empty`).json(), undefined);
  });
  await t.step("an error status with no body", async () => {
    const reply = manager.get(`${server.url}/404`);
    assert.equal(await reply.json(), undefined);
    assert.equal(reply.error, NetworkError.ContentNotFoundError);
  });
  await t.step("a schema sees undefined", async () => {
    const seen: unknown[] = [];
    const schema = {
      "~standard": {
        version: 1 as const,
        vendor: "test",
        validate: (value: unknown) => (seen.push(value), { value: value ?? null }),
      },
    };
    assert.equal(await manager.get(`${server.url}/204`).json(schema), null);
    assert.deepEqual(seen, [undefined]);
  });
  await t.step("a byte order mark alone is not empty: InvalidJsonError that says so", async () => {
    await assert.rejects(manager.get(`${server.url}/bom`).json(), {
      name: "InvalidJsonError",
      message: /Unexpected end of JSON input; the body is a byte order mark alone$/,
    });
  });
  await t.step("whitespace is not empty: InvalidJsonError", async () => {
    await assert.rejects(manager.get(`${server.url}/space`).json(), {
      name: "InvalidJsonError",
      position: 2,
    });
  });
});

Deno.test("a JSON body of any depth that JSON.stringify takes is sent", () => {
  for (const make of [(inner: unknown) => ({ child: inner }), (inner: unknown) => [inner]]) {
    let body: unknown = {};
    for (let i = 0; i < 20_000; i++) body = make(body);
    const sent = RequestBody.from(body as never).open().body as Uint8Array;
    assert.equal(new TextDecoder().decode(sent), JSON.stringify(body));
  }
});

Deno.test("a JSON body takes plain objects of any realm, and refuses a Map or class instance of any", async (t) => {
  const other = (source: string) => vm.runInNewContext(source);
  await t.step("plain objects of another realm, inside and as the body", () => {
    const user = other('({ name: "ada", tags: ["x"], box: Object.create(null) })');
    for (const body of [{ user }, user, [user]]) {
      const sent = RequestBody.from(body).open().body as Uint8Array;
      assert.equal(new TextDecoder().decode(sent), JSON.stringify(body));
    }
  });
  const refused: [string, unknown, string][] = [
    [
      "a Map of another realm",
      { roles: other("new Map([['admin', true]])") },
      "$.roles is a Map, which JSON sends as {}; send Object.fromEntries(map), or its entries " +
      "as an array",
    ],
    [
      "a Set of another realm",
      { tags: other("new Set(['a'])") },
      "$.tags is a Set, which JSON sends as {}; send Array.from(set)",
    ],
    [
      "a typed array of another realm",
      { v: [other("new Float32Array([1])")] },
      "$.v[0] is an instance of Float32Array, which JSON sends as an object of its indices",
    ],
    [
      "a class instance of another realm",
      { p: other("new (class Point {})()") },
      "$.p is an instance of Point, which JSON sends as its own fields alone",
    ],
    [
      'a class instance tagged "Object"',
      {
        p: new (class Point {
          readonly [Symbol.toStringTag] = "Object";
        })(),
      },
      "$.p is an instance of Point, which JSON sends as its own fields alone",
    ],
    [
      "an object whose prototype is an object without one",
      { p: Object.create(Object.create(null, { constructor: { value: Object } })) },
      "$.p is an object, which JSON sends as its own fields alone",
    ],
  ];
  for (const [name, body, message] of refused) {
    await t.step(name, () => {
      assert.throws(() => RequestBody.from(body as never), {
        name: "TypeError",
        message: new RegExp(
          `^Invalid body: cannot serialise it as JSON: ${RegExp.escape(message)}`,
        ),
      });
    });
  }
});

Deno.test("a JSON body's getters and proxy traps run once, by JSON.stringify", async (t) => {
  await t.step("a getter that may run once", () => {
    let reads = 0;
    const body = {
      get nonce() {
        if (++reads > 1) throw new Error("nonce already used");
        return { n: 42 };
      },
    };
    const sent = RequestBody.from(body).open().body as Uint8Array;
    assert.equal(new TextDecoder().decode(sent), '{"nonce":{"n":42}}');
    assert.equal(reads, 1);
  });
  await t.step("a Map told by its path, not by a getter run again", () => {
    let reads = 0;
    const body = {
      get nonce() {
        if (++reads > 1) throw new Error("nonce already used");
        return 1;
      },
      roles: new Map(),
    };
    assert.throws(() => RequestBody.from(body), {
      message: /^Invalid body: cannot serialise it as JSON: \$\.roles is a Map, /,
    });
    assert.equal(reads, 1);
  });
  await t.step("a proxy's get traps", () => {
    const read: string[] = [];
    const body = new Proxy({ a: { b: 1 }, c: [1, 2] }, {
      get(target, key, receiver) {
        read.push(String(key));
        return Reflect.get(target, key, receiver);
      },
    });
    RequestBody.from({ body });
    assert.deepEqual(read, ["toJSON", "a", "c"]);
  });
});
