/**
 * {@linkcode KvHstsStore}: HSTS policies in Deno KV, shared by every process using the database.
 *
 * @module
 */

import {
  _claimPrefix,
  _keyBytes,
  _openKv,
  _retryLocked,
  checkPrefix,
  MAX_KEY_BYTES,
} from "../_kv.ts";
import { decodeRecord, encodeRecord, isNewerRecord } from "../_kv_record.ts";
import { checkClock } from "../_clock.ts";
import { checkKeys, checkObject } from "../_validation.ts";
import type { Clock } from "../clock.ts";
import type { HstsStore } from "./hsts_store.ts";
import type { MemoryHstsStoreOptions } from "./memory_hsts_store.ts";
import { HstsStoreMethods, preloadMap, StoreCore, type StoredPolicy } from "./_store_core.ts";

/**
 * Options of {@linkcode KvHstsStore.open}.
 *
 * @example Sharing one database with other stores
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvHstsStore, type KvHstsStoreOptions } from "@netaccess/core";
 *
 * await using kv = await Deno.openKv(":memory:");
 * const options: KvHstsStoreOptions = { kv, prefix: ["my-app", "hsts"] };
 * await using store = await KvHstsStore.open(options);
 * assert.equal((await store.all()).length, 0);
 * ```
 */
export interface KvHstsStoreOptions extends MemoryHstsStoreOptions {
  /** A SQLite file (or `":memory:"`) to open; the store closes it. Give this or `kv`. */
  path?: string | undefined;
  /** A database the application opened; shared with other stores and never closed by this one. */
  kv?: Deno.Kv | undefined;
  /**
   * The key prefix under which the policies live.
   * A prefix that starts with, or is the start of, the prefix of another store open on the same
   * `kv` object (or equals that of a store of another kind) is refused: clearing one would remove
   * the other's entries. Stores on other `Deno.Kv` objects or in other processes are not checked.
   *
   * @default {["netaccess", "hsts"]}
   */
  prefix?: Deno.KvKey | undefined;
}

/** The names of the options (the type says every one is here). */
const OPTIONS = Object.keys(
  {
    clock: 1,
    preload: 1,
    path: 1,
    kv: 1,
    prefix: 1,
  } satisfies Record<keyof KvHstsStoreOptions, 1>,
);

/**
 * A policy as stored: a record in the byte layout of `../_kv_record.ts` (readable from any
 * runtime) whose JSON is `{"expires", "includeSubDomains"}`, `expires` `null` for a policy
 * that never expires. Version 0.1.0 wrote a
 * V8-serialised `{ v: 1, expires, includeSubDomains }`, still read.
 */
function decode(value: unknown): StoredPolicy | undefined {
  const decoded = decodeRecord(value);
  let fields: unknown = value;
  if (decoded !== null) {
    if (decoded.rest.length !== 0) return undefined;
    fields = decoded.meta;
  } else if (value instanceof Uint8Array || (value as { v?: unknown } | null)?.v !== 1) {
    return undefined;
  }
  if (fields === null || typeof fields !== "object") return undefined;
  const record = { ...fields } as { expires?: unknown; includeSubDomains?: unknown };
  if (decoded !== null && record.expires === null) record.expires = Infinity;
  if (
    typeof record.expires !== "number" || Number.isNaN(record.expires) ||
    typeof record.includeSubDomains !== "boolean"
  ) return undefined;
  return { expires: record.expires, includeSubDomains: record.includeSubDomains };
}

class KvCore extends StoreCore {
  readonly #kv: Deno.Kv;
  readonly #prefix: Deno.KvKey;
  /** The bytes a key has for its host: a KV key is at most 2 KiB. */
  readonly #room: number;
  #closed = false;
  /** The version of the entry each policy `readMany` gave was read from. */
  readonly #versions = new WeakMap<StoredPolicy, string>();

  constructor(kv: Deno.Kv, prefix: Deno.KvKey, clock: Clock, preload: Map<string, StoredPolicy>) {
    super(clock, preload);
    this.#kv = kv;
    this.#prefix = prefix;
    this.#room = MAX_KEY_BYTES - _keyBytes(prefix);
  }

  /** Whether `host` makes a key short enough for KV: a longer one has no policy stored. */
  #fits(host: string): boolean {
    // Cheap for the usual host: 4 UTF-8 bytes per character at most.
    return 4 * host.length + 2 <= this.#room || _keyBytes([host]) <= this.#room;
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
      const fits = slice.filter((h) => this.#fits(h));
      const entries = fits.length === 0
        ? []
        : await _retryLocked(() => this.#kv.getMany(fits.map((h) => this.#key(h))));
      let next = 0;
      for (const host of slice) {
        const entry = host === fits[next] ? entries[next++] : undefined;
        if (entry === undefined || entry.value === null) {
          out.push(undefined);
          continue;
        }
        const policy = decode(entry.value);
        if (policy === undefined) await this.#deleteIfCorrupt(entry);
        else this.#versions.set(policy, entry.versionstamp!);
        out.push(policy);
      }
    }
    return out;
  }

  /** Deletes a value that does not decode, if unchanged; a newer format's record is kept. */
  async #deleteIfCorrupt(entry: Deno.KvEntryMaybe<unknown>): Promise<void> {
    if (isNewerRecord(entry.value)) return;
    await _retryLocked(() =>
      this.#kv.atomic().check({ key: entry.key, versionstamp: entry.versionstamp }).delete(
        entry.key,
      ).commit()
    );
  }

  protected async write(host: string, policy: StoredPolicy, now: number): Promise<boolean> {
    this.#check();
    const expires = Number.isFinite(policy.expires) ? policy.expires : policy.expires > 0
      ? null // never
      : Number.MIN_SAFE_INTEGER;
    const value = encodeRecord({ expires, includeSubDomains: policy.includeSubDomains });
    const lifetime = policy.expires - now;
    const options = Number.isFinite(lifetime) && lifetime > 0 && lifetime < 2 ** 52
      ? { expireIn: Math.ceil(lifetime) }
      : undefined;
    if (!this.#fits(host)) return false;
    await _retryLocked(() => this.#kv.set(this.#key(host), value, options));
    return true;
  }

  protected async delete(host: string): Promise<StoredPolicy | undefined> {
    this.#check();
    if (!this.#fits(host)) return undefined;
    const key = this.#key(host);
    // Checked: what is returned is the policy the delete removed, not one another store
    // replaced it with meanwhile (read again, and removed in its turn).
    for (;;) {
      const entry = await _retryLocked(() => this.#kv.get(key));
      if (entry.value === null) return undefined;
      const { versionstamp } = entry;
      const done = await _retryLocked(() =>
        this.#kv.atomic().check({ key, versionstamp }).delete(key).commit()
      );
      if (done.ok) return decode(entry.value);
    }
  }

  protected async deleteExpired(host: string, policy: StoredPolicy): Promise<void> {
    this.#check();
    const versionstamp = this.#versions.get(policy);
    if (versionstamp === undefined) return;
    // Checked: a policy another store wrote since it was read is not removed with the old one.
    const key = this.#key(host);
    await _retryLocked(() => this.#kv.atomic().check({ key, versionstamp }).delete(key).commit());
  }

  protected async entries(): Promise<[string, StoredPolicy][]> {
    this.#check();
    const out: [string, StoredPolicy][] = [];
    const corrupt: Deno.KvEntry<unknown>[] = [];
    const listed = await _retryLocked(() =>
      Array.fromAsync(this.#kv.list({ prefix: this.#prefix }))
    );
    for (const entry of listed) {
      const host = entry.key[this.#prefix.length];
      const policy = decode(entry.value);
      if (typeof host !== "string" || entry.key.length !== this.#prefix.length + 1) continue;
      if (policy === undefined) corrupt.push(entry);
      else out.push([host, policy]);
    }
    for (const entry of corrupt) await this.#deleteIfCorrupt(entry);
    return out;
  }

  protected async deleteAll(): Promise<void> {
    this.#check();
    for (;;) {
      const keys = (await _retryLocked(() =>
        Array.fromAsync(this.#kv.list({ prefix: this.#prefix }, { limit: 500 }))
      )).map((entry) =>
        entry.key
      );
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
 * be read back is ignored and removed. Every operation, `all()` and `clear()` included, is
 * tried again while SQLite reports `database is locked` (another process writing the file).
 *
 * @example A persistent store
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvHstsStore } from "@netaccess/core";
 *
 * await using store = await KvHstsStore.open({ path: ":memory:" });
 * await store.learn("example.com", "max-age=31536000");
 * assert.equal(await store.isKnownHost("example.com"), true);
 * ```
 */
export class KvHstsStore extends HstsStoreMethods implements HstsStore, AsyncDisposable {
  readonly #core: KvCore;
  readonly #kv: Deno.Kv;
  readonly #owned: boolean;
  /** Forgets the store's prefix among those open on its database (see `_claimPrefix`). */
  readonly #release: () => void;
  #closed = false;

  private constructor(core: KvCore, kv: Deno.Kv, owned: boolean, release: () => void) {
    super(core);
    this.#core = core;
    this.#kv = kv;
    this.#owned = owned;
    this.#release = release;
  }

  /**
   * Opens a store in a database given by `path` (opened and closed by the store) or `kv`
   * (shared, left open).
   *
   * @param options Where the policies live, the clock and the preloaded hosts.
   * @returns The store.
   * @throws {TypeError} When both `path` and `kv` are given, or an option has the wrong type.
   * @throws {RangeError} When a preloaded host's `expires` is `NaN`, or `prefix` is longer than
   * 512 bytes or nests with the prefix of another store open on `kv`.
   */
  static async open(options: KvHstsStoreOptions = {}): Promise<KvHstsStore> {
    const what = "open HSTS store";
    checkObject(`Cannot ${what}`, "options", options);
    checkKeys(`Cannot ${what}`, options, OPTIONS);
    const clock = checkClock(`Cannot ${what}`, options.clock);
    const preload = preloadMap(options.preload, what);
    const prefix = checkPrefix(`Cannot ${what}`, options.prefix, ["netaccess", "hsts"]);
    const { kv, owned } = await _openKv({ path: options.path, kv: options.kv }, "HSTS store");
    const release = _claimPrefix(kv, "HSTS store", prefix);
    return new KvHstsStore(new KvCore(kv, prefix, clock, preload), kv, owned, release);
  }

  /**
   * Closes the database if the store opened it; safe to call twice.
   *
   * @returns A promise that settles when closed.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#release();
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
