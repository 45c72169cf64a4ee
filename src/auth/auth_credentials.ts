/**
 * {@linkcode AuthCredentials}: a user name and password answering a challenge.
 *
 * @module
 */

/**
 * A user name and password for HTTP authentication, as an `authenticationRequired` callback
 * returns them.
 *
 * @example Answering a challenge
 * ```ts
 * import type { AuthCredentials } from "@netaccess/core";
 *
 * const credentials: AuthCredentials = { username: "Aladdin", password: "open sesame" };
 * console.log(credentials.username);
 * ```
 */
export interface AuthCredentials {
  /** The user name. */
  username: string;
  /** The password. */
  password: string;
}
