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
 * import assert from "node:assert/strict";
 * import { type AuthCredentials, NetworkAccessManager } from "@netaccess/core";
 * import { MockTransport } from "@netaccess/core/testing";
 *
 * const credentials: AuthCredentials = { username: "Aladdin", password: "open sesame" };
 * const mock = new MockTransport().route("GET", "/", (request) =>
 *   request.headers.get("authorization") === "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
 *     ? { body: "welcome" }
 *     : { status: 401, headers: { "www-authenticate": 'Basic realm="cave"' } });
 * await using manager = new NetworkAccessManager({
 *   transport: mock.handler,
 *   authenticator: () => credentials,
 * });
 * assert.equal(await manager.get("https://cave.example/").text(), "welcome");
 * ```
 */
export interface AuthCredentials {
  /** The user name. */
  username: string;
  /** The password. */
  password: string;
}
