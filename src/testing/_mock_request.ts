/**
 * The request a mock route sees: the URL a server would get, the web `Request` a handler gets,
 * its headers, and its body read for a matcher or sent nowhere.
 *
 * @module
 */

import type { Exchange } from "../exchange.ts";
import { NetworkError, NetworkReplyError } from "../network_error.ts";
import { RequestBody } from "../body.ts";
import { _withoutUserinfo } from "../_redact.ts";
import { readBody } from "./_read_body.ts";

/**
 * The URL as a server gets it: no userinfo (`fetch` sends it as an `Authorization` header) and
 * no fragment (never sent). `url` itself when it has neither.
 */
export function sentUrl(url: URL): URL {
  if (url.hash === "") return _withoutUserinfo(url);
  const copy = _withoutUserinfo(url);
  const plain = copy === url ? new URL(url.href) : copy;
  plain.hash = "";
  return plain;
}

/**
 * Builds the web `Request` a route handler sees from an exchange: method, `url` (as
 * {@linkcode sentUrl} gives it), headers (with the body's content type when none is set) and body.
 */
export function exchangeToRequest(exchange: Exchange, url: URL): Request {
  const headers = new Headers(exchange.headers);
  let body: BodyInit | undefined;
  if (exchange.body) {
    if (exchange.method === "GET" || exchange.method === "HEAD") {
      throw new NetworkReplyError(
        NetworkError.ProtocolInvalidOperationError,
        `A ${exchange.method} request cannot have a body`,
      );
    }
    const opened = exchange.body.open();
    if (opened.contentType && !headers.has("content-type")) {
      headers.set("content-type", opened.contentType);
    }
    // Piped so that an abort cancels the stream, as `fetch` does, whoever reads the request.
    body = opened.body instanceof ReadableStream
      ? opened.body.pipeThrough(new TransformStream(), { signal: exchange.signal })
      : opened.body as BodyInit;
  }
  try {
    return new Request(url, {
      method: exchange.method,
      headers,
      body,
      signal: exchange.signal,
    });
  } catch (error) {
    if (body instanceof ReadableStream) body.cancel().catch(() => {});
    throw new NetworkReplyError(
      NetworkError.ProtocolInvalidOperationError,
      `Cannot hand ${exchange.method} ${url.href} to a mock handler: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** The request headers as sent: the exchange's, with the body's content type if none is set. */
export function requestHeaders(exchange: Exchange): Headers {
  const type = exchange.body?.contentType;
  if (!type || exchange.headers.has("content-type")) return exchange.headers;
  const headers = new Headers(exchange.headers);
  headers.set("content-type", type);
  return headers;
}

/**
 * Reads the request body whole, for a body matcher, putting the bytes read back on the exchange
 * when it was a one-shot stream (one-shot still); returns it as text, `""` for none.
 */
export async function bufferBody(exchange: Exchange): Promise<string> {
  if (exchange.body === null) return "";
  const opened = exchange.body.open();
  if (opened.contentType && !exchange.headers.has("content-type")) {
    exchange.headers.set("content-type", opened.contentType);
  }
  const bytes = await readBody(opened.body, exchange.signal);
  // A replayable body stays, with the content type it implies, for a redirect that sends it on.
  if (!exchange.body.replayable) exchange.body = RequestBody.from(new Blob([bytes]).stream());
  return new TextDecoder().decode(bytes);
}

/** Sends an exchange's body nowhere, as a canned answer needs none of it. */
export async function drain(exchange: Exchange): Promise<void> {
  if (exchange.body === null) return;
  if (exchange.method === "GET" || exchange.method === "HEAD") {
    throw new NetworkReplyError(
      NetworkError.ProtocolInvalidOperationError,
      `A ${exchange.method} request cannot have a body`,
    );
  }
  const { body } = exchange.body.open();
  if (body instanceof ReadableStream) await body.cancel();
}
