/**
 * The protocol an https origin picks when reached through a proxy as Deno's `fetch` reaches it:
 * through a tunnel (an HTTP proxy's CONNECT, or a SOCKS5 connection), a TLS handshake with the
 * origin that offers `h2` and `http/1.1` (ALPN). A tunnel through an `https` proxy would need a
 * TLS connection inside another, which Deno's own connections cannot make: that origin is not
 * asked.
 *
 * @module
 */

import { _readFull } from "../_http2.ts";
import { parseIp, unbracket } from "../_ip.ts";
import { DEFAULT_PORTS, type NetworkProxy } from "../proxy/network_proxy.ts";
import { base64 } from "../proxy/_redact.ts";

const encoder = new TextEncoder();

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

/** Exactly `size` bytes from `conn`; throws when it ends first. */
async function readFull(conn: Deno.Conn, size: number): Promise<Uint8Array> {
  const bytes = await _readFull(conn, size);
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
  const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
  if (proxy.username !== undefined) {
    lines.push(`Proxy-Authorization: Basic ${base64(`${proxy.username}:${proxy.password ?? ""}`)}`);
  }
  await writeAll(conn, encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
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

/**
 * The protocol the https origin of `url` picks in a TLS handshake offering `h2` and `http/1.1`,
 * reached through `proxy` (`http`, `socks5` or `socks5h`): `null` when it picks none,
 * `undefined` when the tunnel or the handshake fails, `signal` aborts, or the proxy is of
 * another type. The connection is closed afterwards.
 */
export async function tunnelledProtocol(
  proxy: NetworkProxy,
  url: URL,
  caCerts: readonly string[],
  signal: AbortSignal,
): Promise<string | null | undefined> {
  const through = proxy.type === "http"
    ? connectTunnel
    : proxy.type === "socks5" || proxy.type === "socks5h"
    ? socksConnect
    : undefined;
  if (through === undefined || proxy.url === undefined) return undefined;
  const proxyUrl = new URL(proxy.url);
  const host = unbracket(url.hostname);
  let conn: Deno.Conn | undefined;
  const close = () => {
    try {
      conn?.close();
    } catch {
      // Already closed.
    }
  };
  signal.addEventListener("abort", close, { once: true });
  try {
    const tcp = conn = await Deno.connect({
      hostname: unbracket(proxyUrl.hostname),
      port: Number(proxyUrl.port || DEFAULT_PORTS[proxyUrl.protocol]),
      signal,
    });
    await through(tcp, proxy, host, Number(url.port || 443));
    const tls = conn = await Deno.startTls(tcp, {
      hostname: host,
      caCerts: caCerts.length > 0 ? [...caCerts] : undefined,
      alpnProtocols: ["h2", "http/1.1"],
    });
    const { alpnProtocol } = await tls.handshake();
    return signal.aborted ? undefined : alpnProtocol;
  } catch {
    return undefined;
  } finally {
    signal.removeEventListener("abort", close);
    close();
  }
}
