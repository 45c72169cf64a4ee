/** The one fake clock of the tests: time that moves only when a test moves it. */

import type { Clock } from "../../src/clock.ts";

/** The start of every fake clock: 2026-01-01T00:00:00Z. */
export const START: number = Date.UTC(2026, 0, 1);

/** A clock a test moves by hand. */
export interface FakeClock {
  /** The clock to hand to a manager or store. */
  readonly clock: Clock;
  /** The current time, in milliseconds since the epoch. */
  readonly now: number;
  /** Moves time forward by `ms` milliseconds. */
  advance(ms: number): void;
}

/** Makes a fake clock at `start` ({@linkcode START} unless given). */
export function fakeClock(start: number = START): FakeClock {
  let now = start;
  return {
    clock: () => now,
    get now() {
      return now;
    },
    advance(ms: number) {
      now += ms;
    },
  };
}
