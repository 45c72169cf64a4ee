/**
 * {@linkcode AuthChallenge}: one challenge of a `WWW-Authenticate` or `Proxy-Authenticate`
 * header.
 *
 * @module
 */

/**
 * One challenge of a `WWW-Authenticate` or `Proxy-Authenticate` header, as a server sent it.
 *
 * @example Reading the challenge of a 401 reply
 * ```ts
 * import assert from "node:assert/strict";
 * import type { AuthChallenge } from "@netaccess/core";
 * import { createMockManager } from "@netaccess/core/testing";
 *
 * await using mocked = createMockManager();
 * const wwwAuthenticate = 'Basic realm="api", charset="UTF-8"';
 * mocked.mock.route("GET", "/", { status: 401, headers: { "www-authenticate": wwwAuthenticate } });
 * const reply = mocked.manager.get("https://api.example/");
 * const challenges: AuthChallenge[] = [];
 * reply.addEventListener("authenticationrequired", (e) => challenges.push(e.challenge));
 * await reply.finished;
 * assert.equal(reply.status, 401);
 * const [challenge] = challenges as [AuthChallenge];
 * assert.equal(challenge.scheme, "basic"); // lower-case
 * assert.equal(challenge.realm, "api");
 * assert.equal(challenge.params.charset, "UTF-8");
 * ```
 */
export interface AuthChallenge {
  /** The authentication scheme, lower-case: `"basic"`, `"digest"`, `"bearer"`... */
  scheme: string;
  /** The `realm` parameter, when there is one (case preserved). */
  realm: string | undefined;
  /** The auth-params by lower-case name, quoted strings unescaped. */
  params: Readonly<Record<string, string>>;
  /** The token68 form of credentials data (as `Negotiate` uses), when the challenge has one. */
  token68?: string;
}
