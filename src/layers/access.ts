/**
 * The access layer (not yet active: passes exchanges through).
 *
 * @module
 */

import type { Layer } from "../exchange.ts";
import type { NetworkAccessManager } from "../manager.ts";

/** Creates the access layer for `manager`. */
export function _accessLayer(_manager: NetworkAccessManager): Layer {
  return (next) => next;
}
