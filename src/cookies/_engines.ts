/**
 * The cookie engines of the jars, over their stores. This module loads tough-cookie and the
 * public suffix list (tldts); the jars import it on first use through
 * {@linkcode _loadEngines}, so that importing the package does not.
 */

import { _CookieEngine } from "./_cookie_engine.ts";
import { type _StoreLimits, _TOUCH_THRESHOLD_MS } from "./_cookie_store.ts";
import { _KvCookieStore } from "./_kv_cookie_store.ts";
import { _MemoryCookieStore } from "./_memory_cookie_store.ts";

/** The engine of a {@linkcode MemoryCookieJar}, and its store. */
export function _memoryEngine(
  limits: _StoreLimits,
): { engine: _CookieEngine; store: _MemoryCookieStore } {
  const store = new _MemoryCookieStore(limits);
  return { engine: new _CookieEngine(store, 0), store };
}

/** The engine of a {@linkcode KvCookieJar} over the keys under `prefix`. */
export function _kvEngine(kv: Deno.Kv, prefix: Deno.KvKey, limits: _StoreLimits): _CookieEngine {
  return new _CookieEngine(new _KvCookieStore(kv, prefix, limits), _TOUCH_THRESHOLD_MS);
}
