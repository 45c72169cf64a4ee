/** The page loop behind `NetworkAccessManager.paginate`. */

import { findLink } from "./_link_header.ts";
import { _redactUrls } from "./_redact.ts";
import { checkFunction, checkInteger, checkKeys, checkObject, describe } from "./_validation.ts";
import { NetworkError, NetworkReplyError } from "./network_error.ts";
import type { NetworkReply } from "./reply.ts";
import { decodeUtf8, parseJson } from "./reply/_decode.ts";
import { withBodyExcerpt } from "./reply/_excerpt.ts";
import { NetworkRequest, stripCrossOriginHeaders } from "./request.ts";
import type { PaginateOptions } from "./paginate.ts";

const WHAT = "Cannot paginate";

/** The names of the options (the type says every one is here). */
const OPTIONS = Object.keys(
  { items: 1, next: 1, limit: 1, maxPages: 1 } satisfies Record<keyof PaginateOptions<unknown>, 1>,
);

function checkCount(field: string, value: unknown): void {
  if (value !== undefined && value !== Infinity) checkInteger(WHAT, field, value, 0);
}

/** Checks the options; throws `TypeError` or `RangeError` naming the field. */
function checkOptions(options: PaginateOptions<unknown>): void {
  checkObject(WHAT, "options", options);
  checkKeys(WHAT, options, OPTIONS);
  checkFunction(WHAT, "items", options.items);
  checkFunction(WHAT, "next", options.next);
  checkCount("limit", options.limit);
  checkCount("maxPages", options.maxPages);
}

/**
 * The error of a page with an HTTP error status: the reply's code and sentence and the start
 * of the body, the API's reason, which the walk read (the request's credentials masked, were
 * the body to echo them).
 */
function failedPage(reply: NetworkReply, text: string): NetworkReplyError {
  const message = withBodyExcerpt(reply.errorString, text, reply.request);
  return new NetworkReplyError(reply.error, message, { reply });
}

/**
 * The default `items`: the body is a JSON array; an empty one (a `204`) has no items. A page
 * with an HTTP error status fails the walk, its message quoting the body.
 */
async function jsonArray<Item>(reply: NetworkReply): Promise<Item[]> {
  const bytes = await reply.bytes();
  // As `json()`: UTF-8 whatever the charset.
  if (reply.error !== NetworkError.NoError) throw failedPage(reply, decodeUtf8(bytes));
  const body = parseJson(bytes, reply.url.href, reply);
  if (Array.isArray(body)) return body as Item[];
  if (body === undefined) return [];
  throw new TypeError(_redactUrls(
    `The page at ${reply.url.href} is ${
      body === null ? "null" : typeof body === "object" ? "a JSON object" : `a JSON ${typeof body}`
    }, not an array: pass 'items' to pick the items of a page`,
  ));
}

/** The page a URL names: its fragment, which is never sent, does not make another. */
function pageOf(url: URL): string {
  const at = url.href.indexOf("#");
  return at < 0 ? url.href : url.href.slice(0, at);
}

/**
 * The default `next`: the `Link` header's `rel="next"`, unless it points to a page of this walk
 * (`walked` holds the URLs asked for and answered from), which ends the walk. A link to another
 * scheme than http or https (a server pointing at `file:` or `data:`) fails the walk, as a
 * redirect there does: what a server sends never reads local files.
 */
function nextLink(reply: NetworkReply, walked: Set<string>): URL | undefined {
  const url = findLink(reply.headers.get("link"), "next", reply.url);
  if (url === undefined || walked.has(pageOf(url))) return undefined;
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new NetworkReplyError(
      NetworkError.ProtocolUnknownError,
      `${WHAT}: the Link rel="next" of the page at ${reply.url.href} points to a ${url.protocol} ` +
        `URL; only http and https pages are followed (pass 'next' to choose the next page)`,
      { reply },
    );
  }
  return url;
}

/**
 * The request of the next page at `url`: the page's request with another URL. Its headers go
 * to another origin only without the credentials a redirect there would drop.
 */
function nextRequest(reply: NetworkReply, url: URL): NetworkRequest {
  const request = reply.request;
  if (url.origin === request.url.origin) return request.clone({ url });
  const headers = new Headers(request.headers);
  stripCrossOriginHeaders(headers, request.sensitiveHeaders);
  return request.clone({ url, headers });
}

function isIterable(value: unknown): value is Iterable<unknown> | AsyncIterable<unknown> {
  return value !== null && value !== undefined &&
    (typeof (value as Iterable<unknown>)[Symbol.iterator] === "function" ||
      typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function");
}

function isAsyncIterable(value: Iterable<unknown> | AsyncIterable<unknown>): boolean {
  return typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function";
}

/** Throws the error of a failed page: its code and sentence. */
function throwIfFailed(reply: NetworkReply): void {
  if (reply.error === NetworkError.NoError) return;
  throw new NetworkReplyError(reply.error, reply.errorString, { reply });
}

/**
 * Iterates the items of every page: sends `input` with `send` (the manager's `get`), takes
 * its items, asks for the next page, and so on. Options are checked at once.
 */
export function paginate<Item>(
  send: (request: string | URL | NetworkRequest) => NetworkReply,
  input: string | URL | NetworkRequest,
  options: PaginateOptions<Item> = {},
): AsyncGenerator<Item, void, undefined> {
  checkOptions(options as PaginateOptions<unknown>);
  return run(send, input, options);
}

async function* run<Item>(
  send: (request: string | URL | NetworkRequest) => NetworkReply,
  input: string | URL | NetworkRequest,
  options: PaginateOptions<Item>,
): AsyncGenerator<Item, void, undefined> {
  const pick = options.items ?? jsonArray<Item>;
  // The pages of this walk, for the default `next` only: a `next` of the caller's may ask for
  // the same URL again (a cursor in a header).
  const walked = options.next === undefined ? new Set<string>() : undefined;
  const next = options.next ?? ((reply: NetworkReply) => nextLink(reply, walked!));
  const limit = options.limit ?? Infinity;
  const maxPages = options.maxPages ?? Infinity;
  let count = 0;
  let target: string | URL | NetworkRequest = input;
  for (let page = 1; page <= maxPages && count < limit; page++) {
    const reply = send(target);
    try {
      const items: Item[] = [];
      try {
        const picked = await pick(reply, page);
        if (reply.isFinished) throwIfFailed(reply);
        if (!isIterable(picked)) {
          throw new TypeError(_redactUrls(
            `${WHAT}: 'items' must return an iterable (such as an array) or an async iterable, ` +
              `got ${describe(picked)} for the page at ${reply.url.href}`,
          ));
        }
        // Items in hand are yielded once the page finished without error: none of a failing
        // page's. An async iterable streams them as they arrive.
        if (!isAsyncIterable(picked)) {
          if (!reply.isFinished) await reply.finished;
          throwIfFailed(reply);
        }
        for await (const item of picked) {
          items.push(item);
          yield item;
          if (++count >= limit) return;
        }
        if (!reply.isFinished) await reply.finished;
      } catch (error) {
        const own = error instanceof NetworkReplyError && error.reply === reply;
        if (reply.isFinished && !own) throwIfFailed(reply);
        throw error;
      }
      throwIfFailed(reply);
      walked?.add(pageOf(reply.request.url)).add(pageOf(reply.url));
      const after = await next(reply, items);
      if (after === undefined || after === null) return;
      target = after instanceof NetworkRequest
        ? after
        : nextRequest(reply, new URL(after, reply.url));
    } finally {
      reply.abort();
    }
  }
}
