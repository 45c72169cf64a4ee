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
 * import assert from "node:assert/strict";
 * import { type Clock, MemoryHstsStore } from "@netaccess/core";
 *
 * let now = Date.UTC(2026, 0, 1);
 * const clock: Clock = () => now;
 * const store = new MemoryHstsStore({ clock });
 * await store.learn("example.com", "max-age=60");
 * assert.equal(await store.isKnownHost("example.com"), true);
 * now += 60_000; // one minute later, at once
 * assert.equal(new Date(clock()).toISOString(), "2026-01-01T00:01:00.000Z");
 * assert.equal(await store.isKnownHost("example.com"), false); // the policy expired
 * ```
 */
export type Clock = () => number;
