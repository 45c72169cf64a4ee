/** The in-memory tough-cookie store of {@linkcode MemoryCookieJar}. */

import { _candidateDomains, _siteOf } from "./_domain.ts";
import {
  type _BlockedBy,
  type _CookieId,
  _CookieStore,
  _evictionOrder,
  _isExpired,
  _isSameCookie,
  type _MakeRecord,
  _purgeTarget,
  type _StoredCookie,
  type _StoreLimits,
} from "./_cookie_store.ts";

/** One domain's records by path and name, with an array of them made on demand for reads. */
class DomainIndex extends Map<string, _StoredCookie> {
  /** The records as an array, or null when a change made it stale. */
  list: _StoredCookie[] | null = null;

  override set(id: string, cookie: _StoredCookie): this {
    this.list = null;
    return super.set(id, cookie);
  }

  override delete(id: string): boolean {
    this.list = null;
    return super.delete(id);
  }

  /** The records, the same array until the next change (callers never change it). */
  records(): _StoredCookie[] {
    return this.list ??= [...this.values()];
  }
}

const NONE: readonly _StoredCookie[][] = Object.freeze([]) as readonly _StoredCookie[][];

function idOf(path: string, name: string): string {
  return `${path.length}:${path}${name}`;
}

/** Cookie records in maps: site, then domain, then path and name; and by domain alone. */
export class _MemoryCookieStore extends _CookieStore {
  #sites = new Map<string, Map<string, DomainIndex>>();
  #domains = new Map<string, DomainIndex>();
  #siteCounts = new Map<string, number>();
  #total = 0;
  override readonly ownRecordsWritable = true;

  constructor(limits: _StoreLimits) {
    super(limits);
  }

  /** Whether the store holds no cookie. */
  get empty(): boolean {
    return this.#sites.size === 0;
  }

  #index(domain: string, create: boolean): DomainIndex | undefined {
    const site = _siteOf(domain);
    let domains = this.#sites.get(site);
    if (domains === undefined) {
      if (!create) return undefined;
      domains = new Map();
      this.#sites.set(site, domains);
    }
    let index = domains.get(domain);
    if (index === undefined && create) {
      index = new DomainIndex();
      domains.set(domain, index);
      this.#domains.set(domain, index);
    }
    return index;
  }

  get(domain: string, path: string, name: string): Promise<_StoredCookie | undefined> {
    const found = this.#index(domain, false)?.get(idOf(path, name));
    return Promise.resolve(found === undefined ? undefined : { ...found });
  }

  find(host: string, domains = _candidateDomains(host)): Promise<readonly _StoredCookie[][]> {
    return Promise.resolve(this.findNow(domains));
  }

  /** What {@linkcode find} resolves to, at once: the domain map is the has-cookies index. */
  findNow(domains: readonly string[]): readonly _StoredCookie[][] {
    let out: _StoredCookie[][] | undefined;
    for (const domain of domains) {
      const index = this.#domains.get(domain);
      if (index !== undefined) (out ??= []).push(index.records());
    }
    return out ?? NONE;
  }

  put(cookie: _StoredCookie): Promise<boolean> {
    const index = this.#index(cookie.domain, true)!;
    const id = idOf(cookie.path, cookie.name);
    const isNew = !index.has(id);
    index.set(id, { ...cookie });
    if (isNew) {
      const site = _siteOf(cookie.domain);
      this.#siteCounts.set(site, (this.#siteCounts.get(site) ?? 0) + 1);
      this.#total++;
      this.#evict(site, cookie);
    }
    return Promise.resolve(true);
  }

  putWith(id: _CookieId, make: _MakeRecord, blockedBy?: _BlockedBy): Promise<boolean> {
    if (blockedBy !== undefined && this.#blocked(id.domain, blockedBy)) {
      return Promise.resolve(false);
    }
    const current = this.#index(id.domain, false)?.get(idOf(id.path, id.name));
    const made = make(current === undefined ? undefined : { ...current });
    if (made === null) return Promise.resolve(false);
    if (_isExpired(made, this.limits.clock())) {
      return Promise.resolve(this.#delete(id.domain, id.path, id.name));
    }
    return this.put(made);
  }

  /** Whether a record of the site of `domain` blocks a write. */
  #blocked(domain: string, blockedBy: _BlockedBy): boolean {
    for (const index of this.#sites.get(_siteOf(domain))?.values() ?? []) {
      for (const c of index.values()) if (blockedBy(c)) return true;
    }
    return false;
  }

  #evict(site: string, keep: _StoredCookie): void {
    const order = _evictionOrder(this.limits.clock());
    const isKept = (c: _StoredCookie) => _isSameCookie(c, keep);
    const { maxCookiesPerDomain, maxCookies } = this.limits;
    const siteCount = this.#siteCounts.get(site) ?? 0;
    if (siteCount > maxCookiesPerDomain) {
      const siteExcess = siteCount - _purgeTarget(maxCookiesPerDomain);
      const victims = [...this.#sites.get(site)?.values() ?? []]
        .flatMap((index) => [...index.values()]).filter((c) => !isKept(c)).sort(order);
      for (const c of victims.slice(0, siteExcess)) this.#delete(c.domain, c.path, c.name);
    }
    if (this.#total > maxCookies) {
      const totalExcess = this.#total - _purgeTarget(maxCookies);
      const victims = this.#allRecords().filter((c) => !isKept(c)).sort(order);
      for (const c of victims.slice(0, totalExcess)) this.#delete(c.domain, c.path, c.name);
    }
  }

  #delete(domain: string, path: string, name: string): boolean {
    const site = _siteOf(domain);
    const domains = this.#sites.get(site);
    const index = domains?.get(domain);
    if (index === undefined || !index.delete(idOf(path, name))) return false;
    if (index.size === 0) {
      domains!.delete(domain);
      this.#domains.delete(domain);
    }
    if (domains!.size === 0) this.#sites.delete(site);
    const count = (this.#siteCounts.get(site) ?? 1) - 1;
    if (count === 0) this.#siteCounts.delete(site);
    else this.#siteCounts.set(site, count);
    this.#total--;
    return true;
  }

  remove(domain: string, path: string, name: string): Promise<_StoredCookie | undefined> {
    const found = this.#index(domain, false)?.get(idOf(path, name));
    if (found !== undefined) this.#delete(domain, path, name);
    return Promise.resolve(found);
  }

  removeExpired(cookies: readonly _StoredCookie[], now: number): Promise<void> {
    for (const c of cookies) {
      const current = this.#index(c.domain, false)?.get(idOf(c.path, c.name));
      if (current !== undefined && _isExpired(current, now)) this.#delete(c.domain, c.path, c.name);
    }
    return Promise.resolve();
  }

  removeMatching(domain: string, path: string | null): Promise<void> {
    const index = this.#index(domain, false);
    for (const c of [...index?.values() ?? []]) {
      if (path === null || c.path === path) this.#delete(c.domain, c.path, c.name);
    }
    return Promise.resolve();
  }

  clearAll(): Promise<void> {
    this.#sites.clear();
    this.#domains.clear();
    this.#siteCounts.clear();
    this.#total = 0;
    return Promise.resolve();
  }

  #allRecords(): _StoredCookie[] {
    const out: _StoredCookie[] = [];
    for (const domains of this.#sites.values()) {
      for (const index of domains.values()) out.push(...index.values());
    }
    return out;
  }

  all(): Promise<_StoredCookie[]> {
    return Promise.resolve(this.#allRecords().map((c) => ({ ...c })));
  }

  /** Sets the time on the records themselves (those find() gave; one replaced since is gone). */
  touch(cookies: readonly _StoredCookie[], time: number): Promise<void> {
    for (const c of cookies) c.lastAccessTime = time;
    return Promise.resolve();
  }
}
