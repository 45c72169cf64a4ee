/**
 * The cookie jar the lookup benchmarks fill: 10,000 cookies over 1,000 sites, 10 of which a
 * lookup of `https://www.site<d>.com/app/api/items` matches.
 *
 * @module
 */

/** Sites the benchmarks fill. */
export const SITES = 1000;
/** Cookies each site sets, all matching a lookup of its deepest path. */
export const PER_SITE = 10;

/** Ten Set-Cookie lines for site `d`: five domain cookies, five host-only, on three paths. */
export function siteCookies(d: number): string[] {
  const lines: string[] = [];
  for (let j = 0; j < PER_SITE; j++) {
    const path = ["/", "/app", "/app/api"][j % 3];
    const domain = j < 5 ? `; Domain=site${d}.com` : "";
    lines.push(`c${j}=value-${d}-${j}; Path=${path}${domain}; Max-Age=86400`);
  }
  return lines;
}

/**
 * A clock that stands still, for jars of the lookup benchmarks: the steady state where every
 * cookie was sent less than a minute ago, however long the run takes, so that a lookup writes
 * no last-access time.
 */
export function stillClock(): () => number {
  const t0 = Date.now();
  return () => t0;
}
