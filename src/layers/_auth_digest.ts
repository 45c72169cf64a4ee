/**
 * The Digest side of the authentication layer: the credentials a request answers a protection
 * space with, the header values made from them with the counts of their nonce, and what the
 * server says back in `Authentication-Info` (`nextnonce`, `rspauth`).
 *
 * @module
 */

import { parseAuthParams } from "../auth/challenge.ts";
import type {
  AuthCredentials,
  CredentialCache,
  NonceState,
  ProtectionSpace,
} from "../auth/credential_cache.ts";
import {
  digestAuthorization,
  type DigestChallenge,
  digestResponse,
  newCnonce,
} from "../auth/digest.ts";

/** Credentials about to be sent (or sent) for one protection space. */
export interface Answer {
  space: ProtectionSpace;
  scheme: "basic" | "digest";
  credentials: AuthCredentials;
  /**
   * For credentials the cache does not hold yet (a URL's, until they work): the Digest
   * challenge they answer. Cached credentials have none.
   */
  pending?: { digest: DigestChallenge | undefined };
  /**
   * For cached credentials, the Digest challenge this request was given, answered instead of
   * the one the cache holds (which another request may have replaced meanwhile).
   */
  own?: DigestChallenge | undefined;
}

/**
 * A Digest header value made for one attempt, with what it was made from: sent as it is when
 * its nonce count is above every count already sent with its nonce, else made again with a new
 * count (see {@linkcode sendDigest}).
 */
export interface DigestStamp {
  value: string;
  nc: number;
  sent: boolean;
  readonly state: NonceState;
  readonly digest: DigestChallenge;
  readonly credentials: AuthCredentials;
  readonly method: string;
  readonly uri: string;
  /** The client nonce sent: a `-sess` session's own, else a fresh one for each value made. */
  cnonce: string;
  readonly body: Uint8Array | undefined;
}

/** The Digest challenge `answer` answers: its own, or its space's cached one. */
export function digestOf(cache: CredentialCache, answer: Answer): DigestChallenge | undefined {
  return answer.pending === undefined
    ? answer.own ?? cache.get(answer.space)?.digest
    : answer.pending.digest;
}

/**
 * The Digest header value answering with `answer`, drawing the next count of its nonce; `body`
 * is the request's body as sent, for `qop=auth-int`. It goes to the network through
 * {@linkcode sendDigest}.
 *
 * @throws {RangeError} When no Digest challenge is known for `answer` (its space went away), or
 * `qop=auth-int` and `body` is not known.
 */
export function stampDigest(
  cache: CredentialCache,
  answer: Answer,
  method: string,
  uri: string,
  body: Uint8Array | undefined,
): DigestStamp {
  const digest = digestOf(cache, answer);
  if (digest === undefined) throw new RangeError("no Digest challenge cached");
  if (digest.qop === "auth-int" && body === undefined) {
    throw new RangeError("the body for qop=auth-int is not known");
  }
  // One count per nonce, whichever request (cached credentials or a URL's) uses it. A `-sess`
  // session key is made with the first cnonce of the nonce; later requests send that cnonce
  // again (see digest.ts). Other algorithms draw a fresh one each time.
  const state = cache.nonceState(answer.space, digest);
  const cnonce = digest.algorithm.endsWith("-sess") ? state.cnonce ??= newCnonce() : newCnonce();
  const { credentials } = answer;
  const nc = ++state.nc;
  const value = digestAuthorization({
    challenge: digest,
    credentials,
    method,
    uri,
    nc,
    cnonce,
    body,
  });
  return { value, nc, sent: false, state, digest, credentials, method, uri, cnonce, body };
}

/**
 * The Digest header value to send now: the stamp's own when its count is above every count
 * sent with its nonce, else (another request with a later count went first, or the stamp was
 * sent before and this is a retry) one made with a new count. The counts a nonce is sent with
 * thus never repeat and rise in the order the requests go to the network, however the queue
 * and the retries order them.
 */
export function sendDigest(stamp: DigestStamp): string {
  const { state } = stamp;
  if (stamp.sent || stamp.nc <= state.sent) {
    stamp.nc = ++state.nc;
    if (!stamp.digest.algorithm.endsWith("-sess")) stamp.cnonce = newCnonce();
    stamp.value = digestAuthorization({
      challenge: stamp.digest,
      credentials: stamp.credentials,
      method: stamp.method,
      uri: stamp.uri,
      nc: stamp.nc,
      cnonce: stamp.cnonce,
      body: stamp.body,
    });
  }
  stamp.sent = true;
  state.sent = stamp.nc;
  return stamp.value;
}

/**
 * Takes the `nextnonce` of an `Authentication-Info` (or `Proxy-Authentication-Info`) value
 * (RFC 7616 section 3.5) for the next requests of the space `stamp` answered, unless they
 * moved on to another nonce meanwhile: the server wants it used, and may call the old one
 * stale.
 */
export function takeNextNonce(
  cache: CredentialCache,
  answer: Answer,
  stamp: DigestStamp,
  info: string | null,
): void {
  if (info === null) return;
  const nonce = parseAuthParams(info).nextnonce;
  const used = stamp.digest;
  if (nonce === undefined || nonce === "" || nonce === used.nonce) return;
  const digest: DigestChallenge = { ...used, nonce, stale: false };
  const pending = answer.pending;
  if (pending !== undefined) {
    if (pending.digest?.nonce === used.nonce) pending.digest = digest;
  } else if (cache.get(answer.space)?.digest?.nonce === used.nonce) {
    cache.updateDigest(answer.space, digest);
  }
}

/**
 * Checks the `rspauth` of an `Authentication-Info` (or `Proxy-Authentication-Info`) value
 * (RFC 7616 section 3.5) against the Digest answer `stamp` last sent: the response digest made
 * with the same credentials, nonce, count and client nonce, and an empty method (A2 is
 * `":" uri`), which only a server that knows the password can make.
 *
 * @returns Whether the value is acceptable: it has no `rspauth`, or one that matches, or the
 * answer's qop is not `auth` (`auth-int` digests the response body, which is not read here).
 */
export function rspauthMatches(stamp: DigestStamp, info: string): boolean {
  const rspauth = parseAuthParams(info).rspauth;
  if (rspauth === undefined || stamp.digest.qop !== "auth") return true;
  const expected = digestResponse({
    challenge: stamp.digest,
    credentials: stamp.credentials,
    method: "",
    uri: stamp.uri,
    nc: stamp.nc,
    cnonce: stamp.cnonce,
  });
  return rspauth.toLowerCase() === expected;
}
