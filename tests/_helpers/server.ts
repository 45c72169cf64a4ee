/** Loopback servers for tests: Deno.serve on 127.0.0.1 port 0, and a raw TCP server. */

/** A running test server. */
export interface TestServer extends AsyncDisposable {
  /** The base URL, such as `http://127.0.0.1:41234`. */
  url: string;
  /** The port. */
  port: number;
  /** Stops the server and waits for it. */
  close(): Promise<void>;
}

/** Starts `Deno.serve` on 127.0.0.1, port 0, with `handler`. */
export function serve(
  handler: (
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ) => Response | Promise<Response>,
  options: { cert?: string; key?: string } = {},
): TestServer {
  const controller = new AbortController();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    onListen() {},
    ...options,
  }, handler);
  const scheme = options.cert ? "https" : "http";
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      controller.abort();
      await server.finished;
    })();
    return closed;
  };
  return {
    url: `${scheme}://127.0.0.1:${server.addr.port}`,
    port: server.addr.port,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * A raw TCP server: `onConnection` gets each connection and owns it (must close it). Used for
 * misbehaving peers (closing mid-body, never answering).
 */
export function serveTcp(onConnection: (conn: Deno.TcpConn) => Promise<void>): TestServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const connections = new Set<Deno.TcpConn>();
  const tasks = new Set<Promise<void>>();
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        connections.add(conn);
        const task = onConnection(conn).catch(() => {}).finally(() => {
          connections.delete(conn);
          try {
            conn.close();
          } catch { /* already closed */ }
        });
        tasks.add(task);
        task.finally(() => tasks.delete(task));
      }
    } catch { /* listener closed */ }
  })();
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      listener.close();
      for (const conn of connections) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
      await accepting;
      await Promise.all(tasks);
    })();
    return closed;
  };
  const port = (listener.addr as Deno.NetAddr).port;
  return { url: `http://127.0.0.1:${port}`, port, close, [Symbol.asyncDispose]: close };
}

/** `bytes` as one chunk of a `Transfer-Encoding: chunked` body (its size line, the bytes, CRLF). */
export function chunk(bytes: Uint8Array): Uint8Array {
  const encoder = new TextEncoder();
  const head = encoder.encode(`${bytes.byteLength.toString(16)}\r\n`);
  const out = new Uint8Array(head.byteLength + bytes.byteLength + 2);
  out.set(head);
  out.set(bytes, head.byteLength);
  out.set(encoder.encode("\r\n"), head.byteLength + bytes.byteLength);
  return out;
}

/** Reads an HTTP/1.1 request head from a raw connection. */
export async function readHead(conn: Deno.Conn): Promise<string> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(16384);
  let text = "";
  while (!text.includes("\r\n\r\n")) {
    const n = await conn.read(buffer);
    if (n === null) break;
    text += decoder.decode(buffer.subarray(0, n));
  }
  return text;
}

/**
 * Waits `ms`, or less when `signal` aborts (the client went away, the test ends): a handler's
 * wait outlives no test.
 */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

let rejections: unknown[] | undefined;

/**
 * Records unhandled rejections from now on (instead of letting one fail the run), so that a
 * test asserts with {@linkcode takeUnhandledRejections} that none happened. Call it once, at
 * the top of a test module that asserts so; importing this file installs nothing.
 */
export function guardUnhandledRejections(): void {
  if (rejections !== undefined) return;
  const seen: unknown[] = rejections = [];
  globalThis.addEventListener("unhandledrejection", (event) => {
    seen.push(event.reason);
    event.preventDefault();
  });
}

/** Unhandled rejections seen since the last call (the list is emptied). */
export function takeUnhandledRejections(): unknown[] {
  if (rejections === undefined) {
    throw new Error("guardUnhandledRejections() was not called in this test module");
  }
  return rejections.splice(0);
}

/** Lets pending timers and microtasks run. */
export function tick(ms = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
