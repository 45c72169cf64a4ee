/**
 * The wall clock and the check of `clock` options.
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import { checkFunction } from "./_validation.ts";

/** The wall clock, `Date.now`. */
export const systemClock: Clock = (): number => Date.now();

/**
 * Checks a `clock` option and returns the clock to use: the option, or the wall clock when it
 * is `undefined`.
 *
 * @param what What failed, for the message (`Cannot open cache`).
 * @param clock The option's value.
 * @param field The option's name in the message.
 * @throws {TypeError} When `clock` is neither a function nor `undefined`.
 */
export function checkClock(what: string, clock: unknown, field = "clock"): Clock {
  checkFunction(what, field, clock);
  return (clock as Clock | undefined) ?? systemClock;
}
