/**
 * The injectable clock that drives cache freshness, cookie expiry and HSTS lifetimes.
 *
 * @module
 */

/**
 * A source of the current time in milliseconds since the Unix epoch. Options named `clock`
 * take one, so tests move time forward without sleeping.
 *
 * @example A clock a test controls
 * ```ts
 * import type { Clock } from "@netaccess/core";
 *
 * let now = Date.UTC(2026, 0, 1);
 * const clock: Clock = () => now;
 * now += 60_000; // one minute later, at once
 * console.log(new Date(clock()).toISOString());
 * ```
 */
export type Clock = () => number;
