/** Domain rules of the cookie jars: registrable domains (public suffix list), storage sites. */

import { getPublicSuffix } from "tough-cookie";
import { isIpLiteral } from "../_ip.ts";

/**
 * The registrable domain (public suffix plus one label) of `host` by the public suffix list,
 * private section included, or null when `host` is itself a public suffix, an IP address or
 * not a valid host name (empty label, leading dot). Case-insensitive.
 */
export function _registrableDomain(host: string | null): string | null {
  if (host === null || host === "") return null;
  const lower = host.toLowerCase().replace(/\.$/, "");
  if (lower.split(".").some((label) => label === "")) return null;
  if (isIpLiteral(lower)) return null;
  try {
    return getPublicSuffix(lower, { allowSpecialUseDomain: true, ignoreError: true }) ?? null;
  } catch {
    return null;
  }
}

/** Whether `domain` is a public suffix (no registrable domain, not an IP address). */
export function _isPublicSuffix(domain: string): boolean {
  return !isIpLiteral(domain) && _registrableDomain(domain) === null;
}

/**
 * The storage site of a cookie domain or request host: its registrable domain, else itself.
 * Every host that domain-matches a cookie's domain has the same site as that domain.
 */
export function _siteOf(domain: string): string {
  return _registrableDomain(domain) ?? domain;
}

/**
 * The domains whose cookies may be sent to `host`: the host itself and each parent domain
 * down to its registrable domain.
 */
export function _candidateDomains(host: string): string[] {
  const site = _registrableDomain(host);
  if (site === null || site === host || !host.endsWith(`.${site}`)) return [host];
  const domains = [host];
  let rest = host;
  while (rest !== site) {
    rest = rest.slice(rest.indexOf(".") + 1);
    domains.push(rest);
  }
  return domains;
}
