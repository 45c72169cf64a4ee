/**
 * The guard around user code in the pipeline (the layers of `use()` and a custom transport): a
 * layer that throws, or resolves with anything but a `Response` (or with `Response.error()`, or
 * one whose body was already read or is locked), fails its reply with `UnknownNetworkError` and a message naming the layer's position, instead
 * of an unhandled rejection. Errors that come from below the layer (through `next`) and
 * cancellations pass through unchanged.
 */

import type { Handler, Layer } from "../exchange.ts";
import { NetworkError, NetworkReplyError } from "../network_error.ts";
import { describe } from "../_validation.ts";
import { checkLength, lengthCheckedBy, unreadable } from "../_response.ts";

/** A value in a message, with a hint when it is `undefined`. */
function shown(value: unknown): string {
  return value === undefined ? "undefined (a missing `return`?)" : describe(value);
}

function failure(where: string, what: string, cause?: unknown): NetworkReplyError {
  return new NetworkReplyError(NetworkError.UnknownNetworkError, `${where} ${what}`, { cause });
}

function ignore(): void {}

function isCancellation(error: unknown): boolean {
  return error instanceof DOMException &&
    (error.name === "AbortError" || error.name === "TimeoutError");
}

/** Guards a handler supplied by the user (`where` names it, such as "The transport"). */
export function _guardHandler(
  handler: Handler,
  where: string,
  fromBelow?: WeakSet<object>,
): Handler {
  return async (exchange: Parameters<Handler>[0]): Promise<Response> => {
    let response: unknown;
    try {
      response = await handler(exchange);
    } catch (error) {
      if (
        error instanceof NetworkReplyError || isCancellation(error) ||
        (typeof error === "object" && error !== null && fromBelow?.has(error))
      ) throw error;
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw failure(where, `threw ${message}`, error);
    }
    if (!(response instanceof Response)) {
      throw failure(
        where,
        `resolved with ${
          response === undefined ? "undefined (a missing `return`?)" : describe(response)
        } instead of a Response`,
      );
    }
    // `Response.error()` (status 0): a network error, as `fetch` rejects rather than answer it.
    if (response.status === 0) {
      const what = response.type === "error"
        ? "Response.error(), a network error,"
        : `a Response of type "${response.type}" with status 0, no response to read,`;
      throw failure(where, `answered ${what} for ${exchange.method} ${exchange.url.href}`);
    }
    const unread = unreadable(response);
    if (unread !== undefined) {
      throw failure(
        where,
        `answered a Response whose body ${unread} for ${exchange.method} ${exchange.url.href}; ` +
          "a body can be read once: answer a new Response each time",
      );
    }
    return response;
  };
}

/**
 * Guards a transport supplied by the user, and tells the reply its upload is complete when the
 * transport answers: a body of known length was handed over whole (Qt reports the last upload
 * progress at the total). A transport that told it already is not told again. The response it
 * answers has its length checked: its body must end at its `Content-Length`.
 */
export function _guardTransport(handler: Handler, where: string): Handler {
  const guarded = _guardHandler(handler, where);
  return async (exchange) => {
    const response = await guarded(exchange);
    const total = exchange.body?.length ?? -1;
    if (total >= 0) exchange.monitor.uploadProgress(total, total);
    // One a transport names itself (a mock route) keeps its name.
    return lengthCheckedBy(response) === undefined ? checkLength(response, where) : response;
  };
}

/** Guards a layer supplied by the user; `where` names its position for the messages. */
export function _guardLayer(layer: Layer, where: string): Layer {
  return (next) => {
    const fromBelow = new WeakSet<object>();
    const below: Handler = async (exchange) => {
      try {
        return await next(exchange);
      } catch (error) {
        if (typeof error === "object" && error !== null) fromBelow.add(error);
        throw error;
      }
    };
    // The promise of `next` is marked handled: a layer that drops it (calls `next` without
    // returning it) leaves no unhandled rejection when the reply it failed aborts the exchange
    // below. A layer that awaits it sees the rejection all the same.
    const tracked: Handler = (exchange) => {
      const sent = below(exchange);
      sent.catch(ignore);
      return sent;
    };
    let handler: unknown;
    try {
      handler = layer(tracked);
    } catch (error) {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      const thrown = failure(where, `threw ${message} when the pipeline was built`, error);
      return () => Promise.reject(thrown);
    }
    if (typeof handler !== "function") {
      const thrown = failure(
        where,
        `returned ${shown(handler)} instead of a handler ((exchange) => Promise<Response>)`,
      );
      return () => Promise.reject(thrown);
    }
    return _guardHandler(handler as Handler, where, fromBelow);
  };
}
