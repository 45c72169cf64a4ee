/**
 * The cookie engines of the jars, over their stores. This module loads tough-cookie and the
 * public suffix list (tldts); the jars import it on first use through
 * {@linkcode _loadEngines}, so that importing the package does not.
 */

import { _CookieEngine } from "./_cookie_engine.ts";
import { type _StoreLimits, _TOUCH_THRESHOLD_MS } from "./_cookie_store.ts";
import { _KvCookieStore } from "./_kv_cookie_store.ts";
import { _KvChanges } from "../_kv_changes.ts";
import { _MemoryCookieStore } from "./_memory_cookie_store.ts";

/** The engine of a {@linkcode MemoryCookieJar}, and its store. */
export function _memoryEngine(
  limits: _StoreLimits,
): { engine: _CookieEngine; store: _MemoryCookieStore } {
  const store = new _MemoryCookieStore(limits);
  return { engine: new _CookieEngine(store, 0), store };
}

/**
 * The engine of a {@linkcode KvCookieJar} over the keys under `prefix`, and its store.
 *
 * @param changes The change detector of the database, when it has one.
 */
export function _kvEngine(
  kv: Deno.Kv,
  prefix: Deno.KvKey,
  limits: _StoreLimits,
  changes: _KvChanges | null,
): { engine: _CookieEngine; store: _KvCookieStore } {
  const store = new _KvCookieStore(kv, prefix, limits, changes);
  return { engine: new _CookieEngine(store, _TOUCH_THRESHOLD_MS), store };
}

/** The change detector of the database a jar opened at `path`, or null. */
export function _kvChanges(path: string): _KvChanges | null {
  return _KvChanges.open(path);
}
