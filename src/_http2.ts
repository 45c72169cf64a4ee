/**
 * Which https origins speak HTTP/2, learned by offering `h2` in a TLS handshake (ALPN) once
 * per origin and route: directly, or through the tunnel of an HTTP or SOCKS5 proxy. Deno's
 * `fetch` multiplexes concurrent requests to such an origin over one connection (one tunnel
 * through a proxy), so the per-host queue need not hold them to the HTTP/1.1 connection limit.
 *
 * @module
 */

import { NetworkError, NetworkReplyError } from "./network_error.ts";
import type { NetworkProxy } from "./proxy/network_proxy.ts";
import { openTunnel, readExactly, tunnels } from "./proxy/_tunnel.ts";

/**
 * The codes of a send that found no connection to the origin, or lost it: what was learned of
 * the origin's connection is of one that is gone.
 */
const CONNECTION_LOST: ReadonlySet<number> = new Set([
  NetworkError.ConnectionRefusedError,
  NetworkError.RemoteHostClosedError,
  NetworkError.HostNotFoundError,
  NetworkError.SslHandshakeFailedError,
]);

/**
 * How many requests an HTTP/2 origin gets at once (Qt multiplexes up to 100 streams), or fewer
 * when it allows fewer streams (its SETTINGS_MAX_CONCURRENT_STREAMS).
 */
export const _HTTP2_STREAMS = 100;

/** How long the handshake that asks an origin for its protocol may take. */
export const _PROBE_MS = 10_000;

/**
 * How long an origin's answer holds: an origin asked longer ago is asked again (without holding
 * its requests meanwhile) when it next has more requests in flight than the HTTP/1.1 limit (an
 * `h2` answer), or a request of it waits for a slot (an HTTP/1.1 one: the origin may have moved
 * to HTTP/2).
 */
export const _RECHECK_MS = 60_000;

/**
 * How long an HTTP/2 origin may go without a response and without more requests in flight than
 * the HTTP/1.1 limit before its connection is taken as possibly gone (closed for want of
 * requests: five seconds is the shortest idle time common servers keep, Node's among them): its
 * next burst is held to the HTTP/1.1 limit until its first response came and the origin said
 * `h2` again, since Deno's `fetch`, which knows no protocol before its first connection, would
 * open a connection per request meanwhile.
 */
export const _IDLE_MS = 5000;

/** How long after a handshake that failed (refused, timed out, certificate) the origin is asked again. */
export const _RETRY_MS = 1000;

/** The client's connection preface and an empty SETTINGS frame (RFC 9113, section 3.4). */
const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0");

/**
 * The SETTINGS_MAX_CONCURRENT_STREAMS of the HTTP/2 server on `conn` (its first frame is its
 * SETTINGS, sent once it has the client's preface), or `Infinity` when it sets none.
 */
async function maxStreams(conn: Deno.Conn): Promise<number> {
  await conn.write(PREFACE);
  const head = await readExactly(conn, 9);
  // A frame that is no SETTINGS, or one larger than the smallest frame size: nothing learned.
  if (head === undefined || head[3] !== 0x4) return Infinity;
  const length = (head[0]! << 16) | (head[1]! << 8) | head[2]!;
  const payload = length <= 16_384 ? await readExactly(conn, length) : undefined;
  if (payload === undefined) return Infinity;
  const view = new DataView(payload.buffer);
  let streams = Infinity;
  for (let at = 0; at + 6 <= length; at += 6) {
    if (view.getUint16(at) === 0x3) streams = view.getUint32(at + 2);
  }
  return streams;
}

/**
 * The key an https origin's answer is kept under: the queue's key of the origin (`https://host:port`)
 * reached directly, with the proxy's type and URL added when reached through one, so that what
 * an origin said on one route is never read for another.
 *
 * @param key The queue's key of the origin.
 * @param proxy The proxy its requests go through, if any.
 */
export function _http2Key(key: string, proxy: NetworkProxy | undefined): string {
  return proxy === undefined ? key : `${key} via ${proxy.type} ${proxy.url}`;
}

/**
 * Whether the origin can be asked through `proxy` (directly when `undefined`): through an HTTP or
 * SOCKS5 proxy's tunnel without a client certificate (`Deno.startTls`, which alone runs over a
 * tunnel, presents none), not through an `https` proxy (TLS inside TLS).
 */
export function _askable(
  proxy: NetworkProxy | undefined,
  clientCertificate: { cert: string; key: string } | undefined,
): boolean {
  return proxy === undefined || (tunnels(proxy) && clientCertificate === undefined);
}

/** What {@linkcode _negotiatedProtocol} may be given besides the origin and the CAs it trusts. */
export interface _NegotiationOptions {
  /** The TLS client certificate presented to the origin. */
  clientCertificate?: { cert: string; key: string };
  /** Gives the question up: the connection is closed, the connect or handshake left unfinished. */
  signal?: AbortSignal;
  /**
   * Asks an `h2` origin for its SETTINGS too, and is given its SETTINGS_MAX_CONCURRENT_STREAMS
   * (`Infinity` when it sets none, or its SETTINGS did not come).
   */
  onStreams?: (streams: number) => void;
  /** The proxy whose tunnel the handshake goes through (made with its credentials). */
  proxy?: NetworkProxy;
}

/**
 * Opens a TLS connection offering `h2` and `http/1.1` (ALPN), directly or through the tunnel of
 * `proxy`, or resolves with `undefined` when `signal` aborts first. Without a client certificate
 * the TCP connect itself is given up on abort (an address that never answers holds nothing);
 * `Deno.connectTls`, which alone presents one, cannot be aborted, so its connection is closed
 * when it comes.
 */
async function connectAlpn(
  hostname: string,
  port: number,
  caCerts: readonly string[],
  { clientCertificate, signal, proxy }: _NegotiationOptions,
): Promise<Deno.TlsConn | undefined> {
  const trusted = caCerts.length > 0 ? [...caCerts] : undefined;
  const alpnProtocols = ["h2", "http/1.1"];
  if (clientCertificate === undefined) {
    const tcp = proxy === undefined
      ? await Deno.connect({ hostname, port, ...(signal ? { signal } : {}) })
      : await openTunnel(proxy, hostname, port, signal);
    if (signal?.aborted) {
      tcp.close();
      return undefined;
    }
    try {
      return await Deno.startTls(tcp, { hostname, caCerts: trusted, alpnProtocols });
    } catch (error) {
      try {
        tcp.close();
      } catch {
        // Taken by the TLS connection.
      }
      throw error;
    }
  }
  const connecting = Deno.connectTls({
    hostname,
    port,
    caCerts: trusted,
    alpnProtocols,
    cert: clientCertificate.cert,
    key: clientCertificate.key,
  });
  if (signal === undefined) return await connecting;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<undefined>((resolve) => {
    onAbort = () => resolve(undefined);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    const conn = await Promise.race([connecting, aborted]);
    if (conn === undefined) connecting.then((late) => late.close(), () => {});
    return conn;
  } finally {
    signal.removeEventListener("abort", onAbort!);
  }
}

/**
 * Asks `hostname:port` (unbracketed) in a TLS handshake which protocol it picks between `h2` and
 * `http/1.1`, directly or through the tunnel of `options.proxy`. Resolves with the protocol,
 * `null` when the handshake picks none, or `undefined` when it fails, `options.signal` aborts,
 * or the origin cannot be asked through the proxy ({@linkcode _askable}).
 */
export async function _negotiatedProtocol(
  hostname: string,
  port: number,
  caCerts: readonly string[],
  options: _NegotiationOptions = {},
): Promise<string | null | undefined> {
  const { signal, onStreams } = options;
  if (!_askable(options.proxy, options.clientCertificate)) return undefined;
  let conn: Deno.TlsConn | undefined;
  let closed = false;
  const close = () => {
    if (closed || conn === undefined) return;
    closed = true;
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  };
  signal?.addEventListener("abort", close);
  try {
    if (signal?.aborted) return undefined;
    conn = await connectAlpn(hostname, port, caCerts, options);
    if (conn === undefined || signal?.aborted) return undefined;
    const { alpnProtocol } = await conn.handshake();
    if (alpnProtocol === "h2" && onStreams !== undefined && !signal?.aborted) {
      onStreams(await maxStreams(conn).catch(() => Infinity));
    }
    return signal?.aborted ? undefined : alpnProtocol;
  } catch {
    return undefined;
  } finally {
    signal?.removeEventListener("abort", close);
    close();
  }
}

/**
 * The origins known to speak HTTP/2, and how many streams each allows. {@linkcode _Http2Origins.learn}
 * starts one handshake per unknown origin and calls `onHttp2` with its key when the answer is
 * `h2` (or the streams it allows changed). An origin is kept under the key it is asked with: one
 * for each route it is reached on ({@linkcode _http2Key}).
 */
export class _Http2Origins {
  /** Per origin: whether it speaks HTTP/2, or when asking it failed (`performance.now()`). */
  readonly #known = new Map<string, boolean | number>();
  readonly #probes = new Set<Promise<unknown>>();
  /** The handshake under way for each origin being asked. */
  readonly #asking = new Map<string, Promise<boolean | undefined>>();
  readonly #onHttp2: (key: string, url: URL) => void;
  readonly #recheckMs: number;
  /** When each origin that answered last said what it speaks (`performance.now()`). */
  readonly #answeredAt = new Map<string, number>();
  /** The SETTINGS_MAX_CONCURRENT_STREAMS of the origins known to speak HTTP/2 that set one. */
  readonly #streams = new Map<string, number>();
  /** The fewest of `#streams` (`Infinity` when none). */
  #fewest = Infinity;
  /** Aborts the handshakes under way: made for the first. */
  #controller: AbortController | undefined;

  /**
   * @param onHttp2 Called with the origin's key, and the URL it was asked with, when an origin
   * turns out to speak HTTP/2.
   * @param recheckMs How long an `h2` answer holds ({@linkcode _RECHECK_MS}).
   */
  constructor(onHttp2: (key: string, url: URL) => void, recheckMs = _RECHECK_MS) {
    this.#onHttp2 = onHttp2;
    this.#recheckMs = recheckMs;
  }

  /** Whether the origin (its key on its route, {@linkcode _http2Key}) is known to speak HTTP/2. */
  speaks(key: string): boolean {
    return this.#known.get(key) === true;
  }

  /**
   * How many requests an origin that {@linkcode speaks} HTTP/2 takes at once: as many streams as
   * it allows, up to {@linkcode _HTTP2_STREAMS} or `max` (the HTTP/1.1 limit) when that is more.
   */
  streams(key: string, max: number): number {
    return Math.max(1, Math.min(this.#streams.get(key) ?? Infinity, Math.max(_HTTP2_STREAMS, max)));
  }

  /** The fewest streams an origin known to speak HTTP/2 allows (`Infinity` when none sets a limit). */
  get fewestStreams(): number {
    return this.#fewest;
  }

  /** Sets (or, with `Infinity`, forgets) the streams an origin allows; whether they changed. */
  #setStreams(key: string, streams: number): boolean {
    const old = this.#streams.get(key) ?? Infinity;
    if (streams === old) return false;
    if (streams === Infinity) this.#streams.delete(key);
    else this.#streams.set(key, streams);
    this.#fewest = Math.min(Infinity, ...this.#streams.values());
    return true;
  }

  /**
   * Makes the answer of an origin old ({@linkcode stale}), so that `learn(..., again)` asks it
   * anew; the answer stands until then.
   */
  age(key: string): void {
    if (this.#answeredAt.has(key)) this.#answeredAt.set(key, -Infinity);
  }

  /** Whether the answer of an origin (`h2` or HTTP/1.1) is old, to be asked again. */
  stale(key: string): boolean {
    const at = this.#answeredAt.get(key);
    return at !== undefined && performance.now() - at >= this.#recheckMs;
  }

  /**
   * Whether the origin was asked already, or is being asked (`learn` would do nothing). An origin
   * whose handshake failed (down, refused, too slow) is asked again {@linkcode _RETRY_MS} later,
   * one that answered HTTP/1.1 once its answer is {@linkcode stale}.
   */
  asked(key: string): boolean {
    const known = this.#known.get(key);
    if (known === undefined || known === true) return known === true;
    if (known !== false) return performance.now() - known < _RETRY_MS;
    return !this.stale(key) || this.#asking.has(key);
  }

  /**
   * Finds out, once, whether the https origin of `url` speaks HTTP/2 (or again, when `again`:
   * the origin keeps what it said until the new answer; and when its HTTP/1.1 answer is old, see
   * {@linkcode asked}). Through `proxy`, the handshake goes
   * through its tunnel; an origin that cannot be asked through it ({@linkcode _askable}) is
   * taken as speaking HTTP/1.1, without a handshake.
   *
   * @param key The key of the origin on its route ({@linkcode _http2Key}).
   * @param url A URL of the origin.
   * @param caCerts Extra CA certificates to trust.
   * @param clientCertificate The TLS client certificate presented to the origin, if any.
   * @param again Asks an origin known to speak HTTP/2 again ({@linkcode stale}).
   * @param proxy The proxy the origin is reached through, if any.
   */
  learn(
    key: string,
    url: URL,
    caCerts: readonly string[],
    clientCertificate?: { cert: string; key: string },
    again = false,
    proxy?: NetworkProxy,
  ): void {
    if (url.protocol !== "https:") return;
    if (again) {
      if (!this.stale(key)) return;
      // Asked once per period: the answer stands meanwhile.
      this.#answeredAt.set(key, performance.now());
    } else {
      if (this.asked(key)) return;
      this.#known.set(key, false);
      if (!_askable(proxy, clientCertificate)) return;
    }
    const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = url.port === "" ? 443 : Number(url.port);
    const { signal } = this.#controller ??= new AbortController();
    // Its own deadline: an origin that accepts and never answers holds no connection for long.
    const late = new AbortController();
    const timer = setTimeout(() => late.abort(), _PROBE_MS);
    let streams = Infinity;
    const probe: Promise<boolean | undefined> = _negotiatedProtocol(hostname, port, caCerts, {
      clientCertificate,
      signal: AbortSignal.any([signal, late.signal]),
      onStreams: (allowed) => streams = allowed,
      proxy,
    }).then((protocol) => {
      clearTimeout(timer);
      this.#probes.delete(probe);
      if (this.#asking.get(key) === probe) this.#asking.delete(key);
      // Asked before clear() or close(): the answer is of connections that are gone.
      if (signal.aborted) return undefined;
      if (protocol !== "h2") {
        // Not (or no longer) HTTP/2: the HTTP/1.1 limit holds from now on, until the answer is
        // old (a failed handshake is no answer).
        if (protocol === undefined) this.#answeredAt.delete(key);
        else this.#answeredAt.set(key, performance.now());
        this.#setStreams(key, Infinity);
        this.#known.set(key, protocol === undefined ? performance.now() : false);
        return protocol === undefined ? undefined : false;
      }
      this.#answeredAt.set(key, performance.now());
      const changed = this.#setStreams(key, streams);
      if (this.#known.get(key) === true && !changed) return true;
      this.#known.set(key, true);
      this.#onHttp2(key, url);
      return true;
    });
    this.#probes.add(probe);
    this.#asking.set(key, probe);
  }

  /**
   * Whether the origin speaks HTTP/2, once the handshake that asks it (if one is under way) has
   * settled: `undefined` when it was not asked, or its handshake failed or was stopped.
   *
   * @param key The key of the origin on its route ({@linkcode _http2Key}).
   */
  answer(key: string): Promise<boolean | undefined> {
    const known = this.#known.get(key);
    return this.#asking.get(key) ?? Promise.resolve(typeof known === "boolean" ? known : undefined);
  }

  /**
   * A request to the origin got no response: when it found no connection or lost it (refused,
   * closed, host not found, TLS failed), an origin known to speak HTTP/2 is forgotten, so that its
   * requests are held to the HTTP/1.1 limit again until it is asked anew (the origin may have come
   * back speaking HTTP/1.1 only).
   *
   * @param key The key of the origin on its route ({@linkcode _http2Key}).
   * @param error What the request failed with.
   */
  lost(key: string, error: unknown): void {
    if (
      this.#known.get(key) !== true || !(error instanceof NetworkReplyError) ||
      !CONNECTION_LOST.has(error.code)
    ) return;
    this.#known.delete(key);
    this.#answeredAt.delete(key);
    this.#setStreams(key, Infinity);
  }

  /** Forgets what was learned (the connections it was learned on are gone), and stops asking. */
  clear(): void {
    this.#known.clear();
    this.#answeredAt.clear();
    this.#streams.clear();
    this.#fewest = Infinity;
    this.#abort();
  }

  /** Stops the handshakes under way, which then settle at once (the manager closes). */
  close(): void {
    this.#abort();
  }

  #abort(): void {
    this.#controller?.abort();
    this.#controller = undefined;
  }

  /** Whether no handshake is under way. */
  get settledNow(): boolean {
    return this.#probes.size === 0;
  }

  /** Resolves when no handshake is under way. */
  async settled(): Promise<void> {
    while (this.#probes.size > 0) await Promise.all(this.#probes);
  }
}
