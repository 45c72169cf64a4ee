/**
 * HTTP Digest authentication (RFC 7616, and RFC 2069 servers without `qop`): reading a
 * Digest challenge and computing the `Authorization` header that answers it.
 *
 * A `-sess` algorithm (MD5-sess, SHA-256-sess, SHA-512-256-sess) has a session key,
 * `H(A1) = H(H(user:realm:password):nonce:cnonce)`, that RFC 7616 section 3.4.2 (and RFC 2617
 * section 3.2.2.2) computes once, with the nonce of a challenge and the cnonce of the first
 * request answering it; later requests with that nonce reuse the key, and a server such as
 * Apache's mod_auth_digest keeps the key it computed then. The client keeps that first cnonce
 * per protection space and nonce and sends it again with every later request using the nonce,
 * with the next nonce count, as curl does: the key each request's answer is made with is then
 * the session key whether the server kept it or computes it again from the cnonce it is sent,
 * and whichever of several concurrent first requests reaches the server first. Each answer
 * still differs from the last by its nonce count (RFC 7616 section 3.4: a server detects a
 * replay by its count), which the RFC requires, not a new cnonce. A new nonce (a `stale=true`
 * or any new challenge) starts a new session with a new cnonce. Algorithms without `-sess`
 * send a fresh cnonce with each request.
 *
 * @module
 */

import type { AuthChallenge } from "./auth_challenge.ts";
import type { AuthCredentials } from "./auth_credentials.ts";
import { numberError } from "../_validation.ts";

/**
 * `node:crypto` (MD5 and SHA-512/256 are not in WebCrypto), imported on first use: importing it
 * starts Deno's Node compatibility layer, which a program that never meets Digest should not pay.
 */
let nodeCrypto: typeof import("node:crypto") | undefined;

/** Loads what Digest hashing needs; call (and await) before {@linkcode digestAuthorization}. */
export async function loadDigest(): Promise<void> {
  nodeCrypto ??= await import("node:crypto");
}

/** The Digest algorithms this client computes, with their canonical names. */
export type DigestAlgorithm =
  | "MD5"
  | "MD5-sess"
  | "SHA-256"
  | "SHA-256-sess"
  | "SHA-512-256"
  | "SHA-512-256-sess";

/** The algorithms this client answers, by their lower-case names. */
const ALGORITHMS: ReadonlyMap<string, { name: DigestAlgorithm; hash: string; strength: number }> =
  new Map([
    ["md5", { name: "MD5", hash: "md5", strength: 1 }],
    ["md5-sess", { name: "MD5-sess", hash: "md5", strength: 1 }],
    ["sha-256", { name: "SHA-256", hash: "sha256", strength: 2 }],
    ["sha-256-sess", { name: "SHA-256-sess", hash: "sha256", strength: 2 }],
    ["sha-512-256", { name: "SHA-512-256", hash: "sha512-256", strength: 3 }],
    ["sha-512-256-sess", { name: "SHA-512-256-sess", hash: "sha512-256", strength: 3 }],
  ]);

/** A Digest challenge this client can answer, with the choices it made. */
export interface DigestChallenge {
  /** The protection space's realm. */
  realm: string;
  /** The server's nonce. */
  nonce: string;
  /** The opaque string to echo, when the server sent one. */
  opaque: string | undefined;
  /** The algorithm, canonical name; `MD5` when the server named none. */
  algorithm: DigestAlgorithm;
  /** Whether the server named the algorithm (it is echoed only then). */
  algorithmGiven: boolean;
  /**
   * The quality of protection used: `"auth"` when offered, else `"auth-int"` (the request's
   * body is digested too), or undefined for an RFC 2069 server.
   */
  qop: "auth" | "auth-int" | undefined;
  /** Whether the server said the previous nonce was stale (retry without asking again). */
  stale: boolean;
  /** Whether the server supports a hashed user name. */
  userhash: boolean;
  /** The URIs the server listed in `domain` (the protection space), as given. */
  domain: string[];
}

/** A Digest challenge's strength, for choosing among several: higher is better. */
export function digestStrength(challenge: DigestChallenge): number {
  return ALGORITHMS.get(challenge.algorithm.toLowerCase())?.strength ?? 0;
}

/**
 * Reads a Digest challenge, or returns `null` when it cannot be answered: no `realm` or
 * `nonce`, an unknown algorithm, a `qop` list with neither `auth` nor `auth-int`, or a
 * `-sess` algorithm without `qop`. Of `auth` and `auth-int`, `auth` is chosen when offered.
 *
 * @param challenge A parsed challenge.
 * @returns The Digest challenge, or `null`.
 */
export function parseDigestChallenge(challenge: AuthChallenge): DigestChallenge | null {
  if (challenge.scheme !== "digest") return null;
  const { params } = challenge;
  const realm = params.realm;
  const nonce = params.nonce;
  if (realm === undefined || nonce === undefined) return null;
  const algorithmName = params.algorithm;
  const algorithm = ALGORITHMS.get((algorithmName ?? "MD5").toLowerCase());
  if (algorithm === undefined) return null;
  let qop: "auth" | "auth-int" | undefined;
  if (params.qop !== undefined) {
    const offered = params.qop.split(",").map((q) => q.trim().toLowerCase());
    if (offered.includes("auth")) qop = "auth";
    else if (offered.includes("auth-int")) qop = "auth-int";
    else return null;
  }
  if (qop === undefined && algorithm.name.endsWith("-sess")) return null;
  return {
    realm,
    nonce,
    opaque: params.opaque,
    algorithm: algorithm.name,
    algorithmGiven: algorithmName !== undefined,
    qop,
    stale: params.stale?.toLowerCase() === "true",
    userhash: params.userhash?.toLowerCase() === "true",
    domain: params.domain?.split(/[ \t]+/).filter((uri) => uri !== "") ?? [],
  };
}

/**
 * Tells whether a challenge is a Digest challenge saying the nonce was stale: the credentials
 * were right, and the request may be retried with the new nonce without asking for them.
 *
 * @param challenge A parsed challenge.
 * @returns Whether it carries `stale=true`.
 */
export function isStale(challenge: AuthChallenge): boolean {
  return challenge.scheme === "digest" && challenge.params.stale?.toLowerCase() === "true";
}

/** A fresh client nonce: 16 random bytes, hex. */
export function newCnonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The 8 hex digits of a nonce count. */
export function formatNonceCount(nc: number): string {
  return nc.toString(16).padStart(8, "0");
}

/** What {@linkcode digestResponse} and {@linkcode digestAuthorization} need. */
export interface DigestInput {
  /** The challenge being answered. */
  challenge: DigestChallenge;
  /** The user's credentials. */
  credentials: AuthCredentials;
  /** The request method. */
  method: string;
  /**
   * The request target in origin-form: the path and query, also when the request line to an
   * http proxy is in absolute-form (as curl sends it).
   */
  uri: string;
  /** How many requests used this nonce, this one included (from 1). */
  nc: number;
  /**
   * The client nonce; a fresh one when absent. For a `-sess` algorithm it makes the session
   * key: pass the cnonce of the first request with this nonce on every later one.
   */
  cnonce?: string;
  /** The request's body as sent (empty for none): required for `qop=auth-int`. */
  body?: Uint8Array;
}

function hashWith(algorithm: DigestAlgorithm): (text: string | Uint8Array) => string {
  const name = ALGORITHMS.get(algorithm.toLowerCase())!.hash;
  if (nodeCrypto === undefined) throw new TypeError("Digest hashing used before loadDigest()");
  const crypto = nodeCrypto;
  return (data) =>
    typeof data === "string"
      ? crypto.createHash(name).update(data, "utf8").digest("hex")
      : crypto.createHash(name).update(data).digest("hex");
}

/**
 * Computes the `response` value of a Digest answer (RFC 7616 section 3.4.1).
 *
 * @param input The challenge, credentials, request and counters; `cnonce` is required when
 * the challenge has a `qop`, `body` when it is `auth-int`.
 * @returns The lower-case hex response.
 * @throws {TypeError} When the qop is `auth-int` and no `body` is given.
 */
export function digestResponse(input: DigestInput & { cnonce: string }): string {
  const { challenge, credentials, method, uri, nc, cnonce } = input;
  const h = hashWith(challenge.algorithm);
  let ha1 = h(`${credentials.username}:${challenge.realm}:${credentials.password}`);
  if (challenge.algorithm.endsWith("-sess")) ha1 = h(`${ha1}:${challenge.nonce}:${cnonce}`);
  let a2 = `${method}:${uri}`;
  if (challenge.qop === "auth-int") {
    if (input.body === undefined) {
      throw new TypeError("Cannot answer Digest challenge: qop=auth-int needs the 'body'");
    }
    a2 += `:${h(input.body)}`;
  }
  const ha2 = h(a2);
  if (challenge.qop === undefined) return h(`${ha1}:${challenge.nonce}:${ha2}`);
  return h(`${ha1}:${challenge.nonce}:${formatNonceCount(nc)}:${cnonce}:${challenge.qop}:${ha2}`);
}

function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, "\\$&")}"`;
}

/** Whether a user name can go in a quoted string as is (printable ASCII). */
function isPlainAscii(value: string): boolean {
  return /^[\x20-\x7e]*$/.test(value);
}

/** RFC 8187 ext-value: `UTF-8''` and the percent-encoded bytes outside attr-char. */
function extValue(value: string): string {
  const bytes = new TextEncoder().encode(value);
  let out = "UTF-8''";
  for (const byte of bytes) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9!#$&+\-.^_`|~]/.test(c) && byte < 0x80
      ? c
      : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * Builds the `Authorization` (or `Proxy-Authorization`) value answering a Digest challenge:
 * the user name (hashed when the server supports `userhash`, or as `username*` when it is not
 * printable ASCII), realm, uri, algorithm (when the server named one), nonce, and with `qop`
 * the nonce count, client nonce and qop; the response; and the opaque value echoed. For a
 * `-sess` algorithm the caller keeps the session: it passes the `cnonce` of the first request
 * with the challenge's nonce on every later one (see the module doc).
 *
 * @param input The challenge, credentials, request and nonce count (and the body for
 * `qop=auth-int`).
 * @returns The header value, starting with `Digest `.
 * @throws {TypeError} When the nonce count is not a number, or the qop is `auth-int` and no
 * `body` is given.
 * @throws {RangeError} When the nonce count is a number that is not an integer from 1 to 2^32 - 1.
 */
export function digestAuthorization(input: DigestInput): string {
  const { challenge, credentials, uri, nc } = input;
  if (!Number.isInteger(nc) || nc < 1 || nc > 0xffffffff) {
    throw numberError("Cannot answer Digest challenge", "nc", nc, "an integer from 1 to 2^32 - 1");
  }
  const cnonce = input.cnonce ?? newCnonce();
  const response = digestResponse({ ...input, cnonce });
  const parts: string[] = [];
  if (challenge.userhash) {
    const h = hashWith(challenge.algorithm);
    parts.push(`username=${quote(h(`${credentials.username}:${challenge.realm}`))}`);
  } else if (isPlainAscii(credentials.username)) {
    parts.push(`username=${quote(credentials.username)}`);
  } else {
    parts.push(`username*=${extValue(credentials.username)}`);
  }
  parts.push(`realm=${quote(challenge.realm)}`, `uri=${quote(uri)}`);
  if (challenge.algorithmGiven) parts.push(`algorithm=${challenge.algorithm}`);
  parts.push(`nonce=${quote(challenge.nonce)}`);
  if (challenge.qop !== undefined) {
    parts.push(`nc=${formatNonceCount(nc)}`, `cnonce=${quote(cnonce)}`, `qop=${challenge.qop}`);
  }
  parts.push(`response=${quote(response)}`);
  if (challenge.opaque !== undefined) parts.push(`opaque=${quote(challenge.opaque)}`);
  if (challenge.userhash) parts.push("userhash=true");
  return `Digest ${parts.join(", ")}`;
}
