/**
 * How a request call becomes the parts of a reply: the request, its body and the problem that
 * fails it at once (an invalid URL, option, body or method, or a closed manager), and the first
 * exchange of the reply.
 *
 * @module
 */

import { type NetworkBody, RequestBody } from "../body.ts";
import { Exchange } from "../exchange.ts";
import { isToken } from "../_http_token.ts";
import { NetworkError } from "../network_error.ts";
import { type NetworkReply, replySignal } from "../reply.ts";
import { ReplyMonitor } from "../reply/_monitor.ts";
import {
  makeHeaders,
  NetworkRequest,
  type NetworkRequestInit,
  requestProblem,
} from "../request.ts";
import { checkObject, describe } from "../_validation.ts";
import type { Operation } from "../reply/operation.ts";

/** Why a request made after the manager closed fails, and why close() cancels the others. */
export const CLOSED_MESSAGE = "Operation canceled: the manager was closed";

/** A request call checked: what to send, or why the reply fails at once. */
export interface PreparedRequest {
  /** The request (`about:blank` when the input could not make one). */
  request: NetworkRequest;
  /** The request body, or `null` for none. */
  body: RequestBody | null;
  /** Why the reply fails at once, or `null`. */
  problem: string | null;
  /** The error code of `problem`. */
  code: typeof NetworkError[keyof typeof NetworkError];
  /** The error `problem` is the message of (an invalid URL, option or body), set only then. */
  cause?: unknown;
}

/**
 * Checks a request call: the request (made from a URL and options, or cloned with `init`),
 * its body, the method, and whether the manager is closed.
 */
export function prepareRequest(
  input: string | URL | NetworkRequest,
  init: NetworkRequestInit | undefined,
  method: unknown,
  body: NetworkBody | undefined,
  closed: boolean,
): PreparedRequest {
  let request: NetworkRequest;
  let problem: string | null = null;
  let code: PreparedRequest["code"] = NetworkError.ProtocolUnknownError;
  let cause: unknown;
  try {
    if (input instanceof NetworkRequest && init === undefined) {
      // The caller's own request: its fields are writable, so check them again.
      request = input;
      problem = requestProblem(request);
      if (problem) code = NetworkError.ProtocolInvalidOperationError;
    } else {
      // Made here, by a constructor that checks the same things (`init` included).
      if (input instanceof NetworkRequest) {
        checkObject("Cannot create request", "init", init);
        // The request's headers stay; each of `init` replaces (or removes) the one of its name.
        request = input.clone(
          init!.headers === undefined ? init : {
            ...init,
            headers: makeHeaders("Cannot create request", init!.headers, input.headers),
          },
        );
      } else request = new NetworkRequest(input, init);
    }
  } catch (error) {
    cause = error;
    problem = (error as Error).message;
    const isUrl = /^Cannot create request: ('url' |invalid URL )/.test(problem);
    code = isUrl ? NetworkError.ProtocolUnknownError : NetworkError.ProtocolInvalidOperationError;
    request = new NetworkRequest("about:blank");
  }
  let requestBody: RequestBody | null = null;
  if (problem === null && body !== undefined && body !== null) {
    try {
      requestBody = RequestBody.from(body);
    } catch (error) {
      cause = error;
      problem = (error as Error).message;
      code = NetworkError.ProtocolInvalidOperationError;
    }
  }
  if (problem === null && method !== "GET" && !isToken(method)) {
    problem = `Invalid request: the method must be an HTTP token, got ${describe(method)}`;
    code = NetworkError.ProtocolInvalidOperationError;
  }
  if (problem === null && closed) {
    problem = CLOSED_MESSAGE;
    code = NetworkError.OperationCanceledError;
  }
  const prepared: PreparedRequest = { request, body: requestBody, problem, code };
  if (cause !== undefined) prepared.cause = cause; // a failure's only
  return prepared;
}

/**
 * The headers of a first exchange: none (a request made from a URL alone), a copy of the
 * request's own made with the exchange (`"own"`: a request made here; `"caller"`: the caller's
 * request, whose exchange is then made during the call, its URL a copy too), or those given.
 */
export type FirstHeaders = Headers | "own" | "caller" | undefined;

/**
 * The first exchange of a reply, to `url`: made when the request is sent, or, for a request
 * without a body that waited in the queue, once it has its slot (a waiting request holds none).
 * `headers` are left out when the request has none of its own (none are made until read).
 */
export function firstExchange(
  reply: NetworkReply,
  url: URL,
  headers?: FirstHeaders,
  body: RequestBody | null = null,
): Exchange {
  return new Exchange({
    url: headers === "caller" ? new URL(url.href) : url,
    method: reply.method,
    headers: typeof headers === "string" ? new Headers(reply.request.headers) : headers,
    body,
    request: reply.request,
    reply,
    signal: replySignal,
    monitor: new ReplyMonitor(reply),
  });
}

const OPERATIONS: Record<string, Operation> = {
  GET: "get",
  HEAD: "head",
  POST: "post",
  PUT: "put",
  DELETE: "delete",
};

/**
 * The method and operation of a custom verb: the five known methods in any case are
 * upper-cased and keep their own operation; any other verb is kept as given, as `"custom"` (one
 * that is no HTTP token fails the reply, its message showing the verb).
 */
export function customOperation(verb: unknown): { method: unknown; operation: Operation } {
  const operation = typeof verb === "string" ? OPERATIONS[verb.toUpperCase()] : undefined;
  return operation
    ? { method: (verb as string).toUpperCase(), operation }
    : { method: verb, operation: "custom" };
}
