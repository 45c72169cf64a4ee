/**
 * {@linkcode NetworkReply}: the state, events and body of one request.
 *
 * @module
 */

import { _redactUrls, _withoutUserinfo } from "./_redact.ts";
import { NetworkErrorEvent, type NetworkReplyEventMap } from "./events.ts";
import { type Exchange, type Handler, responseInfo, TransferTimeoutAbort } from "./exchange.ts";
import { NetworkError, type NetworkErrorCode, NetworkReplyError } from "./network_error.ts";
import { keptHref, type NetworkRequest } from "./request.ts";
import type { ServerSentEvent, ServerSentEventsOptions } from "./sse.ts";
import { eventsParser, replyEvents } from "./_sse_parser.ts";
import { listensTo, TypedEventTarget } from "./_typed_event_target.ts";
import type { StandardSchemaV1, StandardSchemaV1InferOutput } from "./standard_schema.ts";
import { checkSchema, readJson } from "./_schema_validation.ts";
import {
  allArrived,
  alreadyRead,
  BodyBuffer,
  bodyError,
  type BodyReader,
  declaredOverLimit,
  DecompressionGuard,
  expectedLength,
  grewOverLimit,
  GUARD_THRESHOLD,
  inMemory,
  readsAtOnce,
  settleWhole,
  switched,
  transferTimedOut,
  type WholeRead,
  wrongLength,
} from "./_reply_body.ts";
import { CANCELED, NO_REDIRECTS } from "./_reply_body.ts";
import { decodeText } from "./reply/_decode.ts";
import { UploadProgress } from "./reply/_upload_progress.ts";
import { DownloadProgress, finishDownload } from "./reply/_download_progress.ts";
import { ExchangeAbort } from "./reply/_exchange_abort.ts";
import { inspectReplies } from "./reply/_inspect.ts";
import { pipelineFailure, signalTimeout, statusFailureMessage } from "./reply/_failure.ts";
import { completedCode, notAResponse, totalTimeout } from "./reply/_failure.ts";
import type { Operation } from "./reply/operation.ts";
import type { ReplySettingsOf } from "./reply/_settings.ts";

/** The settings a reply runs with, resolved from the request and the manager. */
export type ReplySettings = ReplySettingsOf<NetworkReply>;

/** Starts a reply (the manager's entry); without a handler it waits for `sendParked`. */
export let startReply: (reply: NetworkReply, handler?: Handler, exchange?: Exchange) => void;
/** Sends a parked reply's exchange once it has its slot, unless it finished meanwhile. */
export let sendParked: (reply: NetworkReply, handler: Handler, exchange: Exchange) => void;
/** Fails a reply: before it starts (bad URL, closed manager), or a body it cannot read on. */
export let failReply: (
  reply: NetworkReply,
  code: NetworkErrorCode,
  message: string,
  cause?: unknown,
) => void;
/**
 * Fails a reply on what its body says (an event too long): a running reply or one whose whole
 * body came takes the error, one that failed before keeps its own; returns the reply's error.
 */
export let failContent: (reply: NetworkReply, code: NetworkErrorCode, message: string) => Error;
/** Cancels a running reply with a message (the manager closing). */
export let cancelReply: (reply: NetworkReply, message: string, reason?: DOMException) => void;
/** Aborts a reply as its request's signal did: `TimeoutError` for a timeout `reason`. */
export let abortReplyFor: (reply: NetworkReply, reason: unknown) => void;
/** The abort signal of a reply's exchanges, made on the first call. */
export let replySignal: (reply: NetworkReply) => AbortSignal;
/** Whether a reply's exchanges were aborted (the reply was aborted or finished early). */
export let replyAborted: (reply: NetworkReply) => boolean;
/** What a request waits for a slot on without a signal: aborted with the reply's exchanges. */
export let replyAbortSource: (reply: NetworkReply) => ExchangeAbort;
/** Counts one retry of a reply (the retry layer). */
export let countRetry: (reply: NetworkReply) => void;
/** Gives the reply of a caller's request the `href` it was sent to: its URL until a response's. */
export let keepCallersUrl: (reply: NetworkReply, href: string) => void;
/** Moves a reply to the last of the redirects it followed, or to `url` (redirect, HSTS layers). */
export let replyRedirected: (reply: NetworkReply, redirects: readonly URL[], url?: URL) => void;
/** Gives a reply a queue slot to release when it finishes (at once if it has finished). */
export let holdSlot: (reply: NetworkReply, release: () => void) => void;
/** Whether the library decodes the reply's content codings (its decompression guard is on). */
export let decodesContent: (reply: NetworkReply) => boolean;
/** The reply's transfer timeout (0: none). */
export let transferTimeoutOf: (reply: NetworkReply) => number;

/** What a list of running replies keeps on a reply (see `reply/_running.ts`). */
export let replyLink: (reply: NetworkReply) => unknown;
/** Sets what a list of running replies keeps on a reply. */
export let setReplyLink: (reply: NetworkReply, link: unknown) => void;

/** Bytes moved or a send started: the reply's transfer timeout restarts, `allowance` ms longer. */
export let monitorActivity: (reply: NetworkReply, allowance?: number) => void;
/** Tells a reply its next send waits (for a slot, a retry, a callback): no transfer timeout. */
export let monitorQueued: (reply: NetworkReply) => void;
/** Tells a reply the upload progress of its current send. */
export let monitorUpload: (reply: NetworkReply, loaded: number, total: number) => void;

/**
 * The reply to one request: metadata, progress, errors and the body. Returned at once by the
 * manager's operations; never throws there. The body is an async iterator of `Uint8Array`
 * chunks with back-pressure, or read whole with `text()`, `json()` or `bytes()` (once).
 *
 * Until something reads the body, up to `readBufferSize` bytes are buffered (0 = all of it, so
 * `finished` resolves without a reader); once a reader iterates, the network is read only as
 * fast as the reader pulls. A body of known length finishes once all of it has arrived, read or
 * not. Breaking out of the iteration aborts the reply while its body is still arriving.
 *
 * Events: `metadatachanged` (status and headers known), `readyread` (data buffered),
 * `downloadprogress` and `uploadprogress` ({@linkcode NetworkProgressEvent}), `redirected`,
 * `retry` ({@linkcode NetworkRetryEvent}), `error` ({@linkcode NetworkErrorEvent}), `finished`.
 *
 * @example Streaming a body with progress
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, NetworkError } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager();
 * const reply = manager.get("data:application/octet-stream;base64,AAECAw==");
 * const progress: [number, number][] = [];
 * reply.addEventListener("downloadprogress", (e) => progress.push([e.loaded, e.total]));
 * let size = 0;
 * for await (const chunk of reply) size += chunk.byteLength;
 * await reply.finished;
 * assert.equal(size, 4);
 * assert.deepEqual(progress.at(-1), [4, 4]);
 * assert.equal(reply.error, NetworkError.NoError);
 * ```
 */
export class NetworkReply extends TypedEventTarget<NetworkReplyEventMap, NetworkReply>
  implements AsyncIterable<Uint8Array<ArrayBuffer>> {
  /** The request: the caller's own (not a copy) or one made here; sent as it was at the call. */
  readonly request: NetworkRequest;
  /** The operation. */
  readonly operation: Operation;
  /** The HTTP method (the verb of a custom request). */
  readonly method: string;

  /** The URL, once read or named; before, the `href` a caller's request had at the call, if one. */
  #url: URL | string | undefined;
  #status = 0;
  #statusText = "";
  #headers: Headers | undefined;
  #error: NetworkErrorCode = NetworkError.NoError;
  #errorString = "";
  /** What the failure came from (the readers' errors' `cause`), written on failure only. */
  #cause: unknown;
  #state: "idle" | "running" | "finished" = "idle";
  #ending = false; // its last `error`, `downloadprogress` go out: not finished yet to listeners
  #fromCache = false;
  #redirects: readonly URL[] = NO_REDIRECTS;
  #bytesReceived = 0;
  #bytesTotal = -1;
  #response: Response | undefined;
  /** Whether the response names a content coding (its body is then not read in one go). */
  #coded = false;
  /** Made at the first upload progress report: replies that send no body make none. */
  #upload: UploadProgress | undefined;
  #retries = 0;
  /** The queue slot the reply holds, and any more (one per hop whose body it reads). */
  #slot: (() => void) | undefined;
  #slots: (() => void)[] | undefined;
  /** Made when a `downloadprogress` listener first has progress to hear. */
  #download: DownloadProgress | undefined;

  #settings: ReplySettings | undefined;
  /** `finished`, made when first asked for, and what settles it. */
  #finished: Promise<void> | undefined;
  #resolveFinished: (() => void) | undefined;
  /** The exchanges' abort: no `AbortController` until their signal is read. */
  readonly #abort = new ExchangeAbort();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #deadline: ReturnType<typeof setTimeout> | undefined;
  /** The exchange, and the transfer timeout's message once it fired through its proxy. */
  #exchange: Exchange | undefined;
  #proxyTimeout: string | undefined;

  #reader: BodyReader | undefined;
  #buffer: BodyBuffer | undefined;
  #bodyDone = false;
  #pumping = false;
  #consumer: "none" | "iterator" | "all" = "none";
  #returned = false; // the iterator's loop was left (`break`)
  #wake: (() => void) | undefined;
  #guard: DecompressionGuard | undefined;
  /** The `bytes()` call waiting for the reply to finish. */
  #whole: WholeRead | undefined;
  /** What the running list the reply is in keeps on it. */
  #link: unknown;

  static {
    inspectReplies(NetworkReply.prototype); // `console.log(reply)` shows its state
    replyLink = (reply) => reply.#link;
    setReplyLink = (reply, link) => void (reply.#link = link);
    startReply = (reply, handler, exchange) => reply.#start(handler, exchange);
    sendParked = (reply, handler, exchange) => reply.#send(handler, exchange);
    failReply = (reply, code, message, cause) => reply.#fail(code, message, cause);
    failContent = (reply, code, message) => {
      if (reply.#state !== "finished") reply.#finish(code, message);
      else if (reply.#bodyDone) [reply.#error, reply.#errorString] = [code, _redactUrls(message)];
      const options = { reply, cause: reply.#cause };
      return new NetworkReplyError(reply.#error, reply.#errorString, options);
    };
    cancelReply = (reply, message, reason) =>
      reply.#abortWith(NetworkError.OperationCanceledError, message, reason);
    abortReplyFor = (reply, reason) => {
      const timedOut = signalTimeout(reason, reply.url);
      if (reply.#state !== "finished") reply.#cause = reason; // the signal's reason is the cause
      if (timedOut === undefined) reply.abort();
      else reply.#abortWith(NetworkError.TimeoutError, timedOut);
    };
    replySignal = (reply) => reply.#abort.signal;
    replyAborted = (reply) => reply.#abort.aborted;
    replyAbortSource = (reply) => reply.#abort;
    monitorActivity = (reply, allowance) => reply.#activity(allowance);
    monitorQueued = (reply) => void (reply.#proxyTimeout ?? clearTimeout(reply.#timer));
    monitorUpload = (reply, loaded, total) => reply.#uploadProgress(loaded, total);
    countRetry = (reply) => void reply.#retries++;
    keepCallersUrl = (reply, href) => void (reply.#url = href);
    replyRedirected = (reply, redirects, url) => {
      if (reply.#state === "finished") return; // a finished reply's URL stays as it was told
      reply.#redirects = redirects.map(_withoutUserinfo);
      reply.#url = _withoutUserinfo(url ?? reply.#redirects.at(-1) ?? reply.url);
    };
    decodesContent = (reply) => (reply.#settings?.decompressionGuard ?? GUARD_THRESHOLD) >= 0;
    transferTimeoutOf = (reply) => reply.#settings?.transferTimeout ?? 0;
    holdSlot = (reply, release) => {
      if (reply.#state === "finished") release();
      else if (reply.#slot === undefined) reply.#slot = release;
      else if (reply.#slot !== release) (reply.#slots ??= []).push(release);
    };
  }

  /**
   * Creates a reply. Replies are made by a {@linkcode NetworkAccessManager}; a reply made
   * directly never starts.
   *
   * @param request The request.
   * @param operation The operation.
   * @param method The HTTP method.
   * @param settings What the manager resolved for this reply.
   */
  constructor(
    request: NetworkRequest,
    operation: Operation,
    method: string,
    settings?: ReplySettings,
  ) {
    super();
    this.request = request;
    this.operation = operation;
    this.method = method;
    this.#settings = settings;
  }

  /** Resolves when the reply has finished, successfully or not; never rejects. */
  get finished(): Promise<void> {
    // Made when first asked for: most replies are awaited through their body instead.
    return this.#finished ??= this.#state === "finished"
      ? Promise.resolve()
      : new Promise((resolve) => (this.#resolveFinished = resolve));
  }

  /** The URL of the reply: the last one after redirects; until a response, the request's. */
  get url(): URL {
    const { request } = this; // the URL it was sent to, whatever was done to its `url` since
    const url = this.#url ?? keptHref(request) ??
      (request.url instanceof URL ? request.url.href : "");
    if (typeof url === "object") return url;
    return this.#url = _withoutUserinfo(new URL(url || "about:blank"));
  }
  /**
   * The HTTP status, or 0 before the metadata arrived (or when there was no response); after a
   * layer failed the reply on a response (a refused redirect), that response's.
   */
  get status(): number {
    return this.#status;
  }
  /** The HTTP status text. */
  get statusText(): string {
    return this.#statusText;
  }
  /** The response headers (empty before the metadata arrived): the response's own, not a copy. */
  get headers(): Headers {
    return this.#headers ??= new Headers();
  }
  /** The {@linkcode NetworkError} code; `NoError` (0) unless the reply failed. */
  get error(): NetworkErrorCode {
    return this.#error;
  }
  /** A sentence describing the error, or `""`. */
  get errorString(): string {
    return this.#errorString;
  }
  /** Whether the reply has finished: from its `finished` event on (as Qt's `isFinished()`). */
  get isFinished(): boolean {
    return this.#state === "finished" && !this.#ending;
  }
  /** Whether the reply is under way: until its `finished` event. */
  get isRunning(): boolean {
    return this.#state === "running" || this.#ending;
  }
  /** Whether the body came from the cache: a hit, or a stored response a `304` confirmed. */
  get fromCache(): boolean {
    return this.#fromCache;
  }
  /** The URLs redirected to, in order. */
  get redirects(): readonly URL[] {
    return this.#redirects;
  }
  /**
   * Body bytes received (decoded), counting a last chunk that went past `maxBodySize`; 0 when a
   * small body that nothing watched was read in one operation and the server cut it short.
   */
  get bytesReceived(): number {
    return this.#bytesReceived;
  }
  /**
   * The expected body size (`Content-Length`, a `data:` URL's length, a file's size), or -1 while
   * unknown (and once a body went past a length not held to it); once it ended whole, its bytes.
   */
  get bytesTotal(): number {
    return this.#bytesTotal;
  }
  /** How many times the retry layer sent the request again (once each retry's wait was over). */
  get retries(): number {
    return this.#retries;
  }

  /**
   * Aborts the reply at any stage (queued, connecting, streaming): it finishes at once with
   * `OperationCanceledError`, releasing its connection and queue slot. Once finished: nothing.
   */
  abort(): void {
    this.#abortWith(NetworkError.OperationCanceledError, "Operation canceled", CANCELED);
  }

  /**
   * Reads the whole body.
   *
   * @returns The body bytes.
   * @throws {NetworkReplyError} When the reply failed with no complete body to read (an HTTP
   * error status still has its body, and does not throw).
   * @throws {TypeError} When the body was already read.
   */
  bytes(): Promise<Uint8Array<ArrayBuffer>> {
    try {
      this.#claim("all");
      // Settled by `#finish` with the body, or at once when the reply finished already.
      if (this.#state !== "finished") {
        return new Promise((resolve, reject) => (this.#whole = { resolve, reject }));
      }
      return Promise.resolve(this.#takeWhole());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The whole body, once the reply finished. */
  #takeWhole(): Uint8Array<ArrayBuffer> {
    this.#throwIfNoBody();
    return this.#buffer?.takeAll() ?? new Uint8Array(0);
  }

  /**
   * Reads the whole body as text, decoded with the charset of Content-Type (UTF-8 by default).
   *
   * @returns The body text.
   * @throws {NetworkReplyError} As {@linkcode NetworkReply.bytes}.
   */
  async text(): Promise<string> {
    const bytes = await this.bytes();
    return decodeText(bytes, this.headers.get("content-type"));
  }

  /**
   * Reads the whole body as JSON, in UTF-8 whatever the charset (as `Response.json()`). An HTTP
   * error status is no exception: its body is parsed and returned, and `error` tells its code.
   *
   * @returns The parsed value; `undefined` for an empty body (a 204, a HEAD, Content-Length 0).
   * @throws {NetworkReplyError} As {@linkcode NetworkReply.bytes}: the transfer failed.
   * @throws {InvalidJsonError} When the body arrived complete but is not JSON (a `SyntaxError`
   * naming the URL, an error status, a Content-Type not JSON, the line, column, text there).
   */
  json(): Promise<unknown>;
  /**
   * Reads the whole body as JSON and validates it with a Standard Schema v1 validator (Zod,
   * Valibot, ArkType, or an object of your own with a `~standard` property).
   *
   * @typeParam Schema The schema; the result has its output type.
   * @param schema The validator.
   * @returns The value the validator returned (it may transform the parsed JSON).
   * @throws {SchemaValidationError} When the validator reports issues; the message names the
   * URL (and the status, for an HTTP error status) and lists each issue's path and message;
   * `error` is unchanged.
   * @throws {NetworkReplyError} As {@linkcode NetworkReply.json} without a schema: the transfer
   * failed.
   * @throws {InvalidJsonError} As {@linkcode NetworkReply.json} without a schema: the body is
   * not JSON (the schema is not called).
   * @throws {TypeError} When `schema` is not a Standard Schema v1 validator (the body is left
   * unread).
   *
   * @example Validating with a schema written by hand
   * ```ts
   * import assert from "node:assert/strict";
   * import { NetworkAccessManager, type StandardSchemaV1 } from "@netaccess/core";
   *
   * const Point: StandardSchemaV1<unknown, { x: number }> = {
   *   "~standard": {
   *     version: 1,
   *     vendor: "example",
   *     validate: (value) =>
   *       typeof (value as { x?: unknown })?.x === "number"
   *         ? { value: value as { x: number } }
   *         : { issues: [{ message: "Expected a number", path: ["x"] }] },
   *   },
   * };
   * await using manager = new NetworkAccessManager();
   * const point = await manager.get('data:application/json,{"x":1}').json(Point);
   * assert.equal(point.x, 1);
   * ```
   */
  json<Schema extends StandardSchemaV1>(
    schema: Schema,
  ): Promise<StandardSchemaV1InferOutput<Schema>>;
  async json(schema?: StandardSchemaV1): Promise<unknown> {
    if (schema !== undefined) checkSchema("Cannot read JSON", schema);
    return await readJson(this, await this.bytes(), schema);
  }

  /**
   * Reads the body as a `text/event-stream` (Server-Sent Events), parsed by the HTML
   * standard's rules: `event`, `data` (several joined by `"\n"`), `id` (one holding NULL is
   * ignored), `retry`, comments, a leading BOM, CR, LF or CRLF line ends; a last event the
   * body does not end with a blank line is dropped. Back-pressured (read as fast as events are
   * taken); breaking out of the loop aborts the reply while its body is still arriving, and a
   * line or an event longer than `maxEventLength` fails it with `ProtocolFailure`. To
   * reconnect, see `manager.eventStream`.
   *
   * @typeParam Type The event types the stream sends, for typing `event.type`.
   * @param options `maxEventLength` (see {@linkcode ServerSentEventsOptions}).
   * @returns An iterator of events.
   * @throws {NetworkReplyError} As the iterator, when the transfer fails or an event is too long.
   * @throws {TypeError} When the body was already read, `options` is not an object or has an
   * option it does not know (a misspelt one), or `maxEventLength` is not a number.
   * @throws {RangeError} When `maxEventLength` is a number that is not a non-negative integer.
   *
   * @example Streaming events
   * ```ts
   * import assert from "node:assert/strict";
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * await using manager = new NetworkAccessManager();
   * const reply = manager.get("data:text/event-stream,data:%20hello%0A%0A");
   * const data: string[] = [];
   * for await (const event of reply.events()) data.push(event.data);
   * assert.deepEqual(data, ["hello"]);
   * ```
   */
  events<Type extends string = string>(
    options?: ServerSentEventsOptions,
  ): AsyncGenerator<ServerSentEvent<Type>, void, undefined> {
    const parser = eventsParser("Cannot read events", options);
    return replyEvents<Type>(this, parser, failContent);
  }

  /**
   * Iterates over the body in chunks as they arrive; the network is read only as fast as the
   * loop pulls. Breaking out of the loop aborts the reply while its body is still arriving; once
   * all of it has arrived, the reply finishes as it is. A returned iterator is done.
   *
   * @returns An iterator of body chunks.
   * @throws {TypeError} When the body was already read.
   */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array<ArrayBuffer>> {
    this.#claim("iterator");
    return {
      next: async (): Promise<IteratorResult<Uint8Array<ArrayBuffer>>> => {
        if (this.#returned) return { value: undefined, done: true };
        for (;;) {
          const chunk = this.#buffer?.shift();
          if (chunk !== undefined) {
            this.#pump();
            return { value: chunk, done: false };
          }
          if (this.#state === "finished") {
            this.#throwIfNoBody();
            return { value: undefined, done: true };
          }
          // Another pull may wait already (a reader that prefetches): both wake, in order.
          const waiting = this.#wake;
          await new Promise<void>((resolve) =>
            this.#wake = waiting === undefined ? resolve : () => void (waiting(), resolve())
          );
        }
      },
      return: (): Promise<IteratorResult<Uint8Array<ArrayBuffer>>> => {
        this.#returned = true;
        if (!allArrived(this)) this.abort(); // a body that all arrived finishes as it is
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  #claim(consumer: "iterator" | "all"): void {
    if (this.#consumer !== "none") throw alreadyRead(this.url, this.#consumer);
    this.#consumer = consumer;
    this.#pump();
  }

  #throwIfNoBody(): void {
    if (this.#error === NetworkError.NoError || this.#bodyDone) return;
    const options = { reply: this, cause: this.#cause };
    throw new NetworkReplyError(this.#error, this.#errorString, options);
  }

  /** Running from now on, with its timeout; sent now, or when its queue slot is free. */
  #start(handler?: Handler, exchange?: Exchange): void {
    if (this.#state !== "idle") return;
    this.#state = "running";
    const timeout = this.#settings?.timeout ?? 0;
    if (timeout > 0) {
      this.#abort.deadline = performance.now() + timeout;
      this.#deadline = setTimeout(
        () => this.#abortWith(NetworkError.TimeoutError, totalTimeout(this.url, timeout)),
        timeout,
      );
    }
    if (handler !== undefined) this.#send(handler, exchange!);
  }

  /** Sends the exchange unless the reply finished first (aborted while it waited for a slot). */
  #send(handler: Handler, exchange: Exchange): void {
    if (this.#state !== "running") return;
    queueMicrotask(() => void (this.#state === "running" && this.#run(handler, exchange)));
  }

  async #run(handler: Handler, exchange: Exchange): Promise<void> {
    let response: Response;
    try {
      this.#exchange = exchange;
      response = await handler(exchange);
      if (!(response instanceof Response)) throw notAResponse(response);
    } catch (error) {
      if (this.#state === "finished") return;
      const failure = pipelineFailure(error, exchange.url, this.#proxyTimeout);
      this.#status = failure.response?.status ?? 0; // a layer failed on it: a refused redirect
      this.#statusText = failure.response?.statusText ?? "";
      this.#headers = failure.response?.headers;
      return this.#fail(failure.code, failure.message, failure.cause ?? error);
    }
    const body = response.body;
    if (this.#state === "finished") {
      body?.cancel().catch(() => {});
      return;
    }
    this.#metadata(response, body === null, exchange);
    this.#upload?.flush(); // its listener may abort the reply: then no metadatachanged after
    if (this.#state === "running") this.#emit("metadatachanged");
    // A response without a body (204, 304) declares no body of its own to refuse.
    if (this.isFinished || (body !== null && this.#declaredTooLarge())) {
      body?.cancel().catch(() => {});
      return;
    }
    if (body === null || this.method === "HEAD") {
      body?.cancel().catch(() => {});
      if (this.#status === 101) return this.#finish(NetworkError.ProtocolFailure, switched(this));
      this.#bodyDone = true;
      this.#succeed();
      return;
    }
    if (readsAtOnce(this, this.#settings, this.#bytesTotal, this.#coded, this.#consumer)) {
      // One read for a small body: a stream reader costs more than the exchange itself for a
      // few KiB. Once it is in memory its connection is free, whoever reads it and when.
      let bytes: Uint8Array;
      try {
        bytes = await response.bytes();
      } catch (error) {
        if (this.#state !== "running") return;
        const failure = bodyError(error, this, false, true, this.#exchange?.proxy);
        return this.#fail(failure.code, failure.message, failure.cause ?? error);
      }
      if (this.#state !== "running") return;
      this.#releaseSlots();
      this.#append(bytes);
      if (this.#state !== "running") return;
      if (this.#wantsMore()) {
        this.#bodyDone = true;
        this.#succeed();
        return;
      }
      // Buffered for a reader still to come: the end is read once it pulls.
      this.#reader = inMemory(new Uint8Array(0));
    } else {
      this.#reader = body.getReader();
    }
    this.#pump();
  }

  /** Frees the queue slots the reply holds: its body is in memory, or it finished. */
  #releaseSlots(): void {
    const slot = this.#slot;
    if (slot === undefined) return;
    const slots = this.#slots;
    this.#slot = this.#slots = undefined;
    slot();
    if (slots !== undefined) { for (let i = 0; i < slots.length; i++) slots[i]!(); }
  }

  #metadata(response: Response, bodiless: boolean, exchange: Exchange): void {
    const info = responseInfo(response);
    this.#url = _withoutUserinfo(info.url ?? exchange.url);
    this.#fromCache = info.fromCache ?? info.revalidated ?? false;
    this.#redirects = info.redirects?.map(_withoutUserinfo) ?? this.#redirects;
    this.#status = response.status;
    this.#statusText = response.statusText;
    this.#response = response;
    // Referenced, not copied: the response's headers are the reply's.
    const headers = this.#headers = response.headers;
    const encoding = headers.get("content-encoding");
    const length = headers.get("content-length");
    const noBody = bodiless || this.method === "HEAD";
    this.#coded = encoding !== null;
    this.#bytesTotal = noBody ? 0 : expectedLength(encoding, length);
    const threshold = this.#settings?.decompressionGuard ?? GUARD_THRESHOLD;
    this.#guard = info.fromCache || encoding === null // a body from the cache was checked already
      ? undefined
      : DecompressionGuard.for(encoding, length, threshold, info.compressedBytes);
  }

  /** Reads the body on while it is wanted: no promise when there is nothing to read. */
  #pump(): void {
    const reader = this.#reader;
    if (this.#pumping || reader === undefined || this.#bodyDone) return;
    void this.#pumpFrom(reader);
  }

  async #pumpFrom(reader: BodyReader): Promise<void> {
    this.#pumping = true;
    // The transfer timeout runs only while a read waits on the network: back-pressure (a
    // reader that has not pulled yet) pauses it, and a pull starts it afresh.
    this.#activity();
    try {
      while (this.#state === "running" && !this.#bodyDone && this.#wantsMore()) {
        const { value, done } = await reader.read();
        if (this.#state !== "running") return;
        if (done) {
          this.#bodyDone = true;
          break;
        }
        this.#append(value);
      }
    } catch (error) {
      if (this.#state !== "running") return;
      const failed = bodyError(error, this, this.#coded, false, this.#exchange?.proxy);
      return this.#fail(failed.code, failed.message, failed.cause ?? error);
    } finally {
      this.#pumping = false;
    }
    if (this.#bodyDone && this.#state === "running") this.#succeed();
    else clearTimeout(this.#timer);
  }

  #wantsMore(): boolean {
    if (this.#consumer === "all" || allArrived(this)) return true;
    const limit = this.#settings?.readBufferSize ?? 0;
    if (limit > 0) return (this.#buffer?.size ?? 0) < limit;
    if (this.#consumer === "iterator") return this.#buffer?.empty ?? true;
    return true;
  }

  #declaredTooLarge(): boolean {
    const max = this.#settings?.maxBodySize ?? 0;
    const problem = max > 0 ? declaredOverLimit(this.url, this.headers, this.method, max) : null;
    if (problem !== null) this.#abortWith(NetworkError.ProtocolFailure, problem);
    return problem !== null;
  }

  #append(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    const max = this.#settings?.maxBodySize ?? 0;
    const received = this.#bytesReceived += chunk.byteLength;
    if (max > 0 && received > max) {
      this.#abortWith(NetworkError.ProtocolFailure, grewOverLimit(this.url, max));
      return;
    }
    const total = this.#bytesTotal;
    if (received > total && total >= 0) {
      // Past its Content-Length: a checked body fails; any other's length was not its own.
      const failure = wrongLength(this, this.#response!);
      if (failure !== undefined) return this.#abortWith(...failure);
      if (this.#returned) return this.abort(); // the loop was left at what seemed the body's end
      this.#bytesTotal = -1;
    }
    (this.#buffer ??= new BodyBuffer()).push(chunk);
    this.#activity();
    // The last byte of a body of known length is here: its connection serves the next request.
    if (received === total && this.#slot !== undefined) this.#releaseSlots();
    const bomb = this.#guard?.check(this.#bytesReceived, this.url.href);
    if (bomb !== undefined) return this.#finish(NetworkError.ProtocolFailure, bomb);
    this.#notify();
    this.#emit("readyread");
    if (this.#state !== "running" || !listensTo(this, "downloadprogress")) return;
    (this.#download ??= new DownloadProgress(this)).update(this.#bytesReceived, this.#bytesTotal);
  }

  /** Dispatches a plain event of `type` when something listens for it. */
  #emit(type: string): void {
    if (listensTo(this, type)) this.dispatchEvent(new Event(type));
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #activity(allowance = 0): void {
    if (this.#state !== "running") return;
    const timeout = this.#settings?.transferTimeout ?? 0;
    if (timeout <= 0 || this.#proxyTimeout !== undefined) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      const message = transferTimedOut(this, timeout);
      if (this.#status !== 0 || this.#exchange?.proxy?.url === undefined) {
        return this.#abortWith(NetworkError.TimeoutError, message);
      }
      // No response through a proxy: the proxy layer probes it (within 1 s), or it stands.
      this.#proxyTimeout = message;
      this.#abort.abort(new TransferTimeoutAbort(message));
      this.#timer = setTimeout(() => this.#finish(NetworkError.TimeoutError, message), 2000);
    }, timeout + allowance);
  }

  #uploadProgress(loaded: number, total: number): void {
    if (this.#state !== "running") return;
    (this.#upload ??= new UploadProgress(this)).update(loaded, total);
  }

  #succeed(): void {
    const short = this.#bytesReceived === this.#bytesTotal
      ? undefined
      : wrongLength(this, this.#response!);
    if (short !== undefined) {
      this.#bodyDone = false; // short of a checked Content-Length, the body is not whole
      return this.#finish(...short);
    }
    this.#bytesTotal = this.#bytesReceived; // the body ended whole: its size
    const code = completedCode(this);
    const by = this.#status === 407 ? this.#exchange?.proxy?.url : undefined; // 407: the proxy's
    this.#finish(code, code === NetworkError.NoError ? "" : statusFailureMessage(this, by));
  }

  #abortWith(code: NetworkErrorCode, message: string, reason?: DOMException): void {
    if (this.#state === "finished") return;
    const timeout = code === NetworkError.TimeoutError;
    this.#abort.abort(reason, message, timeout ? "TimeoutError" : "AbortError");
    if (timeout) this.#cause ??= this.#abort.reason; // the exchanges' TimeoutError, if no other
    this.#finish(code, message);
  }

  /** Finishes with an error that came from `cause` (`undefined`: none), unless finished. */
  #fail(code: NetworkErrorCode, message: string, cause: unknown): void {
    if (this.#state !== "finished") this.#cause = cause;
    this.#finish(code, message);
  }

  #finish(code: NetworkErrorCode, message: string): void {
    if (this.#state === "finished") return;
    this.#state = "finished";
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
    // Its slot goes back a microtask later: aborting requests in line order (each abort frees
    // the slot) does not hand it to the next request only for that one to be aborted too.
    if (this.#slot !== undefined) queueMicrotask(() => this.#releaseSlots());
    this.#error = code;
    this.#errorString = _redactUrls(message);
    if (!this.#bodyDone) {
      this.#reader?.cancel().catch(() => {});
      this.#abort.abort(undefined, message || "Reply finished");
    }
    this.#notify();
    this.#upload?.end(code === NetworkError.NoError);
    this.#ending = true; // as in Qt, `error` and the last progress come before it is finished
    if (code !== NetworkError.NoError && listensTo(this, "error")) {
      this.dispatchEvent(new NetworkErrorEvent(code, message));
    }
    this.#download = finishDownload(this, this.#download, this.#bytesReceived, this.#bytesTotal);
    this.#ending = false;
    this.#emit("finished");
    this.#resolveFinished?.();
    const whole = this.#whole;
    this.#whole = undefined;
    if (whole !== undefined) settleWhole(whole, () => this.#takeWhole());
    this.#settings?.onFinished(this);
  }
}
