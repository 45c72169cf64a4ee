import assert from "node:assert/strict";
import {
  type Layer,
  MemoryCache,
  MemoryCookieJar,
  NetworkAccessManager,
  NetworkError,
  type NetworkErrorCode,
  NetworkReplyError,
  type NetworkRetryEvent,
  type RetryOptions,
} from "../../mod.ts";
import { createMockManager } from "../../testing.ts";
import { retryableError } from "../../src/layers/retry.ts";
import { classifyError } from "../../src/network_error.ts";
import {
  closedPort,
  guardUnhandledRejections,
  serve,
  takeUnhandledRejections,
} from "../_helpers/server.ts";

guardUnhandledRejections();

const URL_ = "https://api.test/thing";

/** A sleep that records each wait and returns at once. */
function recordingSleep(): { waits: number[]; sleep: NonNullable<RetryOptions["sleep"]> } {
  const waits: number[] = [];
  return { waits, sleep: (ms) => (waits.push(ms), Promise.resolve()) };
}

function statuses(...list: number[]) {
  const { waits, sleep } = recordingSleep();
  const mocked = createMockManager({ retry: { sleep, jitter: false } });
  for (const status of list.slice(0, -1)) {
    mocked.mock.route("*", "/thing", { status }, { times: 1 });
  }
  mocked.mock.route("*", "/thing", { status: list.at(-1)!, body: "last" });
  return { mocked, waits };
}

function retryEvents(reply: EventTarget): NetworkRetryEvent[] {
  const events: NetworkRetryEvent[] = [];
  reply.addEventListener("retry", (e) => events.push(e as NetworkRetryEvent));
  return events;
}

Deno.test("retry is off by default: a 503 fails the reply after one attempt", async () => {
  await using mocked = createMockManager();
  mocked.mock.route("GET", "/thing", { status: 503 }, { times: 1 }).route("GET", "/thing", "ok");
  const reply = mocked.manager.get(URL_);
  await reply.finished;
  assert.equal(reply.error, NetworkError.ServiceUnavailableError);
  assert.equal(reply.retries, 0);
  assert.equal(mocked.mock.calls, 1);
  assert.equal(mocked.manager.retry, false);
});

Deno.test("retry sends again after transient statuses until one succeeds", async () => {
  const { mocked, waits } = statuses(503, 502, 200);
  await using _ = mocked;
  const reply = mocked.manager.get(URL_);
  const events = retryEvents(reply);
  assert.equal(await reply.text(), "last");
  assert.equal(reply.error, NetworkError.NoError);
  assert.equal(reply.retries, 2);
  assert.equal(mocked.mock.calls, 3);
  assert.deepEqual(waits, [300, 600]);
  assert.deepEqual(events.map((e) => [e.attempt, e.delay, e.status, e.error]), [
    [1, 300, 503, NetworkError.NoError],
    [2, 600, 502, NetworkError.NoError],
  ]);
  assert.match(events[0]!.reason, /https:\/\/api\.test\/thing answered 503/);
});

Deno.test("retry stops at the limit (2 by default) and the reply fails with the last status", async () => {
  const { mocked } = statuses(503, 503, 503, 200);
  await using _ = mocked;
  const reply = mocked.manager.get(URL_);
  await reply.finished;
  assert.equal(reply.error, NetworkError.ServiceUnavailableError);
  assert.equal(reply.status, 503);
  assert.equal(reply.retries, 2);
  assert.equal(mocked.mock.calls, 3);
});

Deno.test("retry covers 408, 413, 429, 500, 502, 503 and 504 only", async (t) => {
  for (const status of [408, 429, 500, 502, 503, 504]) {
    await t.step(`${status} is retried`, async () => {
      const { mocked } = statuses(status, 200);
      await using _ = mocked;
      const reply = mocked.manager.get(URL_);
      await reply.finished;
      assert.equal(reply.status, 200);
      assert.equal(reply.retries, 1);
    });
  }
  for (const status of [400, 401, 404, 501, 505]) {
    await t.step(`${status} is not retried`, async () => {
      const { mocked } = statuses(status, 200);
      await using _ = mocked;
      const reply = mocked.manager.get(URL_);
      await reply.finished;
      assert.equal(reply.status, status);
      assert.equal(reply.retries, 0);
    });
  }
  await t.step("413 is retried after its Retry-After, and only then", async () => {
    const { waits, sleep } = recordingSleep();
    await using mocked = createMockManager({ retry: { sleep } });
    mocked.mock.route("PUT", "/thing", { status: 413, headers: { "retry-after": "3" } }, {
      times: 1,
    }).route("PUT", "/thing", { status: 413 }, { times: 1 }).route("PUT", "/thing", "stored");
    const reply = mocked.manager.put(URL_, "a large body");
    await reply.finished;
    assert.equal(reply.status, 413, "sent twice: the second 413 says no Retry-After");
    assert.equal(reply.retries, 1);
    assert.deepEqual(waits, [3000]);
    assert.deepEqual(mocked.recorder.requests.map((r) => r.text()), [
      "a large body",
      "a large body",
    ]);
  });
  await t.step("statusCodes replaces the list", async () => {
    await using mocked = createMockManager({
      retry: { statusCodes: [404], sleep: () => Promise.resolve() },
    });
    mocked.mock.route("GET", "/thing", { status: 404 }, { times: 1 }).route("GET", "/thing", "");
    const reply = mocked.manager.get(URL_);
    await reply.finished;
    assert.equal(reply.status, 200);
    assert.equal(reply.retries, 1);
  });
});

Deno.test("retry covers idempotent methods only unless told otherwise", async (t) => {
  for (const method of ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"]) {
    await t.step(`${method} is retried`, async () => {
      const { mocked } = statuses(503, 200);
      await using _ = mocked;
      const reply = mocked.manager.sendCustomRequest(URL_, method);
      await reply.finished;
      assert.equal(reply.status, 200);
      assert.equal(reply.retries, 1);
    });
  }
  for (const method of ["POST", "PATCH"]) {
    await t.step(`${method} is not retried`, async () => {
      const { mocked } = statuses(503, 200);
      await using _ = mocked;
      const reply = mocked.manager.sendCustomRequest(URL_, method, "data");
      await reply.finished;
      assert.equal(reply.status, 503);
      assert.equal(reply.retries, 0);
    });
  }
  await t.step("methods: ['POST'] retries POST with its body each time", async () => {
    await using mocked = createMockManager({
      retry: { methods: ["post"], sleep: () => Promise.resolve() },
    });
    mocked.mock.route("POST", "/thing", { status: 503 }, { times: 1 })
      .route("POST", "/thing", { status: 201 });
    const reply = mocked.manager.post(URL_, { n: 1 });
    await reply.finished;
    assert.equal(reply.status, 201);
    assert.deepEqual(mocked.recorder.requests.map((r) => r.json()), [{ n: 1 }, { n: 1 }]);
  });
});

Deno.test("retry set on a POST request does not retry it: methods decides", async (t) => {
  for (const retry of [true, 3, { sleep: () => Promise.resolve() }]) {
    await t.step(`retry: ${JSON.stringify(retry)}`, async () => {
      await using mocked = createMockManager();
      mocked.mock.route("POST", "/thing", { status: 503 }, { times: 1 }).route(
        "POST",
        "/thing",
        "",
      );
      const reply = mocked.manager.post(URL_, "data", { retry });
      await reply.finished;
      assert.equal(reply.status, 503);
      assert.equal(reply.retries, 0);
    });
  }
  await t.step("with POST in the request's methods", async () => {
    await using mocked = createMockManager();
    mocked.mock.route("POST", "/thing", { status: 503 }, { times: 1 }).route("POST", "/thing", "");
    const sleep = () => Promise.resolve();
    const reply = mocked.manager.post(URL_, "data", { retry: { methods: ["POST"], sleep } });
    await reply.finished;
    assert.equal(reply.status, 200);
    assert.equal(reply.retries, 1);
  });
});

Deno.test("retry retries each redirect hop on its own", async () => {
  const { waits, sleep } = recordingSleep();
  await using mocked = createMockManager({ retry: { sleep, jitter: false } });
  mocked.mock.route("GET", "/thing", { status: 503 }, { times: 1 })
    .route("GET", "/thing", { status: 302, headers: { location: "/moved" } })
    .route("GET", "/moved", { status: 503 }, { times: 1 })
    .route("GET", "/moved", "here");
  const reply = mocked.manager.get(URL_);
  const events = retryEvents(reply);
  assert.equal(await reply.text(), "here");
  assert.equal(reply.url.pathname, "/moved");
  assert.equal(reply.retries, 2);
  assert.deepEqual(waits, [300, 300]);
  assert.deepEqual(events.map((e) => [e.attempt, e.reason]), [
    [1, "https://api.test/thing answered 503"],
    [1, "https://api.test/moved answered 503"],
  ]);
});

Deno.test("retry keeps a retried response out of the cache", async () => {
  await using mocked = createMockManager({
    cache: new MemoryCache(),
    retry: { sleep: () => Promise.resolve() },
  });
  const cacheable = { "cache-control": "max-age=600" };
  mocked.mock.route("GET", "/thing", { status: 503, headers: cacheable, body: "busy" }, {
    times: 1,
  }).route("GET", "/thing", { status: 200, headers: cacheable, body: "fresh" }, { times: 1 })
    .route("GET", "/thing", { status: 503, headers: cacheable, body: "busy again" });
  const first = mocked.manager.get(URL_);
  assert.equal(await first.text(), "fresh");
  assert.equal(first.retries, 1);
  const second = mocked.manager.get(URL_);
  assert.equal(await second.text(), "fresh");
  assert.equal(second.fromCache, true);
  assert.equal(mocked.mock.calls, 2);
});

Deno.test("retry covers connection errors, not others", async (t) => {
  const retried: [string, NetworkErrorCode][] = [
    ["ConnectionRefusedError", NetworkError.ConnectionRefusedError],
    ["RemoteHostClosedError", NetworkError.RemoteHostClosedError],
    ["TimeoutError", NetworkError.TimeoutError],
    ["TemporaryNetworkFailureError", NetworkError.TemporaryNetworkFailureError],
  ];
  for (const [name, code] of retried) {
    await t.step(`${name} is retried`, async () => {
      await using mocked = createMockManager({ retry: { sleep: () => Promise.resolve() } });
      mocked.mock.fail("GET", "/thing", code, { times: 1 }).route("GET", "/thing", "up");
      const reply = mocked.manager.get(URL_);
      const events = retryEvents(reply);
      assert.equal(await reply.text(), "up");
      assert.equal(reply.retries, 1);
      assert.equal(events[0]!.status, 0);
      assert.equal(events[0]!.error, code);
      assert.match(events[0]!.reason, new RegExp(`^${name}: Mock failure`));
    });
  }
  for (const code of [NetworkError.HostNotFoundError, NetworkError.SslHandshakeFailedError]) {
    await t.step(`code ${code} is not retried`, async () => {
      await using mocked = createMockManager({ retry: { sleep: () => Promise.resolve() } });
      mocked.mock.fail("GET", "/thing", code, { times: 1 }).route("GET", "/thing", "up");
      const reply = mocked.manager.get(URL_);
      await reply.finished;
      assert.equal(reply.error, code);
      assert.equal(reply.retries, 0);
    });
  }
  await t.step("a refused loopback connection is retried over the real transport", async () => {
    const { waits, sleep } = recordingSleep();
    await using manager = new NetworkAccessManager({ retry: { limit: 3, sleep } });
    const reply = manager.get(`http://127.0.0.1:${closedPort()}/`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ConnectionRefusedError);
    assert.equal(reply.retries, 3);
    assert.equal(waits.length, 3);
  });
});

/**
 * The error Deno's `fetch` throws when the lookup of `host` fails: `io` is the text of the
 * system's error (on Unix `getaddrinfo`'s, after "failed to lookup address information: ").
 */
function lookupError(host: string, io: string): TypeError {
  return new TypeError("fetch failed", {
    cause: new Error(
      `error sending request for url (https://${host}/): client error (Connect): dns error: ${io}`,
    ),
  });
}

/** What the transport throws for that error (see `transport.ts`). */
const lookupFailure = (io: string) =>
  classifyError(lookupError("api.test", io), new URL("https://api.test/"), "connect");

const GAI = "failed to lookup address information: ";
const TRANSIENT_LOOKUPS = [
  `${GAI}Temporary failure in name resolution`, // glibc, macOS: EAI_AGAIN (seen with no resolver)
  `${GAI}Try again`, // musl: EAI_AGAIN
  "This is usually a temporary error during hostname resolution and means that the local " +
  "server did not receive a response from an authoritative server. (os error 11002)", // Windows
];
const PERMANENT_LOOKUPS = [
  `${GAI}Name or service not known`, // glibc: EAI_NONAME (seen for a .invalid host)
  `${GAI}Name does not resolve`, // musl: EAI_NONAME
  `${GAI}nodename nor servname provided, or not known`, // macOS: EAI_NONAME
  `${GAI}No address associated with hostname`, // glibc: EAI_NODATA
  `${GAI}Non-recoverable failure in name resolution`, // glibc: EAI_FAIL
  "No such host is known. (os error 11001)", // Windows: WSAHOST_NOT_FOUND
];

Deno.test("retry retries a lookup that failed for a time, not a name that does not resolve", async (t) => {
  const codes = new Set<number>([NetworkError.HostNotFoundError]);
  await t.step("the classification of Deno's lookup errors", () => {
    for (const gai of TRANSIENT_LOOKUPS) {
      const failure = classifyError(lookupError("api.test", gai), "https://api.test/", "connect");
      assert.equal(failure.code, NetworkError.HostNotFoundError, gai);
      assert.equal(retryableError(failure, codes), true, gai);
      assert.equal(retryableError(failure, new Set([NetworkError.TimeoutError])), false, gai);
    }
    for (const gai of PERMANENT_LOOKUPS) {
      const failure = classifyError(lookupError("api.test", gai), "https://api.test/", "connect");
      assert.equal(failure.code, NetworkError.HostNotFoundError, gai);
      assert.equal(retryableError(failure, codes), false, gai);
    }
    const proxy = (gai: string) =>
      new NetworkReplyError(
        NetworkError.ProxyNotFoundError,
        `Proxy host of http://proxy.test:3128 not found (${gai})`,
      );
    assert.equal(retryableError(proxy(TRANSIENT_LOOKUPS[0]!), codes), true);
    assert.equal(retryableError(proxy(PERMANENT_LOOKUPS[0]!), codes), false);
    assert.equal(retryableError(proxy(TRANSIENT_LOOKUPS[0]!), new Set([1])), false);
    // Listed itself, ProxyNotFoundError is retried whatever the lookup said.
    assert.equal(retryableError(proxy(PERMANENT_LOOKUPS[0]!), new Set([103])), true);
  });
  await t.step("a transient failure is retried by default, and named in the event", async () => {
    let sends = 0;
    const { waits, sleep } = recordingSleep();
    await using manager = new NetworkAccessManager({ retry: { sleep, jitter: false } });
    manager.use(() => () => {
      if (++sends === 1) throw lookupFailure(TRANSIENT_LOOKUPS[0]!);
      return Promise.resolve(new Response("resolved"));
    }, "network");
    const reply = manager.get("https://api.test/");
    const events = retryEvents(reply);
    assert.equal(await reply.text(), "resolved");
    assert.equal(reply.retries, 1);
    assert.deepEqual(waits, [300]);
    assert.equal(events[0]!.error, NetworkError.HostNotFoundError);
    assert.match(events[0]!.reason, /^HostNotFoundError: .*Temporary failure in name resolution/);
  });
  await t.step("a name that does not resolve is not retried", async () => {
    let sends = 0;
    await using manager = new NetworkAccessManager({ retry: { sleep: () => Promise.resolve() } });
    manager.use(() => () => {
      sends++;
      throw lookupFailure(PERMANENT_LOOKUPS[0]!);
    }, "network");
    const reply = manager.get("https://api.test/");
    await reply.finished;
    assert.equal(reply.error, NetworkError.HostNotFoundError, reply.errorString);
    assert.equal(reply.retries, 0);
    assert.equal(sends, 1);
  });
  await t.step("a proxy's host is retried as an origin's: for a time only", async () => {
    for (const [gai, retried] of [[TRANSIENT_LOOKUPS[0]!, true], [PERMANENT_LOOKUPS[0]!, false]]) {
      let sends = 0;
      await using manager = new NetworkAccessManager({
        retry: { sleep: () => Promise.resolve() },
        proxy: { type: "http", url: "http://proxy.test:3128" },
      });
      // What the transport throws when the proxy's name does not resolve (the proxy layer
      // above makes it ProxyNotFoundError).
      manager.use(() => () => {
        if (++sends === 1) throw lookupFailure(gai as string);
        return Promise.resolve(new Response("through the proxy"));
      }, "network");
      const reply = manager.get("http://api.test/");
      const events = retryEvents(reply);
      await reply.finished;
      if (retried) {
        assert.equal(await reply.text(), "through the proxy");
        assert.equal(reply.retries, 1);
        assert.equal(events[0]!.error, NetworkError.ProxyNotFoundError);
        assert.match(events[0]!.reason, /^ProxyNotFoundError: Proxy host of .*Temporary failure/);
      } else {
        assert.equal(reply.error, NetworkError.ProxyNotFoundError, reply.errorString);
        assert.equal(reply.retries, 0);
        assert.equal(sends, 1);
      }
    }
  });
  await t.step("without HostNotFoundError in errorCodes, no lookup failure is", async () => {
    let sends = 0;
    await using manager = new NetworkAccessManager({
      retry: { sleep: () => Promise.resolve(), errorCodes: [NetworkError.ConnectionRefusedError] },
    });
    manager.use(() => () => {
      sends++;
      throw lookupFailure(TRANSIENT_LOOKUPS[0]!);
    }, "network");
    await manager.get("https://api.test/").finished;
    assert.equal(sends, 1);
  });
  await t.step("a .invalid host over the real transport", async () => {
    const { waits, sleep } = recordingSleep();
    await using manager = new NetworkAccessManager({ retry: { sleep } });
    const reply = manager.get("http://host-that-does-not-exist.invalid/");
    await reply.finished;
    assert.equal(reply.error, NetworkError.HostNotFoundError, reply.errorString);
    // A resolver that answers says the name does not exist: not retried. (With no resolver to
    // ask, the lookup fails for a time, and is retried.)
    const transient = /temporary failure in name resolution/i.test(reply.errorString);
    assert.equal(reply.retries, transient ? 2 : 0, reply.errorString);
    assert.equal(waits.length, reply.retries);
  });
});

Deno.test("retry backs off exponentially with jitter, capped by backoffLimit", async (t) => {
  await t.step("without jitter: delay, doubled each time, capped", async () => {
    const { waits, sleep } = recordingSleep();
    await using mocked = createMockManager({
      retry: { limit: 5, delay: 100, backoffLimit: 500, jitter: false, sleep },
    });
    mocked.mock.route("GET", "/thing", { status: 503 });
    await mocked.manager.get(URL_).finished;
    assert.deepEqual(waits, [100, 200, 400, 500, 500]);
  });
  await t.step("with jitter (the default): between half the wait and the wait", async () => {
    await using mocked = createMockManager({ retry: { limit: 4, sleep: () => Promise.resolve() } });
    mocked.mock.route("GET", "/thing", { status: 503 });
    const replies = Array.from({ length: 10 }, () => mocked.manager.get(URL_));
    const events = replies.map(retryEvents);
    await Promise.all(replies.map((r) => r.finished));
    const waits = events.flat().map((e) => e.delay);
    assert.equal(waits.length, 40);
    assert.ok(new Set(waits).size > 4, `jitter gives varied waits, got ${waits}`);
    for (const event of events.flat()) {
      const full = 300 * 2 ** (event.attempt - 1);
      assert.ok(
        event.delay >= full / 2 && event.delay <= full,
        `retry ${event.attempt}: ${event.delay} in [${full / 2}, ${full}]`,
      );
    }
  });
});

Deno.test("retry honours Retry-After up to maxRetryAfter", async (t) => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);
  const clock = () => now;
  for (
    const [name, value, expected] of [
      ["seconds", "2", 2000],
      ["an HTTP date", new Date(now + 5000).toUTCString(), 5000],
      ["a date in the past", new Date(now - 5000).toUTCString(), 0],
      ["an RFC 850 date", "Thursday, 01-Jan-26 12:00:05 GMT", 5000],
      ["an asctime date (UTC, not local time)", "Thu Jan  1 12:00:05 2026", 5000],
    ] as const
  ) {
    await t.step(`as ${name}`, async () => {
      const { waits, sleep } = recordingSleep();
      await using mocked = createMockManager({ clock, retry: { sleep } });
      mocked.mock.route("GET", "/thing", { status: 429, headers: { "retry-after": value } }, {
        times: 1,
      }).route("GET", "/thing", "ok");
      const reply = mocked.manager.get(URL_);
      const events = retryEvents(reply);
      await reply.finished;
      assert.equal(reply.status, 200);
      assert.deepEqual(waits, [expected]);
      assert.equal(events[0]!.delay, expected);
    });
  }
  // `Date.parse` reads the last three as dates in 2001, 2030 and 2001.
  for (const value of ["soon", "-5", "1.5", "garbage 5", "Soon 2030", "x-1"]) {
    await t.step(`an invalid value (${value}) falls back to backoff`, async () => {
      const { waits, sleep } = recordingSleep();
      await using mocked = createMockManager({ clock, retry: { sleep, jitter: false } });
      mocked.mock.route("GET", "/thing", { status: 503, headers: { "retry-after": value } }, {
        times: 1,
      }).route("GET", "/thing", "ok");
      const reply = mocked.manager.get(URL_);
      await reply.finished;
      assert.equal(reply.status, 200);
      assert.deepEqual(waits, [300]);
    });
  }
  await t.step("an invalid date (31 February, 25 o'clock) falls back to backoff", async () => {
    for (const value of ["Sat, 31 Feb 2026 12:00:00 GMT", "Thu, 01 Jan 2026 25:00:00 GMT"]) {
      const { waits, sleep } = recordingSleep();
      await using mocked = createMockManager({ clock, retry: { sleep, jitter: false } });
      mocked.mock.route("GET", "/thing", { status: 503, headers: { "retry-after": value } }, {
        times: 1,
      }).route("GET", "/thing", "ok");
      await mocked.manager.get(URL_).finished;
      assert.deepEqual(waits, [300], value);
    }
  });
  await t.step("beyond maxRetryAfter the reply fails at once", async () => {
    const { waits, sleep } = recordingSleep();
    await using mocked = createMockManager({ clock, retry: { sleep, maxRetryAfter: 60_000 } });
    mocked.mock.route("GET", "/thing", { status: 503, headers: { "retry-after": "61" } }, {
      times: 1,
    }).route("GET", "/thing", "ok");
    const reply = mocked.manager.get(URL_);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ServiceUnavailableError);
    assert.equal(reply.retries, 0);
    assert.deepEqual(waits, []);
    assert.equal(mocked.mock.calls, 1);
  });
});

Deno.test("retry starts no wait that would end after the total timeout", async (t) => {
  await t.step("a Retry-After past the timeout: the response, at once", async () => {
    const { waits, sleep } = recordingSleep();
    await using mocked = createMockManager({ timeout: 5_000, retry: { sleep } });
    mocked.mock.route("GET", "/thing", { status: 503, headers: { "retry-after": "30" } }, {
      times: 1,
    }).route("GET", "/thing", "ok");
    const reply = mocked.manager.get(URL_);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ServiceUnavailableError, reply.errorString);
    assert.equal(reply.headers.get("retry-after"), "30");
    assert.equal(reply.retries, 0);
    assert.deepEqual(waits, []);
  });
  await t.step("a backoff past the timeout: the connection's error, at once", async () => {
    const { waits, sleep } = recordingSleep();
    await using mocked = createMockManager({ retry: { sleep, delay: 10_000 } });
    mocked.mock.fail("GET", "/thing", NetworkError.ConnectionRefusedError, { times: 1 })
      .route("GET", "/thing", "ok");
    const reply = mocked.manager.get(URL_, { timeout: 5_000 });
    await reply.finished;
    assert.equal(reply.error, NetworkError.ConnectionRefusedError, reply.errorString);
    assert.equal(reply.retries, 0);
    assert.deepEqual(waits, []);
  });
  await t.step("a wait that ends before it is made", async () => {
    const { waits, sleep } = recordingSleep();
    await using mocked = createMockManager({ timeout: 5_000, retry: { sleep, jitter: false } });
    mocked.mock.route("GET", "/thing", { status: 503, headers: { "retry-after": "2" } }, {
      times: 1,
    }).route("GET", "/thing", { status: 503 }, { times: 1 }).route("GET", "/thing", "ok");
    const reply = mocked.manager.get(URL_);
    assert.equal(await reply.text(), "ok");
    assert.equal(reply.retries, 2);
    assert.deepEqual(waits, [2000, 600]);
  });
});

Deno.test("retry takes a fresh queue slot for each attempt and frees it while waiting", async () => {
  const waiting = Promise.withResolvers<void>();
  const resume = Promise.withResolvers<void>();
  await using mocked = createMockManager({
    maxConnectionsPerHost: 1,
    retry: {
      sleep: () => {
        waiting.resolve();
        return resume.promise;
      },
    },
  });
  mocked.mock.route("GET", "/thing", { status: 503 }, { times: 1 })
    .route("GET", "/thing", "retried")
    .route("GET", "/other", "other");
  const first = mocked.manager.get(URL_);
  await waiting.promise;
  assert.equal(mocked.manager.queue.active("https://api.test"), 0);
  const other = mocked.manager.get("https://api.test/other");
  assert.equal(await other.text(), "other");
  resume.resolve();
  assert.equal(await first.text(), "retried");
  assert.deepEqual(mocked.recorder.requests.map((r) => r.url.pathname), [
    "/thing",
    "/other",
    "/thing",
  ]);
});

Deno.test("retry stops at once when the reply is aborted during the backoff wait", async (t) => {
  await t.step("a sleep that ignores the signal", async () => {
    const waiting = Promise.withResolvers<void>();
    await using mocked = createMockManager({
      retry: {
        sleep: () => {
          waiting.resolve();
          return new Promise(() => {});
        },
      },
    });
    mocked.mock.route("GET", "/thing", { status: 503 });
    const reply = mocked.manager.get(URL_);
    await waiting.promise;
    reply.abort();
    await reply.finished;
    assert.equal(reply.error, NetworkError.OperationCanceledError);
    assert.equal(mocked.mock.calls, 1);
  });
  await t.step("the default sleep, with a request signal", async () => {
    await using mocked = createMockManager({ retry: { delay: 60_000 } });
    mocked.mock.route("GET", "/thing", { status: 503 });
    const controller = new AbortController();
    const reply = mocked.manager.get(URL_, { signal: controller.signal });
    reply.addEventListener("retry", () => controller.abort());
    const started = performance.now();
    await reply.finished;
    assert.ok(performance.now() - started < 5000);
    assert.equal(reply.error, NetworkError.OperationCanceledError);
    assert.equal(reply.retries, 0, "announced, never sent again");
    assert.equal(mocked.mock.calls, 1);
  });
});

Deno.test("reply.retries counts the sends made again, not a retry aborted before it", async (t) => {
  await t.step("aborted by a retry listener", async () => {
    await using mocked = createMockManager({ retry: { sleep: () => Promise.resolve() } });
    mocked.mock.route("GET", "/thing", { status: 503 });
    const reply = mocked.manager.get(URL_);
    const events = retryEvents(reply);
    reply.addEventListener("retry", () => reply.abort());
    await reply.finished;
    assert.equal(reply.error, NetworkError.OperationCanceledError);
    assert.equal(events.length, 1);
    assert.equal(reply.retries, 0);
    assert.equal(mocked.mock.calls, 1);
  });
  await t.step("aborted during the wait after a connection error", async () => {
    const waiting = Promise.withResolvers<void>();
    await using mocked = createMockManager({
      retry: { sleep: () => (waiting.resolve(), new Promise(() => {})) },
    });
    mocked.mock.fail("GET", "/thing", NetworkError.ConnectionRefusedError);
    const reply = mocked.manager.get(URL_);
    await waiting.promise;
    reply.abort();
    await reply.finished;
    assert.equal(reply.retries, 0);
    assert.equal(mocked.mock.calls, 1);
  });
  await t.step("the second retry aborted during its wait: one was sent", async () => {
    let waits = 0;
    const second = Promise.withResolvers<void>();
    await using mocked = createMockManager({
      retry: {
        sleep: () => ++waits === 1 ? Promise.resolve() : (second.resolve(), new Promise(() => {})),
      },
    });
    mocked.mock.route("GET", "/thing", { status: 503 });
    const reply = mocked.manager.get(URL_);
    const events = retryEvents(reply);
    await second.promise;
    reply.abort();
    await reply.finished;
    assert.deepEqual(events.map((e) => e.attempt), [1, 2]);
    assert.equal(reply.retries, 1);
    assert.equal(mocked.mock.calls, 2);
  });
  await t.step("aborted as a sleep that ignores the signal ends", async () => {
    const controller = new AbortController();
    await using mocked = createMockManager({
      retry: { sleep: () => (controller.abort(), Promise.resolve()) },
    });
    mocked.mock.route("GET", "/thing", { status: 503 });
    const reply = mocked.manager.get(URL_, { signal: controller.signal });
    await reply.finished;
    assert.equal(reply.error, NetworkError.OperationCanceledError);
    assert.equal(reply.retries, 0);
    assert.equal(mocked.mock.calls, 1);
  });
});

Deno.test("retry replays only replayable bodies", async (t) => {
  await t.step("a string body is sent again", async () => {
    await using mocked = createMockManager({ retry: { sleep: () => Promise.resolve() } });
    mocked.mock.route("PUT", "/thing", { status: 503 }, { times: 1 })
      .route("PUT", "/thing", { status: 204 });
    const reply = mocked.manager.put(URL_, "content");
    await reply.finished;
    assert.equal(reply.status, 204);
    assert.deepEqual(mocked.recorder.requests.map((r) => r.text()), ["content", "content"]);
  });
  await t.step("a stream body is sent once", async () => {
    await using mocked = createMockManager({ retry: { sleep: () => Promise.resolve() } });
    mocked.mock.route("PUT", "/thing", { status: 503 }, { times: 1 })
      .route("PUT", "/thing", { status: 204 });
    const reply = mocked.manager.put(URL_, new Blob(["streamed"]).stream());
    await reply.finished;
    assert.equal(reply.status, 503);
    assert.equal(reply.error, NetworkError.ServiceUnavailableError);
    assert.match(
      reply.errorString,
      /replied: 503; not retried: the request body is a one-shot stream .*cannot be sent again; pass a string, bytes, Blob/,
    );
    assert.equal(reply.retries, 0);
    assert.deepEqual(mocked.recorder.requests.map((r) => r.text()), ["streamed"]);
  });
  await t.step("a stream body after a connection error: the error, and why", async () => {
    await using mocked = createMockManager({ retry: { sleep: () => Promise.resolve() } });
    mocked.mock.fail("PUT", "/thing", NetworkError.ConnectionRefusedError, { times: 1 })
      .route("PUT", "/thing", { status: 204 });
    const reply = mocked.manager.put(URL_, new Blob(["streamed"]).stream());
    await reply.finished;
    assert.equal(reply.status, 0);
    assert.equal(reply.error, NetworkError.ConnectionRefusedError);
    assert.match(reply.errorString, /; not retried: the request body is a one-shot stream/);
    assert.equal(reply.retries, 0);
    assert.equal(mocked.recorder.requests.length, 1);
  });
  await t.step("a stream body and a status that is not retried: no reason given", async () => {
    await using mocked = createMockManager({ retry: { sleep: () => Promise.resolve() } });
    mocked.mock.route("PUT", "/thing", { status: 404 });
    const reply = mocked.manager.put(URL_, new Blob(["streamed"]).stream());
    await reply.finished;
    assert.equal(reply.status, 404);
    assert.doesNotMatch(reply.errorString, /not retried/);
  });
});

Deno.test("retry set per request overrides the manager's", async (t) => {
  await t.step("on for one request of a manager without retry", async () => {
    const { mocked } = statuses(503, 503, 200);
    await using _ = mocked;
    mocked.manager.retry = false;
    const sleep = () => Promise.resolve();
    const reply = mocked.manager.get(URL_, { retry: { limit: 1, sleep } });
    await reply.finished;
    assert.equal(reply.status, 503);
    assert.equal(reply.retries, 1);
  });
  await t.step("off for one request of a manager with retry", async () => {
    const { mocked } = statuses(503, 200);
    await using _ = mocked;
    const reply = mocked.manager.get(URL_, { retry: false });
    await reply.finished;
    assert.equal(reply.retries, 0);
    assert.equal(reply.status, 503);
  });
  await t.step("a number is a limit, the manager's options fill in the rest", async () => {
    const { mocked } = statuses(503, 503, 503, 503, 200);
    await using _ = mocked;
    mocked.manager.retry = { jitter: false, sleep: () => Promise.resolve() };
    const reply = mocked.manager.get(URL_, { retry: 4 });
    await reply.finished;
    assert.equal(reply.status, 200);
    assert.equal(reply.retries, 4);
  });
  await t.step("a manager's number is the limit a request's options inherit", async () => {
    const { mocked } = statuses(503, 503, 503, 503, 200);
    await using _ = mocked;
    mocked.manager.retry = 4;
    const reply = mocked.manager.get(URL_, { retry: { sleep: () => Promise.resolve() } });
    await reply.finished;
    assert.equal(reply.retries, 4);
    assert.equal(reply.status, 200);
  });
  await t.step(
    "an option a request's object leaves undefined is not given: the manager's stays",
    async () => {
      const { mocked } = statuses(503, 503, 503, 503, 200);
      await using _ = mocked;
      mocked.manager.retry = { limit: 4, jitter: false };
      const reply = mocked.manager.get(URL_, {
        retry: { limit: undefined, sleep: () => Promise.resolve() },
      });
      await reply.finished;
      assert.equal(reply.retries, 4, "the default limit (2) replaced the manager's 4");
      assert.equal(reply.status, 200);
    },
  );
  await t.step("and the limit a request's true inherits", async () => {
    const { mocked } = statuses(503, 503, 200);
    await using _ = mocked;
    mocked.manager.retry = 1;
    const reply = mocked.manager.get(URL_, { retry: true });
    await reply.finished;
    assert.equal(reply.retries, 1);
    assert.equal(reply.status, 503);
  });
});

Deno.test("retry options are validated with messages naming the field", async () => {
  assert.throws(() => new NetworkAccessManager({ retry: -1 }), {
    name: "RangeError",
    message: "Cannot create manager: 'retry' must be a non-negative integer, got -1",
  });
  assert.throws(() => new NetworkAccessManager({ retry: { limit: 1.5 } }), {
    message: "Cannot create manager: 'retry.limit' must be a non-negative integer, got 1.5",
  });
  assert.throws(() => new NetworkAccessManager({ retry: { methods: ["GET", "B AD"] } }), {
    name: "TypeError",
    message: `Cannot create manager: 'retry.methods' must hold HTTP methods only, got "B AD"`,
  });
  assert.throws(() => new NetworkAccessManager({ retry: { statusCodes: [700] } }), {
    message: /'retry.statusCodes' must hold HTTP statuses \(100-599\) only, got 700/,
  });
  assert.throws(() => new NetworkAccessManager({ retry: { errorCodes: [12345] as never } }), {
    message: /'retry.errorCodes' must hold NetworkError codes only, got 12345/,
  });
  assert.throws(() => new NetworkAccessManager({ retry: "yes" as never }), {
    message: `Cannot create manager: 'retry' must be a boolean, a number or an object, got "yes"`,
  });
  await using manager = new NetworkAccessManager();
  assert.throws(() => (manager.retry = { delay: -5 }), {
    message: "Cannot set manager option: 'retry.delay' must be a non-negative integer, got -5",
  });
  const reply = manager.get("https://api.test/", { retry: { jitter: "no" as never } });
  await reply.finished;
  assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError);
  assert.match(reply.errorString, /'retry.jitter' must be a boolean, got "no"/);
});

Deno.test("retry works against a loopback server with real waits", async () => {
  let hits = 0;
  await using server = serve(() => {
    hits++;
    return hits < 3
      ? new Response("busy", { status: 503, headers: { "retry-after": "0" } })
      : new Response("done");
  });
  await using manager = new NetworkAccessManager({ retry: true });
  const reply = manager.get(server.url);
  assert.equal(await reply.text(), "done");
  assert.equal(reply.retries, 2);
  assert.equal(hits, 3);
});

Deno.test("retry leaves no unhandled rejection behind", () => {
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("retry starts no retry later than maxRetryTime after the first attempt", async (t) => {
  await t.step(
    "a wait that would end past it is not started: the last response is the answer",
    async () => {
      const { waits, sleep } = recordingSleep();
      await using mocked = createMockManager({
        retry: { limit: 5, delay: 300, jitter: false, maxRetryTime: 500, sleep },
      });
      mocked.mock.route("GET", "/thing", { status: 503, body: "busy" });
      const reply = mocked.manager.get(URL_);
      assert.equal(await reply.text(), "busy");
      assert.equal(reply.status, 503);
      // 300 ms ends within 500 ms of the first attempt; the next, 600 ms, would not.
      assert.deepEqual(waits, [300]);
      assert.equal(mocked.mock.calls, 2);
    },
  );
  await t.step("after a connection error, the error is the answer", async () => {
    const { waits, sleep } = recordingSleep();
    await using mocked = createMockManager({
      retry: { limit: 5, delay: 300, jitter: false, maxRetryTime: 200, sleep },
    });
    mocked.mock.fail("GET", "/thing", NetworkError.ConnectionRefusedError);
    const reply = mocked.manager.get(URL_);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ConnectionRefusedError);
    assert.deepEqual(waits, []);
  });
  await t.step("it is checked", () => {
    assert.throws(
      () => new NetworkAccessManager({ retry: { maxRetryTime: -1 } }),
      /'retry\.maxRetryTime' must be /,
    );
  });
});

/** A network layer answering with `answers` in turn, recording each exchange's headers. */
function answering(answers: (() => Response)[]): { layer: Layer; sent: Headers[] } {
  const sent: Headers[] = [];
  const layer: Layer = () => (exchange) => {
    sent.push(new Headers(exchange.headers));
    return Promise.resolve(answers[Math.min(sent.length, answers.length) - 1]!());
  };
  return { layer, sent };
}

Deno.test("retry stores the cookies of each attempt before the next, which carries them", async () => {
  const net = answering([
    () => new Response("busy", { status: 503, headers: { "set-cookie": "lb=node7; Path=/" } }),
    () => new Response("ok"),
  ]);
  await using manager = new NetworkAccessManager({ retry: { sleep: () => Promise.resolve() } });
  manager.use(net.layer, "network");
  const reply = manager.get(URL_);
  assert.equal(await reply.text(), "ok");
  assert.equal(reply.retries, 1);
  assert.deepEqual(net.sent.map((headers) => headers.get("cookie")), [null, "lb=node7"]);
  const stored = await manager.cookieJar!.cookiesForUrl(new URL(URL_));
  assert.deepEqual(stored.map((c) => `${c.name}=${c.value}`), ["lb=node7"]);
  // The request's own headers are left as they were: the next request asks the jar again.
  const next = manager.get(URL_);
  await next.text();
  assert.equal(net.sent.at(-1)!.get("cookie"), "lb=node7");
});

Deno.test("retry stores the cookies of attempts made after a 401 was answered", async () => {
  const net = answering([
    () => new Response("busy", { status: 503, headers: { "set-cookie": "a=1; Path=/" } }),
    () =>
      new Response("who", {
        status: 401,
        headers: { "www-authenticate": 'Basic realm="r"', "set-cookie": "b=2; Path=/" },
      }),
    () => new Response("busy", { status: 503, headers: { "set-cookie": "c=3; Path=/" } }),
    () => new Response("ok"),
  ]);
  await using manager = new NetworkAccessManager({ retry: { sleep: () => Promise.resolve() } });
  manager.use(net.layer, "network");
  const reply = manager.get("https://u:p@api.test/thing");
  assert.equal(await reply.text(), "ok");
  assert.deepEqual(net.sent.map((headers) => headers.get("cookie")), [
    null,
    "a=1",
    "a=1; b=2",
    "a=1; b=2; c=3",
  ]);
  assert.deepEqual(net.sent.map((headers) => headers.has("authorization")), [
    false,
    false,
    true,
    true,
  ]);
});

Deno.test("retry fails the reply on the retried response when the jar cannot store its cookies", async () => {
  const jar = new MemoryCookieJar();
  jar.setCookiesFromUrl = () => Promise.reject(new Error("disk full"));
  const net = answering([
    () => new Response("busy", { status: 503, headers: { "set-cookie": "lb=node7" } }),
    () => new Response("ok"),
  ]);
  await using manager = new NetworkAccessManager({
    cookieJar: jar,
    retry: { sleep: () => Promise.resolve() },
  });
  manager.use(net.layer, "network");
  const reply = manager.get(URL_);
  await reply.finished;
  assert.equal(reply.error, NetworkError.UnknownNetworkError);
  assert.match(reply.errorString, /disk full/);
  assert.equal(reply.status, 503);
  assert.equal(net.sent.length, 1);
});
