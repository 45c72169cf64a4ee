/**
 * The `cause` of the `NetworkReplyError` a body reader throws: the error the reply's failure came
 * from, the same for every reader (the iterator, `bytes()`, `text()`, `json()`, `events()`), or
 * `undefined` when nothing was thrown.
 */

import assert from "node:assert/strict";
import {
  NetworkAccessManager,
  type NetworkAccessManagerOptions,
  NetworkError,
  type NetworkReply,
  NetworkReplyError,
} from "../mod.ts";
import { guardUnhandledRejections, takeUnhandledRejections } from "./_helpers/server.ts";

guardUnhandledRejections();

const READERS = ["iterator", "bytes", "text", "json", "events"] as const;

/** What `reader` threw when reading `reply` (it must throw a `NetworkReplyError`). */
async function thrown(
  reply: NetworkReply,
  reader: typeof READERS[number],
): Promise<NetworkReplyError> {
  try {
    if (reader === "iterator") { for await (const _ of reply); }
    else if (reader === "events") { for await (const _ of reply.events()); }
    else await reply[reader]();
  } catch (error) {
    assert.ok(error instanceof NetworkReplyError, String(error));
    assert.equal(error.reply, reply);
    assert.equal(error.code, reply.error);
    return error;
  }
  throw new Error(`${reader}() did not throw`);
}

/** Reads a reply of `get(url)` with every reader; `check` sees each error and its reply. */
async function everyReader(
  t: Deno.TestContext,
  options: NetworkAccessManagerOptions,
  get: (manager: NetworkAccessManager) => NetworkReply,
  check: (error: NetworkReplyError, reply: NetworkReply) => void,
): Promise<void> {
  await using manager = new NetworkAccessManager(options);
  for (const reader of READERS) {
    await t.step(reader, async () => {
      const reply = get(manager);
      check(await thrown(reply, reader), reply);
    });
  }
  assert.deepEqual(takeUnhandledRejections(), []);
}

/** A body that sends `head` and then fails with `error`. */
function failingBody(head: string, error: unknown): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent) return controller.error(error);
      sent = true;
      controller.enqueue(new TextEncoder().encode(head));
    },
  });
}

Deno.test("cause: what a transport of yours threw, not the error the guard made of it", async (t) => {
  const failure = new TypeError("fetch failed: connection reset by peer");
  await everyReader(
    t,
    {
      transport: () => Promise.reject(failure),
    },
    (m) => m.get("https://api.test/a"),
    (error) => {
      assert.equal(error.code, NetworkError.UnknownNetworkError);
      assert.equal(
        error.message,
        "The transport (the 'transport' option) threw TypeError: fetch failed: connection reset by peer",
      );
      assert.equal(error.cause, failure);
    },
  );
});

Deno.test("cause: the NetworkReplyError a layer threw", async (t) => {
  const refused = new NetworkReplyError(NetworkError.ContentAccessDenied, "Blocked here");
  await everyReader(
    t,
    {
      layers: [() => () => Promise.reject(refused)],
    },
    (m) => m.get("https://api.test/a"),
    (error) => {
      assert.equal(error.code, NetworkError.ContentAccessDenied);
      assert.equal(error.message, "Blocked here");
      assert.equal(error.cause, refused);
    },
  );
});

Deno.test("cause: what the body's stream failed with, read in chunks or whole", async (t) => {
  const cut = new TypeError("error reading a body from connection");
  for (const length of [undefined, "100"]) {
    await t.step(length === undefined ? "no Content-Length" : "a small body", async (t) => {
      await everyReader(
        t,
        {
          transport: () =>
            Promise.resolve(
              new Response(failingBody("data: 1", cut), {
                headers: length === undefined ? {} : { "content-length": length },
              }),
            ),
        },
        (m) => m.get("https://api.test/a"),
        (error) => {
          assert.equal(error.code, NetworkError.RemoteHostClosedError);
          assert.equal(error.cause, cut);
        },
      );
    });
  }
});

Deno.test("cause: a real connection refused is fetch's TypeError", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  await using manager = new NetworkAccessManager();
  const error = await thrown(manager.get(`http://127.0.0.1:${port}/`), "bytes");
  assert.equal(error.code, NetworkError.ConnectionRefusedError);
  assert.ok(error.cause instanceof TypeError, String(error.cause));
});

Deno.test("cause: a layer's NetworkReplyError with a cause of its own gives that cause", async () => {
  const denied = new Deno.errors.PermissionDenied("not allowed here");
  const refused = new NetworkReplyError(NetworkError.ContentAccessDenied, "Blocked", {
    cause: denied,
  });
  await using manager = new NetworkAccessManager({ layers: [() => () => Promise.reject(refused)] });
  const error = await thrown(manager.get("https://api.test/a"), "text");
  assert.equal(error.message, "Blocked");
  assert.equal(error.cause, denied);
});

Deno.test("cause: the error of a body that cannot be sent", async () => {
  await using manager = new NetworkAccessManager({
    transport: () => Promise.resolve(new Response("x")),
  });
  const error = await thrown(manager.post("https://api.test/a", 42 as never), "bytes");
  assert.equal(error.code, NetworkError.ProtocolInvalidOperationError);
  assert.ok(error.cause instanceof Error, String(error.cause));
  assert.equal(error.cause.message, error.message);
});

Deno.test("cause: the TypeError of an invalid URL", async (t) => {
  await everyReader(t, {}, (m) => m.get("no scheme"), (error) => {
    assert.equal(error.code, NetworkError.ProtocolUnknownError);
    assert.ok(error.cause instanceof TypeError, String(error.cause));
    assert.equal(error.cause.message, error.message);
  });
});

Deno.test("cause: the reason of the request's signal", async (t) => {
  const never = (exchange: { signal: AbortSignal }) =>
    new Promise<Response>((_, reject) =>
      exchange.signal.addEventListener("abort", () => reject(exchange.signal.reason))
    );
  await t.step("an Error of the caller's, the signal aborted before the call", async (t) => {
    const reason = new Error("my reason");
    await everyReader(
      t,
      { transport: never },
      (m) => m.get("https://api.test/a", { signal: AbortSignal.abort(reason) }),
      (error, reply) => {
        assert.equal(error.code, NetworkError.OperationCanceledError);
        assert.equal(reply.errorString, "Operation canceled");
        assert.equal(error.cause, reason);
      },
    );
  });
  await t.step("the signal aborted while the reply runs", async (t) => {
    await everyReader(t, { transport: never }, (m) => {
      const controller = new AbortController();
      setTimeout(() => controller.abort("a string"), 5);
      return m.get("https://api.test/a", { signal: controller.signal });
    }, (error) => {
      assert.equal(error.code, NetworkError.OperationCanceledError);
      assert.equal(error.cause, "a string");
    });
  });
  await t.step("AbortSignal.timeout: its TimeoutError", async () => {
    await using manager = new NetworkAccessManager({ transport: never });
    const signal = AbortSignal.timeout(5);
    const error = await thrown(manager.get("https://api.test/a", { signal }), "bytes");
    assert.equal(error.code, NetworkError.TimeoutError);
    assert.equal(error.cause, signal.reason);
    assert.equal((error.cause as DOMException).name, "TimeoutError");
  });
});

Deno.test("cause: the reply's own timeouts are a TimeoutError DOMException", async (t) => {
  const stalled = () =>
    Promise.resolve(new Response(new ReadableStream({ pull: () => new Promise(() => {}) })));
  for (const option of ["timeout", "transferTimeout"] as const) {
    await t.step(option, async (t) => {
      const options = { transport: stalled, [option]: 5 };
      await everyReader(t, options, (m) => m.get("https://api.test/a"), (error) => {
        assert.equal(error.code, NetworkError.TimeoutError);
        assert.ok(error.cause instanceof DOMException, String(error.cause));
        assert.equal(error.cause.name, "TimeoutError");
        assert.equal(error.cause.message, error.message);
      });
    });
  }
});

Deno.test("cause: undefined when nothing was thrown (abort(), close(), maxBodySize)", async (t) => {
  await t.step("abort()", async (t) => {
    await everyReader(t, {}, (m) => {
      const reply = m.get("data:,x");
      reply.abort();
      return reply;
    }, (error) => {
      assert.equal(error.code, NetworkError.OperationCanceledError);
      assert.equal(error.cause, undefined);
      assert.ok(!("cause" in error));
    });
  });
  await t.step("maxBodySize", async (t) => {
    await everyReader(t, { maxBodySize: 2 }, (m) => m.get("data:,xyz"), (error) => {
      assert.equal(error.code, NetworkError.ProtocolFailure);
      assert.equal(error.cause, undefined);
    });
  });
  await t.step("close()", async () => {
    const manager = new NetworkAccessManager({ transport: () => new Promise(() => {}) });
    const reply = manager.get("https://api.test/a");
    await manager.close();
    const error = await thrown(reply, "bytes");
    assert.equal(error.code, NetworkError.OperationCanceledError);
    assert.equal(error.cause, undefined);
  });
});
