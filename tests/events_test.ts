import assert from "node:assert/strict";
import {
  MemoryCache,
  NetworkAccessManager,
  type NetworkAccessManagerOptions,
  NetworkErrorEvent,
  NetworkProgressEvent,
  type NetworkReply,
  NetworkRequest,
} from "../mod.ts";
import { closedPort, pause, serve, tick } from "./_helpers/server.ts";

const TYPES = [
  "metadatachanged",
  "readyread",
  "downloadprogress",
  "uploadprogress",
  "redirected",
  "authenticationrequired",
  "retry",
  "error",
  "finished",
] as const;

/**
 * Records every event of `reply` and the manager's `finished` for it, in order: progress with
 * its counts, `error` with its code. An event dispatched after the reply's `finished` is marked.
 */
function record(manager: NetworkAccessManager, reply: NetworkReply): string[] {
  const events: string[] = [];
  let over = false;
  for (const type of TYPES) {
    reply.addEventListener(type, (event: Event) => {
      let line: string = type;
      if (event instanceof NetworkProgressEvent) line += ` ${event.loaded}/${event.total}`;
      if (event instanceof NetworkErrorEvent) line += ` ${event.code}`;
      events.push(over ? `${line} AFTER finished` : line);
      if (type === "finished") over = true;
    });
  }
  manager.addEventListener("finished", (event) => {
    if (event.reply === reply) events.push("manager finished");
  });
  return events;
}

/** The events of one reply made by `make`, once it finished and a little after. */
async function eventsOf(
  options: NetworkAccessManagerOptions,
  make: (manager: NetworkAccessManager) => NetworkReply,
  act?: (reply: NetworkReply) => void,
): Promise<string[]> {
  await using manager = new NetworkAccessManager(options);
  const reply = make(manager);
  const events = record(manager, reply);
  act?.(reply);
  await reply.finished;
  await tick(20); // nothing comes later
  return events;
}

Deno.test("NetworkReply events come in Qt's order in every path a reply takes", async (t) => {
  let flaky = 0;
  const stop = new AbortController();
  await using server = serve(async (request) => {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/r1":
        return new Response(null, { status: 302, headers: { location: "/r2" } });
      case "/r2":
        return new Response(null, { status: 302, headers: { location: "/plain" } });
      case "/auth":
        return request.headers.has("authorization")
          ? new Response("ok")
          : new Response("no", { status: 401, headers: { "www-authenticate": 'Basic realm="r"' } });
      case "/fresh":
        return new Response("fresh", { headers: { "cache-control": "max-age=600" } });
      case "/etag":
        return request.headers.get("if-none-match") === '"v1"'
          ? new Response(null, { status: 304, headers: { etag: '"v1"' } })
          : new Response("etag", { headers: { etag: '"v1"', "cache-control": "no-cache" } });
      case "/missing":
        return new Response("not found", { status: 404 });
      case "/204":
        return new Response(null, { status: 204 });
      case "/flaky":
        return flaky++ === 0 ? new Response("busy", { status: 503 }) : new Response("ok");
      case "/hang":
        await pause(300, stop.signal);
        return new Response("late");
      case "/stream": {
        let sent = 0;
        return new Response(
          new ReadableStream<Uint8Array>({
            async pull(controller) {
              if (sent++ > 0) await pause(300, stop.signal);
              try {
                controller.enqueue(new Uint8Array(10));
                if (sent === 2) controller.close();
              } catch { /* the client went away */ }
            },
          }, { highWaterMark: 0 }),
        );
      }
      default:
        return new Response("hello");
    }
  });
  using _ = { [Symbol.dispose]: () => stop.abort() }; // the handlers' waits end first
  const url = (path: string) => `${server.url}${path}`;
  /** A response of `length` bytes read to its end. */
  const ok = (length: number) => [
    "metadatachanged",
    "readyread",
    `downloadprogress ${length}/${length}`,
    "finished",
  ];

  await t.step("a plain GET", async () => {
    const events = await eventsOf({}, (m) => m.get(url("/plain")));
    assert.deepEqual(events, [...ok(5), "manager finished"]);
  });
  await t.step("a redirect chain: each hop's redirected, then one response", async () => {
    const events = await eventsOf({}, (m) => m.get(url("/r1")));
    assert.deepEqual(events, ["redirected", "redirected", ...ok(5), "manager finished"]);
  });
  await t.step("a 401 answered by an authenticator", async () => {
    const events = await eventsOf(
      { authenticator: () => ({ username: "u", password: "p" }) },
      (m) => m.get(url("/auth")),
    );
    assert.deepEqual(events, ["authenticationrequired", ...ok(2), "manager finished"]);
  });
  await t.step("a retry after a 503", async () => {
    const events = await eventsOf(
      { retry: { limit: 1, delay: 1 } },
      (m) => m.get(url("/flaky")),
    );
    assert.deepEqual(events, ["retry", ...ok(2), "manager finished"]);
  });
  await t.step("a retry after a connection error, failing again", async () => {
    const events = await eventsOf(
      { retry: { limit: 1, delay: 1 } },
      (m) => m.get(`http://127.0.0.1:${closedPort()}/`),
    );
    assert.deepEqual(events, [
      "retry",
      "error 1",
      "downloadprogress 0/-1",
      "finished",
      "manager finished",
    ]);
  });
  await t.step("a cache hit and a 304-revalidated response read as a response", async () => {
    const cache = new MemoryCache();
    for (const [path, length] of [["/fresh", 5], ["/etag", 4]] as const) {
      const expected = [...ok(length), "manager finished"];
      assert.deepEqual(await eventsOf({ cache }, (m) => m.get(url(path))), expected, path);
      assert.deepEqual(
        await eventsOf({ cache }, (m) => m.get(url(path))),
        expected,
        `${path} again`,
      );
    }
  });
  await t.step("a HEAD and a 204: metadata, the final progress at 0 of 0, finished", async () => {
    const events = ["metadatachanged", "downloadprogress 0/0", "finished", "manager finished"];
    assert.deepEqual(await eventsOf({}, (m) => m.head(url("/plain"))), events);
    assert.deepEqual(await eventsOf({}, (m) => m.get(url("/204"))), events);
  });
  const failed = (
    code: number,
  ) => [`error ${code}`, "downloadprogress 0/-1", "finished", "manager finished"];
  await t.step("a failure before sending (an invalid URL)", async () => {
    assert.deepEqual(await eventsOf({}, (m) => m.get("http://[bad/")), failed(301));
  });
  await t.step("a request of a closed manager", async () => {
    const events = await eventsOf({}, (m) => {
      void m.close();
      return m.get(url("/plain"));
    });
    assert.deepEqual(events, failed(5));
  });
  await t.step("an abort while queued, at once, and while connecting", async () => {
    const queued = await eventsOf({ maxConnectionsPerHost: 1 }, (m) => {
      m.get(url("/hang"));
      return m.get(url("/plain"));
    }, (reply) => queueMicrotask(() => reply.abort()));
    assert.deepEqual(queued, failed(5));
    assert.deepEqual(await eventsOf({}, (m) => m.get(url("/plain")), (r) => r.abort()), failed(5));
    const connecting = await eventsOf({}, (m) => m.get(url("/hang")), (reply) => {
      setTimeout(() => reply.abort(), 50);
    });
    assert.deepEqual(connecting, failed(5));
  });
  await t.step("an abort while streaming: what arrived, then error and finished", async () => {
    const events = await eventsOf({}, (m) => m.get(url("/stream")), (reply) => {
      reply.addEventListener("downloadprogress", () => setTimeout(() => reply.abort(), 50), {
        once: true,
      });
    });
    assert.deepEqual(events, [
      "metadatachanged",
      "readyread",
      "downloadprogress 10/-1",
      "error 5",
      "finished",
      "manager finished",
    ]);
  });
  await t.step("an HTTP error status: its body, then error before finished", async () => {
    const events = await eventsOf({}, (m) => m.get(url("/missing")));
    assert.deepEqual(events, [...ok(9).slice(0, -1), "error 203", "finished", "manager finished"]);
  });
  await t.step("a transfer timeout while the body streams", async () => {
    const request = new NetworkRequest(url("/stream"), { transferTimeout: 100 });
    assert.deepEqual(await eventsOf({}, (m) => m.get(request)), [
      "metadatachanged",
      "readyread",
      "downloadprogress 10/-1",
      "error 4",
      "finished",
      "manager finished",
    ]);
  });
  await t.step("a timeout", async () => {
    const events = await eventsOf(
      {},
      (m) => m.get(new NetworkRequest(url("/hang"), { timeout: 50 })),
    );
    assert.deepEqual(events, failed(4));
  });
});

Deno.test("NetworkReply sends no metadatachanged after finished when an uploadprogress listener aborts it", async () => {
  await using manager = new NetworkAccessManager({
    transport: (exchange) => {
      // Two reports within 100 ms: the second is held back, and told as the response arrives.
      exchange.monitor.uploadProgress(0, -1);
      exchange.monitor.uploadProgress(5, -1);
      return Promise.resolve(new Response("hello"));
    },
  });
  // A stream: its length is unknown, so nothing reports its end but the transport.
  const reply = manager.post("http://example.com/up", ReadableStream.from([new Uint8Array(5)]));
  reply.addEventListener("uploadprogress", (event) => {
    if (event.loaded === 5) reply.abort();
  });
  const events = record(manager, reply);
  await reply.finished;
  await tick(20);
  assert.deepEqual(events, [
    "uploadprogress 0/-1",
    "error 5",
    "downloadprogress 0/-1",
    "finished",
    "manager finished",
    // The rest of the listeners of the event that aborted it: that dispatch was under way.
    "uploadprogress 5/-1 AFTER finished",
  ]);
});

Deno.test("NetworkReply listeners added once it finished hear nothing, and the manager's once per reply", async () => {
  await using server = serve(() => new Response("hello"));
  await using manager = new NetworkAccessManager();
  const finished: NetworkReply[] = [];
  manager.addEventListener("finished", (event) => finished.push(event.reply));
  const good = manager.get(`${server.url}/`);
  const bad = manager.get("http://[bad/");
  await Promise.all([good.finished, bad.finished]);
  const late: string[] = [];
  for (const type of TYPES) good.addEventListener(type, () => late.push(type));
  good.abort(); // finished already: nothing happens
  assert.equal(await good.text(), "hello");
  await manager.close();
  const closed = manager.get(`${server.url}/`);
  await closed.finished;
  await tick(20);
  assert.deepEqual(late, []);
  assert.deepEqual(finished, [bad, good, closed]);
});

Deno.test("NetworkReply makes no event when nothing listens, through redirects, retries and challenges", async () => {
  const made: string[] = [];
  const dispatch = EventTarget.prototype.dispatchEvent;
  EventTarget.prototype.dispatchEvent = function (this: EventTarget, event: Event) {
    made.push(event.type);
    return dispatch.call(this, event);
  };
  try {
    let sent = 0;
    await using manager = new NetworkAccessManager({
      retry: { limit: 1, delay: 0 },
      authenticator: () => ({ username: "u", password: "p" }),
      transport: (exchange) => {
        sent++;
        if (exchange.url.pathname === "/start") {
          return Promise.resolve(
            new Response(null, { status: 302, headers: { location: "/busy" } }),
          );
        }
        if (exchange.url.pathname === "/busy" && sent === 2) {
          return Promise.resolve(new Response(null, { status: 503 }));
        }
        return Promise.resolve(
          exchange.headers.has("authorization") ? new Response("ok") : new Response(null, {
            status: 401,
            headers: { "www-authenticate": 'Basic realm="r"' },
          }),
        );
      },
    });
    const reply = manager.get("http://example.com/start");
    assert.equal(await reply.text(), "ok");
    assert.equal(sent, 4, "a redirect, a retry and a challenge");
    assert.equal(reply.retries, 1);
    assert.deepEqual(made, []);
  } finally {
    EventTarget.prototype.dispatchEvent = dispatch;
  }
});
