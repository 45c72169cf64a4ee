/**
 * The cookie jar in Deno KV, shared by processes and by instances of an edge deployment.
 *
 * @module
 */

import { _claimPrefix, _kvPath, _openKv, checkPrefix } from "../_kv.ts";
import { checkPartition, MAX_PARTITION_BYTES } from "../_validation.ts";
import type { CookieJar, CookieJarOptions, NetworkCookieInit } from "./cookie_jar.ts";
import type { NetworkCookie } from "./network_cookie.ts";
import type { _CookieEngine } from "./_cookie_engine.ts";
import type { _StoreLimits } from "./_cookie_store.ts";
import type { _KvChanges } from "../_kv_changes.ts";
import type { _KvCookieStore } from "./_kv_cookie_store.ts";
import { _JAR_OPTIONS, _resolveLimits } from "./_jar_args.ts";
import { _loadEngines } from "./_load_engines.ts";

/**
 * Options of {@linkcode KvCookieJar.open}.
 *
 * @example A jar on a database the application keeps open
 * ```ts
 * import assert from "node:assert/strict";
 * import { cookieHeader, KvCookieJar, type KvCookieJarOptions } from "@netaccess/core";
 *
 * await using kv = await Deno.openKv(":memory:");
 * const options: KvCookieJarOptions = { kv, prefix: ["app", "cookies"], maxCookies: 1000 };
 * {
 *   await using jar = await KvCookieJar.open(options);
 *   await jar.setCookiesFromUrl(["id=7; Max-Age=86400"], "https://example.com/");
 * }
 * await using again = await KvCookieJar.open(options); // `kv` stayed open
 * assert.equal(cookieHeader(await again.cookiesForUrl("https://example.com/")), "id=7");
 * ```
 */
export interface KvCookieJarOptions extends CookieJarOptions {
  /**
   * A SQLite file (or `":memory:"`) to open; the jar closes it. Give this or `kv`; with
   * neither, Deno's default database is opened.
   *
   * A jar on a file it opened reads KV for a host only when the database was written since it
   * last read that host, in any process: SQLite's shared wal-index beside the file (its
   * `-shm`) tells, for a 48-byte file read, so a repeated lookup (a host without cookies too)
   * reads nothing (so does a jar of a manager factory opened with `path`). That needs read
   * permission on the `-shm` file (a directory grant); without it, and on a `kv` the
   * application opened, every lookup makes one KV read.
   */
  path?: string | undefined;
  /** A database the application opened; shared, never closed by the jar. */
  kv?: Deno.Kv | undefined;
  /**
   * The key prefix of the jar's entries, so several jars (or a cache) share one database.
   * A prefix that starts with, or is the start of, the prefix of another store open on the same
   * `kv` object (or equals that of a store of another kind) is refused: clearing one would remove
   * the other's entries. Stores on other `Deno.Kv` objects or in other processes are not checked.
   *
   * @default {["netaccess", "cookies"]}
   */
  prefix?: Deno.KvKey | undefined;
  /**
   * The partition of the jar: an opaque key (a user id, a tenant) that keeps its cookies apart
   * from every other partition's and from the unpartitioned jar's. Jars opened with the same
   * database, prefix and partition see the same cookies, in every process. The partition is one
   * element of the jar's keys, `[...prefix, "p", partition]`, under which the jar's usual layout
   * lives; the limits (`maxCookies`...) apply per partition.
   *
   * @default {undefined (no partition)}
   */
  partition?: string | undefined;
}

/** The names of the options: a jar's, and the database's (the type says every one is here). */
const OPTIONS = [
  ..._JAR_OPTIONS,
  ...Object.keys(
    { path: 1, kv: 1, prefix: 1, partition: 1 } satisfies Record<
      Exclude<keyof KvCookieJarOptions, keyof CookieJarOptions>,
      1
    >,
  ),
];

const DEFAULT_PREFIX: Deno.KvKey = ["netaccess", "cookies"];
/**
 * The key element that separates partitions from the jar's own entries: a partition's keys are
 * `[...prefix, "p", partition]`, a partition of it `[...prefix, "p", partition, "p", inner]`.
 */
const PARTITIONS = "p";

const ENCODER = new TextEncoder();

/** The keys of a jar's partition, from the outermost down (none for the unpartitioned jar). */
function partitionPath(key: string | readonly string[] | null): readonly string[] {
  return key === null ? [] : typeof key === "string" ? [key] : key;
}

/**
 * A {@linkcode CookieJar} in Deno KV: the rules of {@linkcode MemoryCookieJar}, with
 * cookies that outlive the process and are shared by every process (or Deno Deploy
 * instance) on the database. One value per domain holds that domain's cookies, so a request
 * reads its host's domain and parent domains in one operation, and sees what another process
 * stored before it. Writes are atomic and checked, so
 * concurrent writers lose no cookie, and are retried while SQLite reports `database is
 * locked`; a corrupt entry is skipped and removed. To spare writes, a cookie's last-access
 * time is rewritten only when it is more than a minute old (as Chromium does). A domain too
 * long for a KV key (2 KiB for the prefix, partition, site and domain; about 1000 characters,
 * far past a DNS name's 253) holds no cookies: none are sent to it and its cookies are not
 * stored, and nothing fails; nor is a cookie stored that is larger than one KV value (64 KiB, a
 * cookie without `Path` taking a long URL's path).
 *
 * @example A jar in a SQLite file, closed by `await using`
 * ```ts
 * import assert from "node:assert/strict";
 * import { cookieHeader, KvCookieJar } from "@netaccess/core";
 *
 * const path = await Deno.makeTempFile({ suffix: ".sqlite3" });
 * {
 *   await using jar = await KvCookieJar.open({ path });
 *   await jar.setCookiesFromUrl(["id=7; Max-Age=86400"], "https://example.com/");
 * }
 * {
 *   await using again = await KvCookieJar.open({ path });
 *   assert.equal(cookieHeader(await again.cookiesForUrl("https://example.com/")), "id=7");
 * }
 * await Deno.remove(path);
 * ```
 */
export class KvCookieJar implements CookieJar, AsyncDisposable {
  readonly #kv: Deno.Kv;
  readonly #owned: boolean;
  readonly #engine: _CookieEngine;
  /** The jar's prefix, under which the partitions' keys lie. */
  readonly #root: Deno.KvKey;
  readonly #limits: _StoreLimits;
  readonly #engines: Awaited<ReturnType<typeof _loadEngines>>;
  /** The database's change detector, shared with the partitions' jars; closed with the jar. */
  readonly #changes: { detector: _KvChanges | null };
  readonly #store: _KvCookieStore;
  /** Whether this jar (not a partition's) closes the change detector. */
  #ownsChanges = false;
  /**
   * Forgets the jar's prefix among those open on its database (see `_claimPrefix`): the
   * opened jar's, not a partition's.
   */
  #release: (() => void) | null = null;
  #closed = false;
  /** The jar this one is a partition of (see `partition()`): it closes with it. */
  #parent: KvCookieJar | null = null;
  /**
   * The partition this jar holds, or `null` for the unpartitioned jar: the key it was opened
   * with (see {@linkcode KvCookieJarOptions.partition}) or made with by `jar.partition(key)` on
   * an unpartitioned jar; for a partition of a partition, the keys from the outermost down
   * (`tenant.partition("user:1")` of a jar opened with `partition: "tenant:A"` holds
   * `["tenant:A", "user:1"]`). Two jars on one database and prefix share cookies exactly when
   * their keys are equal (a string is never equal to an array).
   */
  readonly partitionKey: string | readonly string[] | null;

  private constructor(
    kv: Deno.Kv,
    owned: boolean,
    prefix: Deno.KvKey,
    partition: string | readonly string[] | null,
    limits: _StoreLimits,
    engines: Awaited<ReturnType<typeof _loadEngines>>,
    changes: { detector: _KvChanges | null },
  ) {
    this.#kv = kv;
    this.#owned = owned;
    this.#root = prefix;
    // The keys of this jar's own layout: a partition's lie under its parent's.
    const keys = partitionPath(partition).reduce<Deno.KvKey>(
      (keys, key) => [...keys, PARTITIONS, key],
      prefix,
    );
    this.#limits = limits;
    this.partitionKey = typeof partition === "string" || partition === null
      ? partition
      : Object.freeze([...partition]);
    this.#engines = engines;
    this.#changes = changes;
    const { engine, store } = engines._kvEngine(kv, keys, limits, changes.detector);
    this.#engine = engine;
    this.#store = store;
  }

  /**
   * Opens a jar on a database.
   *
   * @param options The database (`path` or `kv`), key prefix, clock and limits.
   * @returns The jar.
   * @throws {TypeError} When both `path` and `kv` are given, or an option has the wrong type.
   * @throws {RangeError} When a limit is a number that is not a positive integer, `prefix` or
   * `partition` is longer than 512 bytes, or `prefix` nests with the prefix of another store
   * open on `kv`.
   */
  static async open(options: KvCookieJarOptions = {}): Promise<KvCookieJar> {
    const what = "open cookie jar";
    const limits = _resolveLimits(options, what, OPTIONS);
    const prefix = checkPrefix(`Cannot ${what}`, options.prefix, DEFAULT_PREFIX);
    checkPartition(`Cannot ${what}`, options.partition);
    const { kv, owned } = await _openKv(options, "cookie jar");
    const release = _claimPrefix(kv, "cookie jar", prefix);
    let engines;
    try {
      engines = await _loadEngines();
    } catch (error) {
      release();
      if (owned) kv.close();
      throw error;
    }
    const changes = { detector: null as _KvChanges | null };
    const jar = new KvCookieJar(
      kv,
      owned,
      prefix,
      options.partition ?? null,
      limits,
      engines,
      changes,
    );
    jar.#release = release;
    try {
      await jar.#engine.open();
    } catch (error) {
      await jar.close();
      throw error;
    }
    // A database opened from a file, by the jar or by this library for it (a manager
    // factory's), read once by now: its writes can be seen without a KV read. The detector
    // is the jar's, closed with it, before the database closes.
    const path = owned ? options.path : _kvPath(kv);
    if (typeof path === "string") {
      changes.detector = engines._kvChanges(path);
      jar.#store.changes = changes.detector;
    }
    jar.#ownsChanges = true;
    return jar;
  }

  /**
   * A jar for one partition of this jar's cookies (one user's, one tenant's), on the same
   * database and prefix, with the same limits and clock. It shares the database, so it needs no
   * closing of its own; once this jar is closed, it is closed too (its methods throw). A
   * partition of a partitioned jar lies within that partition: `tenantA.partition("user:1")`
   * and `tenantB.partition("user:1")` share no cookie, nor does either with the unpartitioned
   * jar's `partition("user:1")` (see {@linkcode KvCookieJar.partitionKey}). A jar's `clear()`
   * removes its partitions' cookies too.
   *
   * @example One jar per end user
   * ```ts
   * import assert from "node:assert/strict";
   * import { cookieHeader, KvCookieJar } from "@netaccess/core";
   *
   * await using jar = await KvCookieJar.open({ path: ":memory:" });
   * const alice = jar.partition("user:alice");
   * const bob = jar.partition("user:bob");
   * await alice.setCookiesFromUrl(["session=a1; Max-Age=3600"], "https://example.com/");
   * assert.equal(cookieHeader(await alice.cookiesForUrl("https://example.com/")), "session=a1");
   * assert.deepEqual(await bob.cookiesForUrl("https://example.com/"), []);
   * assert.equal(alice.partitionKey, "user:alice");
   * ```
   *
   * @param partition The partition key: a non-empty string of at most 512 bytes (with the keys
   *   of this jar's own partition, when it has one).
   * @returns The partition's jar.
   * @throws {TypeError} When `partition` is not a non-empty string, or this jar is closed.
   * @throws {RangeError} When `partition` is longer than 512 bytes, with this jar's partition
   *   keys.
   */
  partition(partition: string): KvCookieJar {
    const what = "partition cookie jar";
    this.#check(what);
    checkPartition(`Cannot ${what}`, partition);
    const outer = partitionPath(this.partitionKey);
    if (outer.length > 0) {
      const bytes = [...outer, partition].reduce((n, key) => n + ENCODER.encode(key).length, 0);
      if (bytes > MAX_PARTITION_BYTES) {
        throw new RangeError(
          `Cannot ${what}: 'partition' must be at most ${MAX_PARTITION_BYTES} bytes with the keys ` +
            `of the jar's own partition, got ${bytes} (hash a longer key)`,
        );
      }
    }
    const jar = new KvCookieJar(
      this.#kv,
      false,
      this.#root,
      outer.length === 0 ? partition : [...outer, partition],
      this.#limits,
      this.#engines,
      this.#changes,
    );
    jar.#parent = this;
    return jar;
  }

  #isClosed(): boolean {
    return this.#closed || (this.#parent !== null && this.#parent.#isClosed());
  }

  #check(what: string): void {
    if (this.#isClosed()) throw new TypeError(`Cannot ${what}: the cookie jar is closed`);
  }

  /**
   * The cookies to send to `url`, in `Cookie` header order (longer paths first, then earlier
   * creation).
   *
   * @param url The request URL.
   * @returns The cookies.
   * @throws {TypeError} When `url` is not a valid URL or the jar is closed.
   */
  async cookiesForUrl(url: string | URL): Promise<NetworkCookie[]> {
    this.#check("get cookies");
    return await this.#engine.cookiesForUrl(url);
  }

  /**
   * Stores the cookies of `Set-Cookie` header values received from `url`.
   *
   * @param setCookieHeaders The `Set-Cookie` values, one cookie each.
   * @param url The response URL.
   * @returns How many cookies were stored: not one for a domain whose cookies a later version
   * sharing the database keeps in a newer format (which this version never writes).
   * @throws {TypeError} When `url` is not a valid URL, a value is not a string or the jar is
   * closed.
   */
  async setCookiesFromUrl(
    setCookieHeaders: readonly string[],
    url: string | URL,
  ): Promise<number> {
    this.#check("set cookies");
    return await this.#engine.setCookiesFromUrl(setCookieHeaders, url);
  }

  /**
   * Adds a cookie, replacing one with the same domain, path and name.
   *
   * @param cookie The cookie.
   * @returns True when stored (false for an expired cookie, which removes the old one, and for
   * a domain whose cookies are in a newer format).
   * @throws {TypeError} When a field has the wrong type or form, the cookie breaks a rule
   *   of the `__Secure-` and `__Host-` name prefixes, or the jar is closed.
   * @throws {RangeError} When a time (`expires`, `creationTime`, `lastAccessTime`) is a number out
   * of a Date's range (epoch milliseconds within ±8.64e15: not `Infinity`, `NaN` or `1e20`), or
   * `name` and `value` are longer than 4096 bytes together.
   */
  async insertCookie(cookie: NetworkCookieInit): Promise<boolean> {
    this.#check("insert cookie");
    return await this.#engine.insertCookie(cookie);
  }

  /**
   * Replaces the cookie with the same domain, path and name, if any: decided by the checked
   * write itself, so a cookie another jar or process deleted meanwhile is not brought back, and
   * a domain whose cookies a newer version sharing the database keeps is left as it is (false).
   *
   * @param cookie The cookie.
   * @returns True when a cookie was replaced.
   * @throws {TypeError} When a field has the wrong type or form, the cookie breaks a rule
   *   of the `__Secure-` and `__Host-` name prefixes, or the jar is closed.
   * @throws {RangeError} When a time (`expires`, `creationTime`, `lastAccessTime`) is a number out
   * of a Date's range (epoch milliseconds within ±8.64e15: not `Infinity`, `NaN` or `1e20`), or
   * `name` and `value` are longer than 4096 bytes together.
   */
  async updateCookie(cookie: NetworkCookieInit): Promise<boolean> {
    this.#check("update cookie");
    return await this.#engine.updateCookie(cookie);
  }

  /**
   * Removes the cookie with the same domain, path and name.
   *
   * @param cookie Which cookie.
   * @returns True when this call removed a cookie that had not expired (not when another jar
   *   or process removed it first).
   * @throws {TypeError} When a field has the wrong type or form, or the jar is closed.
   */
  async deleteCookie(
    cookie: Pick<NetworkCookieInit, "name" | "domain" | "path">,
  ): Promise<boolean> {
    this.#check("delete cookie");
    return await this.#engine.deleteCookie(cookie);
  }

  /**
   * Every cookie that has not expired, oldest first.
   *
   * @returns The cookies.
   * @throws {TypeError} When the jar is closed.
   */
  async allCookies(): Promise<NetworkCookie[]> {
    this.#check("list cookies");
    return await this.#engine.allCookies();
  }

  /**
   * Removes every cookie (every entry under the jar's prefix and partition), its partitions'
   * included: the unpartitioned jar's `clear()` removes every partition, a partition's removes
   * its own partitions (those made by its `partition(key)`) and no other.
   *
   * @returns When done.
   * @throws {TypeError} When the jar is closed.
   */
  async clear(): Promise<void> {
    this.#check("clear cookies");
    await this.#engine.clear();
  }

  /**
   * Closes the database when the jar opened it (`path`); a shared `kv` stays open. Safe to
   * call twice.
   *
   * @returns When closed.
   */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#release?.();
      if (this.#ownsChanges) this.#changes.detector?.close();
      if (this.#owned) this.#kv.close();
    }
    return Promise.resolve();
  }

  /**
   * Same as {@linkcode KvCookieJar.close}, for `await using`.
   *
   * @returns When closed.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
