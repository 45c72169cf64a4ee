/**
 * The redirect layer (not yet active: passes exchanges through).
 *
 * @module
 */

import type { Layer } from "../exchange.ts";
import type { NetworkAccessManager } from "../manager.ts";

/** Creates the redirect layer for `manager`. */
export function _redirectLayer(_manager: NetworkAccessManager): Layer {
  return (next) => next;
}
