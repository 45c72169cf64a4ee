/**
 * The retry layer: sends an exchange again after a connection error or a transient HTTP status,
 * with exponential backoff and jitter, honouring `Retry-After`. Off unless the manager or the
 * request sets `retry`.
 *
 * @module
 */

import { NetworkRetryEvent } from "../events.ts";
import { listensTo } from "../_typed_event_target.ts";
import { interimResponse, type Layer, throwIfReplyFinished } from "../exchange.ts";
import { discard, failedOnResponse, responseFailedOn } from "../_response.ts";
import type { Clock } from "../clock.ts";
import {
  causeChain,
  classifyError,
  errorName,
  NetworkError,
  type NetworkErrorCode,
  NetworkReplyError,
} from "../network_error.ts";
import { countRetry, monitorQueued, type NetworkReply, replyAbortSource } from "../reply.ts";
import { noteStatus } from "../reply/_failure.ts";
import {
  parseRetryAfter,
  resolveRetry,
  type RetryOptions,
  type RetrySettings,
} from "../retry_options.ts";

/** The backoff wait before retry `attempt` (1-based). */
function backoff(settings: RetrySettings, attempt: number): number {
  const full = Math.min(settings.delay * 2 ** (attempt - 1), settings.backoffLimit);
  if (!settings.jitter) return full;
  return Math.round(full / 2 + Math.random() * (full / 2));
}

/** Waits with `sleep`, stopping at once when `signal` aborts, whatever `sleep` does. */
function wait(
  sleep: RetrySettings["sleep"],
  ms: number,
  signal: AbortSignal,
): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([Promise.resolve().then(() => sleep(ms, signal)), aborted]).finally(() =>
    signal.removeEventListener("abort", onAbort)
  );
}

/**
 * Whether a wait of `ms` would end after the reply's total timeout, or after the latest a retry
 * may start (`latest`, a `performance.now()` time): then it is not started, and the reply ends
 * with what the attempt gave (its response or error) instead of a timeout.
 */
function outlasts(reply: NetworkReply, ms: number, latest: number): boolean {
  const { deadline } = replyAbortSource(reply);
  if (deadline === Infinity && latest === Infinity) return false;
  const now = performance.now();
  return ms >= deadline - now || now + ms > latest;
}

/**
 * A failed lookup the resolver may answer next time (`getaddrinfo`'s `EAI_AGAIN`, as Deno's
 * `fetch` reports it: "Temporary failure in name resolution" from glibc, "Try again" from musl,
 * `WSATRY_AGAIN` (os error 11002) on Windows), as opposed to a name that does not resolve
 * ("Name or service not known", "Name does not resolve", "nodename nor servname provided, or not
 * known", "No address associated with hostname", "No such host is known").
 */
const TRANSIENT_DNS =
  /temporary failure in name resolution|lookup address information: try again|os error 11002|eai_again/i;

/**
 * Whether a failed attempt is retried with `codes`: a code in the list, but for
 * `HostNotFoundError` only a transient failure of the lookup (see {@linkcode TRANSIENT_DNS}),
 * never a name that does not resolve. A proxy's host whose lookup failed for a time
 * (`ProxyNotFoundError`) is retried as an origin's, with `HostNotFoundError` in the list.
 */
export function retryableError(failure: NetworkReplyError, codes: ReadonlySet<number>): boolean {
  if (failure.code === NetworkError.ProxyNotFoundError && !codes.has(failure.code)) {
    return codes.has(NetworkError.HostNotFoundError) && TRANSIENT_DNS.test(causeChain(failure));
  }
  if (!codes.has(failure.code)) return false;
  if (failure.code !== NetworkError.HostNotFoundError) return true;
  return TRANSIENT_DNS.test(causeChain(failure));
}

/** Why a failure that would have been retried was not: the body cannot be sent again. */
const NOT_RESENT = "not retried: the request body is a one-shot stream (a ReadableStream or " +
  "async iterable), which cannot be sent again; pass a string, bytes, Blob, " +
  "FormData or URLSearchParams to allow retries";

/** What the retry layer reads, for each exchange. */
export interface RetryLayerSettings {
  /** Retrying of requests that set no `retry` of their own. */
  readonly retry: RetryOptions | number | boolean;
  /** The clock `Retry-After` dates are measured by. */
  readonly clock: Clock;
}

/**
 * Creates the retry layer. It sits above the queue layer, so every attempt takes
 * a fresh queue slot, and below the redirect layer, so each hop is retried on its own.
 */
export function retryLayer(options: RetryLayerSettings): Layer {
  return (next) => async (exchange) => {
    const settings = resolveRetry(exchange.request.retry, options.retry);
    const { protocol } = exchange.url;
    if (
      settings === null || (protocol !== "http:" && protocol !== "https:") ||
      !settings.methods.has(exchange.method.toUpperCase())
    ) {
      return await next(exchange);
    }
    const replayable = exchange.body === null || exchange.body.replayable;
    // `maxRetryTime`: no retry starts later than this (`performance.now()` time).
    const latest = settings.maxRetryTime === Infinity
      ? Infinity
      : performance.now() + settings.maxRetryTime;
    for (let attempt = 1;; attempt++) {
      const canRetry = attempt <= settings.limit;
      let response: Response;
      try {
        response = await next(exchange);
      } catch (error) {
        if (exchange.signal.aborted || !canRetry) throw error;
        const failure = classifyError(error, exchange.url, "connect");
        if (!retryableError(failure, settings.errorCodes)) throw error;
        const delay = backoff(settings, attempt);
        if (outlasts(exchange.reply, delay, latest)) throw error;
        if (!replayable) {
          const unsent = new NetworkReplyError(
            failure.code,
            `${failure.message}; ${NOT_RESENT}`,
            { cause: error },
          );
          const response = responseFailedOn(error);
          throw response === undefined ? unsent : failedOnResponse(unsent, response);
        }
        announce(exchange.reply, attempt, delay, 0, failure.code, failure.message);
        // Waiting to send again moves no data: the transfer timeout starts again with the send.
        monitorQueued(exchange.reply);
        await wait(settings.sleep, delay, exchange.signal);
        exchange.signal.throwIfAborted(); // aborted as the wait ended: not sent again
        countRetry(exchange.reply);
        continue;
      }
      if (!canRetry || !settings.statusCodes.has(response.status)) return response;
      const retryAfter = parseRetryAfter(response.headers.get("retry-after"), options.clock());
      if (retryAfter !== null && retryAfter > settings.maxRetryAfter) return response;
      // A body too large is as large when sent again, unless the server says when it takes it
      // (RFC 9110, 15.5.14): as ky and got, a 413 is retried only after its Retry-After.
      if (retryAfter === null && response.status === 413) return response;
      const delay = retryAfter ?? backoff(settings, attempt);
      if (outlasts(exchange.reply, delay, latest)) return response;
      if (!replayable) {
        noteStatus(exchange.reply, response.status, NOT_RESENT);
        return response;
      }
      exchange.releaseSlot?.(); // free for others while this one waits
      discard(response);
      throwIfReplyFinished(exchange); // aborted while the response was read: no retry event
      // Its cookies and HSTS policy count as a response passed up would: the layers above store
      // them before the next attempt, which carries the cookies (a sticky backend's, a challenge's).
      try {
        await interimResponse(exchange)?.(response, exchange.headers);
      } catch (error) {
        throw failedOnResponse(error, response); // the reply shows the response it came with
      }
      announce(
        exchange.reply,
        attempt,
        delay,
        response.status,
        NetworkError.NoError,
        `${exchange.url.href} answered ${response.status} ${response.statusText}`.trimEnd(),
      );
      monitorQueued(exchange.reply);
      await wait(settings.sleep, delay, exchange.signal);
      exchange.signal.throwIfAborted(); // aborted as the wait ended: not sent again
      countRetry(exchange.reply);
    }
  };
}

function announce(
  reply: NetworkReply,
  attempt: number,
  delay: number,
  status: number,
  error: NetworkErrorCode,
  message: string,
): void {
  if (!listensTo(reply, "retry")) return;
  const what = status === 0 ? `${errorName(error)}: ${message}` : message;
  reply.dispatchEvent(
    new NetworkRetryEvent({ attempt, delay, status, error, reason: what }),
  );
}
