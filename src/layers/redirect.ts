/**
 * The redirect layer: follows 301, 302, 303, 307 and 308 responses under the request's
 * redirect policy, sending every hop back through the layers below (HSTS, cookies,
 * authentication, cache, queue), and keeps credentials and cookies from crossing origins.
 *
 * @module
 */

import { withoutCredentials } from "../auth/credential_cache.ts";
import {
  type Exchange,
  type Handler,
  headersIfMade,
  type Layer,
  responseInfo,
  setResponseInfo,
  throwIfReplyFinished,
} from "../exchange.ts";
import { upgradeUrl } from "../hsts/_upgrade.ts";
import type { HstsStore } from "../hsts/hsts_store.ts";
import { NetworkError, type NetworkErrorCode, NetworkReplyError } from "../network_error.ts";
import { monitorQueued, type NetworkReply, replyRedirected } from "../reply.ts";
import { discard, failedOnResponse, repeatedField } from "../_response.ts";
import { type RedirectPolicy, stripCrossOriginHeaders } from "../request.ts";
import { type RedirectDetails, RedirectedEvent } from "../security_events.ts";
import { listensTo } from "../_typed_event_target.ts";

/**
 * Decides, under the `"user-verified"` redirect policy, whether a redirect is followed:
 * resolve `true` to follow it, `false` to refuse it (the reply fails with
 * `InsecureRedirectError`). It may take its time (ask the user); the reply waits.
 *
 * @example Following redirects within one site only
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkError, type RedirectVerifier } from "@netaccess/core";
 * import { createMockManager } from "@netaccess/core/testing";
 *
 * const redirectVerifier: RedirectVerifier = (_reply, redirect) =>
 *   redirect.url.hostname.endsWith(".example.com");
 * await using mocked = createMockManager({ redirectPolicy: "user-verified", redirectVerifier });
 * const to = (location: string) => ({ status: 302, headers: { location } });
 * mocked.mock
 *   .route("GET", "/to-cdn", to("https://cdn.example.com/file"))
 *   .route("GET", "/away", to("https://elsewhere.test/file"))
 *   .route("GET", "/file", { body: "the file" });
 * assert.equal(await mocked.manager.get("https://www.example.com/to-cdn").text(), "the file");
 * const away = mocked.manager.get("https://www.example.com/away");
 * await away.finished;
 * assert.equal(away.error, NetworkError.InsecureRedirectError);
 * ```
 */
export type RedirectVerifier = (
  reply: NetworkReply,
  redirect: RedirectDetails,
) => boolean | Promise<boolean>;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Whether the redirect layer follows a response of this status under `policy`. */
export function followsRedirect(policy: RedirectPolicy, status: number): boolean {
  return policy !== "manual" && REDIRECT_STATUSES.has(status);
}

function shown(url: URL): string {
  return withoutCredentials(url).href;
}

function fail(code: NetworkErrorCode, message: string, cause?: unknown): never {
  throw new NetworkReplyError(code, message, cause === undefined ? {} : { cause });
}

/**
 * The next hop's method and whether the body (and its `Content-*` headers) is dropped: a POST
 * after a 301 or 302, and any method but GET and HEAD after a 303, become a GET without body,
 * unless the request's `postRedirects` keeps that POST, or its `keepRedirectMethod` the method.
 */
function nextMethod(
  status: number,
  method: string,
  request: Exchange["request"],
): { method: string; dropBody: boolean } {
  const rewritten = ((status === 301 || status === 302) && method === "POST") ||
    (status === 303 && method !== "HEAD" && method !== "GET");
  if (!rewritten) return { method, dropBody: false };
  if (method === "POST" && request.postRedirects?.includes(status)) {
    return { method, dropBody: false };
  }
  return { method: request.keepRedirectMethod ? method : "GET", dropBody: true };
}

/**
 * The Location of a redirect as a string, or `null` without one. Headers reach us one character
 * per byte; a value with bytes over 0x7F is read as UTF-8 (as browsers and curl do), and bytes
 * that are not UTF-8 are percent-encoded one by one. Several Location fields are one answer
 * only when they are equal (as browsers have it); differing ones fail the reply.
 */
function locationOf(response: Response, hop: URL): string | null {
  const fields = responseInfo(response).locations ?? repeatedField(response.headers, "location");
  let value: string;
  if (fields !== undefined && fields.length > 1) {
    const distinct = [...new Set(fields.map((field) => field.trim()))];
    if (distinct.length > 1) {
      fail(
        NetworkError.ProtocolFailure,
        `Cannot follow the ${response.status} redirect from ${
          shown(responseInfo(response).url ?? hop)
        }: the response has ${fields.length} Location fields with different values (${
          distinct.map((field) => JSON.stringify(field)).join(", ")
        })`,
      );
    }
    value = distinct[0]!;
  } else {
    const raw = response.headers.get("location");
    if (raw === null) return null;
    value = raw.trim();
    // Equal fields joined, where the fields themselves could not be read: one of them.
    if (value.includes(", ")) {
      const parts = value.split(", ");
      if (parts.every((part) => part === parts[0])) value = parts[0]!;
    }
  }
  if (!/[\x80-\uffff]/.test(value)) return value;
  const bytes = Uint8Array.from(value, (c) => c.charCodeAt(0) & 0xff);
  try {
    return UTF8.decode(bytes);
  } catch {
    let out = "";
    for (const byte of bytes) {
      out += byte < 0x80 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase()}`;
    }
    return out;
  }
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

function redirectTarget(response: Response, location: string, from: URL): URL {
  let target: URL;
  try {
    target = new URL(location, from);
  } catch (error) {
    fail(
      NetworkError.ProtocolUnknownError,
      `Cannot follow the ${response.status} redirect from ${shown(from)}: the Location ${
        JSON.stringify(location)
      } is not a valid URL`,
      error,
    );
  }
  if (target.protocol !== "http:" && target.protocol !== "https:") {
    fail(
      NetworkError.ProtocolUnknownError,
      `Cannot follow the ${response.status} redirect from ${shown(from)} to ${
        shown(target)
      }: only http and https redirect targets are followed`,
    );
  }
  // A Location without a fragment takes the one of the URL it came from (RFC 9110 section
  // 10.2.2, Fetch); one with a fragment, even an empty one (`/page#`), keeps its own. `#` is in
  // a serialised URL only where its fragment starts.
  if (!target.href.includes("#")) {
    const at = from.href.indexOf("#");
    if (at !== -1) target.hash = from.href.slice(at);
  }
  return target;
}

/**
 * The message of a reply that redirects once too often: where it was sent, after how many
 * redirects, and whether it goes round in a loop (sent to a URL it was at before).
 */
function tooMany(start: URL, from: URL, target: URL, redirects: URL[], max: number): string {
  const where = `Too many redirects: ${shown(from)} redirected to ${shown(target)}`;
  const count = redirects.length === 0
    ? `${where}, and maxRedirects is 0`
    : `${where} after ${redirects.length} redirect${redirects.length === 1 ? "" : "s"} ` +
      `(maxRedirects is ${max})`;
  const page = (url: URL) => url.href.split("#", 1)[0];
  const to = page(target);
  const loops = page(start) === to || redirects.some((url) => page(url) === to);
  return loops ? `${count}; the redirects loop: that URL was visited before` : count;
}

/** The redirect target as HSTS has it sent (RFC 6797 section 8.3); a store that fails fails it. */
async function upgraded(
  response: Response,
  from: URL,
  target: URL,
  store: HstsStore,
): Promise<URL> {
  try {
    return await upgradeUrl(target, store) ?? target;
  } catch (error) {
    fail(
      NetworkError.UnknownNetworkError,
      `Cannot follow the ${response.status} redirect from ${shown(from)} to ${
        shown(target)
      }: the HSTS store failed (${(error as Error)?.message ?? error})`,
      error,
    );
  }
}

async function verify(
  settings: RedirectSettings,
  exchange: Exchange,
  details: RedirectDetails,
): Promise<void> {
  const verifier = settings.redirectVerifier;
  const refused = `Redirect from ${shown(details.from)} to ${shown(details.url)} refused`;
  if (verifier === undefined) {
    fail(
      NetworkError.InsecureRedirectError,
      `${refused}: the redirect policy is "user-verified" and the manager has no 'redirectVerifier'`,
    );
  }
  let allowed: boolean;
  // Asking the application moves no data: the transfer timeout starts again with the next hop.
  monitorQueued(exchange.reply);
  try {
    allowed = await verifier(exchange.reply, details);
  } catch (error) {
    fail(
      NetworkError.InsecureRedirectError,
      `${refused}: 'redirectVerifier' threw (${(error as Error)?.message ?? error})`,
      error,
    );
  }
  if (exchange.signal.aborted) throw exchange.signal.reason;
  if (allowed !== true) {
    fail(NetworkError.InsecureRedirectError, `${refused} by the 'redirectVerifier'`);
  }
}

/** Stands for the headers the redirect layer asked to send when the exchange had none. */
const NONE_ASKED: unique symbol = Symbol("no headers asked");
type Asked = Headers | typeof NONE_ASKED;

/** What the redirect layer reads, for each request. */
export interface RedirectSettings {
  /** The policy of requests that set none. */
  readonly redirectPolicy: RedirectPolicy;
  /** The most redirects of requests that set no limit. */
  readonly maxRedirects: number;
  /** Decides redirects under the `"user-verified"` policy. */
  readonly redirectVerifier: RedirectVerifier | undefined;
  /** Upgrades redirect targets of known hosts to https; `null` for none. */
  readonly hstsStore: HstsStore | null;
}

/**
 * Creates the redirect layer.
 *
 * @param settings What it reads for each request.
 * @param copyHeaders Whether a layer below may change the headers it is given in place (a
 * user's layer or transport, the cache): the layer then keeps a copy of what it asked to send
 * for the next hop. The built-in layers below it otherwise either restore what they change
 * (cookies, the transport's `accept-encoding`) or send a copy (credentials).
 */
export function redirectLayer(settings: RedirectSettings, copyHeaders = true): Layer {
  return (next) => (exchange) => {
    const policy = exchange.request.redirectPolicy ?? settings.redirectPolicy;
    const maxRedirects = exchange.request.maxRedirects ?? settings.maxRedirects;
    // What this layer asked to send; the layers below add cookies and credentials per hop. Read
    // when a redirect is followed unless a layer below may change it in place: then a copy, or
    // `NONE_ASKED` for an exchange that has no headers (the next hop then starts with none).
    let headers: Asked | undefined;
    if (copyHeaders) {
      const made = headersIfMade(exchange);
      headers = made === undefined ? NONE_ASKED : new Headers(made);
    }
    let sending: Promise<Response>;
    try {
      sending = next(exchange);
    } catch (error) {
      return Promise.reject(error);
    }
    // No promise of its own unless a redirect may be followed.
    if (policy === "manual") return sending;
    return sending.then((response) =>
      followsRedirect(policy, response.status)
        ? follow(next, exchange, policy, maxRedirects, headers, response)
        : response
    );
  };

  /** Follows the redirects from the first hop's `first` response on. */
  async function follow(
    next: Handler,
    exchange: Exchange,
    policy: RedirectPolicy,
    maxRedirects: number,
    asked: Asked | undefined,
    first: Response,
  ): Promise<Response> {
    const sensitive = exchange.request.sensitiveHeaders;
    let headers = asked === NONE_ASKED ? new Headers() : asked ?? exchange.headers;
    let hop = exchange;
    const redirects: URL[] = [];
    for (let response = first;; response = await next(hop)) {
      try {
        // A redirect status without a Location is an answer in itself (RFC 9110 section 15.4).
        let location: string | null = "";
        if (policy !== "manual" && REDIRECT_STATUSES.has(response.status)) {
          try {
            location = locationOf(response, hop.url);
          } catch (error) {
            discard(response);
            throw error;
          }
        }
        if (!location) {
          if (redirects.length > 0) {
            setResponseInfo(response, { url: responseInfo(response).url ?? hop.url, redirects });
          }
          return response;
        }
        discard(response);
        const status = response.status;
        const from = responseInfo(response).url ?? hop.url;
        let target = redirectTarget(response, location, from);
        if (redirects.length >= maxRedirects) {
          fail(
            NetworkError.TooManyRedirectsError,
            tooMany(exchange.url, from, target, redirects, maxRedirects),
          );
        }
        const store = settings.hstsStore;
        if (store !== null) target = await upgraded(response, from, target, store);
        const refused = `Redirect from ${shown(from)} to ${shown(target)} refused`;
        if (
          policy === "no-less-safe" && from.protocol === "https:" && target.protocol === "http:"
        ) {
          fail(
            NetworkError.InsecureRedirectError,
            `${refused}: it goes from https to http (redirect policy "no-less-safe")`,
          );
        }
        if (policy === "same-origin" && target.origin !== from.origin) {
          fail(
            NetworkError.InsecureRedirectError,
            `${refused}: it leaves the origin ${from.origin} (redirect policy "same-origin")`,
          );
        }
        const details: RedirectDetails = {
          url: withoutCredentials(target),
          from: withoutCredentials(from),
          status,
          hop: redirects.length + 1,
        };
        throwIfReplyFinished(exchange); // aborted while the redirect was read: no event after it
        if (
          listensTo(exchange.reply, "redirected") &&
          !exchange.reply.dispatchEvent(new RedirectedEvent(details))
        ) {
          fail(NetworkError.InsecureRedirectError, `${refused} by a 'redirected' event listener`);
        }
        throwIfReplyFinished(exchange); // aborted by a listener: the verifier is not asked
        if (policy === "user-verified") await verify(settings, exchange, details);
        throwIfReplyFinished(exchange); // aborted while the verifier decided

        const { method, dropBody } = nextMethod(status, hop.method, exchange.request);
        let body = hop.body;
        headers = new Headers(headers);
        if (dropBody) {
          body = null;
          for (const name of [...headers.keys()]) {
            if (name.startsWith("content-")) headers.delete(name);
          }
        } else if (body !== null && !body.replayable) {
          fail(
            NetworkError.ContentReSendError,
            `Cannot follow the ${status} redirect from ${shown(from)} to ${shown(target)}: ` +
              `a ${status} redirect sends the body again, and the body is a one-shot stream that was ` +
              `already sent; pass a string, bytes, Blob, FormData or URLSearchParams to allow ` +
              `resending, or use redirectPolicy "manual"`,
          );
        }
        if (target.origin !== from.origin) {
          stripCrossOriginHeaders(headers, sensitive);
        }
        redirects.push(withoutCredentials(target));
        replyRedirected(exchange.reply, redirects);
        hop = hop.next({ url: target, method, headers, body });
      } catch (error) {
        // A redirect refused (or one too many) fails the reply with that redirect's status,
        // status text and headers, as Qt keeps the last response's status code.
        throw failedOnResponse(error, response);
      }
    }
  }
}
