/**
 * Iterating the items of a paginated API across its pages.
 *
 * @module
 */

import { findLink } from "./_link_header.ts";
import { NetworkError, NetworkReplyError } from "./network_error.ts";
import type { NetworkReply } from "./reply.ts";
import { _checkInteger, NetworkRequest } from "./request.ts";

/**
 * What `next` may return: the next page's request (a URL or a {@linkcode NetworkRequest}), or
 * `undefined` / `null` to stop.
 *
 * @example A cursor in the body
 * ```ts
 * import assert from "node:assert/strict";
 * import type { NextPage } from "@netaccess/core";
 *
 * const next = (cursor: string | null): NextPage =>
 *   cursor === null ? undefined : `https://api.example.com/items?cursor=${cursor}`;
 * assert.equal(next(null), undefined);
 * ```
 */
export type NextPage = NetworkRequest | string | URL | undefined | null;

/**
 * Options of {@linkcode NetworkAccessManager.paginate}.
 *
 * @typeParam Item The type of the items.
 *
 * @example Items under `data`, the next page from a cursor
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, type PaginateOptions } from "@netaccess/core";
 *
 * interface Page {
 *   data: string[];
 *   cursor: string | null;
 * }
 * await using manager = new NetworkAccessManager({
 *   transport: async ({ url }) =>
 *     Response.json(
 *       url.searchParams.get("cursor") === "b"
 *         ? { data: ["c"], cursor: null }
 *         : { data: ["a", "b"], cursor: "b" },
 *     ),
 * });
 * const cursors = new WeakMap<object, string | null>();
 * const options: PaginateOptions<string> = {
 *   items: async (reply) => {
 *     const page = await reply.json() as Page;
 *     cursors.set(reply, page.cursor);
 *     return page.data;
 *   },
 *   next: (reply) => {
 *     const cursor = cursors.get(reply);
 *     return cursor ? `https://api.example.com/items?cursor=${cursor}` : undefined;
 *   },
 * };
 * const all: string[] = [];
 * for await (const item of manager.paginate("https://api.example.com/items", options)) {
 *   all.push(item);
 * }
 * assert.deepEqual(all, ["a", "b", "c"]);
 * ```
 */
export interface PaginateOptions<Item> {
  /**
   * Picks the items of a page: an array, any iterable, or an async iterable (streamed: items
   * are yielded as it produces them). `page` counts from 1.
   * @default {the body parsed as JSON, which must be an array}
   */
  items?: (
    reply: NetworkReply,
    page: number,
  ) => Iterable<Item> | AsyncIterable<Item> | Promise<Iterable<Item>>;
  /**
   * Returns the request of the next page, or `undefined` (or `null`) to stop; `items` holds
   * the items of the page just read. A URL (a string may be relative to the page's URL) is
   * sent with the headers and attributes of the page's request.
   * @default {the `Link` header's `rel="next"` target (RFC 8288), resolved against the page's URL}
   */
  next?: (reply: NetworkReply, items: Item[]) => NextPage | Promise<NextPage>;
  /**
   * The most items to yield; the page that reaches it is the last one requested.
   * @default {Infinity}
   */
  limit?: number;
  /**
   * The most pages to request.
   * @default {Infinity}
   */
  maxPages?: number;
}

const WHAT = "Cannot paginate";

function checkCount(field: string, value: unknown): void {
  if (value !== undefined && value !== Infinity) _checkInteger(WHAT, field, value, 0);
}

/** Checks the options; throws `TypeError` or `RangeError` naming the field. */
function checkOptions(options: PaginateOptions<unknown>): void {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${WHAT}: 'options' must be an object, got ${options}`);
  }
  for (const field of ["items", "next"] as const) {
    if (options[field] !== undefined && typeof options[field] !== "function") {
      throw new TypeError(`${WHAT}: '${field}' must be a function, got ${typeof options[field]}`);
    }
  }
  checkCount("limit", options.limit);
  checkCount("maxPages", options.maxPages);
}

/** The default `items`: the body is a JSON array. */
async function jsonArray<Item>(reply: NetworkReply): Promise<Item[]> {
  const body = await reply.json();
  if (Array.isArray(body)) return body as Item[];
  throw new TypeError(
    `The page at ${reply.url.href} is ${
      body === null ? "null" : typeof body === "object" ? "a JSON object" : `a JSON ${typeof body}`
    }, not an array: pass 'items' to pick the items of a page`,
  );
}

/** The default `next`: the `Link` header's `rel="next"`, unless it points to the same page. */
function nextLink(reply: NetworkReply): NextPage {
  const url = findLink(reply.headers.get("link"), "next", reply.url);
  if (url === undefined || url.href === reply.url.href) return undefined;
  return reply.request.clone({ url });
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
export function _paginate<Item>(
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
  const next = options.next ?? nextLink;
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
        for await (const item of picked) {
          items.push(item);
          yield item;
          if (++count >= limit) return;
        }
        if (!reply.isFinished) await reply.finished;
      } catch (error) {
        if (reply.isFinished) throwIfFailed(reply);
        throw error;
      }
      throwIfFailed(reply);
      const after = await next(reply, items);
      if (after === undefined || after === null) return;
      target = after instanceof NetworkRequest
        ? after
        : reply.request.clone({ url: new URL(after, reply.url) });
    } finally {
      reply.abort();
    }
  }
}
