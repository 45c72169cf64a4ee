/**
 * HTTP Strict Transport Security (RFC 6797): the policies a manager learns from
 * `Strict-Transport-Security` response headers, kept in memory or in Deno KV, and the
 * upgrade of `http:` URLs of known hosts to `https:`.
 *
 * @module
 */

import { _openKv, _retryLocked, checkPrefix } from "./_kv.ts";
import { checkClock } from "./_clock.ts";
import { TCHAR } from "./_http_token.ts";
import { isIpLiteral } from "./_ip.ts";
import type { Clock } from "./clock.ts";

/** The longest lifetime a policy may have, in seconds (about 68 years); larger values are capped. */
const MAX_AGE_CAP = 2_147_483_648;

/**
 * One HSTS policy: the host it protects, when it expires, and whether it covers subdomains.
 *
 * @example A policy for a year, subdomains included
 * ```ts
 * import type { HstsPolicy } from "@netaccess/core";
 *
 * const policy: HstsPolicy = {
 *   host: "example.com",
 *   expires: Date.now() + 365 * 24 * 3600 * 1000,
 *   includeSubDomains: true,
 * };
 * console.log(policy.host);
 * ```
 */
export interface HstsPolicy {
  /** The host name, lower-case, without a trailing dot; never an IP address. */
  host: string;
  /** When the policy ends, in milliseconds since the Unix epoch; `Infinity` for never. */
  expires: number;
  /** Whether the policy also covers every subdomain of `host`. */
  includeSubDomains: boolean;
}

/**
 * A host to treat as known before any header was seen, as browsers' preload lists do: a host
 * name, or an object that also says whether subdomains are covered and when the entry ends.
 * Preloaded policies are not stored, and headers (even `max-age=0`) do not remove them.
 *
 * @example Preloading a host and a whole domain
 * ```ts
 * import { type HstsPreload, MemoryHstsStore } from "@netaccess/core";
 *
 * const preload: HstsPreload[] = ["login.example.com", { host: "example.org", includeSubDomains: true }];
 * const store = new MemoryHstsStore({ preload });
 * console.log(await store.isKnownHost("www.example.org")); // true
 * ```
 */
export type HstsPreload = string | {
  /** The host name. */
  host: string;
  /**
   * Whether subdomains are covered too.
   *
   * @default {false}
   */
  includeSubDomains?: boolean;
  /**
   * When the entry ends, in milliseconds since the Unix epoch.
   *
   * @default {Infinity}
   */
  expires?: number;
};

/**
 * Where a manager keeps HSTS policies. All methods are asynchronous so that a store may live
 * in a database; host names are compared case-insensitively and without a trailing dot.
 *
 * @example Asking a store whether a host is known
 * ```ts
 * import { MemoryHstsStore } from "@netaccess/core";
 *
 * const store = new MemoryHstsStore();
 * await store.learn("example.com", "max-age=31536000; includeSubDomains");
 * console.log(await store.isKnownHost("www.example.com")); // true
 * ```
 */
export interface HstsStore {
  /**
   * Returns the live policy stored for exactly this host (or preloaded for it), if any.
   *
   * @param host A host name.
   * @returns The policy, or `undefined`.
   */
  get(host: string): Promise<HstsPolicy | undefined>;
  /**
   * Tells whether requests to a host must use https: a live policy for the host itself, or
   * one for a parent domain with `includeSubDomains`. IP addresses are never known hosts.
   *
   * @param host A host name, as in `URL.hostname`.
   * @returns Whether the host is a known HSTS host.
   */
  isKnownHost(host: string): Promise<boolean>;
  /**
   * Processes a `Strict-Transport-Security` header received from a host over https:
   * a valid header stores (or, with `max-age=0`, removes) the host's policy; a malformed
   * header, or an IP address as host, is ignored. Of several header fields combined into one
   * value, only the first counts (RFC 6797 section 8.1).
   *
   * @param host The host that sent the header.
   * @param headerValue The header's value.
   * @returns Whether the header was valid and applied.
   */
  learn(host: string, headerValue: string): Promise<boolean>;
  /**
   * Stores a policy, replacing the host's previous one; an already expired policy removes it.
   *
   * @param policy The policy.
   * @returns A promise that settles when the policy is stored.
   * @throws {TypeError} When the host is empty or an IP address, or `expires` is not a number.
   */
  set(policy: HstsPolicy): Promise<void>;
  /**
   * Removes the stored policy of a host (preloaded entries stay).
   *
   * @param host A host name.
   * @returns Whether a policy was removed.
   */
  remove(host: string): Promise<boolean>;
  /**
   * Removes every stored policy (preloaded entries stay).
   *
   * @returns A promise that settles when the store is empty.
   */
  clear(): Promise<void>;
  /**
   * Lists the live policies: the stored ones, then the preloaded hosts with no stored policy.
   *
   * @returns The policies.
   */
  all(): Promise<HstsPolicy[]>;
}

/**
 * Options of {@linkcode MemoryHstsStore}.
 *
 * @example A store on a clock a test controls
 * ```ts
 * import { MemoryHstsStore, type MemoryHstsStoreOptions } from "@netaccess/core";
 *
 * let now = Date.UTC(2026, 0, 1);
 * const options: MemoryHstsStoreOptions = { clock: () => now };
 * const store = new MemoryHstsStore(options);
 * await store.learn("example.com", "max-age=60");
 * now += 61_000;
 * console.log(await store.isKnownHost("example.com")); // false
 * ```
 */
export interface MemoryHstsStoreOptions {
  /**
   * The clock that decides when policies expire.
   *
   * @default {Date.now}
   */
  clock?: Clock;
  /**
   * Hosts known before any header is seen.
   *
   * @default {[]}
   */
  preload?: Iterable<HstsPreload>;
}

/**
 * Options of {@linkcode KvHstsStore.open}.
 *
 * @example Sharing one database with other stores
 * ```ts
 * import { KvHstsStore, type KvHstsStoreOptions } from "@netaccess/core";
 *
 * await using kv = await Deno.openKv(":memory:");
 * const options: KvHstsStoreOptions = { kv, prefix: ["my-app", "hsts"] };
 * await using store = await KvHstsStore.open(options);
 * console.log((await store.all()).length); // 0
 * ```
 */
export interface KvHstsStoreOptions extends MemoryHstsStoreOptions {
  /** A SQLite file (or `":memory:"`) to open; the store closes it. Give this or `kv`. */
  path?: string;
  /** A database the application opened; shared with other stores and never closed by this one. */
  kv?: Deno.Kv;
  /**
   * The key prefix under which the policies live.
   *
   * @default {["netaccess", "hsts"]}
   */
  prefix?: Deno.KvKey;
}

/** The directives of a valid `Strict-Transport-Security` header. */
export interface _StsDirectives {
  /** The `max-age` directive, in seconds. */
  maxAge: number;
  /** Whether `includeSubDomains` was present. */
  includeSubDomains: boolean;
}

// ---------------------------------------------------------------------------------------------
// Host names

/** Lower-cases a host and drops one trailing dot. */
export function _normalizeHost(host: string): string {
  const lower = host.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

/** The host and each of its parent domains, nearest first: `a.b.c` -> `a.b.c`, `b.c`, `c`. */
function selfAndParents(host: string): string[] {
  const labels = host.split(".");
  const out: string[] = [];
  for (let i = 0; i < labels.length; i++) out.push(labels.slice(i).join("."));
  return out;
}

// ---------------------------------------------------------------------------------------------
// The header parser (RFC 6797 section 6.1)

/**
 * Parses a `Strict-Transport-Security` value strictly by RFC 6797 section 6.1: directives
 * separated by `;`, names case-insensitive, values tokens or quoted strings, each directive at
 * most once, `max-age` required (digits only), `includeSubDomains` without a value, unknown
 * directives ignored.
 *
 * @param value The header's value.
 * @returns The directives, or `null` when the value is malformed.
 */
export function _parseStrictTransportSecurity(value: string): _StsDirectives | null {
  const seen = new Map<string, string | undefined>();
  let i = 0;
  const n = value.length;
  const skipOws = () => {
    while (i < n && (value[i] === " " || value[i] === "\t")) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TCHAR.test(value[i]!)) i++;
    return value.slice(start, i);
  };
  for (;;) {
    skipOws();
    if (i >= n) break;
    if (value[i] === ";") {
      i++;
      continue;
    }
    const name = readToken().toLowerCase();
    if (name === "") return null;
    skipOws();
    let directiveValue: string | undefined;
    if (value[i] === "=") {
      i++;
      skipOws();
      if (value[i] === '"') {
        i++;
        let text = "";
        let closed = false;
        while (i < n) {
          const c = value[i]!;
          if (c === "\\") {
            if (i + 1 >= n) return null;
            text += value[i + 1];
            i += 2;
          } else if (c === '"') {
            i++;
            closed = true;
            break;
          } else {
            text += c;
            i++;
          }
        }
        if (!closed) return null;
        directiveValue = text;
      } else {
        directiveValue = readToken();
        if (directiveValue === "") return null;
      }
      skipOws();
    }
    if (i < n && value[i] !== ";") return null;
    if (seen.has(name)) return null;
    seen.set(name, directiveValue);
  }
  if (!seen.has("max-age")) return null;
  const maxAge = seen.get("max-age");
  if (maxAge === undefined || !/^\d+$/.test(maxAge)) return null;
  if (seen.has("includesubdomains") && seen.get("includesubdomains") !== undefined) return null;
  return {
    maxAge: Math.min(Number(maxAge), MAX_AGE_CAP),
    includeSubDomains: seen.has("includesubdomains"),
  };
}

/**
 * Parses a `Strict-Transport-Security` value as `Headers` gives it: several header fields
 * arrive joined by `", "`. A comma outside a quoted string separates fields; only the first
 * field counts (RFC 6797 section 8.1), and only when every field is a valid policy, since a
 * comma inside one field (`max-age=1; x=a,b`) is indistinguishable from two fields and makes
 * that field invalid.
 *
 * @param value The header's value.
 * @returns The directives of the first field, or `null`.
 */
export function _parseStsHeaderValue(value: string): _StsDirectives | null {
  const fields: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted && c === "\\") i++;
    else if (c === '"') quoted = !quoted;
    else if (c === "," && !quoted) {
      fields.push(value.slice(start, i));
      start = i + 1;
    }
  }
  fields.push(value.slice(start));
  let first: _StsDirectives | null = null;
  for (const field of fields) {
    const directives = _parseStrictTransportSecurity(field);
    if (directives === null) return null;
    first ??= directives;
  }
  return first;
}

// ---------------------------------------------------------------------------------------------
// Upgrading URLs

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
export async function _upgradeUrl(url: URL | string, store: HstsStore): Promise<URL | null> {
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

// ---------------------------------------------------------------------------------------------
// Stores

interface StoredPolicy {
  expires: number;
  includeSubDomains: boolean;
}

function validatePolicy(policy: HstsPolicy, what: string): HstsPolicy {
  if (policy === null || typeof policy !== "object") {
    throw new TypeError(`Cannot ${what}: the policy must be an object, got ${policy}`);
  }
  if (typeof policy.host !== "string" || policy.host === "" || policy.host === ".") {
    throw new TypeError(`Cannot ${what}: 'host' must be a non-empty string, got ${policy.host}`);
  }
  const host = _normalizeHost(policy.host);
  if (isIpLiteral(host)) {
    throw new TypeError(`Cannot ${what}: 'host' must not be an IP address, got ${policy.host}`);
  }
  if (typeof policy.expires !== "number" || Number.isNaN(policy.expires)) {
    throw new TypeError(`Cannot ${what}: 'expires' must be a number, got ${policy.expires}`);
  }
  return { host, expires: policy.expires, includeSubDomains: policy.includeSubDomains === true };
}

function preloadMap(preload: Iterable<HstsPreload> | undefined, what: string) {
  const map = new Map<string, StoredPolicy>();
  if (preload === undefined) return map;
  if (
    preload === null || typeof (preload as Iterable<HstsPreload>)[Symbol.iterator] !== "function"
  ) {
    throw new TypeError(`Cannot ${what}: 'preload' must be an iterable, got ${preload}`);
  }
  for (const entry of preload) {
    const policy = validatePolicy(
      typeof entry === "string" ? { host: entry, expires: Infinity, includeSubDomains: false } : {
        host: entry?.host,
        expires: entry?.expires ?? Infinity,
        includeSubDomains: entry?.includeSubDomains ?? false,
      },
      what,
    );
    map.set(policy.host, { expires: policy.expires, includeSubDomains: policy.includeSubDomains });
  }
  return map;
}

/** Whether one of the policies of (host, parent, grandparent...) makes `host` known. */
function matches(policies: (StoredPolicy | undefined)[], now: number): boolean {
  return policies.some((policy, index) =>
    policy !== undefined && policy.expires > now && (index === 0 || policy.includeSubDomains)
  );
}

/** The shared logic of both stores over a few primitive operations. */
abstract class StoreCore {
  readonly #clock: Clock;
  readonly #preload: Map<string, StoredPolicy>;

  constructor(clock: Clock, preload: Map<string, StoredPolicy>) {
    this.#clock = clock;
    this.#preload = preload;
  }

  protected abstract readMany(hosts: string[]): Promise<(StoredPolicy | undefined)[]>;
  protected abstract write(host: string, policy: StoredPolicy, now: number): Promise<void>;
  protected abstract delete(host: string): Promise<boolean>;
  protected abstract entries(): Promise<[string, StoredPolicy][]>;
  protected abstract deleteAll(): Promise<void>;

  /** Reads policies, dropping (and deleting) the expired ones. */
  async #live(hosts: string[]): Promise<(StoredPolicy | undefined)[]> {
    const now = this.#clock();
    const stored = await this.readMany(hosts);
    return Promise.all(stored.map(async (policy, index) => {
      if (policy !== undefined && policy.expires <= now) {
        await this.delete(hosts[index]!);
        return undefined;
      }
      return policy;
    }));
  }

  async get(host: string): Promise<HstsPolicy | undefined> {
    const key = _normalizeHost(host);
    const [stored] = await this.#live([key]);
    const policy = stored ?? this.#preload.get(key);
    if (policy === undefined || policy.expires <= this.#clock()) return undefined;
    return { host: key, expires: policy.expires, includeSubDomains: policy.includeSubDomains };
  }

  async isKnownHost(host: string): Promise<boolean> {
    const key = _normalizeHost(host);
    if (key === "" || isIpLiteral(key)) return false;
    const candidates = selfAndParents(key);
    const now = this.#clock();
    if (matches(candidates.map((c) => this.#preload.get(c)), now)) return true;
    return matches(await this.#live(candidates), now);
  }

  async learn(host: string, headerValue: string): Promise<boolean> {
    const key = _normalizeHost(host);
    if (key === "" || isIpLiteral(key)) return false;
    const directives = _parseStsHeaderValue(String(headerValue));
    if (directives === null) return false;
    if (directives.maxAge === 0) {
      await this.delete(key);
      return true;
    }
    const now = this.#clock();
    await this.write(key, {
      expires: now + directives.maxAge * 1000,
      includeSubDomains: directives.includeSubDomains,
    }, now);
    return true;
  }

  async set(policy: HstsPolicy): Promise<void> {
    const valid = validatePolicy(policy, "set HSTS policy");
    const now = this.#clock();
    if (valid.expires <= now) {
      await this.delete(valid.host);
      return;
    }
    await this.write(valid.host, {
      expires: valid.expires,
      includeSubDomains: valid.includeSubDomains,
    }, now);
  }

  remove(host: string): Promise<boolean> {
    return this.delete(_normalizeHost(host));
  }

  clear(): Promise<void> {
    return this.deleteAll();
  }

  async all(): Promise<HstsPolicy[]> {
    const now = this.#clock();
    const out: HstsPolicy[] = [];
    const seen = new Set<string>();
    for (const [host, policy] of await this.entries()) {
      if (policy.expires <= now) continue;
      seen.add(host);
      out.push({ host, expires: policy.expires, includeSubDomains: policy.includeSubDomains });
    }
    for (const [host, policy] of this.#preload) {
      if (seen.has(host) || policy.expires <= now) continue;
      out.push({ host, expires: policy.expires, includeSubDomains: policy.includeSubDomains });
    }
    return out;
  }
}

/**
 * An {@linkcode HstsStore} in memory: policies last as long as the object.
 *
 * @example Learning a policy and upgrading later requests
 * ```ts
 * import { MemoryHstsStore } from "@netaccess/core";
 *
 * const store = new MemoryHstsStore({ preload: [{ host: "example.org", includeSubDomains: true }] });
 * await store.learn("example.com", "max-age=600");
 * console.log(await store.isKnownHost("example.com"), await store.isKnownHost("a.example.org"));
 * ```
 */
export class MemoryHstsStore implements HstsStore {
  readonly #core: MemoryCore;

  /**
   * Creates an empty store.
   *
   * @param options The clock and the preloaded hosts.
   * @throws {TypeError} When an option has the wrong type or a preloaded host is invalid.
   */
  constructor(options: MemoryHstsStoreOptions = {}) {
    const what = "create HSTS store";
    this.#core = new MemoryCore(
      checkClock(`Cannot ${what}`, options.clock),
      preloadMap(options.preload, what),
    );
  }

  /**
   * Returns the live policy stored or preloaded for exactly this host.
   *
   * @param host A host name.
   * @returns The policy, or `undefined`.
   */
  get(host: string): Promise<HstsPolicy | undefined> {
    return this.#core.get(host);
  }

  /**
   * Tells whether requests to a host must use https.
   *
   * @param host A host name.
   * @returns Whether a live policy covers the host.
   */
  isKnownHost(host: string): Promise<boolean> {
    return this.#core.isKnownHost(host);
  }

  /**
   * Processes a `Strict-Transport-Security` header received over https.
   *
   * @param host The host that sent it.
   * @param headerValue The header's value.
   * @returns Whether the header was valid and applied.
   */
  learn(host: string, headerValue: string): Promise<boolean> {
    return this.#core.learn(host, headerValue);
  }

  /**
   * Stores a policy.
   *
   * @param policy The policy.
   * @returns A promise that settles when it is stored.
   * @throws {TypeError} When the policy is invalid.
   */
  set(policy: HstsPolicy): Promise<void> {
    return this.#core.set(policy);
  }

  /**
   * Removes a host's stored policy.
   *
   * @param host A host name.
   * @returns Whether a policy was removed.
   */
  remove(host: string): Promise<boolean> {
    return this.#core.remove(host);
  }

  /**
   * Removes every stored policy.
   *
   * @returns A promise that settles when done.
   */
  clear(): Promise<void> {
    return this.#core.clear();
  }

  /**
   * Lists the live policies.
   *
   * @returns The policies.
   */
  all(): Promise<HstsPolicy[]> {
    return this.#core.all();
  }
}

class MemoryCore extends StoreCore {
  readonly #map = new Map<string, StoredPolicy>();

  protected readMany(hosts: string[]): Promise<(StoredPolicy | undefined)[]> {
    return Promise.resolve(hosts.map((host) => this.#map.get(host)));
  }
  protected write(host: string, policy: StoredPolicy): Promise<void> {
    this.#map.set(host, policy);
    return Promise.resolve();
  }
  protected delete(host: string): Promise<boolean> {
    return Promise.resolve(this.#map.delete(host));
  }
  protected entries(): Promise<[string, StoredPolicy][]> {
    return Promise.resolve([...this.#map]);
  }
  protected deleteAll(): Promise<void> {
    this.#map.clear();
    return Promise.resolve();
  }
}

/** The stored form of a policy in KV; versioned so that a future layout can be told apart. */
interface KvPolicyValue {
  v: 1;
  expires: number;
  includeSubDomains: boolean;
}

function decode(value: unknown): StoredPolicy | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const record = value as Partial<KvPolicyValue>;
  if (
    record.v !== 1 || typeof record.expires !== "number" || Number.isNaN(record.expires) ||
    typeof record.includeSubDomains !== "boolean"
  ) return undefined;
  return { expires: record.expires, includeSubDomains: record.includeSubDomains };
}

class KvCore extends StoreCore {
  readonly #kv: Deno.Kv;
  readonly #prefix: Deno.KvKey;
  #closed = false;

  constructor(kv: Deno.Kv, prefix: Deno.KvKey, clock: Clock, preload: Map<string, StoredPolicy>) {
    super(clock, preload);
    this.#kv = kv;
    this.#prefix = prefix;
  }

  markClosed(): void {
    this.#closed = true;
  }

  #check(): void {
    if (this.#closed) throw new Error("Cannot use HSTS store: it is closed");
  }

  #key(host: string): Deno.KvKey {
    return [...this.#prefix, host];
  }

  protected async readMany(hosts: string[]): Promise<(StoredPolicy | undefined)[]> {
    this.#check();
    const out: (StoredPolicy | undefined)[] = [];
    for (let i = 0; i < hosts.length; i += 10) {
      const slice = hosts.slice(i, i + 10);
      const entries = await _retryLocked(() => this.#kv.getMany(slice.map((h) => this.#key(h))));
      for (const entry of entries) {
        if (entry.value === null) {
          out.push(undefined);
          continue;
        }
        const policy = decode(entry.value);
        if (policy === undefined) await this.#deleteIfUnchanged(entry);
        out.push(policy);
      }
    }
    return out;
  }

  async #deleteIfUnchanged(entry: Deno.KvEntryMaybe<unknown>): Promise<void> {
    await _retryLocked(() =>
      this.#kv.atomic().check({ key: entry.key, versionstamp: entry.versionstamp }).delete(
        entry.key,
      ).commit()
    );
  }

  protected async write(host: string, policy: StoredPolicy, now: number): Promise<void> {
    this.#check();
    const value: KvPolicyValue = {
      v: 1,
      expires: policy.expires,
      includeSubDomains: policy.includeSubDomains,
    };
    const lifetime = policy.expires - now;
    const options = Number.isFinite(lifetime) && lifetime > 0 && lifetime < 2 ** 52
      ? { expireIn: Math.ceil(lifetime) }
      : undefined;
    await _retryLocked(() => this.#kv.set(this.#key(host), value, options));
  }

  protected async delete(host: string): Promise<boolean> {
    this.#check();
    const key = this.#key(host);
    const entry = await _retryLocked(() => this.#kv.get(key));
    if (entry.value === null) return false;
    await _retryLocked(() => this.#kv.delete(key));
    return decode(entry.value) !== undefined;
  }

  protected async entries(): Promise<[string, StoredPolicy][]> {
    this.#check();
    const out: [string, StoredPolicy][] = [];
    const corrupt: Deno.KvEntry<unknown>[] = [];
    for await (const entry of this.#kv.list({ prefix: this.#prefix })) {
      const host = entry.key[this.#prefix.length];
      const policy = decode(entry.value);
      if (typeof host !== "string" || entry.key.length !== this.#prefix.length + 1) continue;
      if (policy === undefined) corrupt.push(entry);
      else out.push([host, policy]);
    }
    for (const entry of corrupt) await this.#deleteIfUnchanged(entry);
    return out;
  }

  protected async deleteAll(): Promise<void> {
    this.#check();
    for (;;) {
      const keys: Deno.KvKey[] = [];
      for await (const entry of this.#kv.list({ prefix: this.#prefix }, { limit: 500 })) {
        keys.push(entry.key);
      }
      if (keys.length === 0) return;
      await _retryLocked(() => {
        const op = this.#kv.atomic();
        for (const key of keys) op.delete(key);
        return op.commit();
      });
    }
  }
}

/**
 * An {@linkcode HstsStore} in Deno KV, so that policies survive restarts and are shared by
 * every process (or Deno Deploy instance) using the same database. A stored value that cannot
 * be read back is ignored and removed.
 *
 * @example A persistent store
 * ```ts
 * import { KvHstsStore } from "@netaccess/core";
 *
 * await using store = await KvHstsStore.open({ path: ":memory:" });
 * await store.learn("example.com", "max-age=31536000");
 * console.log(await store.isKnownHost("example.com")); // true
 * ```
 */
export class KvHstsStore implements HstsStore, AsyncDisposable {
  readonly #core: KvCore;
  readonly #kv: Deno.Kv;
  readonly #owned: boolean;
  #closed = false;

  private constructor(core: KvCore, kv: Deno.Kv, owned: boolean) {
    this.#core = core;
    this.#kv = kv;
    this.#owned = owned;
  }

  /**
   * Opens a store in a database given by `path` (opened and closed by the store) or `kv`
   * (shared, left open).
   *
   * @param options Where the policies live, the clock and the preloaded hosts.
   * @returns The store.
   * @throws {TypeError} When both `path` and `kv` are given, or an option has the wrong type.
   */
  static async open(options: KvHstsStoreOptions = {}): Promise<KvHstsStore> {
    const what = "open HSTS store";
    const clock = checkClock(`Cannot ${what}`, options.clock);
    const preload = preloadMap(options.preload, what);
    const prefix = checkPrefix(`Cannot ${what}`, options.prefix, ["netaccess", "hsts"]);
    const { kv, owned } = await _openKv({ path: options.path, kv: options.kv }, "HSTS store");
    return new KvHstsStore(new KvCore(kv, prefix, clock, preload), kv, owned);
  }

  /**
   * Returns the live policy stored or preloaded for exactly this host.
   *
   * @param host A host name.
   * @returns The policy, or `undefined`.
   */
  get(host: string): Promise<HstsPolicy | undefined> {
    return this.#core.get(host);
  }

  /**
   * Tells whether requests to a host must use https.
   *
   * @param host A host name.
   * @returns Whether a live policy covers the host.
   */
  isKnownHost(host: string): Promise<boolean> {
    return this.#core.isKnownHost(host);
  }

  /**
   * Processes a `Strict-Transport-Security` header received over https.
   *
   * @param host The host that sent it.
   * @param headerValue The header's value.
   * @returns Whether the header was valid and applied.
   */
  learn(host: string, headerValue: string): Promise<boolean> {
    return this.#core.learn(host, headerValue);
  }

  /**
   * Stores a policy.
   *
   * @param policy The policy.
   * @returns A promise that settles when it is stored.
   * @throws {TypeError} When the policy is invalid.
   */
  set(policy: HstsPolicy): Promise<void> {
    return this.#core.set(policy);
  }

  /**
   * Removes a host's stored policy.
   *
   * @param host A host name.
   * @returns Whether a policy was removed.
   */
  remove(host: string): Promise<boolean> {
    return this.#core.remove(host);
  }

  /**
   * Removes every stored policy under the store's prefix.
   *
   * @returns A promise that settles when done.
   */
  clear(): Promise<void> {
    return this.#core.clear();
  }

  /**
   * Lists the live policies.
   *
   * @returns The policies.
   */
  all(): Promise<HstsPolicy[]> {
    return this.#core.all();
  }

  /**
   * Closes the database if the store opened it; safe to call twice.
   *
   * @returns A promise that settles when closed.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#core.markClosed();
    if (this.#owned) this.#kv.close();
    return Promise.resolve();
  }

  /**
   * Closes the store, as {@linkcode KvHstsStore.close}.
   *
   * @returns A promise that settles when closed.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
