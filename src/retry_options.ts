/**
 * Retry options: the {@linkcode RetryOptions} a manager or request takes, their check, and the
 * settings they resolve to (every default applied). The retry layer applies them.
 *
 * @module
 */

import { NetworkError, type NetworkErrorCode } from "./network_error.ts";
import { isToken } from "./_http_token.ts";
import { parseHttpDate } from "./_http_date.ts";
import { checkInteger, checkKeys, checkTimer, describe, MAX_TIMER_MS } from "./_validation.ts";

/**
 * How failed requests are sent again. Retrying is off by default (as in Qt); turn it on with
 * the `retry` option of the manager or of a request: `true` for these defaults, a number for a
 * `limit`, or an object.
 *
 * @example Retry idempotent requests up to 3 times, waiting at most 10 s for Retry-After
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, type RetryOptions } from "@netaccess/core";
 *
 * const retry: RetryOptions = { limit: 3, maxRetryAfter: 10_000 };
 * await using manager = new NetworkAccessManager({ retry });
 * assert.deepEqual(manager.retry, { limit: 3, maxRetryAfter: 10000 });
 * ```
 */
export interface RetryOptions {
  /**
   * How many times a request is sent again after the first attempt (0 = never).
   * @default {2}
   */
  limit?: number | undefined;
  /**
   * The methods retried; the default is the idempotent ones. Add `"POST"` only when the server
   * makes it safe to repeat.
   * @default {["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"]}
   */
  methods?: readonly string[] | undefined;
  /**
   * The response statuses retried. A 413 (a body too large) is retried only when it has a
   * `Retry-After`: without one, the same body would be refused again.
   * @default {[408, 413, 429, 500, 502, 503, 504]}
   */
  statusCodes?: readonly number[] | undefined;
  /**
   * The {@linkcode NetworkError} codes of failed connections retried: refused, closed by the
   * remote host, host not found, timed out, temporary network failure, network session failed.
   * `HostNotFoundError` is retried only when the lookup failed for a time ("Temporary failure in
   * name resolution", `EAI_AGAIN`), never for a name that does not resolve (NXDOMAIN: "Name or
   * service not known"). Only failures before the response count: one while its body streams
   * is never retried. The reply's own `timeout` and `transferTimeout` end it, and are not
   * retried.
   * @default {[1, 2, 3, 4, 7, 8]}
   */
  errorCodes?: readonly NetworkErrorCode[] | undefined;
  /**
   * The wait before the first retry in milliseconds; each next one doubles it (before jitter).
   * @default {300}
   */
  delay?: number | undefined;
  /**
   * The longest backoff wait in milliseconds.
   * @default {30000}
   */
  backoffLimit?: number | undefined;
  /**
   * Whether backoff waits are randomised (a uniform pick between half the wait and the wait),
   * so that many clients do not retry in step.
   * @default {true}
   */
  jitter?: boolean | undefined;
  /**
   * The longest `Retry-After` (seconds or an HTTP date) honoured, in milliseconds; when a
   * response asks for a longer wait, the reply fails at once with that response. So does one
   * asking for a wait (or a backoff) that would end after the reply's total `timeout`.
   * @default {60000}
   */
  maxRetryAfter?: number | undefined;
  /**
   * The latest a retry may start, in milliseconds after the first attempt of the request (of
   * each redirect hop, which is retried on its own): a wait (backoff or `Retry-After`) that
   * would end later is not started, and the reply ends with what the last attempt gave, its
   * response or its error. `undefined` sets no limit.
   *
   * @example Retrying for at most 5 seconds, however many retries that leaves
   * ```ts
   * import assert from "node:assert/strict";
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * await using manager = new NetworkAccessManager({ retry: { limit: 10, maxRetryTime: 5_000 } });
   * assert.deepEqual(manager.retry, { limit: 10, maxRetryTime: 5000 });
   * ```
   * @default {undefined}
   */
  maxRetryTime?: number | undefined;
  /**
   * Waits `ms` milliseconds, or until `signal` aborts. Replace it to run tests without real
   * waits.
   * @default {a setTimeout-based wait}
   */
  sleep?: ((ms: number, signal: AbortSignal) => Promise<void>) | undefined;
}

/** Retry settings with every default applied. */
export interface RetrySettings {
  limit: number;
  methods: Set<string>;
  statusCodes: Set<number>;
  errorCodes: Set<number>;
  delay: number;
  backoffLimit: number;
  jitter: boolean;
  maxRetryAfter: number;
  /** The latest a retry may start after the first attempt (ms), or `Infinity`. */
  maxRetryTime: number;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
}

const DEFAULT_METHODS = ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"];
const DEFAULT_STATUSES = [408, 413, 429, 500, 502, 503, 504];
const DEFAULT_ERRORS: NetworkErrorCode[] = [
  NetworkError.ConnectionRefusedError,
  NetworkError.RemoteHostClosedError,
  NetworkError.HostNotFoundError,
  NetworkError.TimeoutError,
  NetworkError.TemporaryNetworkFailureError,
  NetworkError.NetworkSessionFailedError,
];
const KNOWN_CODES = new Set<number>(Object.values(NetworkError));

function checkCount(what: string, field: string, value: unknown): void {
  checkInteger(what, field, value, 0);
}

/**
 * Checks a list option; an item it refuses is a `TypeError`, or a `RangeError` when the list
 * holds `numbers` and the item is a number out of their range.
 */
function checkList<T>(
  what: string,
  field: string,
  value: unknown,
  valid: (item: unknown) => item is T,
  kind: string,
  numbers = false,
): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) {
    throw new TypeError(`${what}: '${field}' must be an array of ${kind}, got ${describe(value)}`);
  }
  for (const item of value) {
    if (valid(item)) continue;
    const message = `${what}: '${field}' must hold ${kind} only, got ${describe(item)}`;
    throw numbers && typeof item === "number" ? new RangeError(message) : new TypeError(message);
  }
}

const isStatus = (item: unknown): item is number =>
  typeof item === "number" && Number.isInteger(item) && item >= 100 && item <= 599;
const isCode = (item: unknown): item is number => typeof item === "number" && KNOWN_CODES.has(item);

/** The names of the retry options (the type says every one is here). */
const RETRY_OPTIONS = Object.keys(
  {
    limit: 1,
    methods: 1,
    statusCodes: 1,
    errorCodes: 1,
    delay: 1,
    backoffLimit: 1,
    jitter: 1,
    maxRetryAfter: 1,
    maxRetryTime: 1,
    sleep: 1,
  } satisfies Record<keyof RetryOptions, 1>,
);

/**
 * Checks a `retry` value as {@linkcode checkRetry} does and returns it, options as a frozen copy
 * (their lists copied too): the object given stays the caller's, and a field of the copy cannot
 * be changed past the checks.
 */
export function checkedRetry<T extends RetryOptions | number | boolean | undefined>(
  what: string,
  value: T,
  required = false,
  field = "retry",
): T {
  checkRetry(what, value, required, field);
  if (typeof value !== "object" || value === null) return value;
  const copy: RetryOptions = { ...value };
  if (copy.methods) copy.methods = Object.freeze([...copy.methods]);
  if (copy.statusCodes) copy.statusCodes = Object.freeze([...copy.statusCodes]);
  if (copy.errorCodes) {
    copy.errorCodes = Object.freeze([...copy.errorCodes]);
  }
  return Object.freeze(copy) as T;
}

/**
 * Checks a `retry` value (`boolean`, a limit, or {@linkcode RetryOptions}; `undefined` too,
 * unless `required`); the message starts with `what` and names the option `field` (`retry`, or
 * the path to it: `manager.retry`).
 */
export function checkRetry(
  what: string,
  value: unknown,
  required = false,
  field = "retry",
): void {
  if ((value === undefined && !required) || typeof value === "boolean") return;
  if (typeof value === "number") return checkCount(what, field, value);
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(
      `${what}: '${field}' must be a boolean, a number or an object, got ${describe(value)}`,
    );
  }
  const options = value as RetryOptions;
  checkKeys(what, options, RETRY_OPTIONS, field);
  checkCount(what, `${field}.limit`, options.limit);
  // 0 is no wait, not retries off (that is `retry: false`).
  const noWait = "use 0 to retry without waiting, or retry: false for no retries";
  checkTimer(what, `${field}.delay`, options.delay, noWait);
  checkTimer(what, `${field}.backoffLimit`, options.backoffLimit, noWait);
  checkTimer(
    what,
    `${field}.maxRetryAfter`,
    options.maxRetryAfter,
    "with 0 any Retry-After wait fails the reply at once",
  );
  checkInteger(what, `${field}.maxRetryTime`, options.maxRetryTime, 0);
  checkList(what, `${field}.methods`, options.methods, isToken, "HTTP methods");
  checkList(
    what,
    `${field}.statusCodes`,
    options.statusCodes,
    isStatus,
    "HTTP statuses (100-599)",
    true,
  );
  checkList(what, `${field}.errorCodes`, options.errorCodes, isCode, "NetworkError codes", true);
  if (options.jitter !== undefined && typeof options.jitter !== "boolean") {
    throw new TypeError(
      `${what}: '${field}.jitter' must be a boolean, got ${describe(options.jitter)}`,
    );
  }
  if (options.sleep !== undefined && typeof options.sleep !== "function") {
    throw new TypeError(
      `${what}: '${field}.sleep' must be a function, got ${describe(options.sleep)}`,
    );
  }
}

/**
 * Waits `ms` milliseconds (at most about 24.8 days: a longer wait, such as an event stream's
 * `retry: 99999999999`, waits that long rather than firing at once), or rejects with the
 * signal's reason when it aborts.
 */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, Math.min(ms, MAX_TIMER_MS));
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

type RetryValue = RetryOptions | number | boolean | undefined;

/** `base` with the options `value` sets: one it leaves `undefined` keeps `base`'s (not given). */
function withDefined(base: RetryOptions, value: RetryOptions): RetryOptions {
  const options: Record<string, unknown> = { ...base };
  for (const [key, option] of Object.entries(value)) {
    if (option !== undefined) options[key] = option;
  }
  return options as RetryOptions;
}

/**
 * Resolves checked `retry` values to settings, or `null` when retrying is off. A request's
 * value wins; when it turns retrying on, the manager's options fill in the fields it does not
 * set (a manager's number is its `limit`).
 */
export function resolveRetry(request: RetryValue, manager: RetryValue): RetrySettings | null {
  const value = request ?? manager;
  if (value === undefined || value === false || value === 0) return null;
  const base: RetryOptions = request === undefined
    ? {}
    : typeof manager === "object"
    ? manager
    : typeof manager === "number" && manager > 0
    ? { limit: manager }
    : {};
  const options: RetryOptions = value === true
    ? { ...base }
    : typeof value === "number"
    ? { ...base, limit: value }
    : withDefined(base, value);
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
    maxRetryTime: options.maxRetryTime ?? Infinity,
    sleep: options.sleep ?? sleep,
  };
}

/**
 * Parses `Retry-After` (delay seconds or an HTTP date) to milliseconds from `now`, or `null`
 * when absent or invalid.
 */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = parseHttpDate(text, now);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - now);
}
