import assert from "node:assert/strict";
import { type Layer, NetworkAccessManager, NetworkError, type NetworkReply } from "../../mod.ts";
import { createMockManager, MockTransport } from "../../testing.ts";
import { guardUnhandledRejections, takeUnhandledRejections, tick } from "../_helpers/server.ts";

guardUnhandledRejections();

const ok: Layer = (next) => (exchange) => next(exchange);

Deno.test("a user layer that fails its contract fails its reply with a message naming its position", async (t) => {
  const cases: [string, Layer, "request" | "network", RegExp][] = [
    [
      "returns nothing",
      // @ts-expect-error: the missing return this guards against
      () => async () => {},
      "request",
      /^Layer 2 at the "request" position resolved with undefined \(a missing `return`\?\) instead of a Response$/,
    ],
    [
      "returns a string",
      () => () => Promise.resolve("ok" as unknown as Response),
      "request",
      /^Layer 2 at the "request" position resolved with "ok" instead of a Response$/,
    ],
    [
      "returns a plain object",
      () => () => Promise.resolve({ status: 200 } as unknown as Response),
      "network",
      /^Layer 3 at the "network" position resolved with an object instead of a Response$/,
    ],
    [
      "throws",
      () => () => Promise.reject(new RangeError("no quota left")),
      "network",
      /^Layer 3 at the "network" position threw RangeError: no quota left$/,
    ],
    [
      "throws synchronously",
      () => () => {
        throw new Error("sync");
      },
      "request",
      /^Layer 2 at the "request" position threw Error: sync$/,
    ],
    [
      "throws when the pipeline is built",
      () => {
        throw new Error("bad setup");
      },
      "request",
      /^Layer 2 at the "request" position threw Error: bad setup when the pipeline was built$/,
    ],
    [
      "is not a layer (returns no handler)",
      (() => undefined) as unknown as Layer,
      "network",
      /^Layer 3 at the "network" position returned undefined \(a missing `return`\?\) instead of a handler/,
    ],
  ];
  // At "network", createMockManager's recorder is layer 1; at "request", `ok` is layer 1.
  for (const [name, layer, position, message] of cases) {
    await t.step(name, async () => {
      await using mocked = createMockManager();
      mocked.mock.route("GET", "/*", { body: "from the transport" });
      mocked.manager.use(ok, position).use(layer, position);
      const reply = mocked.manager.get("https://api.test/a"); // never throws
      await reply.finished;
      assert.equal(reply.error, NetworkError.UnknownNetworkError);
      assert.match(reply.errorString, message);
      await assert.rejects(reply.text(), { name: "NetworkReplyError", message });
      // The manager keeps working for the next request.
      assert.equal(mocked.manager.get("data:,still%20alive").isFinished, false);
    });
  }
  await tick();
  assert.deepEqual(takeUnhandledRejections(), [], "the process survives: nothing unhandled");
});

Deno.test("a custom transport that returns nothing fails the reply instead of the process", async () => {
  await using manager = new NetworkAccessManager({
    transport: (() => Promise.resolve(undefined)) as never,
  });
  const reply = manager.get("https://api.test/a");
  await reply.finished;
  assert.equal(reply.error, NetworkError.UnknownNetworkError);
  assert.match(
    reply.errorString,
    /^The transport \(the 'transport' option\) resolved with undefined \(a missing `return`\?\) instead of a Response$/,
  );
  await tick();
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("a plain layer that calls next without returning it fails its reply and leaves no unhandled rejection", async (t) => {
  for (const position of ["request", "network"] as const) {
    await t.step(position, async () => {
      // Like fetch, the transport rejects when the reply (failed by the layer) aborts it.
      await using manager = new NetworkAccessManager({
        transport: (exchange) =>
          new Promise((_, reject) => {
            const { signal } = exchange;
            signal.addEventListener("abort", () => reject(signal.reason), { once: true });
          }),
      });
      // @ts-expect-error: the missing return this guards against
      manager.use((next) => (exchange) => {
        exchange.headers.set("x-id", "1");
        next(exchange);
      }, position);
      const reply = manager.get("https://api.test/a");
      await reply.finished;
      assert.equal(reply.error, NetworkError.UnknownNetworkError);
      assert.match(reply.errorString, /resolved with undefined \(a missing `return`\?\)/);
      await tick(20);
      assert.deepEqual(takeUnhandledRejections(), [], "the dropped next() rejected unhandled");
    });
  }
  await t.step("a layer that awaits next still sees its rejection", async () => {
    await using mocked = createMockManager();
    mocked.mock.fail("GET", "/down", NetworkError.ConnectionRefusedError);
    const seen: unknown[] = [];
    mocked.manager.use((next) => (exchange) =>
      next(exchange).catch((error) => {
        seen.push(error);
        throw error;
      })
    );
    const reply = mocked.manager.get("https://api.test/down");
    await reply.finished;
    assert.equal(seen.length, 1);
    assert.equal(reply.error, NetworkError.ConnectionRefusedError);
  });
});

Deno.test("Response.error() from a custom transport or a user layer fails the reply as a network error", async (t) => {
  await t.step("the transport", async () => {
    await using manager = new NetworkAccessManager({
      transport: () => Promise.resolve(Response.error()),
    });
    const reply = manager.get("https://api.test/x");
    await assert.rejects(reply.text(), { name: "NetworkReplyError" });
    assert.equal(reply.error, NetworkError.UnknownNetworkError);
    assert.equal(reply.status, 0);
    assert.equal(
      reply.errorString,
      "The transport (the 'transport' option) answered Response.error(), a network error, " +
        "for GET https://api.test/x",
    );
  });
  for (const position of ["request", "network"] as const) {
    await t.step(`a layer at the "${position}" position`, async () => {
      await using manager = new NetworkAccessManager({
        transport: () => Promise.resolve(new Response("unseen")),
      });
      manager.use(() => () => Promise.resolve(Response.error()), position);
      const reply = manager.get("https://api.test/x");
      await reply.finished;
      assert.equal(reply.error, NetworkError.UnknownNetworkError);
      assert.equal(
        reply.errorString,
        `Layer 1 at the "${position}" position answered Response.error(), a network error, ` +
          "for GET https://api.test/x",
      );
    });
  }
  await t.step("a layer passing on the mock's failure reports the mock's message", async () => {
    await using mocked = createMockManager();
    mocked.mock.route("GET", "/x", Response.error());
    mocked.manager.use(ok);
    const reply = mocked.manager.get("https://api.test/x");
    await reply.finished;
    assert.equal(reply.error, NetworkError.UnknownNetworkError);
    assert.match(reply.errorString, /^Mock route GET \/x answered Response\.error\(\)/);
  });
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("a user layer that answers a Response read before fails its reply, not the process", async (t) => {
  for (const position of ["request", "network"] as const) {
    await t.step(`a layer at the "${position}" position`, async () => {
      const answer = new Response("once");
      await answer.text();
      await using manager = new NetworkAccessManager({
        transport: () => Promise.resolve(new Response("unseen")),
      });
      manager.use(() => () => Promise.resolve(answer), position);
      const reply = manager.get("https://api.test/x");
      await reply.finished;
      assert.equal(reply.error, NetworkError.UnknownNetworkError);
      assert.equal(
        reply.errorString,
        `Layer 1 at the "${position}" position answered a Response whose body was already read ` +
          "for GET https://api.test/x; a body can be read once: answer a new Response each time",
      );
    });
  }
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("errors from below a user layer keep their code when the layer lets them through", async () => {
  await using mocked = createMockManager();
  mocked.mock.fail("GET", "/down", NetworkError.ConnectionRefusedError);
  const seen: unknown[] = [];
  mocked.manager.use((next) => async (exchange) => {
    try {
      return await next(exchange);
    } catch (error) {
      seen.push(error);
      throw error;
    }
  }, "network");
  const reply = mocked.manager.get("https://api.test/down");
  await reply.finished;
  assert.equal(seen.length, 1);
  assert.equal(reply.error, NetworkError.ConnectionRefusedError);
  assert.doesNotMatch(reply.errorString, /Layer/);
});

Deno.test("a custom transport's upload is reported complete when it answers", async (t) => {
  const progressOf = (reply: NetworkReply) => {
    const seen: [number, number][] = [];
    reply.addEventListener("uploadprogress", (e) => seen.push([e.loaded, e.total]));
    return seen;
  };
  await t.step("a mock transport: the body's total, once", async () => {
    const mock = new MockTransport();
    mock.route("PUT", "https://example.com/file", { status: 201 });
    mock.route("POST", "https://example.com/echo", async (request) => ({
      body: await request.text(),
    }));
    await using manager = new NetworkAccessManager({ transport: mock.handler });
    const put = manager.put("https://example.com/file", "twelve bytes");
    const putProgress = progressOf(put);
    await put.finished;
    assert.equal(put.status, 201);
    assert.deepEqual(putProgress, [[12, 12]]);
    const post = manager.post("https://example.com/echo", new Uint8Array(5));
    const postProgress = progressOf(post);
    assert.equal((await post.bytes()).byteLength, 5);
    assert.deepEqual(postProgress, [[5, 5]]);
  });
  await t.step("a transport that reports its own progress is not told twice", async () => {
    await using manager = new NetworkAccessManager({
      transport: (exchange) => {
        const size = exchange.body?.length ?? -1;
        exchange.monitor.uploadProgress(0, size);
        exchange.monitor.uploadProgress(size, size);
        return Promise.resolve(new Response("stored"));
      },
    });
    const reply = manager.put("https://example.com/file", "twelve bytes");
    const progress = progressOf(reply);
    await reply.finished;
    assert.deepEqual(progress, [[0, 12], [12, 12]]);
  });
  await t.step(
    "no body, a body of unknown length, or a failed transport: no progress",
    async () => {
      await using manager = new NetworkAccessManager({
        transport: async (exchange) => {
          await exchange.body?.discard();
          if (exchange.url.pathname === "/fail") throw new TypeError("no route");
          return new Response("ok");
        },
      });
      const replies = [
        manager.get("https://example.com/"),
        manager.post("https://example.com/", ReadableStream.from([new Uint8Array(3)])),
        manager.put("https://example.com/fail", "twelve bytes"),
      ];
      const progress = replies.map(progressOf);
      await Promise.all(replies.map((reply) => reply.finished));
      assert.equal(replies[2]!.error, NetworkError.UnknownNetworkError);
      assert.deepEqual(progress, [[], [], []]);
    },
  );
  assert.deepEqual(takeUnhandledRejections(), []);
});
