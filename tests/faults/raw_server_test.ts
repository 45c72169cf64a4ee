/**
 * Faults of a raw HTTP/1.1 server (`Deno.listen`, bytes written by hand), through every way a
 * body is read: the code and a message naming what happened, what the iterator got of the body,
 * one `error` and one `finished` event, and the origin's one queue slot free for the request
 * behind (`maxConnectionsPerHost: 1`). Then the retry layer on the same faults: idempotent
 * methods only, and only before the response. An unhandled rejection fails the module: no reply
 * may leave one behind.
 */

import assert from "node:assert/strict";
import {
  NetworkAccessManager,
  NetworkError,
  type NetworkErrorCode,
  type NetworkReply,
  NetworkReplyError,
} from "../../mod.ts";
import { chunk, readHead, serveTcp, tick } from "../_helpers/server.ts";

const encoder = new TextEncoder();
const OK = "HTTP/1.1 200 OK\r\n";
const NEXT = `${OK}Content-Length: 4\r\n\r\nnext`;

/** Writes each part, a few milliseconds apart (the client may read each on its own). */
async function send(conn: Deno.Conn, ...parts: (string | Uint8Array)[]): Promise<void> {
  for (const part of parts) {
    await conn.write(typeof part === "string" ? encoder.encode(part) : part);
    await tick(5);
  }
}

/** Waits until the client hangs up. */
async function untilClosed(conn: Deno.Conn): Promise<void> {
  try {
    while (await conn.read(new Uint8Array(1024)) !== null) { /* drain */ }
  } catch { /* reset */ }
}

interface Fault {
  name: string;
  /** Answers the request for `/fault` (its head read); the connection closes after, unless `keep`. */
  serve: (conn: Deno.TcpConn) => Promise<void>;
  /** Whether the connection stays open for another request after `serve`. */
  keep?: boolean;
  method?: "GET" | "HEAD";
  code: NetworkErrorCode;
  /** What the message must say; `$URL` and `$HOST` stand for the request's. */
  message?: RegExp;
  status?: number;
  /** The body bytes the iterator gets (and `bytesReceived` counts when iterating). */
  arrived: number;
  /** The body, when the reply succeeds. */
  body?: string;
  transferTimeout?: number;
}

const CLOSED = "^Connection to \\$HOST closed before the reply was complete";
const MALFORMED = "^The response of \\$HOST is malformed \\(.*";

const faults: Fault[] = [
  {
    name: "closes before any response byte",
    serve: () => Promise.resolve(),
    code: NetworkError.RemoteHostClosedError,
    message: new RegExp(`${CLOSED} \\(.*connection closed before message completed\\)$`),
    arrived: 0,
  },
  {
    name: "closes after the status line",
    serve: (conn) => send(conn, OK),
    code: NetworkError.RemoteHostClosedError,
    message: new RegExp(`${CLOSED} \\(.*connection closed before message completed\\)$`),
    arrived: 0,
  },
  {
    name: "closes in the middle of the headers",
    serve: (conn) => send(conn, OK, "Content-Type: text/pl"),
    code: NetworkError.RemoteHostClosedError,
    message: new RegExp(`${CLOSED} \\(.*connection closed before message completed\\)$`),
    arrived: 0,
  },
  {
    name: "closes in the middle of a body shorter than its Content-Length",
    serve: (conn) => send(conn, `${OK}Content-Length: 100\r\n\r\n`, "abc"),
    code: NetworkError.RemoteHostClosedError,
    status: 200,
    message: new RegExp(
      `${CLOSED}: (3 of the|fewer than the) 100 bytes \\(Content-Length\\) of \\$URL arrived \\(`,
    ),
    arrived: 3,
  },
  {
    name: "closes a chunked body without its last chunk",
    serve: (conn) =>
      send(conn, `${OK}Transfer-Encoding: chunked\r\n\r\n`, chunk(encoder.encode("abc"))),
    code: NetworkError.RemoteHostClosedError,
    status: 200,
    message: new RegExp(
      `${CLOSED}: 3 bytes of \\$URL arrived, not the end of the body; the server closed the ` +
        "connection or broke the chunked framing \\(",
    ),
    arrived: 3,
  },
  {
    // The server does not close: `fetch` tells this apart from a close by nothing.
    name: "sends a chunk size that is not hexadecimal, and stays",
    serve: async (conn) => {
      await send(conn, `${OK}Transfer-Encoding: chunked\r\n\r\n`, chunk(encoder.encode("abc")));
      await send(conn, "zz\r\nbody\r\n0\r\n\r\n");
      await untilClosed(conn);
    },
    code: NetworkError.RemoteHostClosedError,
    status: 200,
    message:
      /: 3 bytes of \$URL arrived, not the end of the body; the server closed the connection or broke the chunked framing \(/,
    arrived: 3,
  },
  {
    name: "sends a status line that is not HTTP",
    serve: (conn) => send(conn, "HTTP/1.1 abc\r\nContent-Length: 2\r\n\r\nok"),
    code: NetworkError.ProtocolFailure,
    message: new RegExp(`${MALFORMED}invalid HTTP status-code parsed\\)$`),
    arrived: 0,
  },
  {
    name: "sends a header line without a colon",
    serve: (conn) => send(conn, OK, "no colon here\r\nContent-Length: 2\r\n\r\nok"),
    code: NetworkError.ProtocolFailure,
    message: new RegExp(`${MALFORMED}invalid HTTP header parsed\\)$`),
    arrived: 0,
  },
  {
    name: "sends a header block of 512 KiB",
    serve: (conn) => send(conn, OK, `X-Huge: ${"h".repeat(512 * 1024)}\r\n\r\n`),
    code: NetworkError.ProtocolFailure,
    message: new RegExp(`${MALFORMED}message head is too large\\)$`),
    arrived: 0,
  },
  {
    name: "sends two different Content-Lengths",
    serve: (conn) => send(conn, OK, "Content-Length: 2\r\nContent-Length: 5\r\n\r\nok"),
    code: NetworkError.ProtocolFailure,
    message: new RegExp(`${MALFORMED}invalid content-length parsed\\)$`),
    arrived: 0,
  },
  {
    name: "answers 101 Switching Protocols to a request that asked for no upgrade",
    serve: (conn) =>
      send(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n"),
    code: NetworkError.ProtocolFailure,
    status: 101,
    message:
      /^The server of \$URL answered 101 Switching Protocols \(Upgrade: foo\): the connection left HTTP, and a reply reads HTTP responses only$/,
    arrived: 0,
  },
  {
    name: "stalls in the middle of the body (transferTimeout)",
    serve: async (conn) => {
      await send(conn, `${OK}Content-Length: 100\r\n\r\n`, "abcde");
      await untilClosed(conn);
    },
    transferTimeout: 200,
    code: NetworkError.TimeoutError,
    status: 200,
    message:
      /^No data moved for 200 ms while talking to \$HOST \(transferTimeout\): the body stalled after 5 of the 100 bytes \(Content-Length\) of \$URL arrived$/,
    arrived: 5,
  },
  {
    name: "stalls in the middle of a chunked body (transferTimeout)",
    serve: async (conn) => {
      // The head and the chunk in one write: on a loaded machine the pause `send` makes between
      // two parts can outlast the transfer timeout, and the body would stall after 0 bytes.
      await send(conn, `${OK}Transfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n`);
      await untilClosed(conn);
    },
    transferTimeout: 200,
    code: NetworkError.TimeoutError,
    status: 200,
    message:
      /^No data moved for 200 ms while talking to \$HOST \(transferTimeout\): the body stalled after 5 bytes of \$URL arrived$/,
    arrived: 5,
  },
  {
    name: "sends a status line, then nothing (transferTimeout)",
    serve: async (conn) => {
      await send(conn, OK);
      await untilClosed(conn);
    },
    transferTimeout: 200,
    code: NetworkError.TimeoutError,
    message: /^No data moved for 200 ms while talking to \$HOST \(transferTimeout\)$/,
    arrived: 0,
  },
  // Answers that succeed: the stray bytes are not a body, and the connection is not reused.
  {
    name: "answers HEAD with a body",
    method: "HEAD",
    serve: (conn) => send(conn, `${OK}Content-Length: 5\r\n\r\nhello`),
    keep: true,
    code: NetworkError.NoError,
    status: 200,
    body: "",
    arrived: 0,
  },
  {
    name: "sends 103 Early Hints, then the response",
    serve: (conn) =>
      send(
        conn,
        "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n",
        `${OK}Content-Length: 2\r\n\r\nok`,
      ),
    keep: true,
    code: NetworkError.NoError,
    status: 200,
    body: "ok",
    arrived: 2,
  },
  {
    name: "answers 204 with a body",
    serve: (conn) => send(conn, "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello"),
    keep: true,
    code: NetworkError.NoError,
    status: 204,
    body: "",
    arrived: 0,
  },
  {
    name: "answers 304 with a body",
    serve: (conn) => send(conn, "HTTP/1.1 304 Not Modified\r\n\r\nhello"),
    keep: true,
    code: NetworkError.NoError,
    status: 304,
    body: "",
    arrived: 0,
  },
];

/** Each way to read a body: the bytes it got, and what it threw. */
const readers: Record<string, (reply: NetworkReply) => Promise<[number, unknown]>> = {
  "text()": (reply) => reply.text().then((text) => [text.length, undefined], (e) => [0, e]),
  "bytes()": (reply) => reply.bytes().then((bytes) => [bytes.length, undefined], (e) => [0, e]),
  "for await": async (reply) => {
    let got = 0;
    try {
      for await (const part of reply) got += part.byteLength;
    } catch (error) {
      return [got, error];
    }
    return [got, undefined];
  },
  "nothing (finished only)": async (reply) => {
    await reply.finished;
    return [0, undefined];
  },
};

/** Resolves when `promise` does, or rejects after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not settle in ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("a raw server's fault ends the reply with its code and a message naming it, whatever reads the body, and frees the origin's one slot", async (t) => {
  for (const fault of faults) {
    for (const [readerName, read] of Object.entries(readers)) {
      await t.step(`${fault.name}: ${readerName}`, async () => {
        const method = fault.method ?? "GET";
        await using server = serveTcp(async (conn) => {
          for (;;) {
            const head = await readHead(conn);
            if (head === "") return;
            if (!head.startsWith(`${method} /fault `)) {
              await send(conn, NEXT);
              continue;
            }
            await fault.serve(conn);
            if (!fault.keep) return;
          }
        });
        await using manager = new NetworkAccessManager({ maxConnectionsPerHost: 1 });
        const url = `${server.url}/fault`;
        const init = { transferTimeout: fault.transferTimeout ?? 0 };
        const reply = method === "HEAD" ? manager.head(url, init) : manager.get(url, init);
        const events: string[] = [];
        reply.addEventListener("error", (e) => events.push(`error ${e.code}`));
        reply.addEventListener("finished", () => events.push("finished"));
        // Queued behind the fault: it is sent once the fault's reply gives the slot back.
        const next = manager.get(`${server.url}/next`);
        const [got, thrown] = await within(read(reply), 5_000, "the read");
        await within(reply.finished, 5_000, "finished");
        const expected = (fault.message?.source ?? "")
          .replaceAll("\\$URL", RegExp.escape(url))
          .replaceAll("\\$HOST", RegExp.escape(`127.0.0.1:${server.port}`));
        assert.equal(reply.error, fault.code, reply.errorString);
        if (fault.message) assert.match(reply.errorString, new RegExp(expected));
        if (fault.status !== undefined) assert.equal(reply.status, fault.status);
        if (fault.code === NetworkError.NoError) {
          assert.equal(thrown, undefined);
          assert.equal(reply.errorString, "");
          if (readerName !== "nothing (finished only)") assert.equal(got, fault.body!.length);
        } else if (readerName !== "nothing (finished only)") {
          // The library's error, with the code and the message, never the TypeError of fetch.
          assert.ok(thrown instanceof NetworkReplyError, String(thrown));
          assert.equal(thrown.code, fault.code);
          assert.equal(thrown.message, reply.errorString);
          assert.equal(thrown.reply, reply);
        }
        if (readerName === "for await") {
          assert.equal(got, fault.arrived);
          assert.equal(reply.bytesReceived, fault.arrived);
        }
        assert.equal(await within(next.text(), 5_000, "the next request"), "next");
        assert.equal(next.error, NetworkError.NoError);
        await tick();
        assert.deepEqual(
          events,
          fault.code === NetworkError.NoError ? ["finished"] : [`error ${fault.code}`, "finished"],
        );
        assert.equal(manager.queue.active(server.url), 0, "the slot is free");
      });
    }
  }
});

/** Answers the first request with `fault` (and hangs up), every later one with `ok`. */
function failingOnce(fault: string) {
  let requests = 0;
  const server = serveTcp(async (conn) => {
    const head = await readHead(conn);
    if (head === "") return;
    if (++requests === 1) return await send(conn, fault);
    await send(conn, `${OK}Content-Length: 2\r\n\r\nok`);
  });
  return Object.assign(server, { requests: () => requests });
}

Deno.test("retry sends an idempotent request again after a raw server's fault before the response, and nothing else", async (t) => {
  const before: Record<string, string> = {
    "closes before any response byte": "",
    "closes after the status line": OK,
    "closes in the middle of the headers": `${OK}Content-Ty`,
  };
  const retry = { sleep: () => Promise.resolve() };
  for (const [name, fault] of Object.entries(before)) {
    for (const method of ["GET", "HEAD", "PUT", "DELETE"]) {
      await t.step(`${name}: ${method} is sent again`, async () => {
        await using server = failingOnce(fault);
        await using manager = new NetworkAccessManager({ maxConnectionsPerHost: 1, retry });
        const reply = manager.sendCustomRequest(`${server.url}/r`, method);
        await reply.text();
        assert.equal(reply.error, NetworkError.NoError, reply.errorString);
        assert.equal(reply.retries, 1);
        assert.equal(server.requests(), 2);
      });
    }
    await t.step(`${name}: POST is not`, async () => {
      await using server = failingOnce(fault);
      await using manager = new NetworkAccessManager({ maxConnectionsPerHost: 1, retry });
      const reply = manager.post(`${server.url}/r`, "data", { retry: 3 });
      await reply.finished;
      assert.equal(reply.error, NetworkError.RemoteHostClosedError, reply.errorString);
      assert.equal(reply.retries, 0);
      assert.equal(server.requests(), 1);
      const next = manager.post(`${server.url}/r`, "data");
      assert.equal(await next.text(), "ok");
    });
  }
  const after: Record<string, [string, NetworkErrorCode]> = {
    "closes in the middle of a body": [
      `${OK}Content-Length: 100\r\n\r\nabc`,
      NetworkError.RemoteHostClosedError,
    ],
    "closes a chunked body without its last chunk": [
      `${OK}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n`,
      NetworkError.RemoteHostClosedError,
    ],
    "sends a malformed chunk size": [
      `${OK}Transfer-Encoding: chunked\r\n\r\nzz\r\n`,
      NetworkError.RemoteHostClosedError,
    ],
    "sends a malformed status line": ["HTTP/1.1 abc\r\n\r\n", NetworkError.ProtocolFailure],
    "sends a header line without a colon": [`${OK}no colon\r\n\r\n`, NetworkError.ProtocolFailure],
    "sends two Content-Lengths": [
      `${OK}Content-Length: 2\r\nContent-Length: 3\r\n\r\nok`,
      NetworkError.ProtocolFailure,
    ],
    "answers 101 Switching Protocols": [
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\n\r\n",
      NetworkError.ProtocolFailure,
    ],
  };
  for (const [name, [fault, code]] of Object.entries(after)) {
    await t.step(`${name}: a GET is not sent again`, async () => {
      await using server = failingOnce(fault);
      await using manager = new NetworkAccessManager({ maxConnectionsPerHost: 1, retry });
      const reply = manager.get(`${server.url}/r`);
      const events: number[] = [];
      reply.addEventListener("retry", (e) => events.push(e.attempt));
      await reply.finished;
      assert.equal(reply.error, code, reply.errorString);
      assert.equal(reply.retries, 0);
      assert.deepEqual(events, []);
      assert.equal(server.requests(), 1);
      assert.equal(await manager.get(`${server.url}/r`).text(), "ok");
    });
  }
  await t.step("a stalled body's transferTimeout is not retried", async () => {
    let requests = 0;
    await using server = serveTcp(async (conn) => {
      await readHead(conn);
      requests++;
      await send(conn, `${OK}Content-Length: 10\r\n\r\nhalf`);
      await untilClosed(conn);
    });
    await using manager = new NetworkAccessManager({ maxConnectionsPerHost: 1, retry });
    const reply = manager.get(`${server.url}/r`, { transferTimeout: 150 });
    await reply.finished;
    assert.equal(reply.error, NetworkError.TimeoutError, reply.errorString);
    assert.equal(reply.retries, 0);
    assert.equal(requests, 1);
  });
});
