/**
 * {@linkcode RequestRecorder}: a layer that records what goes to the network.
 *
 * @module
 */

import { _redactUrls, _withoutUserinfo } from "../_redact.ts";
import { RequestBody } from "../body.ts";
import type { Exchange, Layer } from "../exchange.ts";
import type { NetworkRequest } from "../request.ts";
import { withBodyExcerpt } from "../reply/_excerpt.ts";
import { withoutQuotedText } from "../reply/_json_error.ts";
import { readBody } from "./_read_body.ts";
import { sentUrl } from "./_mock_request.ts";

/**
 * One exchange as it went to the transport.
 *
 * @example Listing the hops of a redirected POST
 * ```ts
 * import assert from "node:assert/strict";
 * import { createMockManager, type RecordedRequest } from "@netaccess/core/testing";
 *
 * const describe = (sent: RecordedRequest) =>
 *   `${sent.hop}: ${sent.method} ${sent.url.pathname} ${sent.text()}`;
 * await using mocked = createMockManager();
 * mocked.mock
 *   .route("POST", "/old", { status: 307, headers: { location: "/new" } })
 *   .route("POST", "/new", { status: 201 });
 * await mocked.manager.post("https://api.example/old", { name: "pen" }).finished;
 * assert.deepEqual(mocked.recorder.requests.map(describe), [
 *   '0: POST /old {"name":"pen"}',
 *   '1: POST /new {"name":"pen"}',
 * ]);
 * ```
 */
export interface RecordedRequest {
  /** The method. */
  readonly method: string;
  /** The target, as a server gets it: without userinfo or fragment. */
  readonly url: URL;
  /** The headers sent, with the body's content type when the request set none. */
  readonly headers: Headers;
  /** The body bytes sent, or `null` for none. */
  readonly body: Uint8Array<ArrayBuffer> | null;
  /** 0 for the first exchange of a reply, then the number of the redirect hop. */
  readonly hop: number;
  /** The request as the user made it. */
  readonly request: NetworkRequest;
  /**
   * The body decoded as UTF-8 (`""` for none).
   *
   * @returns The body text.
   */
  text(): string;
  /**
   * The body parsed as JSON.
   *
   * @returns The parsed value.
   * @throws {SyntaxError} When the body is empty or not JSON, naming the request and quoting
   * the start of the body (up to 200 characters).
   */
  json(): unknown;
}

/**
 * Records every exchange that reaches the transport: method, URL, headers and body, one entry
 * per redirect hop and per retry. Add {@linkcode RequestRecorder.layer} at the `"network"`
 * position (or use {@linkcode createMockManager}); it works above a mock transport or the real
 * one. The recorder reads each body whole before passing it on (a stream body is sent as the
 * bytes read, and stays one-shot for the layers above).
 *
 * @example Checking what a client sent
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager } from "@netaccess/core";
 * import { MockTransport, RequestRecorder } from "@netaccess/core/testing";
 *
 * const recorder = new RequestRecorder();
 * const mock = new MockTransport().route("POST", "/items", { status: 201 });
 * await using manager = new NetworkAccessManager({ transport: mock.handler });
 * manager.use(recorder.layer, "network");
 * await manager.post("https://api.example/items", { name: "pen" }).finished;
 * assert.equal(recorder.last?.headers.get("content-type"), "application/json");
 * assert.deepEqual(recorder.last?.json(), { name: "pen" });
 * ```
 */
export class RequestRecorder {
  readonly #requests: RecordedRequest[] = [];

  /** The recorded exchanges, oldest first. */
  get requests(): readonly RecordedRequest[] {
    return [...this.#requests];
  }

  /** The last recorded exchange, or `undefined`. */
  get last(): RecordedRequest | undefined {
    return this.#requests.at(-1);
  }

  /** Forgets what was recorded. */
  clear(): void {
    this.#requests.length = 0;
  }

  /**
   * The recording layer, for `manager.use(recorder.layer, "network")`.
   *
   * @returns The layer.
   */
  get layer(): Layer {
    return (next) => async (exchange) => {
      await this.#record(exchange);
      return await next(exchange);
    };
  }

  async #record(exchange: Exchange): Promise<void> {
    const headers = new Headers(exchange.headers);
    let bytes: Uint8Array<ArrayBuffer> | null = null;
    if (exchange.body !== null && exchange.method !== "GET" && exchange.method !== "HEAD") {
      const opened = exchange.body.open();
      if (opened.contentType && !headers.has("content-type")) {
        headers.set("content-type", opened.contentType);
        exchange.headers.set("content-type", opened.contentType);
      }
      bytes = await readBody(opened.body, exchange.signal);
      // A one-shot body was read up: the bytes read are sent in its place. A replayable one
      // stays, with the content type it implies, for the hops and attempts after this one.
      if (!exchange.body.replayable) exchange.body = RequestBody.from(new Blob([bytes]).stream());
    }
    const body = bytes;
    this.#requests.push({
      method: exchange.method,
      url: new URL(sentUrl(exchange.url).href),
      headers,
      body,
      hop: exchange.hop,
      request: exchange.request,
      text: () => (body === null ? "" : new TextDecoder().decode(body)),
      json: () => parseRecorded(exchange.method, exchange.url, exchange.request, body),
    });
  }
}

/**
 * A recorded body parsed as JSON, or an error that names the request and quotes its body (as
 * the library's own error messages quote one, the request's credentials masked).
 */
function parseRecorded(
  method: string,
  url: URL,
  request: NetworkRequest,
  body: Uint8Array | null,
): unknown {
  const what = `${method} ${_redactUrls(_withoutUserinfo(url).href)}`;
  if (body === null || body.byteLength === 0) {
    throw new SyntaxError(`${what} was sent with no body: there is no JSON to parse`);
  }
  const text = new TextDecoder().decode(body);
  try {
    return JSON.parse(text);
  } catch (error) {
    // The parser's message loses the text it quoted: the excerpt below quotes it, masked.
    const reason = (error as Error).message = withoutQuotedText((error as Error).message);
    const message = `The body ${what} was sent with is not JSON (${reason})`;
    throw new SyntaxError(withBodyExcerpt(message, text, request), { cause: error });
  }
}
