/**
 * How a reply fails when its pipeline throws or its request's signal times out: the code, the
 * sentence, and the response the failure came on, when there was one.
 *
 * @module
 */

import {
  classifyError,
  NetworkError,
  type NetworkErrorCode,
  NetworkReplyError,
  statusToError,
} from "../network_error.ts";
import { responseFailedOn } from "../_response.ts";

/** A reply's failure. */
export interface ReplyFailure {
  code: NetworkErrorCode;
  message: string;
  /** The response a layer failed on (a redirect it refused): its status and headers stay. */
  response?: Response;
  /** What the failure came from, when it is known here. */
  cause?: unknown;
}

/**
 * The failure of a reply whose pipeline threw `error` for `url`. After a transfer timeout
 * through a proxy (`proxyTimeout`, its message), only the proxy layer's probe changes it.
 */
export function pipelineFailure(
  error: unknown,
  url: URL,
  proxyTimeout: string | undefined,
): ReplyFailure {
  const failure: ReplyFailure = proxyTimeout === undefined ||
      (error as { code?: unknown })?.code === NetworkError.ProxyTimeoutError
    ? classifyError(error, url, "connect")
    : { code: NetworkError.TimeoutError, message: proxyTimeout };
  const response = responseFailedOn(error);
  // An error is a failure as it is; with a response, a new one (its message is no own field).
  return response === undefined
    ? failure
    : { code: failure.code, message: failure.message, response, cause: failure.cause };
}

/** The error of a pipeline that resolved with `value`, which is not a `Response`. */
export function notAResponse(value: unknown): NetworkReplyError {
  return new NetworkReplyError(
    NetworkError.UnknownNetworkError,
    `The pipeline resolved with ${typeof value} instead of a Response`,
  );
}

/** The message of a reply to `url` whose total timeout of `timeout` ms elapsed. */
export function totalTimeout(url: URL, timeout: number): string {
  return `Timed out after ${timeout} ms: ${url.href} did not finish in time (timeout)`;
}

/**
 * The message of a reply whose request's signal aborted with `reason`, when it is a
 * `TimeoutError` (as `AbortSignal.timeout` aborts); `undefined` for other aborts.
 */
export function signalTimeout(reason: unknown, url: URL): string | undefined {
  if (!(reason instanceof DOMException) || reason.name !== "TimeoutError") return undefined;
  return `Timed out: the request's signal aborted with a TimeoutError before ${url.href} ` +
    `finished (${reason.message})`;
}

/**
 * The error code of a reply whose body arrived whole: its HTTP status's, for an `http:` or
 * `https:` URL (below 400, `NoError` without a look at the URL).
 */
export function completedCode(
  reply: { readonly url: URL; readonly status: number },
): NetworkErrorCode {
  const status = reply.status;
  if (status < 400) return NetworkError.NoError;
  const protocol = reply.url.protocol;
  return protocol === "http:" || protocol === "https:"
    ? statusToError(status)
    : NetworkError.NoError;
}

/**
 * Whether `reply` failed on a redirect (one too many, a refused one): it shows the redirect's
 * status, and its error is the redirect layer's, not the answer of a response.
 */
export function failedOnRedirect(reply: { status: number; error: NetworkErrorCode }): boolean {
  return reply.status >= 300 && reply.status < 400 && reply.error !== NetworkError.NoError;
}

/** Why a reply's final HTTP status was not retried, when a layer said so: by reply. */
const statusNotes = new WeakMap<object, { status: number; note: string }>();

/**
 * Records why `reply`'s response of `status` ended it instead of being sent again (a retry
 * layer that could not resend a one-shot body): the message of a reply that fails with that
 * status says so.
 */
export function noteStatus(reply: object, status: number, note: string): void {
  statusNotes.set(reply, { status, note });
}

/**
 * The message of a reply that ended with an HTTP error `status`: what the server (or, for a
 * 407, the proxy `by`) replied, and why it was not sent again when a layer recorded it.
 */
export function statusFailureMessage(
  reply: { readonly url: URL; readonly status: number; readonly statusText: string },
  by: string | undefined,
): string {
  const recorded = statusNotes.get(reply);
  const note = recorded?.status === reply.status ? `; ${recorded.note}` : "";
  return `Error transferring ${reply.url.href} - ${by === undefined ? "server" : `proxy ${by}`} ` +
    `replied: ${reply.status} ${reply.statusText}`.trimEnd() + note;
}
