/**
 * The cookies layer: for every hop (the first request and each redirect), sends the cookies
 * the manager's jar holds for the hop's URL in a `Cookie` header, and stores every
 * `Set-Cookie` of the hop's response in the jar before the response goes up (so a cookie set
 * by a 302 is sent with the next hop). A 401 that the auth layer answers stores its cookies
 * too, and the answer carries them; so does a status the retry layer sends again for (a 503
 * that sets a sticky backend's cookie), and the next attempt carries them; so does a
 * background revalidation's response. Responses served from the cache store nothing.
 *
 * - `cookieLoadControl: "manual"` sends no cookie from the jar; `cookieSaveControl:
 *   "manual"` stores none. A `null` jar turns the layer off.
 * - A `Cookie` header the request sets itself is kept for the origin of the first hop and
 *   merged with the jar's cookies: its pairs come first, and a jar cookie whose name it
 *   already carries is left out. It is never sent to another origin.
 * - `Set-Cookie` bytes are read as UTF-8 (as Latin-1 when they are not valid UTF-8), and
 *   cookie text is sent UTF-8 encoded.
 * - A jar that fails (a storage error) fails the reply with `UnknownNetworkError`.
 *
 * @module
 */

import type { Exchange, Layer } from "../exchange.ts";
import { headersIfMade, noteFirstUrl, responseInfo, setInterimResponse } from "../exchange.ts";
import type { CookieJar } from "../cookies/cookie_jar.ts";
import { jarCookieHeader, jarNeverStored } from "../cookies/memory_cookie_jar.ts";
import type { NetworkCookie } from "../cookies/network_cookie.ts";
import { NetworkError, NetworkReplyError } from "../network_error.ts";
import { discard, failedOnResponse } from "../_response.ts";
import { cookiePair, fromWire } from "../cookies/_wire.ts";

const COOKIE_SCHEMES = new Set(["http:", "https:", "ws:", "wss:"]);

/** The names of the `name=value` pairs of a Cookie header (`""` for a nameless pair). */
function _cookieNames(header: string): Set<string> {
  const names = new Set<string>();
  for (const pair of header.split(";")) {
    const trimmed = pair.trim();
    if (trimmed === "") continue;
    const eq = trimmed.indexOf("=");
    names.add(eq === -1 ? "" : trimmed.slice(0, eq).trim());
  }
  return names;
}

/** The Cookie header of a hop: the user's pairs, then the jar's cookies they do not name. */
function _mergeCookies(user: string | null, cookies: readonly NetworkCookie[]): string | null {
  const names = user === null ? new Set<string>() : _cookieNames(user);
  const parts: string[] = [];
  const own = user?.trim().replace(/;+$/, "").trim();
  if (own) parts.push(own);
  for (const cookie of cookies) {
    if (names.has(cookie.name)) continue;
    parts.push(cookiePair(cookie.name, cookie.value));
  }
  return parts.length === 0 ? null : parts.join("; ");
}

/** Sets the `Cookie` header of `headers` back to the request's own, `given`. */
function _restoreCookie(headers: Headers, given: string | null): void {
  if (given === null) headers.delete("cookie");
  else headers.set("cookie", given);
}

function _jarError(action: string, url: URL, error: unknown): NetworkReplyError {
  return new NetworkReplyError(
    NetworkError.UnknownNetworkError,
    `Cookie jar failed to ${action} ${url.href}: ${(error as Error)?.message ?? String(error)}`,
    { cause: error },
  );
}

/** What the cookies layer reads, for each hop. */
export interface CookiesSettings {
  /** The jar; `null` turns the layer off. */
  readonly cookieJar: CookieJar | null;
}

/** Creates the cookies layer; it reads `settings.cookieJar` for each hop. */
export function cookiesLayer(settings: CookiesSettings): Layer {
  return (next) => {
    /** Sends the hop with the jar's `cookies`, then stores the cookies the response sets. */
    const send = (
      exchange: Exchange,
      url: URL,
      jar: CookieJar,
      cookies: readonly NetworkCookie[],
    ): Promise<Response> => {
      const given = ownCookieHeader(exchange);
      const header = given === null && cookies.length === 0 ? null : _mergeCookies(
        given !== null && exchange.firstOrigin === url.origin ? given : null,
        cookies,
      );
      return sendWith(exchange, url, jar, given, header);
    };

    /** Sends the hop with the `Cookie` header `header` (the request's own was `given`). */
    const sendWith = (
      exchange: Exchange,
      url: URL,
      jar: CookieJar,
      given: string | null,
      header: string | null,
    ): Promise<Response> => {
      const changed = header !== given;
      if (changed) {
        if (header === null) exchange.headers.delete("cookie");
        else exchange.headers.set("cookie", header);
      }
      /** The headers a response answered below (a 401) set cookies on, for the next attempt. */
      let touched: Set<Headers> | undefined;
      setInterimResponse(exchange, cookiesLayer, async (response, headers) => {
        const lines = cookiesToStore(exchange, response);
        if (lines.length === 0) return;
        try {
          await jar.setCookiesFromUrl(lines.map(fromWire), url);
        } catch (error) {
          throw _jarError("store the cookies of", url, error);
        }
        if (headers === null || exchange.request.cookieLoadControl !== "automatic") return;
        let cookies: NetworkCookie[];
        try {
          cookies = await jar.cookiesForUrl(url);
        } catch (error) {
          throw _jarError("read the cookies for", url, error);
        }
        const merged = _mergeCookies(
          given !== null && exchange.firstOrigin === url.origin ? given : null,
          cookies,
        );
        if (merged === null) headers.delete("cookie");
        else headers.set("cookie", merged);
        (touched ??= new Set()).add(headers);
      });
      // The next hop starts from the request's own headers, not from this hop's cookies.
      const restore = () => {
        if (changed) _restoreCookie(exchange.headers, given);
        if (touched !== undefined) {
          for (const headers of touched) {
            _restoreCookie(headers, given);
          }
        }
      };
      let sending: Promise<Response>;
      try {
        sending = next(exchange);
      } catch (error) {
        restore();
        throw error;
      }
      return sending.then((response) => {
        restore();
        return save(exchange, url, jar, response);
      }, (error) => {
        restore();
        throw error;
      });
    };

    return (exchange) => {
      const jar = settings.cookieJar;
      const url = exchange.url;
      if (jar === null || !COOKIE_SCHEMES.has(url.protocol)) return next(exchange);
      noteFirstUrl(exchange, url);
      // A memory jar that never stored a cookie has none to send: no lookup, no promise.
      if (exchange.request.cookieLoadControl !== "automatic" || jarNeverStored(jar)) {
        try {
          return send(exchange, url, jar, []);
        } catch (error) {
          return Promise.reject(error);
        }
      }
      // A memory jar writes the header from its records when the request sets none of its own.
      if (ownCookieHeader(exchange) === null) {
        let written: string | null | Promise<string | null> | undefined;
        try {
          written = jarCookieHeader(jar, url);
        } catch (error) {
          return Promise.reject(_jarError("read the cookies for", url, error));
        }
        if (written instanceof Promise) {
          return written.then(
            (header) => sendWith(exchange, url, jar, null, header),
            (error) => {
              throw _jarError("read the cookies for", url, error);
            },
          );
        }
        if (written !== undefined) {
          try {
            return sendWith(exchange, url, jar, null, written);
          } catch (error) {
            return Promise.reject(error);
          }
        }
      }
      // No promise of its own until the jar answers.
      let loading: Promise<NetworkCookie[]>;
      try {
        loading = jar.cookiesForUrl(url);
      } catch (error) {
        return Promise.reject(_jarError("read the cookies for", url, error));
      }
      return loading.then(
        (cookies) => send(exchange, url, jar, cookies),
        (error) => {
          throw _jarError("read the cookies for", url, error);
        },
      );
    };
  };
}

/** Stores the cookies `response` sets, unless the request says not to or it came from the cache. */
function save(
  exchange: Exchange,
  url: URL,
  jar: CookieJar,
  response: Response,
): Response | Promise<Response> {
  const lines = cookiesToStore(exchange, response);
  return lines.length === 0 ? response : store(jar, url, response, lines);
}

/**
 * The request's own `Cookie` header on this hop, or `null`: the cookies layer merges the jar's
 * cookies into it, and writes a memory jar's header at once only when there is none.
 */
export function ownCookieHeader(exchange: Exchange): string | null {
  return headersIfMade(exchange)?.get("cookie") ?? null;
}

/**
 * The `Set-Cookie` lines the cookies layer stores from `response` (none when the request says
 * not to, the response came from the cache, or it is a proxy's `407`).
 */
export function cookiesToStore(exchange: Exchange, response: Response): string[] {
  // A proxy's `407` speaks for the proxy, not for the origin whose URL it answered.
  if (exchange.request.cookieSaveControl !== "automatic" || response.status === 407) return [];
  const lines = response.headers.getSetCookie();
  return lines.length === 0 || responseInfo(response).fromCache ? [] : lines;
}

async function store(
  jar: CookieJar,
  url: URL,
  response: Response,
  lines: string[],
): Promise<Response> {
  try {
    await jar.setCookiesFromUrl(lines.map(fromWire), url);
  } catch (error) {
    discard(response);
    // The reply shows the response whose cookies could not be stored.
    throw failedOnResponse(_jarError("store the cookies of", url, error), response);
  }
  return response;
}
