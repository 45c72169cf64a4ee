/**
 * Request bodies as the transport hands them to `fetch`, counted as `fetch` takes them: for the
 * upload's progress and for the transfer timeout. `fetch` takes the next chunk when the socket
 * accepted the one before, so what it took follows the socket, up to what the connection's
 * buffers hold.
 *
 * @module
 */

import type { Exchange } from "../exchange.ts";
import { NetworkError, NetworkReplyError } from "../network_error.ts";
import { monitorActivity } from "../reply.ts";
import { describe } from "../_validation.ts";

/** A streamed request body's count of bytes handed to `fetch`, and what its source failed with. */
export interface Upload {
  loaded: number;
  error?: unknown;
}

/** A gap between two chunks `fetch` takes that is a wait on the connection, not a burst. */
const WAIT = 20;

/**
 * The pace at which `fetch` takes a body, for a reply with a transfer timeout. `fetch` takes
 * chunks in bursts: what the connection's buffers hold at the start, then, after a wait, as much
 * as the server read meanwhile. What the buffers may hold is the largest burst, or the bytes
 * taken beyond what the pace since that burst would have moved from the start, if more; after
 * each chunk handed over (the last one too), the transfer timeout allows on top twice the time
 * those bytes take at that pace. Before a burst was followed by a wait, nothing more.
 */
class UploadPace {
  readonly #start = performance.now();
  /** When `fetch` last took a chunk (or the send started), and how many bytes it had then. */
  #lastAt = this.#start;
  #lastLoaded = 0;
  /** The bytes taken before the burst under way. */
  #burstFrom = 0;
  /** The largest burst, and when it ended: what the pace is measured from. */
  #buffered = 0;
  #fromAt = -1;
  #fromLoaded = 0;
  #drain = 0;

  /** `loaded` bytes were handed over: the milliseconds the buffers may still take to drain. */
  drain(loaded: number): number {
    const now = performance.now();
    if (now - this.#lastAt >= WAIT) {
      const burst = this.#lastLoaded - this.#burstFrom;
      if (burst > this.#buffered) {
        this.#buffered = burst;
        this.#fromAt = this.#lastAt;
        this.#fromLoaded = this.#lastLoaded;
      }
      this.#burstFrom = this.#lastLoaded;
    }
    this.#lastAt = now;
    this.#lastLoaded = loaded;
    if (this.#fromAt >= 0 && loaded > this.#fromLoaded) {
      const pace = (loaded - this.#fromLoaded) / (now - this.#fromAt);
      // What was taken beyond what that pace moves from the start, if more than the burst; twice
      // the time it takes, as the buffers grow while the connection runs.
      const held = Math.max(this.#buffered, loaded - pace * (now - this.#start));
      this.#drain = 2 * held / pace;
    }
    return this.#drain;
  }
}

/**
 * Counts the bytes of a body as `fetch` takes them: progress to the reply, and activity for its
 * transfer timeout (with the time the connection's buffers may take to drain, when it has one).
 */
function counter(exchange: Exchange, total: number, timed: boolean) {
  const pace = timed ? new UploadPace() : undefined;
  const monitor = exchange.monitor;
  return (loaded: number, progress: boolean) => {
    if (pace === undefined) monitor.activity();
    else monitorActivity(exchange.reply, pace.drain(loaded));
    if (progress) monitor.uploadProgress(loaded, total);
  };
}

/**
 * The stream `fetch` reads a streamed request body from: it reports the upload's progress, and
 * keeps in `upload` what the source failed with (`fetch` keeps only its message). When the reply
 * finishes before the source ended (the server answered without reading the whole body), the
 * source is cancelled, so that it closes, and the stream fails, so that `fetch` sends no more
 * and the server never sees the body end.
 */
export function countingStream(
  source: ReadableStream<Uint8Array>,
  exchange: Exchange,
  total: number,
  upload: Upload,
  timed: boolean,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  const count = counter(exchange, total, timed);
  let ended = false;
  let stream!: ReadableStreamDefaultController<Uint8Array>;
  void exchange.reply.finished.then(() => {
    if (ended) return;
    ended = true;
    const reason = new NetworkReplyError(
      NetworkError.OperationCanceledError,
      "The reply finished before its request body was sent whole",
    );
    stream.error(reason);
    reader.cancel(reason).catch(() => {});
  });
  return new ReadableStream<Uint8Array>({
    start(controller) {
      stream = controller;
    },
    async pull(controller) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (error) {
        if (ended) return;
        ended = true;
        upload.error = error;
        throw error;
      }
      if (ended) return;
      if (result.done) {
        ended = true;
        // The last chunk was taken: the socket accepted it.
        if (timed) count(upload.loaded, false);
        controller.close();
        return;
      }
      const value = result.value;
      // Any other view (a DataView, a Uint16Array) `fetch` fails with "expected typed
      // ArrayBufferView".
      if (!(value instanceof Uint8Array)) {
        ended = true;
        upload.error = new NetworkReplyError(
          NetworkError.ProtocolInvalidOperationError,
          `Invalid body: the ReadableStream must yield Uint8Array chunks, got ${describe(value)}`,
        );
        controller.error(upload.error);
        reader.cancel(upload.error).catch(() => {});
        return;
      }
      upload.loaded += value.byteLength;
      count(upload.loaded, true);
      controller.enqueue(value);
    },
    async cancel(reason) {
      ended = true;
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** The most bytes of a body of known length handed to `fetch` at once, and counted. */
export const BODY_SLICE = 64 * 1024;

/**
 * A body of known length (a Blob, or bytes) as `fetch` sends it: with its size as
 * Content-Length, read from the stream `stream()` gives. That stream hands the body over in
 * slices, each counted as `fetch` takes it, so that neither a large part of a Blob is copied
 * whole into memory nor the progress told only at the end. Its parts are the body's, not copies:
 * bytes are no part of it at all (its `size` is theirs).
 */
export class CountingBlob extends Blob {
  readonly #body: Blob | Uint8Array;
  readonly #exchange: Exchange;
  readonly #timed: boolean;

  constructor(body: Blob | Uint8Array, exchange: Exchange, timed: boolean) {
    super(body instanceof Blob ? [body] : []);
    this.#body = body;
    this.#exchange = exchange;
    this.#timed = timed;
  }

  override get size(): number {
    const body = this.#body;
    return body instanceof Blob ? body.size : body.byteLength;
  }

  override stream(): ReadableStream<Uint8Array<ArrayBuffer>> {
    const body = this.#body;
    const total = this.size;
    const count = counter(this.#exchange, total, this.#timed);
    let loaded = 0;
    return new ReadableStream<Uint8Array<ArrayBuffer>>({
      async pull(controller) {
        if (loaded >= total) {
          // The last slice was taken: the socket accepted it.
          count(loaded, false);
          controller.close();
          return;
        }
        const end = Math.min(loaded + BODY_SLICE, total);
        const bytes = body instanceof Blob
          ? new Uint8Array(await body.slice(loaded, end).arrayBuffer())
          : body.subarray(loaded, end) as Uint8Array<ArrayBuffer>;
        loaded = end;
        count(loaded, true);
        controller.enqueue(bytes);
      },
    }, { highWaterMark: 0 });
  }
}
