/** The reconnecting event stream behind `NetworkAccessManager.eventStream`. */

import { sleep } from "./retry_options.ts";
import {
  checkInteger,
  checkKeys,
  checkObject,
  checkTimer,
  describe,
  UNSENDABLE_HEADER_VALUE,
} from "./_validation.ts";
import {
  NetworkError,
  type NetworkErrorCode,
  NetworkReplyError,
  statusToError,
} from "./network_error.ts";
import { failContent, type NetworkReply } from "./reply.ts";
import { NetworkRequest, type NetworkRequestInit, stripCrossOriginHeaders } from "./request.ts";
import type { ServerSentEvent } from "./sse.ts";
import type { EventStreamOptions } from "./event_stream.ts";
import { EventStreamParser, replyEvents } from "./_sse_parser.ts";
import { withBodyStart } from "./reply/_excerpt.ts";
// An ID goes on the wire as UTF-8, as the HTML standard sends Last-Event-ID.
import { fromWire, toWire } from "./cookies/_wire.ts";

/** Codes after which a stream reconnects: the connection failed or broke. */
const RECONNECT_CODES: ReadonlySet<NetworkErrorCode> = new Set<NetworkErrorCode>([
  NetworkError.ConnectionRefusedError,
  NetworkError.RemoteHostClosedError,
  NetworkError.HostNotFoundError,
  NetworkError.TimeoutError,
  NetworkError.TemporaryNetworkFailureError,
  NetworkError.NetworkSessionFailedError,
  NetworkError.ProxyConnectionRefusedError,
  NetworkError.ProxyConnectionClosedError,
  NetworkError.ProxyTimeoutError,
]);

const WHAT = "Cannot open event stream";
/** What to give instead of a `reconnectionTime` too long for a timer. */
const NOT_AGAIN = "use maxReconnects: 0 not to reconnect";

/** The names of the options (the type says every one is here). */
const OPTIONS = Object.keys(
  {
    signal: 1,
    lastEventId: 1,
    reconnectionTime: 1,
    maxReconnects: 1,
    maxEventLength: 1,
  } satisfies Record<keyof EventStreamOptions, 1>,
);

/** Checks the options; throws `TypeError` or `RangeError` naming the field. */
function checkOptions(options: EventStreamOptions): void {
  checkObject(WHAT, "options", options);
  checkKeys(WHAT, options, OPTIONS);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new TypeError(
      `${WHAT}: 'signal' must be an AbortSignal, got ${describe(options.signal)}`,
    );
  }
  if (options.lastEventId !== undefined) {
    if (typeof options.lastEventId !== "string") {
      throw new TypeError(
        `${WHAT}: 'lastEventId' must be a string, got ${describe(options.lastEventId)}`,
      );
    }
    if (UNSENDABLE_HEADER_VALUE.test(options.lastEventId)) {
      throw new TypeError(
        `${WHAT}: 'lastEventId' must hold no control character but TAB (a Last-Event-ID ` +
          `header cannot carry one), got ${describe(options.lastEventId)}`,
      );
    }
  }
  checkTimer(WHAT, "reconnectionTime", options.reconnectionTime, NOT_AGAIN);
  checkInteger(WHAT, "maxEventLength", options.maxEventLength, 0);
  const max = options.maxReconnects;
  if (max !== undefined && max !== Infinity) checkInteger(WHAT, "maxReconnects", max, 0);
}

/**
 * The last event ID of the first request: the `lastEventId` option, or else the request's own
 * `Last-Event-ID` header (as `EventSource` polyfills take it); throws `TypeError` when both are
 * given and differ.
 */
function initialLastEventId(
  input: string | URL | NetworkRequest,
  option: string | undefined,
): string {
  const header = input instanceof NetworkRequest ? input.headers.get("last-event-id") : null;
  if (header === null) return option ?? "";
  const id = fromWire(header);
  if (option !== undefined && option !== id) {
    throw new TypeError(
      `${WHAT}: the request's Last-Event-ID header ${describe(id)} and the 'lastEventId' ` +
        `option ${describe(option)} differ; give the ID once`,
    );
  }
  return id;
}

/** The MIME type essence of a Content-Type, in lower case. */
function essence(contentType: string | null): string {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * Resolves when the reply's status and headers are known (`true`), or when it finished without
 * a response to read (`false`): none came, or a layer failed on the one that came (a redirect
 * it refused, a challenge it could not answer), which the reply shows without taking it.
 */
function headersKnown(reply: NetworkReply): Promise<boolean> {
  if (reply.isFinished) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (event: Event) => {
      reply.removeEventListener("metadatachanged", done);
      reply.removeEventListener("finished", done);
      resolve(event.type === "metadatachanged");
    };
    reply.addEventListener("metadatachanged", done);
    reply.addEventListener("finished", done);
  });
}

/**
 * The request to reconnect with after `reply` followed redirects: the same request, sent to the
 * URL they led to (as `EventSource` does), and without what a redirect drops on the way to
 * another origin when one of them went there.
 */
function redirected(reply: NetworkReply): NetworkRequest {
  const request = reply.request;
  const url = reply.url;
  const origin = request.url.origin;
  if (url.origin === origin && reply.redirects.every((hop) => hop.origin === origin)) {
    return request.clone({ url });
  }
  const headers = new Headers(request.headers);
  stripCrossOriginHeaders(headers, request.sensitiveHeaders);
  return request.clone({ url, headers });
}

/**
 * The error of a reply that failed before any response: the one its readers throw, with the
 * same `cause` (the refused connection, the timeout, the bad URL).
 */
async function replyError(reply: NetworkReply): Promise<NetworkReplyError> {
  try {
    await reply.bytes();
  } catch (error) {
    if (error instanceof NetworkReplyError) return error;
  }
  return new NetworkReplyError(reply.error, reply.errorString, { reply });
}

/**
 * Opens an event stream: sends `input` with `send` (the manager's `get`), and yields its
 * events, reconnecting after a network error or the end of the body. `closed` aborts when the
 * manager closes: it ends a wait to reconnect, and the request then sent fails as the manager's
 * requests do once it is closed. Options are checked at once.
 */
export function openEventStream<Type extends string>(
  send: (request: string | URL | NetworkRequest, init: NetworkRequestInit) => NetworkReply,
  input: string | URL | NetworkRequest,
  options: EventStreamOptions = {},
  closed?: AbortSignal,
): AsyncGenerator<ServerSentEvent<Type>, void, undefined> {
  checkOptions(options);
  const stop = new AbortController();
  const stream = run<Type>(
    send,
    input,
    options,
    initialLastEventId(input, options.lastEventId),
    closed,
    stop.signal,
  );
  // A generator's `return()` waits for a pending `next()`, which a quiet stream may never
  // settle: it aborts the connection (or the wait to reconnect) first, and that `next()` ends.
  const close = stream.return;
  stream.return = (value) => {
    stop.abort();
    return close.call(stream, value);
  };
  return stream;
}

/** That `n` connections in a row (`n` >= 1) ended without an event. */
function endedWithoutEvent(n: number): string {
  return n === 1 ? "ended without an event" : `ended ${n} times in a row without an event`;
}

async function* run<Type extends string>(
  send: (request: string | URL | NetworkRequest, init: NetworkRequestInit) => NetworkReply,
  input: string | URL | NetworkRequest,
  options: EventStreamOptions,
  initialId: string,
  closed: AbortSignal | undefined,
  stopped: AbortSignal,
): AsyncGenerator<ServerSentEvent<Type>, void, undefined> {
  const signals = [options.signal, input instanceof NetworkRequest ? input.signal : undefined]
    .filter((s): s is AbortSignal => s !== undefined);
  const signal = signals.length === 0 ? stopped : AbortSignal.any([stopped, ...signals]);
  // The wait to reconnect ends when the manager closes, too.
  const wait = closed === undefined ? signal : AbortSignal.any([signal, closed]);
  let lastEventId = initialId;
  let delay = options.reconnectionTime ?? 3000;
  const maxReconnects = options.maxReconnects ?? Infinity;
  let reconnects = 0;
  /** Connections in a row without an event: since the last event, or all of them. */
  let empty = 0;
  let target: string | URL | NetworkRequest = input;
  for (;;) {
    if (signal.aborted) return;
    // Replaces the request's headers by name: a null value removes the ID the request carries
    // from the connection before, once the stream reset it, or an ID no header can carry (a
    // control character: the connection goes without it, as `EventSource` in Node omits it).
    // The request's own Accept gives way, as `EventSource` always asks for an event stream.
    const headers: Record<string, string | null> = {
      "last-event-id": lastEventId === "" || UNSENDABLE_HEADER_VALUE.test(lastEventId)
        ? null
        : toWire(lastEventId),
      accept: "text/event-stream",
    };
    const reply = send(target, {
      headers,
      signal,
      cacheLoadControl: "always-network",
      cacheSaveControl: false,
    });
    target = reply.request;
    empty++;
    let failure: NetworkReplyError | undefined;
    const answered = await headersKnown(reply);
    if (reply.redirects.length > 0) target = redirected(reply);
    const http = reply.url.protocol === "http:" || reply.url.protocol === "https:";
    if (signal.aborted) {
      reply.abort();
      return;
    }
    if (!answered) {
      failure = await replyError(reply);
      if (!RECONNECT_CODES.has(reply.error)) throw failure;
    } else if (reply.status === 204) {
      reply.abort();
      return;
    } else if (http && reply.status !== 200) {
      const code = statusToError(reply.status) || NetworkError.ProtocolFailure;
      const message = await withBodyStart(
        reply,
        `The event stream at ${reply.url.href} answered ${reply.status} ${reply.statusText}`
          .trimEnd() + "; an event stream needs 200, and is not reconnected after another status",
      );
      if (signal.aborted) return;
      throw new NetworkReplyError(code, message, { reply });
    } else if (essence(reply.headers.get("content-type")) !== "text/event-stream") {
      const message = await withBodyStart(
        reply,
        `The event stream at ${reply.url.href} answered with Content-Type ${
          JSON.stringify(reply.headers.get("content-type") ?? "")
        }, not text/event-stream; it is not reconnected`,
      );
      if (signal.aborted) return;
      throw new NetworkReplyError(NetworkError.ProtocolFailure, message, { reply });
    } else {
      const parser = new EventStreamParser((ms) => (delay = ms), options.maxEventLength);
      parser.lastEventId = lastEventId;
      try {
        for await (const event of replyEvents<Type>(reply, parser, failContent)) {
          reconnects = 0;
          empty = 0;
          lastEventId = parser.lastEventId;
          yield event;
        }
      } catch (error) {
        if (signal.aborted) return;
        if (!(error instanceof NetworkReplyError) || !RECONNECT_CODES.has(error.code)) throw error;
        failure = error;
      } finally {
        lastEventId = parser.lastEventId;
      }
    }
    if (reconnects >= maxReconnects) {
      throw failure ?? new NetworkReplyError(
        NetworkError.RemoteHostClosedError,
        `The event stream at ${reply.url.href} ${
          empty === 0 ? "ended, and is not reconnected" : endedWithoutEvent(empty)
        } (maxReconnects ${maxReconnects})`,
        { reply },
      );
    }
    reconnects++;
    try {
      await sleep(delay, wait);
    } catch {
      if (signal.aborted) return;
      // Else the manager closed: the next request fails at once, and its error is thrown.
    }
  }
}
