/**
 * Test helpers for code that uses `@netaccess/core`: a {@linkcode MockTransport} that answers
 * requests from routes (method, `URLPattern`, and the query, headers or body when asked) with
 * latency, chunked bodies and failure injection, and checks that every route was used, a
 * {@linkcode RequestRecorder} that records what reaches the transport, and
 * {@linkcode createMockManager} that wires both under a manager. No socket is opened.
 *
 * @example A `deno test` of code that takes a manager
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkError } from "@netaccess/core";
 * import { createMockManager } from "@netaccess/core/testing";
 *
 * await using mocked = createMockManager({ retry: { limit: 2, delay: 0 } });
 * mocked.mock
 *   .fail("GET", "/status", NetworkError.ConnectionRefusedError, { times: 1 })
 *   .route("GET", "/status", { json: { up: true } });
 * const reply = mocked.manager.get("https://service.example/status");
 * assert.deepEqual(await reply.json(), { up: true });
 * assert.equal(reply.retries, 1);
 * assert.equal(mocked.recorder.requests.length, 2);
 * ```
 *
 * @module
 */

export {
  type MockContext,
  type MockHandler,
  type MockResponder,
  type MockResponseInit,
  type MockRouteInfo,
  type MockRouteOptions,
  MockTransport,
  type MockTransportOptions,
} from "./src/testing/mock_transport.ts";
export { type RecordedRequest, RequestRecorder } from "./src/testing/request_recorder.ts";
export {
  createMockManager,
  type MockManager,
  type MockManagerOptions,
} from "./src/testing/mock_manager.ts";
