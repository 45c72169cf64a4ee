/**
 * {@linkcode MemoryHstsStore}: HSTS policies in memory.
 *
 * @module
 */

import { checkClock } from "../_clock.ts";
import { checkKeys, checkObject } from "../_validation.ts";
import type { Clock } from "../clock.ts";
import type { HstsPreload, HstsStore } from "./hsts_store.ts";
import { HstsStoreMethods, preloadMap, StoreCore, type StoredPolicy } from "./_store_core.ts";

/**
 * Options of {@linkcode MemoryHstsStore}.
 *
 * @example A store on a clock a test controls
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryHstsStore, type MemoryHstsStoreOptions } from "@netaccess/core";
 *
 * let now = Date.UTC(2026, 0, 1);
 * const options: MemoryHstsStoreOptions = { clock: () => now };
 * const store = new MemoryHstsStore(options);
 * await store.learn("example.com", "max-age=60");
 * now += 61_000;
 * assert.equal(await store.isKnownHost("example.com"), false);
 * ```
 */
export interface MemoryHstsStoreOptions {
  /**
   * The clock that decides when policies expire.
   *
   * @default {Date.now}
   */
  clock?: Clock | undefined;
  /**
   * Hosts known before any header is seen: an array (or other iterable, not a string) of
   * host names and `{ host, includeSubDomains?, expires? }` entries.
   *
   * @default {[]}
   */
  preload?: Iterable<HstsPreload> | undefined;
}

/** The names of the options (the type says every one is here). */
const OPTIONS = Object.keys(
  {
    clock: 1,
    preload: 1,
  } satisfies Record<keyof MemoryHstsStoreOptions, 1>,
);

/**
 * An {@linkcode HstsStore} in memory: policies last as long as the object.
 *
 * @example Learning a policy and upgrading later requests
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryHstsStore, NetworkAccessManager } from "@netaccess/core";
 *
 * const store = new MemoryHstsStore({ preload: [{ host: "example.org", includeSubDomains: true }] });
 * await store.learn("example.com", "max-age=600");
 * assert.equal(await store.isKnownHost("example.com"), true);
 * assert.equal(await store.isKnownHost("a.example.org"), true);
 * await using manager = new NetworkAccessManager({
 *   hstsStore: store,
 *   transport: async ({ url }) => new Response(url.href),
 * });
 * assert.equal(await manager.get("http://example.com/a").text(), "https://example.com/a");
 * assert.equal(await manager.get("http://a.example.org/").text(), "https://a.example.org/");
 * ```
 */
export class MemoryHstsStore extends HstsStoreMethods implements HstsStore {
  /**
   * Creates an empty store.
   *
   * @param options The clock and the preloaded hosts.
   * @throws {TypeError} When an option has the wrong type or a preloaded host is invalid.
   * @throws {RangeError} When a preloaded host's `expires` is `NaN`.
   */
  constructor(options: MemoryHstsStoreOptions = {}) {
    const what = "create HSTS store";
    checkObject(`Cannot ${what}`, "options", options);
    checkKeys(`Cannot ${what}`, options, OPTIONS);
    super(
      new MemoryCore(
        checkClock(`Cannot ${what}`, options.clock),
        preloadMap(options.preload, what),
      ),
    );
  }
}

class MemoryCore extends StoreCore {
  readonly #map = new Map<string, StoredPolicy>();

  protected readMany(hosts: string[]): Promise<(StoredPolicy | undefined)[]> {
    return Promise.resolve(hosts.map((host) => this.#map.get(host)));
  }
  protected write(host: string, policy: StoredPolicy): Promise<boolean> {
    this.#map.set(host, policy);
    return Promise.resolve(true);
  }
  protected delete(host: string): Promise<StoredPolicy | undefined> {
    const policy = this.#map.get(host);
    this.#map.delete(host);
    return Promise.resolve(policy);
  }
  protected deleteExpired(host: string, policy: StoredPolicy): Promise<void> {
    if (this.#map.get(host) === policy) this.#map.delete(host);
    return Promise.resolve();
  }
  protected entries(): Promise<[string, StoredPolicy][]> {
    return Promise.resolve([...this.#map]);
  }
  protected deleteAll(): Promise<void> {
    this.#map.clear();
    return Promise.resolve();
  }
}
