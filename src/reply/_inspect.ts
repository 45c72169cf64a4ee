/**
 * What `console.log` and `Deno.inspect` show of a reply: where it goes, what it does, how far it
 * got and how it ended, rather than the empty `EventTarget` it would show as.
 *
 * @module
 */

import { _shownUrl } from "../_redact.ts";
import { errorName, type NetworkErrorCode } from "../network_error.ts";
import type { Operation } from "./operation.ts";

/** The public state of a reply that is shown. */
export interface ShownReply {
  readonly url: URL;
  readonly operation: Operation;
  readonly method: string;
  readonly isRunning: boolean;
  readonly isFinished: boolean;
  readonly status: number;
  readonly error: NetworkErrorCode;
  readonly errorString: string;
  readonly fromCache: boolean;
  readonly redirects: readonly URL[];
  readonly bytesReceived: number;
  readonly bytesTotal: number;
}

type Inspect = (value: unknown, options: unknown) => string;

/**
 * The fields shown for `reply`: its URL (without userinfo, as the reply keeps it, and with the
 * values of the query parameters that are credentials redacted), operation (and method, for a
 * custom one), state, status, error by name and code, and the error's sentence, the cache and
 * the redirects when they have something to tell, and the body's progress.
 */
export function shownReply(reply: ShownReply): Record<string, unknown> {
  const shown: Record<string, unknown> = {
    url: _shownUrl(reply.url).href,
    operation: reply.operation,
  };
  if (reply.operation === "custom") shown.method = reply.method;
  shown.state = reply.isFinished ? "finished" : reply.isRunning ? "running" : "idle";
  shown.status = reply.status;
  shown.error = `${errorName(reply.error)} (${reply.error})`;
  if (reply.errorString !== "") shown.errorString = reply.errorString;
  if (reply.fromCache) shown.fromCache = true;
  if (reply.redirects.length > 0) shown.redirects = reply.redirects.length;
  shown.bytesReceived = reply.bytesReceived;
  shown.bytesTotal = reply.bytesTotal;
  return shown;
}

/** Makes `console.log` and `Deno.inspect` show the replies of `prototype` by their state. */
export function inspectReplies(prototype: object): void {
  Object.defineProperty(prototype, Symbol.for("Deno.customInspect"), {
    value(this: ShownReply, inspect: Inspect, options: unknown): string {
      return `NetworkReply ${inspect(shownReply(this), options)}`;
    },
    configurable: true,
  });
}
