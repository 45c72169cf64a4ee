/**
 * The verbose lines of the command line: the headers of each request as they go out, and after
 * a reply what the cache decided and which cookies were stored.
 *
 * @module
 */

import {
  type CookieJar,
  type Exchange,
  NetworkError,
  type NetworkProxy,
  type NetworkReply,
} from "../../mod.ts";
import { decodesContent } from "../reply.ts";
import type { Plan } from "./_args.ts";
import type { _ObservedCache } from "./_observed_cache.ts";
import { _HEURISTIC_STATUSES } from "../cache/_statuses.ts";
import { type _CacheServed, _cacheServed } from "../layers/_cache_served.ts";

/** A header value fit to print: credentials hidden. */
export function redact(name: string, value: string): string {
  if (/^(proxy-)?authorization$/i.test(name)) return value.replace(/^(\S+)\s.*$/, "$1 ***");
  return value;
}

/**
 * The headers of `exchange` as they go out, as far as they can be known: the request's own;
 * those the transport adds (the body's Content-Type when the request has none, and
 * `Accept-Encoding: identity` when the library decodes the body itself); the body's
 * Content-Length, or `Transfer-Encoding: chunked` for a stream (stdin of `-T -`); and those
 * Deno's `fetch` sends when the request has none: `Accept: *\/*`, `Accept-Encoding: gzip,br`,
 * `Accept-Language: *`, `User-Agent: Deno/VERSION`, and `Content-Length: 0` for a POST or PUT
 * without a body. Out of sight: the Proxy-Authorization Deno sends to a proxy with credentials,
 * and the pseudo-headers of HTTP/2.
 */
export function outgoing(exchange: Exchange): Headers {
  const { method, body } = exchange;
  const headers = new Headers(exchange.headers);
  const add = (name: string, value: string) => {
    if (!headers.has(name)) headers.set(name, value);
  };
  add("accept", "*/*");
  add("accept-encoding", decodesContent(exchange.reply) ? "identity" : "gzip,br");
  add("accept-language", "*");
  add("user-agent", `Deno/${Deno.version.deno}`);
  // A GET or HEAD body is refused before it goes; the other methods send theirs.
  if (body !== null && method !== "GET" && method !== "HEAD") {
    if (body.contentType !== null) add("content-type", body.contentType);
    if (body.length === null) headers.set("transfer-encoding", "chunked");
    else headers.set("content-length", String(body.length));
  } else if (method === "POST" || method === "PUT") {
    headers.set("content-length", "0");
  }
  return headers;
}

/**
 * -v: a request's lines, as curl prints them: `> GET /path HTTP/1.1`, its `host` (which `fetch`
 * sends from the URL when the request has none), the headers that go out (credentials hidden;
 * {@linkcode outgoing}), and `>`.
 */
export function requestLines(hop: Hop, headers: Headers, version: string): string {
  const { url, method } = hop;
  const lines = [`> ${method} ${url.pathname}${url.search} HTTP/${version}`];
  if (!headers.has("host")) lines.push(`> host: ${url.host}`);
  for (const [name, value] of headers) lines.push(`> ${name}: ${redact(name, value)}`);
  return [...lines, ">"].join("\n");
}

/** Why a response was not stored, from its headers (RFC 9111 section 3). */
function whyNotStored(method: string, status: number, request: Headers, response: Headers): string {
  const cc = (response.get("cache-control") ?? "").toLowerCase();
  if (method !== "GET" && method !== "HEAD") return `the method is ${method}`;
  if (/no-store/.test(request.get("cache-control") ?? "")) return "the request said no-store";
  if (/no-store/.test(cc)) return "Cache-Control: no-store";
  if (response.get("vary")?.trim() === "*") return "Vary: *";
  const heuristic = _HEURISTIC_STATUSES.has(status);
  const explicit = /max-age|s-maxage|public/.test(cc) || response.has("expires");
  const validator = response.has("etag") || response.has("last-modified");
  if (!heuristic && !explicit) {
    return `status ${status} is not cacheable without explicit freshness`;
  }
  if (!explicit && !validator) {
    return "no freshness lifetime (Cache-Control, Expires) and no validator (ETag, Last-Modified)";
  }
  return "the cache declined it";
}

/** What -v says of a reply the cache answered without the network, by how it did. */
const SERVED: Record<_CacheServed, string> = {
  "fresh": "hit, fresh: served from the cache without asking the server",
  "max-stale": "hit, stale: served under max-stale",
  "stale-while-revalidate":
    "hit, stale: served under stale-while-revalidate, revalidating in the background",
  "stale-if-error": "hit, stale: served under stale-if-error: the server failed",
  "load-control": "hit: served from the cache without asking the server",
  "gateway-timeout":
    "miss under only-if-cached: the cache answered 504 itself: nothing usable stored",
};

/** Everything the network layer saw of one reply's hops. */
export interface Hop {
  url: URL;
  method: string;
  requestHeaders: Headers;
  status: number;
  statusText: string;
  responseHeaders: Headers;
  /** The proxy the request went through (`{ type: "none" }` directly), once chosen. */
  proxy?: NetworkProxy;
}

/** The verbose lines after a reply: what the cache decided, which cookies were stored. */
export async function explain(
  reply: NetworkReply,
  settings: Plan,
  cache: _ObservedCache | null,
  jar: CookieJar | null,
  hops: Hop[],
  verbose: (line: string) => void,
): Promise<void> {
  const final = hops.at(-1);
  const key = reply.url.href;
  if (cache === null) verbose("* cache: off (--no-cache)");
  else {
    const writes = cache.writes.get(key) ?? [];
    const how = reply.fromCache ? _cacheServed(reply) : undefined;
    // A stale response answering a failure or a 500-504 (not a 304's refresh) saw the network.
    if (
      reply.fromCache &&
      (hops.length === 0 || (how === "stale-if-error" && final?.status !== 304))
    ) {
      if (how === "gateway-timeout") {
        // The cache's own response: no server sent it, so no connection's version applies.
        const lines = [`< HTTP/1.1 ${reply.status} ${reply.statusText}`.trimEnd()];
        for (const [name, value] of reply.headers) lines.push(`< ${name}: ${value}`);
        verbose([...lines, "<"].join("\n"));
      }
      verbose(
        settings.offline
          ? "* cache: hit, served from the cache with the network off (--offline)"
          : `* cache: ${SERVED[how ?? "fresh"]}`,
      );
    } else if (final?.status === 304 && reply.status !== 304) {
      verbose(
        `* cache: revalidated: the server answered 304 Not Modified to ${
          final.requestHeaders.has("if-none-match") ? "If-None-Match" : "If-Modified-Since"
        }, served from the cache${writes.includes("refreshed") ? " (headers refreshed)" : ""}`,
      );
    } else if (writes.includes("stored")) {
      verbose("* cache: stored");
    } else if (final !== undefined && reply.error === NetworkError.NoError) {
      verbose(
        `* cache: not storable: ${
          whyNotStored(final.method, final.status, final.requestHeaders, final.responseHeaders)
        }`,
      );
    }
  }
  if (jar === null) return;
  for (const hop of hops) {
    const names = hop.responseHeaders.getSetCookie().map((line) => line.split("=")[0]!.trim());
    if (names.length === 0) continue;
    const stored = await jar.cookiesForUrl(hop.url);
    for (const name of names) {
      const cookie = stored.find((c) => c.name === name);
      verbose(
        cookie
          ? `* cookie stored: ${name} for ${cookie.domain}${cookie.path}${
            cookie.expires === null
              ? " (session)"
              : ` until ${new Date(cookie.expires).toISOString()}`
          }`
          : `* cookie not stored: ${name} (refused by the cookie rules)`,
      );
    }
  }
}
