/**
 * The hsts layer (not yet active: passes exchanges through).
 *
 * @module
 */

import type { Layer } from "../exchange.ts";
import type { NetworkAccessManager } from "../manager.ts";

/** Creates the hsts layer for `manager`. */
export function _hstsLayer(_manager: NetworkAccessManager): Layer {
  return (next) => next;
}
