/**
 * A loopback HTTPS server with keep-alive that answers every request with 1 KiB in one write,
 * and counts its connections. `Deno.serve` over TLS is not used: here a response on a reused
 * connection of its waits about 40 ms (its header and body go in two writes), which would hide
 * what a reused connection saves.
 */
export interface TlsServer extends AsyncDisposable {
  readonly url: string;
  /** Connections accepted so far. */
  readonly connections: number;
}

/** Starts the server on 127.0.0.1, port 0. */
export function serveTls(cert: string, key: string): TlsServer {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert,
    key,
    alpnProtocols: ["http/1.1"],
  });
  const response = new TextEncoder().encode(
    "HTTP/1.1 200 OK\r\ncontent-length: 1024\r\n\r\n" + "x".repeat(1024),
  );
  const open = new Set<Deno.TlsConn>();
  let connections = 0;
  const serveConn = async (conn: Deno.TlsConn) => {
    const buffer = new Uint8Array(16384);
    const decoder = new TextDecoder();
    let pending = "";
    try {
      for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
        pending += decoder.decode(buffer.subarray(0, n));
        for (let end = pending.indexOf("\r\n\r\n"); end >= 0; end = pending.indexOf("\r\n\r\n")) {
          pending = pending.slice(end + 4);
          await conn.write(response);
        }
      }
    } catch {
      // Closed by the client.
    } finally {
      open.delete(conn);
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        connections++;
        open.add(conn);
        void serveConn(conn);
      }
    } catch {
      // Closed.
    }
  })();
  return {
    url: `https://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/`,
    get connections() {
      return connections;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of open) conn.close();
      await accepting;
    },
  };
}
