import assert from "node:assert/strict";
import {
  MemoryCache,
  NetworkAccessManager,
  NetworkError,
  type NetworkProgressEvent,
  type NetworkReply,
  NetworkReplyError,
} from "../mod.ts";
import { countAbortControllers } from "./_helpers/abort_controllers.ts";
import {
  guardUnhandledRejections,
  readHead,
  serve,
  serveTcp,
  takeUnhandledRejections,
  tick,
} from "./_helpers/server.ts";

guardUnhandledRejections();

const MIB = 1024 * 1024;

function chunkedStream(total: number, chunk: number, onPull?: (sent: number) => void) {
  let sent = 0;
  const block = new Uint8Array(chunk).fill(7);
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      const n = Math.min(chunk, total - sent);
      sent += n;
      onPull?.(sent);
      controller.enqueue(n === chunk ? block : block.subarray(0, n));
    },
  }, { highWaterMark: 0 });
}

Deno.test("NetworkReply streams a 256 MiB body through the iterator in bounded memory", async () => {
  // Processes of their own, so that other tests running in parallel do not blur the figure.
  // The garbage collector frees chunks in batches (V8 collects after some tens of MiB of
  // buffers), so the baseline is the same body read from fetch's response.body.
  const script = new URL("./testdata/stream_memory.ts", import.meta.url);
  const grown = async (mode: "reply" | "fetch") => {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script.pathname, "256", mode],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const result = JSON.parse(new TextDecoder().decode(stdout)) as {
      size: number;
      grownMiB: number;
    };
    assert.equal(result.size, 256 * MIB);
    return result.grownMiB;
  };
  const reply = await grown("reply");
  const fetched = await grown("fetch");
  assert.ok(
    reply < Math.max(64, fetched + 16),
    `resident memory grew by ${reply.toFixed(1)} MiB for 256 MiB (fetch: ${
      fetched.toFixed(1)
    } MiB)`,
  );
});

Deno.test("NetworkReply back-pressure: a paused reader stops the server's writes", async () => {
  let produced = 0;
  await using server = serve(() =>
    new Response(chunkedStream(32 * MIB, 64 * 1024, (n) => (produced = n)))
  );
  await using manager = new NetworkAccessManager();
  const reply = manager.get(`${server.url}/paused`);
  const iterator = reply[Symbol.asyncIterator]();
  const first = await iterator.next();
  assert.equal(first.done, false);
  await tick(200);
  const whilePaused = produced;
  await tick(200);
  assert.equal(produced, whilePaused, "the server kept writing while the reader was paused");
  assert.ok(whilePaused < 16 * MIB, `produced ${whilePaused} bytes for a paused reader`);
  let size = first.value!.byteLength;
  for (;;) {
    const { value, done } = await iterator.next();
    if (done) break;
    size += value.byteLength;
  }
  assert.equal(size, 32 * MIB);
});

Deno.test("NetworkReply.readBufferSize bounds what is buffered while nobody reads", async () => {
  const total = 64 * MIB;
  let produced = 0;
  await using server = serve(() =>
    new Response(chunkedStream(total, 64 * 1024, (n) => (produced = n)))
  );
  await using manager = new NetworkAccessManager({ readBufferSize: 256 * 1024 });
  const reply = manager.get(`${server.url}/buffered`);
  // The server writes until the socket buffers between the two are full (how much they hold
  // depends on the kernel and the machine's load), then waits.
  let before = -1;
  for (let waited = 0; produced !== before && waited < 10_000; waited += 200) {
    before = produced;
    await tick(200);
  }
  assert.equal(produced, before, "the server kept writing while nobody read");
  assert.ok(produced < total, `the server wrote the whole body (${produced} bytes)`);
  assert.ok(reply.bytesReceived <= 256 * 1024 + 64 * 1024, `buffered ${reply.bytesReceived}`);
  assert.equal(reply.isFinished, false);
  assert.equal((await reply.bytes()).byteLength, total);
});

Deno.test("NetworkReply with the default buffer finishes without a reader", async () => {
  await using server = serve(() => new Response(chunkedStream(2 * MIB, 64 * 1024)));
  await using manager = new NetworkAccessManager();
  const reply = manager.get(`${server.url}/unread`);
  await reply.finished;
  assert.equal(reply.bytesReceived, 2 * MIB);
  assert.equal((await reply.bytes()).byteLength, 2 * MIB);
});

Deno.test("NetworkReply.finished is one promise, asked for early or late", async () => {
  await using server = serve(() => new Response("done"));
  await using manager = new NetworkAccessManager();
  // Asked for while running: it settles when the reply finishes.
  const early = manager.get(`${server.url}/early`);
  const waiting = early.finished;
  assert.equal(early.finished, waiting);
  await waiting;
  assert.equal(early.isFinished, true);
  // Asked for only after the reply finished (its body read): settled already.
  const late = manager.get(`${server.url}/late`);
  assert.equal(await late.text(), "done");
  let settled = false;
  void late.finished.then(() => (settled = true));
  await Promise.resolve();
  assert.equal(settled, true);
  assert.equal(late.finished, late.finished);
  // A reply that failed at once (an invalid URL) settles it too, never rejecting.
  const failed = manager.get("http://[bad/");
  await failed.finished;
  assert.notEqual(failed.errorString, "");
});

Deno.test("NetworkReply events come in order, once each, with progress", async () => {
  const total = 1 * MIB;
  await using server = serve(() =>
    new Response(chunkedStream(total, 128 * 1024), { headers: { "content-length": String(total) } })
  );
  await using manager = new NetworkAccessManager();
  const reply = manager.get(`${server.url}/events`);
  const events: string[] = [];
  const progress: [number, number][] = [];
  for (const type of ["metadatachanged", "readyread", "error", "finished"]) {
    reply.addEventListener(type, () => events.push(type));
  }
  reply.addEventListener("metadatachanged", () => assert.equal(reply.status, 200));
  reply.addEventListener("downloadprogress", (e) => {
    const { loaded, total } = e as NetworkProgressEvent;
    progress.push([loaded, total]);
  });
  await reply.finished;
  assert.equal(events[0], "metadatachanged");
  assert.equal(events.at(-1), "finished");
  assert.equal(events.filter((e) => e === "metadatachanged").length, 1);
  assert.equal(events.filter((e) => e === "finished").length, 1);
  assert.ok(!events.includes("error"));
  assert.ok(events.filter((e) => e === "readyread").length >= 1);
  assert.deepEqual(progress.at(-1), [total, total]);
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i]![0] >= progress[i - 1]![0]);
  assert.equal(reply.isRunning, false);
});

Deno.test("NetworkReply reports upload progress, ending with a last event at the total", async (t) => {
  await using server = serve(async (request) =>
    new Response(String((await request.arrayBuffer()).byteLength))
  );
  await using manager = new NetworkAccessManager();
  await t.step("a body of known length", async () => {
    const body = new Uint8Array(3 * MIB);
    const reply = manager.post(`${server.url}/up`, body);
    const events: [number, number][] = [];
    reply.addEventListener("uploadprogress", (e) => {
      const p = e as NetworkProgressEvent;
      events.push([p.loaded, p.total]);
    });
    assert.equal(await reply.text(), String(3 * MIB));
    assert.deepEqual(events[0], [0, 3 * MIB]);
    assert.deepEqual(events.at(-1), [3 * MIB, 3 * MIB]);
  });
  await t.step("a stream of unknown length", async () => {
    const reply = manager.post(`${server.url}/up`, chunkedStream(MIB, 64 * 1024));
    const events: [number, number][] = [];
    reply.addEventListener("uploadprogress", (e) => {
      const p = e as NetworkProgressEvent;
      events.push([p.loaded, p.total]);
    });
    assert.equal(await reply.text(), String(MIB));
    assert.ok(events.length >= 1, `${events.length} upload events`);
    assert.deepEqual(events.at(-1), [MIB, -1]);
  });
});

Deno.test("NetworkReply progress events come at most once per 100 ms, the first and the last always", async (t) => {
  const chunks = 256;
  const size = 4 * 1024;
  await using server = serve(async (request) => {
    if (request.method === "POST") await request.arrayBuffer();
    // Every chunk sent at once: without throttling there would be an event per chunk.
    return new Response(chunkedStream(chunks * size, size));
  });
  await using manager = new NetworkAccessManager();
  const check = (events: { loaded: number; total: number; at: number }[], last: number) => {
    assert.ok(events.length >= 2, `${events.length} events`);
    assert.ok(events.length < chunks, `${events.length} events for ${chunks} chunks`);
    assert.ok(events[0]!.loaded < last, "the first event comes before the end");
    assert.equal(events.at(-1)!.loaded, last, "the last event has the final count");
    // Every event but the last comes 100 ms or more after the one before.
    for (let i = 1; i < events.length - 1; i++) {
      assert.ok(events[i]!.at - events[i - 1]!.at >= 99, `events ${i - 1} and ${i} too close`);
    }
  };
  await t.step("downloadprogress", async () => {
    const reply = manager.get(`${server.url}/down`);
    const events: { loaded: number; total: number; at: number }[] = [];
    reply.addEventListener("downloadprogress", (e) => {
      events.push({ loaded: e.loaded, total: e.total, at: performance.now() });
    });
    assert.equal((await reply.bytes()).byteLength, chunks * size);
    check(events, chunks * size);
    assert.equal(events[0]!.loaded, size, "the first chunk is told at once");
  });
  await t.step("uploadprogress of a stream", async () => {
    const reply = manager.post(`${server.url}/up`, chunkedStream(chunks * size, size));
    const events: { loaded: number; total: number; at: number }[] = [];
    reply.addEventListener("uploadprogress", (e) => {
      events.push({ loaded: e.loaded, total: e.total, at: performance.now() });
    });
    await reply.bytes();
    check(events, chunks * size);
    assert.equal(events[0]!.loaded, 0, "the start of the upload is told at once");
  });
});

Deno.test("NetworkReply sends one downloadprogress event for a small body, not the last twice", async () => {
  await using server = serve(() => new Response("hello world"));
  await using manager = new NetworkAccessManager();
  const reply = manager.get(`${server.url}/small`);
  const events: [number, number][] = [];
  reply.addEventListener("downloadprogress", (e) => events.push([e.loaded, e.total]));
  assert.equal(await reply.text(), "hello world");
  assert.deepEqual(events, [[11, 11]]);
});

const PIECE = 1000;

/**
 * A server that sends a body of `pieces` pieces of 1,000 bytes with a Content-Length, each
 * piece once the client said it got the one before (`arrived()`), or after 3 s, so that a client
 * that waits for the whole body fails the test instead of hanging. With `cutAfter`, the
 * connection closes once the client got that many pieces.
 */
function trickle(pieces: number, cutAfter = pieces) {
  let next = Promise.withResolvers<void>();
  const state = { sent: 0 };
  const server = serveTcp(async (conn) => {
    await readHead(conn);
    await conn.write(new TextEncoder().encode(
      `HTTP/1.1 200 OK\r\nContent-Length: ${pieces * PIECE}\r\nConnection: close\r\n\r\n`,
    ));
    for (let i = 0; i < cutAfter; i++) {
      await conn.write(new Uint8Array(PIECE).fill(0x61));
      state.sent += PIECE;
      if (i + 1 === pieces) break;
      const timer = setTimeout(next.resolve, 3_000);
      await next.promise;
      clearTimeout(timer);
      next = Promise.withResolvers<void>();
    }
  });
  return { server, state, arrived: () => next.resolve() };
}

Deno.test("NetworkReply streams a small body of known length to whatever watches it arrive", async (t) => {
  await using manager = new NetworkAccessManager();
  await t.step("an iterator gets the chunks as they arrive", async () => {
    const { server, state, arrived } = trickle(3);
    await using _ = server;
    const reply = manager.get(`${server.url}/`);
    const chunks: [number, number][] = [];
    for await (const chunk of reply) {
      chunks.push([chunk.byteLength, state.sent]);
      arrived();
    }
    assert.equal(reply.error, NetworkError.NoError, reply.errorString);
    assert.ok(chunks.length > 1, `${chunks.length} chunks`);
    assert.equal(chunks.reduce((sum, [n]) => sum + n, 0), 3 * PIECE);
    assert.ok(chunks[0]![1] < 3 * PIECE, "the first chunk came before the server sent the rest");
  });
  for (const type of ["downloadprogress", "readyread"] as const) {
    await t.step(`a ${type} listener hears it arrive, read with bytes()`, async () => {
      // Two pieces: progress events come at most once per 100 ms, the last always.
      const { server, arrived } = trickle(2);
      await using _ = server;
      const reply = manager.get(`${server.url}/`);
      const heard: number[] = [];
      reply.addEventListener(type, () => {
        heard.push(reply.bytesReceived);
        arrived();
      });
      assert.equal((await reply.bytes()).byteLength, 2 * PIECE);
      assert.ok(heard[0]! < 2 * PIECE, `${type} before the end: ${heard.join()}`);
      assert.equal(heard.at(-1), 2 * PIECE);
    });
  }
  await t.step("an iterator of a body cut midway gets what arrived, then the error", async () => {
    const { server, arrived } = trickle(3, 1);
    await using _ = server;
    const reply = manager.get(`${server.url}/`);
    let size = 0;
    await assert.rejects(async () => {
      for await (const chunk of reply) {
        size += chunk.byteLength;
        arrived();
      }
    }, { name: "NetworkReplyError" });
    assert.equal(size, PIECE);
    assert.equal(reply.error, NetworkError.RemoteHostClosedError, reply.errorString);
  });
});

Deno.test("NetworkReply listeners added after the reply started get every later event", async () => {
  const release = Promise.withResolvers<void>();
  await using server = serve(() => {
    let n = 0;
    return new Response(
      new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (n === 1) await release.promise;
          if (n++ === 3) return controller.close();
          controller.enqueue(new Uint8Array(1024).fill(n));
        },
      }, { highWaterMark: 0 }),
    );
  });
  await using manager = new NetworkAccessManager({ readBufferSize: 1 });
  const reply = manager.get(`${server.url}/late`);
  // Nothing listens until the metadata and the first chunk have arrived.
  while (reply.bytesReceived === 0) await tick(1);
  const events: string[] = [];
  for (const type of ["readyread", "downloadprogress", "error", "finished"] as const) {
    reply.addEventListener(type, () => events.push(type));
  }
  manager.addEventListener("finished", () => events.push("manager finished"));
  release.resolve();
  let size = 0;
  for await (const chunk of reply) size += chunk.byteLength;
  assert.equal(size, 3 * 1024);
  assert.equal(events.filter((e) => e === "readyread").length, 2, events.join());
  assert.ok(events.includes("downloadprogress"));
  assert.deepEqual(events.slice(-3), ["downloadprogress", "finished", "manager finished"]);
  assert.ok(!events.includes("error"));
});

Deno.test("NetworkReply dispatches no event after finished when aborted as a redirect, retry or challenge arrives", async (t) => {
  const cases = [
    { type: "redirected", status: 302, headers: { location: "/next" }, options: {} },
    { type: "retry", status: 503, headers: {}, options: { retry: true } },
    {
      type: "authenticationrequired",
      status: 401,
      headers: { "www-authenticate": 'Basic realm="r"' },
      options: {},
    },
  ] as const;
  for (const { type, status, headers, options } of cases) {
    await t.step(`${type}: the reply is aborted as the response head arrives`, async () => {
      let sent = 0;
      let asked = 0;
      await using manager = new NetworkAccessManager({
        ...options,
        authenticator: () => {
          asked++;
          return { username: "u", password: "p" };
        },
        transport: (exchange) => {
          sent++;
          // The abort lands while the layers above read the response (a timer, a signal).
          queueMicrotask(() => exchange.reply.abort());
          return Promise.resolve(new Response("body", { status, headers }));
        },
      });
      const reply = manager.get("http://example.com/start");
      const events: string[] = [];
      for (const name of [type, "error", "finished"] as const) {
        reply.addEventListener(name, () => events.push(name));
      }
      manager.addEventListener("finished", () => events.push("manager finished"));
      await reply.finished;
      await tick(20);
      assert.deepEqual(events, ["error", "finished", "manager finished"]);
      assert.equal(reply.error, NetworkError.OperationCanceledError);
      assert.equal(sent, 1);
      assert.equal(asked, 0, "the authenticator is not asked for a finished reply");
      assert.equal(reply.url.href, "http://example.com/start");
      assert.deepEqual(reply.redirects, []);
      assert.equal(reply.retries, 0);
    });
  }
  await t.step(
    "abort() in an authenticationrequired listener: the authenticator is not asked",
    async () => {
      let asked = 0;
      await using manager = new NetworkAccessManager({
        authenticator: () => {
          asked++;
          return { username: "u", password: "p" };
        },
        transport: () =>
          Promise.resolve(
            new Response(null, { status: 401, headers: { "www-authenticate": 'Basic realm="r"' } }),
          ),
      });
      const reply = manager.get("http://example.com/start");
      reply.addEventListener("authenticationrequired", () => reply.abort());
      await reply.finished;
      await tick(20);
      assert.equal(reply.error, NetworkError.OperationCanceledError);
      assert.equal(asked, 0);
    },
  );
  await t.step("abort() in a redirected listener: the redirect is not followed", async () => {
    const sent: string[] = [];
    let verified = 0;
    await using manager = new NetworkAccessManager({
      redirectPolicy: "user-verified",
      redirectVerifier: () => ++verified > 0,
      transport: (exchange) => {
        sent.push(exchange.url.pathname);
        return Promise.resolve(new Response(null, { status: 302, headers: { location: "/next" } }));
      },
    });
    const reply = manager.get("http://example.com/start");
    reply.addEventListener("redirected", () => reply.abort());
    await reply.finished;
    await tick(20);
    assert.equal(reply.error, NetworkError.OperationCanceledError);
    assert.deepEqual(sent, ["/start"]);
    assert.equal(verified, 0, "the redirectVerifier is not asked");
    assert.equal(reply.url.href, "http://example.com/start", "the URL it had when it finished");
    assert.deepEqual(reply.redirects, []);
  });
});

Deno.test("NetworkReply listeners that throw stop neither the reply nor the listeners after them", async () => {
  // Deno reports a listener's exception as an `error` event on globalThis; unhandled, it would
  // end the program as an uncaught exception does.
  const reported: string[] = [];
  const report = (event: ErrorEvent) => {
    reported.push((event.error as Error).message);
    event.preventDefault();
  };
  globalThis.addEventListener("error", report);
  try {
    await using server = serve(() => new Response("hello"));
    await using manager = new NetworkAccessManager();
    const reply = manager.get(`${server.url}/throws`);
    const heard: string[] = [];
    for (const type of ["metadatachanged", "readyread", "downloadprogress", "finished"] as const) {
      reply.addEventListener(type, () => {
        throw new Error(`${type} listener`);
      });
      reply.addEventListener(type, () => heard.push(type));
    }
    manager.addEventListener("finished", () => heard.push("manager finished"));
    assert.equal(await reply.text(), "hello");
    assert.equal(reply.error, NetworkError.NoError);
    assert.deepEqual(heard, [
      "metadatachanged",
      "readyread",
      "downloadprogress",
      "finished",
      "manager finished",
    ]);
    assert.deepEqual(reported, [
      "metadatachanged listener",
      "readyread listener",
      "downloadprogress listener",
      "finished listener",
    ]);
  } finally {
    globalThis.removeEventListener("error", report);
  }
});

Deno.test("NetworkReply iterator settles every pull it was given, when two wait at once", async () => {
  await using server = serve(() => new Response(chunkedStream(3 * 1024, 1024)));
  await using manager = new NetworkAccessManager();
  const reply = manager.get(`${server.url}/prefetch`);
  const iterator = reply[Symbol.asyncIterator]();
  // Two pulls before any byte arrived, as a reader that prefetches makes them.
  let settled = 0;
  const pulls = [iterator.next(), iterator.next()].map((pull) =>
    pull.finally(() => settled++).catch((error) => error)
  );
  await Promise.race(pulls);
  reply.abort();
  await tick();
  assert.equal(settled, 2, "a pull made while another waited never settled");
  const [first, second] = await Promise.all(pulls);
  assert.equal(first.done, false);
  assert.ok(
    second instanceof NetworkReplyError
      ? second.code === NetworkError.OperationCanceledError
      : second.done === false,
    String(second),
  );
});

Deno.test("NetworkReply transfer timeout is reset by every byte moved", async () => {
  // The server's paced streams not yet closed or cancelled, and those pausing: a cancelled
  // stream may have one pause left.
  let open = 0;
  let pausing = 0;
  await using server = serve(() => {
    let n = 0;
    open++;
    return new Response(
      new ReadableStream({
        cancel: () => void open--,
        async pull(controller) {
          if (n++ >= 8) {
            open--;
            return controller.close();
          }
          pausing++;
          try {
            await tick(40);
          } finally {
            pausing--;
          }
          controller.enqueue(new Uint8Array(10));
        },
      }),
    );
  });
  await using manager = new NetworkAccessManager({ transferTimeout: 150 });
  const steady = manager.get(`${server.url}/steady`);
  assert.equal((await steady.bytes()).byteLength, 80);
  assert.equal(
    steady.error,
    NetworkError.NoError,
    "8 x 40 ms exceeds 150 ms in all, yet each gap is shorter",
  );
  const tight = manager.get(`${server.url}/steady`, { transferTimeout: 20 });
  await tight.finished;
  assert.equal(tight.error, NetworkError.TimeoutError);
  // Until the server's paced stream has ended (cancelled, or closed after its 8 pieces) and run
  // its last pause.
  while (open > 0 || pausing > 0) await tick(10);
});

Deno.test("NetworkReply transfer timeout counts the bytes of a small body as they arrive", async () => {
  // 32 KiB with a Content-Length, trickled in 80 pieces 20 ms apart: 1.6 s in all, far past
  // the timeout, with every gap far below it.
  const release = Promise.withResolvers<void>();
  let restSent = false;
  await using server = serveTcp(async (conn) => {
    await readHead(conn);
    const piece = new Uint8Array(410).fill(0x61);
    await conn.write(new TextEncoder().encode(
      `HTTP/1.1 200 OK\r\nContent-Length: ${80 * 410}\r\nConnection: close\r\n\r\n`,
    ));
    await conn.write(piece);
    // The rest waits until the client has seen the headers (or 5 s, to fail clearly).
    const fallback = Promise.withResolvers<void>();
    const timer = setTimeout(fallback.resolve, 5_000);
    await Promise.race([release.promise, fallback.promise]);
    clearTimeout(timer);
    restSent = true;
    for (let i = 1; i < 80; i++) {
      await tick(20);
      await conn.write(piece);
    }
  });
  await using manager = new NetworkAccessManager({ transferTimeout: 800 });
  const reply = manager.get(`http://127.0.0.1:${server.port}/`);
  let headersBeforeBody: boolean | undefined;
  reply.addEventListener("metadatachanged", () => {
    headersBeforeBody = !restSent;
    release.resolve();
  });
  const body = await reply.bytes();
  assert.equal(reply.error, NetworkError.NoError, reply.errorString);
  assert.equal(body.byteLength, 80 * 410);
  assert.equal(headersBeforeBody, true, "the headers were reported before the body arrived");
});

Deno.test("NetworkReply transfer timeout pauses while the reader does not pull", async (t) => {
  await using server = serve(() => new Response(chunkedStream(4 * MIB, 64 * 1024)));
  await t.step("an iterating reader that pauses three timeouts long", async () => {
    await using manager = new NetworkAccessManager({ transferTimeout: 200 });
    const reply = manager.get(`${server.url}/`);
    let size = 0;
    let paused = false;
    for await (const chunk of reply) {
      size += chunk.byteLength;
      if (!paused) {
        paused = true;
        await tick(600);
      }
    }
    await reply.finished;
    assert.equal(reply.error, NetworkError.NoError, reply.errorString);
    assert.equal(size, 4 * MIB);
  });
  await t.step("a full read buffer nobody reads yet", async () => {
    await using manager = new NetworkAccessManager({ transferTimeout: 200, readBufferSize: MIB });
    const reply = manager.get(`${server.url}/`);
    await tick(600);
    assert.equal(reply.isRunning, true);
    assert.equal((await reply.bytes()).byteLength, 4 * MIB);
    assert.equal(reply.error, NetworkError.NoError, reply.errorString);
  });
  await t.step("a silent server still times out while the reader waits", async () => {
    await using silent = serveTcp(async (conn) => {
      await readHead(conn);
      await conn.write(
        new TextEncoder().encode("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf"),
      );
      while (await conn.read(new Uint8Array(1024)) !== null); // silent until the client goes
    });
    await using manager = new NetworkAccessManager({ transferTimeout: 200 });
    const reply = manager.get(`http://127.0.0.1:${silent.port}/`);
    await assert.rejects(async () => {
      for await (const _ of reply) { /* the first 4 bytes, then silence */ }
    }, /No data moved for 200 ms/);
    assert.equal(reply.error, NetworkError.TimeoutError);
  });
});

async function compress(
  bytes: Uint8Array<ArrayBuffer>,
  format: "gzip" | "deflate" | "deflate-raw" | "brotli",
): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([bytes]).stream().pipeThrough(
    new CompressionStream(format as CompressionFormat),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("NetworkReply passes a body in a coding it does not know as it came, whatever the coding's name", async () => {
  // Names an object has from its prototype must not pass for codings the library decodes.
  await using server = serve((request) =>
    new Response("as sent", {
      headers: { "content-encoding": new URL(request.url).pathname.slice(1) },
    })
  );
  await using manager = new NetworkAccessManager();
  for (const coding of ["constructor", "toString", "__proto__", "hasOwnProperty", "unknown"]) {
    // With a guard that weighs every byte too: no ratio is known for such a coding.
    for (const decompressionGuard of [undefined, 1]) {
      const reply = manager.get(`${server.url}/${coding}`, { decompressionGuard });
      assert.equal(await reply.text(), "as sent", coding);
      assert.equal(reply.error, NetworkError.NoError, `${coding}: ${reply.errorString}`);
    }
  }
});

Deno.test("NetworkReply bodies in a content coding are decoded by the library", async (t) => {
  const text = "a body worth compressing, ".repeat(4000);
  const seen: (string | null)[] = [];
  await using server = serve(async (request) => {
    seen.push(request.headers.get("accept-encoding"));
    const path = new URL(request.url).pathname;
    const format = path.includes("br")
      ? "brotli"
      : path.includes("deflate-raw")
      ? "deflate-raw"
      : path.includes("deflate")
      ? "deflate"
      : "gzip";
    const coding = format === "brotli"
      ? "br"
      : format === "deflate-raw"
      ? "deflate"
      : path.includes("x-gzip")
      ? "x-gzip"
      : format;
    const body = path.includes("corrupt")
      ? new TextEncoder().encode("this is not compressed at all")
      : await compress(new TextEncoder().encode(text), format);
    return new Response(path.includes("chunked") ? new Blob([body]).stream() : body, {
      headers: { "content-encoding": coding, "content-type": "text/plain" },
    });
  });
  await using manager = new NetworkAccessManager();
  const paths = [
    "/gzip",
    "/x-gzip",
    "/deflate",
    "/deflate-raw", // raw deflate under "deflate", as some servers send it
    "/br",
    "/gzip-chunked",
    "/deflate-raw-chunked",
    "/br-chunked",
  ];
  for (const path of paths) {
    await t.step(path, async () => {
      const reply = manager.get(`${server.url}${path}`);
      assert.equal(await reply.text(), text);
      assert.equal(reply.error, NetworkError.NoError);
      assert.equal(seen.at(-1), "identity", "fetch is asked not to decode");
    });
  }
  await t.step("a body that does not decode fails with ProtocolFailure", async () => {
    for (const path of ["/gzip-corrupt", "/br-corrupt-chunked"]) {
      const reply = manager.get(`${server.url}${path}`);
      await reply.finished;
      assert.equal(reply.error, NetworkError.ProtocolFailure, reply.errorString);
      assert.match(reply.errorString, /body of .* cannot be decoded/);
    }
  });
  await t.step("an Accept-Encoding of the caller's own is sent as it is", async () => {
    const reply = manager.get(`${server.url}/gzip`, { headers: { "accept-encoding": "gzip" } });
    assert.equal(await reply.text(), text, "fetch decoded it");
    assert.equal(seen.at(-1), "gzip");
  });
  await t.step("with the guard off, fetch negotiates and decodes", async () => {
    const reply = manager.get(`${server.url}/br-chunked`, { decompressionGuard: -1 });
    assert.equal(await reply.text(), text);
    assert.notEqual(seen.at(-1), "identity");
  });
});

Deno.test("NetworkReply decodes stacked content codings in the order they were applied", async (t) => {
  const text = "a body worth compressing twice, ".repeat(4000);
  const plain = new TextEncoder().encode(text);
  /** Applies each format in turn, as a server lists them in Content-Encoding. */
  const stack = async (bytes: Uint8Array<ArrayBuffer>, formats: string[]) => {
    for (const format of formats) bytes = await compress(bytes, format as "gzip");
    return bytes;
  };
  const bodies = new Map<string, [string[], string[]]>([
    // path: [formats applied, Content-Encoding lines]
    ["/gzip-br", [["gzip", "brotli"], ["gzip, br"]]],
    ["/two-lines", [["gzip", "deflate"], ["gzip", "deflate"]]],
    ["/br-gzip-chunked", [["brotli", "gzip"], ["BR , gzip"]]],
    ["/with-identity", [["gzip"], ["identity, gzip"]]],
    ["/unknown-inside", [["gzip"], ["x-unknown, gzip"]]],
  ]);
  await using server = serve(async (request) => {
    const path = new URL(request.url).pathname;
    const [formats, lines] = bodies.get(path)!;
    const body = await stack(plain, formats);
    const headers = new Headers();
    for (const line of lines) headers.append("content-encoding", line);
    return new Response(path.includes("chunked") ? new Blob([body]).stream() : body, { headers });
  });
  await using manager = new NetworkAccessManager();
  for (const path of ["/gzip-br", "/two-lines", "/br-gzip-chunked", "/with-identity"]) {
    await t.step(path, async () => {
      const reply = manager.get(`${server.url}${path}`);
      assert.equal(await reply.text(), text);
      assert.equal(reply.error, NetworkError.NoError, reply.errorString);
    });
  }
  await t.step("a stack with a coding the library does not know passes as it came", async () => {
    const reply = manager.get(`${server.url}/unknown-inside`);
    assert.deepEqual(await reply.bytes(), await stack(plain, ["gzip"]));
    assert.equal(reply.error, NetworkError.NoError);
  });
  await t.step("the decompression guard weighs a stack too", async () => {
    const bomb = await stack(new Uint8Array(64 * MIB), ["gzip", "gzip"]);
    await using bombs = serve(() =>
      new Response(bomb, { headers: { "content-encoding": "gzip, gzip" } })
    );
    const reply = manager.get(`${bombs.url}/`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolFailure, reply.errorString);
    assert.match(reply.errorString, /decompression bomb/);
    assert.ok(reply.bytesReceived < 12 * MIB, `${reply.bytesReceived} bytes decompressed`);
  });
});

async function gzipBomb(decompressed: number): Promise<Uint8Array<ArrayBuffer>> {
  const stream = (chunkedStream(decompressed, MIB) as ReadableStream<BufferSource>).pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test("NetworkReply decompression guard stops a real gzip bomb", async (t) => {
  const bomb = await gzipBomb(64 * MIB);
  const plain = await gzipBomb(4 * MIB);
  await using server = serve((request) => {
    const body = new URL(request.url).pathname === "/bomb" ? bomb : plain;
    return new Response(body, {
      headers: { "content-encoding": "gzip", "content-type": "application/octet-stream" },
    });
  });
  await using manager = new NetworkAccessManager();
  await t.step("the bomb fails the reply with ProtocolFailure", async () => {
    const reply = manager.get(`${server.url}/bomb`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolFailure, reply.errorString);
    assert.match(reply.errorString, /decompression bomb/);
    assert.ok(
      reply.bytesReceived < 12 * MIB,
      `${reply.bytesReceived} bytes decompressed before stopping`,
    );
  });
  await t.step("below the 10 MiB threshold a high ratio passes", async () => {
    const reply = manager.get(`${server.url}/small`);
    assert.equal((await reply.bytes()).byteLength, 4 * MIB);
    assert.equal(reply.error, NetworkError.NoError);
  });
  await t.step("-1 turns the guard off per request", async () => {
    const reply = manager.get(`${server.url}/bomb`, { decompressionGuard: -1 });
    let size = 0;
    for await (const chunk of reply) size += chunk.byteLength;
    assert.equal(size, 64 * MIB);
    assert.equal(reply.error, NetworkError.NoError);
  });
  await t.step("a chunked bomb (no Content-Length) fails too: the library counts", async () => {
    for (const format of ["gzip", "deflate", "brotli"] as const) {
      const compressed = await compress(new Uint8Array(64 * MIB), format);
      const coding = format === "brotli" ? "br" : format;
      await using chunked = serve(() =>
        new Response(new Blob([compressed]).stream(), { headers: { "content-encoding": coding } })
      );
      const reply = manager.get(`${chunked.url}/`);
      await reply.finished;
      assert.equal(reply.headers.get("content-length"), null, "sent chunked");
      assert.equal(reply.error, NetworkError.ProtocolFailure, `${coding}: ${reply.errorString}`);
      assert.match(reply.errorString, /decompression bomb/);
      // Brotli inflates its 104 bytes in one piece; gzip and deflate go slice by slice.
      if (format !== "brotli") {
        assert.ok(reply.bytesReceived < 12 * MIB, `${reply.bytesReceived} bytes decompressed`);
      }
    }
  });
  await t.step("a lower threshold per manager", async () => {
    await using strict = new NetworkAccessManager({ decompressionGuard: MIB });
    const reply = strict.get(`${server.url}/small`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolFailure);
  });
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("an aborted reply aborts its exchange's signal with an AbortError", async () => {
  const reasons: unknown[] = [];
  await using manager = new NetworkAccessManager({
    transport: (exchange) =>
      new Promise((_, reject) =>
        exchange.signal.addEventListener("abort", () => {
          reasons.push(exchange.signal.reason);
          reject(exchange.signal.reason);
        })
      ),
  });
  for (let i = 0; i < 2; i++) {
    const reply = manager.get("https://site.test/");
    await new Promise((resolve) => setTimeout(resolve, 0));
    reply.abort();
    await reply.finished;
    assert.equal(reply.error, NetworkError.OperationCanceledError);
    assert.equal(reply.errorString, "Operation canceled");
  }
  assert.equal(reasons.length, 2);
  for (const reason of reasons) {
    assert.ok(reason instanceof DOMException);
    assert.equal(reason.name, "AbortError");
    assert.equal(reason.message, "Operation canceled");
  }
});

Deno.test("A reply makes its exchanges' AbortController only when a layer or the transport reads the signal", async () => {
  await using quiet = new NetworkAccessManager({
    transport: () => Promise.resolve(new Response("ok")),
  });
  let made = await countAbortControllers(async () => {
    assert.equal(await quiet.get("http://signal.test/").text(), "ok");
  });
  assert.equal(made, 0, "a transport that never reads the signal: none made");
  await using reading = new NetworkAccessManager({
    transport: ({ signal }) => Promise.resolve(new Response(String(signal.aborted))),
  });
  made = await countAbortControllers(async () => {
    assert.equal(await reading.get("http://signal.test/").text(), "false");
  });
  assert.equal(made, 1);
  // A fresh hit of the cache never goes below the cache layer: none made either.
  await using cached = new NetworkAccessManager({
    cache: new MemoryCache(),
    transport: ({ signal }) =>
      Promise.resolve(
        new Response(String(signal.aborted), { headers: { "cache-control": "max-age=60" } }),
      ),
  });
  assert.equal(await cached.get("http://signal.test/").text(), "false");
  made = await countAbortControllers(async () => {
    const hit = cached.get("http://signal.test/");
    assert.equal(await hit.text(), "false");
    assert.equal(hit.fromCache, true);
  });
  assert.equal(made, 0, "a fresh cache hit: none made");
});

Deno.test("A request aborted while it waits in the queue makes no AbortController and frees its place", async () => {
  const hanging: (() => void)[] = [];
  await using manager = new NetworkAccessManager({
    maxConnectionsPerHost: 1,
    transport: ({ signal, url }) =>
      url.pathname === "/hang"
        ? new Promise<Response>((_, reject) => {
          hanging.push(() => reject(signal.reason));
          signal.addEventListener("abort", () => reject(signal.reason), { once: true });
        })
        : Promise.resolve(new Response("third")),
  });
  const first = manager.get("http://queue.test/hang");
  await tick(2);
  let second!: NetworkReply;
  const third = manager.get("http://queue.test/third");
  const made = await countAbortControllers(async () => {
    second = manager.get("http://queue.test/second", { priority: "high" });
    await tick(2);
    assert.equal(manager.queue.waiting("http://queue.test"), 2);
    second.abort();
  });
  assert.equal(made, 0, "sent, queued and aborted with no AbortController");
  assert.equal(second.error, NetworkError.OperationCanceledError);
  assert.equal(manager.queue.waiting("http://queue.test"), 1);
  first.abort();
  assert.equal(await third.text(), "third");
  assert.equal(hanging.length, 1);
});

Deno.test("A layer that first reads the exchange's signal after the reply was aborted finds it aborted", async () => {
  let resume!: () => void;
  const seen: unknown[] = [];
  await using manager = new NetworkAccessManager({
    transport: () => Promise.resolve(new Response("never")),
    layers: [(next) => async (exchange) => {
      await new Promise<void>((resolve) => (resume = resolve));
      seen.push(exchange.signal.aborted, (exchange.signal.reason as DOMException).name);
      return await next(exchange);
    }],
  });
  const reply = manager.get("http://late.test/");
  await tick(2);
  reply.abort();
  resume();
  await reply.finished;
  await tick(2);
  assert.deepEqual(seen, [true, "AbortError"]);
  assert.equal(reply.error, NetworkError.OperationCanceledError);
});

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
