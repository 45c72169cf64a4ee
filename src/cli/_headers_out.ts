/**
 * The status lines and headers the command line prints (`-i`, `-I`, `-D`, `-v`), as curl prints
 * them: `HTTP/1.1 200 OK`, or `HTTP/2 200 ` (HTTP/2 has no reason phrase; curl ends the status
 * code with a space all the same), one block per response with the redirects followed before
 * the last.
 *
 * Deno's `fetch` does not tell which HTTP version a response came in, so the version is the
 * one its client speaks to the origin: HTTP/1.1 for `http:` (it speaks HTTP/2 only after a TLS
 * handshake picks it), and for `https:` what the origin picks when offered `h2` and `http/1.1`
 * in a TLS handshake of its own (ALPN), as `fetch` offers them. That handshake is made once per
 * origin, only when a version is printed; through a proxy, or with the network off, none is
 * made and the version shown is HTTP/1.1.
 *
 * @module
 */

import type { NetworkReply } from "../../mod.ts";
import { _negotiatedProtocol } from "../_http2.ts";
import type { Hop } from "./_verbose.ts";

const encoder = new TextEncoder();

/** How long the TLS handshake that asks an origin for its protocol may take. */
const PROBE_MS = 5000;

/** The HTTP versions of the origins of one run, asked once each. */
export class HttpVersions {
  readonly #known = new Map<string, Promise<string>>();
  readonly #probe: boolean;
  readonly #caCerts: string[];
  readonly #clientCertificate: { cert: string; key: string } | undefined;

  /**
   * @param probe Whether a TLS handshake may ask https origins (not through a proxy, not
   * offline).
   * @param caCerts The CA certificates the run trusts.
   * @param clientCertificate The client certificate of the run, if any.
   */
  constructor(
    probe: boolean,
    caCerts: string[] = [],
    clientCertificate?: { cert: string; key: string },
  ) {
    this.#probe = probe;
    this.#caCerts = caCerts;
    this.#clientCertificate = clientCertificate;
  }

  /** The version of the responses from `url`'s origin, as curl writes it: `1.1` or `2`. */
  of(url: URL): Promise<string> {
    if (url.protocol !== "https:" || !this.#probe) return Promise.resolve("1.1");
    let version = this.#known.get(url.origin);
    if (version === undefined) {
      version = this.#ask(url);
      this.#known.set(url.origin, version);
    }
    return version;
  }

  async #ask(url: URL): Promise<string> {
    const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = url.port === "" ? 443 : Number(url.port);
    // Past its deadline the handshake is given up and its connection closed.
    const late = new AbortController();
    const timer = setTimeout(() => late.abort(), PROBE_MS);
    try {
      const protocol = await _negotiatedProtocol(
        hostname,
        port,
        this.#caCerts,
        this.#clientCertificate,
        late.signal,
      );
      return protocol === "h2" ? "2" : "1.1";
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * A response's status line as curl prints it (without its line end): `HTTP/1.1 200 OK`, or
 * `HTTP/2 200 ` (HTTP/2 has no reason phrase, and its status code is followed by a space).
 */
export function statusLine(version: string, status: number, statusText: string): string {
  return version === "2"
    ? `HTTP/2 ${status} `
    : `HTTP/${version} ${status} ${statusText}`.trimEnd();
}

/** One response's status line and headers, ending with the empty line. */
export function headerBlock(
  version: string,
  status: number,
  statusText: string,
  headers: Headers,
): string {
  const lines = [statusLine(version, status, statusText)];
  for (const [name, value] of headers) lines.push(`${name}: ${value}`);
  return lines.join("\r\n") + "\r\n\r\n";
}

/**
 * The header blocks of a reply: each response the server sent before the last (the redirects
 * followed, a challenge answered, a retried failure; not a 304 that revalidated the cache),
 * then the reply's own.
 */
export async function headerBlocks(
  reply: NetworkReply,
  hops: Hop[],
  versions: HttpVersions,
): Promise<Uint8Array> {
  let text = "";
  for (const hop of hops.slice(0, -1)) {
    if (hop.status === 0 || hop.status === 304) continue;
    const version = await versions.of(hop.url);
    text += headerBlock(version, hop.status, hop.statusText, hop.responseHeaders);
  }
  text += headerBlock(await versions.of(reply.url), reply.status, reply.statusText, reply.headers);
  return encoder.encode(text);
}
