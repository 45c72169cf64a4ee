/**
 * The cookies layer (not yet active: passes exchanges through).
 *
 * @module
 */

import type { Layer } from "../exchange.ts";
import type { NetworkAccessManager } from "../manager.ts";

/** Creates the cookies layer for `manager`. */
export function _cookiesLayer(_manager: NetworkAccessManager): Layer {
  return (next) => next;
}
