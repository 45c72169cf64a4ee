/**
 * Builds the `Response` of a canned mock answer, with a body of text, bytes, JSON or chunks
 * sent one by one.
 *
 * @module
 */

import {
  checkKeys,
  checkTimerRange,
  describe,
  isPlainObject,
  numberError,
} from "../_validation.ts";
import { recordInfo, repeatedField } from "../_response.ts";

/**
 * A canned response: status, headers and a body (text, bytes, or `json` serialised).
 *
 * @example A route that answers 201 with a JSON body and a header
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager } from "@netaccess/core";
 * import { type MockResponseInit, MockTransport } from "@netaccess/core/testing";
 *
 * const created: MockResponseInit = {
 *   status: 201,
 *   headers: { location: "/items/1" },
 *   json: { id: 1 },
 * };
 * const mock = new MockTransport().route("POST", "/items", created);
 * await using manager = new NetworkAccessManager({ transport: mock.handler });
 * const reply = manager.post("https://api.example/items", { name: "pen" });
 * assert.deepEqual(await reply.json(), { id: 1 });
 * assert.equal(reply.status, 201);
 * assert.equal(reply.headers.get("location"), "/items/1");
 * ```
 */
export interface MockResponseInit {
  /**
   * The status.
   * @default {200}
   */
  status?: number | undefined;
  /**
   * The status text.
   * @default {""}
   */
  statusText?: string | undefined;
  /**
   * The response headers.
   * @default {{}}
   */
  headers?: HeadersInit | undefined;
  /**
   * The body: text, bytes (a `Uint8Array`, another typed array, a `DataView` or an
   * `ArrayBuffer`), a `Blob`, `URLSearchParams` or `FormData`; or, from a handler only, a
   * `ReadableStream` (a stream is read once, so a canned answer, which serves every request,
   * takes `chunks` instead). One of `body`, `json` and `chunks`.
   * @default {null}
   */
  body?:
    | string
    | ArrayBuffer
    | ArrayBufferView
    | Blob
    | URLSearchParams
    | FormData
    | ReadableStream<Uint8Array>
    | null
    | undefined;
  /**
   * A value sent as a JSON body (with `Content-Type: application/json` unless one is set).
   * One of `body`, `json` and `chunks`.
   * @default {undefined}
   */
  json?: unknown;
  /**
   * The body as chunks the reply reads one by one (a new stream for each request, read on
   * demand), to test a reply's async iterator, `readyread` and `downloadprogress` events, or a
   * `transferTimeout` with `chunkDelay`. One of `body`, `json` and `chunks`. Set
   * `Content-Length` to give progress a total.
   * @default {undefined}
   */
  chunks?: readonly (string | Uint8Array)[] | undefined;
  /**
   * Milliseconds to wait before each chunk after the first, with the transport's `sleep`
   * (aborting the reply stops the wait).
   * @default {0}
   */
  chunkDelay?: number | undefined;
}

/** The fields of a canned answer (the type says every one is here). */
const FIELDS = Object.keys(
  {
    status: 1,
    statusText: 1,
    headers: 1,
    body: 1,
    json: 1,
    chunks: 1,
    chunkDelay: 1,
  } satisfies Record<keyof MockResponseInit, 1>,
);

/**
 * Checks a delay in milliseconds (or `undefined`): a non-negative number a timer can wait;
 * `zero` ends the message of one too long (what 0 does instead).
 */
export function checkDelay(what: string, field: string, value: unknown, zero: string): void {
  if (value === undefined) return;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw numberError(what, field, value, "a non-negative number");
  }
  checkTimerRange(what, field, value, zero);
}

/** Whether `value` is a body a canned answer or a handler's may give. */
function isBody(value: unknown): boolean {
  return typeof value === "string" || value instanceof ArrayBuffer || ArrayBuffer.isView(value) ||
    value instanceof Blob || value instanceof URLSearchParams || value instanceof FormData ||
    value instanceof ReadableStream;
}

/**
 * Checks the `statusText`, `body`, `chunks` and `chunkDelay` of a canned answer (one of `body`,
 * `json` and `chunks` at most), and that it has no
 * other field than those of {@linkcode MockResponseInit} (a misspelt one would be ignored); the
 * message starts with `what`, and names an unknown field after `object` when given.
 */
export function checkFields(what: string, value: MockResponseInit, object?: string): void {
  checkKeys(what, value, FIELDS, object);
  const { statusText, body, chunks, chunkDelay } = value;
  if (body !== undefined && body !== null && !isBody(body)) {
    throw new TypeError(
      `${what}: 'body' must be a string, bytes, a Blob, URLSearchParams or FormData (or, from ` +
        `a handler, a ReadableStream), got ${describe(body)}` +
        (isPlainObject(body) || Array.isArray(body)
          ? "; give a value to send as JSON as 'json'"
          : ""),
    );
  }
  const given = (["body", "json", "chunks"] as const).filter((field) =>
    value[field] !== undefined && value[field] !== null
  );
  if (given.length > 1) {
    throw new TypeError(
      `${what}: give one of 'body', 'json' and 'chunks', got ${
        given.map((field) => `'${field}'`).join(" and ")
      }`,
    );
  }
  // `Response` would take `null` as the text "null".
  if (statusText !== undefined && typeof statusText !== "string") {
    throw new TypeError(`${what}: 'statusText' must be a string, got ${describe(statusText)}`);
  }
  if (chunks !== undefined) {
    if (!Array.isArray(chunks)) {
      throw new TypeError(
        `${what}: 'chunks' must be an array of strings or bytes, got ${describe(chunks)}`,
      );
    }
    const at = chunks.findIndex((chunk) =>
      typeof chunk !== "string" && !(chunk instanceof Uint8Array)
    );
    if (at !== -1) {
      throw new TypeError(
        `${what}: 'chunks[${at}]' must be a string or a Uint8Array, got ${describe(chunks[at])}`,
      );
    }
  }
  checkDelay(what, "chunkDelay", chunkDelay, "use 0 to send the chunks at once");
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
  value: Response | MockResponseInit,
  sleep: (ms: number, signal: AbortSignal) => Promise<void>,
  signal: AbortSignal,
): Response {
  if (value instanceof Response) return value;
  checkFields("Cannot answer from mock route", value);
  const headers = new Headers(value.headers);
  let body: BodyInit | null = (value.body ?? null) as BodyInit | null;
  if (value.chunks !== undefined) {
    body = chunkStream(value.chunks, value.chunkDelay ?? 0, sleep, signal);
  } else if (value.json !== undefined) {
    body = JSON.stringify(value.json);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }
  const status = value.status ?? 200;
  const response = new Response(body, { status, statusText: value.statusText ?? "", headers });
  // Several Location fields, as a transport records them (the response's Headers join them).
  const locations = status >= 300 && status < 400 ? repeatedField(headers, "location") : undefined;
  return locations === undefined ? response : recordInfo(response, { locations });
}

/**
 * Checks that a canned answer makes a valid `Response` (a status from 200 to 599, headers, no
 * body with a null-body status such as 204, and no stream, which could be served once) and has
 * no unknown field, so a wrong one is reported where the
 * route is added; `object` names it in the message of an unknown field.
 */
export function checkAnswer(what: string, value: MockResponseInit, object?: string): void {
  checkFields(what, value, object);
  if (value.body instanceof ReadableStream) {
    throw new TypeError(
      `${what}: 'body' is a ReadableStream, which can be read once, and a canned answer serves ` +
        "every request; give 'chunks', or a handler that makes a new stream each time",
    );
  }
  // A string is no status, and the message names the field (101 would fail each reply).
  const status = value.status;
  if (status !== undefined && !(Number.isInteger(status) && status >= 200 && status <= 599)) {
    throw numberError(what, "status", status, "an HTTP status from 200 to 599");
  }
  let response: Response;
  try {
    response = toResponse(value, () => Promise.resolve(), AbortSignal.abort());
  } catch (error) {
    const Type = error instanceof RangeError ? RangeError : TypeError;
    throw new Type(`${what}: ${(error as Error).message}`, { cause: error });
  }
  response.body?.cancel().catch(() => {});
}
