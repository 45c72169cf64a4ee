/**
 * {@linkcode createMockManager}: a manager wired to a mock transport and a request recorder.
 *
 * @module
 */

import { NetworkAccessManager, type NetworkAccessManagerOptions } from "../manager.ts";
import { MockTransport } from "./mock_transport.ts";
import { RequestRecorder } from "./request_recorder.ts";

/**
 * Options of {@linkcode createMockManager}: the manager's, without `transport`.
 *
 * @example A prepared mock, with the manager's retry option
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkError } from "@netaccess/core";
 * import {
 *   createMockManager,
 *   type MockManagerOptions,
 *   MockTransport,
 * } from "@netaccess/core/testing";
 *
 * const options: MockManagerOptions = {
 *   mock: new MockTransport()
 *     .fail("GET", "/config", NetworkError.RemoteHostClosedError, { times: 1 })
 *     .route("GET", "/config", { json: { theme: "dark" } }),
 *   retry: { limit: 1, delay: 0 },
 * };
 * await using mocked = createMockManager(options);
 * assert.deepEqual(await mocked.manager.get("https://app.example/config").json(), { theme: "dark" });
 * assert.equal(mocked.mock === options.mock, true);
 * assert.equal(mocked.recorder.requests.length, 2);
 * ```
 */
export interface MockManagerOptions extends Omit<NetworkAccessManagerOptions, "transport"> {
  /**
   * The transport that answers the manager's requests.
   * @default {new MockTransport()}
   */
  mock?: MockTransport | undefined;
  /**
   * The recorder of every exchange sent to the transport.
   * @default {new RequestRecorder()}
   */
  recorder?: RequestRecorder | undefined;
}

/**
 * A manager, the mock transport under it and the recorder that sees what reaches the mock.
 *
 * @example A test fixture that adds routes to a mocked manager
 * ```ts
 * import assert from "node:assert/strict";
 * import { createMockManager, type MockManager } from "@netaccess/core/testing";
 *
 * function withUsers(mocked: MockManager): MockManager {
 *   mocked.mock.route("GET", "/users", { json: [{ id: 1 }] });
 *   return mocked;
 * }
 * await using mocked = withUsers(createMockManager());
 * assert.deepEqual(await mocked.manager.get("https://api.example/users").json(), [ { id: 1 } ]);
 * assert.equal(mocked.recorder.last?.url.pathname, "/users");
 * ```
 */
export interface MockManager extends AsyncDisposable {
  /** The manager to hand to the code under test. */
  readonly manager: NetworkAccessManager;
  /** Its transport: add routes here. */
  readonly mock: MockTransport;
  /** What reached the transport. */
  readonly recorder: RequestRecorder;
  /**
   * Closes the manager.
   *
   * @returns Resolves when every reply has finished.
   */
  close(): Promise<void>;
}

/**
 * Builds a {@linkcode NetworkAccessManager} whose transport is a {@linkcode MockTransport} and
 * whose network layers start with a {@linkcode RequestRecorder}, so code that takes a manager is
 * tested without sockets. Every other manager option applies as usual (cache, cookie jar,
 * retry, layers, ...).
 *
 * @param options The manager's options, and the mock and recorder to use.
 * @returns The manager, the mock and the recorder; dispose of it with `await using`.
 * @throws {TypeError} When a manager option is invalid, or `transport` is given.
 *
 * @example Testing a function that calls an API
 * ```ts
 * import assert from "node:assert/strict";
 * import { type NetworkAccessManager } from "@netaccess/core";
 * import { createMockManager } from "@netaccess/core/testing";
 *
 * async function userName(manager: NetworkAccessManager, id: number): Promise<string> {
 *   const user = await manager.get(`https://api.example/users/${id}`).json() as { name: string };
 *   return user.name;
 * }
 *
 * await using mocked = createMockManager();
 * mocked.mock.route("GET", "/users/:id", (_request, { params }) => ({ json: { name: `user ${params.id}` } }));
 * assert.equal(await userName(mocked.manager, 7), "user 7");
 * assert.equal(mocked.recorder.requests.length, 1);
 * ```
 */
export function createMockManager(options: MockManagerOptions = {}): MockManager {
  const { mock = new MockTransport(), recorder = new RequestRecorder(), ...rest } = options;
  if ("transport" in rest) {
    throw new TypeError(
      "Cannot create mock manager: 'transport' is the mock's; pass 'mock' instead",
    );
  }
  if (!(mock instanceof MockTransport)) {
    throw new TypeError("Cannot create mock manager: 'mock' must be a MockTransport");
  }
  if (!(recorder instanceof RequestRecorder)) {
    throw new TypeError("Cannot create mock manager: 'recorder' must be a RequestRecorder");
  }
  const manager = new NetworkAccessManager({ ...rest, transport: mock.handler });
  manager.use(recorder.layer, "network");
  const close = () => manager.close();
  return { manager, mock, recorder, close, [Symbol.asyncDispose]: close };
}
