/** The `text/event-stream` parser (HTML standard, "Interpreting an event stream"). */

import { NetworkError, type NetworkErrorCode, NetworkReplyError } from "./network_error.ts";
import type { NetworkReply } from "./reply.ts";
import type { ServerSentEvent, ServerSentEventsOptions } from "./sse.ts";
import { checkInteger, checkKeys, checkObject, MAX_TIMER_MS } from "./_validation.ts";

const LF = 10;
const CR = 13;
const SPACE = 32;
const BOM = 0xfeff;

/** The default `maxEventLength`: 2^20 UTF-16 code units (1 MiB of ASCII). */
export const MAX_EVENT_LENGTH = 1024 * 1024;

/** Thrown by {@linkcode EventStreamParser.feed} when a line or an event's data is too long. */
export class EventTooLongError extends Error {
  override name = "EventTooLongError";
}

/**
 * The incremental parser: feed it decoded text, it queues each complete event in `ready` and
 * calls `onRetry` for each valid `retry` field (its time cut to 2^31 - 1 ms, the longest timer). Text after the last blank line is kept until more
 * arrives, and dropped at the end of the stream (a partial last event is not dispatched).
 *
 * A line, and the data of one event, may hold up to `maxLength` UTF-16 code units (0 = no
 * limit); past that `feed` throws an {@linkcode EventTooLongError}, so a stream that never
 * ends its line cannot make the parser buffer without bound.
 */
export class EventStreamParser {
  readonly #max: number;
  #pending = "";
  #afterCR = false;
  #data = "";
  #hasData = false;
  #type = "";
  #lastEventId = "";
  #sourceLastEventId = "";
  #retry: number | undefined;
  readonly #onRetry: ((ms: number) => void) | undefined;
  /** Events parsed and not yet taken, oldest first. */
  readonly ready: ServerSentEvent[] = [];

  constructor(onRetry?: (ms: number) => void, maxLength: number = MAX_EVENT_LENGTH) {
    this.#onRetry = onRetry;
    this.#max = maxLength > 0 ? maxLength : Infinity;
  }

  /**
   * The last event ID of the stream as of the last blank line (what `Last-Event-ID` carries on
   * reconnection): an `id` in a block the stream never ended does not count.
   */
  get lastEventId(): string {
    return this.#sourceLastEventId;
  }

  /** Starts from a known last event ID (a reconnection). */
  set lastEventId(value: string) {
    this.#lastEventId = this.#sourceLastEventId = value;
  }

  /**
   * Parses a piece of the decoded stream.
   *
   * @throws {EventTooLongError} When a line or an event's data grows past the limit.
   */
  feed(text: string): void {
    // Nothing decoded yet (an empty chunk, part of a character): a CR before it still pairs
    // with an LF after it.
    if (text === "") return;
    let start = 0;
    let i = 0;
    if (this.#afterCR) {
      this.#afterCR = false;
      if (text.charCodeAt(0) === LF) start = i = 1;
    }
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== LF && c !== CR) continue;
      if (this.#pending.length + i - start > this.#max) this.#tooLong("a line");
      const line = this.#pending === ""
        ? text.slice(start, i)
        : this.#pending + text.slice(start, i);
      this.#pending = "";
      this.#line(line);
      if (c === CR) {
        if (i + 1 === text.length) this.#afterCR = true;
        else if (text.charCodeAt(i + 1) === LF) i++;
      }
      start = i + 1;
    }
    if (start < text.length) {
      if (this.#pending.length + text.length - start > this.#max) this.#tooLong("a line");
      this.#pending += text.slice(start);
    }
  }

  #tooLong(what: string): never {
    throw new EventTooLongError(
      `${what} longer than ${this.#max} characters (UTF-16 code units); reading stopped ` +
        `(raise 'maxEventLength' to allow it)`,
    );
  }

  #line(line: string): void {
    if (line === "") return this.#dispatch();
    const colon = line.indexOf(":");
    if (colon === 0) return; // a comment
    let field: string;
    let value: string;
    if (colon < 0) {
      field = line;
      value = "";
    } else {
      field = line.slice(0, colon);
      value = line.slice(line.charCodeAt(colon + 1) === SPACE ? colon + 2 : colon + 1);
    }
    switch (field) {
      case "event":
        this.#type = value;
        break;
      case "data":
        if (this.#hasData && this.#data.length + 1 + value.length > this.#max) {
          this.#tooLong("an event whose data is");
        }
        this.#data = this.#hasData ? `${this.#data}\n${value}` : value;
        this.#hasData = true;
        break;
      case "id":
        if (!value.includes("\0")) this.#lastEventId = value;
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) {
          // Cut to the longest timer: a longer delay would fire at once, and past 2^53 it is
          // no exact number.
          this.#retry = Math.min(Number.parseInt(value, 10), MAX_TIMER_MS);
          this.#onRetry?.(this.#retry);
        }
        break;
    }
  }

  #dispatch(): void {
    this.#sourceLastEventId = this.#lastEventId;
    const retry = this.#retry;
    this.#retry = undefined;
    if (!this.#hasData) {
      this.#type = "";
      return;
    }
    const event: ServerSentEvent = {
      type: this.#type === "" ? "message" : this.#type,
      data: this.#data,
      lastEventId: this.#lastEventId,
      retry,
    };
    this.#data = "";
    this.#hasData = false;
    this.#type = "";
    this.ready.push(event);
  }
}

/**
 * Parses a body of bytes as `text/event-stream`: UTF-8 (a leading BOM skipped, invalid bytes
 * replaced), lines ended by CR, LF or CRLF, events dispatched on blank lines. Pulls the source
 * only as fast as events are taken; stopping early (`return()`) stops the source at once, also
 * while a `next()` waits on it.
 *
 * A line or an event's data past the parser's limit throws what `fail` makes of the message
 * ("a line longer than ..."; by default a `NetworkReplyError` with `ProtocolFailure`), once
 * every event complete before it is yielded, and stops the source.
 */
export function parseEventStream<Type extends string>(
  source: AsyncIterable<Uint8Array>,
  parser: EventStreamParser = new EventStreamParser(),
  fail: (message: string) => Error = (message) =>
    new NetworkReplyError(NetworkError.ProtocolFailure, `The event stream sent ${message}`),
): AsyncGenerator<ServerSentEvent<Type>, void, undefined> {
  let chunks: AsyncIterator<Uint8Array> | undefined;
  const events = readEvents<Type>(
    { [Symbol.asyncIterator]: () => (chunks = source[Symbol.asyncIterator]()) },
    parser,
    fail,
  );
  // A generator's `return()` waits for a pending `next()`, which a quiet stream may never
  // settle: the source is stopped first (a reply's body iterator aborts the reply at once, and
  // its pending read rejects), so that `next()` settles and the return follows.
  const close = events.return;
  events.return = (value) => {
    Promise.resolve(chunks?.return?.()).catch(() => {});
    return close.call(events, value);
  };
  return events;
}

async function* readEvents<Type extends string>(
  source: AsyncIterable<Uint8Array>,
  parser: EventStreamParser,
  fail: (message: string) => Error,
): AsyncGenerator<ServerSentEvent<Type>, void, undefined> {
  // The BOM is skipped here, not by the decoder: Deno's streaming TextDecoder also drops a
  // U+FEFF that starts a later chunk, which the stream's text keeps.
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  let started = false;
  const decode = (chunk?: Uint8Array): string => {
    const text = chunk === undefined ? decoder.decode() : decoder.decode(chunk, { stream: true });
    if (started || text === "") return text;
    started = true;
    return text.charCodeAt(0) === BOM ? text.slice(1) : text;
  };
  const ready = parser.ready;
  for await (const chunk of source) {
    const tooLong = feed(parser, decode(chunk));
    while (ready.length > 0) yield ready.shift() as ServerSentEvent<Type>;
    // Failed inside the loop: `fail` runs before leaving it stops (aborts) the source.
    if (tooLong !== undefined) throw fail(tooLong);
  }
  const tooLong = feed(parser, decode());
  while (ready.length > 0) yield ready.shift() as ServerSentEvent<Type>;
  if (tooLong !== undefined) throw fail(tooLong);
}

/**
 * Feeds `text` to `parser`: the message of a line or an event's data past its limit, or
 * `undefined`. The events complete before it stay ready, to be taken before the error.
 */
function feed(parser: EventStreamParser, text: string): string | undefined {
  try {
    parser.feed(text);
  } catch (error) {
    if (error instanceof EventTooLongError) return error.message;
    throw error;
  }
}

/** The names of the options of `NetworkReply.events()` (the type says every one is here). */
const EVENTS_OPTIONS = Object.keys(
  { maxEventLength: 1 } satisfies Record<keyof ServerSentEventsOptions, 1>,
);

/**
 * The parser for `options` of `NetworkReply.events()`, once they are checked.
 *
 * @throws {TypeError} When `options` is not an object, has an option it does not know (a
 * misspelt one), or `maxEventLength` is not a number.
 * @throws {RangeError} When `maxEventLength` is a number that is not a non-negative integer.
 */
export function eventsParser(
  what: string,
  options: ServerSentEventsOptions | undefined,
): EventStreamParser {
  checkObject(what, "options", options);
  if (options !== undefined) checkKeys(what, options, EVENTS_OPTIONS);
  checkInteger(what, "maxEventLength", options?.maxEventLength, 0);
  return new EventStreamParser(undefined, options?.maxEventLength);
}

/**
 * Reads `reply`'s body as events with `parser`. A line or an event's data past the parser's
 * limit is handed to `fail` (the reply's `failContent`, which fails it with `ProtocolFailure`),
 * and the error the reply then has is thrown: its message names the URL and the limit.
 */
export function replyEvents<Type extends string>(
  reply: NetworkReply,
  parser: EventStreamParser,
  fail: (reply: NetworkReply, code: NetworkErrorCode, message: string) => Error,
): AsyncGenerator<ServerSentEvent<Type>, void, undefined> {
  return parseEventStream<Type>(reply, parser, (message) => {
    const full = `The event stream at ${reply.url.href} sent ${message}`;
    return fail(reply, NetworkError.ProtocolFailure, full);
  });
}
