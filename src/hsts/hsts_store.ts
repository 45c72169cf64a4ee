/**
 * The HSTS store contract: {@linkcode HstsStore}, the {@linkcode HstsPolicy} it keeps and the
 * {@linkcode HstsPreload} entries it starts with.
 *
 * @module
 */

/**
 * One HSTS policy: the host it protects, when it expires, and whether it covers subdomains.
 *
 * @example A policy for a year, subdomains included
 * ```ts
 * import assert from "node:assert/strict";
 * import { type HstsPolicy, MemoryHstsStore } from "@netaccess/core";
 *
 * const now = Date.UTC(2030, 0, 1);
 * const store = new MemoryHstsStore({ clock: () => now });
 * await store.learn("Example.COM", "max-age=31536000; includeSubDomains");
 * const policy: HstsPolicy | undefined = await store.get("example.com");
 * assert.deepEqual(policy, {
 *   host: "example.com",
 *   expires: now + 365 * 24 * 3600 * 1000,
 *   includeSubDomains: true,
 * });
 * assert.equal(await store.isKnownHost("api.example.com"), true);
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
 * import assert from "node:assert/strict";
 * import { type HstsPreload, MemoryHstsStore } from "@netaccess/core";
 *
 * const preload: HstsPreload[] = ["login.example.com", { host: "example.org", includeSubDomains: true }];
 * const store = new MemoryHstsStore({ preload });
 * assert.equal(await store.isKnownHost("www.example.org"), true);
 * ```
 */
export type HstsPreload = string | {
  /** The host name (no scheme, port or path; not an IP address). */
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
 * import assert from "node:assert/strict";
 * import { MemoryHstsStore } from "@netaccess/core";
 *
 * const store = new MemoryHstsStore();
 * await store.learn("example.com", "max-age=31536000; includeSubDomains");
 * assert.equal(await store.isKnownHost("www.example.com"), true);
 * ```
 */
export interface HstsStore {
  /**
   * Returns the live policy stored for exactly this host (or preloaded for it), if any.
   *
   * @param host A host name.
   * @returns The policy, or `undefined`.
   * @throws {TypeError} When `host` is not a string.
   */
  get(host: string): Promise<HstsPolicy | undefined>;
  /**
   * Tells whether requests to a host must use https: a live policy for the host itself, or
   * one for a parent domain with `includeSubDomains`. IP addresses are never known hosts.
   *
   * @param host A host name, as in `URL.hostname`.
   * @returns Whether the host is a known HSTS host.
   * @throws {TypeError} When `host` is not a string.
   */
  isKnownHost(host: string): Promise<boolean>;
  /**
   * Processes a `Strict-Transport-Security` header received from a host over https:
   * a valid header stores (or, with `max-age=0`, removes) the host's policy; a malformed
   * header, or an IP address as host, is ignored. Of several header fields combined into one
   * value, only the first counts (RFC 6797 section 8.1).
   *
   * @param host The host that sent the header, as in `URL.hostname` (a trailing dot and
   *   upper case are fine).
   * @param headerValue The header's value.
   * @returns Whether the header was valid and the store now holds what it asked for: the
   *   policy stored, or, with `max-age=0`, none for the host. `false` for a header ignored, for
   *   `max-age=0` on a host preloaded (which stays known), and for a host a store cannot keep (a
   *   `KvHstsStore` keeps none for a host too long for a KV key: 2 KiB with its prefix).
   * @throws {TypeError} When `host` is not a string or not a host name (a port, a scheme, a
   *   space), or `headerValue` is not a string (`null`, an array of values).
   */
  learn(host: string, headerValue: string): Promise<boolean>;
  /**
   * Stores a policy, replacing the host's previous one; an already expired policy removes it.
   *
   * @param policy The policy.
   * @returns A promise that settles when the policy is stored.
   * @throws {TypeError} When the host is not a host name (empty, a port, a scheme, a space) or
   *   is an IP address, `expires` is not a number, or `includeSubDomains` is not a boolean.
   * @throws {RangeError} When `expires` is `NaN`.
   */
  set(policy: HstsPolicy): Promise<void>;
  /**
   * Removes the stored policy of a host (preloaded entries stay).
   *
   * @param host A host name.
   * @returns Whether a live policy was removed: `false` when there was none, or only one that
   *   had expired (deleted too).
   * @throws {TypeError} When `host` is not a string.
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
