/**
 * The reply's body machinery: the buffer of received chunks, the decompression guard, and the
 * readers a body is pulled through.
 *
 * @module
 */

import {
  causeChain,
  classifyError,
  NetworkError,
  type NetworkErrorCode,
  NetworkReplyError,
} from "./network_error.ts";
import { _redactUrls } from "./_redact.ts";
import { type NetworkProxy, proxyLabel } from "./proxy/network_proxy.ts";
import { lengthCheckedBy } from "./_response.ts";
import { listensTo, type TypedEventTarget } from "./_typed_event_target.ts";

const EMPTY = new Uint8Array(0);

/**
 * The abort reason of every reply aborted with `abort()`: one for all, as making a
 * `DOMException` (with its stack) costs more than the rest of aborting a queued reply.
 */
export const CANCELED = new DOMException("Operation canceled", "AbortError");
/** The redirects of a reply that followed none: one array for all. */
export const NO_REDIRECTS: readonly URL[] = Object.freeze([]);

/** The chunks received and not yet read, in order, with their total size. */
export class BodyBuffer {
  #chunks: Uint8Array<ArrayBuffer>[] = [];
  #head = 0;
  #size = 0;

  /** Bytes held. */
  get size(): number {
    return this.#size;
  }

  /** Whether no chunk is held. */
  get empty(): boolean {
    return this.#head >= this.#chunks.length;
  }

  /**
   * Adds a chunk at the end: a copy when it is a view on a `SharedArrayBuffer` (as a layer's
   * stream may give), so that every chunk read is one over an `ArrayBuffer`.
   */
  push(chunk: Uint8Array): void {
    this.#chunks.push(
      chunk.buffer instanceof ArrayBuffer ? chunk as Uint8Array<ArrayBuffer> : chunk.slice(),
    );
    this.#size += chunk.byteLength;
  }

  /** Takes the first chunk, or `undefined` when none is held. */
  shift(): Uint8Array<ArrayBuffer> | undefined {
    if (this.#head >= this.#chunks.length) return undefined;
    const chunk = this.#chunks[this.#head]!;
    this.#chunks[this.#head++] = EMPTY;
    this.#size -= chunk.byteLength;
    if (this.#head > 1024 && this.#head * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
    return chunk;
  }

  /** Takes everything held as one array: the chunk itself when there is only one. */
  takeAll(): Uint8Array<ArrayBuffer> {
    const only = this.#chunks.length - this.#head === 1 ? this.#chunks[this.#head]! : undefined;
    let out: Uint8Array<ArrayBuffer>;
    if (only !== undefined) {
      // One chunk (a small body read in one operation): it is the body, no copy.
      out = only;
    } else {
      out = new Uint8Array(this.#size);
      let offset = 0;
      for (let i = this.#head; i < this.#chunks.length; i++) {
        const chunk = this.#chunks[i]!;
        out.set(chunk, offset);
        offset += chunk.byteLength;
      }
    }
    this.#chunks = [];
    this.#head = 0;
    this.#size = 0;
    return out;
  }
}

const GUARD_RATIOS: ReadonlyMap<string, number> = new Map([
  ["gzip", 40],
  ["x-gzip", 40],
  ["deflate", 40],
  ["br", 100],
  ["zstd", 100],
]);

/** The decompression guard's threshold when none is set: 10 MiB. */
export const GUARD_THRESHOLD = 10 * 1024 * 1024;

/**
 * The decompression guard: a compressed body of declared length that grows past `threshold`
 * bytes and past a ratio (40:1 for gzip and deflate, 100:1 for br and zstd) is a likely
 * decompression bomb.
 */
export class DecompressionGuard {
  readonly #compressed: () => number;
  readonly #ratio: number;
  readonly #threshold: number;

  private constructor(compressed: () => number, ratio: number, threshold: number) {
    this.#compressed = compressed;
    this.#ratio = ratio;
    this.#threshold = threshold;
  }

  /**
   * The guard of a body with these headers, or `undefined` when none applies (the guard is
   * off, the body is not compressed, or its compressed size is unknown).
   *
   * @param encoding The `Content-Encoding` header, or `null`.
   * @param declared The `Content-Length` header, or `null`.
   * @param threshold Decompressed bytes from which the ratio counts; negative turns it off.
   * @param counted The compressed bytes so far, where the library decodes the body itself;
   * otherwise the length the response declares (fetch decoded it).
   */
  static for(
    encoding: string | null,
    declared: string | null,
    threshold: number,
    counted?: () => number,
  ): DecompressionGuard | undefined {
    if (encoding === null || threshold < 0) return undefined;
    const coding = encoding.trim().toLowerCase();
    const ratio = GUARD_RATIOS.get(coding) ?? stackedRatio(coding);
    const length = Number.parseInt(declared ?? "", 10);
    const compressed = counted ??
      (Number.isFinite(length) && length > 0 ? () => length : undefined);
    if (threshold < 0 || ratio === undefined || compressed === undefined) return undefined;
    return new DecompressionGuard(compressed, ratio, threshold);
  }

  /**
   * Checks the decompressed size so far.
   *
   * @param received Decompressed bytes received.
   * @param url The body's URL, for the message.
   * @returns Why the body must stop, or `undefined` while it may go on.
   */
  check(received: number, url: string): string | undefined {
    if (received <= this.#threshold) return undefined;
    const compressed = this.#compressed();
    if (received / compressed <= this.#ratio) return undefined;
    return `Decompression of ${url} stopped: ${compressed} compressed bytes grew past ` +
      `${received} bytes (over ${this.#ratio}:1), a likely decompression bomb; raise or turn ` +
      "off 'decompressionGuard' to allow it";
  }
}

/**
 * The ratio of a `Content-Encoding` that lists several codings: the highest of theirs
 * (`identity` aside), or `undefined` when one has none.
 */
function stackedRatio(encoding: string): number | undefined {
  if (!encoding.includes(",")) return undefined;
  let highest: number | undefined;
  for (const part of encoding.split(",")) {
    const coding = part.trim();
    if (coding === "" || coding === "identity") continue;
    const ratio = GUARD_RATIOS.get(coding);
    if (ratio === undefined) return undefined;
    highest = Math.max(highest ?? 0, ratio);
  }
  return highest;
}

/**
 * The error of a second read of a reply's body at `url`, naming the reader that read it first:
 * `bytes()`, `text()` or `json()` (`"all"`), or an iterator (`for await`, `events()`).
 */
export function alreadyRead(url: URL, reader: "iterator" | "all"): TypeError {
  const by = reader === "all" ? "bytes(), text() or json()" : "an iterator (for await, events())";
  return new TypeError(
    _redactUrls(
      `The body of the reply for ${url.href} was already read by ${by}; a body is read only once`,
    ),
  );
}

/**
 * Bodies up to this size, of known length and not compressed, are read in one operation when
 * nothing watches them arrive (see `NetworkReply`).
 */
const SMALL_BODY = 64 * 1024;

/**
 * Whether a reply's body is read in one operation: it is small, of known length (`total`, -1
 * when unknown) and not compressed (`coded`), and nothing watches its bytes arrive (a transfer
 * timeout in `settings`, an iterator, a `readyread` or `downloadprogress` listener).
 */
export function readsAtOnce(
  reply: TypedEventTarget<object, unknown>,
  settings: { readonly transferTimeout: number } | undefined,
  total: number,
  coded: boolean,
  consumer: "none" | "iterator" | "all",
): boolean {
  if ((settings?.transferTimeout ?? 0) > 0 || coded || total < 0 || total > SMALL_BODY) {
    return false;
  }
  return consumer !== "iterator" && !listensTo(reply, "readyread") &&
    !listensTo(reply, "downloadprogress");
}

/** What the reply reads a body through: a stream's reader, or {@linkcode inMemory}. */
export interface BodyReader {
  read(): Promise<ReadableStreamReadResult<Uint8Array>>;
  cancel(reason?: unknown): Promise<void>;
}

/** A reader of a body already in memory: the bytes, then the end. */
export function inMemory(bytes: Uint8Array): BodyReader {
  let given = bytes.byteLength === 0;
  return {
    read: () => {
      if (given) return Promise.resolve({ done: true, value: undefined });
      given = true;
      return Promise.resolve({ done: false, value: bytes });
    },
    cancel: () => Promise.resolve(),
  };
}

/**
 * The bytes a body will have, from `Content-Length`: -1 when unknown, or when a content
 * coding other than `identity` makes the decoded length differ.
 *
 * @param encoding The `Content-Encoding` header, or `null`.
 * @param length The `Content-Length` header, or `null`.
 */
export function expectedLength(encoding: string | null, length: string | null): number {
  if (isCoded(encoding)) return -1;
  const bytes = length === null ? NaN : Number.parseInt(length, 10);
  return Number.isFinite(bytes) ? bytes : -1;
}

/** Whether a `Content-Encoding` names a coding other than `identity`. */
function isCoded(encoding: string | null): boolean {
  if (encoding === null) return false;
  const coding = encoding.trim().toLowerCase();
  return coding !== "" && coding !== "identity";
}

/**
 * Why a body may not be read under a `maxBodySize` of `max` bytes (positive) because its
 * `Content-Length` declares more, or null when it may. A body in a content coding declares its
 * coded length, not what it decodes to: it is counted as it decodes.
 */
export function declaredOverLimit(
  url: URL,
  headers: Headers,
  method: string,
  max: number,
): string | null {
  if (method === "HEAD" || isCoded(headers.get("content-encoding"))) return null;
  const declared = Number(headers.get("content-length") ?? "");
  if (!(declared > max)) return null;
  return `The body of ${url.href} declares ${declared} bytes (Content-Length), over the ` +
    `limit of ${max} bytes; nothing was read (raise 'maxBodySize' to allow it)`;
}

/** Why a body stopped being read: more than `maxBodySize` (`max`) bytes of it arrived. */
export function grewOverLimit(url: URL, max: number): string {
  return `The body of ${url.href} grew past the limit of ${max} bytes; reading stopped ` +
    `(raise 'maxBodySize' to allow it)`;
}

/** What the messages of a reply's failures read of it. */
export interface ReplyState {
  readonly url: URL;
  readonly status: number;
  readonly headers: Headers;
  readonly bytesReceived: number;
  readonly bytesTotal: number;
}

/**
 * Whether all of a body of known length arrived: its stream's end is next (a reply reads on to
 * it and finishes, whatever its buffer holds). Exactly all: a body that goes past its length
 * fails at once when the length is checked, or else has its length unknown from then on.
 */
export function allArrived(reply: ReplyState): boolean {
  return reply.bytesReceived === reply.bytesTotal;
}

/** A `bytes()` call waiting for its reply to finish. */
export interface WholeRead {
  resolve(bytes: Uint8Array<ArrayBuffer>): void;
  reject(error: unknown): void;
}

/** Settles a `bytes()` call with the body `take` returns, or with what it throws. */
export function settleWhole(read: WholeRead, take: () => Uint8Array<ArrayBuffer>): void {
  try {
    read.resolve(take());
  } catch (error) {
    read.reject(error);
  }
}

/**
 * The failure of a body read that threw: {@linkcode classifyError}'s, where a connection that
 * closed is told with how much of the body of the reply arrived. `fetch` fails a chunked body
 * whose framing is malformed (a chunk size that is not hexadecimal, a chunk without its CRLF, a
 * bad trailer) with the very error of one cut short, so a chunked body names both.
 *
 * @param error What the read threw.
 * @param reply The reply: its URL, headers, bytes received and declared length.
 * @param coded Whether the body has a content coding (`bytesReceived` counts decoded bytes).
 * @param whole Whether the body was read in one operation: the bytes that arrived before the
 * close are not known then.
 * @param proxy The proxy the request went through: an HTTP proxy's connection is named for a
 * forwarded (plain-http) request.
 */
export function bodyError(
  error: unknown,
  reply: ReplyState,
  coded: boolean,
  whole = false,
  proxy?: NetworkProxy,
): NetworkReplyError {
  const { url, bytesReceived: received, bytesTotal: total } = reply;
  const failure = classifyError(error, url, coded ? "coded body" : "body");
  if (failure === error || failure.code !== NetworkError.RemoteHostClosedError) return failure;
  const of = `of ${url.href}`;
  const chunked = /chunked/i.test(reply.headers.get("transfer-encoding") ?? "");
  const arrived = whole
    ? `fewer than the ${total} bytes (Content-Length) ${of} arrived`
    : total >= 0
    ? `${received} of the ${total} bytes (Content-Length) ${of} arrived`
    : `${received}${coded ? " decoded" : ""} bytes ${of} arrived, not the end of the body` +
      (chunked ? "; the server closed the connection or broke the chunked framing" : "");
  // A forwarded request's connection is the proxy's: the origin's bytes come through it.
  const forwarded = url.protocol === "http:" && proxy?.url !== undefined &&
    (proxy.type === "http" || proxy.type === "https");
  const peer = forwarded ? `proxy ${proxyLabel(proxy)}` : url.host;
  const message = `Connection to ${peer} closed before the reply was complete: ${arrived}`;
  return new NetworkReplyError(failure.code, `${message} (${causeChain(error)})`, { cause: error });
}

/**
 * The failure of a body not of the `Content-Length` it declares (`bytesTotal`, known without a
 * content coding) when `response`'s length is checked (a transport of one's own answered it):
 * `fetch` fails a body cut short itself and reads no further than the declared length, and a
 * response a layer built may keep a stale length. Short at its end, it is a body cut short
 * (`RemoteHostClosedError`); past the length, a malformed response (`ProtocolFailure`), failed at
 * once. `undefined` when the length is not checked (or not known).
 */
export function wrongLength(
  reply: ReplyState,
  response: Response,
): [NetworkErrorCode, string] | undefined {
  const { url, bytesReceived: received, bytesTotal: total } = reply;
  const by = total < 0 ? undefined : lengthCheckedBy(response);
  if (by === undefined) return undefined;
  const body = `${by} answered a body for ${url.href} that`;
  if (received < total) {
    return [
      NetworkError.RemoteHostClosedError,
      `${body} ended before the reply was complete: ${received} of the ${total} bytes ` +
      "(Content-Length) arrived",
    ];
  }
  return [
    NetworkError.ProtocolFailure,
    `${body} is longer than the ${total} bytes its Content-Length declares: reading stopped ` +
    `at ${received} bytes`,
  ];
}

/**
 * The message of a reply whose server answered `101 Switching Protocols`: the connection left
 * HTTP for the protocol its `Upgrade` names, which a reply cannot carry (and RFC 9110 forbids to
 * a request that asked for no upgrade).
 */
export function switched(reply: ReplyState): string {
  const upgrade = reply.headers.get("upgrade");
  return `The server of ${reply.url.href} answered 101 Switching Protocols` +
    (upgrade === null ? "" : ` (Upgrade: ${upgrade})`) +
    ": the connection left HTTP, and a reply reads HTTP responses only";
}

/**
 * The message of a reply whose transfer timeout of `timeout` ms elapsed: with whom nothing
 * moved, and, once the response head had arrived, how much of the body had.
 */
export function transferTimedOut(reply: ReplyState, timeout: number): string {
  const { url, bytesReceived: received, bytesTotal: total } = reply;
  const message = `No data moved for ${timeout} ms while talking to ${
    url.host || url.href
  } (transferTimeout)`;
  if (reply.status === 0) return message;
  const of = total >= 0
    ? `${received} of the ${total} bytes (Content-Length)`
    : `${received} bytes`;
  return `${message}: the body stalled after ${of} of ${url.href} arrived`;
}
