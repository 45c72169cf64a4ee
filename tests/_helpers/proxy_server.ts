/**
 * A loopback proxy for tests, on raw TCP (`Deno.listen`, port 0): HTTP absolute-form forwarding,
 * CONNECT tunnelling and SOCKS5 (no authentication or username/password, the CONNECT command,
 * IPv4, IPv6 and domain addresses), with optional credentials, a request log, and modes that
 * misbehave on purpose. Also a loopback origin (plain or TLS) to reach through it.
 *
 * @module
 */

import { type DenoOutput, runDeno } from "./deno_run.ts";

/** How the proxy behaves once it has accepted a connection. */
export type ProxyServerMode =
  /** Serves the protocol. */
  | "serve"
  /** Closes every connection as soon as it is accepted. */
  | "close"
  /** Accepts connections and never reads from or writes to them. */
  | "hang";

/** Options of {@linkcode startProxyServer}. */
export interface ProxyServerOptions {
  /** `"http"` serves absolute-form requests and CONNECT; `"socks5"` serves SOCKS5. */
  protocol?: "http" | "socks5";
  /** Credentials the proxy requires (Basic for HTTP, RFC 1929 for SOCKS5); none when absent. */
  auth?: { username: string; password: string };
  /** See {@linkcode ProxyServerMode}. */
  mode?: ProxyServerMode;
  /** Host names the proxy resolves itself, e.g. `{ "origin.test": "127.0.0.1" }`. */
  hosts?: Record<string, string>;
  /** Speaks TLS to clients (an `https` proxy) with {@linkcode ORIGIN_CERT}; HTTP only. */
  tls?: boolean;
  /**
   * The status answered to wrong HTTP credentials (missing ones always get 407); 401 with
   * `WWW-Authenticate` is what tinyproxy 1.11 sends.
   */
  wrongCredentialsStatus?: 401 | 407;
}

/** One request or tunnel the proxy saw. */
export interface ProxyRecord {
  /** `"forward"` (absolute-form HTTP), `"connect"` (HTTP CONNECT) or `"socks5"`. */
  kind: "forward" | "connect" | "socks5";
  /** The target as the client named it, `host:port` (IPv6 in brackets). */
  target: string;
  /** The request method and URL of a forwarded request. */
  method?: string;
  /** The absolute URL of a forwarded request. */
  url?: string;
  /** The `Proxy-Authorization` header the client sent, or null. */
  proxyAuthorization: string | null;
  /** The SOCKS5 credentials the client sent, or null. */
  socksCredentials: { username: string; password: string } | null;
  /** The SOCKS5 address type of the target. */
  addressType?: "ipv4" | "domain" | "ipv6";
  /** The HTTP status the proxy answered with, or the SOCKS5 reply code (0 is success). */
  outcome: number;
}

/** A running loopback proxy. */
export interface ProxyServer extends AsyncDisposable {
  /** The proxy's URL: `http://`, `https://` or `socks5://127.0.0.1:<port>`. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** Every request and tunnel so far, in order. */
  readonly log: ProxyRecord[];
  /** Number of connections accepted so far. */
  readonly accepted: number;
  /** Stops listening and closes every socket; safe to call twice. */
  close(): Promise<void>;
}

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

class Reader {
  #conn: Deno.Conn;
  #buffer = new Uint8Array(0);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(16 * 1024);
    const n = await this.#conn.read(chunk);
    if (n === null) return false;
    const next = new Uint8Array(this.#buffer.length + n);
    next.set(this.#buffer);
    next.set(chunk.subarray(0, n), this.#buffer.length);
    this.#buffer = next;
    return true;
  }

  async exactly(n: number): Promise<Uint8Array> {
    while (this.#buffer.length < n) {
      if (!await this.#fill()) throw new Error("unexpected end of stream");
    }
    const out = this.#buffer.slice(0, n);
    this.#buffer = this.#buffer.slice(n);
    return out;
  }

  async head(): Promise<string> {
    for (;;) {
      const text = latin1.decode(this.#buffer);
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        this.#buffer = this.#buffer.slice(end + 4);
        return text.slice(0, end);
      }
      if (this.#buffer.length > 64 * 1024) throw new Error("request head too large");
      if (!await this.#fill()) throw new Error("unexpected end of stream");
    }
  }

  rest(): Uint8Array {
    const out = this.#buffer;
    this.#buffer = new Uint8Array(0);
    return out;
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

async function pump(from: Deno.Conn, to: Deno.Conn, initial?: Uint8Array): Promise<void> {
  try {
    if (initial && initial.length > 0) await writeAll(to, initial);
    const buffer = new Uint8Array(32 * 1024);
    for (;;) {
      const n = await from.read(buffer);
      if (n === null) break;
      await writeAll(to, buffer.subarray(0, n));
    }
  } catch {
    // One side went away: the tunnel is over.
  }
  try {
    await to.closeWrite();
  } catch {
    // Already closed.
  }
}

function parseHead(head: string): { line: string; headers: [string, string][] } {
  const [line = "", ...rest] = head.split("\r\n");
  const headers: [string, string][] = [];
  for (const raw of rest) {
    const colon = raw.indexOf(":");
    if (colon > 0) headers.push([raw.slice(0, colon).trim(), raw.slice(colon + 1).trim()]);
  }
  return { line, headers };
}

function header(headers: [string, string][], name: string): string | null {
  const found = headers.find(([key]) => key.toLowerCase() === name);
  return found ? found[1] : null;
}

function splitHostPort(target: string): { host: string; port: number } {
  const match = /^\[(.+)\]:(\d+)$/.exec(target) ?? /^([^:]+):(\d+)$/.exec(target);
  if (!match) throw new Error(`bad target ${target}`);
  return { host: match[1]!, port: Number(match[2]) };
}

/**
 * Starts a proxy on 127.0.0.1 with a port chosen by the system.
 *
 * @param options Protocol, credentials, mode and host map.
 * @returns The running proxy; close it (or `await using` it) before the test ends.
 */
export function startProxyServer(options: ProxyServerOptions = {}): ProxyServer {
  const protocol = options.protocol ?? "http";
  const mode = options.mode ?? "serve";
  const auth = options.auth;
  const hosts = options.hosts ?? {};
  const tls = options.tls === true && protocol === "http";
  const listener: Deno.Listener = tls
    ? Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: ORIGIN_CERT, key: ORIGIN_KEY })
    : Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const log: ProxyRecord[] = [];
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  let accepted = 0;
  let closed = false;

  const track = (conn: Deno.Conn): Deno.Conn => {
    conns.add(conn);
    return conn;
  };
  const release = (conn: Deno.Conn): void => {
    if (!conns.delete(conn)) return;
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  };
  const dial = (host: string, targetPort: number): Promise<Deno.Conn> => {
    const hostname = hosts[host] ?? host;
    return Deno.connect({ hostname, port: targetPort }).then((conn) => {
      if (closed) {
        conn.close();
        throw new Error("proxy closed");
      }
      return track(conn);
    });
  };
  const expectedBasic = auth
    ? "Basic " + btoa(String.fromCharCode(...encoder.encode(`${auth.username}:${auth.password}`)))
    : null;

  async function tunnel(client: Deno.Conn, upstream: Deno.Conn, leftover: Uint8Array) {
    await Promise.all([pump(client, upstream, leftover), pump(upstream, client)]);
    release(upstream);
  }

  async function serveHttp(client: Deno.Conn, reader: Reader): Promise<void> {
    const { line, headers } = parseHead(await reader.head());
    const [method = "", target = "", version = "HTTP/1.1"] = line.split(" ");
    const proxyAuthorization = header(headers, "proxy-authorization");
    /** Answers a request without the expected credentials (401 or 407); true when it did. */
    const refused = async (record: ProxyRecord): Promise<boolean> => {
      if (expectedBasic === null || proxyAuthorization === expectedBasic) return false;
      const wrong = proxyAuthorization !== null && options.wrongCredentialsStatus === 401;
      record.outcome = wrong ? 401 : 407;
      await (wrong
        ? answer(401, "Unauthorized", 'www-authenticate: Basic realm="proxy"\r\n')
        : answer(
          407,
          "Proxy Authentication Required",
          'proxy-authenticate: Basic realm="proxy"\r\n',
        ));
      return true;
    };
    const answer = (status: number, reason: string, extra = "") =>
      writeAll(
        client,
        encoder.encode(
          `HTTP/1.1 ${status} ${reason}\r\n${extra}content-length: 0\r\nconnection: close\r\n\r\n`,
        ),
      );
    if (method === "CONNECT") {
      const record: ProxyRecord = {
        kind: "connect",
        target,
        proxyAuthorization,
        socksCredentials: null,
        outcome: 0,
      };
      log.push(record);
      if (await refused(record)) return;
      let upstream: Deno.Conn;
      try {
        const { host, port } = splitHostPort(target);
        upstream = await dial(host, port);
      } catch {
        record.outcome = 502;
        await answer(502, "Bad Gateway");
        return;
      }
      record.outcome = 200;
      await writeAll(client, encoder.encode("HTTP/1.1 200 Connection Established\r\n\r\n"));
      await tunnel(client, upstream, reader.rest());
      return;
    }
    let url: URL | undefined;
    try {
      url = new URL(target);
    } catch {
      url = undefined;
    }
    const record: ProxyRecord = {
      kind: "forward",
      target: url
        ? `${url.hostname}:${url.port || (url.protocol === "https:" ? 443 : 80)}`
        : target,
      method,
      url: target,
      proxyAuthorization,
      socksCredentials: null,
      outcome: 0,
    };
    log.push(record);
    if (url === undefined || url.protocol !== "http:") {
      record.outcome = 400;
      await answer(400, "Bad Request");
      return;
    }
    if (await refused(record)) return;
    let upstream: Deno.Conn;
    try {
      const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
      upstream = await dial(host, Number(url.port || 80));
    } catch {
      record.outcome = 502;
      await answer(502, "Bad Gateway");
      return;
    }
    record.outcome = 200;
    const skip = new Set(["proxy-authorization", "proxy-connection", "connection", "keep-alive"]);
    const lines = [`${method} ${url.pathname}${url.search} ${version}`];
    for (const [key, value] of headers) {
      if (!skip.has(key.toLowerCase())) lines.push(`${key}: ${value}`);
    }
    lines.push("connection: close", "", "");
    await writeAll(upstream, encoder.encode(lines.join("\r\n")));
    await tunnel(client, upstream, reader.rest());
  }

  async function serveSocks(client: Deno.Conn, reader: Reader): Promise<void> {
    const [version = 0, count = 0] = await reader.exactly(2);
    if (version !== 5) return;
    const methods = [...await reader.exactly(count)];
    const wanted = auth ? 2 : 0;
    if (!methods.includes(wanted)) {
      await writeAll(client, new Uint8Array([5, 0xff]));
      return;
    }
    await writeAll(client, new Uint8Array([5, wanted]));
    let socksCredentials: ProxyRecord["socksCredentials"] = null;
    let authorized = true;
    if (auth) {
      const [, userLength = 0] = await reader.exactly(2);
      const username = new TextDecoder().decode(await reader.exactly(userLength));
      const [passLength = 0] = await reader.exactly(1);
      const password = new TextDecoder().decode(await reader.exactly(passLength));
      socksCredentials = { username, password };
      authorized = username === auth.username && password === auth.password;
      await writeAll(client, new Uint8Array([1, authorized ? 0 : 1]));
      if (!authorized) {
        log.push({
          kind: "socks5",
          target: "",
          proxyAuthorization: null,
          socksCredentials,
          outcome: 0xff,
        });
        return;
      }
    }
    const [, command = 0, , addressKind = 0] = await reader.exactly(4);
    let host: string;
    let addressType: ProxyRecord["addressType"];
    if (addressKind === 1) {
      host = [...await reader.exactly(4)].join(".");
      addressType = "ipv4";
    } else if (addressKind === 3) {
      const [length = 0] = await reader.exactly(1);
      host = new TextDecoder().decode(await reader.exactly(length));
      addressType = "domain";
    } else if (addressKind === 4) {
      const bytes = await reader.exactly(16);
      const groups: string[] = [];
      for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
      host = groups.join(":");
      addressType = "ipv6";
    } else {
      await writeAll(client, new Uint8Array([5, 8, 0, 1, 0, 0, 0, 0, 0, 0]));
      return;
    }
    const [high = 0, low = 0] = await reader.exactly(2);
    const targetPort = (high << 8) | low;
    const record: ProxyRecord = {
      kind: "socks5",
      target: addressType === "ipv6" ? `[${host}]:${targetPort}` : `${host}:${targetPort}`,
      proxyAuthorization: null,
      socksCredentials,
      addressType,
      outcome: 0,
    };
    log.push(record);
    const reply = (code: number) =>
      writeAll(client, new Uint8Array([5, code, 0, 1, 0, 0, 0, 0, 0, 0]));
    if (command !== 1) {
      record.outcome = 7;
      await reply(7);
      return;
    }
    let upstream: Deno.Conn;
    try {
      upstream = await dial(host, targetPort);
    } catch (error) {
      record.outcome = error instanceof Deno.errors.ConnectionRefused ? 5 : 4;
      await reply(record.outcome);
      return;
    }
    await reply(0);
    await tunnel(client, upstream, reader.rest());
  }

  async function handle(client: Deno.Conn): Promise<void> {
    if (mode === "close") {
      release(client);
      return;
    }
    if (mode === "hang") return; // held until close()
    try {
      const reader = new Reader(client);
      if (protocol === "socks5") await serveSocks(client, reader);
      else await serveHttp(client, reader);
    } catch {
      // A client that goes away mid-handshake ends its connection.
    } finally {
      release(client);
    }
  }

  const acceptLoop = (async () => {
    try {
      for await (const conn of listener) {
        accepted++;
        if (closed) {
          conn.close();
          continue;
        }
        track(conn);
        const task = handle(conn);
        tasks.add(task);
        task.finally(() => tasks.delete(task));
      }
    } catch {
      // The listener was closed.
    }
  })();

  const close = async (): Promise<void> => {
    if (!closed) {
      closed = true;
      try {
        listener.close();
      } catch {
        // Already closed.
      }
    }
    for (const conn of [...conns]) release(conn);
    await acceptLoop;
    while (tasks.size > 0) {
      await Promise.allSettled([...tasks]);
      for (const conn of [...conns]) release(conn);
    }
  };

  return {
    url: `${protocol === "socks5" ? "socks5" : tls ? "https" : "http"}://127.0.0.1:${port}`,
    port,
    log,
    get accepted() {
      return accepted;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * `Deno.createHttpClient({ proxy, caCerts })` with `NO_PROXY` / `no_proxy` hidden while the
 * client is made: Deno applies the environment's `NO_PROXY` even to an explicit proxy, which
 * would send a test's requests around the proxy under test.
 *
 * @param proxy Deno's proxy option.
 * @param caCerts Extra CA certificates.
 * @returns The client; close it.
 */
export function createProxyClient(proxy: Deno.Proxy, caCerts: string[] = []): Deno.HttpClient {
  const saved = ["NO_PROXY", "no_proxy"].map((name) => [name, Deno.env.get(name)] as const);
  for (const [name] of saved) Deno.env.delete(name);
  try {
    return Deno.createHttpClient({ proxy, caCerts });
  } finally {
    for (const [name, value] of saved) if (value !== undefined) Deno.env.set(name, value);
  }
}

/** A CA certificate (PEM) that signed {@linkcode ORIGIN_CERT}; pass it as `caCerts`. */
export const TEST_CA_CERT = `-----BEGIN CERTIFICATE-----
MIIBazCCARGgAwIBAgIBATAKBggqhkjOPQQDAjAcMRowGAYDVQQDDBFuZXRhY2Nl
c3MgdGVzdCBDQTAgFw0wMDAxMDEwMDAwMDBaGA8yMTAwMDEwMTAwMDAwMFowHDEa
MBgGA1UEAwwRbmV0YWNjZXNzIHRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMB
BwNCAAQIyr+pM2siAYlYOH34bysv6vaFiKKIHtJ+v/eVeUhc1EWprfn7Ie2zlGB4
sQyDdGe3Q6k4KMsCSAZJqDwFL165o0IwQDAPBgNVHRMBAf8EBTADAQH/MA4GA1Ud
DwEB/wQEAwIBBjAdBgNVHQ4EFgQUv4SmhSuxo5Cd0KQ58nrOqkkQh/QwCgYIKoZI
zj0EAwIDSAAwRQIgPASaxNag+F0InAa7JsKjJPxGXAjHeEwt0wGTptQ6SDMCIQCR
07cUK4wKyI9Heuw5clDgCbUlQWuM7v0M4rX6G0Kp1Q==
-----END CERTIFICATE-----
`;

/** A server certificate for `origin.test`, `localhost` and `127.0.0.1`, valid 2000-2100. */
export const ORIGIN_CERT = `-----BEGIN CERTIFICATE-----
MIIBwjCCAWmgAwIBAgIBAjAKBggqhkjOPQQDAjAcMRowGAYDVQQDDBFuZXRhY2Nl
c3MgdGVzdCBDQTAgFw0wMDAxMDEwMDAwMDBaGA8yMTAwMDEwMTAwMDAwMFowFjEU
MBIGA1UEAwwLb3JpZ2luLnRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARA
qbHurAIceH/3mmG5rYBgIpJFTleBaJ8BBKOi4dyEqBaPg540+nxDVwXpjn1Rf9yq
L8LxCZXl/GS6THlmxBa5o4GfMIGcMCcGA1UdEQQgMB6CC29yaWdpbi50ZXN0ggls
b2NhbGhvc3SHBH8AAAEwDAYDVR0TAQH/BAIwADAOBgNVHQ8BAf8EBAMCB4AwEwYD
VR0lBAwwCgYIKwYBBQUHAwEwHwYDVR0jBBgwFoAUv4SmhSuxo5Cd0KQ58nrOqkkQ
h/QwHQYDVR0OBBYEFHKHIDQ7BmKb7iePpZFHrjWyINPBMAoGCCqGSM49BAMCA0cA
MEQCIG6dee+8gFalt6BNSZrOicpsKPDYyvpzqmdCqVXWPf5TAiAbHmQ1Y0HnclYP
IEVcTLRZu0eCFJ1RoKj4bwEdjDAq4w==
-----END CERTIFICATE-----
`;

/** The private key (PKCS#8 PEM) of {@linkcode ORIGIN_CERT}. */
export const ORIGIN_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgS7yUv7XmS/HVsOZR
PiC6estVVGe5LsH7yLDEAMXY6qyhRANCAARAqbHurAIceH/3mmG5rYBgIpJFTleB
aJ8BBKOi4dyEqBaPg540+nxDVwXpjn1Rf9yqL8LxCZXl/GS6THlmxBa5
-----END PRIVATE KEY-----
`;

/** A running loopback origin. */
export interface Origin extends AsyncDisposable {
  /** The port it listens on (on 127.0.0.1). */
  readonly port: number;
  /** Builds a URL on this origin under the given host name, e.g. `url("origin.test", "/a")`. */
  url(host: string, path?: string): string;
  /** Stops the server. */
  close(): Promise<void>;
}

/**
 * Starts an origin on 127.0.0.1 (port 0) that answers `origin <method> <path>` and echoes the
 * `proxy-authorization` header it received (which a proxy must never forward) as
 * `x-seen-proxy-authorization`, and the `via` header (which tinyproxy adds) as `x-seen-via`.
 *
 * @param options `tls: true` serves HTTPS with {@linkcode ORIGIN_CERT}.
 * @returns The running origin.
 */
export function startOrigin(options: { tls?: boolean } = {}): Origin {
  const handler = (request: Request): Response => {
    const url = new URL(request.url);
    return new Response(`origin ${request.method} ${url.pathname}`, {
      headers: {
        "x-seen-proxy-authorization": request.headers.get("proxy-authorization") ?? "",
        "x-seen-via": request.headers.get("via") ?? "",
      },
    });
  };
  const base = { hostname: "127.0.0.1", port: 0, onListen() {} };
  const server = options.tls
    ? Deno.serve({ ...base, cert: ORIGIN_CERT, key: ORIGIN_KEY }, handler)
    : Deno.serve(base, handler);
  const scheme = options.tls ? "https" : "http";
  let done: Promise<void> | undefined;
  const close = (): Promise<void> => done ??= server.shutdown();
  return {
    port: server.addr.port,
    url: (host, path = "/") => `${scheme}://${host}:${server.addr.port}${path}`,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Runs `deno run -A <script> ...args` in a process of its own whose environment holds `vars` and
 * nothing else of this one's but `PATH`, `HOME` and `DENO_DIR`: proxy variables are process-wide,
 * and a test module running at the same time would read them.
 *
 * @returns The exit code, and standard output and error as text.
 */
export async function runWithEnv(
  script: URL,
  args: string[],
  vars: Record<string, string>,
): Promise<DenoOutput> {
  const env: Record<string, string> = {
    ...vars,
    PATH: Deno.env.get("PATH") ?? "",
    HOME: Deno.env.get("HOME") ?? "",
  };
  const denoDir = Deno.env.get("DENO_DIR");
  if (denoDir) env.DENO_DIR = denoDir;
  return await runDeno(["run", "-A", script.pathname, ...args], {
    cwd: new URL("../../", import.meta.url).pathname,
    clearEnv: true,
    env,
  });
}

/**
 * Asserts that what an https origin behind an http proxy with credentials saw as its
 * `Proxy-Authorization` is nothing, or the loopback relay's own credentials (Deno's client sends
 * the relay's into the tunnel): never the proxy's.
 */
export function assertNoProxyCredentials(seen: string | null | undefined): void {
  if (seen === null || seen === undefined || seen === "") return;
  const decoded = atob(seen.replace(/^Basic /, ""));
  if (!/^relay:[0-9a-f-]{36}$/.test(decoded)) {
    throw new Error(`the origin saw Proxy-Authorization ${JSON.stringify(seen)}`);
  }
}
