/**
 * The retry layer: sends an exchange again after a connection error or a transient HTTP status,
 * with exponential backoff and jitter, honouring `Retry-After`. Off unless the manager or the
 * request sets `retry`.
 *
 * @module
 */

import type { Layer } from "../exchange.ts";
import type { NetworkAccessManager } from "../manager.ts";
import {
  _classifyError,
  _errorName,
  NetworkError,
  type NetworkErrorCode,
} from "../network_error.ts";
import { _countRetry, type NetworkReply } from "../reply.ts";

/**
 * How failed requests are sent again. Retrying is off by default (as in Qt); turn it on with
 * the `retry` option of the manager or of a request: `true` for these defaults, a number for a
 * `limit`, or an object.
 *
 * @example Retry idempotent requests up to 3 times, waiting at most 10 s for Retry-After
 * ```ts
 * import { NetworkAccessManager, type RetryOptions } from "@netaccess/core";
 *
 * const retry: RetryOptions = { limit: 3, maxRetryAfter: 10_000 };
 * await using manager = new NetworkAccessManager({ retry });
 * console.log(manager.retry); // { limit: 3, maxRetryAfter: 10000 }
 * ```
 */
export interface RetryOptions {
  /**
   * How many times a request is sent again after the first attempt (0 = never).
   * @default {2}
   */
  limit?: number;
  /**
   * The methods retried; the default is the idempotent ones. Add `"POST"` only when the server
   * makes it safe to repeat.
   * @default {["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"]}
   */
  methods?: string[];
  /**
   * The response statuses retried.
   * @default {[408, 413, 429, 500, 502, 503, 504]}
   */
  statusCodes?: number[];
  /**
   * The {@linkcode NetworkError} codes of failed connections retried: refused, closed by the
   * remote host, timed out, temporary network failure, network session failed.
   * @default {[1, 2, 4, 7, 8]}
   */
  errorCodes?: NetworkErrorCode[];
  /**
   * The wait before the first retry in milliseconds; each next one doubles it (before jitter).
   * @default {300}
   */
  delay?: number;
  /**
   * The longest backoff wait in milliseconds.
   * @default {30000}
   */
  backoffLimit?: number;
  /**
   * Whether backoff waits are randomised (a uniform pick between half the wait and the wait),
   * so that many clients do not retry in step.
   * @default {true}
   */
  jitter?: boolean;
  /**
   * The longest `Retry-After` (seconds or an HTTP date) honoured, in milliseconds; when a
   * response asks for a longer wait, the reply fails at once with that response.
   * @default {60000}
   */
  maxRetryAfter?: number;
  /**
   * Waits `ms` milliseconds, or until `signal` aborts. Replace it to run tests without real
   * waits.
   * @default {a setTimeout-based wait}
   */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * The `retry` event of a reply, dispatched before the wait that precedes each new attempt.
 *
 * @example Logging retries
 * ```ts
 * import { NetworkAccessManager, type NetworkRetryEvent } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager({ retry: { limit: 1, delay: 10 } });
 * const reply = manager.get("data:,no retries for data URLs");
 * reply.addEventListener("retry", (event) => {
 *   const e = event as NetworkRetryEvent;
 *   console.log(`retry ${e.attempt} in ${e.delay} ms: ${e.reason}`);
 * });
 * await reply.finished;
 * console.log(reply.retries); // 0
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
    this.reason = init.reason;
  }
}

/** Retry settings with every default applied. */
export interface _RetrySettings {
  limit: number;
  methods: Set<string>;
  statusCodes: Set<number>;
  errorCodes: Set<number>;
  delay: number;
  backoffLimit: number;
  jitter: boolean;
  maxRetryAfter: number;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
}

const DEFAULT_METHODS = ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"];
const DEFAULT_STATUSES = [408, 413, 429, 500, 502, 503, 504];
const DEFAULT_ERRORS: NetworkErrorCode[] = [
  NetworkError.ConnectionRefusedError,
  NetworkError.RemoteHostClosedError,
  NetworkError.TimeoutError,
  NetworkError.TemporaryNetworkFailureError,
  NetworkError.NetworkSessionFailedError,
];
const KNOWN_CODES = new Set<number>(Object.values(NetworkError));

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value == null) {
    return String(value);
  }
  return Array.isArray(value) ? "an array" : typeof value;
}

function checkCount(what: string, field: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new RangeError(
      `${what}: '${field}' must be a non-negative integer, got ${describe(value)}`,
    );
  }
}

function checkList<T>(
  what: string,
  field: string,
  value: unknown,
  valid: (item: unknown) => item is T,
  kind: string,
): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) {
    throw new TypeError(`${what}: '${field}' must be an array of ${kind}, got ${describe(value)}`);
  }
  for (const item of value) {
    if (!valid(item)) {
      throw new TypeError(`${what}: '${field}' must hold ${kind} only, got ${describe(item)}`);
    }
  }
}

const isMethod = (item: unknown): item is string =>
  typeof item === "string" && /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(item);
const isStatus = (item: unknown): item is number =>
  typeof item === "number" && Number.isInteger(item) && item >= 100 && item <= 599;
const isCode = (item: unknown): item is number => typeof item === "number" && KNOWN_CODES.has(item);

/**
 * Checks a `retry` value (`boolean`, a limit, or {@linkcode RetryOptions}); the message starts
 * with `what` and names the field.
 */
export function _checkRetry(what: string, value: unknown): void {
  if (value === undefined || typeof value === "boolean") return;
  if (typeof value === "number") return checkCount(what, "retry", value);
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(
      `${what}: 'retry' must be a boolean, a number or an object, got ${describe(value)}`,
    );
  }
  const options = value as RetryOptions;
  checkCount(what, "retry.limit", options.limit);
  checkCount(what, "retry.delay", options.delay);
  checkCount(what, "retry.backoffLimit", options.backoffLimit);
  checkCount(what, "retry.maxRetryAfter", options.maxRetryAfter);
  checkList(what, "retry.methods", options.methods, isMethod, "HTTP methods");
  checkList(what, "retry.statusCodes", options.statusCodes, isStatus, "HTTP statuses (100-599)");
  checkList(what, "retry.errorCodes", options.errorCodes, isCode, "NetworkError codes");
  if (options.jitter !== undefined && typeof options.jitter !== "boolean") {
    throw new TypeError(
      `${what}: 'retry.jitter' must be a boolean, got ${describe(options.jitter)}`,
    );
  }
  if (options.sleep !== undefined && typeof options.sleep !== "function") {
    throw new TypeError(
      `${what}: 'retry.sleep' must be a function, got ${describe(options.sleep)}`,
    );
  }
}

/** Waits `ms` milliseconds, or rejects with the signal's reason when it aborts. */
export function _sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

type RetryValue = RetryOptions | number | boolean | undefined;

/**
 * Resolves checked `retry` values to settings, or `null` when retrying is off. A request's
 * value wins; when it turns retrying on, the manager's options (when an object) fill in the
 * fields it does not set.
 */
export function _resolveRetry(request: RetryValue, manager: RetryValue): _RetrySettings | null {
  const value = request ?? manager;
  if (value === undefined || value === false || value === 0) return null;
  const base: RetryOptions = request !== undefined && typeof manager === "object" ? manager : {};
  const options: RetryOptions = value === true
    ? { ...base }
    : typeof value === "number"
    ? { ...base, limit: value }
    : { ...base, ...value };
  const limit = options.limit ?? 2;
  if (limit === 0) return null;
  return {
    limit,
    methods: new Set((options.methods ?? DEFAULT_METHODS).map((m) => m.toUpperCase())),
    statusCodes: new Set(options.statusCodes ?? DEFAULT_STATUSES),
    errorCodes: new Set(options.errorCodes ?? DEFAULT_ERRORS),
    delay: options.delay ?? 300,
    backoffLimit: options.backoffLimit ?? 30_000,
    jitter: options.jitter ?? true,
    maxRetryAfter: options.maxRetryAfter ?? 60_000,
    sleep: options.sleep ?? _sleep,
  };
}

/**
 * Parses `Retry-After` (delay seconds or an HTTP date) to milliseconds from `now`, or `null`
 * when absent or invalid.
 */
export function _parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/[a-z]/i.test(text)) return null;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - now);
}

/** The backoff wait before retry `attempt` (1-based). */
function backoff(settings: _RetrySettings, attempt: number): number {
  const full = Math.min(settings.delay * 2 ** (attempt - 1), settings.backoffLimit);
  if (!settings.jitter) return full;
  return Math.round(full / 2 + Math.random() * (full / 2));
}

/** Waits with `sleep`, stopping at once when `signal` aborts, whatever `sleep` does. */
function wait(
  sleep: _RetrySettings["sleep"],
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
 * Creates the retry layer for `manager`. It sits above the queue layer, so every attempt takes
 * a fresh queue slot, and below the redirect layer, so each hop is retried on its own.
 */
export function _retryLayer(manager: NetworkAccessManager): Layer {
  return (next) => async (exchange) => {
    const settings = _resolveRetry(exchange.request.retry, manager.retry);
    const { protocol } = exchange.url;
    if (
      settings === null || (protocol !== "http:" && protocol !== "https:") ||
      !settings.methods.has(exchange.method.toUpperCase())
    ) {
      return await next(exchange);
    }
    const replayable = exchange.body === null || exchange.body.replayable;
    for (let attempt = 1;; attempt++) {
      const canRetry = replayable && attempt <= settings.limit;
      let response: Response;
      try {
        response = await next(exchange);
      } catch (error) {
        if (exchange.signal.aborted || !canRetry) throw error;
        const failure = _classifyError(error, exchange.url, "connect");
        if (!settings.errorCodes.has(failure.code)) throw error;
        const delay = backoff(settings, attempt);
        announce(exchange.reply, attempt, delay, 0, failure.code, failure.message);
        await wait(settings.sleep, delay, exchange.signal);
        continue;
      }
      if (!canRetry || !settings.statusCodes.has(response.status)) return response;
      const retryAfter = _parseRetryAfter(response.headers.get("retry-after"), manager.clock());
      if (retryAfter !== null && retryAfter > settings.maxRetryAfter) return response;
      const delay = retryAfter ?? backoff(settings, attempt);
      await response.body?.cancel().catch(() => {});
      announce(
        exchange.reply,
        attempt,
        delay,
        response.status,
        NetworkError.NoError,
        `${exchange.url.href} answered ${response.status} ${response.statusText}`.trimEnd(),
      );
      await wait(settings.sleep, delay, exchange.signal);
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
  _countRetry(reply);
  const what = status === 0 ? `${_errorName(error)}: ${message}` : message;
  reply.dispatchEvent(
    new NetworkRetryEvent({ attempt, delay, status, error, reason: what }),
  );
}
