/**
 * The auth layer (not yet active: passes exchanges through).
 *
 * @module
 */

import type { Layer } from "../exchange.ts";
import type { NetworkAccessManager } from "../manager.ts";

/** Creates the auth layer for `manager`. */
export function _authLayer(_manager: NetworkAccessManager): Layer {
  return (next) => next;
}
