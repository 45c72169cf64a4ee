/**
 * Credentials and the cache that lets later requests to the same protection space
 * authenticate without a new challenge.
 *
 * @module
 */

import { type DigestChallenge, newCnonce } from "./digest.ts";
import type { AuthCredentials } from "./auth_credentials.ts";
import { numberError } from "../_validation.ts";

export type { AuthCredentials };

/** A protection space (RFC 9110 section 11.5): an origin and a realm, for a server or a proxy. */
export interface ProtectionSpace {
  /** The origin (`scheme://host:port`) of the server, or of the proxy when `proxy` is true. */
  origin: string;
  /** The realm of the challenge (case-sensitive). */
  realm: string;
  /** Whether the space is a proxy's (407, `Proxy-Authorization`). */
  proxy: boolean;
}

/** What the cache holds for one protection space. */
export interface CachedCredentials {
  /** The protection space. */
  readonly space: ProtectionSpace;
  /** The scheme the credentials were accepted with. */
  readonly scheme: "basic" | "digest";
  /** The credentials. */
  readonly credentials: AuthCredentials;
  /** For Digest, the last challenge (its nonce is reused until the server calls it stale). */
  readonly digest: DigestChallenge | undefined;
  /** For Digest, the last nonce count used with the challenge's nonce (0 before the first). */
  readonly nc: number;
  /**
   * For a `-sess` Digest algorithm, the client nonce of the first request with the challenge's
   * nonce: the session key is made from it, and later requests with that nonce send it again.
   * `undefined` before that request, and for other algorithms.
   */
  readonly cnonce: string | undefined;
}

/**
 * What is kept of one Digest nonce of a protection space, shared by every request that answers
 * with it (cached credentials and a URL's alike): a server that tracks the nonce count per nonce
 * refuses a count it saw before, whichever request sent it.
 */
export interface NonceState {
  /** The last nonce count drawn for the nonce (0 before the first). */
  nc: number;
  /** The highest nonce count sent with the nonce (0 before the first). */
  sent: number;
  /** For a `-sess` algorithm, the client nonce its session key is made with. */
  cnonce: string | undefined;
  /** The credentials a response accepted with the nonce, once one did. */
  accepted?: AuthCredentials;
}

interface Entry {
  space: ProtectionSpace;
  scheme: "basic" | "digest";
  credentials: AuthCredentials;
  digest: DigestChallenge | undefined;
  /** The state of `digest`'s nonce. */
  nonce: NonceState | undefined;
  /** Path prefixes (directories) of the origin known to be in the space. */
  paths: Set<string>;
  /** Whether the space challenged with Digest (see {@linkcode CredentialCache.markDigest}). */
  usedDigest: boolean;
}

/**
 * The credentials in a URL's userinfo (`http://user:pass@host/`), percent-decoded, or
 * `undefined` when the URL has none.
 *
 * @param url A URL.
 * @returns The credentials, or `undefined`.
 */
export function credentialsFromUrl(url: URL): AuthCredentials | undefined {
  if (url.username === "" && url.password === "") return undefined;
  const decode = (part: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  };
  return { username: decode(url.username), password: decode(url.password) };
}

/**
 * A copy of a URL without userinfo, for the request line and for anything that is shown.
 *
 * @param url A URL.
 * @returns The URL without user name and password.
 */
export function withoutCredentials(url: URL): URL {
  const copy = new URL(url.href);
  copy.username = "";
  copy.password = "";
  return copy;
}

/** The directory part of a path: everything up to and including the last `/`. */
export function directoryOf(pathname: string): string {
  const slash = pathname.lastIndexOf("/");
  return slash < 0 ? "/" : pathname.slice(0, slash + 1);
}

function spaceKey(space: ProtectionSpace): string {
  return JSON.stringify([space.proxy ? "proxy" : "server", space.origin, space.realm]);
}

function validateSpace(space: ProtectionSpace): ProtectionSpace {
  if (typeof space?.origin !== "string" || typeof space.realm !== "string") {
    throw new TypeError(
      "Cannot use credential cache: a protection space needs an 'origin' and a 'realm' string",
    );
  }
  return { origin: space.origin, realm: space.realm, proxy: space.proxy === true };
}

function snapshot(entry: Entry): CachedCredentials {
  return {
    space: { ...entry.space },
    scheme: entry.scheme,
    credentials: { ...entry.credentials },
    digest: entry.digest,
    nc: entry.nonce?.nc ?? 0,
    cnonce: entry.nonce?.cnonce,
  };
}

/**
 * Credentials by protection space (origin + realm; proxy spaces apart from server spaces),
 * with the last Digest challenge and nonce count, and the paths known to be in each space
 * so that a later request can authenticate pre-emptively (RFC 7617 section 2.2: a path at or
 * below the directory of an authenticated one). The oldest spaces are evicted past a bound.
 */
export class CredentialCache {
  readonly #entries = new Map<string, Entry>();
  /** The states of the Digest nonces in use, by space and nonce; the least recently used go. */
  readonly #nonces = new Map<string, NonceState>();
  readonly #maxEntries: number;
  /** How many server spaces each origin has, and how many proxy spaces there are. */
  readonly #serverOrigins = new Map<string, number>();
  #proxySpaces = 0;
  /**
   * The spaces without cached credentials that challenged with Digest, the least recently
   * marked first; past the bound the oldest go. A space with cached credentials keeps its mark
   * in its entry, so that its Basic credentials are never sent up front for as long as they are
   * cached; the mark comes back here when the entry goes.
   */
  readonly #digestSpaces = new Set<string>();

  /**
   * Creates an empty cache.
   *
   * @param maxEntries How many protection spaces to keep; the least recently used go first.
   * @throws {TypeError} When `maxEntries` is not a number.
   * @throws {RangeError} When `maxEntries` is a number that is not a positive integer.
   */
  constructor(maxEntries = 256) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw numberError(
        "Cannot create credential cache",
        "maxEntries",
        maxEntries,
        "a positive integer",
      );
    }
    this.#maxEntries = maxEntries;
  }

  /** How many protection spaces the cache holds. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Whether the cache may hold credentials to send with a request to `url`: a server space of
   * its origin, or, for a plain-http request (which may go through an http proxy), any proxy
   * space. When not, the request has nothing to send up front.
   *
   * @param url The request URL.
   * @returns Whether {@linkcode forUrl} or {@linkcode forProxy} may answer for it.
   */
  mayAnswer(url: URL): boolean {
    if (this.#entries.size === 0) return false;
    return (this.#proxySpaces > 0 && url.protocol === "http:") ||
      this.#serverOrigins.has(url.origin);
  }

  #count(space: ProtectionSpace, delta: 1 | -1): void {
    if (space.proxy) {
      this.#proxySpaces += delta;
      return;
    }
    const count = (this.#serverOrigins.get(space.origin) ?? 0) + delta;
    if (count > 0) this.#serverOrigins.set(space.origin, count);
    else this.#serverOrigins.delete(space.origin);
  }

  /** Removes a space's entry; its Digest mark stays, unless `keepMark` is false. */
  #remove(key: string, keepMark = true): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    this.#entries.delete(key);
    this.#count(entry.space, -1);
    if (entry.usedDigest && keepMark) this.#markUncached(key);
    return true;
  }

  #markUncached(key: string): void {
    this.#digestSpaces.delete(key);
    this.#digestSpaces.add(key);
    if (this.#digestSpaces.size > this.#maxEntries) {
      this.#digestSpaces.delete(this.#digestSpaces.keys().next().value!);
    }
  }

  /**
   * Marks a protection space as one that challenged with Digest: a Basic challenge of it is
   * then a downgrade, and its Basic credentials are not sent up front. The mark stays while the
   * space has cached credentials; of the spaces without, the most recently marked keep it, as
   * many as the cache holds spaces.
   *
   * @param space The protection space.
   */
  markDigest(space: ProtectionSpace): void {
    const key = spaceKey(validateSpace(space));
    const entry = this.#entries.get(key);
    if (entry !== undefined) entry.usedDigest = true;
    else this.#markUncached(key);
  }

  /**
   * Whether a protection space is marked as one that challenged with Digest
   * ({@linkcode CredentialCache.markDigest}).
   *
   * @param space The protection space.
   * @returns Whether it is marked.
   */
  usedDigest(space: ProtectionSpace): boolean {
    if (this.#entries.size === 0 && this.#digestSpaces.size === 0) return false;
    const key = spaceKey(validateSpace(space));
    return this.#entries.get(key)?.usedDigest ?? this.#digestSpaces.has(key);
  }

  /** How many protection spaces are marked as ones that challenged with Digest. */
  get digestSpaces(): number {
    let cached = 0;
    for (const entry of this.#entries.values()) if (entry.usedDigest) cached++;
    return cached + this.#digestSpaces.size;
  }

  /**
   * Records credentials that a server (or proxy) accepted, or that are about to be sent, for a
   * protection space. With a `url`, the directory of its path joins the space's paths; a
   * Digest challenge's `domain` URIs of the same origin join too. The nonce count and `-sess`
   * session are those of the nonce ({@linkcode CredentialCache.nonceState}): a new nonce starts
   * them, the same nonce keeps them; `value.nc` raises the count to at least that, and
   * `value.cnonce` sets the session's client nonce.
   *
   * @param space The protection space.
   * @param value The scheme, credentials and, for Digest, the challenge, the nonce count
   * already used with its nonce and, for a `-sess` algorithm, the client nonce its session key
   * was made with.
   * @param url The URL that was (or is being) authenticated.
   * @returns The cached state.
   */
  store(
    space: ProtectionSpace,
    value: {
      scheme: "basic" | "digest";
      credentials: AuthCredentials;
      digest?: DigestChallenge | undefined;
      nc?: number;
      cnonce?: string | undefined;
    },
    url?: URL,
  ): CachedCredentials {
    const valid = validateSpace(space);
    const key = spaceKey(valid);
    const previous = this.#entries.get(key);
    const nonce = value.digest === undefined ? undefined : this.nonceState(valid, value.digest);
    if (nonce !== undefined) {
      nonce.nc = Math.max(nonce.nc, value.nc ?? 0);
      if (value.cnonce !== undefined) nonce.cnonce = value.cnonce;
    }
    this.#remove(key, false);
    const entry: Entry = {
      space: valid,
      scheme: value.scheme,
      credentials: { username: value.credentials.username, password: value.credentials.password },
      digest: value.digest,
      nonce,
      paths: previous?.paths ?? new Set(),
      // The space's Digest mark moves into the entry (the previous one's, or one without).
      usedDigest: this.#digestSpaces.delete(key) || previous?.usedDigest === true ||
        value.scheme === "digest",
    };
    if (url !== undefined && url.origin === valid.origin) {
      entry.paths.add(directoryOf(url.pathname));
    }
    for (const uri of value.digest?.domain ?? []) {
      try {
        const resolved = new URL(uri, valid.origin);
        if (resolved.origin === valid.origin) entry.paths.add(directoryOf(resolved.pathname));
      } catch {
        // A domain entry that is not a URI is ignored.
      }
    }
    this.#entries.set(key, entry);
    this.#count(valid, 1);
    while (this.#entries.size > this.#maxEntries) {
      this.#remove(this.#entries.keys().next().value!);
    }
    return snapshot(entry);
  }

  /**
   * Returns what the cache holds for a protection space.
   *
   * @param space The protection space.
   * @returns The cached state, or `undefined`.
   */
  get(space: ProtectionSpace): CachedCredentials | undefined {
    const entry = this.#entries.get(spaceKey(validateSpace(space)));
    return entry === undefined ? undefined : snapshot(entry);
  }

  /**
   * Finds the server credentials to send pre-emptively with a request: those of a space of
   * the URL's origin whose paths include a prefix of the URL's path (the longest prefix wins;
   * between spaces with equally long ones, the most recently stored). Never another origin's.
   *
   * @param url The request URL.
   * @returns The cached state, or `undefined`.
   */
  forUrl(url: URL): CachedCredentials | undefined {
    let best: Entry | undefined;
    let bestLength = -1;
    for (const entry of this.#entries.values()) {
      if (entry.space.proxy || entry.space.origin !== url.origin) continue;
      for (const path of entry.paths) {
        // Entries are in the order they were stored: a later one wins a tie.
        if (path.length >= bestLength && url.pathname.startsWith(path)) {
          best = entry;
          bestLength = path.length;
        }
      }
    }
    return best === undefined ? undefined : snapshot(best);
  }

  /**
   * Finds the credentials to send pre-emptively to a proxy: the most recently stored space
   * of that proxy's origin.
   *
   * @param proxyOrigin The proxy's origin, such as `http://proxy.example:3128`.
   * @returns The cached state, or `undefined`.
   */
  forProxy(proxyOrigin: string): CachedCredentials | undefined {
    let found: Entry | undefined;
    for (const entry of this.#entries.values()) {
      if (entry.space.proxy && entry.space.origin === proxyOrigin) found = entry;
    }
    return found === undefined ? undefined : snapshot(found);
  }

  /**
   * Counts one more use of the space's Digest nonce and returns the count to send.
   *
   * @param space The protection space.
   * @returns The nonce count for the next request (1 for the first use of a nonce).
   * @throws {RangeError} When the space holds no Digest challenge.
   */
  nextNonceCount(space: ProtectionSpace): number {
    const entry = this.#entries.get(spaceKey(validateSpace(space)));
    if (entry?.digest === undefined) {
      throw new RangeError(
        `Cannot count nonce: no Digest challenge cached for realm '${space.realm}' of ${space.origin}`,
      );
    }
    entry.nonce ??= this.nonceState(entry.space, entry.digest);
    return ++entry.nonce.nc;
  }

  /**
   * The client nonce to send with the space's Digest nonce when its algorithm is a `-sess` one:
   * drawn on the first call after a new nonce, the same one on every later call with that
   * nonce, so that the session key (RFC 7616 section 3.4.2) stays the one the first request
   * made (why it is sent again: `digestAuthorization` in digest.ts).
   *
   * @param space The protection space.
   * @returns The client nonce, or `undefined` for an algorithm without a session (a fresh
   * client nonce goes with each request).
   * @throws {RangeError} When the space holds no Digest challenge.
   */
  sessionCnonce(space: ProtectionSpace): string | undefined {
    const entry = this.#entries.get(spaceKey(validateSpace(space)));
    if (entry?.digest === undefined) {
      throw new RangeError(
        `Cannot make Digest session: no Digest challenge cached for realm '${space.realm}' of ${space.origin}`,
      );
    }
    if (!entry.digest.algorithm.endsWith("-sess")) return undefined;
    entry.nonce ??= this.nonceState(entry.space, entry.digest);
    return entry.nonce.cnonce ??= newCnonce();
  }

  /**
   * Replaces the space's Digest challenge (after `stale=true`, or a `nextnonce`), keeping the
   * credentials; a new nonce restarts the nonce count and the `-sess` session.
   *
   * @param space The protection space.
   * @param digest The new challenge.
   * @returns Whether the space was in the cache.
   */
  updateDigest(space: ProtectionSpace, digest: DigestChallenge): boolean {
    const entry = this.#entries.get(spaceKey(validateSpace(space)));
    if (entry === undefined) return false;
    entry.digest = digest;
    entry.nonce = this.nonceState(entry.space, digest);
    return true;
  }

  /**
   * The state of a Digest nonce of a protection space (its nonce count, the highest count sent,
   * its `-sess` client nonce), one object for every request that answers with that nonce; made
   * at the first call for the nonce.
   *
   * @param space The protection space.
   * @param digest The challenge whose nonce it is.
   * @returns The nonce's state, to count in.
   */
  nonceState(space: ProtectionSpace, digest: DigestChallenge): NonceState {
    const key = `${spaceKey(validateSpace(space))}\n${digest.nonce}`;
    let state = this.#nonces.get(key);
    if (state !== undefined) this.#nonces.delete(key);
    else state = { nc: 0, sent: 0, cnonce: undefined };
    this.#nonces.set(key, state);
    while (this.#nonces.size > this.#maxEntries * 2) {
      this.#nonces.delete(this.#nonces.keys().next().value!);
    }
    return state;
  }

  /**
   * Forgets a protection space (after its credentials were refused).
   *
   * @param space The protection space.
   * @returns Whether it was in the cache.
   */
  delete(space: ProtectionSpace): boolean {
    const key = spaceKey(validateSpace(space));
    // The space's nonces keep their counts (the server may still know them), not the credentials.
    for (const [nonceKey, state] of this.#nonces) {
      if (nonceKey.startsWith(`${key}\n`)) state.accepted = undefined;
    }
    return this.#remove(key);
  }

  /** Forgets every protection space, and which ones challenged with Digest. */
  clear(): void {
    this.#entries.clear();
    this.#digestSpaces.clear();
    this.#nonces.clear();
    this.#serverOrigins.clear();
    this.#proxySpaces = 0;
  }
}
