/**
 * Authentication challenges: the parser of `WWW-Authenticate` and `Proxy-Authenticate`
 * (RFC 9110 section 11) and the choice of the challenge to answer.
 *
 * @module
 */

import { type DigestChallenge, digestStrength, parseDigestChallenge } from "./digest.ts";
import { TCHAR } from "../_http_token.ts";
import type { AuthChallenge } from "./auth_challenge.ts";

export type { AuthChallenge };

const TOKEN68_CHAR = /[A-Za-z0-9\-._~+/]/;

class Scanner {
  i = 0;
  constructor(readonly s: string) {}
  get done(): boolean {
    return this.i >= this.s.length;
  }
  peek(): string | undefined {
    return this.s[this.i];
  }
  skipOws(): void {
    while (this.peek() === " " || this.peek() === "\t") this.i++;
  }
  /**
   * Moves to the start of the next list element, past whitespace and empty elements (RFC 9110
   * section 5.6.1); false at the end of the list.
   */
  nextElement(): boolean {
    for (;;) {
      this.skipOws();
      if (this.peek() !== ",") return !this.done;
      this.i++;
    }
  }
  token(): string {
    const start = this.i;
    while (!this.done && TCHAR.test(this.s[this.i]!)) this.i++;
    return this.s.slice(start, this.i);
  }
  /** A quoted-string's unescaped content, or undefined (position unchanged) when malformed. */
  quoted(): string | undefined {
    const start = this.i;
    if (this.peek() !== '"') return undefined;
    this.i++;
    let text = "";
    while (!this.done) {
      const c = this.s[this.i]!;
      if (c === "\\") {
        if (this.i + 1 >= this.s.length) break;
        text += this.s[this.i + 1];
        this.i += 2;
      } else if (c === '"') {
        this.i++;
        return text;
      } else {
        text += c;
        this.i++;
      }
    }
    this.i = start;
    return undefined;
  }
  /** Whether only OWS remains before the end of the list element (a comma or the end). */
  atElementEnd(): boolean {
    const save = this.i;
    this.skipOws();
    const end = this.done || this.peek() === ",";
    this.i = save;
    return end;
  }
  /** Skips to the next comma outside a quoted string (or to the end). */
  skipElement(): void {
    let quoted = false;
    while (!this.done) {
      const c = this.s[this.i]!;
      if (quoted && c === "\\") this.i++;
      else if (c === '"') quoted = !quoted;
      else if (c === "," && !quoted) return;
      this.i++;
    }
  }
}

/**
 * Tries to read `name BWS "=" BWS ( token / quoted-string )` followed by the end of a list
 * element; returns it, or undefined with the position unchanged.
 */
function readParam(scanner: Scanner): [string, string] | undefined {
  const start = scanner.i;
  const name = scanner.token();
  if (name !== "") {
    scanner.skipOws();
    if (scanner.peek() === "=") {
      scanner.i++;
      scanner.skipOws();
      const value = scanner.peek() === '"' ? scanner.quoted() : scanner.token() || undefined;
      if (value !== undefined && scanner.atElementEnd()) return [name.toLowerCase(), value];
    }
  }
  scanner.i = start;
  return undefined;
}

/** Tries to read a token68 followed by the end of a list element. */
function readToken68(scanner: Scanner): string | undefined {
  const start = scanner.i;
  while (!scanner.done && TOKEN68_CHAR.test(scanner.peek()!)) scanner.i++;
  if (scanner.i === start) return undefined;
  while (scanner.peek() === "=") scanner.i++;
  if (scanner.atElementEnd()) return scanner.s.slice(start, scanner.i);
  scanner.i = start;
  return undefined;
}

/** Whether the scanner stands at `token BWS "="`: an auth-param rather than a new challenge. */
function atParam(scanner: Scanner): boolean {
  const save = scanner.i;
  const name = scanner.token();
  scanner.skipOws();
  const result = name !== "" && scanner.peek() === "=";
  scanner.i = save;
  return result;
}

function makeChallenge(
  scheme: string,
  params: Record<string, string>,
  token68: string | undefined,
): AuthChallenge {
  const challenge: AuthChallenge = { scheme: scheme.toLowerCase(), realm: params.realm, params };
  if (token68 !== undefined) challenge.token68 = token68;
  return challenge;
}

/**
 * Parses the value of a `WWW-Authenticate` or `Proxy-Authenticate` header (RFC 9110 section
 * 11): a comma-separated list of challenges, each a scheme followed by a token68 or by
 * auth-params (`name=token` or `name="quoted \"string\""`). Several header fields joined with
 * commas (as `Headers.get` returns them) parse as one list. Malformed parts are skipped;
 * of a parameter given twice, the first counts.
 *
 * @param value The header value.
 * @returns The challenges, in order.
 */
export function parseChallenges(value: string): AuthChallenge[] {
  const challenges: AuthChallenge[] = [];
  const scanner = new Scanner(value);
  let current: { scheme: string; params: Record<string, string>; token68?: string } | undefined;
  const flush = () => {
    if (current !== undefined) {
      challenges.push(makeChallenge(current.scheme, current.params, current.token68));
    }
    current = undefined;
  };
  while (scanner.nextElement()) {
    // Inside a challenge with auth-params, an element of the form `name=value` is one more
    // param of it; anything else starts a new challenge.
    if (current !== undefined && current.token68 === undefined && atParam(scanner)) {
      const param = readParam(scanner);
      if (param === undefined) scanner.skipElement();
      else if (!(param[0] in current.params)) current.params[param[0]] = param[1];
      continue;
    }
    flush();
    const scheme = scanner.token();
    if (scheme === "") {
      scanner.skipElement();
      continue;
    }
    current = { scheme, params: Object.create(null) as Record<string, string> };
    if (scanner.atElementEnd()) continue;
    if (scanner.peek() !== " " && scanner.peek() !== "\t") {
      current = undefined;
      scanner.skipElement();
      continue;
    }
    scanner.skipOws();
    const param = readParam(scanner);
    if (param !== undefined) {
      current.params[param[0]] = param[1];
      continue;
    }
    const token68 = readToken68(scanner);
    if (token68 !== undefined) {
      current.token68 = token68;
      continue;
    }
    scanner.skipElement();
  }
  flush();
  return challenges;
}

/**
 * Parses a comma-separated list of auth-params (`name=token` or `name="quoted \"string\""`), as
 * `Authentication-Info` and `Proxy-Authentication-Info` carry them (RFC 9110 section 11.6.3).
 * Malformed elements are skipped; of a parameter given twice, the first counts.
 *
 * @param value The header value.
 * @returns The parameters by lower-case name, quoted strings unescaped.
 */
export function parseAuthParams(value: string): Record<string, string> {
  const params = Object.create(null) as Record<string, string>;
  const scanner = new Scanner(value);
  while (scanner.nextElement()) {
    const param = readParam(scanner);
    if (param === undefined) scanner.skipElement();
    else if (!(param[0] in params)) params[param[0]] = param[1];
  }
  return params;
}

/**
 * Reads the challenges of a response: `WWW-Authenticate` for a 401, or `Proxy-Authenticate`
 * for a 407 (`proxy` true).
 *
 * @param headers The response headers.
 * @param proxy Whether to read the proxy's challenges.
 * @returns The challenges, in order; empty when the header is absent.
 */
export function challengesFromHeaders(headers: Headers, proxy: boolean): AuthChallenge[] {
  const value = headers.get(proxy ? "proxy-authenticate" : "www-authenticate");
  return value === null ? [] : parseChallenges(value);
}

/** The challenge a client answers, with its Digest reading when it is a Digest challenge. */
export type SelectedChallenge =
  | { scheme: "digest"; challenge: AuthChallenge; digest: DigestChallenge }
  | { scheme: "basic"; challenge: AuthChallenge };

/**
 * Chooses the challenge to answer among those a server offered: the Digest challenge with the
 * strongest algorithm this client supports (SHA-512-256, then SHA-256, then MD5; the first
 * of equals), else the first Basic challenge. Schemes this client does not know (Bearer,
 * Negotiate...) and Digest challenges it cannot answer are passed over, never guessed.
 *
 * @param challenges The parsed challenges.
 * @param authInt Whether a Digest challenge offering only `qop=auth-int` can be answered (the
 * request's body is known before it is sent).
 * @returns The choice, or `null` when none can be answered.
 */
export function selectChallenge(
  challenges: readonly AuthChallenge[],
  authInt = true,
): SelectedChallenge | null {
  let best: { challenge: AuthChallenge; digest: DigestChallenge } | undefined;
  for (const challenge of challenges) {
    const digest = parseDigestChallenge(challenge);
    if (
      digest !== null && (authInt || digest.qop !== "auth-int") &&
      (best === undefined || digestStrength(digest) > digestStrength(best.digest))
    ) {
      best = { challenge, digest };
    }
  }
  if (best !== undefined) return { scheme: "digest", ...best };
  const basic = challenges.find((challenge) => challenge.scheme === "basic");
  return basic === undefined ? null : { scheme: "basic", challenge: basic };
}
