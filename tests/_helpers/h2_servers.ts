/**
 * https servers on loopback for the HTTP/2 tests: one that speaks HTTP/2 (as `Deno.serve` does
 * with TLS), one that speaks HTTP/1.1 only, one that never answers and one whose connects never
 * complete, with the certificates they present.
 */

import http2 from "node:http2";
import { makeTestCertificates, type TestCertificates } from "./tls.ts";

/** A test server: its URL, disposed of with `await using`. */
export interface TestServer extends AsyncDisposable {
  /** `https://127.0.0.1:<port>/`. */
  readonly url: string;
}

/** A test server that reports how many requests it had in flight at once. */
export interface PeakServer extends TestServer {
  /** The most requests in flight at once so far. */
  readonly peak: number;
  /** Forgets the peak so far. */
  resetPeak(): void;
}

/** {@linkcode holdingServer}'s: a peak server whose hold can be changed. */
export interface HoldingServer extends PeakServer {
  /** How long a request is held when no other arrives, from now on. */
  holdMs: number;
}

/**
 * A hold for tests that expect every request in flight at once: the requests queued behind the
 * HTTP/1.1 limit arrive once the manager learnt HTTP/2, a TLS handshake later, which on a loaded
 * machine took more than 300 ms (the peak then fell short). Only a test that fails waits it out.
 */
export const ALL_IN = 5000;

/**
 * The certificates every server here presents (trust `certs.caCert`): made here, or those of the
 * process that started this one, given as JSON in `H2_SERVERS_CERTS`.
 */
export const certs: TestCertificates = JSON.parse(Deno.env.get("H2_SERVERS_CERTS") ?? "null") ??
  await makeTestCertificates({ method: "webcrypto" });

/**
 * An https server (HTTP/2 by ALPN, as `Deno.serve` offers with TLS) that holds every request
 * until `expected` are in flight at once (or `holdMs` passed without a new one), and reports the peak.
 */
export function holdingServer(expected: number, holdMs = 1000, port = 0): HoldingServer {
  let hold = holdMs;
  let inFlight = 0;
  let peak = 0;
  const waiting: (() => void)[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const releaseAll = () => {
    clearTimeout(timer);
    for (const resolve of waiting.splice(0)) resolve();
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, cert: certs.cert, key: certs.key, onListen() {} },
    async () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      const held = new Promise<void>((resolve) => waiting.push(resolve));
      if (inFlight >= expected) releaseAll();
      else {
        clearTimeout(timer);
        timer = setTimeout(releaseAll, hold);
      }
      await held;
      inFlight--;
      return new Response("stream");
    },
  );
  return {
    url: `https://127.0.0.1:${server.addr.port}/`,
    get peak() {
      return peak;
    },
    /** Forgets the peak so far. */
    resetPeak() {
      peak = 0;
    },
    get holdMs() {
      return hold;
    },
    set holdMs(ms: number) {
      hold = ms;
    },
    async [Symbol.asyncDispose]() {
      releaseAll();
      await server.shutdown();
    },
  };
}

/** A TCP server on loopback that accepts connections and never says a word (no TLS handshake). */
export function silentServer(): TestServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) conns.push(conn);
    } catch {
      // Closed.
    }
  })();
  return {
    url: `https://127.0.0.1:${listener.addr.port}/`,
    async [Symbol.asyncDispose]() {
      for (const conn of conns) conn.close();
      listener.close();
      await accepting;
    },
  };
}

/**
 * A listener on loopback whose connects never complete: its accept queue holds one connection
 * (`tcpBacklog: 0`), which one connection of its own fills and nothing accepts, so Linux drops
 * every further SYN, as a host that drops SYNs does. Disposing of it closes both.
 */
export async function unansweredServer(): Promise<TestServer> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0, tcpBacklog: 0 });
  const filler = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  return {
    url: `https://127.0.0.1:${listener.addr.port}/`,
    [Symbol.asyncDispose]() {
      filler.close();
      listener.close();
      return Promise.resolve();
    },
  };
}

/**
 * An https server that speaks HTTP/1.1 only (ALPN `http/1.1`) on `port` of `hostname`, holding
 * every request `holdMs`, and reporting how many were in flight at once and how many connections
 * it accepted.
 */
export function http1Server(
  port: number,
  holdMs = 200,
  hostname = "127.0.0.1",
): PeakServer & { readonly connections: number } {
  const listener = Deno.listenTls({
    hostname,
    port,
    cert: certs.cert,
    key: certs.key,
    alpnProtocols: ["http/1.1"],
  });
  const conns = new Set<Deno.Conn>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let inFlight = 0;
  let peak = 0;
  let connections = 0;
  const decoder = new TextDecoder();
  const answer = new TextEncoder().encode("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
  const serve = async (conn: Deno.Conn) => {
    conns.add(conn);
    connections++;
    const buffer = new Uint8Array(4096);
    let text = "";
    try {
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        text += decoder.decode(buffer.subarray(0, n));
        while (text.includes("\r\n\r\n")) {
          text = text.slice(text.indexOf("\r\n\r\n") + 4);
          inFlight++;
          peak = Math.max(peak, inFlight);
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => (timers.delete(timer), resolve()), holdMs);
            timers.add(timer);
          });
          inFlight--;
          await conn.write(answer);
        }
      }
    } catch {
      // Closed.
    }
    conns.delete(conn);
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  };
  const serving: Promise<void>[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) serving.push(serve(conn));
    } catch {
      // Closed.
    }
  })();
  return {
    url: `https://127.0.0.1:${listener.addr.port}/`,
    get peak() {
      return peak;
    },
    /** How many connections it accepted. */
    get connections() {
      return connections;
    },
    /** Forgets the peak so far. */
    resetPeak() {
      peak = 0;
    },

    async [Symbol.asyncDispose]() {
      for (const timer of timers) clearTimeout(timer);
      listener.close();
      for (const conn of conns) conn.close();
      await accepting;
      await Promise.all(serving);
    },
  };
}

/** How {@linkcode nodeHttp2Server} closes its connections (each with a GOAWAY). */
export interface NodeHttp2Sessions {
  /** Closes a connection that had no frame for this long. */
  idleMs?: number;
  /** Closes a connection once this many streams were opened on it. */
  streams?: number;
}

/**
 * An HTTP/2 server (node:http2, with `options` besides the test certificates) that answers each
 * request after `holdMs`, records the paths in the order it got them, and reports the peak in
 * flight and how many connections it accepted; `sessions` closes its connections when idle or
 * after a number of streams. `{ settings: { maxConcurrentStreams: 1 } }` allows one stream at a time; `{ ca,
 * requestCert: true, rejectUnauthorized: true }` refuses a client without a certificate.
 */
export async function nodeHttp2Server(
  holdMs: number,
  options: http2.SecureServerOptions = {},
  sessions: NodeHttp2Sessions = {},
): Promise<PeakServer & { readonly paths: readonly string[]; readonly connections: number }> {
  const server = http2.createSecureServer({ ...options, cert: certs.cert, key: certs.key });
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const paths: string[] = [];
  let inFlight = 0;
  let peak = 0;
  let connections = 0;
  server.on("secureConnection", () => connections++);
  server.on("session", (session) => {
    const { idleMs, streams } = sessions;
    if (idleMs !== undefined) session.setTimeout(idleMs, () => session.close());
    let opened = 0;
    // Closed (GOAWAY) once it opened its share: the streams the client sent before it are served.
    if (streams !== undefined) {
      session.on("stream", () => {
        if (++opened === streams) session.close();
      });
    }
  });
  server.on("stream", (stream, headers) => {
    // A stream the client reset: nothing to answer.
    stream.on("error", () => {});
    paths.push(String(headers[":path"]));
    inFlight++;
    peak = Math.max(peak, inFlight);
    const timer = setTimeout(() => {
      timers.delete(timer);
      inFlight--;
      if (stream.destroyed) return;
      stream.respond({ ":status": 200 });
      stream.end("ok");
    }, holdMs);
    timers.add(timer);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `https://127.0.0.1:${port}/`,
    paths,
    get connections() {
      return connections;
    },
    get peak() {
      return peak;
    },
    resetPeak() {
      peak = 0;
    },

    async [Symbol.asyncDispose]() {
      for (const timer of timers) clearTimeout(timer);
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * A TLS server that picks `h2` in the handshake and then says nothing (no SETTINGS, no answer),
 * holding every connection until disposed of.
 */
export function mutedH2Server(): TestServer {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: certs.cert,
    key: certs.key,
    alpnProtocols: ["h2"],
  });
  const conns: Deno.TlsConn[] = [];
  const handshakes: Promise<unknown>[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        conns.push(conn);
        handshakes.push(conn.handshake().catch(() => {}));
      }
    } catch {
      // Closed.
    }
  })();
  return {
    url: `https://127.0.0.1:${listener.addr.port}/`,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      await accepting;
      await Promise.all(handshakes);
    },
  };
}
