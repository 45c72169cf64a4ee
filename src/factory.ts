/**
 * {@linkcode NetworkAccessManagerFactory}: how a host gets managers with the configuration the
 * application chose, and {@linkcode KvNetworkAccessManagerFactory}, which shares one set of
 * Deno KV stores among all the managers it makes.
 *
 * @module
 */

import { _checkKv, _NESTED_PREFIXES, _openKvDatabase, _prefixNesting, checkPrefix } from "./_kv.ts";
import { _checkMaxSize, _checkMode } from "./cache/_entry.ts";
import { checkKeys, checkObject, checkPartition, describe } from "./_validation.ts";
import { checkClock } from "./_clock.ts";
import { KvCache } from "./cache/kv_cache.ts";
import type { CacheMode } from "./cache/network_cache.ts";
import type { Clock } from "./clock.ts";
import type { CookieJar } from "./cookies/cookie_jar.ts";
import { KvCookieJar } from "./cookies/kv_cookie_jar.ts";
import { MemoryCookieJar } from "./cookies/memory_cookie_jar.ts";
import { KvHstsStore } from "./hsts/kv_hsts_store.ts";
import { NetworkAccessManager, type NetworkAccessManagerOptions } from "./manager.ts";
import { _CLIENT_KEEPER, _ClientKeeper } from "./_proxy_client.ts";
import { checkManagerOptions } from "./manager/_options.ts";

/**
 * Makes managers (Qt's `QQmlNetworkAccessManagerFactory`). A host that needs managers — a
 * worker pool, a server that makes one per request, a plugin system — takes a factory instead
 * of building managers itself, so every manager gets the configuration the application chose:
 * cache, cookie jar, HSTS store, proxy factory, policies, layers.
 *
 * `create()` returns a new manager on every call and may be called concurrently: an
 * implementation keeps no shared mutable state without protection (the stores it shares must
 * be safe for concurrent use, as the KV stores are).
 *
 * @example A factory of your own
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   MemoryCache,
 *   NetworkAccessManager,
 *   type NetworkAccessManagerFactory,
 * } from "@netaccess/core";
 *
 * const cache = new MemoryCache();
 * const factory: NetworkAccessManagerFactory = {
 *   create: () => new NetworkAccessManager({ cache, redirectPolicy: "same-origin", retry: 2 }),
 * };
 * await using manager = factory.create();
 * assert.equal(manager.cache === cache, true);
 * ```
 */
export interface NetworkAccessManagerFactory {
  /**
   * Makes a new manager.
   *
   * @param options Per-manager choices, such as the cookie partition of the user it serves.
   * @returns A manager no one else holds; the caller closes it.
   */
  create(options?: CreateManagerOptions): NetworkAccessManager;
}

/**
 * What one manager made by a factory gets of its own.
 *
 * @example A manager whose cookies are one end user's
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CreateManagerOptions, KvNetworkAccessManagerFactory } from "@netaccess/core";
 *
 * await using factory = await KvNetworkAccessManagerFactory.open({ path: ":memory:" });
 * const options: CreateManagerOptions = { partition: "user:42" };
 * await using manager = factory.create(options);
 * assert.equal((manager.cookieJar as { partitionKey?: string }).partitionKey, "user:42");
 * ```
 */
export interface CreateManagerOptions {
  /**
   * The cookie partition of the manager: the key of the end user (or tenant) it acts for.
   * Managers created with the same partition share cookies (in every process on the
   * database); no cookie crosses between partitions. Without it, a manager gets a cookie jar
   * of its own, in memory, unless the factory was asked to share one jar (`cookieJar: {
   * shared: true }`). A factory opened with `cookieJar: false` refuses it: its managers keep
   * no cookies.
   *
   * @default {undefined}
   */
  partition?: string | undefined;
}

/**
 * Options of the KV cache a {@linkcode KvNetworkAccessManagerFactory} opens.
 *
 * @example A smaller cache under a prefix of its own
 * ```ts
 * import assert from "node:assert/strict";
 * import { type KvFactoryCacheOptions, KvNetworkAccessManagerFactory } from "@netaccess/core";
 *
 * const cache: KvFactoryCacheOptions = { prefix: ["my-app", "http-cache"], maxSize: 10_485_760 };
 * await using factory = await KvNetworkAccessManagerFactory.open({ path: ":memory:", cache });
 * await using manager = factory.create();
 * assert.equal(manager.cache === factory.cache, true);
 * assert.equal(factory.cache?.maxSize, 10485760);
 * assert.equal(factory.cache?.mode, "shared");
 * ```
 */
export interface KvFactoryCacheOptions {
  /**
   * The key prefix of the cache.
   * @default {["netaccess", "cache"]}
   */
  prefix?: Deno.KvKey | undefined;
  /**
   * The size in bytes the cache stays under.
   * @default {52428800}
   */
  maxSize?: number | undefined;
  /**
   * Whether the cache serves several users (`"shared"`: the managers of a server acting for
   * many) or one (`"private"`); see {@linkcode CacheMode}.
   * @default {"shared"}
   */
  mode?: CacheMode | undefined;
}

/**
 * Options of a KV store (cookie jar, HSTS) a {@linkcode KvNetworkAccessManagerFactory} opens.
 *
 * @example Cookie and HSTS stores under the application's prefix
 * ```ts
 * import assert from "node:assert/strict";
 * import { type KvFactoryStoreOptions, KvNetworkAccessManagerFactory } from "@netaccess/core";
 *
 * const cookieJar: KvFactoryStoreOptions = { prefix: ["my-app", "cookies"] };
 * const hsts: KvFactoryStoreOptions = { prefix: ["my-app", "hsts"] };
 * const path = ":memory:";
 * await using factory = await KvNetworkAccessManagerFactory.open({ path, cookieJar, hsts });
 * await using manager = factory.create();
 * assert.notEqual(manager.cookieJar, null);
 * assert.equal(manager.hstsStore !== null, true);
 * ```
 */
export interface KvFactoryStoreOptions {
  /**
   * The key prefix of the store.
   * @default {the store's own (["netaccess", "cookies"], ["netaccess", "hsts"])}
   */
  prefix?: Deno.KvKey | undefined;
}

/**
 * Options of the KV cookie jar a {@linkcode KvNetworkAccessManagerFactory} opens.
 *
 * @example One cookie jar for every manager (a single-user application)
 * ```ts
 * import assert from "node:assert/strict";
 * import { type KvFactoryCookieJarOptions, KvNetworkAccessManagerFactory } from "@netaccess/core";
 *
 * const cookieJar: KvFactoryCookieJarOptions = { prefix: ["my-app", "cookies"], shared: true };
 * await using factory = await KvNetworkAccessManagerFactory.open({ path: ":memory:", cookieJar });
 * await using a = factory.create();
 * await using b = factory.create();
 * assert.equal(a.cookieJar, factory.cookieJar);
 * assert.equal(b.cookieJar, factory.cookieJar);
 * ```
 */
export interface KvFactoryCookieJarOptions extends KvFactoryStoreOptions {
  /**
   * Whether every manager created without a `partition` uses the one shared jar
   * ({@linkcode KvNetworkAccessManagerFactory.cookieJar}): right for an application that acts
   * for one user, wrong for a server acting for many (one user's cookies would go out with
   * another's requests). When `false`, such a manager gets a jar of its own, in memory.
   *
   * @default {false}
   */
  shared?: boolean | undefined;
}

/**
 * The configuration of a {@linkcode KvNetworkAccessManagerFactory}. Apart from `kv`, `clock`
 * and the function-valued manager options (layers, proxy factory, transport), it is plain
 * data, so it can be sent to a worker with `postMessage` and each worker builds its own factory
 * on the same KV file.
 *
 * @example The stores, HSTS and the managers' settings in one object
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   KvNetworkAccessManagerFactory,
 *   type KvNetworkAccessManagerFactoryOptions,
 * } from "@netaccess/core";
 *
 * const options: KvNetworkAccessManagerFactoryOptions = {
 *   path: ":memory:",
 *   hsts: true,
 *   manager: { redirectPolicy: "same-origin", maxConnectionsPerHost: 4 },
 * };
 * await using factory = await KvNetworkAccessManagerFactory.open(options);
 * await using manager = factory.create();
 * assert.equal(manager.redirectPolicy, "same-origin");
 * assert.equal(manager.hstsStore !== null, true);
 * ```
 */
export interface KvNetworkAccessManagerFactoryOptions {
  /**
   * The SQLite file of the stores; opened once by the factory and closed with it. With neither
   * `path` nor `kv`, Deno's default database is opened (`Deno.openKv()`: the hosted KV on Deno
   * Deploy).
   * @default {undefined}
   */
  path?: string | undefined;
  /**
   * A database the application opened: the stores use it and the factory never closes it.
   * @default {undefined}
   */
  kv?: Deno.Kv | undefined;
  /**
   * The HTTP cache ({@linkcode KvCache}): `true`, its options, or `false` for none.
   * @default {true}
   */
  cache?: boolean | KvFactoryCacheOptions | undefined;
  /**
   * The cookie jar ({@linkcode KvCookieJar}): `true`, its options, or `false` for none (the
   * managers then handle no cookies). Managers share it only when asked: one created with a
   * `partition` uses that partition of the jar; one created without uses a jar of its own in
   * memory, or the shared jar with `{ shared: true }`.
   * @default {true}
   */
  cookieJar?: boolean | KvFactoryCookieJarOptions | undefined;
  /**
   * The HSTS store ({@linkcode KvHstsStore}): `true`, its options, or `false` for HSTS off.
   * @default {false}
   */
  hsts?: boolean | KvFactoryStoreOptions | undefined;
  /**
   * The clock of the stores and of every manager.
   * @default {Date.now}
   */
  clock?: Clock | undefined;
  /**
   * The options of every manager made (policies, limits, retry, proxy, layers...); the
   * stores come from the factory.
   * @default {{}}
   */
  manager?:
    | Omit<NetworkAccessManagerOptions, "cache" | "cookieJar" | "hstsStore" | "clock">
    | undefined;
}

const WHAT = "Cannot create manager factory";
const CLOSED = "Cannot create manager: the factory is closed";

/** The names of the factory's options (the type says every one is here). */
const OPTIONS = Object.keys(
  {
    path: 1,
    kv: 1,
    cache: 1,
    cookieJar: 1,
    hsts: 1,
    clock: 1,
    manager: 1,
  } satisfies Record<keyof KvNetworkAccessManagerFactoryOptions, 1>,
);

/** The names of the options of each store (the types say every one is here). */
const STORE_OPTIONS: Record<string, readonly string[]> = {
  cache: Object.keys(
    { prefix: 1, maxSize: 1, mode: 1 } satisfies Record<keyof KvFactoryCacheOptions, 1>,
  ),
  cookieJar: Object.keys(
    { prefix: 1, shared: 1 } satisfies Record<keyof KvFactoryCookieJarOptions, 1>,
  ),
  hsts: Object.keys({ prefix: 1 } satisfies Record<keyof KvFactoryStoreOptions, 1>),
};

function checkStore(field: string, value: unknown): void {
  if (value === undefined || typeof value === "boolean") return;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(
      `${WHAT}: '${field}' must be a boolean or an object, got ${describe(value)}`,
    );
  }
  checkKeys(WHAT, value, STORE_OPTIONS[field]!, field);
  // Checked now, as the store's own open() would once the stores open.
  const store = value as KvFactoryCacheOptions;
  checkPrefix(`${WHAT} ('${field}')`, store.prefix, []);
  if (field === "cache") {
    _checkMaxSize(store.maxSize, `create manager factory ('cache')`);
    _checkMode(store.mode, `create manager factory ('cache')`, "shared");
  }
}

/** The prefix of each store given none: the stores' own defaults. */
const DEFAULT_PREFIXES: Record<string, Deno.KvKey> = {
  cache: ["netaccess", "cache"],
  cookieJar: ["netaccess", "cookies"],
  hsts: ["netaccess", "hsts"],
};

/**
 * Refuses stores whose prefixes nest (one is another, or starts with it): the keys of one
 * store would lie under the other's prefix, so the outer store's `clear()` would remove the
 * inner one's entries (clearing the cache would log every user out).
 */
function checkPrefixesApart(options: KvNetworkAccessManagerFactoryOptions): void {
  const stores = { cache: options.cache ?? true, cookieJar: options.cookieJar ?? true };
  const prefixes = Object.entries({ ...stores, hsts: options.hsts ?? false })
    .filter(([, store]) => store !== false)
    .map(([field, store]) => ({
      field,
      prefix: (typeof store === "object" ? store.prefix : undefined) ?? DEFAULT_PREFIXES[field]!,
    }));
  for (const outer of prefixes) {
    for (const inner of prefixes) {
      const nesting = outer === inner ? undefined : _prefixNesting(inner.prefix, outer.prefix);
      if (nesting === undefined) continue;
      throw new RangeError(
        `${WHAT}: the '${inner.field}' prefix ${
          Deno.inspect(inner.prefix)
        } ${nesting} the '${outer.field}' prefix ${
          Deno.inspect(outer.prefix)
        }, ${_NESTED_PREFIXES}`,
      );
    }
  }
}

function storeOptions<T extends object>(value: boolean | T | undefined, on: boolean): T | null {
  if (value === undefined) return on ? {} as T : null;
  if (value === false) return null;
  return value === true ? {} as T : value;
}

interface Stores {
  kv: Deno.Kv;
  owned: boolean;
  cache: KvCache | null;
  cookieJar: KvCookieJar | null;
  hstsStore: KvHstsStore | null;
}

/**
 * A {@linkcode NetworkAccessManagerFactory} whose managers share one HTTP cache, one cookie jar
 * and (optionally) one HSTS store in Deno KV. The stores are opened once, lazily, on one
 * database connection, and shared by every manager the factory makes; managers do not close
 * them (closing a manager releases its own connections only). Closing the factory closes the
 * managers still open, then the stores. It also holds the HTTP clients its managers need for
 * `caCerts`, a client certificate or a proxy (up to 16) until it closes, so that a manager per
 * request reuses the connections of the one before.
 *
 * Opening a KV database is asynchronous and `create()` is not, so a factory has two ways in:
 * {@linkcode KvNetworkAccessManagerFactory.open} opens the stores and resolves with a factory
 * whose `create()` works at once; a factory made with `new` opens them on the first
 * {@linkcode KvNetworkAccessManagerFactory.ready} or
 * {@linkcode KvNetworkAccessManagerFactory.createAsync}, once however many calls race, and its
 * `create()` throws until then.
 *
 * Several processes or workers, each with its own factory on the same KV file (or every
 * instance of a Deno Deploy app, on the hosted KV), share cookies and cached responses.
 *
 * @example One factory per process; a manager per request
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvNetworkAccessManagerFactory } from "@netaccess/core";
 *
 * const path = await Deno.makeTempFile({ suffix: ".sqlite3" });
 * {
 *   await using factory = await KvNetworkAccessManagerFactory.open({
 *     path,
 *     manager: { maxRedirects: 5, retry: { limit: 2 } },
 *   });
 *   await using manager = factory.create();
 *   assert.equal(manager.cache === factory.cache, true);
 * }
 * await Deno.remove(path);
 * ```
 */
export class KvNetworkAccessManagerFactory implements NetworkAccessManagerFactory, AsyncDisposable {
  readonly #options: KvNetworkAccessManagerFactoryOptions;
  readonly #managerOptions: NetworkAccessManagerOptions;
  #opening: Promise<Stores> | undefined;
  #stores: Stores | undefined;
  /** Why the last opening failed, until one succeeds or another begins. */
  #openFailure: { error: unknown } | undefined;
  /**
   * The managers not closed yet, held weakly: one its caller let go of without closing it (a
   * handler that forgot to) is collected as a manager made with `new` is, rather than kept for
   * the life of the factory. A manager with a request running is held by that request.
   */
  readonly #managers = new Set<WeakRef<NetworkAccessManager>>();
  readonly #collected = new FinalizationRegistry<WeakRef<NetworkAccessManager>>((ref) =>
    this.#managers.delete(ref)
  );
  readonly #sharedJar: boolean;
  /** The HTTP clients the managers made (CA certificates, proxies), held until the factory closes. */
  readonly #clients = new _ClientKeeper();
  #closing: Promise<void> | undefined;

  /**
   * Makes a factory; the stores open on the first `ready` or `createAsync()`.
   *
   * @param options The database, which stores, the clock and the managers' options.
   * @throws {TypeError} When both `path` and `kv` are given, `kv` is not a `Deno.Kv`, or an
   * option has the wrong type.
   * @throws {RangeError} When a manager option is out of range, a store's `prefix` is longer
   * than 512 bytes, or two stores' prefixes nest (one starts with the other).
   */
  constructor(options: KvNetworkAccessManagerFactoryOptions = {}) {
    checkObject(WHAT, "options", options);
    checkKeys(WHAT, options, OPTIONS);
    if (options.path !== undefined && options.kv !== undefined) {
      throw new TypeError(`${WHAT}: give either 'kv' or 'path', not both`);
    }
    if (options.path !== undefined && typeof options.path !== "string") {
      throw new TypeError(`${WHAT}: 'path' must be a string, got ${describe(options.path)}`);
    }
    if (options.kv !== undefined) _checkKv(WHAT, options.kv);
    checkStore("cache", options.cache);
    checkStore("cookieJar", options.cookieJar);
    const shared = typeof options.cookieJar === "object" ? options.cookieJar.shared : undefined;
    if (shared !== undefined && typeof shared !== "boolean") {
      throw new TypeError(`${WHAT}: 'cookieJar.shared' must be a boolean, got ${describe(shared)}`);
    }
    this.#sharedJar = shared === true;
    checkStore("hsts", options.hsts);
    checkPrefixesApart(options);
    checkObject(WHAT, "manager", options.manager);
    checkClock(WHAT, options.clock);
    const manager = { ...options.manager };
    for (const field of ["cache", "cookieJar", "hstsStore", "clock"]) {
      if (field in manager) {
        throw new TypeError(
          `${WHAT}: 'manager.${field}' is set by the factory; use the factory's own option`,
        );
      }
    }
    if (Array.isArray(manager.layers)) manager.layers = [...manager.layers];
    // Fail now, not on the first create(), when a manager option is invalid: the checks of the
    // manager's constructor, naming the option as the factory's (`manager.<name>`).
    const checked = checkManagerOptions(WHAT, manager, "manager");
    this.#managerOptions = { ...manager, clock: options.clock };
    // The checked copies: a later change to the objects given reaches no manager.
    if (checked.retry !== undefined) this.#managerOptions.retry = checked.retry;
    if (checked.caCerts !== undefined) this.#managerOptions.caCerts = [...checked.caCerts];
    this.#options = { ...options };
  }

  /**
   * Opens the stores and returns a factory whose `create()` works at once.
   *
   * @param options As for the constructor.
   * @returns The factory, its stores open.
   * @throws {TypeError} As the constructor, and when the database cannot be opened.
   * @throws {RangeError} As the constructor.
   */
  static async open(
    options: KvNetworkAccessManagerFactoryOptions = {},
  ): Promise<KvNetworkAccessManagerFactory> {
    const factory = new KvNetworkAccessManagerFactory(options);
    await factory.ready;
    return factory;
  }

  /**
   * Resolves once the stores are open; the first access opens them, later ones (concurrent or
   * not) wait for the same opening. When opening fails, it rejects, and the next access tries
   * again.
   *
   * @returns A promise of the open factory.
   */
  get ready(): Promise<this> {
    if (this.#closing) {
      return Promise.reject(new TypeError("Cannot open manager factory: it is closed"));
    }
    if (this.#opening === undefined) {
      this.#openFailure = undefined;
      this.#opening = this.#open().then(
        (stores) => (this.#stores = stores),
        (error) => {
          this.#opening = undefined;
          this.#openFailure = { error };
          throw error;
        },
      );
    }
    return this.#opening.then(() => this);
  }

  async #open(): Promise<Stores> {
    const options = this.#options;
    const owned = options.kv === undefined;
    const kv = options.kv ?? await _openKvDatabase(options.path, "manager factory");
    const clock = options.clock;
    try {
      const cacheOptions = storeOptions(options.cache, true);
      const jarOptions = storeOptions<KvFactoryCookieJarOptions>(options.cookieJar, true);
      const hstsOptions = storeOptions(options.hsts, false);
      const [cache, cookieJar, hstsStore] = await Promise.allSettled([
        cacheOptions && KvCache.open({ ...cacheOptions, kv, clock }),
        jarOptions && KvCookieJar.open({ prefix: jarOptions.prefix, kv, clock }),
        hstsOptions && KvHstsStore.open({ ...hstsOptions, kv, clock }),
      ]);
      if (
        cache.status === "rejected" || cookieJar.status === "rejected" ||
        hstsStore.status === "rejected"
      ) {
        // The stores that did open are closed (they may watch the file) before the error goes.
        const opened = [cache, cookieJar, hstsStore].map((result) =>
          result.status === "fulfilled" ? result.value?.close() : undefined
        );
        await Promise.all(opened);
        throw [cache, cookieJar, hstsStore].find((result) => result.status === "rejected")!.reason;
      }
      return {
        kv,
        owned,
        cache: cache.value,
        cookieJar: cookieJar.value,
        hstsStore: hstsStore.value,
      };
    } catch (error) {
      if (owned) kv.close();
      throw error;
    }
  }

  /** The shared HTTP cache, or `null` before the stores are open or when there is none. */
  get cache(): KvCache | null {
    return this.#stores?.cache ?? null;
  }

  /**
   * The factory's cookie jar (unpartitioned; managers use it only with `cookieJar: { shared:
   * true }`), or `null` before the stores are open or when there is none. Its `clear()` removes
   * every partition's cookies too.
   */
  get cookieJar(): KvCookieJar | null {
    return this.#stores?.cookieJar ?? null;
  }

  /** The shared HSTS store, or `null` before the stores are open or when HSTS is off. */
  get hstsStore(): KvHstsStore | null {
    return this.#stores?.hstsStore ?? null;
  }

  /**
   * Makes a new manager on the shared stores, with the factory's manager options. The caller
   * closes it; closing it leaves the stores open. Its cookie jar is the `partition` of the
   * factory's jar when one is given, else a jar of its own in memory (or the factory's jar
   * when it was opened with `cookieJar: { shared: true }`).
   *
   * @param options The manager's cookie partition.
   * @returns A new manager.
   * @throws {TypeError} When the stores are not open yet (`await factory.ready` first, or make
   * the factory with `open()`) or could not be opened (the error of the opening as its
   * `cause`), the factory is closed, or `partition` is not a non-empty string or is given to a
   * factory opened with `cookieJar: false`.
   * @throws {RangeError} When `partition` is longer than 512 bytes.
   */
  create(options: CreateManagerOptions = {}): NetworkAccessManager {
    if (this.#closing) throw new TypeError(CLOSED);
    checkObject("Cannot create manager", "options", options);
    const stores = this.#stores;
    if (stores === undefined && this.#openFailure !== undefined) {
      const { error } = this.#openFailure;
      throw new TypeError(
        "Cannot create manager: the factory's stores could not be opened: " +
          ((error as Error)?.message ?? String(error)),
        { cause: error },
      );
    }
    if (stores === undefined) {
      throw new TypeError(
        "Cannot create manager: the factory's stores are not open yet; await factory.ready " +
          "or createAsync(), or make the factory with KvNetworkAccessManagerFactory.open()",
      );
    }
    checkKeys("Cannot create manager", options, ["partition"]);
    checkPartition("Cannot create manager", options.partition);
    if (options.partition !== undefined && stores.cookieJar === null) {
      // A manager without a jar would keep no cookie at all: not the partition asked for.
      throw new TypeError(
        "Cannot create manager: 'partition' needs the factory's cookie jar, and this factory " +
          "was opened with cookieJar: false (its managers keep no cookies)",
      );
    }
    let cookieJar: CookieJar | null = stores.cookieJar;
    if (cookieJar !== null) {
      if (options.partition !== undefined) {
        cookieJar = stores.cookieJar!.partition(options.partition);
      } else if (!this.#sharedJar) cookieJar = new MemoryCookieJar({ clock: this.#options.clock });
    }
    const manager = new _FactoryManager({
      ...this.#managerOptions,
      layers: this.#managerOptions.layers && [...this.#managerOptions.layers],
      cache: stores.cache,
      cookieJar,
      hstsStore: stores.hstsStore,
      [_CLIENT_KEEPER]: this.#clients,
    } as NetworkAccessManagerOptions, () => {
      // Called only once the manager exists, so `ref` is set.
      this.#managers.delete(ref);
      this.#collected.unregister(ref);
    });
    const ref = new WeakRef<NetworkAccessManager>(manager);
    this.#managers.add(ref);
    this.#collected.register(manager, ref, ref);
    return manager;
  }

  /**
   * Opens the stores when needed, then makes a manager as {@linkcode KvNetworkAccessManagerFactory.create}.
   *
   * @param options The manager's cookie partition.
   * @returns A new manager.
   * @throws {TypeError} When the factory is closed or the database cannot be opened.
   */
  async createAsync(options?: CreateManagerOptions): Promise<NetworkAccessManager> {
    if (this.#closing) throw new TypeError(CLOSED);
    await this.ready;
    return this.create(options);
  }

  /**
   * How many managers made by this factory are not closed yet (one let go of without being
   * closed counts until it is collected).
   */
  get openManagers(): number {
    return this.#managers.size;
  }

  /**
   * Closes the managers still open (their replies end with `OperationCanceledError`), then the
   * stores, then the database when the factory opened it. Safe to call twice.
   *
   * @returns Resolves when everything is closed.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Closes the factory, as {@linkcode KvNetworkAccessManagerFactory.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(): Promise<void> {
    const stores = await this.#opening?.catch(() => undefined);
    await Promise.all([...this.#managers].map((ref) => ref.deref()?.close()));
    this.#clients.close();
    if (stores === undefined) return;
    await Promise.all([
      stores.cache?.close(),
      stores.cookieJar?.close(),
      stores.hstsStore?.close(),
    ]);
    if (stores.owned) stores.kv.close();
  }
}

/** A manager that tells its factory when it closes. */
class _FactoryManager extends NetworkAccessManager {
  readonly #onClose: () => void;

  constructor(options: NetworkAccessManagerOptions, onClose: () => void) {
    super(options);
    this.#onClose = onClose;
  }

  override close(): Promise<void> {
    const closing = super.close();
    this.#onClose();
    return closing;
  }
}
