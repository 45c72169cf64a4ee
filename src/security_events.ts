/**
 * The events of the redirect and authentication layers, dispatched on a reply:
 * {@linkcode RedirectedEvent} and {@linkcode AuthenticationRequiredEvent}.
 *
 * @module
 */

import type { AuthChallenge } from "./auth/challenge.ts";

/**
 * A redirect about to be followed: where from, where to, and the status that asked for it.
 *
 * @example A redirect as one line of a log
 * ```ts
 * import assert from "node:assert/strict";
 * import type { RedirectDetails } from "@netaccess/core";
 *
 * const line = (r: RedirectDetails) => `${r.status}: ${r.from.href} -> ${r.url.href}`;
 * const from = new URL("http://a.test/");
 * const redirect: RedirectDetails = { from, url: new URL("http://b.test/"), status: 302, hop: 1 };
 * assert.equal(line(redirect), "302: http://a.test/ -> http://b.test/");
 * ```
 */
export interface RedirectDetails {
  /** The target of the redirect (after an HSTS upgrade, when one applies). */
  readonly url: URL;
  /** The URL that answered with the redirect. */
  readonly from: URL;
  /** The redirect status: 301, 302, 303, 307 or 308. */
  readonly status: number;
  /** The number of this hop: 1 for the first redirect. */
  readonly hop: number;
}

/**
 * The `redirected` event of a reply: fires once per redirect, after the redirect policy has
 * accepted it and before the next hop is sent. Calling `preventDefault()` refuses the redirect
 * (the reply fails with `InsecureRedirectError`); under the `"user-verified"` policy it fires
 * before the manager's `redirectVerifier` is asked.
 *
 * @example Watching the hops of a reply
 * ```ts
 * import assert from "node:assert/strict";
 * import type { RedirectedEvent } from "@netaccess/core";
 * import { createMockManager } from "@netaccess/core/testing";
 *
 * await using mocked = createMockManager();
 * mocked.mock
 *   .route("GET", "/old", { status: 301, headers: { location: "/new" } })
 *   .route("GET", "/new", { body: "moved here" });
 * const reply = mocked.manager.get("https://shop.example/old");
 * const hops: RedirectedEvent[] = [];
 * reply.addEventListener("redirected", (e) => hops.push(e));
 * assert.equal(await reply.text(), "moved here");
 * assert.deepEqual(hops.map((e) => [e.hop, e.status, e.from.pathname, e.url.pathname]), [
 *   [1, 301, "/old", "/new"],
 * ]);
 * ```
 */
export class RedirectedEvent extends Event implements RedirectDetails {
  /** The target of the redirect. */
  readonly url: URL;
  /** The URL that answered with the redirect. */
  readonly from: URL;
  /** The redirect status. */
  readonly status: number;
  /** The number of this hop, from 1. */
  readonly hop: number;

  /**
   * Creates a `redirected` event (cancelable).
   *
   * @param details The redirect.
   */
  constructor(details: RedirectDetails) {
    super("redirected", { cancelable: true });
    this.url = details.url;
    this.from = details.from;
    this.status = details.status;
    this.hop = details.hop;
  }
}

/**
 * A challenge the authentication layer needs credentials for: the server's (401,
 * `WWW-Authenticate`) or the proxy's (407, `Proxy-Authenticate`) challenge, and where it
 * came from. Passed to the manager's `authenticator` and carried by
 * {@linkcode AuthenticationRequiredEvent}.
 *
 * @example Answering only one realm of one origin
 * ```ts
 * import assert from "node:assert/strict";
 * import type { AuthCredentials, AuthenticationChallenge } from "@netaccess/core";
 *
 * function answer(challenge: AuthenticationChallenge): AuthCredentials | undefined {
 *   if (challenge.proxy || challenge.origin !== "https://api.example.com") return undefined;
 *   return challenge.realm === "api" ? { username: "me", password: "secret" } : undefined;
 * }
 * const challenge: AuthenticationChallenge = {
 *   scheme: "basic",
 *   realm: "api",
 *   params: { realm: "api" },
 *   proxy: false,
 *   origin: "https://api.example.com",
 *   url: new URL("https://api.example.com/me"),
 *   attempt: 1,
 *   supported: true,
 * };
 * assert.deepEqual(answer(challenge), { username: "me", password: "secret" });
 * assert.equal(answer({ ...challenge, realm: "admin" }), undefined);
 * assert.equal(answer({ ...challenge, origin: "https://evil.example" }), undefined);
 * ```
 */
export interface AuthenticationChallenge extends AuthChallenge {
  /** Whether a proxy asks (407) rather than the server (401). */
  readonly proxy: boolean;
  /** The origin of the protection space: the server's, or the proxy's when `proxy` is true. */
  readonly origin: string;
  /** The URL requested, without user name and password. */
  readonly url: URL;
  /** How many times credentials were asked for during this reply, this time included (from 1). */
  readonly attempt: number;
  /** Whether this client can answer the scheme (Basic and Digest); others are only reported. */
  readonly supported: boolean;
  /**
   * `true` when this is a Basic challenge of a protection space (origin and realm) that
   * challenged with Digest before (in this manager): answering it sends the password in clear (base64), so neither cached nor
   * URL credentials are used, and only credentials the authenticator returns knowing this are
   * sent. Absent otherwise.
   */
  readonly downgrade?: boolean;
}

/**
 * The `authenticationrequired` event of a reply: a server or proxy asked for credentials.
 * It fires before the manager's `authenticator` is called (also when there is none, and for
 * schemes this client cannot answer), so observers see every challenge.
 *
 * @example Watching challenges, answered or not
 * ```ts
 * import assert from "node:assert/strict";
 * import { type AuthenticationRequiredEvent, NetworkError } from "@netaccess/core";
 * import { createMockManager } from "@netaccess/core/testing";
 *
 * await using mocked = createMockManager(); // no authenticator: nobody answers
 * const challenge = { status: 401, headers: { "www-authenticate": 'Bearer realm="api"' } };
 * mocked.mock.route("GET", "/me", challenge);
 * const reply = mocked.manager.get("https://api.example/me");
 * const events: AuthenticationRequiredEvent[] = [];
 * reply.addEventListener("authenticationrequired", (e) => events.push(e));
 * await reply.finished;
 * assert.equal(reply.error, NetworkError.AuthenticationRequiredError);
 * const [{ challenge: asked }] = events as [AuthenticationRequiredEvent];
 * assert.deepEqual([asked.scheme, asked.realm, asked.proxy, asked.supported], [
 *   "bearer",
 *   "api",
 *   false,
 *   false, // only Basic and Digest are answered
 * ]);
 * ```
 */
export class AuthenticationRequiredEvent extends Event {
  /** The challenge. */
  readonly challenge: AuthenticationChallenge;

  /**
   * Creates an `authenticationrequired` event.
   *
   * @param challenge The challenge.
   */
  constructor(challenge: AuthenticationChallenge) {
    super("authenticationrequired");
    this.challenge = challenge;
  }
}
