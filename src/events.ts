/**
 * The events of replies and managers.
 *
 * @module
 */

import { _redactUserinfo } from "./_redact.ts";
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
 * import { NetworkAccessManager, type NetworkProgressEvent } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager();
 * const reply = manager.get("data:,0123456789");
 * reply.addEventListener("downloadprogress", (e: NetworkProgressEvent) => {
 *   console.log(`${e.loaded} of ${e.total}`);
 * });
 * await reply.finished;
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
 * @example Logging errors
 * ```ts
 * import { NetworkAccessManager, type NetworkErrorEvent } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager();
 * const reply = manager.get("gopher://example.invalid/");
 * reply.addEventListener("error", (e: NetworkErrorEvent) => console.log(e.code, e.message));
 * await reply.finished;
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
    this.message = _redactUserinfo(message);
  }
}

/**
 * An event about a reply, dispatched on the manager: `finished` for every reply.
 *
 * @example Counting finished replies
 * ```ts
 * import { NetworkAccessManager, type NetworkReplyEvent } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager();
 * manager.addEventListener("finished", (e: NetworkReplyEvent) => console.log(e.reply.url.href));
 * await manager.get("data:,x").finished;
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
 * import { NetworkAccessManager } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager();
 * const reply = manager.get("data:,abc");
 * reply.addEventListener("downloadprogress", (e) => console.log(e.loaded, e.total));
 * await reply.finished;
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
 * import { NetworkAccessManager } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager();
 * manager.addEventListener("finished", (e) => console.log(e.reply.url.href));
 * await manager.get("data:,abc").finished;
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
 *
 * @example Logging retries
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, type NetworkRetryEvent } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager({ retry: { limit: 1, delay: 10 } });
 * const reply = manager.get("data:,no retries for data URLs");
 * reply.addEventListener("retry", (event) => {
 *   const e = event as NetworkRetryEvent;
 *   console.log(`retry ${e.attempt} in ${e.delay} ms: ${e.reason}`);
 * });
 * await reply.finished;
 * assert.equal(reply.retries, 0);
 * ```
 */
export class NetworkRetryEvent extends Event {
  /** The number of the retry about to be made: 1 for the first. */
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
    this.reason = _redactUserinfo(init.reason);
  }
}
