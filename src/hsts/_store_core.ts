/** The logic both HSTS stores share, over a few primitive operations of their backend. */

import { isIpLiteral } from "../_ip.ts";
import { describe, numberError } from "../_validation.ts";
import type { Clock } from "../clock.ts";
import type { HstsPolicy, HstsPreload, HstsStore } from "./hsts_store.ts";
import { isHostName, normalizeHost, selfAndParents } from "./_host.ts";
import { parseStsHeaderValue } from "./_sts_header.ts";

export interface StoredPolicy {
  expires: number;
  includeSubDomains: boolean;
}

export function validatePolicy(policy: HstsPolicy, what: string): HstsPolicy {
  if (policy === null || typeof policy !== "object") {
    throw new TypeError(`Cannot ${what}: the policy must be an object, got ${describe(policy)}`);
  }
  if (typeof policy.host !== "string" || policy.host === "" || policy.host === ".") {
    throw new TypeError(
      `Cannot ${what}: 'host' must be a non-empty string, got ${describe(policy.host)}`,
    );
  }
  const host = normalizeHost(policy.host);
  if (isIpLiteral(host)) {
    throw new TypeError(
      `Cannot ${what}: 'host' must not be an IP address, got ${describe(policy.host)}`,
    );
  }
  if (!isHostName(host)) throw badHost(what, policy.host);
  if (typeof policy.expires !== "number" || Number.isNaN(policy.expires)) {
    throw numberError(`Cannot ${what}`, "expires", policy.expires, "a time in epoch ms");
  }
  if (typeof policy.includeSubDomains !== "boolean") {
    throw new TypeError(
      `Cannot ${what}: 'includeSubDomains' must be a boolean, got ${
        describe(policy.includeSubDomains)
      }`,
    );
  }
  return { host, expires: policy.expires, includeSubDomains: policy.includeSubDomains };
}

function badHost(what: string, host: unknown): TypeError {
  return new TypeError(
    `Cannot ${what}: 'host' must be a host name (no scheme, port, path or spaces), got ${
      describe(host)
    }`,
  );
}

/** The host argument of a store method, normalised; a `TypeError` when it is not a string. */
function hostArgument(host: unknown, what: string): string {
  if (typeof host !== "string") {
    throw new TypeError(`Cannot ${what}: 'host' must be a string, got ${describe(host)}`);
  }
  return normalizeHost(host);
}

export function preloadMap(
  preload: Iterable<HstsPreload> | undefined,
  what: string,
): Map<string, StoredPolicy> {
  const map = new Map<string, StoredPolicy>();
  if (preload === undefined) return map;
  if (
    preload === null || typeof preload === "string" ||
    typeof (preload as Iterable<HstsPreload>)[Symbol.iterator] !== "function"
  ) {
    throw new TypeError(
      `Cannot ${what}: 'preload' must be an array (or other iterable) of hosts, got ${
        describe(preload)
      }`,
    );
  }
  for (const entry of preload) {
    const policy = validatePolicy(
      // Anything but an object is a host name, checked (and refused) as one.
      typeof entry !== "object" || entry === null
        ? { host: entry as string, expires: Infinity, includeSubDomains: false }
        : {
          host: entry.host,
          // Left out (or `undefined`), the defaults; `null` is no value of either.
          expires: entry.expires === undefined ? Infinity : entry.expires,
          includeSubDomains: entry.includeSubDomains === undefined
            ? false
            : entry.includeSubDomains,
        },
      what,
    );
    map.set(policy.host, { expires: policy.expires, includeSubDomains: policy.includeSubDomains });
  }
  return map;
}

/** Whether one of the policies of (host, parent, grandparent...) makes `host` known. */
export function matches(policies: (StoredPolicy | undefined)[], now: number): boolean {
  return policies.some((policy, index) =>
    policy !== undefined && policy.expires > now && (index === 0 || policy.includeSubDomains)
  );
}

/** The shared logic of both stores over a few primitive operations. */
export abstract class StoreCore {
  readonly #clock: Clock;
  readonly #preload: Map<string, StoredPolicy>;

  constructor(clock: Clock, preload: Map<string, StoredPolicy>) {
    this.#clock = clock;
    this.#preload = preload;
  }

  protected abstract readMany(hosts: string[]): Promise<(StoredPolicy | undefined)[]>;
  /** Stores the host's policy; resolves with whether it was stored (a KV key may be too long). */
  protected abstract write(host: string, policy: StoredPolicy, now: number): Promise<boolean>;
  /** Deletes the host's stored policy; resolves with it, or `undefined` when there was none. */
  protected abstract delete(host: string): Promise<StoredPolicy | undefined>;
  /**
   * Deletes the expired `policy` that `readMany` gave for `host`, unless the host's policy
   * changed since (another store on the same database learned a new one): left in place then.
   */
  protected abstract deleteExpired(host: string, policy: StoredPolicy): Promise<void>;
  protected abstract entries(): Promise<[string, StoredPolicy][]>;
  protected abstract deleteAll(): Promise<void>;

  /** Reads policies, dropping (and deleting) the expired ones. */
  async #live(hosts: string[]): Promise<(StoredPolicy | undefined)[]> {
    const now = this.#clock();
    const stored = await this.readMany(hosts);
    return Promise.all(stored.map(async (policy, index) => {
      if (policy !== undefined && policy.expires <= now) {
        await this.deleteExpired(hosts[index]!, policy);
        return undefined;
      }
      return policy;
    }));
  }

  async get(host: string): Promise<HstsPolicy | undefined> {
    const key = hostArgument(host, "get HSTS policy");
    const [stored] = await this.#live([key]);
    const policy = stored ?? this.#preload.get(key);
    if (policy === undefined || policy.expires <= this.#clock()) return undefined;
    return { host: key, expires: policy.expires, includeSubDomains: policy.includeSubDomains };
  }

  async isKnownHost(host: string): Promise<boolean> {
    const key = hostArgument(host, "check HSTS host");
    if (key === "" || isIpLiteral(key)) return false;
    const candidates = selfAndParents(key);
    const now = this.#clock();
    if (matches(candidates.map((c) => this.#preload.get(c)), now)) return true;
    return matches(await this.#live(candidates), now);
  }

  async learn(host: string, headerValue: string): Promise<boolean> {
    const what = "learn HSTS policy";
    const key = hostArgument(host, what);
    if (typeof headerValue !== "string") {
      throw new TypeError(
        `Cannot ${what}: 'headerValue' must be a string, got ${describe(headerValue)}`,
      );
    }
    if (isIpLiteral(key)) return false;
    if (!isHostName(key)) throw badHost(what, host);
    const directives = parseStsHeaderValue(headerValue);
    if (directives === null) return false;
    const now = this.#clock();
    if (directives.maxAge === 0) {
      await this.delete(key);
      // A preloaded policy of the host itself stays: the header could not remove it.
      const preloaded = this.#preload.get(key);
      return preloaded === undefined || preloaded.expires <= now;
    }
    return await this.write(key, {
      expires: now + directives.maxAge * 1000,
      includeSubDomains: directives.includeSubDomains,
    }, now);
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

  async remove(host: string): Promise<boolean> {
    const removed = await this.delete(hostArgument(host, "remove HSTS policy"));
    // An expired policy not swept yet was no policy: deleted, but not reported as removed.
    return removed !== undefined && removed.expires > this.#clock();
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
 * The methods of {@linkcode HstsStore} both stores share, each handed to the store's
 * {@linkcode StoreCore}.
 *
 * @ignore
 */
export abstract class HstsStoreMethods implements HstsStore {
  readonly #core: StoreCore;

  constructor(core: StoreCore) {
    this.#core = core;
  }

  /**
   * Returns the live policy stored or preloaded for exactly this host.
   *
   * @param host A host name.
   * @returns The policy, or `undefined`.
   * @throws {TypeError} When `host` is not a string.
   */
  get(host: string): Promise<HstsPolicy | undefined> {
    return this.#core.get(host);
  }

  /**
   * Tells whether requests to a host must use https.
   *
   * @param host A host name.
   * @returns Whether a live policy covers the host.
   * @throws {TypeError} When `host` is not a string.
   */
  isKnownHost(host: string): Promise<boolean> {
    return this.#core.isKnownHost(host);
  }

  /**
   * Processes a `Strict-Transport-Security` header received over https.
   *
   * @param host The host that sent it.
   * @param headerValue The header's value.
   * @returns Whether the header was valid and the store now holds what it asked for (see
   *   {@linkcode HstsStore.learn}).
   * @throws {TypeError} When `host` is not a string or not a host name, or `headerValue` is not
   *   a string.
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
   * @throws {RangeError} When `expires` is `NaN`.
   */
  set(policy: HstsPolicy): Promise<void> {
    return this.#core.set(policy);
  }

  /**
   * Removes a host's stored policy.
   *
   * @param host A host name.
   * @returns Whether a live policy was removed (an expired one is deleted, and not counted).
   * @throws {TypeError} When `host` is not a string.
   */
  remove(host: string): Promise<boolean> {
    return this.#core.remove(host);
  }

  /**
   * Removes every stored policy (a KV store: every entry under its prefix).
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
