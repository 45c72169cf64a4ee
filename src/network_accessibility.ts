/**
 * Whether a manager may use the network: {@linkcode NetworkAccessibility} and the
 * `networkaccessiblechanged` event, {@linkcode NetworkAccessibleChangedEvent}.
 *
 * @module
 */

/**
 * Whether a manager may use the network (Qt's `QNetworkAccessManager::NetworkAccessibility`):
 *
 * - `"accessible"`: requests go to the network.
 * - `"not-accessible"`: network access is off; new `http:` and `https:` requests fail with
 *   `UnknownNetworkError` ("Network access is disabled") unless the cache can answer them.
 *   `file:` and `data:` URLs still work.
 * - `"unknown"`: it cannot be told for every host at once (Deno's `net` permission is granted
 *   for some hosts only, or would be asked for); each request is checked for its own host.
 *
 * @example Working offline
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, type NetworkAccessibility } from "@netaccess/core";
 *
 * const offline: NetworkAccessibility = "not-accessible";
 * await using manager = new NetworkAccessManager({ networkAccessible: offline });
 * const reply = manager.get("https://example.com/");
 * await reply.finished;
 * assert.equal(reply.errorString, "Network access is disabled");
 * assert.equal(await manager.get("data:,still%20works").text(), "still works");
 * ```
 */
export type NetworkAccessibility = "accessible" | "not-accessible" | "unknown";

/**
 * The `networkaccessiblechanged` event of a manager: fires on every change of
 * `manager.networkAccessible`, whether the switch was set or Deno's `net` permission changed
 * (granted, revoked).
 *
 * @example Following the switch
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, type NetworkAccessibleChangedEvent } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager();
 * manager.addEventListener("networkaccessiblechanged", (e: NetworkAccessibleChangedEvent) => {
 *   assert.equal(e.networkAccessible, "not-accessible");
 * });
 * manager.networkAccessible = "not-accessible";
 * ```
 */
export class NetworkAccessibleChangedEvent extends Event {
  /** The new value of `manager.networkAccessible`. */
  readonly networkAccessible: NetworkAccessibility;

  /**
   * Creates the event.
   *
   * @param networkAccessible The new accessibility.
   */
  constructor(networkAccessible: NetworkAccessibility) {
    super("networkaccessiblechanged");
    this.networkAccessible = networkAccessible;
  }
}

/** The values of {@linkcode NetworkAccessibility}. */
export const ACCESSIBILITIES: readonly NetworkAccessibility[] = [
  "accessible",
  "not-accessible",
  "unknown",
];
