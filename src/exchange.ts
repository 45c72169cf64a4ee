/**
 * The layer contract: an {@linkcode Exchange} flows down a chain of {@linkcode Layer}s to the
 * transport, and a `Response` flows back up.
 *
 * @module
 */

import type { RequestBody } from "./body.ts";
import type { NetworkProxy } from "./proxy/network_proxy.ts";
import type { NetworkReply } from "./reply.ts";
import type { NetworkRequest } from "./request.ts";
import { recordedInfo, recordInfo } from "./_response.ts";
import { _redactHeaders, _shownUrl } from "./_redact.ts";

/**
 * Sends an exchange and resolves with the response (its body not yet read).
 *
 * @example A transport of your own
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Handler, NetworkAccessManager } from "@netaccess/core";
 *
 * const echo: Handler = async (exchange) =>
 *   new Response(`${exchange.method} ${exchange.url.pathname}`);
 * await using manager = new NetworkAccessManager({ transport: echo });
 * const reply = manager.deleteResource("https://example.com/items/1");
 * assert.equal(await reply.text(), "DELETE /items/1");
 * ```
 */
export type Handler = (exchange: Exchange) => Promise<Response>;

/**
 * A layer wraps the handler below it: it may change the exchange before calling `next`,
 * call `next` several times (redirects, retries), change the response, or answer alone.
 *
 * @example A layer that adds a header and answers one path itself
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Layer, NetworkAccessManager } from "@netaccess/core";
 *
 * const layer: Layer = (next) => async (exchange) => {
 *   exchange.headers.set("x-request-id", crypto.randomUUID());
 *   if (exchange.url.pathname === "/health") return new Response("ok");
 *   return await next(exchange);
 * };
 * await using manager = new NetworkAccessManager({ layers: [layer] });
 * assert.equal(await manager.get("http://127.0.0.1:9/health").text(), "ok");
 * ```
 */
export type Layer = (next: Handler) => Handler;

/**
 * What the layers report to the reply while an exchange is under way.
 *
 * @example A transport that reports upload progress
 * ```ts
 * import assert from "node:assert/strict";
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
 * const progress: [number, number][] = [];
 * reply.addEventListener("uploadprogress", (e) => progress.push([e.loaded, e.total]));
 * await reply.finished;
 * assert.deepEqual(progress.at(-1), [12, 12]);
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
 * import assert from "node:assert/strict";
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
 * assert.equal(await manager.get("https://origin.example/file").text(), "mirror.example");
 * ```
 */
export interface ExchangeChanges {
  /** The new target. */
  url?: URL | undefined;
  /** The new method. */
  method?: string | undefined;
  /** The new headers (copied): a `Headers`, a record or a list of pairs. */
  headers?: HeadersInit | undefined;
  /** The new body, or `null` for none. */
  body?: RequestBody | null | undefined;
}

/**
 * The abort reason of an exchange whose transfer timeout fired before any response arrived. A
 * layer that knows more about why nothing arrived (the proxy layer, which can ask the proxy)
 * tells it by its class, not by its message.
 */
export class TransferTimeoutAbort extends DOMException {
  /** Makes the reason with the message the reply will show. */
  constructor(message: string) {
    super(message, "TimeoutError");
  }
}

/**
 * Records the URL of the first hop the cookies layer sees, whose origin `firstOrigin` tells
 * when asked (most requests never ask); does nothing once one is known.
 */
export let noteFirstUrl: (exchange: Exchange, url: URL) => void;

/**
 * The exchange's signal when it has one already (given, or made by a read of `signal`);
 * `undefined` while it is still to be made from the reply.
 */
export let signalIfMade: (exchange: Exchange) => AbortSignal | undefined;

/**
 * Stops a layer whose reply finished (aborted, timed out, its manager closed) while the layer
 * worked on a response: throws the exchange's abort reason, so that no event of the layer's
 * (`redirected`, `retry`, `authenticationrequired`) comes after the reply's `finished`, and
 * nothing more is sent or asked for.
 */
export function throwIfReplyFinished(exchange: Exchange): void {
  if (!exchange.reply.isFinished) return;
  throw exchange.signal.reason ?? new DOMException("The reply has finished", "AbortError");
}

/**
 * The exchange's headers when it has any (given, or made by a read of `headers`); `undefined`
 * for an exchange that was given none and whose headers nobody read: it sends none.
 */
export let headersIfMade: (exchange: Exchange) => Headers | undefined;

/**
 * Gives an exchange the response it already received (the direct lane's, see `pipeline.ts`),
 * for the pipeline to act on instead of sending it again.
 */
export let setReplay: (exchange: Exchange, response: Response) => void;

/** The response given with {@linkcode setReplay}, once; `undefined` after, or when none. */
export let takeReplay: (exchange: Exchange) => Response | undefined;

/**
 * What the proxy layer calls on an exchange once it chose the proxy of an attempt, before the
 * attempt goes on: the auth layer sets the proxy's cached credentials there, where the proxy is
 * known. Called again for each attempt the retry layer sends of the same exchange.
 */
export type ProxyChosen = (exchange: Exchange, proxy: NetworkProxy) => void;

/** Sets (or, with `undefined`, removes) what the proxy layer calls once it chose the proxy. */
export let setProxyChosen: (exchange: Exchange, hook: ProxyChosen | undefined) => void;

/** What {@linkcode setProxyChosen} set for the exchange, or `undefined`. */
export let proxyChosen: (exchange: Exchange) => ProxyChosen | undefined;

/**
 * What a layer calls on a response from the network that it does not pass up (a 401 the auth
 * layer answers with credentials, a status the retry layer sends again for, a background
 * revalidation's), so that a layer above that acts on every response sees that one too: the
 * HSTS layer learns its `Strict-Transport-Security`, the cookies layer stores its `Set-Cookie`
 * lines and, when the exchange is sent again from `headers`, sets their `Cookie` header for
 * that attempt.
 */
export type InterimResponse = (response: Response, headers: Headers | null) => Promise<void>;

/**
 * Sets what the layer `owner` calls on a response a layer below does not pass up; each owner has
 * one, which replaces the one it set for the hop before.
 */
export let setInterimResponse: (exchange: Exchange, owner: object, hook: InterimResponse) => void;

/**
 * What calls every hook {@linkcode setInterimResponse} set for the exchange, in the order their
 * owners first set one (from the top of the pipeline down), or `undefined` when there is none.
 */
export let interimResponse: (exchange: Exchange) => InterimResponse | undefined;

/**
 * Gives an exchange the queue slot of `key` its request waited for before it entered the
 * pipeline (the manager's, see `manager/_core.ts`), for the queue layer or the direct lane to
 * send it in instead of asking the queue.
 */
export let setHeldSlot: (exchange: Exchange, key: string, release: () => void) => void;

/**
 * The slot given with {@linkcode setHeldSlot}, once, when it is `key`'s: a slot of another origin
 * (the URL changed on the way down) is released. `undefined` after, or when none.
 */
export let takeHeldSlot: (exchange: Exchange, key: string) => (() => void) | undefined;

/**
 * One request on its way through the layers. `url`, `method`, `headers`, `body` and `client`
 * are what will be sent, and layers change them; `request` is what the user asked for.
 *
 * @example Reading an exchange in a layer
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Layer, NetworkAccessManager } from "@netaccess/core";
 *
 * const seen: string[] = [];
 * const record: Layer = (next) => async (exchange) => {
 *   seen.push(`${exchange.method} ${exchange.url.href} ${exchange.hop}`);
 *   return await next(exchange);
 * };
 * await using manager = new NetworkAccessManager({
 *   layers: [record],
 *   transport: async () => new Response("ok"),
 * });
 * await manager.post("https://api.example/items", { name: "pen" }).finished;
 * assert.deepEqual(seen, ["POST https://api.example/items 0"]);
 * ```
 */
export class Exchange {
  /** The target of this hop. */
  url: URL;
  /** The method of this hop. */
  method: string;
  /**
   * The headers to send. An exchange made without headers gets an empty `Headers` when a layer
   * or the transport first reads it: a request that sends none makes none.
   */
  declare headers: Headers;
  /** The headers, or `undefined` until they are given or first read. */
  #headers: Headers | undefined;
  /** The body to send, or `null`. */
  body: RequestBody | null;
  /** The HTTP client the transport uses (a proxy's), or `undefined` for the default. */
  client: Deno.HttpClient | undefined;
  /** The request as the user made it. */
  readonly request: NetworkRequest;
  /** The reply this exchange feeds; layers dispatch events on it. */
  readonly reply: NetworkReply;
  /**
   * Aborted when the reply is aborted, times out or the manager closes. An exchange the manager
   * made gets its reply's signal when a layer or the transport first reads it: a reply that
   * never reaches the network makes none.
   */
  declare readonly signal: AbortSignal;
  /** The signal, or what makes it from the reply when first read. */
  #signal: AbortSignal | ((reply: NetworkReply) => AbortSignal);
  /** Receives activity and upload progress. */
  readonly monitor: ExchangeMonitor;
  /** 0 for the first request, then the number of the redirect hop. */
  readonly hop: number;
  /**
   * Scratch space of your own layers, shared by every hop of one reply. The built-in layers
   * use the typed fields below instead.
   */
  declare readonly state: Map<string, unknown>;
  /** The scratch space, made when a layer first asks for it (most requests never do). */
  #state: Map<string, unknown> | undefined;
  /** The first exchange of the reply: it holds what every hop shares. */
  #root: Exchange = this;
  #offline = false;
  #proxy: NetworkProxy | undefined;
  #firstOrigin: string | undefined;
  /** The first hop's URL as the cookies layer saw it, until its origin is asked for. */
  #firstHref: string | undefined;
  #authenticatorCalls = 0;
  #releaseSlot: (() => void) | undefined;
  #replay: Response | undefined;
  #held: (() => void) | undefined;
  #heldKey = "";
  #proxyChosen: ProxyChosen | undefined;
  /** The owner of {@linkcode setInterimResponse}'s first hook, and that hook. */
  #interimOwner: object | undefined;
  #interim: InterimResponse | undefined;
  /** The hooks of later owners, made when a second owner sets one. */
  #interimMore: Map<object, InterimResponse> | undefined;

  /**
   * Creates an exchange; the manager does this for each reply.
   *
   * @param init Every field of the exchange; `signal` may be a function that makes the signal
   * from the reply when the exchange's `signal` is first read, and `headers` may be left out
   * (empty headers are made when first read).
   */
  constructor(init: {
    url: URL;
    method: string;
    headers?: Headers | undefined;
    body: RequestBody | null;
    request: NetworkRequest;
    reply: NetworkReply;
    signal: AbortSignal | ((reply: NetworkReply) => AbortSignal);
    monitor: ExchangeMonitor;
    client?: Deno.HttpClient | undefined;
    hop?: number | undefined;
    state?: Map<string, unknown> | undefined;
  }) {
    this.url = init.url;
    this.method = init.method;
    this.#headers = init.headers;
    this.body = init.body;
    this.request = init.request;
    this.reply = init.reply;
    this.#signal = init.signal;
    this.monitor = init.monitor;
    this.client = init.client;
    this.hop = init.hop ?? 0;
    this.#state = init.state;
  }

  /**
   * Makes the exchange of the next hop: the same request, reply, signal and state, with
   * `changes` applied, a copy of the headers, and `hop` one higher.
   *
   * @param changes What differs in the next hop.
   * @returns The new exchange.
   */
  next(changes: ExchangeChanges = {}): Exchange {
    return this.#derive(changes, this.hop + 1);
  }

  /**
   * Makes another attempt of the same hop (with credentials, or a revalidation): the same
   * request, reply, signal, state and `hop`, with `changes` applied, a copy of the headers,
   * and no client yet (the proxy layer picks one).
   *
   * @param changes What differs in the new attempt.
   * @returns The new exchange.
   *
   * @example A layer that retries once with a token
   * ```ts
   * import assert from "node:assert/strict";
   * import { NetworkAccessManager } from "@netaccess/core";
   *
   * await using manager = new NetworkAccessManager({
   *   transport: async ({ headers }) =>
   *     new Response(null, { status: headers.has("authorization") ? 204 : 401 }),
   * });
   * manager.use((next) => async (exchange) => {
   *   const response = await next(exchange);
   *   if (response.status !== 401) return response;
   *   const headers = new Headers(exchange.headers);
   *   headers.set("authorization", "Bearer token");
   *   return await next(exchange.again({ headers }));
   * }, "network");
   * const reply = manager.get("https://example.com/");
   * await reply.finished;
   * assert.equal(reply.status, 204);
   * ```
   */
  again(changes: ExchangeChanges = {}): Exchange {
    return this.#derive(changes, this.hop);
  }

  #derive(changes: ExchangeChanges, hop: number): Exchange {
    const exchange = new Exchange({
      url: changes.url ?? new URL(this.url.href),
      method: changes.method ?? this.method,
      headers: changes.headers !== undefined
        ? new Headers(changes.headers)
        : this.#headers === undefined
        ? undefined
        : new Headers(this.#headers),
      body: changes.body === undefined ? this.body : changes.body,
      request: this.request,
      reply: this.reply,
      signal: this.#signal,
      monitor: this.monitor,
      hop,
    });
    exchange.#root = this.#root;
    // The same hop sent again: the layers above it see its responses as they see the hop's.
    if (hop === this.hop && this.#interim !== undefined) {
      exchange.#interimOwner = this.#interimOwner;
      exchange.#interim = this.#interim;
      if (this.#interimMore?.size) exchange.#interimMore = new Map(this.#interimMore);
    }
    return exchange;
  }

  /**
   * True when network access is off and only the cache may answer: the access layer sets it,
   * the network gate refuses such exchanges before any socket. Shared by every hop.
   */
  get offline(): boolean {
    return this.#root.#offline;
  }
  set offline(value: boolean) {
    this.#root.#offline = value;
  }

  /**
   * The proxy of the last attempt sent, once the proxy layer chose it (`undefined` before);
   * the auth layer answers a 407 with its credentials. Shared by every hop.
   */
  get proxy(): NetworkProxy | undefined {
    return this.#root.#proxy;
  }
  set proxy(value: NetworkProxy | undefined) {
    this.#root.#proxy = value;
  }

  /**
   * The origin of the first hop the cookies layer saw (after HSTS): the only origin a `Cookie`
   * header the user set is sent to. Shared by every hop.
   */
  get firstOrigin(): string | undefined {
    const root = this.#root;
    if (root.#firstHref !== undefined) {
      root.#firstOrigin = new URL(root.#firstHref).origin;
      root.#firstHref = undefined;
    }
    return root.#firstOrigin;
  }
  set firstOrigin(value: string | undefined) {
    this.#root.#firstOrigin = value;
    this.#root.#firstHref = undefined;
  }

  static {
    // `state` is a field to its readers, made on first use and shared with the first exchange.
    Object.defineProperty(Exchange.prototype, "state", {
      get(this: Exchange): Map<string, unknown> {
        const root = this.#root;
        return root.#state ??= new Map();
      },
      configurable: true,
    });
    // `headers` too, made on first read when the exchange was given none; writable.
    Object.defineProperty(Exchange.prototype, "headers", {
      get(this: Exchange): Headers {
        return this.#headers ??= new Headers();
      },
      set(this: Exchange, value: Headers) {
        this.#headers = value;
      },
      configurable: true,
    });
    headersIfMade = (exchange) => exchange.#headers;
    // Shown by `console.log` and `Deno.inspect` with its headers, as a plain field would be.
    Object.defineProperty(Exchange.prototype, Symbol.for("Deno.customInspect"), {
      value(
        this: Exchange,
        inspect: (value: unknown, options: unknown) => string,
        options: unknown,
      ): string {
        // `headers` is no own field (it is made when first read): shown as it is, or empty; a
        // URL's password and the values of credential and sensitive headers are not shown.
        const { url, method, headers: _accessor, ...rest } = { ...this };
        const headers = _redactHeaders(
          this.#headers ?? new Headers(),
          this.request.sensitiveHeaders,
        );
        const shown = { url: _shownUrl(url), method, headers, ...rest };
        return `Exchange ${inspect(shown, options)}`;
      },
      configurable: true,
    });
    // `signal` too, made on first read when the exchange was given a function for it.
    Object.defineProperty(Exchange.prototype, "signal", {
      get(this: Exchange): AbortSignal {
        const signal = this.#signal;
        return typeof signal === "function" ? (this.#signal = signal(this.reply)) : signal;
      },
      configurable: true,
    });
    signalIfMade = (exchange) => {
      const signal = exchange.#signal;
      return typeof signal === "function" ? undefined : signal;
    };
    setReplay = (exchange, response) => void (exchange.#replay = response);
    setProxyChosen = (exchange, hook) => void (exchange.#proxyChosen = hook);
    proxyChosen = (exchange) => exchange.#proxyChosen;
    setInterimResponse = (exchange, owner, hook) => {
      if (exchange.#interim === undefined || exchange.#interimOwner === owner) {
        exchange.#interimOwner = owner;
        exchange.#interim = hook;
      } else (exchange.#interimMore ??= new Map()).set(owner, hook);
    };
    interimResponse = (exchange) => {
      if (!exchange.#interimMore?.size) return exchange.#interim;
      return async (response, headers) => {
        const hooks = [exchange.#interim!, ...exchange.#interimMore!.values()];
        for (const hook of hooks) await hook(response, headers);
      };
    };
    setHeldSlot = (exchange, key, release) => {
      exchange.#held = release;
      exchange.#heldKey = key;
    };
    takeHeldSlot = (exchange, key) => {
      const release = exchange.#held;
      if (release === undefined) return undefined;
      exchange.#held = undefined;
      if (exchange.#heldKey === key) return release;
      release();
      return undefined;
    };
    takeReplay = (exchange) => {
      const response = exchange.#replay;
      if (response !== undefined) exchange.#replay = undefined;
      return response;
    };
    noteFirstUrl = (exchange, url) => {
      const root = exchange.#root;
      if (root.#firstOrigin === undefined && root.#firstHref === undefined) {
        root.#firstHref = url.href;
      }
    };
  }

  /**
   * Frees the queue slot the reply's last hop holds (the queue layer sets it), so that the
   * next hop does not wait behind its own reply. Shared by every hop.
   */
  get releaseSlot(): (() => void) | undefined {
    return this.#root.#releaseSlot;
  }
  set releaseSlot(value: (() => void) | undefined) {
    this.#root.#releaseSlot = value;
  }

  /** How many times the authenticator was asked for credentials, over every hop. */
  get authenticatorCalls(): number {
    return this.#root.#authenticatorCalls;
  }
  set authenticatorCalls(value: number) {
    this.#root.#authenticatorCalls = value;
  }
}

/**
 * What a layer records about a response besides status, headers and body.
 *
 * @example A layer that answers from its own store
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, type ResponseInfo, setResponseInfo } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager();
 * manager.use(() => async (exchange) => {
 *   const info: ResponseInfo = { url: exchange.url, fromCache: true };
 *   return setResponseInfo(new Response("offline copy"), info);
 * });
 * const reply = manager.get("https://example.com/");
 * assert.equal(await reply.text(), "offline copy");
 * assert.equal(reply.fromCache, true);
 * ```
 */
export interface ResponseInfo {
  /** The URL the response is for (the last hop's). */
  url?: URL;
  /** True when the response came from the cache without a network exchange. */
  fromCache?: boolean;
  /**
   * True when the response is a stored one the server confirmed with `304 Not Modified`: its
   * body comes from the cache (the reply's `fromCache` is true, as Qt's
   * `SourceIsFromCacheAttribute` is), its exchange and its `Set-Cookie` lines from the network.
   */
  revalidated?: boolean;
  /** The URLs redirected to, in order. */
  redirects?: readonly URL[];
  /**
   * The values of the response's `Location` fields, in order, when it had more than one (its
   * `Headers` join them into one value, which may not be told from one URL with ", " in it): the
   * redirect layer follows none when they differ. The transport records them for redirects.
   */
  locations?: readonly string[];
  /**
   * True when the whole body was already received (its connection is free), as a transport or
   * layer that read it in one piece records it: the queue layer then frees the origin's slot at
   * once.
   */
  bodyReceived?: boolean;
  /**
   * For a body the library decodes: the compressed bytes received so far, which the
   * decompression guard weighs against the decoded ones.
   */
  compressedBytes?: () => number;
}

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
 * import assert from "node:assert/strict";
 * import { setResponseInfo, responseInfo } from "@netaccess/core";
 *
 * const response = setResponseInfo(new Response("hi"), { url: new URL("https://example.com/") });
 * assert.equal(responseInfo(response).url?.href, "https://example.com/");
 * ```
 */
export function setResponseInfo(response: Response, info: ResponseInfo): Response {
  return recordInfo(response, info);
}

/**
 * Reads what was recorded about a response with {@linkcode setResponseInfo}.
 *
 * @param response The response.
 * @returns The recorded facts (an empty object when none).
 *
 * @example Checking whether a response came from the cache
 * ```ts
 * import assert from "node:assert/strict";
 * import { responseInfo } from "@netaccess/core";
 *
 * assert.equal(responseInfo(new Response("x")).fromCache ?? false, false);
 * ```
 */
export function responseInfo(response: Response): ResponseInfo {
  return recordedInfo<ResponseInfo>(response) ?? {};
}
