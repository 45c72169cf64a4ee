/**
 * The cache layer (not yet active: passes exchanges through).
 *
 * @module
 */

import type { Layer } from "../exchange.ts";
import type { NetworkAccessManager } from "../manager.ts";

/** Creates the cache layer for `manager`. */
export function _cacheLayer(_manager: NetworkAccessManager): Layer {
  return (next) => next;
}
