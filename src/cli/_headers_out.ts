/**
 * The status lines and headers the command line prints (`-i`, `-I`, `-D`, `-v`), as curl prints
 * them: `HTTP/1.1 200 OK`, or `HTTP/2 200 ` (HTTP/2 has no reason phrase; curl ends the status
 * code with a space all the same), one block per response with the redirects followed before
 * the last.
 *
 * Deno's `fetch` does not tell which HTTP version a response came in, so the version is the
 * one its client speaks on the request's route. `http:` is HTTP/1.1 on every route: directly
 * and through SOCKS5 (HTTP/2 comes only from a TLS handshake that picks it), and through an HTTP
 * proxy, which `fetch` speaks HTTP/1.1 to (it offers an `https` proxy no `h2`), as curl does.
 * `https:` is what the origin picks when offered `h2` and `http/1.1` in the TLS handshake
 * (ALPN), as `fetch` offers them, directly or through the proxy's tunnel (CONNECT, SOCKS5).
 * The answer is the manager's: its queue asks each https origin in one handshake of its own on
 * the route its requests take, directly or through the proxy's tunnel (to know how many
 * requests it takes at once), and the version shares it. Where the manager asks none (with
 * `--noproxy`, whose routes only each request knows, or with `--cert` through a tunnel), a
 * handshake of this run's own asks the origin through the same proxy, once per origin and
 * proxy; through an `https` proxy none can (TLS inside TLS), and the version is unknown,
 * printed `?` (as is one whose handshake failed). With the network off (`--offline`) no
 * handshake is made: an https response comes from the cache, which keeps no HTTP version, and its
 * version is unknown too; an http one is HTTP/1.1, as every http response is.
 *
 * @module
 */

import type { NetworkProxy, NetworkReply } from "../../mod.ts";
import { _negotiatedProtocol } from "../_http2.ts";
import { unbracket } from "../_ip.ts";
import type { Hop } from "./_verbose.ts";

const encoder = new TextEncoder();

/** How long the TLS handshake that asks an origin through a proxy for its protocol may take. */
const PROBE_MS = 5000;

/** The version printed when it cannot be known (`%{http_version}` writes curl's `0`). */
export const UNKNOWN_VERSION = "?";

/** What {@linkcode HttpVersions} asks with. */
export interface VersionSources {
  /** Whether https origins may be asked at all (the network is on). */
  probe: boolean;
  /**
   * Whether the network is off (`--offline`): an https response then comes from the cache,
   * which keeps no version.
   */
  offline?: boolean;
  /**
   * Whether the https origin of a URL speaks HTTP/2 on a route (`undefined` directly): the
   * manager's answer, or `null` where the manager asks none.
   */
  http2: (url: URL, proxy: NetworkProxy | undefined) => Promise<boolean | undefined> | null;
  /** The route of a URL no request of the run took (a reply from the cache), if it resolves. */
  route: (url: URL) => NetworkProxy | undefined;
  /** The CA certificates the run trusts. */
  caCerts?: readonly string[];
}

/** The HTTP versions of the origins of one run, asked once per origin and route. */
export class HttpVersions {
  readonly #known = new Map<string, Promise<string>>();
  /** The route each origin's last request took. */
  readonly #routes = new Map<string, NetworkProxy>();
  readonly #sources: VersionSources;

  constructor(sources: VersionSources) {
    this.#sources = sources;
  }

  /** Notes the route a request to `url` takes (`proxy`, `{ type: "none" }` directly). */
  took(url: URL, proxy: NetworkProxy | undefined): void {
    if (proxy !== undefined) this.#routes.set(url.origin, proxy);
  }

  /**
   * The version of the responses from `url`'s origin, as curl writes it: `1.1`, `2`, or
   * {@linkcode UNKNOWN_VERSION}.
   *
   * @param url The request's URL.
   * @param proxy The proxy the request went through (`{ type: "none" }` directly); the route
   * the origin's last request {@linkcode took}, or else the one resolved now, when absent.
   */
  of(url: URL, proxy?: NetworkProxy): Promise<string> {
    if (url.protocol !== "https:") return Promise.resolve("1.1");
    if (this.#sources.offline) return Promise.resolve(UNKNOWN_VERSION);
    if (!this.#sources.probe) return Promise.resolve("1.1");
    const route = proxy ?? this.#routes.get(url.origin) ?? this.#sources.route(url);
    if (route === undefined) return Promise.resolve(UNKNOWN_VERSION);
    const key = route.type === "none" ? url.origin : `${url.origin} ${route.type} ${route.url}`;
    let version = this.#known.get(key);
    if (version === undefined) {
      version = this.#sources.http2(url, route.type === "none" ? undefined : route)?.then((h2) =>
        h2 === undefined ? UNKNOWN_VERSION : h2 ? "2" : "1.1"
      ) ?? this.#tunnelled(route, url);
      this.#known.set(key, version);
    }
    return version;
  }

  async #tunnelled(proxy: NetworkProxy, url: URL): Promise<string> {
    // Past its deadline the handshake is given up and its connection closed.
    const late = new AbortController();
    const timer = setTimeout(() => late.abort(), PROBE_MS);
    try {
      const protocol = await _negotiatedProtocol(
        unbracket(url.hostname),
        Number(url.port || 443),
        this.#sources.caCerts ?? [],
        { signal: late.signal, proxy },
      );
      return protocol === undefined ? UNKNOWN_VERSION : protocol === "h2" ? "2" : "1.1";
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
    const version = await versions.of(hop.url, hop.proxy);
    text += headerBlock(version, hop.status, hop.statusText, hop.responseHeaders);
  }
  text += headerBlock(await versions.of(reply.url), reply.status, reply.statusText, reply.headers);
  return encoder.encode(text);
}

/**
 * The file of `-D FILE`, as curl writes it: emptied once, when the run's first transfer starts,
 * then each transfer's header blocks appended whole, in the order they are written (with
 * `--parallel`, the order the transfers get their responses in).
 */
export class HeaderDump {
  readonly #path: string;
  #file: Promise<Deno.FsFile> | null = null;
  #queue: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.#path = path;
  }

  /** Opens the file, emptying it, at the first call; a failure is told by {@linkcode write}. */
  open(): void {
    if (this.#file !== null) return;
    this.#file = Deno.open(this.#path, { write: true, create: true, truncate: true });
    this.#file.catch(() => {});
  }

  /** Appends `bytes` after the blocks written before them, whole. */
  write(bytes: Uint8Array): Promise<void> {
    this.open();
    const file = this.#file!;
    const written = this.#queue.then(async () => {
      const out = await file;
      let offset = 0;
      while (offset < bytes.byteLength) offset += await out.write(bytes.subarray(offset));
    });
    this.#queue = written.catch(() => {});
    return written;
  }

  /** Closes the file once the blocks queued are written. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#file === null) return;
    await this.#queue;
    try {
      (await this.#file).close();
    } catch {
      // Never opened: nothing to close.
    }
  }
}
