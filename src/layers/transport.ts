/**
 * The transport: the bottom of the pipeline. `fetch` with `redirect: "manual"` for http and
 * https (through the exchange's HTTP client when a proxy set one), `data:` URLs, and `file:`
 * URLs from the file system. Other schemes fail with `ProtocolUnknownError`.
 *
 * @module
 */

import { type Exchange, headersIfMade, setResponseInfo } from "../exchange.ts";
import { recordOwnInfo, repeatedField, withBody } from "../_response.ts";
import { _withoutUserinfo } from "../_redact.ts";
import { classifyError, NetworkError, NetworkReplyError } from "../network_error.ts";
import { decodesContent, transferTimeoutOf } from "../reply.ts";
import { listensTo } from "../_typed_event_target.ts";
import { describe, unsendableHeader } from "../_validation.ts";
import { _dataUrlProblem } from "./_data_url.ts";
import { _decodeFailure, _gunzip, _inflate, _unzstd } from "./_decoders.ts";
import { _fetchFile } from "./_file.ts";
import { notPermitted } from "./_net_permission.ts";
import { unreadProxyVariables } from "../proxy/system_proxy.ts";
import { BODY_SLICE, CountingBlob, countingStream, type Upload } from "./_upload_body.ts";

/** An empty body. */
const NO_BYTES = new Uint8Array(0);

/**
 * Sends an exchange over the network (or reads it from a `file:`/`data:` URL).
 *
 * @param exchange The exchange to send.
 * @returns The response, its body not yet read.
 * @throws {NetworkReplyError} With the code of the failure (refused, not found, TLS, ...).
 *
 * @example Using the transport under a custom layer
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, transport } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager({ transport });
 * assert.equal(await manager.get("data:,plain").text(), "plain");
 * ```
 */
export async function transport(exchange: Exchange): Promise<Response> {
  const { url, method } = exchange;
  exchange.monitor.activity();
  switch (url.protocol) {
    case "http:":
    case "https:":
      break;
    case "data:":
      if (method !== "GET" && method !== "HEAD") {
        throw new NetworkReplyError(
          NetworkError.ProtocolInvalidOperationError,
          `Cannot ${method} a data: URL: data: URLs support GET and HEAD only`,
        );
      }
      try {
        const response = await fetch(url, { signal: exchange.signal });
        // Decoded in full already: its length is its Content-Length (so the reply's
        // `bytesTotal`), as Qt gives a data: URL.
        const bytes = await response.bytes();
        const sized = withBody(response, method === "HEAD" ? null : bytes);
        sized.headers.set("content-length", String(bytes.byteLength));
        return setResponseInfo(sized, { url });
      } catch (error) {
        if (exchange.signal.aborted) throw error;
        throw new NetworkReplyError(
          NetworkError.ProtocolUnknownError,
          `Invalid data: URL${_dataUrlProblem(url, (error as Error).message)}`,
          { cause: error },
        );
      }
    case "file:":
      return setResponseInfo(await _fetchFile(url, method, exchange.signal), { url });
    default: {
      // "localhost:8000/x" is a URL of the scheme "localhost": a host and port, the scheme left out.
      const hostAndPort = url.host === "" && /^\d+(\/|$)/.test(url.pathname);
      throw new NetworkReplyError(
        NetworkError.ProtocolUnknownError,
        `Protocol "${
          url.protocol.slice(0, -1)
        }" is unknown: only http, https, file and data URLs are supported` +
          (hostAndPort ? `; did you mean "http://${url.href}"?` : ""),
      );
    }
  }
  if (method !== "GET" && FORBIDDEN_METHODS.has(method.toUpperCase())) {
    throw new NetworkReplyError(
      NetworkError.ProtocolInvalidOperationError,
      `Cannot send a ${method} request to ${url.host}: the HTTP client does not send CONNECT, ` +
        `TRACE or TRACK (to tunnel through a proxy, set the manager's 'proxy')`,
    );
  }
  // Userinfo is for the auth layer; it never goes on the wire.
  const target = _withoutUserinfo(url);
  if (target.href.length > MAX_URL_LENGTH) {
    throw new NetworkReplyError(
      NetworkError.ProtocolInvalidOperationError,
      `Cannot send a request to ${url.host}: the URL is ${target.href.length} characters long, ` +
        `over the ${MAX_URL_LENGTH} the HTTP client sends`,
    );
  }
  // An exchange that was given no headers and whose headers no layer read sends none of its own.
  const headers = headersIfMade(exchange);
  // With the decompression guard on, the library decodes content codings itself so that it can
  // count the compressed bytes of every body: fetch decodes gzip and br out of its sight unless
  // the request asks for "identity". `fetch` is given the header list with that header added (see
  // `headerRecord`); the exchange's headers stay as they are.
  const list = headers === undefined ? NO_HEADERS : headerRecord(headers);
  const decodeHere = decodesContent(exchange.reply) &&
    !(list === undefined
      ? headers!.has("accept-encoding")
      : Object.hasOwn(list, "accept-encoding"));
  let contentType: string | undefined;
  let body: Uint8Array | Blob | ReadableStream<Uint8Array> | undefined;
  let total = 0;
  let upload: Upload | undefined;
  if (exchange.body) {
    if (method === "GET" || method === "HEAD") {
      throw new NetworkReplyError(
        NetworkError.ProtocolInvalidOperationError,
        `A ${method} request cannot have a body`,
      );
    }
    const opened = exchange.body.open();
    // A FormData body's multipart type names the boundary made for this send, which no header
    // of the request's can know: it replaces theirs (a common `application/json` included).
    const form = exchange.body.contentType === null && opened.contentType !== null;
    const typed = !form &&
      (list === undefined ? headers!.has("content-type") : Object.hasOwn(list, "content-type"));
    if (opened.contentType && !typed) contentType = opened.contentType;
    total = exchange.body.length ?? -1;
    const timed = transferTimeoutOf(exchange.reply) > 0;
    body = opened.body instanceof ReadableStream
      ? countingStream(opened.body, exchange, total, upload = { loaded: 0 }, timed)
      : opened.body instanceof Blob
      // `fetch` sends an empty Blob chunked; no bytes go with Content-Length: 0.
      ? (opened.body.size === 0 ? NO_BYTES : new CountingBlob(opened.body, exchange, timed))
      // Bytes go in one piece, unless something watches them go: then in counted slices.
      : opened.body.byteLength > BODY_SLICE &&
          (timed || listensTo(exchange.reply, "uploadprogress"))
      ? new CountingBlob(opened.body, exchange, timed)
      : opened.body;
    exchange.monitor.uploadProgress(0, total);
  }
  let sent: HeadersInit;
  if (list === NO_HEADERS && contentType === undefined) {
    // No header of the exchange's: a record made whole at once (no property added to it after).
    sent = decodeHere ? { "accept-encoding": "identity" } : {};
  } else if (list !== undefined) {
    const record = list === NO_HEADERS ? {} : list;
    if (contentType !== undefined) record["content-type"] = contentType;
    if (decodeHere) record["accept-encoding"] = "identity";
    sent = record;
  } else {
    const pairs: [string, string][] = [...headers!];
    if (contentType !== undefined) {
      const at = pairs.findIndex(([name]) => name === "content-type");
      if (at !== -1) pairs.splice(at, 1);
      pairs.push(["content-type", contentType]);
    }
    if (decodeHere) pairs.push(["accept-encoding", "identity"]);
    sent = pairs;
  }
  let response: Response;
  try {
    const init: RequestInit & { client?: Deno.HttpClient } = {
      headers: sent,
      redirect: "manual",
      signal: exchange.signal,
      client: exchange.client,
    };
    // A GET goes without `method` (fetch's default), which `fetch` would check and normalize.
    if (method !== "GET") {
      init.method = method;
      init.body = body as BodyInit | undefined;
    }
    response = await fetch(target, init);
  } catch (error) {
    if (exchange.signal.aborted) throw exchange.signal.reason;
    // A stream or async iterable that yields no bytes fails as an invalid body; one whose source
    // failed names what it failed with (`fetch` tells only "fetch failed" and its message).
    if (upload?.error instanceof NetworkReplyError) throw upload.error;
    if (upload !== undefined && "error" in upload) throw sourceFailed(upload, url);
    // `Headers` lets control characters through that `fetch` then refuses, naming no header.
    const unsendable = unsendableHeader(`Cannot send a request to ${url.host}`, sent);
    if (unsendable !== undefined) {
      const code = NetworkError.ProtocolInvalidOperationError;
      throw new NetworkReplyError(code, unsendable, { cause: error });
    }
    // A permission revoked since the gate let the send go: told as the gate tells it.
    const failure = notPermitted(error, url, exchange.proxy) ??
      classifyError(error, url, "connect");
    throw exchange.proxy?.type === "none" ? unseenProxy(failure, url) : failure;
  }
  exchange.monitor.activity();
  if (body !== undefined && total >= 0) exchange.monitor.uploadProgress(total, total);
  const received = response.headers;
  // A redirect's Location fields as received, when there are several: `Headers` joins them.
  const locations = response.status >= 300 && response.status < 400
    ? repeatedField(received, "location")
    : undefined;
  if (received.has("transfer-encoding") && received.has("content-length")) {
    response = withoutLength(response);
  }
  if (decodeHere) response = decode(response, url);
  return recordOwnInfo(response, locations === undefined ? { url } : { url, locations });
}

/**
 * A direct request that found no server (refused, or no such host) in a process that may not read
 * the proxy variables Deno's HTTP client acts on whatever the permission: the failure may be the
 * proxy's one of them names, which the message says, with the flag that lets it be read.
 */
function unseenProxy(failure: NetworkReplyError, url: URL): NetworkReplyError {
  if (
    failure.code !== NetworkError.ConnectionRefusedError &&
    failure.code !== NetworkError.HostNotFoundError
  ) return failure;
  const unread = unreadProxyVariables(url.protocol);
  if (unread.length === 0) return failure;
  const names = [...new Set(unread.map((name) => name.toUpperCase()))].join(" or ");
  return new NetworkReplyError(
    failure.code,
    `${failure.message} (if ${names} is set, Deno sent the request through that proxy, which ` +
      `may be what failed: grant --allow-env=${unread.join(",")} so that it is read and named)`,
    { cause: failure.cause },
  );
}

/** The failure of a request whose streamed body's source failed while it was sent. */
function sourceFailed(upload: Upload, url: URL): NetworkReplyError {
  const error = upload.error;
  const what = error instanceof Error
    ? `${error.name}: ${error.message}`
    : typeof error === "string"
    ? error
    : describe(error);
  return new NetworkReplyError(
    NetworkError.UnknownNetworkError,
    `Sending the request body to ${_withoutUserinfo(url).href} failed after ${upload.loaded} ` +
      `bytes: its stream failed with ${what}`,
    { cause: error },
  );
}

/**
 * A response framed by `Transfer-Encoding` that names a `Content-Length` too: the length is not
 * the body's (RFC 9112 section 6.3: Transfer-Encoding overrides it, and a recipient that passes
 * the message on removes it), so the reply takes the length as unknown and the cache stores
 * none. `fetch` reads such a body to its chunked end already.
 */
function withoutLength(response: Response): Response {
  const framed = withBody(response, response.body);
  framed.headers.delete("content-length");
  return framed;
}

/** Stands for the header record of an exchange without headers (never sent, never written). */
const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** Set on a header record when a name repeats or cannot be a key of its own. */
const UNFIT: unique symbol = Symbol("unfit");
type HeaderRecord = Record<string, string> & { [UNFIT]?: true };

function addHeader(this: HeaderRecord, value: string, name: string): void {
  if (name === "__proto__" || Object.hasOwn(this, name)) this[UNFIT] = true;
  else this[name] = value;
}

/**
 * The headers as a record, which `fetch` reads fastest (a `Headers` object or pairs cost it an
 * iterator per header); `undefined` when a name repeats (`set-cookie`) or is `__proto__`.
 */
function headerRecord(headers: Headers): Record<string, string> | undefined {
  const list: HeaderRecord = {};
  headers.forEach(addHeader, list);
  return list[UNFIT] ? undefined : list;
}

/** The most compressed bytes handed to the decoder at once. */
const DECODE_SLICE = 2048;

/** The content codings the library decodes, by their `DecompressionStream` format (or zstd). */
const DECODERS: ReadonlyMap<string, string> = new Map([
  ["gzip", "gzip"],
  ["x-gzip", "gzip"],
  ["deflate", "deflate"],
  ["br", "brotli"],
  ["zstd", "zstd"],
]);

/**
 * The codings of a `Content-Encoding` that lists several (RFC 9110 section 8.4: in the order
 * they were applied), last applied first, without `identity`; `undefined` when one of them is
 * not known to the library or none is listed.
 */
function stackedCodings(encoding: string): string[] | undefined {
  if (!encoding.includes(",")) return undefined;
  const codings: string[] = [];
  for (const part of encoding.split(",")) {
    const coding = part.trim();
    if (coding === "" || coding === "identity") continue;
    if (!DECODERS.has(coding)) return undefined;
    codings.unshift(coding);
  }
  return codings.length === 0 ? undefined : codings;
}

/** Cuts chunks into slices of at most {@linkcode DECODE_SLICE} bytes. */
function slices(): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream({
    transform(chunk, controller) {
      for (let at = 0; at < chunk.byteLength; at += DECODE_SLICE) {
        controller.enqueue(chunk.subarray(at, at + DECODE_SLICE));
      }
    },
  });
}

/**
 * Decodes a body in the content codings the library knows (one, or several stacked; a body with
 * any other stays as it is), counting the compressed bytes for the decompression guard
 * (`compressedBytes`). A body that does not decode fails with `ProtocolFailure`. The headers
 * stay as received, as `fetch` keeps them when it decodes.
 */
function decode(response: Response, url: URL): Response {
  const encoding = response.headers.get("content-encoding");
  if (encoding === null) return response;
  const coding = encoding.trim().toLowerCase();
  let outer = coding;
  let format = DECODERS.get(coding);
  /** The codings under the outer one, for a stack. */
  let inner: string[] | undefined;
  if (format === undefined) {
    inner = stackedCodings(coding);
    outer = inner?.shift() ?? coding;
    format = DECODERS.get(outer);
  }
  // The body is asked for only when there is one to decode (a body given as bytes makes its
  // stream when first asked for).
  const source = format === undefined ? null : response.body;
  if (source === null || format === undefined) return response;
  const reader = source.getReader();
  let compressed = 0;
  let networkError: unknown;
  /** The first chunk, read before decoding starts; `null` when the body ended there. */
  let first: Uint8Array | null | undefined;
  const enqueue = (controller: ReadableStreamDefaultController<Uint8Array>, value: Uint8Array) => {
    compressed += value.byteLength;
    // Small slices bound what one of them inflates to (gzip: about 1 MiB per KiB) before the
    // guard sees it.
    for (let at = 0; at < value.byteLength; at += DECODE_SLICE) {
      controller.enqueue(value.subarray(at, at + DECODE_SLICE));
    }
  };
  const counted = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (first !== undefined) {
        if (first === null) controller.close();
        else enqueue(controller, first);
        first = undefined;
        return;
      }
      try {
        const { value, done } = await reader.read();
        if (done) controller.close();
        else enqueue(controller, value);
      } catch (error) {
        networkError = error;
        controller.error(error);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  /**
   * Starts decoding, or returns `null` for a body of no bytes: that is empty whatever its coding
   * says, as `fetch` and browsers take it. "deflate" is zlib (RFC 9110), or raw deflate as some
   * servers send it.
   */
  const start = async () => {
    try {
      const { value, done } = await reader.read();
      first = done ? null : value;
    } catch (error) {
      networkError = error;
      throw error;
    }
    if (first === null) return null;
    let stream = counted.pipeThrough(await decoder(format));
    // A stack: each decoder takes the last one's output in slices too, for the guard.
    for (const next of inner ?? []) {
      stream = stream.pipeThrough(slices()).pipeThrough(await decoder(DECODERS.get(next)!));
    }
    return stream.getReader();
  };
  let decoded: ReadableStreamDefaultReader<Uint8Array> | null | undefined;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (decoded === undefined) decoded = await start();
        if (decoded === null) {
          controller.close();
          return;
        }
        const { value, done } = await decoded.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (error) {
        controller.error(
          networkError ?? new NetworkReplyError(
            NetworkError.ProtocolFailure,
            `The ${coding} body of ${url.href} cannot be decoded (${_decodeFailure(error)})`,
            { cause: error },
          ),
        );
      }
    },
    cancel(reason) {
      return decoded ? decoded.cancel(reason) : reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  return setResponseInfo(withBody(response, body), { compressedBytes: () => compressed });
}

/**
 * The decoder of a `DecompressionStream` format: gzip's reads every member; deflate's fails a
 * body cut short, which `DecompressionStream`'s takes for whole; zstd, which `DecompressionStream`
 * does not know, is node:zlib's.
 */
function decoder(
  format: string,
): Promise<TransformStream<Uint8Array, Uint8Array>> | TransformStream<Uint8Array, Uint8Array> {
  if (format === "gzip") return _gunzip();
  if (format === "zstd") return _unzstd();
  if (format === "deflate") return _inflate();
  return new DecompressionStream(format as CompressionFormat) as TransformStream<
    Uint8Array,
    Uint8Array
  >;
}

/** Methods `fetch` refuses to send. */
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
/** The longest URL the HTTP client under `fetch` accepts. */
const MAX_URL_LENGTH = 65_533;
