/**
 * The fault suite: misbehaving loopback servers on raw `Deno.listen` sockets, one per fault
 * kind (resets at each stage, bad framing, truncated and oversized bodies and headers,
 * informational responses, slow and silent peers, bad encodings, redirect abuse). Each fault
 * must end its reply exactly once with its own code, hold no queue slot afterwards, and leave
 * the manager serving: a request to a healthy server right after it succeeds.
 */

import assert from "node:assert/strict";
import {
  NetworkAccessManager,
  NetworkError,
  type NetworkErrorCode,
  type NetworkReply,
  type NetworkRequestInit,
} from "../../mod.ts";
import {
  chunk,
  closedPort,
  guardUnhandledRejections,
  readHead,
  serve,
  serveTcp,
  takeUnhandledRejections,
  tick,
} from "../_helpers/server.ts";

guardUnhandledRejections();

const encoder = new TextEncoder();

/** Writes each part (text as bytes); a write to a peer that left is ignored. */
async function send(conn: Deno.Conn, ...parts: (string | Uint8Array)[]): Promise<void> {
  for (const part of parts) {
    await conn.write(typeof part === "string" ? encoder.encode(part) : part);
  }
}

/** A server that reads the request head, then writes `parts` (and hangs up, unless more follows). */
function answer(...parts: (string | Uint8Array)[]): (conn: Deno.TcpConn) => Promise<void> {
  return async (conn) => {
    await readHead(conn);
    await send(conn, ...parts);
  };
}

/** Waits until the client hangs up (or `ms` pass). */
async function untilClosed(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(4096);
  try {
    while (await conn.read(buffer) !== null) { /* drain */ }
  } catch { /* reset */ }
}

async function gzip(bytes: Uint8Array, format: CompressionFormat = "gzip"): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream(format),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** `size` zero bytes compressed, made once. */
const zeros = await gzip(new Uint8Array(64 * 1024 * 1024));

interface Fault {
  /** What the server does wrong. */
  name: string;
  /** Serves one connection. */
  serve: (conn: Deno.TcpConn, port: number) => Promise<void>;
  /** The error code the reply must end with. */
  code: NetworkErrorCode;
  /** The HTTP status the reply must show, when it has one. */
  status?: number;
  /** The body the reply must deliver, when it succeeds. */
  body?: string;
  /** Request attributes. */
  init?: NetworkRequestInit;
  /** Sends the request (a GET by default). */
  send?: (manager: NetworkAccessManager, url: string) => NetworkReply;
  /** The error string must match. */
  message?: RegExp;
}

const OK = "HTTP/1.1 200 OK\r\n";

const faults: Fault[] = [
  // Resets at each stage.
  {
    name: "closes the connection at once",
    serve: (conn) => Promise.resolve(conn.close()),
    code: NetworkError.RemoteHostClosedError,
  },
  {
    name: "closes after reading the request",
    serve: async (conn) => {
      await readHead(conn);
    },
    code: NetworkError.RemoteHostClosedError,
  },
  {
    name: "closes in the middle of the status line",
    serve: answer("HTTP/1.1 20"),
    code: NetworkError.RemoteHostClosedError,
  },
  {
    name: "closes in the middle of the headers",
    serve: answer(OK, "Content-Type: text/pl"),
    code: NetworkError.RemoteHostClosedError,
  },
  {
    name: "closes after the headers, before the body",
    serve: answer(OK, "Content-Length: 100\r\n\r\n"),
    code: NetworkError.RemoteHostClosedError,
  },
  {
    name: "closes in the middle of a body of known length",
    serve: answer(OK, "Content-Length: 100000\r\n\r\n", "x".repeat(70_000)),
    code: NetworkError.RemoteHostClosedError,
  },
  {
    name: "closes in the middle of a chunk",
    serve: answer(OK, "Transfer-Encoding: chunked\r\n\r\n", "10\r\nonly-half"),
    code: NetworkError.RemoteHostClosedError,
  },
  {
    name: "closes a chunked body without its last chunk",
    serve: answer(OK, "Transfer-Encoding: chunked\r\n\r\n", chunk(encoder.encode("part"))),
    code: NetworkError.RemoteHostClosedError,
  },
  {
    name: "closes while the request body is being sent",
    serve: async (conn) => {
      await conn.read(new Uint8Array(1024));
    },
    send: (manager, url) => manager.post(url, new Uint8Array(8 * 1024 * 1024)),
    code: NetworkError.RemoteHostClosedError,
  },
  // Bad framing.
  {
    name: "answers with a status line that is not HTTP",
    serve: answer("ICY 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    code: NetworkError.ProtocolFailure,
  },
  {
    name: "answers with a status code that is not three digits",
    serve: answer("HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok"),
    code: NetworkError.ProtocolFailure,
  },
  {
    name: "answers with a header line without a colon",
    serve: answer(OK, "this is not a header\r\nContent-Length: 2\r\n\r\nok"),
    code: NetworkError.ProtocolFailure,
  },
  {
    name: "answers with two different Content-Lengths",
    serve: answer(OK, "Content-Length: 2\r\nContent-Length: 5\r\n\r\nok"),
    code: NetworkError.ProtocolFailure,
  },
  {
    name: "answers with a Content-Length that is not a number",
    serve: answer(OK, "Content-Length: two\r\n\r\nok"),
    code: NetworkError.ProtocolFailure,
  },
  {
    // fetch reports every framing error inside a body as a broken connection, as it is:
    // the client drops the connection.
    name: "answers with a chunk size that is not hexadecimal",
    serve: answer(OK, "Transfer-Encoding: chunked\r\n\r\n", "zz\r\nbody\r\n0\r\n\r\n"),
    code: NetworkError.RemoteHostClosedError,
  },
  {
    name: "answers with a NUL byte in a header value",
    serve: answer(OK, "X-Bad: a\0b\r\nContent-Length: 2\r\n\r\nok"),
    code: NetworkError.ProtocolFailure,
  },
  // Truncated and oversized bodies and headers.
  {
    name: "sends more body than its Content-Length",
    serve: answer(OK, "Content-Length: 2\r\n\r\nokAND-MUCH-MORE"),
    code: NetworkError.NoError,
    status: 200,
    body: "ok",
  },
  {
    name: "sends a body over the reply's maxBodySize",
    serve: async (conn) => {
      await answer(OK, "Transfer-Encoding: chunked\r\n\r\n")(conn);
      for (let i = 0; i < 64; i++) await send(conn, chunk(new Uint8Array(16 * 1024)));
      await send(conn, "0\r\n\r\n");
    },
    init: { maxBodySize: 100_000 },
    code: NetworkError.ProtocolFailure,
    message: /limit of 100000 bytes/,
  },
  {
    name: "sends a header block of 1 MiB",
    serve: answer(OK, `X-Huge: ${"h".repeat(1024 * 1024)}\r\nContent-Length: 2\r\n\r\nok`),
    code: NetworkError.ProtocolFailure,
  },
  {
    name: "sends 200 header fields",
    serve: async (conn) => {
      await readHead(conn);
      let lines = "";
      for (let i = 0; i < 200; i++) lines += `X-Field-${i}: ${i}\r\n`;
      await send(conn, OK, lines, "Content-Length: 2\r\n\r\nok");
    },
    code: NetworkError.ProtocolFailure,
  },
  // Informational responses.
  {
    name: "sends 100 Continue before the response",
    serve: answer("HTTP/1.1 100 Continue\r\n\r\n", OK, "Content-Length: 2\r\n\r\nok"),
    code: NetworkError.NoError,
    status: 200,
    body: "ok",
  },
  {
    name: "sends 102 and 103 Early Hints before the response",
    serve: answer(
      "HTTP/1.1 102 Processing\r\n\r\n",
      "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
      OK,
      "Content-Length: 2\r\n\r\nok",
    ),
    code: NetworkError.NoError,
    status: 200,
    body: "ok",
  },
  {
    name: "sends only an informational response, then closes",
    serve: answer("HTTP/1.1 100 Continue\r\n\r\n"),
    code: NetworkError.RemoteHostClosedError,
  },
  // Slow and silent peers.
  {
    name: "accepts and never answers",
    serve: async (conn) => {
      await readHead(conn);
      await untilClosed(conn);
    },
    init: { transferTimeout: 300 },
    code: NetworkError.TimeoutError,
  },
  {
    name: "stops in the middle of the body",
    serve: async (conn) => {
      await answer(OK, "Content-Length: 10\r\n\r\nhalf")(conn);
      await untilClosed(conn);
    },
    init: { transferTimeout: 300 },
    code: NetworkError.TimeoutError,
  },
  {
    name: "trickles its headers a few bytes at a time",
    serve: async (conn) => {
      await readHead(conn);
      const response = `${OK}X-Slow: yes\r\nContent-Length: 4\r\n\r\nslow`;
      for (let i = 0; i < response.length; i += 8) {
        await send(conn, response.slice(i, i + 8));
        await tick(10);
      }
    },
    init: { transferTimeout: 2_000 },
    code: NetworkError.NoError,
    status: 200,
    body: "slow",
  },
  {
    name: "is silent, and the caller aborts",
    serve: async (conn) => {
      await readHead(conn);
      await untilClosed(conn);
    },
    send: (manager, url) => {
      const reply = manager.get(url);
      setTimeout(() => reply.abort(), 100);
      return reply;
    },
    code: NetworkError.OperationCanceledError,
  },
  // Bad encodings.
  {
    name: "sends Content-Encoding gzip with a body that is not gzip",
    serve: answer(OK, "Content-Encoding: gzip\r\nContent-Length: 9\r\n\r\nnot gzip!"),
    code: NetworkError.ProtocolFailure,
  },
  {
    name: "sends Content-Encoding gzip with a body that is not gzip, the guard off",
    serve: answer(OK, "Content-Encoding: gzip\r\nContent-Length: 9\r\n\r\nnot gzip!"),
    init: { decompressionGuard: -1 },
    code: NetworkError.ProtocolFailure,
    message: /cannot be decoded/,
  },
  {
    name: "sends Content-Encoding br with a body that is not brotli, the guard off",
    serve: answer(OK, "Content-Encoding: br\r\nContent-Length: 12\r\n\r\nnot brotli!!"),
    init: { decompressionGuard: -1 },
    code: NetworkError.ProtocolFailure,
    message: /cannot be decoded/,
  },
  {
    name: "sends a gzip body cut short with its whole Content-Length, the guard off",
    serve: async (conn) => {
      await readHead(conn);
      const whole = await gzip(encoder.encode("a perfectly ordinary body ".repeat(100)));
      const cut = whole.subarray(0, whole.byteLength - 12);
      await send(conn, OK, `Content-Encoding: gzip\r\nContent-Length: ${cut.byteLength}\r\n\r\n`);
      await send(conn, cut);
    },
    init: { decompressionGuard: -1 },
    code: NetworkError.ProtocolFailure,
    message: /cannot be decoded/,
  },
  {
    name: "sends Content-Encoding gzip with an empty body",
    serve: answer(OK, "Content-Encoding: gzip\r\nContent-Length: 0\r\n\r\n"),
    code: NetworkError.NoError,
    status: 200,
    body: "",
  },
  {
    name: "sends Content-Encoding br with an empty chunked body",
    serve: answer(OK, "Content-Encoding: br\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    code: NetworkError.NoError,
    status: 200,
    body: "",
  },
  {
    name: "sends a gzip body cut short inside a complete chunked body",
    serve: async (conn) => {
      await readHead(conn);
      const whole = await gzip(encoder.encode("a perfectly ordinary body ".repeat(100)));
      await send(
        conn,
        OK,
        "Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
        chunk(whole.subarray(0, whole.byteLength - 12)),
        "0\r\n\r\n",
      );
    },
    code: NetworkError.ProtocolFailure,
  },
  {
    name: "sends a chunked gzip bomb (no Content-Length)",
    serve: async (conn) => {
      await answer(OK, "Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n")(conn);
      for (let i = 0; i < zeros.byteLength; i += 4096) {
        await send(conn, chunk(zeros.subarray(i, i + 4096)));
      }
      await send(conn, "0\r\n\r\n");
    },
    code: NetworkError.ProtocolFailure,
    message: /decompression bomb/,
  },
  {
    name: "sends a deflate bomb with a Content-Length",
    serve: async (conn) => {
      await readHead(conn);
      const bomb = await gzip(new Uint8Array(32 * 1024 * 1024), "deflate");
      await send(
        conn,
        OK,
        `Content-Encoding: deflate\r\nContent-Length: ${bomb.byteLength}\r\n\r\n`,
      );
      await send(conn, bomb);
    },
    code: NetworkError.ProtocolFailure,
    message: /decompression bomb/,
  },
  // Redirect abuse.
  {
    name: "redirects to itself for ever",
    serve: answer("HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n"),
    code: NetworkError.TooManyRedirectsError,
  },
  {
    name: "redirects to a file: URL",
    serve: answer(
      "HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\n\r\n",
    ),
    code: NetworkError.ProtocolUnknownError,
  },
  {
    name: "redirects to a Location that is not a URL",
    serve: answer("HTTP/1.1 301 Moved\r\nLocation: http://[::1\r\nContent-Length: 0\r\n\r\n"),
    code: NetworkError.ProtocolUnknownError,
  },
  {
    name: "redirects to a port where nothing listens",
    // The port is found closed as the redirect is sent, not when the suite is defined: a port
    // closed that long before may serve another test's server by then.
    serve: (conn) =>
      answer(
        `HTTP/1.1 307 Temporary\r\nLocation: http://127.0.0.1:${closedPort()}/\r\nContent-Length: 0\r\n\r\n`,
      )(conn),
    code: NetworkError.ConnectionRefusedError,
  },
  {
    name: "sends a redirect status without Location",
    serve: answer("HTTP/1.1 302 Found\r\nContent-Length: 4\r\n\r\nhere"),
    code: NetworkError.NoError,
    status: 302,
    body: "here",
  },
];

Deno.test("fault suite: every misbehaving server gets its code, and the manager keeps serving", async (t) => {
  assert.ok(faults.length >= 30, `${faults.length} fault kinds`);
  await using healthy = serve(() => new Response("healthy"));
  await using manager = new NetworkAccessManager({ maxConnectionsPerHost: 2, maxRedirects: 5 });
  for (const fault of faults) {
    await t.step(fault.name, async () => {
      await using server = serveTcp((conn) => fault.serve(conn, 0));
      const url = `http://127.0.0.1:${server.port}/fault`;
      const reply = fault.send?.(manager, url) ?? manager.get(url, fault.init);
      let finished = 0;
      reply.addEventListener("finished", () => finished++);
      let body: string | undefined;
      try {
        body = await reply.text();
      } catch { /* the error is on the reply */ }
      await reply.finished;
      assert.equal(
        reply.error,
        fault.code,
        `expected code ${fault.code}, got ${reply.error}: ${reply.errorString}`,
      );
      if (fault.status !== undefined) assert.equal(reply.status, fault.status);
      if (fault.body !== undefined) assert.equal(body, fault.body);
      if (fault.message) assert.match(reply.errorString, fault.message);
      if (fault.code !== NetworkError.NoError) assert.notEqual(reply.errorString, "");
      await tick();
      assert.equal(finished, 1, "the reply finished exactly once");
      assert.equal(manager.queue.active(`http://127.0.0.1:${server.port}`), 0, "slot freed");
      // The manager keeps serving.
      const after = manager.get(`${healthy.url}/after`);
      assert.equal(await after.text(), "healthy");
      assert.equal(after.error, NetworkError.NoError);
      assert.deepEqual(manager.runningReplies, []);
    });
  }
  assert.deepEqual(takeUnhandledRejections(), []);
});
