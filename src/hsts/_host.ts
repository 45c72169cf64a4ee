/** Host names as HSTS keys them: normalised, and with their parent domains. */

/** Lower-cases a host and drops one trailing dot. */
export function normalizeHost(host: string): string {
  const lower = host.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

/**
 * Whether a normalised host is a host name as `URL.hostname` writes it: a URL made from it has
 * it as its host, so it holds no scheme, port, path, space, upper-case or non-ASCII letter.
 */
export function isHostName(host: string): boolean {
  if (host === "") return false;
  try {
    return new URL(`http://${host}/`).hostname === host;
  } catch {
    return false;
  }
}

/** The host and each of its parent domains, nearest first: `a.b.c` -> `a.b.c`, `b.c`, `c`. */
export function selfAndParents(host: string): string[] {
  const labels = host.split(".");
  const out: string[] = [];
  for (let i = 0; i < labels.length; i++) out.push(labels.slice(i).join("."));
  return out;
}
