/**
 * The events of replies and managers.
 *
 * @module
 */

import { _redactUrls } from "./_redact.ts";
import type { NetworkErrorCode } from "./network_error.ts";
import type { NetworkReply } from "./reply.ts";
import type { NetworkAccessibleChangedEvent } from "./network_accessibility.ts";
import type { AuthenticationRequiredEvent, RedirectedEvent } from "./security_events.ts";

/**
 * `downloadprogress` and `uploadprogress`: bytes moved so far and the total (-1 when unknown).
 * At most one every 100 ms (as Qt does): the first always fires, and a last event with the
 * final counts fires when the transfer completes.
 *
 * @example A progress line
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, type NetworkProgressEvent } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager();
 * const reply = manager.get("data:,0123456789");
 * const lines: string[] = [];
 * reply.addEventListener("downloadprogress", (e: NetworkProgressEvent) => {
 *   lines.push(`${e.loaded} of ${e.total}`);
 * });
 * await reply.finished;
 * assert.equal(lines.at(-1), "10 of 10"); // the last event has the final counts
 * ```
 */
export class NetworkProgressEvent extends Event {
  /** Bytes moved so far. */
  readonly loaded: number;
  /** Bytes expected in all, or -1 when unknown. */
  readonly total: number;

  /**
   * Creates a progress event.
   *
   * @param type `"downloadprogress"` or `"uploadprogress"`.
   * @param loaded Bytes moved so far.
   * @param total Bytes expected, or -1.
   */
  constructor(type: string, loaded: number, total: number) {
    super(type);
    this.loaded = loaded;
    this.total = total;
  }
}

/**
 * The `error` event of a reply: the code and the sentence, also on `reply.error` and
 * `reply.errorString`. Fires once, before `finished`.
 *
 * @example The error of a reply, as an event
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, NetworkError, type NetworkErrorEvent } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager();
 * const reply = manager.get("gopher://example.invalid/");
 * const events: NetworkErrorEvent[] = [];
 * reply.addEventListener("error", (e: NetworkErrorEvent) => events.push(e));
 * await reply.finished;
 * assert.equal(events.length, 1);
 * assert.equal(events[0]?.code, NetworkError.ProtocolUnknownError);
 * assert.equal(events[0]?.message, reply.errorString);
 * ```
 */
export class NetworkErrorEvent extends Event {
  /** The {@linkcode NetworkError} code. */
  readonly code: NetworkErrorCode;
  /** What went wrong. */
  readonly message: string;

  /**
   * Creates an error event.
   *
   * @param code The error code.
   * @param message The error string.
   */
  constructor(code: NetworkErrorCode, message: string) {
    super("error");
    this.code = code;
    this.message = _redactUrls(message);
  }
}

/**
 * An event about a reply, dispatched on the manager: `finished` for every reply.
 *
 * @example Counting finished replies
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, type NetworkReplyEvent } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager();
 * let finished = 0;
 * manager.addEventListener("finished", (_e: NetworkReplyEvent) => finished++);
 * await manager.get("data:,x").finished;
 * await manager.get("gopher://example.invalid/").finished; // failed replies finish too
 * assert.equal(finished, 2);
 * ```
 */
export class NetworkReplyEvent extends Event {
  /** The reply. */
  readonly reply: NetworkReply;

  /**
   * Creates a reply event.
   *
   * @param type The event type.
   * @param reply The reply.
   */
  constructor(type: string, reply: NetworkReply) {
    super(type);
    this.reply = reply;
  }
}

/**
 * The events of a {@linkcode NetworkReply} by type, for typed listeners.
 *
 * @example A typed listener
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager();
 * const reply = manager.get("data:,abc");
 * let loaded = 0;
 * reply.addEventListener("downloadprogress", (e) => { // e is a NetworkProgressEvent
 *   loaded = e.loaded;
 * });
 * await reply.finished;
 * assert.equal(loaded, 3);
 * ```
 */
export interface NetworkReplyEventMap {
  /** Status and headers are known. */
  metadatachanged: Event;
  /** Body data was buffered. */
  readyread: Event;
  /** Body bytes received so far. */
  downloadprogress: NetworkProgressEvent;
  /** Request body bytes sent so far. */
  uploadprogress: NetworkProgressEvent;
  /** A redirect is about to be followed. */
  redirected: RedirectedEvent;
  /** A server or proxy asked for credentials. */
  authenticationrequired: AuthenticationRequiredEvent;
  /** The request is about to be sent again. */
  retry: NetworkRetryEvent;
  /** The reply failed. */
  error: NetworkErrorEvent;
  /** The reply finished. */
  finished: Event;
}

/**
 * The events of a {@linkcode NetworkAccessManager} by type, for typed listeners.
 *
 * @example A typed listener
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager();
 * const urls: string[] = [];
 * manager.addEventListener("finished", (e) => urls.push(e.reply.url.href)); // e: NetworkReplyEvent
 * await manager.get("data:,abc").finished;
 * assert.deepEqual(urls, ["data:,abc"]);
 * ```
 */
export interface NetworkAccessManagerEventMap {
  /** A reply finished. */
  finished: NetworkReplyEvent;
  /** `networkAccessible` changed. */
  networkaccessiblechanged: NetworkAccessibleChangedEvent;
}

/**
 * The `retry` event of a reply, dispatched before the wait that precedes each new attempt.
 * {@linkcode NetworkReply.retries} counts the attempt once the wait is over and it goes back to be
 * sent: not when the reply is aborted first (by a listener of this event, or during the wait).
 *
 * @example Recording the retries of a reply
 * ```ts
 * import assert from "node:assert/strict";
 * import type { NetworkRetryEvent } from "@netaccess/core";
 * import { createMockManager } from "@netaccess/core/testing";
 *
 * const sleep = async () => {}; // no real waits
 * await using mocked = createMockManager({ retry: { limit: 2, delay: 10, jitter: false, sleep } });
 * mocked.mock
 *   .route("GET", "/", { status: 503 }, { times: 1 })
 *   .route("GET", "/", { body: "ok" });
 * const reply = mocked.manager.get("https://api.example/");
 * const retries: NetworkRetryEvent[] = [];
 * reply.addEventListener("retry", (e) => retries.push(e));
 * assert.equal(await reply.text(), "ok");
 * assert.deepEqual(retries.map((e) => [e.attempt, e.delay, e.status]), [[1, 10, 503]]);
 * assert.equal(reply.retries, 1);
 * ```
 */
export class NetworkRetryEvent extends Event {
  /** The number of the retry about to be made: 1 for the first (of each redirect hop). */
  readonly attempt: number;
  /** The wait before it, in milliseconds. */
  readonly delay: number;
  /** The status of the response retried, or 0 after a connection error. */
  readonly status: number;
  /** The {@linkcode NetworkError} code of the connection error, or `NoError` after a response. */
  readonly error: NetworkErrorCode;
  /** Why the request is sent again. */
  readonly reason: string;

  /**
   * Creates a retry event.
   *
   * @param init The attempt, the wait, and what failed.
   */
  constructor(
    init: {
      attempt: number;
      delay: number;
      status: number;
      error: NetworkErrorCode;
      reason: string;
    },
  ) {
    super("retry");
    this.attempt = init.attempt;
    this.delay = init.delay;
    this.status = init.status;
    this.error = init.error;
    this.reason = _redactUrls(init.reason);
  }
}
