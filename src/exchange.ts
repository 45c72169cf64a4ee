/**
 * The layer contract: an {@linkcode Exchange} flows down a chain of {@linkcode Layer}s to the
 * transport, and a `Response` flows back up.
 *
 * @module
 */

import type { RequestBody } from "./body.ts";
import type { NetworkAccessManager } from "./manager.ts";
import type { NetworkReply } from "./reply.ts";
import type { NetworkRequest } from "./request.ts";

/**
 * Sends an exchange and resolves with the response (its body not yet read).
 *
 * @example A transport of your own
 * ```ts
 * import { type Handler, NetworkAccessManager } from "@netaccess/core";
 *
 * const echo: Handler = async (exchange) =>
 *   new Response(`${exchange.method} ${exchange.url.pathname}`);
 * await using manager = new NetworkAccessManager({ transport: echo });
 * const reply = manager.deleteResource("https://example.com/items/1");
 * console.log(await reply.text()); // "DELETE /items/1"
 * ```
 */
export type Handler = (exchange: Exchange) => Promise<Response>;

/**
 * A layer wraps the handler below it: it may change the exchange before calling `next`,
 * call `next` several times (redirects, retries), change the response, or answer alone.
 *
 * @example A layer that adds a header and answers one path itself
 * ```ts
 * import { type Layer, NetworkAccessManager } from "@netaccess/core";
 *
 * const layer: Layer = (next) => async (exchange) => {
 *   exchange.headers.set("x-request-id", crypto.randomUUID());
 *   if (exchange.url.pathname === "/health") return new Response("ok");
 *   return await next(exchange);
 * };
 * await using manager = new NetworkAccessManager({ layers: [layer] });
 * console.log(await manager.get("http://127.0.0.1:9/health").text()); // "ok"
 * ```
 */
export type Layer = (next: Handler) => Handler;

/**
 * What the layers report to the reply while an exchange is under way.
 *
 * @example A transport that reports upload progress
 * ```ts
 * import { type ExchangeMonitor, NetworkAccessManager } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager({
 *   transport: async (exchange) => {
 *     const monitor: ExchangeMonitor = exchange.monitor;
 *     const size = exchange.body?.length ?? -1;
 *     monitor.uploadProgress(size, size);
 *     return new Response("stored");
 *   },
 * });
 * const reply = manager.put("https://example.com/file", "twelve bytes");
 * reply.addEventListener("uploadprogress", (e) => console.log(e.loaded, e.total)); // 12 12
 * await reply.finished;
 * ```
 */
export interface ExchangeMonitor {
  /** Bytes moved, or a send started: resets the reply's transfer timeout. */
  activity(): void;
  /** Upload progress of the current send (`total` -1 when unknown). */
  uploadProgress(loaded: number, total: number): void;
}

/**
 * The parts of an exchange a layer may replace when it sends a new one (a redirect hop).
 *
 * @example A layer that tries a mirror when the origin is down
 * ```ts
 * import { type ExchangeChanges, NetworkAccessManager } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager({
 *   transport: async ({ url, hop }) => new Response(url.host, { status: hop === 0 ? 503 : 200 }),
 * });
 * manager.use((next) => async (exchange) => {
 *   const response = await next(exchange);
 *   if (response.ok) return response;
 *   const url = new URL(exchange.url.pathname, "https://mirror.example");
 *   const changes: ExchangeChanges = { url };
 *   return await next(exchange.next(changes));
 * });
 * console.log(await manager.get("https://origin.example/file").text()); // "mirror.example"
 * ```
 */
export interface ExchangeChanges {
  /** The new target. */
  url?: URL;
  /** The new method. */
  method?: string;
  /** The new headers. */
  headers?: Headers;
  /** The new body, or `null` for none. */
  body?: RequestBody | null;
}

/**
 * One request on its way through the layers. `url`, `method`, `headers`, `body` and `client`
 * are what will be sent, and layers change them; `request` is what the user asked for.
 *
 * @example Reading an exchange in a layer
 * ```ts
 * import { type Layer } from "@netaccess/core";
 *
 * const log: Layer = (next) => async (exchange) => {
 *   console.log(exchange.method, exchange.url.href, exchange.hop);
 *   return await next(exchange);
 * };
 * ```
 */
export class Exchange {
  /** The target of this hop. */
  url: URL;
  /** The method of this hop. */
  method: string;
  /** The headers to send. */
  headers: Headers;
  /** The body to send, or `null`. */
  body: RequestBody | null;
  /** The HTTP client the transport uses (a proxy's), or `undefined` for the default. */
  client: Deno.HttpClient | undefined;
  /** The request as the user made it. */
  readonly request: NetworkRequest;
  /** The reply this exchange feeds; layers dispatch events on it. */
  readonly reply: NetworkReply;
  /** The manager that sent the request; layers read its settings. */
  readonly manager: NetworkAccessManager;
  /** Aborted when the reply is aborted, times out or the manager closes. */
  readonly signal: AbortSignal;
  /** Receives activity and upload progress. */
  readonly monitor: ExchangeMonitor;
  /** 0 for the first request, then the number of the redirect hop. */
  readonly hop: number;
  /** Scratch space shared by the layers for every hop of one reply. */
  readonly state: Map<string, unknown>;

  /**
   * Creates an exchange; the manager does this for each reply.
   *
   * @param init Every field of the exchange.
   */
  constructor(init: {
    url: URL;
    method: string;
    headers: Headers;
    body: RequestBody | null;
    request: NetworkRequest;
    reply: NetworkReply;
    manager: NetworkAccessManager;
    signal: AbortSignal;
    monitor: ExchangeMonitor;
    client?: Deno.HttpClient;
    hop?: number;
    state?: Map<string, unknown>;
  }) {
    this.url = init.url;
    this.method = init.method;
    this.headers = init.headers;
    this.body = init.body;
    this.request = init.request;
    this.reply = init.reply;
    this.manager = init.manager;
    this.signal = init.signal;
    this.monitor = init.monitor;
    this.client = init.client;
    this.hop = init.hop ?? 0;
    this.state = init.state ?? new Map();
  }

  /**
   * Makes the exchange of the next hop: the same request, reply, signal and state, with
   * `changes` applied, a copy of the headers, and `hop` one higher.
   *
   * @param changes What differs in the next hop.
   * @returns The new exchange.
   */
  next(changes: ExchangeChanges = {}): Exchange {
    return new Exchange({
      url: changes.url ?? new URL(this.url.href),
      method: changes.method ?? this.method,
      headers: new Headers(changes.headers ?? this.headers),
      body: changes.body === undefined ? this.body : changes.body,
      request: this.request,
      reply: this.reply,
      manager: this.manager,
      signal: this.signal,
      monitor: this.monitor,
      hop: this.hop + 1,
      state: this.state,
    });
  }
}

/**
 * What a layer records about a response besides status, headers and body.
 *
 * @example A layer that answers from its own store
 * ```ts
 * import { NetworkAccessManager, type ResponseInfo, setResponseInfo } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager();
 * manager.use(() => async (exchange) => {
 *   const info: ResponseInfo = { url: exchange.url, fromCache: true };
 *   return setResponseInfo(new Response("offline copy"), info);
 * });
 * const reply = manager.get("https://example.com/");
 * console.log(await reply.text(), reply.fromCache); // "offline copy" true
 * ```
 */
export interface ResponseInfo {
  /** The URL the response is for (the last hop's). */
  url?: URL;
  /** True when the response came from the cache without a network exchange. */
  fromCache?: boolean;
  /** The URLs redirected to, in order. */
  redirects?: URL[];
  /**
   * True when the whole body was already received (its connection is free): the transport
   * reads small bodies in one piece.
   */
  bodyReceived?: boolean;
}

const infos = new WeakMap<Response, ResponseInfo>();

/**
 * Records facts about a response for the reply (and the layers above): the URL it is for,
 * whether it came from the cache, the redirects followed. Merges with what was recorded.
 *
 * @param response The response.
 * @param info The facts to record.
 * @returns The same response.
 *
 * @example Marking a response a layer made itself
 * ```ts
 * import { setResponseInfo, responseInfo } from "@netaccess/core";
 *
 * const response = setResponseInfo(new Response("hi"), { url: new URL("https://example.com/") });
 * console.log(responseInfo(response).url?.href); // "https://example.com/"
 * ```
 */
export function setResponseInfo(response: Response, info: ResponseInfo): Response {
  const known = infos.get(response);
  if (known === undefined) infos.set(response, { ...info });
  else Object.assign(known, info);
  return response;
}

/**
 * Reads what was recorded about a response with {@linkcode setResponseInfo}.
 *
 * @param response The response.
 * @returns The recorded facts (an empty object when none).
 *
 * @example Checking whether a response came from the cache
 * ```ts
 * import { responseInfo } from "@netaccess/core";
 *
 * console.log(responseInfo(new Response("x")).fromCache ?? false); // false
 * ```
 */
export function responseInfo(response: Response): ResponseInfo {
  return infos.get(response) ?? {};
}

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/**
 * Returns a response like `response` (status, status text, headers and recorded info) with
 * another body. Layers that watch or transform a body use it.
 */
export function _withBody(response: Response, body: BodyInit | null): Response {
  const copy = new Response(NULL_BODY_STATUSES.has(response.status) ? null : body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
  const info = infos.get(response);
  if (info) infos.set(copy, { ...info });
  return copy;
}

const discards = new WeakMap<Response, () => void>();

/** Records what frees the queue slot behind a response when a layer throws the response away. */
export function _onDiscard(response: Response, free: () => void): void {
  discards.set(response, free);
}

/** Throws a response away: cancels its body and frees its queue slot at once. */
export async function _discard(response: Response): Promise<void> {
  const free = discards.get(response);
  discards.delete(response);
  free?.();
  await response.body?.cancel().catch(() => {});
}
