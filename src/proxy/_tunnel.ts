/**
 * A connection to a host through a proxy, as Deno's `fetch` opens one for an https origin: an
 * HTTP proxy's tunnel (CONNECT) or a SOCKS5 connection, made with the proxy's own credentials.
 * What goes through it (a TLS handshake with the host) is the caller's. A tunnel through an
 * `https` proxy would need a TLS connection inside another, which Deno's own connections cannot
 * make: such a proxy opens none.
 *
 * @module
 */

import { parseIp } from "../_ip.ts";
import { DEFAULT_PORTS, type NetworkProxy } from "./network_proxy.ts";
import { base64 } from "./_redact.ts";

const encoder = new TextEncoder();

/** Reads exactly `size` bytes from `conn`, or `undefined` when it ends first. */
export async function readExactly(conn: Deno.Conn, size: number): Promise<Uint8Array | undefined> {
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size;) {
    const n = await conn.read(bytes.subarray(at));
    if (n === null) return undefined;
    at += n;
  }
  return bytes;
}

/** Writes all of `bytes` to `conn`. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

/**
 * The head of a CONNECT request for a tunnel to `authority` (`host:port`), with the proxy's
 * credentials, or the `Proxy-Authorization` value `authorization` when given.
 */
export function connectHead(
  authority: string,
  proxy: NetworkProxy,
  authorization?: string,
): Uint8Array {
  const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
  if (authorization !== undefined) lines.push(`Proxy-Authorization: ${authorization}`);
  else if (proxy.username !== undefined) {
    lines.push(`Proxy-Authorization: Basic ${base64(`${proxy.username}:${proxy.password ?? ""}`)}`);
  }
  return encoder.encode(lines.join("\r\n") + "\r\n\r\n");
}

/** Exactly `size` bytes from `conn`; throws when it ends first. */
async function readFull(conn: Deno.Conn, size: number): Promise<Uint8Array> {
  const bytes = await readExactly(conn, size);
  if (bytes === undefined) throw new Error("the proxy closed the connection");
  return bytes;
}

/** Asks an HTTP proxy for a tunnel to `host:port`; throws unless it answers 2xx. */
async function connectTunnel(
  conn: Deno.Conn,
  proxy: NetworkProxy,
  host: string,
  port: number,
): Promise<void> {
  const authority = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  await writeAll(conn, connectHead(authority, proxy));
  // Byte by byte: what follows the head is the origin's.
  let head = "";
  while (!head.endsWith("\r\n\r\n")) {
    if (head.length > 16_384) throw new Error("the proxy's answer is too long");
    head += String.fromCharCode((await readFull(conn, 1))[0]!);
  }
  if (!/^HTTP\/\d(\.\d)? 2\d\d/.test(head)) throw new Error("the proxy refused the tunnel");
}

/** Asks a SOCKS5 proxy (RFC 1928, RFC 1929) for a connection to `host:port`. */
async function socksConnect(
  conn: Deno.Conn,
  proxy: NetworkProxy,
  host: string,
  port: number,
): Promise<void> {
  const withCredentials = proxy.username !== undefined;
  await writeAll(conn, new Uint8Array(withCredentials ? [5, 2, 0, 2] : [5, 1, 0]));
  const [version, method] = await readFull(conn, 2);
  if (version !== 5 || (method !== 0 && !(method === 2 && withCredentials))) {
    throw new Error("the proxy refused every method offered");
  }
  if (method === 2) {
    const user = encoder.encode(proxy.username);
    const password = encoder.encode(proxy.password ?? "");
    await writeAll(conn, new Uint8Array([1, user.length, ...user, password.length, ...password]));
    if ((await readFull(conn, 2))[1] !== 0) throw new Error("the proxy refused the credentials");
  }
  // The host as the URL names it: an address as such, a name for the proxy to resolve.
  const ip = parseIp(host);
  const name = encoder.encode(host);
  const address = ip === undefined ? [3, name.length, ...name] : [ip.length === 4 ? 1 : 4, ...ip];
  await writeAll(conn, new Uint8Array([5, 1, 0, ...address, port >> 8, port & 0xff]));
  const reply = await readFull(conn, 4);
  if (reply[1] !== 0) throw new Error(`the proxy answered ${reply[1]}`);
  // The address the proxy bound, then its port: read past them.
  const size = reply[3] === 1 ? 4 : reply[3] === 4 ? 16 : (await readFull(conn, 1))[0]!;
  await readFull(conn, size + 2);
}

/** Whether {@linkcode openTunnel} can reach a host through `proxy` (`http`, `socks5`, `socks5h`). */
export function tunnels(proxy: NetworkProxy): boolean {
  return proxy.url !== undefined &&
    (proxy.type === "http" || proxy.type === "socks5" || proxy.type === "socks5h");
}

/**
 * A connection to `host:port` (unbracketed) through `proxy`, which {@linkcode tunnels}: the
 * proxy's answer read, the bytes that follow are the host's. Throws when the proxy refuses or
 * fails, or `signal` aborts the connect; the connection is closed then.
 */
export async function openTunnel(
  proxy: NetworkProxy,
  host: string,
  port: number,
  signal?: AbortSignal,
): Promise<Deno.TcpConn> {
  if (!tunnels(proxy)) throw new Error(`a ${proxy.type} proxy opens no tunnel`);
  const proxyUrl = new URL(proxy.url!);
  const tcp = await Deno.connect({
    hostname: proxyUrl.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: Number(proxyUrl.port || DEFAULT_PORTS[proxyUrl.protocol]),
    ...(signal ? { signal } : {}),
  });
  const close = () => {
    try {
      tcp.close();
    } catch {
      // Already closed.
    }
  };
  // An abort while the proxy answers closes the connection, which ends the reads under way.
  signal?.addEventListener("abort", close, { once: true });
  try {
    await (proxy.type === "http" ? connectTunnel : socksConnect)(tcp, proxy, host, port);
    signal?.throwIfAborted();
    return tcp;
  } catch (error) {
    close();
    throw error;
  } finally {
    signal?.removeEventListener("abort", close);
  }
}
