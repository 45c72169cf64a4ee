/**
 * An event stream that reconnects as `EventSource` does, over the manager's pipeline.
 *
 * @module
 */

import type { ServerSentEventsOptions } from "./sse.ts";

/**
 * Options of {@linkcode NetworkAccessManager.eventStream}; `maxEventLength` as for
 * {@linkcode NetworkReply.events}.
 *
 * @example Resuming a stream after a restart
 * ```ts
 * import assert from "node:assert/strict";
 * import { type EventStreamOptions, NetworkAccessManager } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager({
 *   transport: async (exchange) =>
 *     new Response(`id: 43\ndata: after ${exchange.headers.get("last-event-id")}\n\n`, {
 *       headers: { "content-type": "text/event-stream" },
 *     }),
 * });
 * const options: EventStreamOptions = { lastEventId: "42", reconnectionTime: 1000 };
 * for await (const event of manager.eventStream("https://example.com/feed", options)) {
 *   assert.equal(event.data, "after 42");
 *   break;
 * }
 * ```
 */
export interface EventStreamOptions extends ServerSentEventsOptions {
  /**
   * Ends the stream (quietly, as `break` does) when it aborts, also while waiting to
   * reconnect.
   * @default {undefined}
   */
  signal?: AbortSignal | undefined;
  /**
   * The last event ID to send (as `Last-Event-ID`) with the first request, to resume a
   * stream; `""` for none. A `Last-Event-ID` header on the request given to `eventStream` does
   * the same (read as UTF-8); giving both with different IDs throws a `TypeError`.
   * @default {""}
   */
  lastEventId?: string | undefined;
  /**
   * Milliseconds to wait before reconnecting, until the server sets another with a `retry`
   * field (a server's longer than 2^31 - 1 ms is cut to that): an integer from 0 to 2^31 - 1
   * (about 24.8 days, the longest timer); a longer one throws a `RangeError`.
   * @default {3000}
   */
  reconnectionTime?: number | undefined;
  /**
   * Reconnections in a row without an event before the stream gives up and throws the last
   * error; an event received resets the count. `Infinity` reconnects for ever, as
   * `EventSource` does.
   * @default {Infinity}
   */
  maxReconnects?: number | undefined;
}
