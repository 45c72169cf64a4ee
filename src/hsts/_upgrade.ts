/** The upgrade of `http:` URLs of known hosts to `https:` (RFC 6797 section 8.3). */

import { isIpLiteral } from "../_ip.ts";
import { normalizeHost, selfAndParents } from "./_host.ts";
import type { HstsStore } from "./hsts_store.ts";

/**
 * Gives the https URL a request to `url` must use under HSTS (RFC 6797 section 8.3): the
 * scheme becomes `https:`, port 80 (explicit or implied) becomes 443, another explicit port
 * is kept. Returns `null` when no upgrade applies (not `http:`, an IP address, or an unknown
 * host).
 *
 * @param url The URL about to be requested.
 * @param store The HSTS store.
 * @returns The upgraded URL, or `null`.
 */
export async function upgradeUrl(url: URL | string, store: HstsStore): Promise<URL | null> {
  const source = typeof url === "string" ? new URL(url) : url;
  if (source.protocol !== "http:") return null;
  if (isIpLiteral(source.hostname)) return null;
  if (!(await store.isKnownHost(source.hostname))) return null;
  const port = source.port;
  const upgraded = new URL(source.href);
  upgraded.protocol = "https:";
  upgraded.port = port === "" || port === "80" ? "" : port;
  return upgraded;
}

/**
 * Finds the host whose live policy in `store` makes `host` known: the host itself, or the
 * nearest parent domain whose policy includes subdomains. Asks only `store.get`, so it names
 * what any store reports; `undefined` when none does (a store whose `isKnownHost` knows more
 * than its `get` tells, or one that failed).
 *
 * @param host The host, as in `URL.hostname`.
 * @param store The HSTS store.
 * @returns The covering host, or `undefined`.
 */
export async function coveringHost(host: string, store: HstsStore): Promise<string | undefined> {
  const candidates = selfAndParents(normalizeHost(host));
  for (const [index, candidate] of candidates.entries()) {
    let policy;
    try {
      policy = await store.get(candidate);
    } catch {
      return undefined;
    }
    if (policy !== undefined && (index === 0 || policy.includeSubDomains)) return candidate;
  }
  return undefined;
}
