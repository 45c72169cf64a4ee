/**
 * The retry layer (not yet active: passes exchanges through).
 *
 * @module
 */

import type { Layer } from "../exchange.ts";
import type { NetworkAccessManager } from "../manager.ts";

/** Creates the retry layer for `manager`. */
export function _retryLayer(_manager: NetworkAccessManager): Layer {
  return (next) => next;
}
