import assert from "node:assert/strict";
import {
  NetworkAccessManager,
  NetworkError,
  NetworkReplyError,
  NetworkRequest,
  type ServerSentEvent,
} from "../mod.ts";
import { closedPort, serve } from "./_helpers/server.ts";

const encoder = new TextEncoder();
const SSE = { "content-type": "text/event-stream; charset=utf-8" };

/**
 * An event-stream server: connection N (from 0) is answered by `script[N]`, a body (closed
 * after it is sent), a Response, or "error" to break the connection after one event.
 */
function streamServer(script: (string | Response | "error")[]) {
  const requests: { headers: Headers }[] = [];
  const server = serve((request) => {
    const step = script[requests.length] ?? new Response(null, { status: 204 });
    requests.push({ headers: new Headers(request.headers) });
    if (step instanceof Response) return step;
    if (step === "error") {
      return new Response(
        new ReadableStream({
          start(controller) {
            controller.enqueue(encoder.encode("id: e1\ndata: before the break\n\n"));
            setTimeout(() => controller.error(new Error("connection lost")), 20);
          },
        }),
        { headers: SSE },
      );
    }
    return new Response(step, { headers: SSE });
  });
  return { server, requests };
}

async function collect(stream: AsyncIterable<ServerSentEvent>): Promise<ServerSentEvent[]> {
  const out: ServerSentEvent[] = [];
  for await (const event of stream) out.push(event);
  return out;
}

Deno.test("eventStream reconnects with Last-Event-ID after the server's retry time", async () => {
  const { server, requests } = streamServer([
    "retry: 30\nid: 1\ndata: a\n\nid: 2\ndata: b\n\n",
    "data: c\n\nid: 3\ndata: partial",
    "data: d\n\n",
  ]);
  await using _ = server;
  await using manager = new NetworkAccessManager();
  // Were the server's retry ignored, the 60 s reconnection time would let the deadline end the
  // stream after the first connection.
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), 20_000);
  const events = await collect(
    manager.eventStream(server.url, { reconnectionTime: 60_000, signal: deadline.signal }),
  );
  clearTimeout(timer);
  assert.deepEqual(events.map((e) => [e.data, e.lastEventId]), [
    ["a", "1"],
    ["b", "2"],
    ["c", "2"],
    ["d", "2"],
  ]);
  assert.equal(events[0]!.retry, 30);
  assert.deepEqual(requests.map((r) => r.headers.get("last-event-id")), [null, "2", "2", "2"]);
  assert.ok(requests.every((r) => r.headers.get("accept") === "text/event-stream"));
  assert.equal(requests.length, 4, "the 204 ended the stream");
});

Deno.test("eventStream reconnects after a broken connection", async () => {
  const { server, requests } = streamServer(["error", "data: after\n\n"]);
  await using _ = server;
  await using manager = new NetworkAccessManager();
  const events = await collect(manager.eventStream(server.url, { reconnectionTime: 10 }));
  assert.deepEqual(events.map((e) => e.data), ["before the break", "after"]);
  assert.equal(requests[1]!.headers.get("last-event-id"), "e1");
});

Deno.test("eventStream sends an ID beyond ASCII as UTF-8 in Last-Event-ID", async () => {
  const { server, requests } = streamServer(["id: 日本\ndata: a\n\n", "data: b\n\n"]);
  await using _ = server;
  await using manager = new NetworkAccessManager();
  const events = await collect(
    manager.eventStream(server.url, { reconnectionTime: 5, lastEventId: "é" }),
  );
  assert.deepEqual(events.map((e) => [e.data, e.lastEventId]), [["a", "日本"], ["b", "日本"]]);
  // A header value arrives one char per byte: the UTF-8 bytes of the ID.
  const sent = requests.map((r) => {
    const value = r.headers.get("last-event-id") ?? "";
    return new TextDecoder().decode(Uint8Array.from(value, (c) => c.charCodeAt(0)));
  });
  assert.deepEqual(sent, ["é", "日本", "日本"]);
});

Deno.test("eventStream reconnects after a refused connection, up to maxReconnects", async () => {
  const closed = serve(() => new Response(null));
  const url = closed.url;
  await closed.close();
  await using manager = new NetworkAccessManager();
  let attempts = 0;
  manager.addEventListener("finished", () => attempts++);
  const error = await collect(
    manager.eventStream(url, { reconnectionTime: 5, maxReconnects: 2 }),
  ).catch((e) => e);
  assert.ok(error instanceof NetworkReplyError, String(error));
  assert.equal(error.code, NetworkError.ConnectionRefusedError);
  assert.equal(attempts, 3);
});

Deno.test("eventStream does not reconnect after 204, another status or another type", async (t) => {
  await using manager = new NetworkAccessManager();
  await t.step("204 ends the stream quietly", async () => {
    const { server, requests } = streamServer([new Response(null, { status: 204 })]);
    await using _ = server;
    assert.deepEqual(await collect(manager.eventStream(server.url)), []);
    assert.equal(requests.length, 1);
  });
  await t.step("a 500 throws its error", async () => {
    const { server, requests } = streamServer([new Response("down", { status: 500 })]);
    await using _ = server;
    const error = await collect(manager.eventStream(server.url)).catch((e) => e);
    assert.ok(error instanceof NetworkReplyError, String(error));
    assert.equal(error.code, NetworkError.InternalServerError);
    assert.match(error.message, /answered 500 Internal Server Error; .* not reconnected/);
    assert.equal(requests.length, 1);
  });
  await t.step("a body that is not text/event-stream throws ProtocolFailure", async () => {
    const { server, requests } = streamServer([Response.json({ data: 1 })]);
    await using _ = server;
    const error = await collect(manager.eventStream(server.url)).catch((e) => e);
    assert.ok(error instanceof NetworkReplyError, String(error));
    assert.equal(error.code, NetworkError.ProtocolFailure);
    assert.match(error.message, /Content-Type "application\/json", not text\/event-stream/);
    assert.equal(requests.length, 1);
  });
});

Deno.test("eventStream stops on break and on an AbortSignal", async (t) => {
  await using manager = new NetworkAccessManager();
  await t.step("break aborts the connection and does not reconnect", async () => {
    let cancelled = false;
    const { server, requests } = streamServer([
      new Response(
        new ReadableStream({
          start(controller) {
            controller.enqueue(encoder.encode("data: 1\n\n"));
          },
          cancel() {
            cancelled = true;
          },
        }),
        { headers: SSE },
      ),
    ]);
    await using _ = server;
    for await (const event of manager.eventStream(server.url, { reconnectionTime: 1 })) {
      assert.equal(event.data, "1");
      break;
    }
    for (let i = 0; i < 500 && !cancelled; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(cancelled);
    assert.equal(requests.length, 1);
  });

  await t.step("a signal aborted while waiting to reconnect", async () => {
    const { server, requests } = streamServer(["data: 1\n\n"]);
    await using _ = server;
    const controller = new AbortController();
    const events: string[] = [];
    for await (
      const event of manager.eventStream(server.url, {
        signal: controller.signal,
        reconnectionTime: 60_000,
      })
    ) {
      events.push(event.data);
      setTimeout(() => controller.abort(), 20);
    }
    assert.deepEqual(events, ["1"]);
    assert.equal(requests.length, 1);
  });

  await t.step("the request's own signal, aborted mid-stream", async () => {
    const { server } = streamServer([
      new Response(
        new ReadableStream({
          start(controller) {
            controller.enqueue(encoder.encode("data: 1\n\n"));
          },
        }),
        { headers: SSE },
      ),
    ]);
    await using _ = server;
    const controller = new AbortController();
    const request = new NetworkRequest(server.url, { signal: controller.signal });
    const events: string[] = [];
    for await (const event of manager.eventStream(request)) {
      events.push(event.data);
      controller.abort();
    }
    assert.deepEqual(events, ["1"]);
    assert.equal(manager.runningReplies.length, 0);
  });
});

Deno.test("eventStream ends its wait to reconnect at once when the manager closes", async () => {
  // The server asks for 10 s between connections; close() 20 ms into the wait ends it.
  const { server, requests } = streamServer(["retry: 10000\ndata: 1\n\n"]);
  await using _ = server;
  const manager = new NetworkAccessManager();
  const events: string[] = [];
  let closedAt = 0;
  const error = await (async () => {
    for await (const event of manager.eventStream(server.url)) {
      events.push(event.data);
      setTimeout(() => {
        closedAt = Date.now();
        manager.close();
      }, 20);
    }
  })().catch((e) => e);
  const waited = Date.now() - closedAt;
  assert.deepEqual(events, ["1"]);
  assert.ok(error instanceof NetworkReplyError, String(error));
  assert.equal(error.code, NetworkError.OperationCanceledError);
  assert.match(error.message, /the manager was closed/);
  assert.ok(waited < 5000, `the stream threw ${waited} ms after close()`);
  assert.equal(requests.length, 1, "no connection after close()");
  await manager.close();
});

Deno.test("eventStream cuts a server's retry time too long for a timer to the longest timer", async (t) => {
  // A timer given more than 2^31 - 1 ms fires after 1 ms: the stream would reconnect in a loop.
  const cases: [string, string][] = [
    ["past 2^31 - 1", "retry: 2147483648\ndata: 1\n\n"],
    ["past 2^53", `retry: ${"9".repeat(30)}\ndata: 1\n\n`],
    ["past what a number holds", `retry: ${"9".repeat(400)}\ndata: 1\n\n`],
  ];
  for (const [name, body] of cases) {
    await t.step(name, async () => {
      const { server, requests } = streamServer(Array(50).fill(body));
      await using _ = server;
      await using manager = new NetworkAccessManager();
      const signal = AbortSignal.timeout(300);
      const events = await collect(manager.eventStream(server.url, { signal }));
      assert.deepEqual(events.map((e) => [e.data, e.retry]), [["1", 2 ** 31 - 1]]);
      assert.equal(requests.length, 1, "no reconnection within 300 ms");
    });
  }
});

Deno.test("eventStream refuses a reconnectionTime too long for a timer, naming the limit", async () => {
  await using manager = new NetworkAccessManager();
  for (const reconnectionTime of [2 ** 31, 99_999_999_999, Number.MAX_SAFE_INTEGER + 1]) {
    assert.throws(() => manager.eventStream("http://127.0.0.1:9/", { reconnectionTime }), {
      name: "RangeError",
      message: `Cannot open event stream: 'reconnectionTime' must be at most 2147483647 ms ` +
        `(about 24.8 days, the longest timer), got ${reconnectionTime}; use maxReconnects: 0 ` +
        "not to reconnect",
    });
  }
  // The longest timer itself is taken.
  const stream = manager.eventStream("http://127.0.0.1:9/", {
    reconnectionTime: 2 ** 31 - 1,
    signal: AbortSignal.abort(),
  });
  assert.deepEqual(await collect(stream), []);
});

Deno.test("eventStream counts the connections that ended without an event in its error", async (t) => {
  await using manager = new NetworkAccessManager();
  const cases: [name: string, script: string[], maxReconnects: number, message: RegExp][] = [
    ["events, then the end", ["data: a\n\ndata: b\n\n"], 0, /ended, and is not reconnected/],
    ["one connection without an event", [": nothing\n\n"], 0, /ended without an event/],
    [
      "an event, then two connections without one",
      ["data: a\n\n", "", ""],
      2,
      /ended 2 times in a row without an event/,
    ],
    ["no event at all", ["", ""], 1, /ended 2 times in a row without an event/],
  ];
  for (const [name, script, maxReconnects, message] of cases) {
    await t.step(name, async () => {
      const { server, requests } = streamServer(script);
      await using _ = server;
      const events: string[] = [];
      const error = await (async () => {
        const stream = manager.eventStream(server.url, { reconnectionTime: 1, maxReconnects });
        for await (const event of stream) events.push(event.data);
      })().catch((e) => e);
      assert.ok(error instanceof NetworkReplyError, String(error));
      assert.equal(error.code, NetworkError.RemoteHostClosedError);
      assert.match(error.message, message);
      assert.ok(error.message.endsWith(`(maxReconnects ${maxReconnects})`), error.message);
      assert.equal(requests.length, script.length);
    });
  }
});

Deno.test("eventStream sends a given lastEventId and the request's headers", async () => {
  const { server, requests } = streamServer(["data: x\n\n"]);
  await using _ = server;
  await using manager = new NetworkAccessManager();
  const request = new NetworkRequest(server.url, { headers: { authorization: "Bearer t" } });
  await collect(manager.eventStream(request, { lastEventId: "41", reconnectionTime: 1 }));
  assert.equal(requests[0]!.headers.get("last-event-id"), "41");
  assert.equal(requests[0]!.headers.get("authorization"), "Bearer t");
  assert.equal(requests[1]!.headers.get("authorization"), "Bearer t");
});

Deno.test("eventStream checks its options at once", () => {
  const manager = new NetworkAccessManager();
  for (const [options, shown] of [[[], "an array"], [null, "null"], ["x", '"x"']]) {
    assert.throws(() => manager.eventStream("https://example.com/", options as never), {
      name: "TypeError",
      message: `Cannot open event stream: 'options' must be an object, got ${shown}`,
    });
  }
  assert.throws(
    () => manager.eventStream("https://example.com/", { reconnectionTime: -5 }),
    /Cannot open event stream: 'reconnectionTime' must be a non-negative integer, got -5/,
  );
  assert.throws(
    () => manager.eventStream("https://example.com/", { lastEventId: "a\nb" }),
    /'lastEventId' must hold no control character but TAB/,
  );
  assert.throws(
    () => manager.eventStream("https://example.com/", { lastEventId: {} as never }),
    /'lastEventId' must be a string, got an object$/,
  );
  assert.throws(
    () => manager.eventStream("https://example.com/", { signal: "x" as never }),
    /'signal' must be an AbortSignal, got "x"$/,
  );
  void manager.close();
});

Deno.test("eventStream yields the events before a line past maxEventLength, then throws its reply's error", async () => {
  await using manager = new NetworkAccessManager({
    transport: () =>
      Promise.resolve(
        new Response(`data: ok\n\ndata: ${"x".repeat(200)}\n\n`, {
          headers: { "content-type": "text/event-stream" },
        }),
      ),
  });
  const taken: string[] = [];
  const error = await (async () => {
    for await (
      const event of manager.eventStream("https://example.com/feed", {
        maxEventLength: 100,
        reconnectionTime: 0,
      })
    ) taken.push(event.data);
  })().catch((e) => e);
  assert.deepEqual(taken, ["ok"]);
  assert.ok(error instanceof NetworkReplyError, String(error));
  assert.equal(error.code, NetworkError.ProtocolFailure);
  assert.match(error.message, /a line longer than 100 characters/);
  // The whole body had arrived: the reply takes the error all the same.
  assert.equal(error.reply?.error, NetworkError.ProtocolFailure);
  assert.equal(error.reply?.errorString, error.message);
});

Deno.test("eventStream fails with ProtocolFailure past maxEventLength and does not reconnect", async () => {
  const { server, requests } = streamServer([`data: ${"x".repeat(200)}\n\n`, "data: ok\n\n"]);
  await using _ = server;
  await using manager = new NetworkAccessManager();
  await assert.rejects(
    collect(manager.eventStream(server.url, { maxEventLength: 100, reconnectionTime: 0 })),
    (error: unknown) =>
      error instanceof NetworkReplyError && error.code === NetworkError.ProtocolFailure &&
      /a line longer than 100 characters/.test(error.message),
  );
  assert.equal(requests.length, 1);
  assert.throws(
    () => manager.eventStream(server.url, { maxEventLength: 1.5 }),
    /Cannot open event stream: 'maxEventLength' must be a non-negative integer, got 1.5/,
  );
});

Deno.test("eventStream reconnects to the URL its redirects led to", async (t) => {
  await using manager = new NetworkAccessManager();
  for (const status of [301, 302, 303, 307, 308]) {
    await t.step(`after a ${status}`, async () => {
      const paths: string[] = [];
      let served = 0;
      await using server = serve((request) => {
        const { pathname } = new URL(request.url);
        paths.push(pathname);
        if (pathname === "/old") {
          return new Response(null, { status, headers: { location: "/new" } });
        }
        if (++served > 2) return new Response(null, { status: 204 });
        return new Response(`id: ${served}\ndata: ${served}\n\n`, { headers: SSE });
      });
      const events = await collect(
        manager.eventStream(`${server.url}/old`, { reconnectionTime: 1 }),
      );
      assert.deepEqual(events.map((e) => e.data), ["1", "2"]);
      assert.deepEqual(paths, ["/old", "/new", "/new", "/new"]);
    });
  }

  await t.step("to another origin, without the request's credentials", async () => {
    const seen: (string | null)[] = [];
    await using target = serve((request) => {
      seen.push(request.headers.get("authorization"));
      if (seen.length > 2) return new Response(null, { status: 204 });
      return new Response(`data: ${seen.length}\n\n`, { headers: SSE });
    });
    let starts = 0;
    await using start = serve(() => {
      starts++;
      return new Response(null, { status: 307, headers: { location: `${target.url}/feed` } });
    });
    const request = new NetworkRequest(`${start.url}/feed`, {
      headers: { authorization: "Bearer secret" },
    });
    const events = await collect(manager.eventStream(request, { reconnectionTime: 1 }));
    assert.deepEqual(events.map((e) => e.data), ["1", "2"]);
    assert.equal(starts, 1, "the reconnections went to the redirect's target");
    assert.deepEqual(seen, [null, null, null]);
  });
});

Deno.test("eventStream fails without reconnecting on a status other than 200 or another type", async (t) => {
  await using manager = new NetworkAccessManager();
  const body = encoder.encode("data: never\n\n");
  const cases: [name: string, response: () => Response, code: number, message: RegExp][] = [
    ["201", () => new Response(body, { status: 201, headers: SSE }), 399, /answered 201 Created/],
    ["205", () => new Response(null, { status: 205, headers: SSE }), 399, /answered 205/],
    ["404", () => new Response(body, { status: 404, headers: SSE }), 203, /answered 404/],
    ["503", () => new Response(body, { status: 503, headers: SSE }), 403, /answered 503/],
    [
      "text/plain",
      () => new Response(body, { headers: { "content-type": "text/plain" } }),
      399,
      /Content-Type "text\/plain", not text\/event-stream/,
    ],
    ["no Content-Type", () => new Response(body), 399, /Content-Type "", not text\/event-stream/],
    [
      "a longer type that starts alike",
      () => new Response(body, { headers: { "content-type": "text/event-streams" } }),
      399,
      /Content-Type "text\/event-streams"/,
    ],
  ];
  for (const [name, response, code, message] of cases) {
    await t.step(name, async () => {
      const { server, requests } = streamServer([response()]);
      await using _ = server;
      const error = await collect(manager.eventStream(server.url, { reconnectionTime: 1 }))
        .catch((e) => e);
      assert.ok(error instanceof NetworkReplyError, String(error));
      assert.equal(error.code, code);
      assert.match(error.message, message);
      assert.match(error.message, /not reconnected/);
      assert.equal(requests.length, 1);
    });
  }
});

Deno.test("eventStream takes text/event-stream with parameters and in any case", async (t) => {
  await using manager = new NetworkAccessManager();
  for (
    const type of [
      "text/event-stream",
      "TEXT/Event-Stream",
      "text/event-stream;",
      "text/event-stream ; charset=utf-8",
    ]
  ) {
    await t.step(type, async () => {
      const { server } = streamServer([
        new Response("data: a\n\n", { headers: { "content-type": type } }),
      ]);
      await using _ = server;
      const events = await collect(manager.eventStream(server.url, { reconnectionTime: 1 }));
      assert.deepEqual(events.map((e) => e.data), ["a"]);
    });
  }
});

Deno.test("eventStream sends the last event ID the stream set, and none once it is reset", async () => {
  const { server, requests } = streamServer([
    "id: 1\ndata: a\n\n",
    "id\ndata: b\n\n",
    "id: 2\n\n",
    "id: 3\0\ndata: c\n\nid: 4\ndata: never dispatched\n",
  ]);
  await using _ = server;
  await using manager = new NetworkAccessManager();
  const events = await collect(manager.eventStream(server.url, { reconnectionTime: 1 }));
  assert.deepEqual(events.map((e) => [e.data, e.lastEventId]), [["a", "1"], ["b", ""], [
    "c",
    "2",
  ]]);
  assert.deepEqual(requests.map((r) => r.headers.get("last-event-id")), [
    null,
    "1",
    null,
    "2",
    "2",
  ]);
});

Deno.test("eventStream takes a retry from a block the connection never ended", async () => {
  // Were the retry ignored, the 60 s reconnection time would outlast the deadline.
  const { server, requests } = streamServer(["data: a\n\nretry: 5\n", "data: b\n\n"]);
  await using _ = server;
  await using manager = new NetworkAccessManager();
  const signal = AbortSignal.timeout(10_000);
  const events = await collect(
    manager.eventStream(server.url, { reconnectionTime: 60_000, signal }),
  );
  assert.deepEqual(events.map((e) => e.data), ["a", "b"]);
  assert.equal(requests.length, 3);
});

Deno.test("eventStream takes the request's Last-Event-ID header as the last event ID to resume from", async (t) => {
  await t.step("sent with the first request, and its events carry it", async () => {
    const { server, requests } = streamServer(["data: a\n\n", "id: 8\ndata: b\n\n"]);
    await using _ = server;
    await using manager = new NetworkAccessManager();
    const request = new NetworkRequest(server.url, { headers: { "last-event-id": "7" } });
    const events = await collect(manager.eventStream(request, { reconnectionTime: 1 }));
    assert.deepEqual(events.map((e) => [e.data, e.lastEventId]), [["a", "7"], ["b", "8"]]);
    assert.deepEqual(requests.map((r) => r.headers.get("last-event-id")), ["7", "7", "8"]);
  });
  await t.step("a header beyond ASCII is read as UTF-8", async () => {
    const { server, requests } = streamServer(["data: a\n\n"]);
    await using _ = server;
    await using manager = new NetworkAccessManager();
    // "é" as UTF-8 on the wire, one char per byte.
    const request = new NetworkRequest(server.url, { headers: { "last-event-id": "\xc3\xa9" } });
    const events = await collect(manager.eventStream(request, { reconnectionTime: 1 }));
    assert.deepEqual(events.map((e) => e.lastEventId), ["é"]);
    assert.deepEqual(requests.map((r) => r.headers.get("last-event-id")), ["\xc3\xa9", "\xc3\xa9"]);
  });
  await t.step("the same ID as the lastEventId option is fine; another is refused at once", () => {
    const manager = new NetworkAccessManager();
    const request = new NetworkRequest("https://example.com/feed", {
      headers: { "last-event-id": "7" },
    });
    void manager.eventStream(request, { lastEventId: "7" });
    assert.throws(
      () => manager.eventStream(request, { lastEventId: "9" }),
      (error) =>
        error instanceof TypeError &&
        error.message ===
          `Cannot open event stream: the request's Last-Event-ID header "7" and the 'lastEventId' option "9" differ; give the ID once`,
    );
    // Long IDs are cut, as messages show every string.
    const long = new NetworkRequest("https://example.com/feed", {
      headers: { "last-event-id": "a".repeat(70) },
    });
    assert.throws(() => manager.eventStream(long, { lastEventId: "b".repeat(70) }), {
      name: "TypeError",
      message: `Cannot open event stream: the request's Last-Event-ID header "${
        "a".repeat(57)
      }..." and the 'lastEventId' option "${"b".repeat(57)}..." differ; give the ID once`,
    });
    void manager.close();
  });
});

Deno.test("eventStream's error after another status or type quotes the start of the body, credentials masked", async (t) => {
  await using manager = new NetworkAccessManager();
  const problem = (status: number, detail: string) =>
    new Response(JSON.stringify({ type: "about:blank", status, detail }, null, 2), {
      status,
      headers: { "content-type": "application/problem+json" },
    });
  await t.step("a 401's problem document, without the token it echoes", async () => {
    const { server, requests } = streamServer([
      problem(401, "token sk-live-0123456789 has expired"),
    ]);
    await using _ = server;
    const request = new NetworkRequest(server.url, {
      headers: { authorization: "Bearer sk-live-0123456789" },
    });
    const error = await collect(manager.eventStream(request, { reconnectionTime: 1 }))
      .catch((e) => e);
    assert.ok(error instanceof NetworkReplyError, String(error));
    assert.equal(error.code, NetworkError.AuthenticationRequiredError);
    assert.equal(
      error.message,
      `The event stream at ${server.url}/ answered 401 Unauthorized; an event stream needs 200, ` +
        `and is not reconnected after another status; its body: { "type": "about:blank", ` +
        `"status": 401, "detail": "token [redacted] has expired" }`,
    );
    assert.equal(requests.length, 1);
  });
  await t.step("a 429's reason, and a type that is not text/event-stream", async () => {
    const { server, requests } = streamServer([
      problem(429, "slow down: 10 requests a minute"),
      Response.json({ error: "use /v2/stream" }),
    ]);
    await using _ = server;
    const limited = await collect(manager.eventStream(server.url, { reconnectionTime: 1 }))
      .catch((e) => e);
    assert.ok(limited instanceof NetworkReplyError, String(limited));
    assert.equal(limited.code, NetworkError.UnknownContentError);
    assert.match(limited.message, /answered 429 .*; its body: .*slow down: 10 requests a minute/);
    const wrong = await collect(manager.eventStream(server.url, { reconnectionTime: 1 }))
      .catch((e) => e);
    assert.ok(wrong instanceof NetworkReplyError, String(wrong));
    assert.equal(wrong.code, NetworkError.ProtocolFailure);
    assert.match(
      wrong.message,
      /not text\/event-stream; it is not reconnected; its body: \{"error":"use \/v2\/stream"\}$/,
    );
    assert.equal(requests.length, 2);
  });
  await t.step("a long body or one that does not end: its start", async () => {
    let stalled: ReadableStreamDefaultController<Uint8Array> | undefined;
    const { server, requests } = streamServer([
      new Response("x".repeat(100_000), { status: 503 }),
      new Response(
        new ReadableStream({
          start(controller) {
            stalled = controller;
            controller.enqueue(encoder.encode("overloaded, "));
          },
        }),
        { status: 502, headers: SSE },
      ),
    ]);
    await using _ = server;
    const long = await collect(manager.eventStream(server.url)).catch((e) => e);
    assert.ok(long instanceof NetworkReplyError, String(long));
    assert.equal(long.code, NetworkError.ServiceUnavailableError);
    assert.match(long.message, /; its body begins: x{200}\.\.\.$/);
    const open = await collect(manager.eventStream(server.url)).catch((e) => e);
    assert.ok(open instanceof NetworkReplyError, String(open));
    assert.match(open.message, /answered 502 Bad Gateway; .*; its body begins: overloaded,\.\.\.$/);
    assert.equal(requests.length, 2);
    try {
      stalled?.close();
    } catch {
      // cancelled with the reply
    }
  });
});

Deno.test("eventStream throws the failure of a layer on a redirect or a challenge as it is, without reconnecting", async (t) => {
  let served = 0;
  await using server = serve((request) => {
    served++;
    const to = new URL(request.url).pathname === "/a" ? "/b" : "file:///etc/passwd";
    return new Response(null, { status: 302, headers: { location: to } });
  });
  await using manager = new NetworkAccessManager();
  const cases: [path: string, init: { maxRedirects?: number }, code: number, message: RegExp][] = [
    ["/a", { maxRedirects: 0 }, NetworkError.TooManyRedirectsError, /^Too many redirects/],
    ["/b", {}, NetworkError.ProtocolUnknownError, /only http and https redirect targets/],
  ];
  for (const [path, init, code, message] of cases) {
    await t.step(`${path}: ${message.source}`, async () => {
      served = 0;
      const request = new NetworkRequest(`${server.url}${path}`, init);
      const error = await collect(manager.eventStream(request, { reconnectionTime: 1 }))
        .catch((e) => e);
      assert.ok(error instanceof NetworkReplyError, String(error));
      assert.equal(error.code, code);
      assert.match(error.message, message);
      assert.equal(error.reply?.status, 302);
      assert.equal(served, 1);
    });
  }
  await t.step("a challenge the authenticator fails on", async () => {
    await using challenge = serve(() =>
      new Response("sign in", { status: 401, headers: { "www-authenticate": 'Basic realm="x"' } })
    );
    await using strict = new NetworkAccessManager({
      authenticator: () => {
        throw new Error("keychain locked");
      },
    });
    const error = await collect(strict.eventStream(challenge.url)).catch((e) => e);
    assert.ok(error instanceof NetworkReplyError, String(error));
    assert.equal(error.code, NetworkError.AuthenticationRequiredError);
    assert.match(error.message, /'authenticator' threw \(keychain locked\)/);
    assert.equal(error.reply?.status, 401);
  });
});

Deno.test("eventStream fails before any response with the cause the reply's readers give", async (t) => {
  await using manager = new NetworkAccessManager();
  const port = closedPort();
  const caught = async (run: () => AsyncIterable<unknown>) => {
    try {
      for await (const _ of run()) { /* no event comes */ }
    } catch (error) {
      return error as NetworkReplyError;
    }
    assert.fail("no error");
  };
  for (
    const [name, url, maxReconnects] of [
      ["a refused connection", `http://127.0.0.1:${port}/`, 0],
      ["a refused connection, reconnected once", `http://127.0.0.1:${port}/`, 1],
      ["a bad URL", "example.com/events", 0],
    ] as const
  ) {
    await t.step(name, async () => {
      const streamed = await caught(() =>
        manager.eventStream(url, { maxReconnects, reconnectionTime: 1 })
      );
      const read = await caught(() => manager.get(url).events());
      assert.ok(streamed instanceof NetworkReplyError);
      assert.equal(streamed.code, read.code);
      assert.equal(streamed.message, read.message);
      assert.ok(streamed.cause !== undefined, "eventStream's error has a cause");
      assert.equal(String(streamed.cause), String(read.cause));
    });
  }
});
