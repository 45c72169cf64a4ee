/**
 * The response statuses the cache's storability rule knows, in one place for the cache and for
 * whoever explains its decisions (the command line's `--verbose`).
 *
 * @module
 */

/** Statuses heuristically cacheable (RFC 9110 section 15.1). */
export const _HEURISTIC_STATUSES: ReadonlySet<number> = new Set([
  200,
  203,
  204,
  300,
  301,
  308,
  404,
  405,
  410,
  414,
  501,
]);

/** Statuses whose semantics this cache implements (for `must-understand`). */
export const _UNDERSTOOD_STATUSES: ReadonlySet<number> = new Set([
  ..._HEURISTIC_STATUSES,
  302,
  303,
  307,
]);
