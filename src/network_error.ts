/**
 * Error codes of a {@linkcode NetworkReply}, with Qt's `QNetworkReply::NetworkError` names and
 * numbers, and the error class the body readers throw.
 *
 * @module
 */

import { _redactUrls } from "./_redact.ts";
import type { NetworkReply } from "./reply.ts";
import { tlsCause } from "./tls.ts";

/**
 * The names and numbers of {@linkcode NetworkError}.
 *
 * @example The name of a reply's error code
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, NetworkError, type NetworkErrorCodes } from "@netaccess/core";
 *
 * const names = Object.keys(NetworkError) as (keyof NetworkErrorCodes)[];
 * const errorName = (code: number) => names.find((name) => NetworkError[name] === code);
 * await using manager = new NetworkAccessManager({
 *   transport: async () => new Response(null, { status: 404 }),
 * });
 * const reply = manager.get("https://example.com/missing");
 * await reply.finished;
 * assert.equal(errorName(reply.error), "ContentNotFoundError");
 * ```
 */
export interface NetworkErrorCodes {
  /** No error condition. */
  readonly NoError: 0;
  /** The remote server refused the connection. */
  readonly ConnectionRefusedError: 1;
  /** The remote server closed the connection before the reply was complete. */
  readonly RemoteHostClosedError: 2;
  /** The remote host name was not found. */
  readonly HostNotFoundError: 3;
  /** The connection timed out, or the transfer timeout elapsed. */
  readonly TimeoutError: 4;
  /** The operation was canceled by `abort()` or by closing the manager. */
  readonly OperationCanceledError: 5;
  /** The TLS handshake failed. */
  readonly SslHandshakeFailedError: 6;
  /** The connection was broken by a temporary network failure. */
  readonly TemporaryNetworkFailureError: 7;
  /** The network session failed. */
  readonly NetworkSessionFailedError: 8;
  /** A background request is not allowed. */
  readonly BackgroundRequestNotAllowedError: 9;
  /** The maximum number of redirects was reached. */
  readonly TooManyRedirectsError: 10;
  /** A redirect was refused by the redirect policy. */
  readonly InsecureRedirectError: 11;
  /** An unknown network error, including "network access is disabled". */
  readonly UnknownNetworkError: 99;
  /** The proxy server refused the connection. */
  readonly ProxyConnectionRefusedError: 101;
  /** The proxy server closed the connection prematurely. */
  readonly ProxyConnectionClosedError: 102;
  /** The proxy host name was not found. */
  readonly ProxyNotFoundError: 103;
  /** The connection to the proxy timed out. */
  readonly ProxyTimeoutError: 104;
  /** The proxy requires authentication that was not given or not accepted. */
  readonly ProxyAuthenticationRequiredError: 105;
  /** An unknown proxy error. */
  readonly UnknownProxyError: 199;
  /** Access to the content was denied (HTTP 403). */
  readonly ContentAccessDenied: 201;
  /** The operation is not permitted on the content (HTTP 405). */
  readonly ContentOperationNotPermittedError: 202;
  /** The content was not found (HTTP 404), or not in the cache for `"always-cache"`. */
  readonly ContentNotFoundError: 203;
  /** The server requires authentication that was not given or not accepted (HTTP 401). */
  readonly AuthenticationRequiredError: 204;
  /** The request body had to be sent again (a redirect or retry) but cannot be replayed. */
  readonly ContentReSendError: 205;
  /** The request conflicts with the current state of the content (HTTP 409). */
  readonly ContentConflictError: 206;
  /** The content is no longer available (HTTP 410). */
  readonly ContentGoneError: 207;
  /** Another content error (other HTTP 4xx). */
  readonly UnknownContentError: 299;
  /** The protocol (URL scheme) is not known, or the URL is invalid. */
  readonly ProtocolUnknownError: 301;
  /** The operation is invalid for this protocol (HTTP 400, 418, bad header or method). */
  readonly ProtocolInvalidOperationError: 302;
  /** A breakdown in the protocol (a malformed response, a decompression bomb). */
  readonly ProtocolFailure: 399;
  /** The server met an internal error (HTTP 500). */
  readonly InternalServerError: 401;
  /** The server does not support the operation (HTTP 501). */
  readonly OperationNotImplementedError: 402;
  /** The server is unable to handle the request at this time (HTTP 503). */
  readonly ServiceUnavailableError: 403;
  /** Another server error (other HTTP 5xx). */
  readonly UnknownServerError: 499;
}

/**
 * Qt's `QNetworkReply::NetworkError` codes under Qt's names. A reply's
 * {@linkcode NetworkReply.error} is one of these numbers; `0` means no error.
 *
 * Ranges: 1-99 network layer, 101-199 proxy, 201-299 content (HTTP 4xx),
 * 301-399 protocol, 401-499 server (HTTP 5xx).
 *
 * @example Checking the outcome of a reply
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, NetworkError } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager();
 * const reply = manager.get("data:text/plain,hello");
 * await reply.finished;
 * assert.equal(reply.error, NetworkError.NoError);
 * const failed = manager.get("gopher://example.invalid/");
 * await failed.finished;
 * assert.equal(failed.error, NetworkError.ProtocolUnknownError); // 301, in the protocol range
 * assert.match(failed.errorString, /"gopher" is unknown/);
 * ```
 */
export const NetworkError: NetworkErrorCodes = Object.freeze({
  /** No error condition. */
  NoError: 0,
  /** The remote server refused the connection. */
  ConnectionRefusedError: 1,
  /** The remote server closed the connection before the reply was complete. */
  RemoteHostClosedError: 2,
  /** The remote host name was not found. */
  HostNotFoundError: 3,
  /** The connection timed out, or the transfer timeout elapsed. */
  TimeoutError: 4,
  /** The operation was canceled by `abort()` or by closing the manager. */
  OperationCanceledError: 5,
  /** The TLS handshake failed. */
  SslHandshakeFailedError: 6,
  /** The connection was broken by a temporary network failure. */
  TemporaryNetworkFailureError: 7,
  /** The network session failed. */
  NetworkSessionFailedError: 8,
  /** A background request is not allowed. */
  BackgroundRequestNotAllowedError: 9,
  /** The maximum number of redirects was reached. */
  TooManyRedirectsError: 10,
  /** A redirect was refused by the redirect policy. */
  InsecureRedirectError: 11,
  /** An unknown network error, including "network access is disabled". */
  UnknownNetworkError: 99,
  /** The proxy server refused the connection. */
  ProxyConnectionRefusedError: 101,
  /** The proxy server closed the connection prematurely. */
  ProxyConnectionClosedError: 102,
  /** The proxy host name was not found. */
  ProxyNotFoundError: 103,
  /** The connection to the proxy timed out. */
  ProxyTimeoutError: 104,
  /** The proxy requires authentication that was not given or not accepted. */
  ProxyAuthenticationRequiredError: 105,
  /** An unknown proxy error. */
  UnknownProxyError: 199,
  /** Access to the content was denied (HTTP 403). */
  ContentAccessDenied: 201,
  /** The operation is not permitted on the content (HTTP 405). */
  ContentOperationNotPermittedError: 202,
  /** The content was not found (HTTP 404), or not in the cache for `"always-cache"`. */
  ContentNotFoundError: 203,
  /** The server requires authentication that was not given or not accepted (HTTP 401). */
  AuthenticationRequiredError: 204,
  /** The request body had to be sent again (a redirect or retry) but cannot be replayed. */
  ContentReSendError: 205,
  /** The request conflicts with the current state of the content (HTTP 409). */
  ContentConflictError: 206,
  /** The content is no longer available (HTTP 410). */
  ContentGoneError: 207,
  /** Another content error (other HTTP 4xx). */
  UnknownContentError: 299,
  /** The protocol (URL scheme) is not known, or the URL is invalid. */
  ProtocolUnknownError: 301,
  /** The operation is invalid for this protocol (HTTP 400, 418, bad header or method). */
  ProtocolInvalidOperationError: 302,
  /** A breakdown in the protocol (a malformed response, a decompression bomb). */
  ProtocolFailure: 399,
  /** The server met an internal error (HTTP 500). */
  InternalServerError: 401,
  /** The server does not support the operation (HTTP 501). */
  OperationNotImplementedError: 402,
  /** The server is unable to handle the request at this time (HTTP 503). */
  ServiceUnavailableError: 403,
  /** Another server error (other HTTP 5xx). */
  UnknownServerError: 499,
});

/**
 * One of the numeric codes of {@linkcode NetworkError}.
 *
 * @example A function that takes a code
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, NetworkError, type NetworkErrorCode } from "@netaccess/core";
 *
 * const worthRetrying = (code: NetworkErrorCode) =>
 *   code === NetworkError.TimeoutError || code === NetworkError.ServiceUnavailableError;
 * await using manager = new NetworkAccessManager({
 *   transport: async () => new Response(null, { status: 503 }),
 * });
 * const reply = manager.get("https://example.com/");
 * await reply.finished;
 * assert.equal(reply.error, 403);
 * assert.equal(worthRetrying(reply.error), true);
 * ```
 */
export type NetworkErrorCode = NetworkErrorCodes[keyof NetworkErrorCodes];

/**
 * Options of {@linkcode NetworkReplyError}.
 *
 * @example A layer that fails a reply with a code
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, NetworkError, NetworkReplyError } from "@netaccess/core";
 * import type { NetworkReplyErrorOptions } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager();
 * manager.use((next) => async (exchange) => {
 *   if (exchange.url.hostname !== "ads.example") return await next(exchange);
 *   const options: NetworkReplyErrorOptions = { cause: new Error("ad"), reply: exchange.reply };
 *   throw new NetworkReplyError(NetworkError.ContentAccessDenied, "The host is blocked", options);
 * });
 * const reply = manager.get("https://ads.example/");
 * await reply.finished;
 * assert.equal(reply.error, 201);
 * assert.equal(reply.errorString, "The host is blocked");
 * ```
 */
export interface NetworkReplyErrorOptions {
  /** The underlying error, when there is one. */
  cause?: unknown;
  /** The reply the error belongs to. */
  reply?: NetworkReply | undefined;
}

/**
 * The one error class of the library, carrying a {@linkcode NetworkError} code.
 *
 * Replies never throw it at the caller of `get()` and friends: errors are data on the reply
 * (`error`, `errorString`). The body readers (`text()`, `json()`, `bytes()`, the iterator,
 * `events()`) throw it when there is no body to read because the reply failed; its `cause` is
 * then the error the failure came from (what `fetch`, the body's stream or a layer threw, the
 * reason of the request's signal), `undefined` when the library ended the reply itself
 * (`abort()`, `close()`, `maxBodySize`). A layer may throw it to fail a reply with a given code.
 *
 * @example Reading the body of a failed reply
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, NetworkError, NetworkReplyError } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager();
 * const reply = manager.get("gopher://example.invalid/");
 * const error = await reply.text().catch((e) => e);
 * assert.ok(error instanceof NetworkReplyError);
 * assert.equal(error.code, NetworkError.ProtocolUnknownError);
 * assert.equal(error.message, reply.errorString);
 * assert.equal(error.reply, reply);
 * ```
 */
export class NetworkReplyError extends Error {
  /** The {@linkcode NetworkError} code. */
  readonly code: NetworkErrorCode;
  /** The reply the error belongs to, when known. */
  readonly reply: NetworkReply | undefined;

  /**
   * Creates an error with a code and a message a person can act on.
   *
   * @param code The {@linkcode NetworkError} code.
   * @param message What went wrong.
   * @param options The underlying `cause` and the `reply`.
   */
  constructor(code: NetworkErrorCode, message: string, options: NetworkReplyErrorOptions = {}) {
    super(
      _redactUrls(message),
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "NetworkReplyError";
    this.code = code;
    this.reply = options.reply;
  }
}

/**
 * Options of {@linkcode InvalidJsonError}.
 *
 * @example An error for a body that is not JSON
 * ```ts
 * import assert from "node:assert/strict";
 * import { InvalidJsonError, type InvalidJsonErrorOptions } from "@netaccess/core";
 *
 * const options: InvalidJsonErrorOptions = { position: 3, cause: new SyntaxError("bad") };
 * const error = new InvalidJsonError("The body is not valid JSON", options);
 * assert.equal(error.position, 3);
 * ```
 */
export interface InvalidJsonErrorOptions {
  /** The `SyntaxError` of `JSON.parse`. */
  cause?: unknown;
  /** The reply whose body it is. */
  reply?: NetworkReply | undefined;
  /** Where the body stops being JSON (an offset in UTF-16 code units), when known. */
  position?: number | undefined;
}

/**
 * Thrown by {@linkcode NetworkReply.json} when a complete body arrived but is not JSON. It is a
 * `SyntaxError`, as `JSON.parse` and `Response.json()` throw, not a
 * {@linkcode NetworkReplyError}: the transfer succeeded, and `reply.error` keeps its value
 * (`NoError`, or the code of an HTTP error status).
 *
 * @example Telling a failed transfer from a body that is not JSON
 * ```ts
 * import assert from "node:assert/strict";
 * import { InvalidJsonError, NetworkAccessManager, NetworkError } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager({
 *   transport: async () => new Response("<html>oops</html>"),
 * });
 * const reply = manager.get("https://api.example/items");
 * const error = await reply.json().catch((e) => e);
 * assert.ok(error instanceof InvalidJsonError);
 * assert.equal(error.position, 0);
 * assert.equal(reply.error, NetworkError.NoError); // the transfer itself succeeded
 * ```
 */
export class InvalidJsonError extends SyntaxError {
  /** The reply whose body it is, when known. */
  readonly reply: NetworkReply | undefined;
  /** Where the body stops being JSON (an offset in UTF-16 code units), when known. */
  readonly position: number | undefined;

  /**
   * Creates the error.
   *
   * @param message What is wrong, naming the URL.
   * @param options The `cause`, the `reply` and the `position`.
   */
  constructor(message: string, options: InvalidJsonErrorOptions = {}) {
    super(
      _redactUrls(message),
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "InvalidJsonError";
    this.reply = options.reply;
    this.position = options.position;
  }
}

/** The name of a code, such as `"ContentNotFoundError"` for 203, or `"Unknown"`. */
export function errorName(code: number): string {
  for (const [name, value] of Object.entries(NetworkError)) if (value === code) return name;
  return "Unknown";
}

/** Qt's mapping of an HTTP status to an error code; 0 for statuses below 400. */
export function statusToError(status: number): NetworkErrorCode {
  if (status < 400) return NetworkError.NoError;
  switch (status) {
    case 400:
    case 418:
      return NetworkError.ProtocolInvalidOperationError;
    case 401:
      return NetworkError.AuthenticationRequiredError;
    case 403:
      return NetworkError.ContentAccessDenied;
    case 404:
      return NetworkError.ContentNotFoundError;
    case 405:
      return NetworkError.ContentOperationNotPermittedError;
    case 407:
      return NetworkError.ProxyAuthenticationRequiredError;
    case 409:
      return NetworkError.ContentConflictError;
    case 410:
      return NetworkError.ContentGoneError;
    case 500:
      return NetworkError.InternalServerError;
    case 501:
      return NetworkError.OperationNotImplementedError;
    case 503:
      return NetworkError.ServiceUnavailableError;
  }
  return status >= 500 ? NetworkError.UnknownServerError : NetworkError.UnknownContentError;
}

/** The messages of an error and its causes, joined by `: `. */
export function causeChain(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 6; depth++) {
    if (current instanceof Error) {
      parts.push(current.message);
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join(": ");
}

/**
 * rustls's words for a TLS connection its server closed after the handshake without a
 * close_notify (a kept-alive connection closed as a request went out, a server that died before
 * answering): a closed connection, as over http, not a failed handshake (rustls tells a close
 * during the handshake as a "handshake eof").
 */
const AFTER_HANDSHAKE_CLOSE = /peer closed connection without sending tls close_notify/;

/**
 * Classifies an error thrown by `fetch` or by reading a response body into a code and a
 * sentence. `url` names the target in the message; `phase` tells whether the headers had
 * arrived (an error while reading the body is a closed connection, not a refused one), and
 * `"coded body"` that the body has a `Content-Encoding` (`fetch` decodes gzip and br itself
 * when the decompression guard is off, and reports a body that does not decode as a read error).
 */
export function classifyError(
  error: unknown,
  url: URL | string,
  phase: "connect" | "body" | "coded body",
): NetworkReplyError {
  if (error instanceof NetworkReplyError) return error;
  const text = causeChain(error);
  const lower = text.toLowerCase();
  const where = typeof url === "string" ? url : url.href;
  const host = typeof url === "string" ? url : url.host;
  let code: NetworkErrorCode;
  let message: string;
  if (error instanceof DOMException && error.name === "AbortError") {
    code = NetworkError.OperationCanceledError;
    message = "Operation canceled";
  } else if (error instanceof DOMException && error.name === "TimeoutError") {
    code = NetworkError.TimeoutError;
    message = `Timed out waiting for ${where}`;
  } else if (
    /dns error|failed to lookup address|name or service not known|no such host/.test(lower)
  ) {
    code = NetworkError.HostNotFoundError;
    message = `Host ${host} not found (${text})`;
  } else if (/connection refused|os error 111|econnrefused/.test(lower)) {
    code = NetworkError.ConnectionRefusedError;
    message = `Connection refused by ${host}: is the server running and listening there?`;
  } else if (
    /certificate|tls|ssl|handshake|fatal alert|invalidcontenttype|corrupt message|peer sent/.test(
      lower,
    ) &&
    phase === "connect" && !AFTER_HANDSHAKE_CLOSE.test(lower)
  ) {
    code = NetworkError.SslHandshakeFailedError;
    const cause = tlsCause(text);
    message = cause === undefined
      ? `TLS handshake with ${host} failed (${text})`
      : `TLS handshake with ${host} failed: ${cause} (${text})`;
  } else if (/timed out|timeout/.test(lower)) {
    code = NetworkError.TimeoutError;
    message = `Timed out talking to ${host} (${text})`;
  } else if (/unsupported|not supported|scheme/.test(lower) && phase === "connect") {
    code = NetworkError.ProtocolUnknownError;
    message = `Protocol "${typeof url === "string" ? url : url.protocol}" is unknown (${text})`;
  } else if (
    /invalid http|invalid content-length|message head is too large|invalid chunk|header.*too (large|long)/
      .test(lower)
  ) {
    // The HTTP client could not parse the response: a breakdown of the protocol (Qt's code).
    code = NetworkError.ProtocolFailure;
    message = `The response of ${host} is malformed (${text})`;
  } else if (
    phase === "coded body" &&
    /invalid gzip header|unexpected end of file|brotli error|reached unexpected eof/.test(lower)
  ) {
    // The decoder's errors: the connection delivered the body, which did not decode.
    code = NetworkError.ProtocolFailure;
    message = `The body of ${where} cannot be decoded (${text})`;
  } else if (
    phase !== "connect" ||
    /connection closed|connection reset|broken pipe|incomplete message|unexpected eof|end of file|os error 104|canceled|closed before/
      .test(lower) ||
    AFTER_HANDSHAKE_CLOSE.test(lower)
  ) {
    code = NetworkError.RemoteHostClosedError;
    message = `Connection to ${host} closed before the reply was complete (${text})`;
  } else {
    code = NetworkError.UnknownNetworkError;
    message = `Request to ${where} failed (${text})`;
  }
  return new NetworkReplyError(code, message, { cause: error });
}
