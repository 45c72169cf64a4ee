/**
 * How a request without a body waits for its queue slot without its first exchange, which is
 * made when it has the slot: with its reply and place in line alone when it was made from a URL
 * alone, keeping its headers when it was made with headers of its own, and with copies of its URL
 * and headers as they were at the call when it is the caller's (who may change it since).
 *
 * @module
 */

import type { Exchange } from "../exchange.ts";
import { type HostQueue, parkInQueue } from "../host_queue.ts";
import { type NetworkReply, replyAbortSource } from "../reply.ts";
import { keepHeaders, keptHeaders, keptUrl } from "../request.ts";
import { firstExchange, type FirstHeaders } from "./_send.ts";

/**
 * A caller's request waiting: its URL and headers as they were at the call, as the URL's `href`
 * and the headers' entries (a `URL` and a `Headers` hold several times as much; those made from
 * them are the same).
 */
class WaitingCopy {
  constructor(
    readonly reply: NetworkReply,
    readonly href: string,
    readonly headers: [string, string][],
  ) {}
}

/** Sends a request that has its slot, with its first exchange. */
type Granted = (release: () => void, exchange: Exchange) => void;

/**
 * The queue's callbacks for requests that wait without an exchange: each makes the first
 * exchange as the request was at the call and hands it to `granted` (one set per manager, made
 * when a request first waits, so that no waiting request holds a closure).
 */
export class WaitingGrants {
  /** A request made from a URL alone: to the `href` its URL was taken with, with no headers. */
  readonly plain: (release: () => void, data: unknown) => void;
  /** A request made with headers of its own: with a copy of those it kept while it waited. */
  readonly kept: (release: () => void, data: unknown) => void;
  /** A caller's request: with the copies made at the call. */
  readonly copied: (release: () => void, data: unknown) => void;

  constructor(granted: Granted) {
    this.plain = (release, data) => {
      const reply = data as NetworkReply;
      granted(release, firstExchange(reply, keptUrl(reply.request)));
    };
    this.kept = (release, data) => {
      const reply = data as NetworkReply;
      const request = reply.request;
      granted(release, firstExchange(reply, keptUrl(request), keptHeaders(request)));
    };
    this.copied = (release, data) => {
      const { reply, href, headers } = data as WaitingCopy;
      granted(release, firstExchange(reply, new URL(href), new Headers(headers)));
    };
  }
}

/**
 * Puts a request without a body in line for the slot of `key`, without its first exchange:
 * `headers` are those {@linkcode firstExchange} would be given. A request made with headers of
 * its own keeps them while it waits (`reply.request.headers`, read meanwhile, is a copy); the
 * caller's request waits with a copy of its headers made now (the caller may change them).
 *
 * @returns Whether it waits (`false`, as from `parkInQueue`, when it is to be sent at once).
 */
export function parkWithoutExchange(
  queue: HostQueue,
  key: string,
  reply: NetworkReply,
  url: URL,
  headers: FirstHeaders,
  grants: WaitingGrants,
  refused: (reason: unknown, data: unknown) => void,
): boolean {
  const copied = headers === "caller";
  const waits = parkInQueue(
    queue,
    key,
    reply.request.priority,
    replyAbortSource(reply),
    headers === undefined ? grants.plain : copied ? grants.copied : grants.kept,
    refused,
    copied ? new WaitingCopy(reply, url.href, [...reply.request.headers]) : reply,
  );
  if (waits && headers === "own") keepHeaders(reply.request);
  return waits;
}
