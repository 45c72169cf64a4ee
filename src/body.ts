/**
 * Request bodies: what the operations accept, and the normalised form layers see.
 *
 * @module
 */

import { NetworkError, NetworkReplyError } from "./network_error.ts";
import { describe, plainPrototype } from "./_validation.ts";
import { type MultipartPart, multipartPieces } from "./_multipart.ts";

/**
 * What `post`, `put` and `sendCustomRequest` accept as a body. A plain object or array is sent
 * as JSON (with `Content-Type: application/json` unless one is set).
 *
 * @example Posting JSON, a form and text
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, type NetworkBody } from "@netaccess/core";
 * import { MockTransport } from "@netaccess/core/testing";
 *
 * const mock = new MockTransport().route("POST", "/", async (request) => ({
 *   body: `${request.headers.get("content-type")} ${await request.text()}`,
 * }));
 * await using manager = new NetworkAccessManager({ transport: mock.handler });
 * const bodies: NetworkBody[] = [{ name: "pen" }, new URLSearchParams({ q: "pen" }), "pen"];
 * const received: string[] = [];
 * for (const body of bodies) {
 *   received.push(await manager.post("https://api.example/", body).text());
 * }
 * assert.deepEqual(received, [
 *   'application/json {"name":"pen"}',
 *   "application/x-www-form-urlencoded;charset=UTF-8 q=pen",
 *   "text/plain;charset=UTF-8 pen",
 * ]);
 * ```
 */
export type NetworkBody =
  | string
  | Uint8Array
  | ArrayBuffer
  | ArrayBufferView
  | Blob
  | FormData
  | URLSearchParams
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array>
  | Record<string, unknown>
  | readonly unknown[];

const encoder = new TextEncoder();

type Source =
  | { kind: "bytes"; bytes: Uint8Array }
  | { kind: "blob"; blob: Blob }
  | { kind: "form"; blob: Blob; type: string }
  | { kind: "stream"; stream: ReadableStream<Uint8Array> };

/**
 * A request body in the form layers see. Replayable bodies (strings, bytes, Blob, FormData,
 * URLSearchParams, JSON) can be sent any number of times (redirects, retries, authentication);
 * a stream or async iterable is one-shot, and opening it twice fails with
 * `ContentReSendError`.
 *
 * @example Inspecting a body in a layer
 * ```ts
 * import assert from "node:assert/strict";
 * import { RequestBody } from "@netaccess/core";
 *
 * const body = RequestBody.from("hello");
 * assert.equal(body.replayable, true);
 * assert.equal(body.length, 5);
 * assert.equal(body.contentType, "text/plain;charset=UTF-8");
 * ```
 */
export class RequestBody {
  readonly #source: Source;
  #opened = false;
  /** Whether the body can be sent more than once. */
  readonly replayable: boolean;
  /** The size in bytes, or `null` when unknown until sent (streams). */
  readonly length: number | null;
  /** The content type the body implies (used when the request sets none), or `null`. */
  readonly contentType: string | null;

  private constructor(source: Source, contentType: string | null) {
    this.#source = source;
    this.contentType = contentType;
    this.replayable = source.kind !== "stream";
    this.length = source.kind === "bytes"
      ? source.bytes.byteLength
      : source.kind === "stream"
      ? null
      : source.blob.size;
  }

  /**
   * Normalises a body.
   *
   * @param body Any {@linkcode NetworkBody}; bytes on a `SharedArrayBuffer` (which `fetch`
   * refuses) are copied as they are now.
   * @returns The body in normalised form.
   * @throws {TypeError} When `body` is of no supported type, or is an object JSON cannot
   * serialise or would not send as it is (a `Map`, `Set`, typed array or class instance inside
   * it, one without a `toJSON` method).
   */
  static from(body: NetworkBody): RequestBody {
    if (body instanceof RequestBody) return body;
    if (typeof body === "string") {
      return new RequestBody(
        { kind: "bytes", bytes: encoder.encode(body) },
        "text/plain;charset=UTF-8",
      );
    }
    if (body instanceof ArrayBuffer) {
      return new RequestBody({ kind: "bytes", bytes: new Uint8Array(body) }, null);
    }
    if (ArrayBuffer.isView(body)) {
      const bytes = body instanceof Uint8Array
        ? body
        : new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
      // `fetch` refuses a view on shared memory: a copy of it as it is now is sent instead.
      return new RequestBody({
        kind: "bytes",
        bytes: bytes.buffer instanceof SharedArrayBuffer ? bytes.slice() : bytes,
      }, null);
    }
    if (body instanceof Blob) {
      return new RequestBody({ kind: "blob", blob: body }, body.type || null);
    }
    if (body instanceof FormData) {
      return new RequestBody({ kind: "form", ...multipart(body) }, null);
    }
    if (body instanceof URLSearchParams) {
      return new RequestBody(
        { kind: "bytes", bytes: encoder.encode(body.toString()) },
        "application/x-www-form-urlencoded;charset=UTF-8",
      );
    }
    if (body instanceof ReadableStream) {
      return new RequestBody({ kind: "stream", stream: body }, null);
    }
    if (body !== null && typeof body === "object" && Symbol.asyncIterator in body) {
      const iterable = body as AsyncIterable<Uint8Array>;
      return new RequestBody({ kind: "stream", stream: iterableToStream(iterable) }, null);
    }
    if (
      Array.isArray(body) ||
      (typeof body === "object" && body !== null && plainPrototype(Object.getPrototypeOf(body)))
    ) {
      let text: string;
      try {
        text = JSON.stringify(body);
      } catch (error) {
        const problem = jsonProblem(body);
        throw new TypeError(
          `Invalid body: cannot serialise it as JSON${
            problem === null ? ` (${(error as Error).message})` : `: ${problem}`
          }`,
          { cause: error },
        );
      }
      if (unsent(body, false) !== null) {
        const { value, path } = unsent(body, true)!;
        throw new TypeError(`Invalid body: cannot serialise it as JSON: ${path} is ${lost(value)}`);
      }
      return new RequestBody({ kind: "bytes", bytes: encoder.encode(text) }, "application/json");
    }
    throw new TypeError(
      `Invalid body: unsupported type, got ${describe(body)}; send a string, bytes, a Blob, ` +
        "FormData, URLSearchParams, a ReadableStream or async iterable of bytes, or a plain " +
        "object or array (sent as JSON)",
    );
  }

  /**
   * Opens the body for one send: bytes or a Blob for bodies of known length (sent with
   * Content-Length), a stream otherwise (sent chunked). A FormData body is a Blob of its
   * `multipart/form-data` encoding, made when the body was, and also returns that content type
   * with its boundary (the same for every send).
   *
   * @returns What to hand to `fetch`, and the content type when it is only known now.
   * @throws {NetworkReplyError} `ContentReSendError` when a one-shot body is opened again;
   * `ProtocolInvalidOperationError` when its stream is already being read (locked).
   */
  open(): { body: Uint8Array | Blob | ReadableStream<Uint8Array>; contentType: string | null } {
    const source = this.#source;
    switch (source.kind) {
      case "bytes":
        return { body: source.bytes, contentType: this.contentType };
      case "blob":
        return { body: source.blob, contentType: this.contentType };
      case "form":
        return { body: source.blob, contentType: source.type };
      case "stream":
        if (this.#opened) {
          throw new NetworkReplyError(
            NetworkError.ContentReSendError,
            "The request body is a one-shot stream that was already sent and cannot be sent again; " +
              "pass a string, bytes, Blob, FormData or URLSearchParams to allow resending",
          );
        }
        this.#opened = true;
        if (source.stream.locked) {
          throw new NetworkReplyError(
            NetworkError.ProtocolInvalidOperationError,
            "Invalid body: the ReadableStream is already being read (locked), by another " +
              "request it was sent with or a reader of its own; a stream can be sent once",
          );
        }
        return { body: source.stream, contentType: this.contentType };
    }
  }

  /** Whether a one-shot body was already opened (it cannot be sent again). */
  get used(): boolean {
    return this.#opened;
  }

  /** Releases a one-shot body that will not be sent (cancels its stream). */
  async discard(): Promise<void> {
    if (this.#source.kind === "stream" && !this.#opened) {
      this.#opened = true;
      await this.#source.stream.cancel().catch(() => {});
    }
  }
}

/** Whether `value` is a `Number`, `String` or `Boolean` object, of any realm. */
function boxed(value: object): boolean {
  return branded(Number.prototype.valueOf, value) || branded(String.prototype.valueOf, value) ||
    branded(Boolean.prototype.valueOf, value);
}

/**
 * Whether JSON sends `value` as it is: an array, a plain object of any realm
 * ({@linkcode plainPrototype}), a value with a `toJSON` method (a `Date`, a `URL`: the class says
 * how it is sent) or a `Number`, `String` or `Boolean` object (sent as its primitive). Any other
 * object (a `Map` or `Set`, sent as `{}`; a typed array, sent as an object of its indices; a class
 * instance, sent as its own fields without its class) is not.
 */
function sentAsIs(value: object): boolean {
  return Array.isArray(value) || plainPrototype(Object.getPrototypeOf(value)) ||
    typeof (value as { toJSON?: unknown }).toJSON === "function" || boxed(value);
}

/**
 * An object in `root` JSON would not send as it is ({@linkcode sentAsIs}), with its path when
 * `named` (the walk is quicker without); `null` when there is none. Walked once
 * `JSON.stringify` succeeded (so there is no cycle), with a stack of its own, so that no depth
 * `JSON.stringify` takes fails it. What `toJSON` returns is the class's word and not walked. An
 * object's properties are read by their descriptors: a getter, run by `JSON.stringify` already,
 * is not run again (and what it returned is not walked); an array's items are read as they are.
 */
function unsent(root: object, named: boolean): { value: object; path: string } | null {
  const values: object[] = [root];
  const paths: string[] = ["$"];
  for (let value = values.pop(); value !== undefined; value = values.pop()) {
    const path = named ? paths.pop()! : "";
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i];
        if (typeof item === "object" && item !== null) {
          values.push(item);
          if (named) paths.push(`${path}[${i}]`);
        }
      }
      continue;
    }
    if (!plainPrototype(Object.getPrototypeOf(value))) {
      if (sentAsIs(value)) continue;
      return { value, path };
    }
    if ("toJSON" in value && typeof (value as { toJSON?: unknown }).toJSON === "function") continue;
    for (const name in value) {
      const item: unknown = Object.getOwnPropertyDescriptor(value, name)?.value;
      if (typeof item === "object" && item !== null) {
        values.push(item);
        if (named) paths.push(`${path}${member(name)}`);
      }
    }
  }
  return null;
}

/** A property's part of a path: `.name`, or `["a b"]` when it is no identifier. */
function member(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
}

/** Why JSON would not send `value` (not {@linkcode sentAsIs}) as it is, and what to send. */
function lost(value: object): string {
  if (branded(Map.prototype.has, value)) {
    return "a Map, which JSON sends as {}; send Object.fromEntries(map), or its entries as an array";
  }
  if (branded(Set.prototype.has, value)) {
    return "a Set, which JSON sends as {}; send Array.from(set)";
  }
  if (typedArrayName.call(value) !== undefined) {
    return `${describe(value)}, which JSON sends as an object of its indices; send ` +
      "Array.from() of it, or its bytes as a string (base64)";
  }
  return `${describe(value)}, which JSON sends as its own fields alone; send a plain object, or ` +
    "give its class a toJSON method";
}

/** The name of a typed array of any realm (`Float32Array`), `undefined` for any other value. */
const typedArrayName = Object.getOwnPropertyDescriptor(
  Object.getPrototypeOf(Uint8Array.prototype),
  Symbol.toStringTag,
)!.get! as (this: unknown) => string | undefined;

/** Whether `method` takes `value` as its `this` (a `Map` of any realm for `Map`'s). */
function branded(method: (this: never, ...args: never[]) => unknown, value: object): boolean {
  try {
    Reflect.apply(method, value, []);
    return true;
  } catch {
    return false;
  }
}

/**
 * What in `root` JSON cannot serialise, or would not send as it is, with its path:
 * `$.user.id is a BigInt (1n) ...`, `$.tags is a Set, which JSON sends as {} ...`,
 * `$.self refers back to $, a cycle`, `$.price.toJSON() threw RangeError: ...` or
 * `reading $.user.name threw Error: ...` (a getter); `null` when it is something else.
 * Walked only after `JSON.stringify` failed, as `JSON.stringify` walks: `toJSON` first, own
 * enumerable keys.
 */
function jsonProblem(root: unknown): string | null {
  const parents: object[] = [];
  const paths: string[] = [];
  const walk = (input: unknown, key: string, path: string): string | null => {
    let value = input;
    if (typeof (value as { toJSON?: unknown } | null)?.toJSON === "function") {
      try {
        value = (value as { toJSON(key: string): unknown }).toJSON(key);
      } catch (error) {
        return `${path}.toJSON() threw ${thrown(error)}`;
      }
    }
    if (typeof value === "bigint") {
      return `${path} is a BigInt (${value}n), which JSON cannot hold; send it as a string or a ` +
        "number";
    }
    if (value === null || typeof value !== "object") return null;
    if (value === input && !sentAsIs(value)) return `${path} is ${lost(value)}`;
    const at = parents.indexOf(value);
    if (at !== -1) return `${path} refers back to ${paths[at]}, a cycle`;
    parents.push(value);
    paths.push(path);
    const array = Array.isArray(value);
    for (const name of Object.keys(value)) {
      const part = array ? `[${name}]` : member(name);
      let item: unknown;
      try {
        item = (value as Record<string, unknown>)[name];
      } catch (error) {
        return `reading ${path}${part} threw ${thrown(error)}`;
      }
      const problem = walk(item, name, `${path}${part}`);
      if (problem !== null) return problem;
    }
    parents.pop();
    paths.pop();
    return null;
  };
  try {
    return walk(root, "", "$");
  } catch {
    return null;
  }
}

/** What was thrown, as `RangeError: no price`. */
function thrown(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : describe(error);
}

/**
 * A FormData's `multipart/form-data` encoding (the HTML standard's, as `fetch` makes it) as a
 * Blob whose files are parts of it, not copies, so that it is sent with its Content-Length.
 */
function multipart(form: FormData): { blob: Blob; type: string } {
  const digits = crypto.getRandomValues(new Uint8Array(24)).map((byte) => byte % 10).join("");
  const boundary = `----${digits}`;
  const parts: MultipartPart[] = [];
  for (const [name, value] of form) {
    parts.push(
      typeof value === "string" ? { name: newlines(name), body: newlines(value) } : {
        name: newlines(name),
        filename: value.name,
        type: value.type || "application/octet-stream",
        body: value,
      },
    );
  }
  return {
    blob: new Blob(multipartPieces(boundary, parts)),
    type: `multipart/form-data; boundary=${boundary}`,
  };
}

/** Every line break (CR, LF or CRLF) as CRLF. */
function newlines(text: string): string {
  return text.replace(/\r(?!\n)|(?<!\r)\n/g, "\r\n");
}

/**
 * An async iterable as a stream that takes its iterator at the first read. A stream cancelled
 * before that (the body never sent) closes it all the same, as a `for await` that stops would:
 * an iterator given (a generator, a stream's `values()`) is returned, and an iterable's iterator
 * is taken to be returned, so that a source opened already (a file, a socket) closes.
 */
function iterableToStream(iterable: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  let iterator: AsyncIterator<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      iterator ??= iterable[Symbol.asyncIterator]();
      const { value, done } = await iterator.next();
      if (done) controller.close();
      else if (!(value instanceof Uint8Array)) {
        const error = new NetworkReplyError(
          NetworkError.ProtocolInvalidOperationError,
          `Invalid body: the async iterable must yield Uint8Array chunks, got ${describe(value)}`,
        );
        controller.error(error);
        // Closed as a `for await` that stops would close it, so that its source closes.
        await iterator.return?.(error);
      } else controller.enqueue(value);
    },
    async cancel(reason) {
      iterator ??= iterable[Symbol.asyncIterator]();
      await iterator.return?.(reason);
    },
  }, { highWaterMark: 0 });
}
