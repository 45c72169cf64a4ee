/**
 * Iterating the items of a paginated API across its pages.
 *
 * @module
 */

import type { NetworkReply } from "./reply.ts";
import type { NetworkRequest } from "./request.ts";

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
   * are yielded as it produces them, and when the page then fails, its error is thrown after
   * them). `page` counts from 1.
   * @default {the body parsed as JSON, which must be an array; with an HTTP error status, the
   * walk fails with an error quoting the start of the body}
   */
  items?:
    | ((
      reply: NetworkReply,
      page: number,
    ) => Iterable<Item> | AsyncIterable<Item> | Promise<Iterable<Item>>)
    | undefined;
  /**
   * Returns the request of the next page, or `undefined` (or `null`) to stop; `items` holds
   * the items of the page just read. A URL (a string may be relative to the page's URL) is
   * sent with the headers and attributes of the page's request, less the credentials a
   * redirect drops when it is on another origin; a request is sent as it is.
   * @default {the `Link` header's `rel="next"` target (RFC 8288) unless already walked; an
   * http or https one only}
   */
  next?: ((reply: NetworkReply, items: Item[]) => NextPage | Promise<NextPage>) | undefined;
  /**
   * The most items to yield; the page that reaches it is the last one requested.
   * @default {Infinity}
   */
  limit?: number | undefined;
  /**
   * The most pages to request.
   * @default {Infinity}
   */
  maxPages?: number | undefined;
}
