/**
 * The Deno KV tough-cookie store of {@linkcode KvCookieJar}.
 *
 * Keys, under the jar's prefix `P` (a partition's prefix for a partition):
 * - `[...P, "d", site, domain]`: the bundle of one domain's cookies, so a request reads its
 *   host's domain and parent domains with one `getMany`. `site` is the registrable domain, so
 *   a site's cookies are one prefix. A bundle larger than one KV value continues in
 *   `[...P, "d", site, domain, i]` for `i` = 1, 2, ...; every part carries the same tag, and a
 *   reader that finds parts of two writes reads again. A first part that is still as read while
 *   its parts are missing or carry another tag, or that claims more parts than one atomic write
 *   can hold, is corrupt.
 * - `[...P, "n", site]` and `[...P, "count"]`: `Deno.KvU64` cookie counts per site and in
 *   total, kept by `sum` mutations in the atomic write that changes a bundle, and recounted
 *   when eviction runs or a count is not a `Deno.KvU64`. A write that stores a Secure cookie
 *   sums its site's count even when the count stays (a sum of 0), so that the count's version
 *   changes with every write that brings a Secure cookie into the site: a write that a Secure
 *   cookie of the site would keep from being stored (a cookie of an insecure origin shadowing
 *   it) reads the count, then the site's bundles, and is checked against the count as read.
 *
 * A bundle part is a record in the byte layout of `../_kv_record.ts`, which any runtime can
 * decode, whose JSON is `{"tag": string, "parts": number, "cookies": [...]}` (`parts` in the
 * first part only), each cookie an object with the fields of `NetworkCookie` plus `seq`, its creation
 * sequence. Version 0.1.0 kept one V8-serialised cookie per key under
 * `[...P, "c", site, domain, path, name]`; opening a jar moves such cookies into bundles, each
 * key deleted in the atomic write that stores its cookie.
 *
 * A domain whose bundle key would be longer than a KV key may be (2 KiB: a domain and its site
 * of about 1000 bytes each, less the prefix; no DNS name is that long) holds no cookies: a
 * lookup reads none for it and a cookie for it is not stored.
 *
 * Every write is atomic and checked against the version of the bundle it read (so
 * concurrent writers never lose each other's cookies) and retried on `database is locked`.
 * A value that does not decode, and a corrupt bundle, is skipped and removed. A bundle with a
 * part of a newer format (written by a later version sharing the database) is left as it is:
 * this version reads no cookies from it, stores none in it and removes none from it, as for a
 * domain whose key is too long (see `isNewerRecord` in `../_kv_record.ts`).
 */

import { _keyBytes, _retryLocked, commitCounted, MAX_KEY_BYTES } from "../_kv.ts";
import { isNewerRecord } from "../_kv_record.ts";
import { _candidateDomains, _siteOf } from "./_domain.ts";
import type { _KvChanges } from "../_kv_changes.ts";
import {
  type _BlockedBy,
  type _CookieId,
  _CookieStore,
  _evictionOrder,
  _isExpired,
  _isSameCookie,
  _isStoredCookie,
  type _MakeRecord,
  _purgeTarget,
  type _StoredCookie,
  type _StoreLimits,
} from "./_cookie_store.ts";
import {
  _decodePart,
  _encodeBundle,
  _encodeFitting,
  _record,
  _recordFits,
  _unchangedSince,
} from "./_kv_cookie_bundle.ts";

/** Keys per `getMany` (the KV limit). */
const READ_BATCH = 10;
/** Deletions per atomic operation. */
const DELETE_BATCH = 500;
const MAX_ATTEMPTS = 100;
/** Attempts of a recount that other writes keep interrupting; the last one is unchecked. */
const RECOUNT_ATTEMPTS = 8;
/** Counts written per atomic operation by a recount (each with its check). */
const RECOUNT_BATCH = 50;
/** Decoded bundles kept, each valid while its first part keeps the versionstamp it had. */
const DECODED_BUNDLES = 4096;
/** Request hosts whose bundle keys (and, for a file database, last cookies found) are kept. */
const HOST_KEYS = 4096;
const U64 = 1n << 64n;
/** A change as the unsigned 64-bit addend of a KV `sum` (which wraps around). */
function u64(delta: number): bigint {
  return ((BigInt(delta) % U64) + U64) % U64;
}

/** The bundle keys a request host reads, and what they held when last read. */
interface HostEntry {
  keys: Deno.KvKey[];
  /** The cookies found, while the database's generation stays `generation`. */
  found: readonly _StoredCookie[][] | null;
  generation: number;
}

/** How {@linkcode _KvCookieStore} rewrites a bundle (see its `#update`). */
interface UpdateOptions {
  attempts?: number;
  counted?: number;
  also?: (op: Deno.AtomicOperation) => void;
  fit?: _CookieId;
  /** A record of the domain's site that keeps the write from being made (see `putWith`). */
  blockedBy?: _BlockedBy;
  /** Whether the write, as last made, stores a Secure record (its site's count is summed). */
  securing?: () => boolean;
}

/** A domain's bundle as read: the version of its first part, its parts, its cookies. */
interface Bundle {
  site: string;
  domain: string;
  head: Deno.KvEntryMaybe<unknown>;
  parts: number;
  cookies: _StoredCookie[];
  /** A part is of a newer format: the bundle is read as empty, and never written. */
  newer?: true;
}

/** Cookie records in Deno KV, one bundle per domain. */
export class _KvCookieStore extends _CookieStore {
  readonly #kv: Deno.Kv;
  readonly #prefix: Deno.KvKey;
  /** The bytes a bundle key has for its site and domain: a key is at most 2 KiB. */
  readonly #room: number;
  /**
   * The cookies of bundles read, by domain, with the versionstamp of the first part they were
   * read at: every write rewrites or deletes that part, so an equal versionstamp from a new
   * read means the same cookies, and any other write (this process's or another's) a new read.
   */
  readonly #decoded = new Map<string, { stamp: string; cookies: _StoredCookie[] }>();
  /** The bundle keys a request host reads and what they held, by host. */
  readonly #hosts = new Map<string, HostEntry>();
  /**
   * The last write queued for each domain's bundle, settled or not: this store's writes to a
   * bundle run one after another, so that a burst of them (responses that all set a cookie of
   * one host) does not make each retry the others' versions until attempts run out. Writes of
   * other jars and processes are still checked against the version read, and retried.
   */
  readonly #writes = new Map<string, Promise<void>>();
  /**
   * Tells whether the database may have changed since a lookup read it, when the database is
   * a local file; then a lookup whose host's bundles were read since the last write anywhere
   * in the database (this process's or another's) reads nothing: the hosts read are the
   * has-cookies index, hosts without cookies included.
   */
  changes: _KvChanges | null;

  constructor(
    kv: Deno.Kv,
    prefix: Deno.KvKey,
    limits: _StoreLimits,
    changes: _KvChanges | null = null,
  ) {
    super(limits);
    this.#kv = kv;
    this.#prefix = prefix;
    this.changes = changes;
    // Less the prefix, "d" and a part number.
    this.#room = MAX_KEY_BYTES - _keyBytes([...prefix, "d", 0]);
  }

  /** Whether the bundle keys of `domain` are short enough for KV. */
  override keeps(domain: string): boolean {
    return this.#fits(_siteOf(domain), domain);
  }

  /** Whether the domain's keys, and a record of the cookie in one KV value, are short enough. */
  override holds(name: string, value: string, domain: string, path: string): boolean {
    return this.keeps(domain) && _recordFits(name, value, domain, path);
  }

  #fits(site: string, domain: string): boolean {
    // Cheap for the usual domain: 4 UTF-8 bytes per character at most.
    return 4 * (site.length + domain.length) + 4 <= this.#room ||
      _keyBytes([site, domain]) <= this.#room;
  }

  #bundleKey(site: string, domain: string, part = 0): Deno.KvKey {
    return part === 0
      ? [...this.#prefix, "d", site, domain]
      : [...this.#prefix, "d", site, domain, part];
  }

  #siteKey(site: string): Deno.KvKey {
    return [...this.#prefix, "n", site];
  }

  get #totalKey(): Deno.KvKey {
    return [...this.#prefix, "count"];
  }

  /**
   * Commits an atomic operation; a count that is not a `Deno.KvU64` cannot be summed, so the
   * counts are recomputed and the operation tried again. `sum`s come first in every
   * operation: KV applies the mutations before a failing `sum` without rolling them back.
   */
  #commit(
    build: (op: Deno.AtomicOperation) => void,
  ): Promise<Deno.KvCommitResult | Deno.KvCommitError> {
    return commitCounted(this.#kv, build, () => this.#recount());
  }

  /** Assembles bundles from their first parts, reading further parts when there are any. */
  async #assemble(heads: Deno.KvEntryMaybe<unknown>[]): Promise<Bundle[]> {
    const n = this.#prefix.length;
    const bundles: Bundle[] = [];
    for (const head of heads) {
      const site = head.key[n + 1] as string;
      const domain = head.key[n + 2] as string;
      bundles.push(
        head.versionstamp === null
          ? { site, domain, head, parts: 0, cookies: [] }
          : await this.#bundleFrom(site, domain, head),
      );
    }
    return bundles;
  }

  /** The bundle whose first part is `head`; a corrupt one is removed. */
  async #bundleFrom(
    site: string,
    domain: string,
    head: Deno.KvEntryMaybe<unknown>,
  ): Promise<Bundle> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (head.versionstamp === null) return { site, domain, head, parts: 0, cookies: [] };
      const first = _decodePart(head.value, domain);
      if (first === null && isNewerRecord(head.value)) {
        return { site, domain, head, parts: 0, cookies: [], newer: true };
      }
      if (first === null) {
        await this.#drop(head, site, domain, 1);
        head = await this.#get(this.#bundleKey(site, domain));
        continue;
      }
      if (first.parts === 1) return { site, domain, head, parts: 1, cookies: first.cookies };
      const keys = [];
      for (let i = 1; i < first.parts; i++) keys.push(this.#bundleKey(site, domain, i));
      const rest = await this.#getMany(keys);
      if (rest.some((item) => isNewerRecord(item.value))) {
        return { site, domain, head, parts: 0, cookies: [], newer: true };
      }
      const parts = rest.map((item) => _decodePart(item.value, domain));
      if (parts.every((part) => part?.tag === first.tag)) {
        return {
          site,
          domain,
          head,
          parts: first.parts,
          cookies: [first, ...parts].flatMap((part) => part!.cookies),
        };
      }
      // Every write replaces the first part with all the others, so parts that do not match
      // a first part that is still the one read are missing or not its own: the bundle is
      // corrupt. Otherwise they are parts of another write: read the bundle again.
      const again = await this.#get(this.#bundleKey(site, domain));
      if (again.versionstamp === head.versionstamp) {
        await this.#drop(head, site, domain, first.parts);
        head = await this.#get(this.#bundleKey(site, domain));
      } else {
        head = again;
      }
    }
    throw new Error(`Cannot read cookies of '${domain}': too much contention`);
  }

  /** Removes a corrupt bundle and the `parts - 1` parts after its first, if still as read. */
  async #drop(
    head: Deno.KvEntryMaybe<unknown>,
    site: string,
    domain: string,
    parts: number,
  ): Promise<void> {
    await this.#commit((op) => {
      op.check(head);
      for (let i = 0; i < parts; i++) op.delete(this.#bundleKey(site, domain, i));
    });
  }

  #get(key: Deno.KvKey): Promise<Deno.KvEntryMaybe<unknown>> {
    return _retryLocked(() => this.#kv.get(key));
  }

  async #getMany(keys: Deno.KvKey[]): Promise<Deno.KvEntryMaybe<unknown>[]> {
    const batches = [];
    for (let i = 0; i < keys.length; i += READ_BATCH) {
      const batch = keys.slice(i, i + READ_BATCH);
      batches.push(_retryLocked(() => this.#kv.getMany(batch)));
    }
    return (await Promise.all(batches)).flat();
  }

  async #read(domain: string): Promise<Bundle> {
    const site = _siteOf(domain);
    if (!this.#fits(site, domain)) {
      const head = { key: this.#bundleKey(site, domain), value: null, versionstamp: null };
      return { site, domain, head, parts: 0, cookies: [] };
    }
    return await this.#bundleFrom(site, domain, await this.#get(this.#bundleKey(site, domain)));
  }

  /** Every bundle under `prefix` (first parts listed, further parts read as needed). */
  async #listBundles(prefix: Deno.KvKey): Promise<Bundle[]> {
    const n = this.#prefix.length;
    const heads = (await _retryLocked(() => Array.fromAsync(this.#kv.list({ prefix }))))
      .filter((item) => {
        if (item.key.length === n + 3) return true;
        if (item.key.length !== n + 4 || typeof item.key[n + 3] !== "number") {
          void this.#commit((op) => op.check(item).delete(item.key)).catch(() => {});
        }
        return false;
      });
    return await this.#assemble(heads);
  }

  /**
   * Rewrites the bundle of `domain` with what `change` makes of its cookies (`null`: no
   * change), checked against the version read and retried when another write came first.
   * `counted` cookies of the result were already counted (moved from the old layout). With
   * `fit`, cookies other than that one are evicted when the result is too large for one write.
   * This store's writes to one domain run one at a time (see `#writes`).
   *
   * @returns The cookies before and after, or null when nothing changed (or the bundle is of a
   *   newer format, which is never written).
   */
  #update(
    domain: string,
    change: (cookies: _StoredCookie[]) => _StoredCookie[] | null,
    options: UpdateOptions = {},
  ): Promise<{ before: _StoredCookie[]; after: _StoredCookie[] } | null> {
    // A best-effort write (fewer attempts: a last-access time) does not wait for the others.
    if ((options.attempts ?? MAX_ATTEMPTS) < MAX_ATTEMPTS) {
      return this.#updateNow(domain, change, options);
    }
    const previous = this.#writes.get(domain);
    const write = () => this.#updateNow(domain, change, options);
    const result = previous === undefined ? write() : previous.then(write);
    const tail = result.then(() => {}, () => {});
    this.#writes.set(domain, tail);
    void tail.then(() => {
      if (this.#writes.get(domain) === tail) this.#writes.delete(domain);
    });
    return result;
  }

  async #updateNow(
    domain: string,
    change: (cookies: _StoredCookie[]) => _StoredCookie[] | null,
    options: UpdateOptions,
  ): Promise<{ before: _StoredCookie[]; after: _StoredCookie[] } | null> {
    const attempts = options.attempts ?? MAX_ATTEMPTS;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const read = options.blockedBy === undefined
        ? { bundle: await this.#read(domain), count: null }
        : await this.#readSite(domain, options.blockedBy);
      if (read === null) return null;
      const { bundle, count } = read;
      if (bundle.newer) return null;
      const changed = change(bundle.cookies);
      if (changed === null) return null;
      const { cookies: after, parts } = changed.length === 0
        ? { cookies: changed, parts: [] }
        : options.fit === undefined
        ? { cookies: changed, parts: _encodeBundle(changed) }
        : _encodeFitting(changed, options.fit, this.limits.clock());
      const delta = after.length - bundle.cookies.length - (options.counted ?? 0);
      const result = await this.#commit((op) => {
        if (delta !== 0) {
          op.sum(this.#totalKey, u64(delta)).sum(this.#siteKey(bundle.site), u64(delta));
        } else if (options.securing?.() === true) {
          op.sum(this.#siteKey(bundle.site), 0n);
        }
        op.check(bundle.head);
        if (count !== null) op.check(count);
        parts.forEach((bytes, i) => op.set(this.#bundleKey(bundle.site, domain, i), bytes));
        for (let i = parts.length; i < bundle.parts; i++) {
          op.delete(this.#bundleKey(bundle.site, domain, i));
        }
        options.also?.(op);
      });
      if (result.ok) return { before: bundle.cookies, after };
    }
    if (attempts < MAX_ATTEMPTS) return null;
    throw new Error(`Cannot store cookies of '${domain}': too much contention`);
  }

  /**
   * The bundle of `domain`, read with the rest of its site for a write that a record of the
   * site may block (null: one does), and the site's count as read before them: a write that
   * stores a Secure cookie changes the count's version (see the layout above), so a write
   * checked against both its bundle and the count finds the records as the test saw them.
   */
  async #readSite(
    domain: string,
    blockedBy: _BlockedBy,
  ): Promise<{ bundle: Bundle; count: Deno.AtomicCheck } | null> {
    const site = _siteOf(domain);
    // Read first: a Secure cookie stored after this read changes it, one before is listed.
    const count = await this.#get(this.#siteKey(site));
    const bundles = await this.#listBundles([...this.#prefix, "d", site]);
    if (bundles.some((bundle) => bundle.cookies.some(blockedBy))) return null;
    const head = { key: this.#bundleKey(site, domain), value: null, versionstamp: null };
    const bundle = bundles.find((b) => b.domain === domain) ??
      { site, domain, head, parts: 0, cookies: [] };
    return { bundle, count };
  }

  async get(domain: string, path: string, name: string): Promise<_StoredCookie | undefined> {
    return (await this.#read(domain)).cookies.find((c) => c.path === path && c.name === name);
  }

  async find(host: string, domains?: string[]): Promise<readonly _StoredCookie[][]> {
    const entry = this.#hostEntry(host, domains);
    const changes = this.changes;
    if (changes === null) return await this.#findIn(entry.keys);
    // Taken before the read: a write after it gives a new generation, so the result read is
    // never kept past a write it may not have seen.
    const generation = changes.generation();
    if (entry.found !== null && entry.generation === generation) return entry.found;
    const found = await this.#findIn(entry.keys);
    entry.found = found;
    entry.generation = generation;
    return found;
  }

  /** The cookies of the bundles at `keys` (first parts): one read, more for large bundles. */
  async #findIn(keys: Deno.KvKey[]): Promise<readonly _StoredCookie[][]> {
    if (keys.length === 0) return [];
    const heads = keys.length <= READ_BATCH
      ? await _retryLocked(() => this.#kv.getMany(keys))
      : await this.#getMany(keys);
    const found: _StoredCookie[][] = [];
    for (const head of heads) {
      if (head.versionstamp === null) continue;
      const cookies = await this.#cookiesOf(head);
      if (cookies.length !== 0) found.push(cookies);
    }
    return found;
  }

  /** The bundle keys of `host`'s candidate domains, kept for the hosts seen last. */
  #hostEntry(host: string, domains: string[] | undefined): HostEntry {
    let entry = this.#hosts.get(host);
    if (entry === undefined) {
      const candidates = domains ?? _candidateDomains(host);
      const site = _siteOf(candidates[candidates.length - 1]!);
      const keys = candidates.filter((domain) => this.#fits(site, domain))
        .map((domain) => this.#bundleKey(site, domain));
      entry = { keys, found: null, generation: 0 };
      if (this.#hosts.size >= HOST_KEYS) {
        this.#hosts.delete(this.#hosts.keys().next().value!);
      }
      this.#hosts.set(host, entry);
    }
    return entry;
  }

  /** The cookies of the bundle whose first part is `head`: decoded once per version. */
  async #cookiesOf(head: Deno.KvEntryMaybe<unknown>): Promise<_StoredCookie[]> {
    const n = this.#prefix.length;
    const domain = head.key[n + 2] as string;
    const cached = this.#decoded.get(domain);
    if (cached !== undefined && cached.stamp === head.versionstamp) return cached.cookies;
    const bundle = await this.#bundleFrom(head.key[n + 1] as string, domain, head);
    if (bundle.head.versionstamp === null) {
      this.#decoded.delete(domain);
    } else {
      if (cached === undefined && this.#decoded.size >= DECODED_BUNDLES) {
        this.#decoded.delete(this.#decoded.keys().next().value!);
      }
      this.#decoded.set(domain, { stamp: bundle.head.versionstamp, cookies: bundle.cookies });
    }
    return bundle.cookies;
  }

  put(cookie: _StoredCookie): Promise<boolean> {
    return this.putWith(cookie, () => cookie);
  }

  async putWith(id: _CookieId, make: _MakeRecord, blockedBy?: _BlockedBy): Promise<boolean> {
    if (!this.keeps(id.domain)) return false;
    let secure = false;
    const result = await this.#update(id.domain, (cookies) => {
      const others = cookies.filter((c) => !_isSameCookie(c, id));
      const current = cookies.find((c) => _isSameCookie(c, id));
      const made = make(current === undefined ? undefined : { ...current });
      secure = made?.secure === true;
      if (made === null) return null;
      if (_isExpired(made, this.limits.clock())) {
        return others.length === cookies.length ? null : others;
      }
      if (!_recordFits(made.name, made.value, made.domain, made.path)) return null;
      return [...others, _record(made)];
    }, { fit: id, blockedBy, securing: () => secure });
    // `null`: nothing changed, or the bundle is of a newer format, which is never written.
    if (result === null) return false;
    if (result.after.length > result.before.length) await this.#evict(_siteOf(id.domain), id);
    return true;
  }

  async #count(key: Deno.KvKey): Promise<number> {
    const entry = await this.#get(key);
    return entry.value instanceof Deno.KvU64 ? Number(entry.value.value) : Infinity;
  }

  /** Evicts least recently used cookies of `site`, then of the jar, beyond the limits. */
  async #evict(site: string, keep: _CookieId): Promise<void> {
    const { maxCookiesPerDomain, maxCookies } = this.limits;
    if (await this.#count(this.#siteKey(site)) > maxCookiesPerDomain) {
      await this.#evictFrom([...this.#prefix, "d", site], maxCookiesPerDomain, keep);
    }
    if (await this.#count(this.#totalKey) > maxCookies) {
      await this.#evictFrom([...this.#prefix, "d"], maxCookies, keep);
    }
  }

  async #evictFrom(prefix: Deno.KvKey, limit: number, keep: _CookieId): Promise<void> {
    const cookies = (await this.#listBundles(prefix)).flatMap((bundle) => bundle.cookies);
    if (cookies.length <= limit) {
      // The count drifted (a removed corrupt bundle, a foreign value): count again.
      await this.#recount();
      return;
    }
    const order = _evictionOrder(this.limits.clock());
    const victims = cookies
      .filter((c) => !_isSameCookie(c, keep))
      .sort(order)
      .slice(0, cookies.length - _purgeTarget(limit));
    const byDomain = Map.groupBy(victims, (c) => c.domain);
    for (const [domain, gone] of byDomain) {
      // Only as listed: a cookie set or used since (by another jar) is no longer the one chosen.
      await this.#update(domain, (current) => {
        const kept = current.filter((c) => !gone.some((v) => _unchangedSince(v, c)));
        return kept.length === current.length ? null : kept;
      });
    }
  }

  /**
   * Sets every count from a listing of the bundles. Every write that changes a count sums the
   * total and its site's count, so a count read before the listing and still unchanged when
   * its new value is written saw no such write meanwhile: each count is written checked
   * against the version read, and the whole recount starts again when a check fails. Under
   * contention that outlasts the attempts, the last one writes unchecked (a count that is not
   * a `Deno.KvU64` must not stay).
   */
  async #recount(): Promise<void> {
    const n = this.#prefix.length;
    for (let attempt = 1;; attempt++) {
      const checked = attempt < RECOUNT_ATTEMPTS;
      const total = await this.#get(this.#totalKey);
      const counters = await _retryLocked(() =>
        Array.fromAsync(this.#kv.list({ prefix: [...this.#prefix, "n"] }))
      );
      const bundles = await this.#listBundles([...this.#prefix, "d"]);
      const sites = new Map<string, number>();
      let count = 0;
      for (const bundle of bundles) {
        sites.set(bundle.site, (sites.get(bundle.site) ?? 0) + bundle.cookies.length);
        count += bundle.cookies.length;
      }
      // Each site's count as read (a site without one: checked to be still without one).
      const changes: [Deno.AtomicCheck, number | null][] = [];
      for (const counter of counters) {
        const site = counter.key[n + 1];
        if (typeof site === "string" && counter.key.length === n + 2) {
          changes.push([counter, sites.get(site) ?? null]);
          sites.delete(site);
        } else changes.push([counter, null]);
      }
      for (const [site, value] of sites) {
        changes.push([{ key: this.#siteKey(site), versionstamp: null }, value]);
      }
      let ok = true;
      for (let i = 0; i < changes.length && ok; i += RECOUNT_BATCH) {
        const result = await _retryLocked(() => {
          const op = this.#kv.atomic();
          for (const [counter, value] of changes.slice(i, i + RECOUNT_BATCH)) {
            if (checked) op.check(counter);
            if (value === null) op.delete(counter.key);
            else op.set(counter.key, new Deno.KvU64(BigInt(value)));
          }
          return op.commit();
        });
        ok = result.ok;
      }
      if (ok) {
        const result = await _retryLocked(() => {
          const op = this.#kv.atomic();
          if (checked) op.check(total);
          return op.set(this.#totalKey, new Deno.KvU64(BigInt(count))).commit();
        });
        if (result.ok) return;
      }
    }
  }

  async remove(domain: string, path: string, name: string): Promise<_StoredCookie | undefined> {
    let removed: _StoredCookie | undefined;
    const result = await this.#update(domain, (cookies) => {
      removed = cookies.find((c) => c.path === path && c.name === name);
      return removed === undefined ? null : cookies.filter((c) => c !== removed);
    });
    // Written: the last call of the change is the one committed.
    return result === null ? undefined : removed;
  }

  async removeExpired(cookies: readonly _StoredCookie[], now: number): Promise<void> {
    for (const [domain, expired] of Map.groupBy(cookies, (c) => c.domain)) {
      // Checked against the bundle as it is now: a fresh cookie of an expired one's name stays.
      await this.#update(domain, (current) => {
        const kept = current.filter((c) =>
          !(_isExpired(c, now) && expired.some((e) => _isSameCookie(e, c)))
        );
        return kept.length === current.length ? null : kept;
      });
    }
  }

  async removeMatching(domain: string, path: string | null): Promise<void> {
    await this.#update(domain, (cookies) => {
      const kept = path === null ? [] : cookies.filter((c) => c.path !== path);
      return kept.length === cookies.length ? null : kept;
    });
  }

  /** Removes everything under the prefix, partitions included. */
  async clearAll(): Promise<void> {
    const entries = await _retryLocked(() =>
      Array.fromAsync(this.#kv.list({ prefix: this.#prefix }))
    );
    for (let i = 0; i < entries.length; i += DELETE_BATCH) {
      const batch = entries.slice(i, i + DELETE_BATCH);
      await _retryLocked(() => {
        const op = this.#kv.atomic();
        for (const entry of batch) op.delete(entry.key);
        return op.commit();
      });
    }
  }

  async all(): Promise<_StoredCookie[]> {
    return (await this.#listBundles([...this.#prefix, "d"])).flatMap((bundle) => bundle.cookies);
  }

  async touch(cookies: readonly _StoredCookie[], time: number): Promise<void> {
    for (const [domain, touched] of Map.groupBy(cookies, (c) => c.domain)) {
      // Best effort: one attempt; a concurrent write wins over a last-access update.
      await this.#update(domain, (current) => {
        let changed = false;
        const next = current.map((c) => {
          if (!touched.some((t) => _isSameCookie(t, c))) return c;
          changed = true;
          return { ...c, lastAccessTime: time };
        });
        return changed ? next : null;
      }, { attempts: 1 });
    }
  }

  /**
   * Moves the cookies version 0.1.0 stored (one V8-serialised value per cookie) into
   * bundles: each old key is deleted in the atomic write that stores its cookie, so none is
   * lost, and one that does not decode is removed. Costs one short listing when there are
   * none.
   */
  override async open(): Promise<void> {
    const prefix = [...this.#prefix, "c"];
    const first = await _retryLocked(() =>
      Array.fromAsync(this.#kv.list({ prefix }, { limit: 1 }))
    );
    if (first.length === 0) return;
    const entries = await _retryLocked(() => Array.fromAsync(this.#kv.list({ prefix })));
    const n = this.#prefix.length;
    const valid: Deno.KvEntry<_StoredCookie>[] = [];
    for (const entry of entries) {
      const site = entry.key[n + 1];
      if (_isStoredCookie(entry.value) && site === _siteOf(entry.value.domain)) {
        valid.push(entry as Deno.KvEntry<_StoredCookie>);
      } else {
        await this.#commit((op) => {
          op.sum(this.#totalKey, u64(-1));
          if (typeof site === "string") op.sum(this.#siteKey(site), u64(-1));
          op.check(entry).delete(entry.key);
        });
      }
    }
    for (const [domain, old] of Map.groupBy(valid, (entry) => entry.value.domain)) {
      for (let i = 0; i < old.length; i += 100) {
        const batch = old.slice(i, i + 100);
        await this.#update(domain, (cookies) => {
          const moved = batch.map((entry) => _record(entry.value));
          return [...cookies.filter((c) => !moved.some((m) => _isSameCookie(m, c))), ...moved];
        }, {
          counted: batch.length,
          securing: () => batch.some((entry) => entry.value.secure),
          also: (op) => {
            for (const entry of batch) op.check(entry).delete(entry.key);
          },
        });
      }
    }
  }
}
