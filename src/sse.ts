/**
 * Server-Sent Events: a `text/event-stream` body parsed by the rules of the HTML standard
 * ("Interpreting an event stream").
 *
 * @module
 */

/**
 * One event of a `text/event-stream` body, as an `EventSource` would dispatch it.
 *
 * @typeParam Type The event types the stream sends (`"message"` when the event names none).
 *
 * @example Reading the events of a stream
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, type ServerSentEvent } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager({
 *   transport: async () =>
 *     new Response("event: add\ndata: 1\nid: 7\n\ndata: done\n\n", {
 *       headers: { "content-type": "text/event-stream" },
 *     }),
 * });
 * const events: ServerSentEvent<"add" | "message">[] = [];
 * for await (const event of manager.get("https://example.com/feed").events<"add">()) {
 *   events.push(event);
 * }
 * assert.deepEqual(events.map((e) => [e.type, e.data, e.lastEventId]), [
 *   ["add", "1", "7"],
 *   ["message", "done", "7"],
 * ]);
 * ```
 */
export interface ServerSentEvent<Type extends string = string> {
  /** The event type: the `event` field, or `"message"`. */
  readonly type: Type | "message";
  /** The `data` fields of the event joined by `"\n"`. */
  readonly data: string;
  /** The last event ID: the most recent `id` field of the stream so far (it carries over). */
  readonly lastEventId: string;
  /**
   * The reconnection time in milliseconds the server set with a `retry` field in this
   * event's block (one longer than 2^31 - 1 ms, the longest timer, is cut to that), or
   * `undefined`.
   */
  readonly retry: number | undefined;
}

/**
 * Options of {@linkcode NetworkReply.events} (and of
 * {@linkcode NetworkAccessManager.eventStream}, which takes these too).
 *
 * @example Allowing longer events
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, type ServerSentEventsOptions } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager({
 *   transport: async () =>
 *     new Response(`data: ${"x".repeat(2_000_000)}\n\n`, {
 *       headers: { "content-type": "text/event-stream" },
 *     }),
 * });
 * const options: ServerSentEventsOptions = { maxEventLength: 4 * 1024 * 1024 };
 * for await (const event of manager.get("https://example.com/feed").events(options)) {
 *   assert.equal(event.data.length, 2_000_000);
 * }
 * ```
 */
export interface ServerSentEventsOptions {
  /**
   * The longest line, and the longest `data` of one event (its lines joined), in UTF-16 code
   * units (what `string.length` counts; one per ASCII character). A stream that sends more
   * without a line break, or an event with more data, fails with `ProtocolFailure` naming the
   * limit, and reading stops: a stream that never ends a line cannot fill the memory. `0` is no
   * limit.
   * @default {1048576}
   */
  maxEventLength?: number | undefined;
}
