/**
 * A loopback relay for the tunnels (CONNECT) of an `http` proxy with credentials: Deno's client
 * sends those credentials on CONNECT and, inside the tunnel, to the https origin as well
 * (Deno 2.9.6). Its client is given the relay as its proxy, without credentials; the relay
 * asks the real proxy for the tunnel with them ({@linkcode connectHead}), hands the proxy's
 * answer back as it came (a 407 reads as Deno's own), and then passes bytes both ways. A relay
 * that cannot reach the proxy answers 502, which the library's probe of the proxy explains.
 *
 * @module
 */

import { DEFAULT_PORTS, type NetworkProxy } from "./network_proxy.ts";
import { connectHead, writeAll } from "./_tunnel.ts";

/** A running relay: the proxy URL Deno's client is given, and how to stop it. */
export interface ConnectRelay {
  /** `http://127.0.0.1:PORT`, the relay's address as a proxy URL. */
  readonly url: string;
  /**
   * The credentials of this relay alone (a random password) Deno's client must give on CONNECT:
   * no other process on the machine can use the proxy's credentials through it. Deno sends them
   * into the tunnel too; they open nothing but this relay, which only its client reaches.
   */
  readonly basicAuth: { username: string; password: string };
  /**
   * Lets the relay tunnel to `authority` (`host:port`, the port 443 when left out): it tunnels only
   * to the https origins its client was taken for, so that its credentials, which Deno's client
   * sends into the tunnel to those origins, open no tunnel to anywhere else.
   */
  allow(authority: string): void;
  /** Stops listening and closes every connection it relays. Safe to call twice. */
  close(): void;
}

const encoder = new TextEncoder();
const LATIN1 = new TextDecoder("latin1");
const BAD_GATEWAY = encoder.encode(
  "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
);
/** The longest request head the relay reads (Deno's CONNECT is two short lines). */
const MAX_HEAD = 16_384;
/** How long the relay waits for a request head (Deno's comes at once) before it closes. */
const HEAD_MS = 5_000;

/** Whether `descriptor` is granted now, asked without a prompt. */
function granted(descriptor: Deno.NetPermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    return false;
  }
}

/** The proxy's host (unbracketed) and port. */
function proxyAddress(proxy: NetworkProxy): { hostname: string; port: number } {
  const url = new URL(proxy.url!);
  return {
    hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: Number(url.port || DEFAULT_PORTS[url.protocol]),
  };
}

/** Closes a connection that may be closed already. */
function closeConn(conn: Deno.Conn | undefined): void {
  try {
    conn?.close();
  } catch {
    // Already closed.
  }
}

/** Whether https requests through `proxy` go through a relay: an `http` proxy with credentials. */
export function needsRelay(proxy: NetworkProxy): boolean {
  return proxy.type === "http" && proxy.url !== undefined && proxy.username !== undefined;
}

/**
 * Reads the request head Deno's client sent: the CONNECT's authority and any bytes after the
 * head, or `undefined` when the connection ends first, the head is too long, not a CONNECT, or
 * without the relay's own `authorization` (another process on the machine).
 */
async function readConnect(
  conn: Deno.Conn,
  authorization: string,
): Promise<{ authority: string; rest: Uint8Array } | undefined> {
  let bytes = new Uint8Array(0);
  const chunk = new Uint8Array(4096);
  while (bytes.length <= MAX_HEAD) {
    const n = await conn.read(chunk);
    if (n === null) return undefined;
    const more = new Uint8Array(bytes.length + n);
    more.set(bytes);
    more.set(chunk.subarray(0, n), bytes.length);
    bytes = more;
    const text = LATIN1.decode(bytes);
    const end = text.indexOf("\r\n\r\n");
    if (end === -1) continue;
    const match = /^CONNECT (\S+) HTTP\/1\.[01]\r\n/.exec(text);
    const fields = text.slice(0, end).split("\r\n").slice(1);
    const own = fields.some((field) => {
      const colon = field.indexOf(":");
      return field.slice(0, colon).trim().toLowerCase() === "proxy-authorization" &&
        field.slice(colon + 1).trim() === authorization;
    });
    return match && own ? { authority: match[1]!, rest: bytes.subarray(end + 4) } : undefined;
  }
  return undefined;
}

/** Relays one connection of Deno's client; both ends are closed when either ends. */
async function relay(
  inner: Deno.Conn,
  proxy: NetworkProxy,
  open: Set<Deno.Conn>,
  authorization: string,
  allowed: Set<string>,
): Promise<void> {
  let outer: Deno.Conn | undefined;
  const timer = setTimeout(() => closeConn(inner), HEAD_MS);
  try {
    const head = await readConnect(inner, authorization).finally(() => clearTimeout(timer));
    if (head === undefined || !allowed.has(head.authority.toLowerCase())) {
      await writeAll(inner, BAD_GATEWAY);
      return;
    }
    try {
      outer = await Deno.connect(proxyAddress(proxy));
    } catch {
      // Deno reports an unsuccessful tunnel; the probe of the proxy says why.
      await writeAll(inner, BAD_GATEWAY);
      return;
    }
    if (!open.has(inner)) return; // the relay closed meanwhile
    open.add(outer);
    await writeAll(outer, connectHead(head.authority, proxy));
    if (head.rest.length > 0) await writeAll(outer, head.rest);
    // The proxy's answer goes back unread, then the tunnel's bytes: whichever way ends first
    // ends both.
    const options = { preventClose: true };
    await Promise.race([
      inner.readable.pipeTo(outer.writable, options),
      outer.readable.pipeTo(inner.writable, options),
    ]);
  } catch {
    // A connection closed under the relay: both are closed below.
  } finally {
    open.delete(inner);
    closeConn(inner);
    if (outer !== undefined) {
      open.delete(outer);
      closeConn(outer);
    }
  }
}

/**
 * Starts a relay on 127.0.0.1 for the tunnels of `proxy` (an `http` proxy with credentials);
 * `undefined` when the `net` permission for 127.0.0.1 (all ports) or for the proxy's address is
 * not granted (nothing is asked) or listening fails: Deno's client then sends the credentials
 * itself.
 */
export function startConnectRelay(proxy: NetworkProxy): ConnectRelay | undefined {
  if (!needsRelay(proxy)) return undefined;
  const address = proxyAddress(proxy);
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  if (!granted({ name: "net", host: "127.0.0.1" })) return undefined;
  if (!granted({ name: "net", host: `${host}:${address.port}` })) return undefined;
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  } catch {
    return undefined;
  }
  const open = new Set<Deno.Conn>();
  let closed = false;
  const basicAuth = { username: "relay", password: crypto.randomUUID() };
  const authorization = `Basic ${btoa(`${basicAuth.username}:${basicAuth.password}`)}`;
  const allowed = new Set<string>();
  (async () => {
    try {
      for await (const conn of listener) {
        if (closed) {
          closeConn(conn);
          break;
        }
        open.add(conn);
        relay(conn, proxy, open, authorization, allowed);
      }
    } catch {
      // The listener closed.
    }
  })();
  return {
    url: `http://127.0.0.1:${listener.addr.port}`,
    basicAuth,
    allow(authority) {
      const lower = authority.toLowerCase();
      allowed.add(/:\d+$/.test(lower) ? lower : `${lower}:443`);
    },
    close() {
      if (closed) return;
      closed = true;
      try {
        listener.close();
      } catch {
        // Already closed.
      }
      const conns = [...open];
      open.clear();
      for (const conn of conns) closeConn(conn);
    },
  };
}
