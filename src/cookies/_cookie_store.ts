/**
 * The base of the jars' tough-cookie stores: tough-cookie's `Store` interface (callbacks and
 * promises) over plain {@linkcode NetworkCookie} records, with expiry by an injected clock.
 * Subclasses keep the records (in memory, in Deno KV) and enforce the count limits.
 */

import {
  type Callback,
  Cookie,
  type ErrorCallback,
  type Nullable,
  pathMatch,
  Store,
} from "tough-cookie";
import type { Clock } from "../clock.ts";
import type { NetworkCookie } from "./network_cookie.ts";

/** A stored cookie: the public fields plus a creation sequence that breaks creation ties. */
export interface _StoredCookie extends NetworkCookie {
  seq: number;
}

/** A cookie's identity: its domain, path and name. */
export type _CookieId = Pick<NetworkCookie, "domain" | "path" | "name">;

/**
 * What {@linkcode _CookieStore.putWith} makes of a cookie's record as it read it (`undefined`:
 * there is none): the record to store (an expired one removes the cookie), or `null` to change
 * nothing.
 */
export type _MakeRecord = (current: _StoredCookie | undefined) => _StoredCookie | null;

/**
 * Whether a record keeps a write from being stored (see {@linkcode _CookieStore.putWith}): the
 * write is asked of every record of its cookie's site.
 */
export type _BlockedBy = (record: _StoredCookie) => boolean;

/** Limits and clock of a store. */
export interface _StoreLimits {
  clock: Clock;
  maxCookiesPerDomain: number;
  maxCookies: number;
}

/** A last-access time younger than this is not rewritten (as Chromium does, to spare writes). */
export const _TOUCH_THRESHOLD_MS = 60_000;

/** Whether `value` is a well-formed stored cookie (anything else in a store is corrupt). */
export function _isStoredCookie(value: unknown): value is _StoredCookie {
  if (typeof value !== "object" || value === null) return false;
  const c = value as Record<string, unknown>;
  return typeof c.name === "string" && typeof c.value === "string" &&
    typeof c.domain === "string" && c.domain !== "" &&
    typeof c.path === "string" && c.path.startsWith("/") &&
    (c.expires === null || (typeof c.expires === "number" && !Number.isNaN(c.expires))) &&
    typeof c.secure === "boolean" && typeof c.httpOnly === "boolean" &&
    (c.sameSite === undefined || c.sameSite === "strict" || c.sameSite === "lax" ||
      c.sameSite === "none") &&
    typeof c.hostOnly === "boolean" && Number.isFinite(c.creationTime) &&
    Number.isFinite(c.lastAccessTime) && Number.isFinite(c.seq);
}

/** The public form of a stored cookie (a copy without the sequence number). */
export function _publicCookie(c: _StoredCookie): NetworkCookie {
  const out: NetworkCookie = {
    name: c.name,
    value: c.value,
    domain: c.domain,
    path: c.path,
    expires: c.expires,
    secure: c.secure,
    httpOnly: c.httpOnly,
    hostOnly: c.hostOnly,
    creationTime: c.creationTime,
    lastAccessTime: c.lastAccessTime,
  };
  if (c.sameSite !== undefined) out.sameSite = c.sameSite;
  return out;
}

/** Whether the cookie has expired at `now`. */
export function _isExpired(c: Pick<NetworkCookie, "expires">, now: number): boolean {
  return c.expires !== null && c.expires <= now;
}

/** Whether two records are the same cookie (domain, path and name). */
export function _isSameCookie(a: _CookieId, b: _CookieId): boolean {
  return a.domain === b.domain && a.path === b.path && a.name === b.name;
}

/**
 * How many cookies to keep when a count goes over `limit`: 90 % of it (a batch purge, as
 * Chromium's, which goes lower: 150 of 180), so eviction runs once per batch of inserts rather
 * than on every one.
 */
export function _purgeTarget(limit: number): number {
  return limit - Math.floor(limit / 10);
}

/** Orders eviction victims: expired first, then least recently used, then oldest. */
export function _evictionOrder(now: number): (a: _StoredCookie, b: _StoredCookie) => number {
  return (a, b) =>
    Number(_isExpired(b, now)) - Number(_isExpired(a, now)) ||
    a.lastAccessTime - b.lastAccessTime || a.creationTime - b.creationTime || a.seq - b.seq;
}

/** Orders cookies oldest first (creation time, then sequence). */
export function _byCreation(a: _StoredCookie, b: _StoredCookie): number {
  return a.creationTime - b.creationTime || a.seq - b.seq;
}

function toTough(c: _StoredCookie): Cookie {
  const cookie = new Cookie({
    key: c.name,
    value: c.value,
    domain: c.domain,
    path: c.path,
    expires: c.expires === null ? "Infinity" : new Date(c.expires),
    secure: c.secure,
    httpOnly: c.httpOnly,
    sameSite: c.sameSite,
    hostOnly: c.hostOnly,
    creation: new Date(c.creationTime),
    lastAccessed: new Date(c.lastAccessTime),
  });
  cookie.creationIndex = c.seq;
  return cookie;
}

/** The record of a tough-cookie `Cookie`. */
export function _fromTough(c: Cookie, now: number): _StoredCookie {
  const time = (d: Date | "Infinity" | null): number =>
    d instanceof Date && !Number.isNaN(d.getTime()) ? d.getTime() : now;
  const sameSite = c.sameSite === "strict" || c.sameSite === "lax" || c.sameSite === "none"
    ? c.sameSite
    : undefined;
  const stored: _StoredCookie = {
    name: c.key,
    value: c.value,
    domain: c.domain ?? "",
    path: c.path ?? "/",
    expires: c.expires instanceof Date ? c.expires.getTime() : null,
    secure: c.secure,
    httpOnly: c.httpOnly,
    hostOnly: c.hostOnly === true,
    creationTime: time(c.creation),
    lastAccessTime: time(c.lastAccessed),
    seq: c.creationIndex,
  };
  if (sameSite !== undefined) stored.sameSite = sameSite;
  return stored;
}

function settle<T>(promise: Promise<T>, callback: Callback<T> | undefined): Promise<T> | void {
  if (callback === undefined) return promise;
  promise.then((value) => callback(null, value), (error) => callback(error as Error));
}

/** A tough-cookie `Store` over plain cookie records; subclasses supply the record operations. */
export abstract class _CookieStore extends Store {
  /** Limits and clock. */
  readonly limits: _StoreLimits;
  /**
   * Whether the records find() gives may be written in place (a last-access time set on them
   * is stored), so that a lookup needs no touch().
   */
  readonly ownRecordsWritable: boolean = false;
  /** The cookies `putCookie` was given and did not store. */
  readonly #refused = new WeakSet<Cookie>();
  /** The test each cookie to be handed to `putCookie` is stored under (see `putWith`). */
  readonly #blockedBy = new WeakMap<Cookie, _BlockedBy>();

  constructor(limits: _StoreLimits) {
    super();
    this.synchronous = false;
    this.limits = limits;
  }

  /** The record of one cookie, or undefined. */
  abstract get(domain: string, path: string, name: string): Promise<_StoredCookie | undefined>;
  /**
   * The records of `host`'s domain and its parent domains (any path, maybe expired), one
   * array per domain that has any: the store's own, which callers read and never change.
   *
   * @param domains The candidate domains of `host`, when the caller has them.
   */
  abstract find(host: string, domains?: string[]): Promise<readonly _StoredCookie[][]>;
  /**
   * Creates or replaces a record, then evicts beyond the limits; false when the store keeps
   * it from being stored (its domain's records are of a format it does not write).
   */
  abstract put(cookie: _StoredCookie): Promise<boolean>;
  /**
   * Stores what `make` makes of the record of cookie `id`, read and written as one step: no
   * write of another jar or process comes between the record `make` is given and the write (a
   * store in KV checks the version it read, and calls `make` again when another write came
   * first). A record that has expired removes the cookie; one the store cannot hold, and a
   * domain whose records are of a format the store does not write, change nothing. Evicts
   * beyond the limits as `put` does.
   *
   * With `blockedBy`, the write changes nothing when a record of the cookie's site (any domain
   * and path, the cookie's own included) blocks it, as the store holds them when the write is
   * made: no write of another jar or process comes between that test and the write either.
   *
   * @returns Whether the store changed; then the last call of `make` made what was written.
   */
  abstract putWith(id: _CookieId, make: _MakeRecord, blockedBy?: _BlockedBy): Promise<boolean>;
  /**
   * Removes one record, checked against the version read as `putWith` is.
   *
   * @returns The record removed, or `undefined` when there was none.
   */
  abstract remove(domain: string, path: string, name: string): Promise<_StoredCookie | undefined>;
  /**
   * Removes the records of the names of `cookies` (records a lookup found expired at `now`)
   * that are still expired at `now`: a cookie of one of those names stored since the lookup
   * read (by another process, or a request running meanwhile) stays.
   */
  abstract removeExpired(cookies: readonly _StoredCookie[], now: number): Promise<void>;
  /** Removes the records of `domain` (and `path`, when given). */
  abstract removeMatching(domain: string, path: string | null): Promise<void>;
  /** Removes every record. */
  abstract clearAll(): Promise<void>;
  /** Every record (maybe expired), in no order. */
  abstract all(): Promise<_StoredCookie[]>;
  /** Sets the last-access time of records that find() gave, best effort. */
  abstract touch(cookies: readonly _StoredCookie[], time: number): Promise<void>;

  /**
   * Whether the store can hold cookies of `domain` (a canonical domain); a store that cannot
   * (its key for the domain would be too long) has none for it and stores none.
   */
  keeps(_domain: string): boolean {
    return true;
  }

  /**
   * Whether the store can hold a cookie of this name, value, domain (canonical) and path; a
   * store that cannot (its key or value for it would be too long) does not store it.
   */
  holds(_name: string, _value: string, domain: string, _path: string): boolean {
    return this.keeps(domain);
  }

  /** Readies the store before its first use; nothing to do unless a subclass says so. */
  open(): Promise<void> {
    return Promise.resolve();
  }

  /** The records for `host` that have not expired; expired ones are removed. */
  async live(host: string): Promise<_StoredCookie[]> {
    return await this.#dropExpired((await this.find(host)).flat());
  }

  /** Every record that has not expired, oldest first; expired ones are removed. */
  async liveAll(): Promise<_StoredCookie[]> {
    return (await this.#dropExpired(await this.all())).sort(_byCreation);
  }

  /**
   * Stores a record, or removes its identity when it has already expired; false when it is
   * not stored (expired, a cookie the store cannot hold, or one `put` refused).
   *
   * The record replaces a live cookie of its identity as the write finds it, and takes that
   * cookie's creation time and sequence (RFC 6265 section 5.3, step 11.3). With `replacing`
   * (tough-cookie read a cookie to replace and copied its creation), a write that finds none
   * (another jar removed it meanwhile) stores a new cookie, created at its last access: now.
   * With `blockedBy`, neither is done when a record of the site blocks it (see `putWith`).
   */
  async store(
    cookie: _StoredCookie,
    replacing = false,
    blockedBy?: _BlockedBy,
  ): Promise<boolean> {
    if (!this.holds(cookie.name, cookie.value, cookie.domain, cookie.path)) return false;
    const now = this.limits.clock();
    if (_isExpired(cookie, now)) {
      if (blockedBy === undefined) await this.remove(cookie.domain, cookie.path, cookie.name);
      else await this.putWith(cookie, () => cookie, blockedBy);
      return false;
    }
    return await this.putWith(cookie, (existing) => {
      if (existing !== undefined && !_isExpired(existing, now)) {
        return { ...cookie, creationTime: existing.creationTime, seq: existing.seq };
      }
      if (!replacing) return cookie;
      return { ...cookie, creationTime: cookie.lastAccessTime, seq: new Cookie().creationIndex };
    }, blockedBy);
  }

  /**
   * Has the write of `cookie`, when tough-cookie's `setCookie` hands it to `putCookie` or
   * `updateCookie`, tested with `blockedBy` (see `putWith`): a cookie that is blocked is not
   * stored, as `refused` then tells.
   */
  storeUnless(cookie: Cookie, blockedBy: _BlockedBy): void {
    this.#blockedBy.set(cookie, blockedBy);
  }

  /**
   * Whether a cookie tough-cookie handed to `putCookie` (or `updateCookie`) was not stored:
   * its `setCookie` resolves with the cookie either way.
   */
  refused(cookie: Cookie): boolean {
    return this.#refused.has(cookie);
  }

  async #dropExpired(cookies: _StoredCookie[]): Promise<_StoredCookie[]> {
    const now = this.limits.clock();
    const live: _StoredCookie[] = [];
    const expired: _StoredCookie[] = [];
    for (const c of cookies) (_isExpired(c, now) ? expired : live).push(c);
    if (expired.length > 0) await this.removeExpired(expired, now);
    return live;
  }

  override findCookie(
    domain: Nullable<string>,
    path: Nullable<string>,
    key: Nullable<string>,
  ): Promise<Cookie | undefined>;
  override findCookie(
    domain: Nullable<string>,
    path: Nullable<string>,
    key: Nullable<string>,
    callback: Callback<Cookie | undefined>,
  ): void;
  override findCookie(
    domain: Nullable<string>,
    path: Nullable<string>,
    key: Nullable<string>,
    callback?: Callback<Cookie | undefined>,
  ): Promise<Cookie | undefined> | void {
    const run = async () => {
      if (domain == null || path == null || key == null) return undefined;
      const found = await this.get(domain, path, key);
      return found === undefined || _isExpired(found, this.limits.clock())
        ? undefined
        : toTough(found);
    };
    return settle(run(), callback);
  }

  override findCookies(
    domain: Nullable<string>,
    path: Nullable<string>,
    allowSpecialUseDomain?: boolean,
  ): Promise<Cookie[]>;
  override findCookies(
    domain: Nullable<string>,
    path: Nullable<string>,
    allowSpecialUseDomain?: boolean,
    callback?: Callback<Cookie[]>,
  ): void;
  override findCookies(
    domain: Nullable<string>,
    path: Nullable<string>,
    _allowSpecialUseDomain?: boolean,
    callback?: Callback<Cookie[]>,
  ): Promise<Cookie[]> | void {
    const run = async () => {
      if (!domain) return [];
      const found = await this.live(domain);
      return found.filter((c) => !path || pathMatch(path, c.path)).map(toTough);
    };
    return settle(run(), callback);
  }

  override putCookie(cookie: Cookie): Promise<void>;
  override putCookie(cookie: Cookie, callback: ErrorCallback): void;
  override putCookie(cookie: Cookie, callback?: ErrorCallback): Promise<void> | void {
    return settle(this.#put(cookie, false), callback);
  }

  /** Stores what tough-cookie hands over, noting a cookie it does not store. */
  async #put(cookie: Cookie, replacing: boolean): Promise<void> {
    const record = _fromTough(cookie, this.limits.clock());
    if (!(await this.store(record, replacing, this.#blockedBy.get(cookie)))) {
      this.#refused.add(cookie);
    }
  }

  override updateCookie(oldCookie: Cookie, newCookie: Cookie): Promise<void>;
  override updateCookie(oldCookie: Cookie, newCookie: Cookie, callback: ErrorCallback): void;
  override updateCookie(
    _oldCookie: Cookie,
    newCookie: Cookie,
    callback?: ErrorCallback,
  ): Promise<void> | void {
    return settle(this.#put(newCookie, true), callback);
  }

  override removeCookie(
    domain: Nullable<string>,
    path: Nullable<string>,
    key: Nullable<string>,
  ): Promise<void>;
  override removeCookie(
    domain: Nullable<string>,
    path: Nullable<string>,
    key: Nullable<string>,
    callback: ErrorCallback,
  ): void;
  override removeCookie(
    domain: Nullable<string>,
    path: Nullable<string>,
    key: Nullable<string>,
    callback?: ErrorCallback,
  ): Promise<void> | void {
    const run = async () => {
      if (domain == null || path == null || key == null) return;
      await this.remove(domain, path, key);
    };
    return settle(run(), callback);
  }

  override removeCookies(domain: string, path: Nullable<string>): Promise<void>;
  override removeCookies(domain: string, path: Nullable<string>, callback: ErrorCallback): void;
  override removeCookies(
    domain: string,
    path: Nullable<string>,
    callback?: ErrorCallback,
  ): Promise<void> | void {
    return settle(this.removeMatching(domain, path ?? null), callback);
  }

  override removeAllCookies(): Promise<void>;
  override removeAllCookies(callback: ErrorCallback): void;
  override removeAllCookies(callback?: ErrorCallback): Promise<void> | void {
    return settle(this.clearAll(), callback);
  }

  override getAllCookies(): Promise<Cookie[]>;
  override getAllCookies(callback: Callback<Cookie[]>): void;
  override getAllCookies(callback?: Callback<Cookie[]>): Promise<Cookie[]> | void {
    const run = async () => (await this.liveAll()).map(toTough);
    return settle(run(), callback);
  }
}
