/**
 * The `CachePolicy` class of `http-cache-semantics` driven by the manager's clock. This module
 * loads `http-cache-semantics` (CommonJS, so Deno starts its Node compatibility layer with it);
 * the cache layer imports it on first use through `_loadPolicyClass`, so that importing the
 * package, or running a manager without a cache, does not.
 */

// @ts-types="npm:@types/http-cache-semantics@4.2.0"
import CachePolicy from "http-cache-semantics";
import type { Clock } from "../clock.ts";
import { _HEURISTIC_STATUSES, _UNDERSTOOD_STATUSES } from "./_statuses.ts";
import { _selectingValue } from "./_vary.ts";

const classes = new WeakMap<Clock, typeof CachePolicy>();

/** The fields of a `CachePolicy` that the storability rule reads. */
interface PolicyInternals {
  _reqcc: Record<string, string | boolean>;
  _rescc: Record<string, string | boolean>;
  _resHeaders: Record<string, string>;
  _method: string;
  _status: number;
  _isShared: boolean;
  _noAuthorization: boolean;
  _reqHeaders: Record<string, string>;
}

/**
 * The `CachePolicy` class whose notion of "now" is `clock`: one subclass per clock, so
 * `fromObject` keeps reading the same time.
 */
export function _policyClass(clock: Clock): typeof CachePolicy {
  let found = classes.get(clock);
  if (!found) {
    found = class ClockedCachePolicy extends CachePolicy {
      now(): number {
        return clock();
      }

      /**
       * RFC 9111 section 3: any final status but a proxy's `407` may be stored with explicit
       * freshness (the library knows a fixed list), and `must-understand` stores only the statuses this cache
       * understands, overriding `no-store`.
       */
      override storable(): boolean {
        const self = this as unknown as PolicyInternals;
        if (self._reqcc["no-store"]) return false;
        const method = self._method;
        const rescc = self._rescc;
        const explicit = Boolean(
          rescc["max-age"] || self._resHeaders.expires || (self._isShared && rescc["s-maxage"]),
        );
        if (method !== "GET" && method !== "HEAD" && !(method === "POST" && explicit)) {
          return false;
        }
        const status = self._status;
        if (status < 200 || status > 599 || status === 206 || status === 304) return false;
        // A proxy's refusal is no representation of the resource: stored, it would stand in for
        // the resource once the proxy settings change (http-cache-semantics refuses it too).
        if (status === 407) return false;
        if (self._rescc["must-understand"]) {
          if (!_UNDERSTOOD_STATUSES.has(status)) return false;
        } else if (self._rescc["no-store"]) return false;
        if (self._isShared && rescc.private) return false;
        // RFC 9111 section 3.5: a shared cache stores a response to a request with
        // Authorization only when a directive allows it.
        if (
          self._isShared && !self._noAuthorization &&
          !(rescc["must-revalidate"] || rescc.public || rescc["s-maxage"])
        ) return false;
        return explicit || Boolean(self._rescc.public) || _HEURISTIC_STATUSES.has(status);
      }

      /**
       * Whether the request's fields that `Vary` names match the stored request's, compared
       * as the variant keys compare them (`_vary.ts`), not as sent.
       */
      _varyMatches(request: { headers: Record<string, string> }): boolean {
        const self = this as unknown as PolicyInternals;
        const vary = self._resHeaders.vary;
        if (!vary) return true;
        for (const name of vary.trim().toLowerCase().split(/\s*,\s*/)) {
          if (name === "*") return false;
          const presented = Object.hasOwn(request.headers, name)
            ? _selectingValue(name, request.headers[name]!)
            : null;
          const stored = Object.hasOwn(self._reqHeaders, name)
            ? _selectingValue(name, self._reqHeaders[name]!)
            : null;
          if (presented !== stored) return false;
        }
        return true;
      }
    };
    classes.set(clock, found);
  }
  return found;
}
