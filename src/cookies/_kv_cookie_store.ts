/**
 * The Deno KV tough-cookie store of {@linkcode KvCookieJar}.
 *
 * Keys, under the jar's prefix `P`:
 * - `[...P, "c", site, domain, path, name]`: one cookie (a {@linkcode _StoredCookie});
 *   `site` is the registrable domain, so a request lists only its host's domain and parent
 *   domains, and a site's cookies are one prefix. A path or name longer than 256 bytes is
 *   keyed by its SHA-256 digest (a `Uint8Array`, never equal to a string part).
 * - `[...P, "n", site]` and `[...P, "count"]`: `Deno.KvU64` cookie counts per site and in
 *   total, kept by `sum` mutations in the atomic write that adds or removes a cookie, and
 *   recounted when eviction runs.
 *
 * Every write is atomic, checked against the versionstamp it read (so concurrent writers
 * never lose each other's cookies) and retried on `database is locked`. A value that is not a
 * well-formed cookie is skipped and removed.
 */

import { _retryLocked } from "../_kv.ts";
import { _candidateDomains, _siteOf } from "./_domain.ts";
import {
  _CookieStore,
  _evictionOrder,
  _isSameCookie,
  _isStoredCookie,
  _purgeTarget,
  type _StoredCookie,
  type _StoreLimits,
} from "./_cookie_store.ts";

const ENCODER = new TextEncoder();
const MAX_PART_BYTES = 256;
/** `sum` operands: 1, and 2^64 - 1 (minus one modulo 2^64). */
const ONE = 1n;
const MINUS_ONE = 0xffffffffffffffffn;
const MAX_ATTEMPTS = 100;

async function keyPart(text: string): Promise<string | Uint8Array> {
  const bytes = ENCODER.encode(text);
  if (bytes.length <= MAX_PART_BYTES) return text;
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/** Cookie records in Deno KV. */
export class _KvCookieStore extends _CookieStore {
  readonly #kv: Deno.Kv;
  readonly #prefix: Deno.KvKey;

  constructor(kv: Deno.Kv, prefix: Deno.KvKey, limits: _StoreLimits) {
    super(limits);
    this.#kv = kv;
    this.#prefix = prefix;
  }

  async #key(domain: string, path: string, name: string): Promise<Deno.KvKey> {
    return [
      ...this.#prefix,
      "c",
      _siteOf(domain),
      domain,
      await keyPart(path),
      await keyPart(name),
    ];
  }

  #siteKey(site: string): Deno.KvKey {
    return [...this.#prefix, "n", site];
  }

  get #totalKey(): Deno.KvKey {
    return [...this.#prefix, "count"];
  }

  /** The site a cookie key belongs to, read from the key itself. */
  #siteOfKey(key: Deno.KvKey): string | null {
    const part = key[this.#prefix.length + 1];
    return typeof part === "string" ? part : null;
  }

  /** Removes `entry` if it still holds what was read, with its counts. */
  async #removeEntry(entry: Deno.KvEntry<unknown>): Promise<boolean> {
    const site = this.#siteOfKey(entry.key);
    const result = await _retryLocked(() => {
      const op = this.#kv.atomic().check(entry).delete(entry.key).sum(
        this.#totalKey,
        MINUS_ONE,
      );
      if (site !== null) op.sum(this.#siteKey(site), MINUS_ONE);
      return op.commit();
    });
    return result.ok;
  }

  /** The well-formed cookies among `entries`; corrupt ones are removed. */
  async #valid(entries: Deno.KvEntry<unknown>[]): Promise<Deno.KvEntry<_StoredCookie>[]> {
    const valid: Deno.KvEntry<_StoredCookie>[] = [];
    for (const entry of entries) {
      if (
        _isStoredCookie(entry.value) && this.#siteOfKey(entry.key) === _siteOf(entry.value.domain)
      ) {
        valid.push(entry as Deno.KvEntry<_StoredCookie>);
      } else {
        await this.#removeEntry(entry);
      }
    }
    return valid;
  }

  async #list(prefix: Deno.KvKey): Promise<Deno.KvEntry<_StoredCookie>[]> {
    const entries = await _retryLocked(() => Array.fromAsync(this.#kv.list({ prefix })));
    return await this.#valid(entries);
  }

  async get(domain: string, path: string, name: string): Promise<_StoredCookie | undefined> {
    const key = await this.#key(domain, path, name);
    const entry = await _retryLocked(() => this.#kv.get(key));
    if (entry.versionstamp === null) return undefined;
    const [valid] = await this.#valid([entry]);
    return valid?.value;
  }

  async find(host: string): Promise<_StoredCookie[]> {
    const lists = await Promise.all(
      _candidateDomains(host).map((domain) =>
        this.#list([...this.#prefix, "c", _siteOf(domain), domain])
      ),
    );
    return lists.flat().map((entry) => entry.value);
  }

  async findSite(site: string): Promise<_StoredCookie[]> {
    return (await this.#list([...this.#prefix, "c", site])).map((entry) => entry.value);
  }

  async put(cookie: _StoredCookie): Promise<void> {
    const key = await this.#key(cookie.domain, cookie.path, cookie.name);
    const site = _siteOf(cookie.domain);
    const value: _StoredCookie = { ...cookie };
    if (value.sameSite === undefined) delete value.sameSite;
    for (let attempt = 1;; attempt++) {
      const current = await _retryLocked(() => this.#kv.get(key));
      const isNew = current.versionstamp === null;
      let result: Deno.KvCommitResult | Deno.KvCommitError;
      try {
        result = await _retryLocked(() => {
          const op = this.#kv.atomic().check(current).set(key, value);
          if (isNew) op.sum(this.#totalKey, ONE).sum(this.#siteKey(site), ONE);
          return op.commit();
        });
      } catch (error) {
        // A count that is not a KvU64 cannot be summed: recount, then try again.
        if (!(error instanceof Error) || !/non-U64/.test(error.message)) throw error;
        await this.#recount();
        continue;
      }
      if (result.ok) {
        if (isNew) await this.#evict(site, value);
        return;
      }
      if (attempt >= MAX_ATTEMPTS) throw new Error("Cannot store cookie: too much contention");
    }
  }

  async #count(key: Deno.KvKey): Promise<number> {
    const entry = await _retryLocked(() => this.#kv.get(key));
    return entry.value instanceof Deno.KvU64 ? Number(entry.value.value) : Infinity;
  }

  /** Evicts least recently used cookies of `site`, then of the jar, beyond the limits. */
  async #evict(site: string, keep: _StoredCookie): Promise<void> {
    const { maxCookiesPerDomain, maxCookies } = this.limits;
    if (await this.#count(this.#siteKey(site)) > maxCookiesPerDomain) {
      await this.#evictFrom([...this.#prefix, "c", site], maxCookiesPerDomain, keep, [
        this.#siteKey(site),
      ]);
    }
    if (await this.#count(this.#totalKey) > maxCookies) {
      await this.#evictFrom([...this.#prefix, "c"], maxCookies, keep, [this.#totalKey]);
    }
  }

  async #evictFrom(
    prefix: Deno.KvKey,
    limit: number,
    keep: _StoredCookie,
    counters: Deno.KvKey[],
  ): Promise<void> {
    const entries = await this.#list(prefix);
    if (entries.length > limit) {
      const order = _evictionOrder(this.limits.clock());
      const victims = entries
        .filter((e) => !_isSameCookie(e.value, keep))
        .sort((a, b) => order(a.value, b.value))
        .slice(0, entries.length - _purgeTarget(limit));
      for (const victim of victims) await this.#removeEntry(victim);
      return;
    }
    // The count drifted (a removed corrupt entry, a crash): set it to what the listing saw.
    for (const counter of counters) {
      await _retryLocked(() => this.#kv.set(counter, new Deno.KvU64(BigInt(entries.length))));
    }
  }

  /** Sets every count from a listing of the cookies. */
  async #recount(): Promise<void> {
    const entries = await this.#list([...this.#prefix, "c"]);
    const sites = new Map<string, number>();
    for (const entry of entries) {
      const site = this.#siteOfKey(entry.key)!;
      sites.set(site, (sites.get(site) ?? 0) + 1);
    }
    const counters = await _retryLocked(() =>
      Array.fromAsync(this.#kv.list({ prefix: [...this.#prefix, "n"] }))
    );
    for (const counter of counters) {
      const site = counter.key[this.#prefix.length + 1];
      if (typeof site !== "string" || !sites.has(site)) {
        await _retryLocked(() => this.#kv.delete(counter.key));
      }
    }
    for (const [site, count] of sites) {
      await _retryLocked(() => this.#kv.set(this.#siteKey(site), new Deno.KvU64(BigInt(count))));
    }
    await _retryLocked(() => this.#kv.set(this.#totalKey, new Deno.KvU64(BigInt(entries.length))));
  }

  async remove(domain: string, path: string, name: string): Promise<boolean> {
    const key = await this.#key(domain, path, name);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const current = await _retryLocked(() => this.#kv.get(key));
      if (current.versionstamp === null) return false;
      if (await this.#removeEntry(current)) return true;
    }
    throw new Error("Cannot remove cookie: too much contention");
  }

  async removeMatching(domain: string, path: string | null): Promise<void> {
    for (const entry of await this.#list([...this.#prefix, "c", _siteOf(domain), domain])) {
      if (path === null || entry.value.path === path) {
        await this.remove(entry.value.domain, entry.value.path, entry.value.name);
      }
    }
  }

  async clearAll(): Promise<void> {
    const entries = await _retryLocked(() =>
      Array.fromAsync(this.#kv.list({ prefix: this.#prefix }))
    );
    for (let i = 0; i < entries.length; i += 500) {
      const batch = entries.slice(i, i + 500);
      await _retryLocked(() => {
        const op = this.#kv.atomic();
        for (const entry of batch) op.delete(entry.key);
        return op.commit();
      });
    }
  }

  async all(): Promise<_StoredCookie[]> {
    return (await this.#list([...this.#prefix, "c"])).map((entry) => entry.value);
  }

  async touch(cookies: _StoredCookie[], time: number): Promise<void> {
    const keys = await Promise.all(cookies.map((c) => this.#key(c.domain, c.path, c.name)));
    for (let i = 0; i < keys.length; i += 10) {
      const batch = keys.slice(i, i + 10);
      const entries = await _retryLocked(() => this.#kv.getMany<unknown[]>(batch));
      const live = entries.filter((entry) => _isStoredCookie(entry.value));
      if (live.length === 0) continue;
      // Best effort: a concurrent write wins over a last-access update.
      await _retryLocked(() => {
        const op = this.#kv.atomic();
        for (const entry of live) {
          op.check(entry).set(entry.key, {
            ...(entry.value as _StoredCookie),
            lastAccessTime: time,
          });
        }
        return op.commit();
      });
    }
  }
}
