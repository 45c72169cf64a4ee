/**
 * Proxy error probing: what `fetch` cannot say about a failure through a proxy is learnt by
 * opening a connection of our own to the proxy. Every probe here runs after something failed.
 */

import {
  causeChain,
  classifyError,
  NetworkError,
  type NetworkErrorCode,
  NetworkReplyError,
} from "../network_error.ts";
import { DEFAULT_PORTS, type NetworkProxy, proxyLabel, proxyQuery } from "./network_proxy.ts";
import { redactProxy } from "./_redact.ts";
import { tlsCause } from "../tls.ts";
import { connectHead, writeAll } from "./_tunnel.ts";

/** What a probe of a proxy's address found. */
export type ProbeResult =
  | "refused"
  | "unreachable"
  | "not-found"
  | "timeout"
  | "alive"
  | "unknown";

/** Options of {@linkcode probeProxy} and {@linkcode classifyProxyError}. */
export interface ProbeOptions {
  /**
   * How long the probe waits for the proxy to accept and answer, in milliseconds.
   *
   * @default {1000}
   */
  probeTimeout?: number;
  /** Extra CA certificates (PEM) to trust when probing an `https` proxy. */
  caCerts?: readonly string[];
}

const LATIN1 = new TextDecoder("latin1");

/** A connection that found no route to the address it was made to. */
const UNREACHABLE =
  /network is unreachable|no route to host|host is unreachable|os error 101\b|os error 113\b/;

const DNS_FAILURE =
  /dns error|failed to lookup address|name or service not known|no such host|nodename nor servname|temporary failure in name resolution|no address associated/;

type Reached<T> = { value: T } | { failure: Exclude<ProbeResult, "alive"> };

/**
 * Opens a connection to the proxy (TLS for an `https` proxy) and runs `talk` on it, all
 * within the probe's time limit; the connection is closed afterwards whatever happens.
 */
async function reachProxy<T>(
  proxy: NetworkProxy,
  options: ProbeOptions,
  talk: (conn: Deno.Conn) => Promise<T>,
): Promise<Reached<T>> {
  if (proxy.url === undefined || proxy.type === "none" || proxy.type === "system") {
    return { failure: "unknown" };
  }
  const url = new URL(proxy.url);
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(url.port || DEFAULT_PORTS[url.protocol]);
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.probeTimeout ?? 1000);
  let conn: Deno.Conn | undefined;
  try {
    const tcp = await Deno.connect({ hostname, port, signal: controller.signal });
    conn = tcp;
    let open: Deno.Conn = tcp;
    if (proxy.type === "https") {
      open = conn = await Deno.startTls(tcp, {
        hostname,
        caCerts: options.caCerts && [...options.caCerts],
      });
    }
    const talking = talk(open).then(
      (value) => ({ value }),
      () => ({ failure: "unknown" as const }),
    );
    return await raceAbort(talking, controller.signal, () => open.close()) ??
      { failure: "timeout" };
  } catch (error) {
    if (timedOut) return { failure: "timeout" };
    if (error instanceof Deno.errors.ConnectionRefused) return { failure: "refused" };
    if (error instanceof Deno.errors.TimedOut) return { failure: "timeout" };
    const text = error instanceof Error ? error.message.toLowerCase() : String(error);
    if (DNS_FAILURE.test(text)) return { failure: "not-found" };
    if (/refused/.test(text)) return { failure: "refused" };
    if (UNREACHABLE.test(text)) return { failure: "unreachable" };
    return { failure: "unknown" };
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch {
      // Closed by the race.
    }
  }
}

/** An `OPTIONS *` request for an HTTP proxy: a question any HTTP server answers. */
function optionsHead(proxy: NetworkProxy): Uint8Array {
  return new TextEncoder().encode(
    `OPTIONS * HTTP/1.1\r\nHost: ${new URL(proxy.url!).host}\r\n\r\n`,
  );
}

/**
 * Checks a proxy's address: can a TCP (or TLS) connection be opened, and does the proxy say
 * anything back within the time limit? SOCKS5 proxies get a greeting, HTTP proxies an
 * `OPTIONS *` request; for an `https` proxy any answer to the TLS handshake counts.
 *
 * @returns `"refused"`, `"unreachable"` (no route to it), `"not-found"`, `"timeout"` (no
 * connection, or no answer), `"alive"`, or `"unknown"` (another failure, or no permission to
 * connect).
 */
export async function probeProxy(
  proxy: NetworkProxy,
  options: ProbeOptions = {},
): Promise<ProbeResult> {
  const reached = await reachProxy(proxy, options, async (conn) => {
    if (proxy.type === "https") {
      // A certificate the probe does not trust is still an answer.
      await (conn as Deno.TlsConn).handshake().catch(() => {});
      return "alive" as const;
    }
    const greeting = proxy.type === "http" ? optionsHead(proxy) : new Uint8Array([5, 1, 0]);
    await writeAll(conn, greeting);
    const n = await conn.read(new Uint8Array(64));
    return n === null ? "unknown" as const : "alive" as const;
  });
  return "value" in reached ? reached.value : reached.failure;
}

/** What an HTTP proxy answered to a request of {@linkcode askProxy}. */
export interface ProxyAnswer {
  /** The status it answered with, or undefined when the answer is not HTTP. */
  status: number | undefined;
  /** The schemes of its `Proxy-Authenticate` challenges, lower case. */
  schemes: string[];
  /** Whether it answered in TLS (a TLS alert or handshake record): it is a TLS proxy. */
  tls: boolean;
}

/**
 * Sends `head` to an HTTP proxy and reads the head of what it answers (then closes the
 * connection); undefined when there is no answer.
 */
async function askProxy(
  proxy: NetworkProxy,
  head: Uint8Array,
  options: ProbeOptions,
): Promise<ProxyAnswer | undefined> {
  if (proxy.type !== "http" && proxy.type !== "https") return undefined;
  const reached = await reachProxy(proxy, options, async (conn) => {
    await writeAll(conn, head);
    const bytes: number[] = [];
    let text = "";
    const buffer = new Uint8Array(1024);
    while (!text.includes("\r\n\r\n") && text.length < 8192) {
      const n = await conn.read(buffer);
      if (n === null) break;
      if (bytes.length < 2) bytes.push(...buffer.subarray(0, 2 - bytes.length));
      text += LATIN1.decode(buffer.subarray(0, n));
    }
    if (text === "") return undefined;
    const match = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(text);
    const schemes = [...text.matchAll(/^proxy-authenticate:[ \t]*([!#$%&'*+.^_`|~\w-]+)/gim)]
      .map((m) => m[1]!.toLowerCase());
    // A TLS record: alert (21) or handshake (22), version 3.x.
    const tls = (bytes[0] === 21 || bytes[0] === 22) && bytes[1] === 3;
    return { status: match ? Number(match[1]) : undefined, schemes, tls };
  });
  return "value" in reached ? reached.value : undefined;
}

/**
 * Asks an HTTP proxy to open a tunnel to `authority` (`host:port`), with the proxy's
 * credentials (or the `Proxy-Authorization` value `authorization`), and returns what it
 * answers (then closes the connection), or undefined when there is no answer. Used to learn
 * why Deno's tunnel failed.
 */
export function probeConnect(
  proxy: NetworkProxy,
  authority: string,
  options: ProbeOptions = {},
  authorization?: string,
): Promise<ProxyAnswer | undefined> {
  return askProxy(proxy, connectHead(authority, proxy, authorization), options);
}

/**
 * Whether the TLS handshake with an `https` proxy fails (with the CA certificates of
 * `options`); undefined when the proxy cannot be reached. A handshake left unanswered (a plain
 * proxy waiting for the end of a request line) fails when the proxy answers plain HTTP.
 */
async function proxyHandshakeFails(
  proxy: NetworkProxy,
  options: ProbeOptions,
): Promise<boolean | undefined> {
  const reached = await reachProxy(
    proxy,
    options,
    (conn) => (conn as Deno.TlsConn).handshake().then(() => false, () => true),
  );
  if ("value" in reached) return reached.value;
  if (reached.failure !== "timeout" && reached.failure !== "unknown") return undefined;
  const plain = await askProxy({ ...proxy, type: "http" }, optionsHead(proxy), options);
  return plain !== undefined && !plain.tls && plain.status !== undefined ? true : undefined;
}

/**
 * The sentence of a 401 or 407 an HTTP proxy answered to `CONNECT`: credentials missing,
 * refused, or asked for in a scheme Deno's tunnel does not send (it sends Basic only).
 */
function connectAuthMessage(proxy: NetworkProxy, answer: ProxyAnswer | undefined): string {
  const label = proxyLabel(proxy);
  const status = ` (HTTP ${answer?.status ?? 407} to CONNECT)`;
  const schemes = answer?.schemes ?? [];
  if (schemes.length > 0 && !schemes.includes("basic")) {
    const named = [...new Set(schemes)].map((s) => s[0]!.toUpperCase() + s.slice(1)).join(", ");
    return `Proxy ${label} asks for ${named} authentication${status}, which is not answered: ` +
      `Deno's tunnel for an https target sends Basic credentials only (Digest is answered for ` +
      `plain-http requests)`;
  }
  if (proxy.username === undefined) {
    return `Proxy ${label} requires credentials, and none were given${status}: give them in ` +
      `the proxy's 'username' and 'password' (or as the user info of its URL)`;
  }
  return `Proxy ${label} refused the credentials${status}`;
}

/** Resolves with the promise's value, or undefined when the signal aborts first. */
async function raceAbort<T>(
  promise: Promise<T>,
  signal: AbortSignal,
  onAbort: () => void,
): Promise<T | undefined> {
  if (signal.aborted) {
    onAbort();
    await promise.catch(() => {});
    return undefined;
  }
  let listener: (() => void) | undefined;
  const aborted = new Promise<undefined>((resolve) => {
    listener = () => resolve(undefined);
    signal.addEventListener("abort", listener, { once: true });
  });
  try {
    const winner = await Promise.race([promise, aborted]);
    if (signal.aborted && winner === undefined) {
      try {
        onAbort();
      } catch {
        // Already closed.
      }
      await promise.catch(() => {});
    }
    return winner;
  } finally {
    signal.removeEventListener("abort", listener!);
  }
}

/**
 * What a SOCKS5 proxy's failed handshake says, in the words Deno gives it (RFC 1928 replies,
 * and answers that are not SOCKS5): the code and the message after "Proxy <label>", where
 * `{target}` stands for the target's host. Replies about the target itself (unreachable,
 * refused) are told apart before this.
 */
function socksReplyError(lower: string): [NetworkErrorCode, string] | undefined {
  if (/general socks server failure/.test(lower)) {
    return [
      NetworkError.UnknownProxyError,
      "failed to connect to {target} (SOCKS5 general failure)",
    ];
  }
  if (/connection not allowed by ruleset/.test(lower)) {
    return [NetworkError.UnknownProxyError, "does not allow a connection to {target} (its rules)"];
  }
  if (/command not supported|address type not supported/.test(lower)) {
    return [
      NetworkError.UnknownProxyError,
      "does not support the connection to {target} asked of it",
    ];
  }
  if (/ttl expired/.test(lower)) {
    return [NetworkError.UnknownNetworkError, "could not reach {target} (TTL expired)"];
  }
  if (
    /invalid response version|unknown auth method|invalid reserved byte|unknown address type|unknown error/
      .test(lower)
  ) {
    return [NetworkError.UnknownProxyError, "did not answer as a SOCKS5 proxy"];
  }
  return undefined;
}

function isTimeout(error: unknown, lower: string): boolean {
  if (error instanceof DOMException && error.name === "TimeoutError") return true;
  if (error instanceof Deno.errors.TimedOut) return true;
  return /timed out|timeout/.test(lower);
}

/**
 * Classifies an error thrown by `fetch` through a proxy (before any response arrived):
 * proxy failures become `ProxyConnectionRefusedError` (101), `ProxyConnectionClosedError`
 * (102), `ProxyNotFoundError` (103), `ProxyTimeoutError` (104),
 * `ProxyAuthenticationRequiredError` (105) or `UnknownProxyError` (199); failures of the
 * target reported through the proxy keep their target codes; a malformed answer to a request
 * forwarded by an HTTP proxy stays `ProtocolFailure` (399), told as the proxy's, and a failed
 * TLS handshake with an `https` proxy stays `SslHandshakeFailedError` (6), told as the proxy's.
 * Deno reports a dead proxy with the same words as a dead target, so where the words do not
 * settle it the proxy's address is probed (see {@linkcode probeProxy}). Messages name the proxy
 * without credentials.
 *
 * @param error What `fetch` threw.
 * @param proxy The proxy the request went through (normalized, or `{ type: "none" }`).
 * @param url The request's URL.
 * @param options The probe's time limit and CA certificates.
 * @returns The error with its code; never throws.
 */
export async function classifyProxyError(
  error: unknown,
  proxy: NetworkProxy,
  url: URL | string,
  options: ProbeOptions = {},
): Promise<NetworkReplyError> {
  if (error instanceof NetworkReplyError) return error;
  const redacted = (e: NetworkReplyError): NetworkReplyError =>
    new NetworkReplyError(e.code, redactProxy(e.message, proxy), { cause: e.cause });
  if (proxy.type === "none" || proxy.type === "system" || proxy.url === undefined) {
    return redacted(classifyError(error, url, "connect"));
  }
  const target = typeof url === "string" ? new URL(url) : url;
  const label = proxyLabel(proxy);
  // Read as Deno wrote it: credentials are taken out of the message made from it, not before.
  const text = causeChain(error);
  const lower = text.toLowerCase();
  const socks = proxy.type === "socks5" || proxy.type === "socks5h";
  const make = (code: NetworkErrorCode, message: string) =>
    new NetworkReplyError(code, redactProxy(message, proxy), { cause: error });
  const unreachable = () =>
    make(
      NetworkError.ProxyConnectionRefusedError,
      `Proxy ${label} cannot be reached: no route to its address (${text})`,
    );
  const fromProbe = async (): Promise<NetworkReplyError | undefined> => {
    const found = await probeProxy(proxy, options);
    if (found === "refused") {
      return make(
        NetworkError.ProxyConnectionRefusedError,
        `Proxy ${label} refused the connection: is it running and listening there? (${text})`,
      );
    }
    if (found === "unreachable") return unreachable();
    if (found === "not-found") {
      return make(NetworkError.ProxyNotFoundError, `Proxy host of ${label} not found (${text})`);
    }
    if (found === "timeout") {
      return make(
        NetworkError.ProxyTimeoutError,
        `Proxy ${label} did not answer in time (${text})`,
      );
    }
    return undefined;
  };

  if (error instanceof DOMException && error.name === "AbortError") {
    return redacted(classifyError(error, target, "connect"));
  }
  const authority = `${target.hostname}:${proxyQuery(target).port}`;
  if (/no acceptable auth methods|password auth failure/.test(lower)) {
    return make(
      NetworkError.ProxyAuthenticationRequiredError,
      `Proxy ${label} ${
        proxy.username === undefined
          ? `requires credentials (SOCKS5 username/password), and none were given: give them ` +
            `in the proxy's 'username' and 'password' (or as the user info of its URL)`
          : /password auth failure/.test(lower)
          ? "refused the credentials (SOCKS5 username/password)"
          : "does not take the credentials given (SOCKS5 username/password)"
      } (${text})`,
    );
  }
  if (/proxy authentication required/.test(lower)) {
    // Deno says 407, not what the proxy asked for: ask again.
    const answer = await probeConnect(proxy, authority, options);
    return make(
      NetworkError.ProxyAuthenticationRequiredError,
      `${connectAuthMessage(proxy, answer)} (${text})`,
    );
  }
  if (/unsuccessful tunnel/.test(lower)) {
    // Deno does not say what the proxy answered to CONNECT: ask again. An answer to CONNECT
    // comes from the proxy itself, so 401 (which tinyproxy sends for wrong credentials) is as
    // much a demand for proxy credentials as 407.
    const answer = await probeConnect(proxy, authority, options);
    // No answer at all: the proxy could not be reached (the loopback relay of an http proxy with
    // credentials answers Deno's CONNECT with 502 then), which the probe names.
    const unanswered = answer === undefined ? await fromProbe() : undefined;
    if (unanswered !== undefined) return unanswered;
    const status = answer?.status;
    if (status === 401 || status === 407) {
      return make(
        NetworkError.ProxyAuthenticationRequiredError,
        `${connectAuthMessage(proxy, answer)} (${text})`,
      );
    }
    return make(
      NetworkError.UnknownProxyError,
      `Proxy ${label} could not open a tunnel to ${target.host}${
        answer?.tls
          ? ` (it answered CONNECT in TLS: a TLS proxy? use type "https")`
          : status === undefined
          ? ""
          : ` (HTTP ${status} to CONNECT)`
      } (${text})`,
    );
  }
  if (DNS_FAILURE.test(lower)) {
    // With a proxy Deno resolves only the proxy's host: the target's is sent to the proxy.
    return make(NetworkError.ProxyNotFoundError, `Proxy host of ${label} not found (${text})`);
  }
  if (socks && /host unreachable|network unreachable/.test(lower)) {
    return make(
      NetworkError.HostNotFoundError,
      `Host ${target.host} not found or unreachable, says proxy ${label} (${text})`,
    );
  }
  if (/proxy server unreachable/.test(lower)) {
    return await fromProbe() ??
      make(
        NetworkError.ProxyConnectionRefusedError,
        `Proxy ${label} refused the connection: is it running and listening there? (${text})`,
      );
  }
  // With an http proxy, Deno connects to the proxy only.
  if (!socks && /tcp connect error/.test(lower) && UNREACHABLE.test(lower)) return unreachable();
  if (/connection refused|os error 111|econnrefused/.test(lower)) {
    if (!socks && /tcp connect error/.test(lower)) {
      return make(
        NetworkError.ProxyConnectionRefusedError,
        `Proxy ${label} refused the connection: is it running and listening there? (${text})`,
      );
    }
    return await fromProbe() ??
      make(
        NetworkError.ConnectionRefusedError,
        `Connection refused by ${target.host}, says proxy ${label} (${text})`,
      );
  }
  if (isTimeout(error, lower)) {
    return await fromProbe() ?? redacted(classifyError(error, target, "connect"));
  }
  const socksFailure = socks && /\(connect\)/.test(lower) ? socksReplyError(lower) : undefined;
  if (socksFailure !== undefined) {
    const [code, what] = socksFailure;
    return make(code, `Proxy ${label} ${what.replace("{target}", target.host)} (${text})`);
  }
  const handshakeEof = /unexpected eof while tunneling/.test(lower) ||
    (socks && /\(connect\)/.test(lower) && /unexpected end of file/.test(lower));
  const forwardedClose = !socks && target.protocol === "http:" &&
    /connection closed before message completed|connection reset|broken pipe|incomplete message/
      .test(lower);
  if (handshakeEof || forwardedClose) {
    return make(
      NetworkError.ProxyConnectionClosedError,
      `Proxy ${label} closed the connection before the reply began (${text})`,
    );
  }
  const classified = classifyError(error, target, "connect");
  const tlsFailed = classified.code === NetworkError.SslHandshakeFailedError;
  if (
    tlsFailed && proxy.type === "https" &&
    // The proxy's handshake comes first: through it, an https target's may have failed instead.
    (target.protocol === "http:" || await proxyHandshakeFails(proxy, options))
  ) {
    const cause = tlsCause(text, "proxy");
    return make(
      NetworkError.SslHandshakeFailedError,
      `TLS handshake with proxy ${label} failed${
        cause === undefined ? "" : `: ${cause}`
      } (${text})`,
    );
  }
  if (
    (classified.code === NetworkError.ProtocolFailure || (tlsFailed && proxy.type === "http")) &&
    !socks && target.protocol === "http:"
  ) {
    // A forwarded request's answer is the proxy's bytes (no TLS is spoken to an http proxy): it
    // is not an HTTP proxy, or it passed on an answer it could not make sense of.
    const tls = (await askProxy(proxy, optionsHead(proxy), options))?.tls;
    return make(
      NetworkError.ProtocolFailure,
      `Proxy ${label} answered the request for ${target.host} ${
        tls ? `in TLS: a TLS proxy? use type "https"` : "with a malformed response"
      } (${text})`,
    );
  }
  return redacted(classified);
}

/**
 * Says whose silence a transfer timeout through a proxy was, once it fired: the proxy is
 * probed once (within a quarter of the timeout, at most a second), and a proxy that does not
 * answer makes the failure `ProxyTimeoutError`; otherwise undefined (the target was silent).
 */
export async function proxyTimeoutError(
  proxy: NetworkProxy,
  timeout: number,
  caCerts: readonly string[],
): Promise<NetworkReplyError | undefined> {
  const probeTimeout = Math.max(1, Math.min(1000, Math.floor(timeout / 4)));
  if (await probeProxy(proxy, { probeTimeout, caCerts }) !== "timeout") return undefined;
  return new NetworkReplyError(
    NetworkError.ProxyTimeoutError,
    `Proxy ${proxyLabel(proxy)} did not answer within ${
      timeout + probeTimeout
    } ms (transferTimeout ${timeout} ms)`,
  );
}

/**
 * Some HTTP proxies (tinyproxy 1.11) answer a forwarded request whose proxy credentials are
 * wrong with 401 and `WWW-Authenticate`, as if the origin had asked. When a 401 comes back
 * through an http proxy that was sent credentials, the proxy is asked for a tunnel with the
 * same credentials: refused with 401 or 407, the 401 was the proxy's, and the reply fails
 * with `ProxyAuthenticationRequiredError`; otherwise the response is the origin's. The
 * credentials are the proxy's settings, or `authorization`, the `Proxy-Authorization` value that
 * was sent (credentials an authenticator gave).
 */
export async function refusedCredentials(
  response: Response,
  proxy: NetworkProxy,
  url: URL,
  caCerts: readonly string[],
  authorization?: string,
): Promise<Response> {
  if (
    response.status !== 401 || url.protocol !== "http:" ||
    (proxy.type !== "http" && proxy.type !== "https") ||
    (proxy.username === undefined && authorization === undefined)
  ) {
    return response;
  }
  const status = (await probeConnect(
    proxy,
    `${url.hostname}:${proxyQuery(url).port}`,
    { caCerts: [...caCerts] },
    authorization,
  ))?.status;
  if (status !== 401 && status !== 407) return response;
  await response.body?.cancel().catch(() => {});
  throw new NetworkReplyError(
    NetworkError.ProxyAuthenticationRequiredError,
    `Proxy ${
      proxyLabel(proxy)
    } refused the credentials (HTTP 401 to the forwarded request, HTTP ${status} to CONNECT)`,
  );
}
