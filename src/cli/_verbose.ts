/**
 * The verbose lines of the command line that come after a reply: what the cache decided and
 * which cookies were stored.
 *
 * @module
 */

import { type CookieJar, NetworkError, type NetworkProxy, type NetworkReply } from "../../mod.ts";
import type { Plan } from "./_args.ts";
import type { _ObservedCache } from "./_observed_cache.ts";
import { _HEURISTIC_STATUSES } from "../cache/_statuses.ts";

/** A header value fit to print: credentials hidden. */
export function redact(name: string, value: string): string {
  if (/^(proxy-)?authorization$/i.test(name)) return value.replace(/^(\S+)\s.*$/, "$1 ***");
  return value;
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
    if (reply.fromCache && hops.length === 0) {
      verbose(
        settings.offline
          ? "* cache: hit, served from the cache with the network off (--offline)"
          : "* cache: hit, fresh: served from the cache without asking the server",
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
