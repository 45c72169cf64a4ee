import assert from "node:assert/strict";
import { NetworkAccessManager, NetworkError, NetworkRequest } from "../mod.ts";
import { MockTransport } from "../testing.ts";
import {
  closedPort,
  guardUnhandledRejections,
  readHead,
  serve,
  serveTcp,
  takeUnhandledRejections,
  tick,
} from "./_helpers/server.ts";

guardUnhandledRejections();

/** A peer that accepts connections, reads the request and never answers (until closed). */
function silentPeer() {
  return serveTcp(async (conn) => {
    await readHead(conn);
    await conn.read(new Uint8Array(1)).catch(() => null); // until the client goes away
  });
}

/** A server that sends its headers, then one byte every `every` ms for ever. */
function trickle(every: number) {
  return serve(() => {
    let timer: ReturnType<typeof setInterval> | undefined;
    return new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          timer = setInterval(() => controller.enqueue(new Uint8Array([46])), every);
        },
        cancel() {
          clearInterval(timer);
        },
      }),
    );
  });
}

Deno.test("the total timeout fails a reply whose server never answers with TimeoutError", async (t) => {
  await using peer = silentPeer();
  await t.step("the manager's timeout", async () => {
    await using manager = new NetworkAccessManager({ timeout: 200 });
    assert.equal(manager.timeout, 200);
    const reply = manager.get(`${peer.url}/slow`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.TimeoutError);
    assert.equal(
      reply.errorString,
      `Timed out after 200 ms: ${peer.url}/slow did not finish in time (timeout)`,
    );
    await assert.rejects(reply.text(), { name: "NetworkReplyError", code: 4 });
  });
  await t.step("a request's timeout wins over the manager's", async () => {
    await using manager = new NetworkAccessManager({ timeout: 600_000 });
    const reply = manager.get(`${peer.url}/slow`, { timeout: 100 });
    await reply.finished;
    assert.equal(reply.error, NetworkError.TimeoutError);
    assert.match(reply.errorString, /^Timed out after 100 ms: /);
  });
  await t.step("with retry on, the timeouts end the reply: they are not retried", async () => {
    const retry = { delay: 0 };
    await using manager = new NetworkAccessManager({ retry });
    for (const init of [{ timeout: 100 }, { transferTimeout: 100 }]) {
      const reply = manager.get(`${peer.url}/slow`, init);
      await reply.finished;
      assert.equal(reply.error, NetworkError.TimeoutError, JSON.stringify(init));
      assert.equal(reply.retries, 0);
    }
  });
  await t.step("the property is read when a request is sent", async () => {
    await using manager = new NetworkAccessManager();
    assert.equal(manager.timeout, 0, "off by default");
    manager.timeout = 100;
    const reply = manager.get(new NetworkRequest(`${peer.url}/slow`));
    await reply.finished;
    assert.equal(reply.error, NetworkError.TimeoutError);
  });
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("a proxy that never answers is bounded by the total timeout", async () => {
  await using proxy = silentPeer();
  await using manager = new NetworkAccessManager({
    proxy: { type: "http", url: `http://127.0.0.1:${proxy.port}` },
    timeout: 300,
  });
  const reply = manager.get("http://origin.example/");
  await reply.finished;
  assert.equal(reply.error, NetworkError.TimeoutError);
  assert.match(reply.errorString, /^Timed out after 300 ms: http:\/\/origin\.example\/ did not/);
});

Deno.test("the total timeout covers the body, which transferTimeout (inactivity) does not", async (t) => {
  await using server = trickle(20);
  await t.step("timeout: a body that never ends fails after the total time", async () => {
    await using manager = new NetworkAccessManager({ timeout: 400, transferTimeout: 60_000 });
    const reply = manager.get(server.url);
    let received = 0;
    const error = await (async () => {
      for await (const chunk of reply) received += chunk.byteLength;
    })().catch((e) => e);
    assert.equal(error?.code, NetworkError.TimeoutError);
    assert.equal(reply.error, NetworkError.TimeoutError);
    assert.ok(received > 0, "the body was moving");
  });
  await t.step("transferTimeout alone: a moving body is never timed out", async () => {
    await using manager = new NetworkAccessManager({ transferTimeout: 2_000 });
    const reply = manager.get(server.url);
    let received = 0;
    for await (const chunk of reply) {
      received += chunk.byteLength;
      if (received >= 30) break; // 600 ms of trickle, well past no timeout firing
    }
    assert.equal(reply.error, NetworkError.OperationCanceledError, "ended by break, not a timeout");
  });
});

Deno.test("a request signal from AbortSignal.timeout() fails the reply with TimeoutError", async (t) => {
  await using peer = silentPeer();
  await using manager = new NetworkAccessManager();
  await t.step("AbortSignal.timeout", async () => {
    const reply = manager.get(`${peer.url}/slow`, { signal: AbortSignal.timeout(100) });
    await reply.finished;
    assert.equal(reply.error, NetworkError.TimeoutError);
    assert.match(
      reply.errorString,
      new RegExp(`^Timed out: the request's signal aborted with a TimeoutError before ${peer.url}`),
    );
  });
  await t.step("an already timed-out signal", async () => {
    const signal = AbortSignal.timeout(1);
    await new Promise((resolve) => signal.addEventListener("abort", resolve));
    const reply = manager.get(`${peer.url}/slow`, { signal });
    await reply.finished;
    assert.equal(reply.error, NetworkError.TimeoutError);
  });
  await t.step("AbortSignal.any with a timeout keeps the timeout's reason", async () => {
    const user = new AbortController();
    const signal = AbortSignal.any([user.signal, AbortSignal.timeout(100)]);
    const reply = manager.get(`${peer.url}/slow`, { signal });
    await reply.finished;
    assert.equal(reply.error, NetworkError.TimeoutError);
  });
  await t.step("a plain abort is still OperationCanceledError", async () => {
    const controller = new AbortController();
    const reply = manager.get(`${peer.url}/slow`, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await reply.finished;
    assert.equal(reply.error, NetworkError.OperationCanceledError);
  });
});

Deno.test("timer options of 2^31 ms or more are rejected with a clear error", async (t) => {
  const tooLong = 2 ** 31;
  const message = (field: string, zero = "use 0 to turn it off") =>
    new RegExp(
      `'${
        field.replace(".", "\\.")
      }' must be at most 2147483647 ms \\(about 24\\.8 days, the longest timer\\), got 2147483648; ${zero}$`,
    );
  for (const field of ["timeout", "transferTimeout"] as const) {
    await t.step(`manager option ${field}`, () => {
      assert.throws(() => new NetworkAccessManager({ [field]: tooLong }), {
        name: "RangeError",
        message: message(field),
      });
    });
    await t.step(`manager property ${field}`, async () => {
      await using manager = new NetworkAccessManager();
      assert.throws(() => (manager[field] = tooLong), { name: "RangeError" });
      manager[field] = 2 ** 31 - 1; // the longest timer is accepted
      assert.equal(manager[field], 2 ** 31 - 1);
    });
    await t.step(`request attribute ${field}`, async () => {
      assert.throws(() => new NetworkRequest("https://example.com/", { [field]: tooLong }), {
        name: "RangeError",
        message: message(field),
      });
      await using manager = new NetworkAccessManager();
      const reply = manager.get("https://example.com/", { [field]: tooLong });
      await reply.finished;
      assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError);
      assert.match(reply.errorString, message(field));
    });
  }
  // For retry waits 0 means no wait, not retries off.
  const noWait = "use 0 to retry without waiting, or retry: false for no retries";
  const retryFields = [
    ["delay", noWait],
    ["backoffLimit", noWait],
    ["maxRetryAfter", "with 0 any Retry-After wait fails the reply at once"],
  ] as const;
  for (const [field, zero] of retryFields) {
    await t.step(`retry.${field}`, () => {
      assert.throws(() => new NetworkAccessManager({ retry: { [field]: tooLong } }), {
        name: "RangeError",
        message: message(`retry.${field}`, zero),
      });
    });
  }
  await t.step("connectToHost's timeout", async () => {
    await using manager = new NetworkAccessManager();
    await assert.rejects(manager.connectToHost("https://example.com/", { timeout: tooLong }), {
      name: "RangeError",
      message: /^Cannot connect to host: 'timeout' must be at most 2147483647 ms/,
    });
  });
  await t.step("a mock transport's latency", () => {
    assert.throws(() => new MockTransport({ latency: tooLong }), {
      name: "RangeError",
      message: /'latency' must be at most 2147483647 ms/,
    });
    assert.throws(() => new MockTransport().route("GET", "/", { body: "" }, { latency: tooLong }), {
      name: "RangeError",
      message: /'latency' must be at most 2147483647 ms/,
    });
  });
  await t.step("negative and fractional values keep their message", () => {
    assert.throws(() => new NetworkAccessManager({ timeout: -1 }), {
      message: /'timeout' must be a non-negative integer, got -1/,
    });
    assert.throws(() => new NetworkAccessManager({ timeout: 1.5 }), {
      message: /'timeout' must be a non-negative integer, got 1\.5/,
    });
  });
});

Deno.test("transferTimeout does not count a redirect hop's wait for a queue slot", async (t) => {
  // `/hold` answers after 500 ms, holding the only slot of the origin meanwhile; `/moved`
  // redirects at once to `/target`, which answers at once, and `/lost` to `/never`, which
  // answers only when the test ends.
  const end = Promise.withResolvers<void>();
  await using server = serve(async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/moved" || path === "/lost") {
      const location = path === "/moved" ? "/target" : "/never";
      return new Response(null, { status: 302, headers: { location } });
    }
    if (path === "/hold") await tick(500);
    if (path === "/never") await end.promise;
    return new Response(path);
  });
  try {
    for (const where of ["manager", "request"] as const) {
      await t.step(`the ${where}'s transferTimeout`, async () => {
        await using manager = new NetworkAccessManager({
          maxConnectionsPerHost: 1,
          transferTimeout: where === "manager" ? 200 : 0,
        });
        const moved = manager.get(`${server.url}/moved`, {
          transferTimeout: where === "request" ? 200 : undefined,
        });
        // Waits for the slot behind `moved`'s first hop, and takes it before its second hop.
        const hold = manager.get(`${server.url}/hold`, { transferTimeout: 2_000 });
        assert.equal(await moved.text(), "/target", moved.errorString);
        assert.equal(moved.error, NetworkError.NoError);
        assert.equal(moved.redirects.length, 1);
        assert.equal(await hold.text(), "/hold");
      });
    }
    await t.step("the hop times out once it is sent and nothing moves", async () => {
      await using manager = new NetworkAccessManager({
        maxConnectionsPerHost: 1,
        transferTimeout: 200,
      });
      const lost = manager.get(`${server.url}/lost`);
      const hold = manager.get(`${server.url}/hold`, { transferTimeout: 2_000 });
      const started = performance.now();
      await lost.finished;
      assert.equal(lost.error, NetworkError.TimeoutError);
      assert.match(lost.errorString, /^No data moved for 200 ms /);
      assert.ok(performance.now() - started >= 600, "500 ms in the queue, then 200 ms sent");
      assert.equal(await hold.text(), "/hold");
    });
  } finally {
    end.resolve();
  }
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("transferTimeout does not count the retry layer's wait before it sends again", async (t) => {
  // `/busy` answers 503 (after a Retry-After of 1 s for `?after`) once, then 200; `/stall`
  // answers 503 once, then its headers and no byte more until the test ends.
  const end = Promise.withResolvers<void>();
  const seen = new Map<string, number>();
  await using server = serve((request) => {
    const url = new URL(request.url);
    const hits = (seen.get(url.href) ?? 0) + 1;
    seen.set(url.href, hits);
    if (hits === 1) {
      const headers = url.search === "?after" ? { "retry-after": "1" } : undefined;
      return new Response("busy", { status: 503, headers });
    }
    if (url.pathname === "/stall") {
      return new Response(
        new ReadableStream({ start: (c) => void end.promise.then(() => c.close()) }),
      );
    }
    return new Response("done");
  });
  const retry = { delay: 300, jitter: false, limit: 1 };
  try {
    await t.step("a backoff wait after a 503", async () => {
      await using manager = new NetworkAccessManager({ retry, transferTimeout: 100 });
      const reply = manager.get(`${server.url}/busy`);
      assert.equal(await reply.text(), "done", reply.errorString);
      assert.equal(reply.retries, 1);
    });
    await t.step("a Retry-After wait", async () => {
      await using manager = new NetworkAccessManager({ retry, transferTimeout: 300 });
      const reply = manager.get(`${server.url}/busy?after`);
      assert.equal(await reply.text(), "done", reply.errorString);
      assert.equal(reply.retries, 1);
    });
    await t.step("a backoff wait after a refused connection", async () => {
      await using manager = new NetworkAccessManager({ retry });
      const reply = manager.get(`http://127.0.0.1:${closedPort()}/`, { transferTimeout: 100 });
      await reply.finished;
      assert.equal(reply.error, NetworkError.ConnectionRefusedError, reply.errorString);
      assert.equal(reply.retries, 1);
    });
    await t.step("the attempt sent again times out when nothing moves", async () => {
      await using manager = new NetworkAccessManager({ retry, transferTimeout: 200 });
      const started = performance.now();
      const reply = manager.get(`${server.url}/stall`);
      await reply.finished;
      assert.equal(reply.error, NetworkError.TimeoutError);
      assert.match(reply.errorString, /^No data moved for 200 ms /);
      assert.equal(reply.retries, 1);
      assert.ok(performance.now() - started >= 500, "300 ms of backoff, then 200 ms sent");
    });
  } finally {
    end.resolve();
  }
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("transferTimeout does not count the wait for the authenticator", async (t) => {
  await using server = serve((request) =>
    request.headers.get("authorization") === null
      ? new Response("sign in", { status: 401, headers: { "www-authenticate": 'Basic realm="r"' } })
      : new Response("signed in")
  );
  for (const answer of [{ username: "u", password: "p" }, undefined]) {
    await t.step(answer === undefined ? "it gives up" : "it answers", async () => {
      await using manager = new NetworkAccessManager({
        transferTimeout: 100,
        authenticator: async () => (await tick(300), answer),
      });
      const reply = manager.get(server.url);
      const body = await reply.text();
      if (answer === undefined) {
        assert.equal(reply.error, NetworkError.AuthenticationRequiredError, reply.errorString);
        assert.equal(body, "sign in");
      } else {
        assert.equal(reply.error, NetworkError.NoError, reply.errorString);
        assert.equal(body, "signed in");
      }
    });
  }
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("transferTimeout does not count the wait for the redirectVerifier", async (t) => {
  await using server = serve((request) =>
    new URL(request.url).pathname === "/moved"
      ? new Response(null, { status: 302, headers: { location: "/target" } })
      : new Response("target")
  );
  for (const allowed of [true, false]) {
    await t.step(allowed ? "it allows the hop" : "it refuses the hop", async () => {
      await using manager = new NetworkAccessManager({
        transferTimeout: 100,
        redirectPolicy: "user-verified",
        redirectVerifier: async () => (await tick(300), allowed),
      });
      const reply = manager.get(`${server.url}/moved`);
      await reply.finished;
      if (allowed) {
        assert.equal(reply.error, NetworkError.NoError, reply.errorString);
        assert.equal(await reply.text(), "target");
      } else {
        assert.equal(reply.error, NetworkError.InsecureRedirectError, reply.errorString);
      }
    });
  }
  assert.deepEqual(takeUnhandledRejections(), []);
});

/** What a raw server saw of a request: its head and the body bytes it read. */
interface Received {
  head: string;
  bodyBytes: number;
}

/**
 * A raw server that reads each request body `slice` bytes at a time with `gap` ms between reads
 * (`gap` -1: it never reads the body), then answers `200` with the number of body bytes read.
 * The heads it saw are kept in `received`.
 */
function bodyReader(slice: number, gap: number) {
  const received: Received[] = [];
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  const server = serveTcp(async (conn) => {
    const buffer = new Uint8Array(slice);
    const bytes: number[] = [];
    let head = "";
    let bodyBytes = 0;
    /** The last bytes read, to see a chunked body's end. */
    let tail = "";
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) return;
      if (head === "") {
        bytes.push(...buffer.subarray(0, n));
        const text = new TextDecoder().decode(new Uint8Array(bytes));
        const end = text.indexOf("\r\n\r\n");
        if (end === -1) continue;
        head = text.slice(0, end);
        bodyBytes = bytes.length - (end + 4);
        if (gap < 0) return await released; // until the test ends
      } else {
        bodyBytes += n;
        tail = (tail + new TextDecoder().decode(buffer.subarray(Math.max(0, n - 5), n))).slice(-5);
      }
      const length = /content-length: (\d+)/i.exec(head)?.[1];
      if (length !== undefined ? bodyBytes >= Number(length) : tail === "0\r\n\r\n") break;
      await tick(gap);
    }
    received.push({ head, bodyBytes });
    const answer = String(bodyBytes);
    await conn.write(
      new TextEncoder().encode(
        `HTTP/1.1 200 OK\r\nContent-Length: ${answer.length}\r\nConnection: close\r\n\r\n${answer}`,
      ),
    );
  });
  const close = () => (release(), server.close());
  return { server: { ...server, close, [Symbol.asyncDispose]: close }, received };
}

/** A stream of `size` zero bytes in chunks of 64 KiB, and how many of them were read from it. */
function zeros(size: number) {
  const source = { read: 0, stream: null as unknown as ReadableStream<Uint8Array> };
  source.stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (source.read >= size) return controller.close();
      const chunk = new Uint8Array(Math.min(64 * 1024, size - source.read));
      source.read += chunk.byteLength;
      controller.enqueue(chunk);
    },
  }, { highWaterMark: 0 });
  return source;
}

const UPLOAD = 8 * 1024 * 1024;

Deno.test("transferTimeout does not fail an upload the server reads slowly but steadily", async () => {
  // 64 KiB every 20 ms: the whole upload takes seconds, and the connection's buffers (a few MB
  // on loopback) take over a second to drain after the last byte was handed over.
  const { server, received } = bodyReader(64 * 1024, 20);
  await using _ = server;
  await using manager = new NetworkAccessManager({ transferTimeout: 800 });
  const bodies = {
    bytes: new Uint8Array(UPLOAD),
    string: "a".repeat(UPLOAD),
    blob: new Blob([new Uint8Array(UPLOAD)]),
    stream: zeros(UPLOAD).stream,
  };
  const started = performance.now();
  const results = await Promise.all(
    Object.entries(bodies).map(async ([kind, body]) => {
      const reply = manager.post(`${server.url}/${kind}`, body);
      const text = await reply.text().catch(() => "");
      // Bytes read by the server: a chunked body's framing adds some.
      const whole = kind === "stream" ? Number(text) > UPLOAD : text === String(UPLOAD);
      return `${kind}: ${reply.error} ${reply.errorString || (whole ? "whole" : text)}`;
    }),
  );
  const took = performance.now() - started;
  assert.deepEqual(results, Object.keys(bodies).map((kind) => `${kind}: 0 whole`));
  assert.ok(took > 1600, `the uploads took ${took} ms: longer than twice the timeout`);
  // The bodies of known length went with their Content-Length, as they would without a timeout.
  for (const { head } of received) {
    const kind = head.split(" ")[1]!.slice(1);
    const length = /content-length: (\d+)/i.exec(head)?.[1];
    const chunked = /transfer-encoding: chunked/i.test(head);
    if (kind === "stream") assert.ok(chunked && length === undefined, head);
    else assert.ok(!chunked && length === String(UPLOAD), head);
  }
});

Deno.test("transferTimeout fails an upload the server never reads, telling how far it got", async (t) => {
  const { server } = bodyReader(64 * 1024, -1);
  await using _ = server;
  await using manager = new NetworkAccessManager({ transferTimeout: 300 });
  const cases = [
    // Over what the connection's buffers hold, and under it.
    ["bytes", () => ({ body: new Uint8Array(4 * UPLOAD), read: undefined })],
    ["a Blob", () => ({ body: new Blob([new Uint8Array(4 * UPLOAD)]), read: undefined })],
    ["a stream", () => {
      const source = zeros(4 * UPLOAD);
      return { body: source.stream, read: () => source.read };
    }],
    ["a small body", () => ({ body: new Uint8Array(256 * 1024), read: undefined })],
  ] as const;
  for (const [name, make] of cases) {
    await t.step(name, async () => {
      const { body, read } = make();
      const started = performance.now();
      const reply = manager.post(server.url, body);
      const progress: number[] = [];
      reply.addEventListener("uploadprogress", (e) => progress.push(e.loaded));
      await reply.finished;
      const took = performance.now() - started;
      assert.equal(reply.error, NetworkError.TimeoutError, reply.errorString);
      assert.ok(took < 2000, `timed out after ${took} ms`);
      const last = progress.at(-1)!;
      if (name === "a small body") return;
      // What `fetch` took before the connection's buffers filled: told as the last progress.
      assert.ok(last > 0 && last < 4 * UPLOAD, `last progress ${progress.join(" ")}`);
      if (read !== undefined) assert.equal(last, read(), "the count of bytes handed over");
    });
  }
});
