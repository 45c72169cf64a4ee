import assert from "node:assert/strict";
import {
  type Handler,
  HostQueue,
  MemoryHstsStore,
  NetworkAccessManager,
  NetworkError,
  type NetworkErrorEvent,
  type NetworkReply,
  NetworkRequest,
  type NetworkRequestInit,
  setResponseInfo,
} from "../mod.ts";
import { runDeno } from "./_helpers/deno_run.ts";
import { cancelTracked } from "./_helpers/streams.ts";
import {
  guardUnhandledRejections,
  serve,
  takeUnhandledRejections,
  tick,
} from "./_helpers/server.ts";

guardUnhandledRejections();

Deno.test("HostQueue hands out slots by priority, FIFO within one, and releases once", async () => {
  const queue = new HostQueue(() => 1);
  const signal = new AbortController().signal;
  const order: string[] = [];
  const first = await queue.acquire("h", "normal", signal);
  const waits = [
    ["low-1", "low"],
    ["normal-1", "normal"],
    ["high-1", "high"],
    ["normal-2", "normal"],
    ["high-2", "high"],
  ].map(([name, priority]) =>
    queue.acquire("h", priority as "low", signal).then((release) => {
      order.push(name!);
      release();
      release(); // a second call does nothing
    })
  );
  assert.equal(queue.waiting("h"), 5);
  first();
  first();
  await Promise.all(waits);
  assert.deepEqual(order, ["high-1", "high-2", "normal-1", "normal-2", "low-1"]);
  assert.equal(queue.active("h"), 0);
  assert.equal(queue.waiting("h"), 0);
});

Deno.test("HostQueue: an aborted waiter leaves the queue at once", async () => {
  const queue = new HostQueue(() => 1);
  const release = await queue.acquire("h", "normal", new AbortController().signal);
  const controller = new AbortController();
  const waiting = queue.acquire("h", "normal", controller.signal);
  assert.equal(queue.waiting("h"), 1);
  controller.abort(new Error("gone"));
  await assert.rejects(waiting, /gone/);
  assert.equal(queue.waiting("h"), 0);
  release();
  assert.equal(queue.active("h"), 0);
});

Deno.test("HostQueue: waiters aborted in the middle leave; the rest keep their order", async () => {
  const queue = new HostQueue(() => 1);
  const release = await queue.acquire("h", "normal", new AbortController().signal);
  const controllers = Array.from({ length: 6 }, () => new AbortController());
  const order: number[] = [];
  const waits = controllers.map((controller, i) =>
    queue.acquire("h", "normal", controller.signal).then(
      (next) => {
        order.push(i);
        next();
      },
      () => order.push(-i),
    )
  );
  controllers[0]!.abort();
  controllers[3]!.abort();
  controllers[5]!.abort();
  await tick();
  assert.equal(queue.waiting("h"), 3);
  release();
  await Promise.all(waits);
  assert.deepEqual(order, [-0, -3, -5, 1, 2, 4]);
  assert.equal(queue.active("h"), 0);
  assert.equal(queue.waiting("h"), 0);
});

Deno.test("HostQueue.close rejects every waiter and every later acquire", async () => {
  const queue = new HostQueue(() => 1);
  const signal = new AbortController().signal;
  const release = await queue.acquire("a", "normal", signal);
  const held = await queue.acquire("b", "normal", signal);
  const waits = [
    queue.acquire("a", "high", signal),
    queue.acquire("a", "low", signal),
    queue.acquire("b", "normal", signal),
  ];
  const reason = new Error("queue closed");
  queue.close(reason);
  queue.close(new Error("second close is ignored"));
  for (const waiting of waits) await assert.rejects(waiting, (e) => e === reason);
  assert.equal(queue.waiting("a") + queue.waiting("b"), 0);
  assert.equal(queue.active("a"), 1, "slots handed out stay valid");
  await assert.rejects(queue.acquire("c", "normal", signal), (e) => e === reason);
  release();
  held();
  assert.equal(queue.active("a") + queue.active("b"), 0);
});

Deno.test("HostQueue reads the limit of each origin, and wake() hands out slots it gained", async () => {
  const limits = new Map([["h2", 1]]);
  const queue = new HostQueue((key) => limits.get(key) ?? 2);
  const signal = new AbortController().signal;
  await queue.acquire("h1", "normal", signal);
  await queue.acquire("h1", "normal", signal);
  await queue.acquire("h2", "normal", signal);
  let started = 0;
  const waits = [1, 2, 3].map(() => queue.acquire("h2", "normal", signal).then(() => started++));
  await tick();
  assert.equal(queue.active("h1"), 2);
  assert.equal(queue.waiting("h2"), 3);
  limits.set("h2", 100);
  queue.wake("h2");
  await Promise.all(waits);
  assert.equal(started, 3);
  assert.equal(queue.active("h2"), 4);
});

Deno.test("HostQueue.wake() without an origin hands out the slots every origin gained", async () => {
  let limit = 1;
  const queue = new HostQueue(() => limit);
  const signal = new AbortController().signal;
  await queue.acquire("h1", "normal", signal);
  await queue.acquire("h2", "normal", signal);
  const waiter = (key: string) => queue.acquire(key, "normal", signal);
  const [a, b, last, other] = [waiter("h1"), waiter("h1"), waiter("h1"), waiter("h2")];
  limit = 3;
  queue.wake();
  await Promise.all([a, b, other]);
  assert.deepEqual([queue.active("h1"), queue.waiting("h1")], [3, 1]);
  assert.deepEqual([queue.active("h2"), queue.waiting("h2")], [2, 0]);
  queue.close(new Error("closed"));
  await assert.rejects(last, /closed/);
});

Deno.test("raising maxConnectionsPerHost starts waiting requests at once; lowering it lets those in flight finish", async () => {
  let inFlight = 0;
  const gates: (() => void)[] = [];
  await using server = serve(async () => {
    inFlight++;
    await new Promise<void>((resolve) => gates.push(resolve));
    inFlight--;
    return new Response("done");
  });
  await using manager = new NetworkAccessManager({ maxConnectionsPerHost: 1 });
  const key = server.url;
  const replies = Array.from({ length: 5 }, (_, i) => manager.get(`${server.url}/r${i}`));
  while (gates.length < 1) await tick(5);
  assert.deepEqual([manager.queue.active(key), manager.queue.waiting(key)], [1, 4]);

  // No slot frees: the two gained go to the first two waiting.
  manager.maxConnectionsPerHost = 3;
  assert.deepEqual([manager.queue.active(key), manager.queue.waiting(key)], [3, 2]);
  for (let waited = 0; gates.length < 3 && waited < 1_000; waited += 5) await tick(5);
  assert.equal(inFlight, 3);

  // Lowered: the three go on, and the next starts only once fewer than one are in flight.
  manager.maxConnectionsPerHost = 1;
  assert.deepEqual([manager.queue.active(key), manager.queue.waiting(key)], [3, 2]);
  gates.shift()!();
  gates.shift()!();
  await Promise.all(replies.slice(0, 2).map((reply) => reply.finished));
  await tick(30);
  assert.deepEqual([manager.queue.active(key), manager.queue.waiting(key)], [1, 2]);
  while (replies.some((reply) => !reply.isFinished)) {
    gates.shift()?.();
    assert.ok(inFlight <= 1, `${inFlight} in flight`);
    await tick(2);
  }
  assert.ok(replies.every((reply) => reply.error === NetworkError.NoError));
  assert.equal(manager.queue.active(key), 0);
});

Deno.test("NetworkAccessManager runs at most 6 requests per origin while the rest wait", async () => {
  let inFlight = 0;
  let peak = 0;
  const gates: (() => void)[] = [];
  await using server = serve(async () => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise<void>((resolve) => gates.push(resolve));
    inFlight--;
    return new Response("done");
  });
  await using manager = new NetworkAccessManager();
  const key = server.url;
  const replies = Array.from({ length: 26 }, (_, i) => manager.get(`${server.url}/r${i}`));
  while (gates.length < 6) await tick(5);
  await tick(30);
  assert.equal(inFlight, 6);
  assert.equal(manager.queue.active(key), 6);
  assert.equal(manager.queue.waiting(key), 20);
  while (replies.some((r) => !r.isFinished)) {
    gates.shift()?.();
    await tick(2);
  }
  assert.equal(peak, 6);
  assert.ok(replies.every((r) => r.error === NetworkError.NoError));
  assert.equal(manager.queue.active(key), 0);
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("NetworkAccessManager counts each origin's slots apart, whatever order their requests come in", async () => {
  const gates: (() => void)[] = [];
  const hold = async () => {
    await new Promise<void>((resolve) => gates.push(resolve));
    return new Response("done");
  };
  await using a = serve(hold);
  await using b = serve(hold);
  await using manager = new NetworkAccessManager({ maxConnectionsPerHost: 1 });
  // One request to each origin first (the second to an origin takes the quickest way).
  for (const server of [a, b]) {
    const first = manager.get(`${server.url}/first`);
    while (gates.length < 1) await tick(5);
    gates.shift()!();
    await first.finished;
  }
  // Then both origins, in turn: each one's first request runs, its second waits for it.
  const replies = [b, b, a, a].map((server, i) => manager.get(`${server.url}/r${i}`));
  while (gates.length < 2) await tick(5);
  await tick(20);
  assert.equal(gates.length, 2);
  for (const server of [a, b]) {
    assert.equal(manager.queue.active(server.url), 1);
    assert.equal(manager.queue.waiting(server.url), 1);
  }
  while (replies.some((r) => !r.isFinished)) {
    gates.shift()?.();
    await tick(2);
  }
  assert.ok(replies.every((r) => r.error === NetworkError.NoError));
});

Deno.test("NetworkAccessManager: priorities reorder the queue", async () => {
  const served: string[] = [];
  const gates: (() => void)[] = [];
  await using server = serve(async (request) => {
    served.push(new URL(request.url).pathname.slice(1));
    await new Promise<void>((resolve) => gates.push(resolve));
    return new Response("ok");
  });
  await using manager = new NetworkAccessManager({ maxConnectionsPerHost: 1 });
  const replies: NetworkReply[] = [manager.get(`${server.url}/blocker`)];
  while (gates.length < 1) await tick(2);
  for (
    const [name, priority] of [["low", "low"], ["normal", "normal"], ["high", "high"]] as const
  ) {
    replies.push(manager.get(new NetworkRequest(`${server.url}/${name}`, { priority })));
  }
  while (replies.some((r) => !r.isFinished)) {
    gates.shift()?.();
    await tick(5);
  }
  assert.deepEqual(served, ["blocker", "high", "normal", "low"]);
});

Deno.test("NetworkReply.abort in every stage finishes once and frees the slot", async (t) => {
  const gates: (() => void)[] = [];
  await using server = serve(async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/slow-headers") {
      await new Promise<void>((resolve) => gates.push(resolve));
      return new Response("late");
    }
    let n = 0;
    return new Response(
      new ReadableStream({
        async pull(controller) {
          if (n++ > 1000) return controller.close();
          await tick(2);
          controller.enqueue(new Uint8Array(1024));
        },
      }),
    );
  });
  await using manager = new NetworkAccessManager({ maxConnectionsPerHost: 1 });
  const key = server.url;
  const finishedCount = (reply: NetworkReply) => {
    let count = 0;
    reply.addEventListener("finished", () => count++);
    return () => count;
  };

  await t.step("queued", async () => {
    const blocker = manager.get(`${server.url}/slow-headers`);
    while (gates.length < 1) await tick(2);
    const queued = manager.get(`${server.url}/stream`);
    const count = finishedCount(queued);
    await tick(5);
    assert.equal(manager.queue.waiting(key), 1);
    queued.abort();
    assert.equal(queued.isFinished, true);
    assert.equal(queued.error, NetworkError.OperationCanceledError);
    await tick(5);
    assert.equal(manager.queue.waiting(key), 0);
    assert.equal(count(), 1);
    blocker.abort();
    gates.shift()?.();
    await tick(5);
    assert.equal(manager.queue.active(key), 0);
  });

  await t.step("connecting (waiting for headers)", async () => {
    const reply = manager.get(`${server.url}/slow-headers`);
    const count = finishedCount(reply);
    while (gates.length < 1) await tick(2);
    assert.equal(manager.queue.active(key), 1);
    reply.abort();
    reply.abort();
    await tick(10);
    assert.equal(manager.queue.active(key), 0);
    assert.equal(reply.error, NetworkError.OperationCanceledError);
    assert.equal(count(), 1);
    gates.shift()?.();
  });

  await t.step("streaming", async () => {
    const reply = manager.get(`${server.url}/stream`);
    const count = finishedCount(reply);
    const iterator = reply[Symbol.asyncIterator]();
    assert.equal((await iterator.next()).done, false);
    assert.equal(manager.queue.active(key), 1);
    reply.abort();
    await assert.rejects(iterator.next(), { name: "NetworkReplyError", code: 5 });
    await tick(10);
    assert.equal(manager.queue.active(key), 0);
    assert.equal(count(), 1);
  });

  await t.step("breaking out of the iteration", async () => {
    const reply = manager.get(`${server.url}/stream`);
    for await (const _ of reply) break;
    assert.equal(reply.error, NetworkError.OperationCanceledError);
    await tick(10);
    assert.equal(manager.queue.active(key), 0);
  });

  await t.step("through the request's signal", async () => {
    const controller = new AbortController();
    const reply = manager.get(`${server.url}/stream`, { signal: controller.signal });
    await new Promise((resolve) => reply.addEventListener("readyread", resolve, { once: true }));
    controller.abort();
    await reply.finished;
    assert.equal(reply.error, NetworkError.OperationCanceledError);
    await tick(10);
    assert.equal(manager.queue.active(key), 0);
  });
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("NetworkAccessManager frees the slot of a small body as soon as it was received", async () => {
  await using server = serve(() => new Response("small body"));
  // readBufferSize 1: a reply nobody reads stops pulling its body after the first chunk.
  await using manager = new NetworkAccessManager({ maxConnectionsPerHost: 1, readBufferSize: 1 });
  const unread = manager.get(`${server.url}/a`);
  await new Promise((resolve) =>
    unread.addEventListener("metadatachanged", resolve, { once: true })
  );
  const second = manager.get(`${server.url}/b`);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    second.text(),
    new Promise<string>((resolve) => {
      timer = setTimeout(
        () => resolve("the second request waited for the unread body's slot"),
        2000,
      );
    }),
  ]);
  clearTimeout(timer);
  assert.equal(outcome, "small body");
  // All of it arrived: it finished unread, and its body is still there to read.
  await unread.finished;
  assert.equal(unread.error, NetworkError.NoError);
  assert.equal(await unread.text(), "small body");
});

Deno.test("a response recorded as bodyReceived frees its origin's slot at once", async (t) => {
  // A transport whose bodies are in memory: two chunks, pulled one at a time.
  const transport = (received: boolean) => () => {
    const chunks = ["part one, ", "part two"];
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const chunk = chunks.shift();
        if (chunk === undefined) controller.close();
        else controller.enqueue(new TextEncoder().encode(chunk));
      },
    }, { highWaterMark: 0 });
    return Promise.resolve(setResponseInfo(new Response(body), { bodyReceived: received }));
  };
  for (const received of [true, false]) {
    await t.step(`bodyReceived: ${received}`, async () => {
      // readBufferSize 1: a reply nobody reads stops pulling its body after the first chunk.
      await using manager = new NetworkAccessManager({
        transport: transport(received),
        maxConnectionsPerHost: 1,
        readBufferSize: 1,
      });
      const unread = manager.get("https://origin.test/a");
      const second = manager.get("https://origin.test/b");
      await tick(100);
      // Recorded as received, the first body holds no slot and the second is answered;
      // otherwise the second waits for the slot (status 0: no response yet).
      assert.equal(second.status, received ? 200 : 0);
      assert.equal(unread.isFinished, false);
      assert.equal(await unread.text(), "part one, part two");
      assert.equal(await second.text(), "part one, part two");
    });
  }
});

// A request that has to wait for a queue slot waits before it enters the pipeline, when nothing
// above the queue could answer it or send it elsewhere: it takes or joins its origin's queue when
// it is made, and the layers run once it has its slot.

/** A transport that answers each request when the test opens its gate, recording what it saw. */
function gated() {
  const seen: string[] = [];
  const gates: (() => void)[] = [];
  const transport: Handler = (exchange) => {
    seen.push(exchange.url.href);
    return new Promise((resolve, reject) => {
      gates.push(() => resolve(new Response(`answer to ${exchange.url.pathname}`)));
      exchange.signal.addEventListener("abort", () => reject(exchange.signal.reason));
    });
  };
  return { seen, gates, transport };
}

Deno.test("requests take or join their origin's queue when they are made, and leave it by priority", async () => {
  const { seen, gates, transport } = gated();
  await using manager = new NetworkAccessManager({ transport, maxConnectionsPerHost: 1 });
  const key = "http://queue.test";
  const replies = [
    manager.get("http://queue.test/first"),
    manager.get(new NetworkRequest("http://queue.test/low", { priority: "low" })),
    manager.get("http://queue.test/normal"),
    manager.get(new NetworkRequest("http://queue.test/high", { priority: "high" })),
  ];
  // At once, before any microtask: the first has the slot, the others wait in line.
  assert.equal(manager.queue.active(key), 1);
  assert.equal(manager.queue.waiting(key), 3);
  while (replies.some((reply) => !reply.isFinished)) {
    gates.shift()?.();
    await tick(1);
  }
  assert.deepEqual(seen.map((href) => new URL(href).pathname), [
    "/first",
    "/high",
    "/normal",
    "/low",
  ]);
  assert.ok(replies.every((reply) => reply.error === NetworkError.NoError));
  assert.equal(manager.queue.active(key), 0);
});

Deno.test("a request aborted or closed while it waits for a slot says which, and frees its place", async () => {
  const { seen, gates, transport } = gated();
  const manager = new NetworkAccessManager({ transport, maxConnectionsPerHost: 1 });
  const key = "http://queue.test";
  const first = manager.get("http://queue.test/first");
  const aborted = manager.get("http://queue.test/aborted");
  const next = manager.get("http://queue.test/next");
  const closed = manager.get("http://queue.test/closed");
  aborted.abort();
  assert.equal(aborted.error, NetworkError.OperationCanceledError);
  assert.equal(aborted.errorString, "Operation canceled");
  assert.equal(manager.queue.waiting(key), 2);
  while (gates.length === 0) await tick(1);
  gates.shift()!();
  await first.finished;
  while (gates.length === 0) await tick(1);
  assert.deepEqual(seen.map((href) => new URL(href).pathname), ["/first", "/next"]);
  await manager.close();
  assert.equal(next.error, NetworkError.OperationCanceledError);
  assert.equal(closed.error, NetworkError.OperationCanceledError);
  assert.equal(closed.errorString, "Operation canceled: the manager was closed");
  assert.equal(seen.length, 2);
  assert.equal(manager.queue.waiting(key), 0);
});

Deno.test("a request that waited for its slot is sent with the cookies set by the response before it", async () => {
  const cookies: (string | null)[] = [];
  let open: (() => void) | undefined;
  await using server = serve(async (request) => {
    cookies.push(request.headers.get("cookie"));
    if (new URL(request.url).pathname === "/login") {
      await new Promise<void>((resolve) => (open = resolve));
      return new Response("in", { headers: { "set-cookie": "session=abc; Path=/" } });
    }
    return new Response("page");
  });
  await using manager = new NetworkAccessManager({ maxConnectionsPerHost: 1 });
  // Made together: the page waits for the login's slot, and its cookies are read when it is sent.
  const login = manager.get(`${server.url}/login`);
  const page = manager.get(`${server.url}/page`);
  while (open === undefined) await tick(1);
  open();
  assert.equal(await login.text(), "in");
  assert.equal(await page.text(), "page");
  assert.deepEqual(cookies, [null, "session=abc"]);
});

Deno.test("what turns on while requests wait applies to them, and their slots are all given back", async (t) => {
  await t.step("a layer added at the request position answers them", async () => {
    const { seen, gates, transport } = gated();
    await using manager = new NetworkAccessManager({ transport, maxConnectionsPerHost: 1 });
    const first = manager.get("http://queue.test/first");
    const waiting = manager.get("http://queue.test/waiting");
    const after = manager.get("http://queue.test/after");
    manager.use((next) => (exchange) =>
      exchange.url.pathname === "/waiting"
        ? Promise.resolve(new Response("from the layer"))
        : next(exchange)
    );
    while (gates.length === 0) await tick(1);
    gates.shift()!();
    assert.equal(await first.text(), "answer to /first");
    assert.equal(await waiting.text(), "from the layer");
    while (gates.length === 0) await tick(1);
    gates.shift()!();
    assert.equal(await after.text(), "answer to /after");
    assert.deepEqual(seen.map((href) => new URL(href).pathname), ["/first", "/after"]);
    assert.equal(manager.queue.active("http://queue.test"), 0);
  });

  await t.step(
    "an HSTS store sends them to another origin, which has slots of its own",
    async () => {
      const { seen, gates, transport } = gated();
      await using manager = new NetworkAccessManager({ transport, maxConnectionsPerHost: 1 });
      const first = manager.get("http://queue.test/first");
      const waiting = manager.get("http://queue.test/waiting");
      manager.hstsStore = new MemoryHstsStore({ preload: [{ host: "queue.test" }] });
      while (gates.length === 0) await tick(1);
      gates.shift()!();
      await first.finished;
      while (gates.length === 0) await tick(1);
      assert.equal(seen[1], "https://queue.test/waiting");
      assert.equal(manager.queue.active("http://queue.test"), 0);
      assert.equal(manager.queue.active("https://queue.test"), 1);
      gates.shift()!();
      assert.equal(await waiting.text(), "answer to /waiting");
      assert.equal(manager.queue.active("https://queue.test"), 0);
    },
  );
});

Deno.test("a request's timeout and its own signal end it while it waits for a slot", async () => {
  const { seen, gates, transport } = gated();
  await using manager = new NetworkAccessManager({ transport, maxConnectionsPerHost: 1 });
  const key = "http://queue.test";
  const first = manager.get("http://queue.test/first");
  const timed = manager.get(new NetworkRequest("http://queue.test/timed", { timeout: 20 }));
  const controller = new AbortController();
  const signalled = manager.get(
    new NetworkRequest("http://queue.test/signalled", { signal: controller.signal }),
  );
  assert.equal(manager.queue.waiting(key), 2);
  controller.abort();
  await signalled.finished;
  assert.equal(signalled.error, NetworkError.OperationCanceledError);
  await timed.finished;
  assert.equal(timed.error, NetworkError.TimeoutError);
  assert.match(timed.errorString, /Timed out after 20 ms/);
  assert.equal(manager.queue.waiting(key), 0);
  while (gates.length === 0) await tick(1);
  gates.shift()!();
  assert.equal(await first.text(), "answer to /first");
  assert.deepEqual(seen.map((href) => new URL(href).pathname), ["/first"]);
  assert.equal(manager.queue.active(key), 0);
});

Deno.test("a one-shot body whose request is never sent is cancelled: aborted while it waits, or refused", async (t) => {
  await t.step("aborted while it waits for a slot", async () => {
    const { gates, transport } = gated();
    await using manager = new NetworkAccessManager({ transport, maxConnectionsPerHost: 1 });
    const first = manager.get("http://queue.test/first");
    const { stream, state } = cancelTracked();
    const upload = manager.post("http://queue.test/upload", stream);
    upload.abort();
    await upload.finished;
    await tick(1);
    assert.equal(state.cancelled, true);
    while (gates.length === 0) await tick(1);
    gates.shift()!();
    await first.finished;
  });

  await t.step("refused by the network switch", async () => {
    await using manager = new NetworkAccessManager({ networkAccessible: "not-accessible" });
    const { stream, state } = cancelTracked();
    const upload = manager.post("http://127.0.0.1:9/upload", stream);
    await upload.finished;
    assert.equal(upload.error, NetworkError.UnknownNetworkError);
    await tick(1);
    assert.equal(state.cancelled, true);
  });

  await t.step("sent: its stream is read, not cancelled", async () => {
    const received: number[] = [];
    await using manager = new NetworkAccessManager({
      transport: async (exchange) => {
        const opened = exchange.body!.open().body as ReadableStream<Uint8Array>;
        for await (const chunk of opened) received.push(...chunk);
        return new Response("stored");
      },
    });
    const { stream, state } = cancelTracked();
    assert.equal(await manager.post("http://queue.test/upload", stream).text(), "stored");
    await tick(1);
    assert.deepEqual(received, [1]);
    assert.equal(state.cancelled, false);
  });
});

/** The events a reply dispatches, in order (an error with its code). */
function heard(reply: NetworkReply): string[] {
  const events: string[] = [];
  for (const type of ["metadatachanged", "readyread", "redirected", "error", "finished"] as const) {
    reply.addEventListener(type, (event) => {
      events.push(type === "error" ? `error ${(event as NetworkErrorEvent).code}` : type);
    });
  }
  return events;
}

Deno.test("a request made from a URL alone waits for its slot, and is aborted, sent or closed, as one with a header of its own", async (t) => {
  // Either way the request's exchange is made when it has its slot (with a header of its own, from
  // the headers it kept). Each step runs both, with the same expectations.
  const kinds: [string, NetworkRequestInit][] = [
    ["from a URL alone", { priority: "high" }],
    ["with a header", { priority: "high", headers: { "x-kind": "header" } }],
  ];
  for (const [kind, init] of kinds) {
    await t.step(`${kind}: aborted while it waits, or sent once it has its slot`, async () => {
      const sent: unknown[][] = [];
      let open: (() => void) | undefined;
      await using manager = new NetworkAccessManager({
        maxConnectionsPerHost: 1,
        transport: (exchange) => {
          const { url, method, hop, body, request, reply } = exchange;
          sent.push([url.href, method, hop, body, request === reply.request, reply]);
          if (url.pathname === "/first") {
            return new Promise((resolve) => (open = () => resolve(new Response("first"))));
          }
          if (url.pathname === "/moved") {
            return Promise.resolve(
              new Response(null, { status: 302, headers: { location: "/final" } }),
            );
          }
          return Promise.resolve(new Response(`answer to ${url.pathname}`));
        },
      });
      const first = manager.get("http://queue.test/first");
      const aborted = manager.get("http://user:secret@queue.test/aborted?q=1", init);
      const moved = manager.get(new URL("http://queue.test/moved"), init);
      const replaced = manager.get("http://queue.test/replaced", init);
      const events = [aborted, moved, replaced].map(heard);
      assert.equal(manager.queue.waiting("http://queue.test"), 3);
      // What is read or set on a waiting request's own `url` is not what it is sent to.
      assert.equal(replaced.request.url.href, "http://queue.test/replaced");
      replaced.request.url = new URL("http://elsewhere.test/");
      aborted.abort();
      assert.equal(manager.queue.waiting("http://queue.test"), 2);
      assert.deepEqual(events[0], ["error 5", "finished"]);
      assert.equal(aborted.error, NetworkError.OperationCanceledError);
      assert.equal(aborted.errorString, "Operation canceled");
      assert.equal(aborted.request.url.href, "http://user:secret@queue.test/aborted?q=1");
      assert.equal(aborted.url.href, "http://queue.test/aborted?q=1");
      assert.equal(aborted.request.priority, "high");
      assert.equal(aborted.method, "GET");
      assert.equal(aborted.status, 0);
      while (open === undefined) await tick(1);
      open();
      // Each is sent once it has its slot (within a second), not left waiting.
      const ends = Promise.all([first, moved, replaced].map((reply) => reply.finished));
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([ends, new Promise((resolve) => (timer = setTimeout(resolve, 1000)))]);
      clearTimeout(timer);
      assert.deepEqual([first, moved, replaced].map((reply) => reply.isFinished), [
        true,
        true,
        true,
      ]);
      assert.equal(await first.text(), "first");
      assert.equal(await moved.text(), "answer to /final");
      assert.equal(await replaced.text(), "answer to /replaced");
      assert.deepEqual(sent, [
        ["http://queue.test/first", "GET", 0, null, true, first],
        ["http://queue.test/moved", "GET", 0, null, true, moved],
        ["http://queue.test/replaced", "GET", 0, null, true, replaced],
        ["http://queue.test/final", "GET", 1, null, true, moved],
      ]);
      assert.deepEqual(events[1], ["redirected", "metadatachanged", "readyread", "finished"]);
      assert.deepEqual(events[2], ["metadatachanged", "readyread", "finished"]);
      assert.equal(moved.url.href, "http://queue.test/final");
      assert.deepEqual(moved.redirects.map((url) => url.href), ["http://queue.test/final"]);
      assert.equal(moved.request.url.href, "http://queue.test/moved");
      assert.equal(replaced.url.href, "http://queue.test/replaced");
      assert.equal(replaced.request.url.href, "http://elsewhere.test/");
      assert.equal(manager.queue.active("http://queue.test"), 0);
    });

    await t.step(`${kind}: closed while it waits`, async () => {
      const sent: string[] = [];
      const manager = new NetworkAccessManager({
        maxConnectionsPerHost: 1,
        transport: ({ url, signal }) => {
          sent.push(url.href);
          return new Promise((_, reject) => signal.addEventListener("abort", () => reject()));
        },
      });
      const first = manager.get("http://queue.test/first");
      const closed = manager.get("http://queue.test/closed", init);
      const events = heard(closed);
      while (sent.length === 0) await tick(1);
      await manager.close();
      assert.deepEqual(events, ["error 5", "finished"]);
      assert.equal(closed.error, NetworkError.OperationCanceledError);
      assert.equal(closed.errorString, "Operation canceled: the manager was closed");
      assert.equal(closed.url.href, "http://queue.test/closed");
      assert.deepEqual(sent, ["http://queue.test/first"]);
      assert.equal(first.error, NetworkError.OperationCanceledError);
    });
  }
});

Deno.test("a request made from a URL alone holds no exchange while it waits for its slot", async () => {
  // Each waiting request's share of the heap, after full collections, in a process of its own:
  // its reply, request and place in line, without the URL, exchange and monitor it is sent with.
  const script = new URL("./testdata/queued_memory.ts", import.meta.url).pathname;
  const output = await runDeno(["run", "-A", "--v8-flags=--expose-gc", script, "20000"]);
  assert.equal(output.code, 0, output.stderr);
  const { waiting, bytesPerRequest } = JSON.parse(output.stdout) as {
    waiting: number;
    bytesPerRequest: number;
  };
  assert.equal(waiting, 20_000);
  assert.ok(bytesPerRequest < 900, `${bytesPerRequest} bytes a waiting request`);
});

Deno.test("a request with headers of its own waits for its slot without its exchange, and is sent as it was at the call", async (t) => {
  // Made here, the request keeps its headers while it waits (`reply.request.headers`, read then,
  // is a copy); the caller's own request waits with copies of its URL and headers.
  const headers = { "x-a": "1", accept: "text/plain" };
  const ways: [
    string,
    (manager: NetworkAccessManager, path: string) => {
      reply: NetworkReply;
      change(): void;
    },
  ][] = [
    ["get(url, { headers })", (manager, path) => {
      const reply = manager.get(`http://queue.test${path}`, { headers });
      return {
        reply,
        change() {
          assert.deepEqual([...reply.request.headers], [["accept", "text/plain"], ["x-a", "1"]]);
          reply.request.headers.set("x-a", "changed");
          reply.request.headers.append("x-b", "2");
          reply.request.url = new URL("http://elsewhere.test/");
        },
      };
    }],
    ["get(request, { headers })", (manager, path) => {
      const request = new NetworkRequest(`http://queue.test${path}`, { headers: { "x-a": "1" } });
      const reply = manager.get(request, { headers: { accept: "text/plain" } });
      return {
        reply,
        change() {
          reply.request.headers.set("x-a", "changed");
          reply.request.headers = new Headers({ "x-c": "3" });
          reply.request.url.pathname = "/changed";
        },
      };
    }],
    ["get(new NetworkRequest(url, { headers }))", (manager, path) => {
      const request = new NetworkRequest(`http://queue.test${path}`, { headers });
      const own = request.headers;
      const reply = manager.get(request);
      return {
        reply,
        change() {
          own.set("x-a", "changed");
          own.append("x-b", "2");
          request.url.pathname = "/changed";
          request.url.host = "elsewhere.test";
        },
      };
    }],
  ];
  for (const [way, make] of ways) {
    await t.step(way, async () => {
      const sent: unknown[][] = [];
      const held: (() => void)[] = [];
      const manager = new NetworkAccessManager({
        maxConnectionsPerHost: 1,
        transport: (exchange) => {
          const { url, hop, signal } = exchange;
          sent.push([url.href, hop, [...exchange.headers]]);
          // What a layer writes to the exchange's headers is not the request's.
          exchange.headers.set("x-layer", "1");
          if (url.pathname === "/first" || url.pathname === "/last") {
            return new Promise((resolve, reject) => {
              held.push(() => resolve(new Response(url.pathname)));
              signal.addEventListener("abort", () => reject(signal.reason));
            });
          }
          if (url.pathname === "/moved") {
            return Promise.resolve(
              new Response(null, { status: 302, headers: { location: "/final" } }),
            );
          }
          return Promise.resolve(new Response(`answer to ${url.pathname}`));
        },
      });
      const first = manager.get("http://queue.test/first");
      const changed = make(manager, "/changed-after");
      const moved = make(manager, "/moved");
      const aborted = make(manager, "/aborted");
      const untouched = make(manager, "/untouched");
      const events = [changed, moved, aborted, untouched].map(({ reply }) => heard(reply));
      assert.equal(manager.queue.waiting("http://queue.test"), 4);
      // Shown with its headers while it waits.
      assert.match(
        Deno.inspect(untouched.reply.request),
        /headers: Headers { accept: "text\/plain", "x-a": "1" }/,
      );
      changed.change();
      moved.change();
      aborted.reply.abort();
      assert.deepEqual(events[2], ["error 5", "finished"]);
      assert.equal(aborted.reply.error, NetworkError.OperationCanceledError);
      while (held.length === 0) await tick(1);
      held.shift()!();
      await Promise.all(
        [first, changed.reply, moved.reply, untouched.reply].map((r) => r.finished),
      );
      assert.equal(await changed.reply.text(), "answer to /changed-after");
      assert.equal(await moved.reply.text(), "answer to /final");
      assert.equal(await untouched.reply.text(), "answer to /untouched");
      const atCall = [["accept", "text/plain"], ["x-a", "1"]];
      assert.deepEqual(sent, [
        ["http://queue.test/first", 0, []],
        ["http://queue.test/changed-after", 0, atCall],
        ["http://queue.test/moved", 0, atCall],
        ["http://queue.test/untouched", 0, atCall],
        ["http://queue.test/final", 1, atCall],
      ]);
      assert.deepEqual(events[1], ["redirected", "metadatachanged", "readyread", "finished"]);
      assert.equal(moved.reply.url.href, "http://queue.test/final");
      // A request whose headers nobody changed has them as they were, without the layers' writes.
      assert.deepEqual([...untouched.reply.request.headers], atCall);
      assert.deepEqual([...aborted.reply.request.headers], atCall);
      // Closed while it waits behind a request that holds the slot.
      const last = manager.get("http://queue.test/last");
      const closed = make(manager, "/closed");
      const closedEvents = heard(closed.reply);
      while (held.length === 0) await tick(1);
      await manager.close();
      assert.deepEqual(closedEvents, ["error 5", "finished"]);
      assert.equal(closed.reply.errorString, "Operation canceled: the manager was closed");
      assert.equal(last.error, NetworkError.OperationCanceledError);
      assert.equal(sent.length, 6);
      assert.equal(manager.queue.waiting("http://queue.test"), 0);
    });
  }
});

/** What a caller may do to a request's URL once its call returned, by name. */
const URL_CHANGES: [string, (request: NetworkRequest, origin: string) => void][] = [
  ["a new URL", (request, origin) => void (request.url = new URL(`${origin}/changed`))],
  ["the URL's pathname", (request) => void (request.url.pathname = "/changed")],
];

Deno.test("the reply of a caller's request shows the URL of the call until the response names one", async (t) => {
  // The caller may change its request once the call returned: what is sent is the request as it
  // was at the call, and so is `reply.url` (waiting for its slot, or sent and waiting for the
  // response's headers), until the response's URL replaces it.
  for (const [what, change] of URL_CHANGES) {
    await t.step(what, async () => {
      const arrived: string[] = [];
      const held: (() => void)[] = [];
      await using server = serve(async (request) => {
        const path = new URL(request.url).pathname;
        arrived.push(path);
        if (path !== "/final") {
          const { promise, resolve } = Promise.withResolvers<void>();
          held.push(resolve);
          await promise;
        }
        if (path === "/moved") {
          return new Response(null, { status: 302, headers: { location: "/final" } });
        }
        return new Response(`answer to ${path}`);
      });
      const origin = server.url;
      await using manager = new NetworkAccessManager({ maxConnectionsPerHost: 1 });
      const make = (path: string) => new NetworkRequest(`${origin}${path}`);
      const sentUntil = async (count: number) => {
        while (held.length < count) await tick(1);
      };
      // Sent at once (its exchange made at the call), then waiting for its slot: without its
      // exchange (a GET), and with it (a POST with a body).
      const requests = [make("/first"), make("/moved"), make("/later"), make("/posted")];
      const [first, moved, later] = requests.slice(0, 3).map((request) => manager.get(request));
      const posted = manager.post(requests[3]!, "body");
      assert.equal(manager.queue.waiting(origin), 3);
      for (const request of requests) change(request, origin);
      await sentUntil(1);
      assert.equal(first!.status, 0);
      assert.equal(first!.url.href, `${origin}/first`);
      assert.equal(moved!.url.href, `${origin}/moved`);
      assert.equal(posted.url.href, `${origin}/posted`);
      held[0]!(); // the first answers: the next one is sent
      await sentUntil(2);
      held[1]!(); // it redirects: a response names its URL
      await sentUntil(3);
      // `later`, read first now, is sent and waits for its response's headers.
      assert.equal(later!.status, 0);
      assert.equal(later!.url.href, `${origin}/later`);
      held[2]!();
      await sentUntil(4);
      held[3]!();
      await Promise.all([first, moved, later, posted].map((reply) => reply!.text()));
      // The hop to `/final` waits for the slot behind those that waited before it.
      assert.deepEqual(arrived, ["/first", "/moved", "/later", "/posted", "/final"]);
      assert.equal(moved!.url.href, `${origin}/final`);
      assert.deepEqual(
        [first, later, posted].map((reply) => reply!.url.href),
        [`${origin}/first`, `${origin}/later`, `${origin}/posted`],
      );
      assert.equal(requests[0]!.url.href, `${origin}/changed`);
    });
  }
});

Deno.test("the reply of a request made by the manager shows the URL it was sent to, whatever is done to reply.request", async (t) => {
  // `reply.request` is the request the manager made from the URL (and init) of the call; a
  // change to its `url` after the call is not sent, and does not show in `reply.url` either.
  for (const [what, change] of URL_CHANGES) {
    await t.step(what, async () => {
      const arrived: string[] = [];
      const held: (() => void)[] = [];
      await using server = serve(async (request) => {
        arrived.push(new URL(request.url).pathname);
        const { promise, resolve } = Promise.withResolvers<void>();
        held.push(resolve);
        await promise;
        return new Response("answer");
      });
      const origin = server.url;
      await using manager = new NetworkAccessManager({ maxConnectionsPerHost: 1 });
      // Sent at once, waiting without its exchange, waiting with its headers.
      const replies = [
        manager.get(`${origin}/first`),
        manager.get(`${origin}/second`),
        manager.get(`${origin}/third`, { headers: { "x-kind": "own" } }),
      ];
      assert.equal(manager.queue.waiting(origin), 2);
      for (const reply of replies) change(reply.request, origin);
      while (held.length < 1) await tick(1);
      assert.deepEqual(replies.map((reply) => reply.url.pathname), ["/first", "/second", "/third"]);
      for (let i = 0; i < 3; i++) {
        while (held.length <= i) await tick(1);
        held[i]!();
      }
      await Promise.all(replies.map((reply) => reply.text()));
      assert.deepEqual(arrived, ["/first", "/second", "/third"]);
      assert.deepEqual(replies.map((reply) => reply.url.pathname), ["/first", "/second", "/third"]);
    });
  }
});

Deno.test("a request with headers of its own holds no exchange while it waits for its slot", async (t) => {
  // As for a request made from a URL alone: each waiting request's share of the heap (its reply,
  // request and place in line, and, for the caller's own request, the entries of its headers as
  // they were at the call), in a process of its own.
  const script = new URL("./testdata/queued_memory.ts", import.meta.url).pathname;
  for (const [kind, most] of [["init", 1700], ["request", 2200]] as const) {
    await t.step(kind, async () => {
      const output = await runDeno(["run", "-A", "--v8-flags=--expose-gc", script, "20000", kind]);
      assert.equal(output.code, 0, output.stderr);
      const { waiting, bytesPerRequest } = JSON.parse(output.stdout) as {
        waiting: number;
        bytesPerRequest: number;
      };
      assert.equal(waiting, 20_000);
      assert.ok(bytesPerRequest < most, `${bytesPerRequest} bytes a waiting request`);
    });
  }
});
