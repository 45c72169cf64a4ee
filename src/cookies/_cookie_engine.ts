/**
 * The rules shared by the cookie jars: RFC 6265bis parsing before tough-cookie, tough-cookie's
 * `CookieJar` for domain, path, secure and prefix rules over a `_CookieStore`, expiry by the
 * injected clock, and the plain-data API of {@linkcode CookieJar}.
 */

import { canonicalDomain, Cookie, CookieJar as ToughCookieJar, domainMatch } from "tough-cookie";
import type { Clock } from "../clock.ts";
import type { CookieJar, NetworkCookieInit } from "./cookie_jar.ts";
import type { NetworkCookie } from "./network_cookie.ts";
import { _candidateDomains, _isPublicSuffix } from "./_domain.ts";
import { _toUrl } from "./_jar_args.ts";
import { parseIPv6 } from "../_ip.ts";
import { cookiePair } from "./_wire.ts";
import { describe, numberError } from "../_validation.ts";
import {
  _byteLength,
  _LATEST,
  _MAX_NAME_VALUE_BYTES,
  _parseSetCookie,
  _prefixAllowed,
  _prefixBreach,
} from "./_set_cookie.ts";
import {
  type _BlockedBy,
  type _CookieStore,
  _isExpired,
  _publicCookie,
  type _StoredCookie,
  type _StoreLimits,
} from "./_cookie_store.ts";

const COOKIE_SCHEMES = new Set(["http:", "https:", "ws:", "wss:"]);
// Control characters (HTAB aside) and ';' end a cookie in a `Cookie` header.
// deno-lint-ignore no-control-regex
const BAD_VALUE = /[\x00-\x08\x0A-\x1F\x7F;]/;
// A name also stops at '='.
// deno-lint-ignore no-control-regex
const BAD_NAME = /[\x00-\x08\x0A-\x1F\x7F;=]/;
// The `Set-Cookie` parser trims SP and HTAB around a name and a value: none keeps them.
const EDGE_SPACE = /^[ \t]|[ \t]$/;
/** Request hosts whose canonical form and candidate domains are kept. */
const HOST_MEMO = 4096;

/** The order of cookies in a `Cookie` header: longer paths first, then earlier creation. */
export function _sendOrder(a: _StoredCookie, b: _StoredCookie): number {
  return b.path.length - a.path.length || a.creationTime - b.creationTime || a.seq - b.seq;
}

function isSecureUrl(url: URL): boolean {
  if (url.protocol === "https:" || url.protocol === "wss:") return true;
  const host = url.hostname.replace(/^\[|\]$/g, "").replace(/\.+$/, "").toLowerCase();
  return /^127\.\d+\.\d+\.\d+$/.test(host) || host === "::1" || host === "localhost" ||
    host.endsWith(".localhost");
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  return requestPath === cookiePath ||
    (requestPath.startsWith(cookiePath) &&
      (cookiePath.endsWith("/") || requestPath[cookiePath.length] === "/"));
}

/** The default path of a cookie set by a response from `url` (RFC 6265 section 5.1.4). */
function defaultPath(url: URL): string {
  let pathname = url.pathname;
  try {
    pathname = decodeURI(pathname);
  } catch {
    // keep it encoded
  }
  const slash = pathname.lastIndexOf("/");
  return slash <= 0 ? "/" : pathname.slice(0, slash);
}

/**
 * The path cookies are matched against: the URL's, percent-decoded where that is valid (a
 * lookup also matches the path as the URL writes it, escapes and all).
 */
function requestPath(url: URL): string {
  const path = url.pathname || "/";
  if (!path.includes("%")) return path;
  try {
    return decodeURI(path);
  } catch {
    return path;
  }
}

/**
 * Whether a canonical cookie domain is a host a request can have: the host of a URL made
 * from it is itself (so no port, scheme, path or percent escape; an IPv6 address as
 * `canonicalDomain` writes it, without brackets), with no empty label.
 */
function isHostName(domain: string): boolean {
  if (domain === "" || domain.replace(/\.$/, "").split(".").includes("")) return false;
  const ipv6 = domain.includes(":");
  if (ipv6 && parseIPv6(domain) === undefined) return false;
  const host = ipv6 ? `[${domain}]` : domain;
  try {
    return new URL(`http://${host}/`).hostname === host;
  } catch {
    return false;
  }
}

/**
 * RFC 6265bis "leave secure cookies alone": which records keep an insecure origin from setting
 * a cookie of this name, domain and path, tested by the store with its write: Secure cookies of
 * the same name, unexpired at `now`, whose domain domain-matches the new one or the reverse,
 * and whose path the new path path-matches.
 */
function shadowed(name: string, domain: string, path: string, now: number): _BlockedBy {
  return (c) =>
    c.secure && c.name === name && !_isExpired(c, now) &&
    (domainMatch(c.domain, domain, false) === true ||
      domainMatch(domain, c.domain, false) === true) &&
    pathMatches(path, c.path);
}

function nextSeq(): number {
  return new Cookie().creationIndex;
}

/** Checks a cookie given to insert, update or delete; returns it in canonical form. */
function normalizeInit(
  init: NetworkCookieInit,
  what: string,
  full: boolean,
): Omit<NetworkCookieInit, "path"> & { path: string; hostOnly: boolean } {
  if (typeof init !== "object" || init === null) {
    throw new TypeError(
      `Cannot ${what}: the cookie must be an object, got ${describe(init)}`,
    );
  }
  const fail = (field: string, expected: string, value: unknown): never => {
    throw new TypeError(`Cannot ${what}: '${field}' must be ${expected}, got ${describe(value)}`);
  };
  if (typeof init.name !== "string") fail("name", "a string", init.name);
  if (BAD_NAME.test(init.name) || EDGE_SPACE.test(init.name)) {
    fail(
      "name",
      "free of control characters (tab aside), ';', '=' and spaces or tabs at either end",
      init.name,
    );
  }
  if (typeof init.domain !== "string" || init.domain.replace(/^\./, "") === "") {
    fail("domain", "a non-empty string", init.domain);
  }
  const path = init.path === undefined ? "/" : init.path;
  if (typeof path !== "string" || !path.startsWith("/") || BAD_VALUE.test(path)) {
    fail("path", "a string starting with '/', free of control characters and ';'", path);
  }
  if (BAD_VALUE.test(init.domain) || /[\s,]/.test(init.domain)) {
    fail("domain", "a host name", init.domain);
  }
  // A flag of the wrong type is refused on delete too: a record stored before has booleans.
  for (const flag of ["secure", "httpOnly", "hostOnly"] as const) {
    if (init[flag] !== undefined && typeof init[flag] !== "boolean") {
      fail(flag, "a boolean", init[flag]);
    }
  }
  const domain = canonicalDomain(init.domain) ?? "";
  const hostOnly = init.hostOnly ?? !init.domain.startsWith(".");
  if (full) {
    // Checked on insert and update only, so that a record stored before can still be deleted.
    if (!isHostName(domain)) {
      fail("domain", "a host name (no scheme, port or path)", init.domain);
    }
    if (!hostOnly && _isPublicSuffix(domain)) {
      throw new TypeError(
        `Cannot ${what}: 'domain' must not be a public suffix for a domain cookie (set 'hostOnly' for a cookie of that host alone), got ${
          describe(init.domain)
        }`,
      );
    }
    if (typeof init.value !== "string") fail("value", "a string", init.value);
    if (BAD_VALUE.test(init.value) || EDGE_SPACE.test(init.value)) {
      fail(
        "value",
        "free of control characters (CR, LF and others; tab aside), ';' and spaces or tabs at either end",
        init.value,
      );
    }
    if (init.name === "" && init.value === "") {
      // RFC 6265bis ignores such a Set-Cookie; stored, it would add an empty pair to the header.
      fail("value", "non-empty when 'name' is empty", init.value);
    }
    const bytes = _byteLength(init.name) + _byteLength(init.value);
    if (bytes > _MAX_NAME_VALUE_BYTES) {
      throw new RangeError(
        `Cannot ${what}: 'name' and 'value' must be at most ${_MAX_NAME_VALUE_BYTES} bytes together, got ${bytes}`,
      );
    }
    // A Date's range: a time beyond it (Infinity, 1e20) would be stored differently by each
    // store (JSON makes Infinity null, a session cookie).
    const checkTime = (field: string, value: unknown, orNull: string): void => {
      if (typeof value !== "number" || !(Math.abs(value) <= _LATEST)) {
        throw numberError(
          `Cannot ${what}`,
          field,
          value,
          `a time in epoch milliseconds within ±8.64e15 (what a Date holds)${orNull}`,
        );
      }
    };
    if (init.expires != null) checkTime("expires", init.expires, " or null");
    if (
      init.sameSite !== undefined && init.sameSite !== "strict" && init.sameSite !== "lax" &&
      init.sameSite !== "none"
    ) fail("sameSite", `"strict", "lax", "none" or undefined`, init.sameSite);
    for (const time of ["creationTime", "lastAccessTime"] as const) {
      if (init[time] !== undefined) checkTime(time, init[time], "");
    }
    // RFC 6265bis refuses such a cookie whatever it came by, as `setCookiesFromUrl` does.
    const secure = init.secure ?? false;
    const breach = _prefixBreach(init.name, init.value, secure, hostOnly, path);
    if (breach !== null) {
      const got = { value: init.value, secure, hostOnly, path }[breach.field];
      fail(breach.field, `${breach.must} (RFC 6265bis cookie prefixes)`, got);
    }
  }
  return { ...init, domain, path, hostOnly };
}

/** The behaviour of a cookie jar over one store. */
export class _CookieEngine implements CookieJar {
  readonly #store: _CookieStore;
  readonly #jar: ToughCookieJar;
  readonly #clock: Clock;
  readonly #touchThreshold: number;
  readonly #hosts = new Map<string, { host: string; domains: string[] }>();

  constructor(store: _CookieStore, touchThreshold: number) {
    this.#store = store;
    this.#clock = store.limits.clock;
    this.#touchThreshold = touchThreshold;
    this.#jar = new ToughCookieJar(store, {
      rejectPublicSuffixes: true,
      looseMode: false,
      allowSpecialUseDomain: true,
      allowSecureOnLocal: true,
      enforceSecureOriginOnStorage: true,
      prefixSecurity: "silent",
    });
  }

  /**
   * The request host as cookies see it, with the domains whose cookies it may get; kept for the
   * hosts seen last, as both come from the public suffix list.
   */
  #hostOf(hostname: string): { host: string; domains: string[] } {
    let known = this.#hosts.get(hostname);
    if (known === undefined) {
      const host = canonicalDomain(hostname) ?? hostname;
      known = { host, domains: _candidateDomains(host) };
      if (this.#hosts.size >= HOST_MEMO) this.#hosts.delete(this.#hosts.keys().next().value!);
      this.#hosts.set(hostname, known);
    }
    return known;
  }

  /** Readies the store (a KV store moves cookies of an older layout into its own). */
  async open(): Promise<void> {
    await this.#store.open();
  }

  /**
   * The cookies for `url`, matched on the stored records (RFC 6265 section 5.4): the host's
   * own host-only cookies and the domain cookies of it and its parents, path-matched, secure
   * ones only over a secure origin, unexpired; longer paths first, then earlier creation.
   */
  async cookiesForUrl(url: string | URL): Promise<NetworkCookie[]> {
    const target = _toUrl(url, "get cookies");
    if (!COOKIE_SCHEMES.has(target.protocol) || target.hostname === "") return [];
    const { host, domains } = this.#hostOf(target.hostname);
    const found = await this.#store.find(host, domains);
    if (found.length === 0) return [];
    return await this.#match(target, host, found);
  }

  /**
   * The cookies for `url` when the store answers at once (the memory store): no promise of the
   * store's own.
   */
  cookiesForUrlNow(
    url: string | URL,
    find: (domains: readonly string[]) => readonly _StoredCookie[][],
  ): NetworkCookie[] | Promise<NetworkCookie[]> {
    const target = _toUrl(url, "get cookies");
    if (!COOKIE_SCHEMES.has(target.protocol) || target.hostname === "") return [];
    const { host, domains } = this.#hostOf(target.hostname);
    const found = find(domains);
    if (found.length === 0) return [];
    return this.#match(target, host, found);
  }

  /**
   * The `Cookie` header for `url` when the store answers at once (the memory store), written
   * from the stored records with no cookie object made: `null` when no cookie matches.
   */
  cookieHeaderNow(
    url: URL,
    find: (domains: readonly string[]) => readonly _StoredCookie[][],
  ): string | null | Promise<string | null> {
    if (!COOKIE_SCHEMES.has(url.protocol) || url.hostname === "") return null;
    const { host, domains } = this.#hostOf(url.hostname);
    const found = find(domains);
    if (found.length === 0) return null;
    const { cookies, expired, stale, now } = this.#matching(url, host, found);
    let header = "";
    for (const c of cookies) header += (header === "" ? "" : "; ") + cookiePair(c.name, c.value);
    const result = header === "" ? null : header;
    if (expired === undefined && stale === undefined) return result;
    return this.#afterMatch([], expired, stale, now).then(() => result);
  }

  /**
   * The records found for a request that it matches (RFC 6265 section 5.4), in sending order,
   * with their access time set (in place, or `stale` lists those the store must rewrite), and
   * the expired ones met.
   */
  #matching(
    target: URL,
    host: string,
    found: readonly (readonly _StoredCookie[])[],
  ): {
    cookies: _StoredCookie[];
    expired: _StoredCookie[] | undefined;
    stale: _StoredCookie[] | undefined;
    now: number;
  } {
    const now = this.#clock();
    const secure = isSecureUrl(target);
    const path = requestPath(target);
    // A path with escapes also matches as written: a cookie's `Path` may be escaped the same way.
    const written = target.pathname === path ? null : target.pathname;
    const matched: _StoredCookie[] = [];
    let expired: _StoredCookie[] | undefined;
    for (let d = 0; d < found.length; d++) {
      const list = found[d]!;
      for (let i = 0; i < list.length; i++) {
        const c = list[i]!;
        if (c.expires !== null && c.expires <= now) {
          (expired ??= []).push(c);
        } else if (
          (!c.hostOnly || c.domain === host) && (secure || !c.secure) &&
          (pathMatches(path, c.path) || (written !== null && pathMatches(written, c.path)))
        ) {
          matched.push(c);
        }
      }
    }
    if (matched.length > 1) matched.sort(_sendOrder);
    let stale: _StoredCookie[] | undefined;
    const inPlace = this.#store.ownRecordsWritable;
    for (const c of matched) {
      if (now - c.lastAccessTime < this.#touchThreshold) continue;
      if (inPlace) c.lastAccessTime = now;
      else (stale ??= []).push(c);
    }
    return { cookies: matched, expired, stale, now };
  }

  /** Matches the records found for a request (RFC 6265 section 5.4) and sets their access time. */
  #match(
    target: URL,
    host: string,
    found: readonly (readonly _StoredCookie[])[],
  ): NetworkCookie[] | Promise<NetworkCookie[]> {
    const { cookies: matched, expired, stale, now } = this.#matching(target, host, found);
    const cookies: NetworkCookie[] = new Array(matched.length);
    for (let i = 0; i < matched.length; i++) {
      const cookie = _publicCookie(matched[i]!);
      // A record the store rewrites after the lookup shows the access time it will have.
      if (now - cookie.lastAccessTime >= this.#touchThreshold) cookie.lastAccessTime = now;
      cookies[i] = cookie;
    }
    if (expired === undefined && stale === undefined) return cookies;
    return this.#afterMatch(cookies, expired, stale, now);
  }

  /** Removes the expired records a lookup met and sets the access time of those it sends. */
  async #afterMatch(
    cookies: NetworkCookie[],
    expired: _StoredCookie[] | undefined,
    stale: _StoredCookie[] | undefined,
    now: number,
  ): Promise<NetworkCookie[]> {
    if (expired !== undefined) {
      await this.#store.removeExpired(expired, now);
    }
    if (stale !== undefined) await this.#store.touch(stale, now);
    return cookies;
  }

  async setCookiesFromUrl(setCookieHeaders: readonly string[], url: string | URL): Promise<number> {
    if (!Array.isArray(setCookieHeaders)) {
      throw new TypeError(
        `Cannot set cookies: 'setCookieHeaders' must be an array of strings, got ${
          describe(setCookieHeaders)
        }`,
      );
    }
    const target = _toUrl(url, "set cookies");
    for (const line of setCookieHeaders) {
      if (typeof line !== "string") {
        throw new TypeError(
          `Cannot set cookies: 'setCookieHeaders' must hold strings, got ${describe(line)}`,
        );
      }
    }
    if (!COOKIE_SCHEMES.has(target.protocol) || target.hostname === "") return 0;
    const { host, domains } = this.#hostOf(target.hostname);
    const secureOrigin = isSecureUrl(target);
    let stored = 0;
    for (const line of setCookieHeaders) {
      const now = this.#clock();
      const parsed = _parseSetCookie(line, now);
      if (parsed === null) continue;
      // RFC 6265bis: a SameSite=None cookie must be Secure.
      if (parsed.sameSite === "none" && !parsed.secure) continue;
      // CHIPS (draft-cutler-httpbis-partitioned-cookies): a Partitioned cookie must be Secure.
      if (parsed.partitioned && !parsed.secure) continue;
      let domain = parsed.domain === "" ? null : parsed.domain;
      if (domain !== null) {
        // deno-lint-ignore no-control-regex
        if (/[^\x00-\x7F]/.test(domain)) continue;
        // An IPv6 host as a URL writes it: `Domain=[::1]` names the host `::1`.
        if (domain.startsWith("[") && domain.endsWith("]") && domain.includes(":")) {
          domain = domain.slice(1, -1);
        }
        if (_isPublicSuffix(domain)) {
          if (domain !== host) continue;
          domain = null;
        } else if (domain !== host && !domains.includes(domain)) {
          // Not the host or a parent domain whose cookies it is sent (`Domain=localhost` from
          // `app.localhost`): such a cookie would never come back.
          continue;
        }
      }
      if (!_prefixAllowed(parsed, domain === null)) continue;
      const path = parsed.path ?? defaultPath(target);
      // A cookie the store cannot hold (a KV key or value too long for it) is not stored.
      if (!this.#store.holds(parsed.name, parsed.value, domain ?? host, path)) continue;
      const cookie = new Cookie({
        key: parsed.name,
        value: parsed.value,
        expires: parsed.expires === null ? "Infinity" : new Date(parsed.expires),
        domain,
        path: parsed.path,
        secure: parsed.secure,
        httpOnly: parsed.httpOnly,
        sameSite: parsed.sameSite,
      });
      if (!parsed.secure && !secureOrigin) {
        this.#store.storeUnless(cookie, shadowed(parsed.name, domain ?? host, path, now));
      }
      const result = await this.#jar.setCookie(cookie, target, {
        now: new Date(now),
        ignoreError: true,
        http: true,
      });
      if (result !== undefined && !_isExpired(parsed, now) && !this.#store.refused(result)) {
        stored++;
      }
    }
    return stored;
  }

  async insertCookie(cookie: NetworkCookieInit): Promise<boolean> {
    const init = normalizeInit(cookie, "insert cookie", true);
    let made: _StoredCookie | undefined;
    const changed = await this.#store.putWith(
      init,
      (existing) => made = this.#record(init, existing),
    );
    // Changed: `made` is what was written; an expired cookie removed the one it replaced.
    return changed && !_isExpired(made!, this.#clock());
  }

  async updateCookie(cookie: NetworkCookieInit): Promise<boolean> {
    const init = normalizeInit(cookie, "update cookie", true);
    // Decided on the cookie as the write finds it: one deleted meanwhile is not brought back.
    return await this.#store.putWith(
      init,
      (existing) =>
        existing === undefined || _isExpired(existing, this.#clock())
          ? null
          : this.#record(init, existing),
    );
  }

  #record(
    init: ReturnType<typeof normalizeInit>,
    existing: _StoredCookie | undefined,
  ): _StoredCookie {
    const now = this.#clock();
    const creationTime = init.creationTime ?? existing?.creationTime ?? now;
    const record: _StoredCookie = {
      name: init.name,
      value: init.value,
      domain: init.domain,
      path: init.path,
      expires: init.expires ?? null,
      secure: init.secure ?? false,
      httpOnly: init.httpOnly ?? false,
      hostOnly: init.hostOnly,
      creationTime,
      lastAccessTime: init.lastAccessTime ?? Math.max(creationTime, now),
      seq: existing?.seq ?? nextSeq(),
    };
    if (init.sameSite !== undefined) record.sameSite = init.sameSite;
    return record;
  }

  async deleteCookie(
    cookie: Pick<NetworkCookieInit, "name" | "domain" | "path">,
  ): Promise<boolean> {
    const init = normalizeInit(cookie as NetworkCookieInit, "delete cookie", false);
    const removed = await this.#store.remove(init.domain, init.path, init.name);
    return removed !== undefined && !_isExpired(removed, this.#clock());
  }

  async allCookies(): Promise<NetworkCookie[]> {
    return (await this.#store.liveAll()).map(_publicCookie);
  }

  async clear(): Promise<void> {
    await this.#store.clearAll();
  }
}
