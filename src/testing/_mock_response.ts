/**
 * Builds the `Response` of a canned mock answer, with a body of text, bytes, JSON or chunks
 * sent one by one.
 *
 * @module
 */

import { checkTimerRange } from "../_validation.ts";

/** The fields of `MockResponseInit` this file reads. */
export interface CannedResponse {
  status?: number;
  statusText?: string;
  headers?: HeadersInit;
  body?: string | Uint8Array | null;
  json?: unknown;
  chunks?: readonly (string | Uint8Array)[];
  chunkDelay?: number;
}

/** Checks the `chunks` and `chunkDelay` of a canned answer; the message starts with `what`. */
export function checkChunks(what: string, value: CannedResponse): void {
  const { chunks, chunkDelay } = value;
  if (chunks !== undefined) {
    if (!Array.isArray(chunks)) {
      throw new TypeError(`${what}: 'chunks' must be an array of strings or bytes, got ${chunks}`);
    }
    const at = chunks.findIndex((chunk) =>
      typeof chunk !== "string" && !(chunk instanceof Uint8Array)
    );
    if (at !== -1) {
      throw new TypeError(
        `${what}: 'chunks[${at}]' must be a string or a Uint8Array, got ${typeof chunks[at]}`,
      );
    }
  }
  if (chunkDelay !== undefined) {
    if (typeof chunkDelay !== "number" || !Number.isFinite(chunkDelay) || chunkDelay < 0) {
      throw new RangeError(
        `${what}: 'chunkDelay' must be a non-negative number, got ${chunkDelay}`,
      );
    }
    checkTimerRange(what, "chunkDelay", chunkDelay, "use 0 to send the chunks at once");
  }
}

/**
 * A stream of `chunks` that sends one per read, waiting `delay` ms before each after the
 * first: nothing is read ahead, so no timer runs while nobody reads, and an abort of `signal`
 * or a cancel of the stream ends the wait.
 */
function chunkStream(
  chunks: readonly (string | Uint8Array)[],
  delay: number,
  sleep: (ms: number, signal: AbortSignal) => Promise<void>,
  signal: AbortSignal,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const cancelled = new AbortController();
  let next = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (next >= chunks.length) return controller.close();
      if (next > 0 && delay > 0) {
        await sleep(delay, AbortSignal.any([signal, cancelled.signal]));
      }
      const chunk = chunks[next++]!;
      controller.enqueue(typeof chunk === "string" ? encoder.encode(chunk) : chunk.slice());
      if (next >= chunks.length) controller.close();
    },
    cancel(reason) {
      cancelled.abort(reason);
    },
  }, { highWaterMark: 0 });
}

/** The `Response` of a canned answer, or the given `Response` as it is. */
export function toResponse(
  value: Response | CannedResponse,
  sleep: (ms: number, signal: AbortSignal) => Promise<void>,
  signal: AbortSignal,
): Response {
  if (value instanceof Response) return value;
  checkChunks("Cannot answer from mock route", value);
  const headers = new Headers(value.headers);
  let body: BodyInit | null = (value.body ?? null) as BodyInit | null;
  if (value.chunks !== undefined) {
    body = chunkStream(value.chunks, value.chunkDelay ?? 0, sleep, signal);
  } else if (value.json !== undefined) {
    body = JSON.stringify(value.json);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }
  return new Response(body, {
    status: value.status ?? 200,
    statusText: value.statusText ?? "",
    headers,
  });
}
