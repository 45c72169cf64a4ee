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
 * import type { AuthChallenge } from "@netaccess/core";
 *
 * function describe(challenge: AuthChallenge): string {
 *   return `${challenge.scheme} for realm ${challenge.realm ?? "(none)"}`;
 * }
 * console.log(describe({ scheme: "basic", realm: "api", params: { realm: "api" } }));
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
