/**
 * Which https origins speak HTTP/2, learned by offering `h2` in a TLS handshake (ALPN) once
 * per origin. Deno's `fetch` multiplexes concurrent requests to such an origin over one
 * connection, so the per-host queue need not hold them to the HTTP/1.1 connection limit.
 *
 * @module
 */

/** How many requests an HTTP/2 origin gets at once (Qt multiplexes up to 100 streams). */
export const _HTTP2_STREAMS = 100;

/**
 * Asks `hostname:port` in a TLS handshake which protocol it picks between `h2` and
 * `http/1.1`. Resolves with the protocol, or `null` when the handshake fails or picks none.
 */
export async function _negotiatedProtocol(
  hostname: string,
  port: number,
  caCerts: string[],
  clientCertificate?: { cert: string; key: string },
): Promise<string | null> {
  let conn: Deno.TlsConn | undefined;
  try {
    conn = await Deno.connectTls({
      hostname,
      port,
      caCerts: caCerts.length > 0 ? caCerts : undefined,
      alpnProtocols: ["h2", "http/1.1"],
      ...(clientCertificate ? { cert: clientCertificate.cert, key: clientCertificate.key } : {}),
    });
    const { alpnProtocol } = await conn.handshake();
    return alpnProtocol;
  } catch {
    return null;
  } finally {
    try {
      conn?.close();
    } catch {
      // Already closed.
    }
  }
}

/**
 * The origins known to speak HTTP/2. {@linkcode _Http2Origins.learn} starts one handshake per
 * unknown origin and calls `onHttp2` with its key when the answer is `h2`.
 */
export class _Http2Origins {
  readonly #known = new Map<string, boolean>();
  readonly #probes = new Set<Promise<void>>();
  readonly #onHttp2: (key: string) => void;

  /** @param onHttp2 Called with the origin's key when an origin turns out to speak HTTP/2. */
  constructor(onHttp2: (key: string) => void) {
    this.#onHttp2 = onHttp2;
  }

  /** Whether the origin (`https://host:port` as the queue keys it) is known to speak HTTP/2. */
  speaks(key: string): boolean {
    return this.#known.get(key) === true;
  }

  /** Whether the origin was asked already, or is being asked (`learn` would do nothing). */
  asked(key: string): boolean {
    return this.#known.has(key);
  }

  /**
   * Finds out, once, whether the https origin of `url` speaks HTTP/2.
   *
   * @param key The queue's key of the origin.
   * @param url A URL of the origin.
   * @param caCerts Extra CA certificates to trust.
   * @param clientCertificate The TLS client certificate presented to the origin, if any.
   */
  learn(
    key: string,
    url: URL,
    caCerts: string[],
    clientCertificate?: { cert: string; key: string },
  ): void {
    if (url.protocol !== "https:" || this.#known.has(key)) return;
    this.#known.set(key, false);
    const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = url.port === "" ? 443 : Number(url.port);
    const probe = _negotiatedProtocol(hostname, port, caCerts, clientCertificate).then(
      (protocol) => {
        this.#probes.delete(probe);
        if (protocol !== "h2" || !this.#known.has(key)) return;
        this.#known.set(key, true);
        this.#onHttp2(key);
      },
    );
    this.#probes.add(probe);
  }

  /** Forgets what was learned (the connections it was learned on are gone). */
  clear(): void {
    this.#known.clear();
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
