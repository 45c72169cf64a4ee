/**
 * The cache layer: an RFC 9111 cache over the manager's {@linkcode NetworkCache}, private or
 * shared as the store's `mode` says (a store that does not say is shared).
 * Fresh responses are served without a network exchange (and so take no queue slot), stale
 * ones are revalidated with `If-None-Match` / `If-Modified-Since` and a `304` refreshes the
 * stored headers, storable responses are stored while they stream to the reply, and a
 * successful unsafe request invalidates the URL it targeted. Each redirect hop comes through it
 * as a request of its own; a redirect's body cancelled unread (followed) is read on and stored.
 *
 * @module
 */

import type { CacheEntry, NetworkCache } from "../cache/network_cache.ts";
import { parseHttpDate } from "../_http_date.ts";
import {
  _hasValidator,
  _headerOf,
  _isPolicyObject,
  _loadPolicyClass,
  _mergeHeaders,
  _policyOptions,
  _policyUrl,
  _requestDirectives,
  _requestRecord,
  _responseRecord,
  _secretDigests,
  _servedHeaders,
  _storableHeaders,
  _storedRequestRecord,
  _validatesStored,
  _variantKey,
  _varyFields,
  type CachePolicy,
} from "../cache/_policy.ts";
import { _byteRange, _sliceBody } from "../cache/_range.ts";
import type { Clock } from "../clock.ts";
import { Exchange, type ExchangeMonitor, type Handler, type Layer } from "../exchange.ts";
import { interimResponse, responseInfo, setResponseInfo } from "../exchange.ts";
import { discard as dropResponse, NULL_BODY_STATUSES } from "../_response.ts";
import { _readingOn, REDIRECT_BODY_WAIT_MS, tee } from "./_cache_tee.ts";
import { type _CacheServed, _noteCacheServed, _noteRevalidation } from "./_cache_served.ts";
import { NetworkError, NetworkReplyError } from "../network_error.ts";
import type { CacheLoadControl } from "../request.ts";

/** Methods that never invalidate (RFC 9110 section 9.2.1 safe methods). */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);
const CONDITIONALS = ["if-none-match", "if-modified-since", "if-match", "if-unmodified-since"];

type Policy = CachePolicy;
type PolicyClass = typeof CachePolicy;

interface Candidate {
  entry: CacheEntry;
  policy: Policy;
}

/** What one cache lookup needs to know. */
interface Context {
  cache: NetworkCache;
  exchange: Exchange;
  next: Handler;
  Policy: PolicyClass;
  key: string;
  save: boolean;
  clock: () => number;
  /** Whether the store is a shared cache (RFC 9111's rules for shared caches apply). */
  shared: boolean;
  /** The request's secret fields as digests: what stands for them in anything stored. */
  secrets: Record<string, string>;
  /** Runs a task that outlives the reply (the manager's), or `undefined`. */
  background: ((task: (signal: AbortSignal) => Promise<void>) => void) | undefined;
  /** The manager's transfer timeout in milliseconds (0: none). */
  transferTimeout: number;
}

/** What the cache layer reads, for each exchange. */
export interface CacheSettings {
  /** The cache; `null` turns the layer off. */
  readonly cache: NetworkCache | null;
  /** Where replies come from for requests that set no `cacheLoadControl`. */
  readonly cacheLoadControl: CacheLoadControl;
  /** The clock of freshness. */
  readonly clock: Clock;
  /**
   * The manager's transfer timeout: reading on a followed redirect's body to store it gives up
   * within half of it, so that the read never fails the reply.
   */
  readonly transferTimeout?: number;
}

/**
 * Creates the cache layer; it reads `settings.cache` (off when `null`),
 * `settings.cacheLoadControl` and `settings.clock` for each exchange.
 */
export function cacheLayer(
  settings: CacheSettings,
  background?: (task: (signal: AbortSignal) => Promise<void>) => void,
): Layer {
  return (next) => async (exchange) => {
    const cache = settings.cache;
    const { protocol } = exchange.url;
    if (cache === null || (protocol !== "http:" && protocol !== "https:")) {
      return await next(exchange);
    }
    const load: CacheLoadControl = exchange.request.cacheLoadControl ??
      settings.cacheLoadControl;
    const method = exchange.method;
    // Both are at hand after the first request (no class to load, no secret to digest).
    const loading = _loadPolicyClass(settings.clock);
    const digesting = _secretDigests(exchange.headers);
    const context: Context = {
      cache,
      exchange,
      next,
      Policy: loading instanceof Promise ? await loading : loading,
      key: _policyUrl(exchange.url),
      save: exchange.request.cacheSaveControl !== false,
      clock: settings.clock,
      shared: cache.mode !== "private",
      secrets: digesting instanceof Promise ? await digesting : digesting,
      background,
      transferTimeout: settings.transferTimeout ?? 0,
    };
    if (method !== "GET" && method !== "HEAD") {
      if (load === "always-cache") throw notInCache(exchange);
      const response = await next(exchange);
      if (
        !SAFE_METHODS.has(method.toUpperCase()) && response.status >= 200 && response.status < 400
      ) {
        await invalidate(cache, exchange.url, response.headers);
      }
      return response;
    }
    // Ranges and the caller's own conditionals go to the network untouched, but for a range
    // of a stored complete response, and (in a shared cache) a validation it answers.
    const headers = exchange.headers;
    const conditional = CONDITIONALS.some((name) => headers.has(name));
    if (conditional || headers.has("range")) {
      // A shared cache answers a validation request from a fresh stored response (RFC 9111
      // section 4.3.2), as a proxy does; a private one passes it on.
      if (context.shared && load === "prefer-network") {
        const answered = await answerValidation(context);
        if (answered !== null) return answered;
      }
      if (!conditional && !headers.has("if-range") && load !== "always-network") {
        const ranged = await serveRange(context, load);
        if (ranged !== null) return ranged;
      }
      if (load === "always-cache") throw notInCache(exchange);
      // only-if-cached never reaches the network, whatever else the request asks.
      if (_requestDirectives(headers).has("only-if-cached")) {
        return await onlyIfCached(context, null, load);
      }
      if (load === "always-network" && !headers.has("cache-control")) {
        headers.set("cache-control", "no-cache");
      }
      return await next(exchange);
    }
    const directives = _requestDirectives(headers);
    // A request's no-store keeps the cache out of it: nothing read, nothing stored.
    if (directives.has("no-store") && load !== "always-cache") return await next(exchange);
    if (load === "always-network" && !directives.has("only-if-cached")) {
      if (!headers.has("cache-control")) headers.set("cache-control", "no-cache");
      return await store(context, await next(exchange));
    }
    const candidate = await lookup(context);
    if (directives.has("only-if-cached")) return await onlyIfCached(context, candidate, load);
    if (load === "always-cache" || load === "prefer-cache") {
      if (candidate) {
        const served = await serve(context, candidate.entry, candidate.policy, true);
        if (served) return noted(context, served, "load-control");
      }
      if (load === "always-cache") throw notInCache(exchange);
      return await store(context, await next(exchange));
    }
    if (candidate === null) return await store(context, await next(exchange));
    return await preferNetwork(context, candidate);
  };
}

/**
 * A request with `only-if-cached` (RFC 9111 section 5.2.1.7) never reaches the network: a
 * stored response it may use (fresh, stale within its `max-stale`, or any stored one under
 * `"prefer-cache"` and `"always-cache"`) answers it, and otherwise a `504 Gateway Timeout`
 * made by the cache does.
 */
async function onlyIfCached(
  context: Context,
  candidate: Candidate | null,
  load: CacheLoadControl,
): Promise<Response> {
  if (candidate !== null) {
    const anyStored = load === "prefer-cache" || load === "always-cache";
    const how = anyStored ? "load-control" : evaluate(context, candidate).how;
    if (how !== undefined) {
      const served = await serve(context, candidate.entry, candidate.policy, true);
      if (served) return noted(context, served, how);
    }
  }
  const response = new Response(null, {
    status: 504,
    statusText: "Gateway Timeout",
    headers: { "cache-control": "no-store" },
  });
  return noted(
    context,
    setResponseInfo(response, { url: context.exchange.url, fromCache: true }),
    "gateway-timeout",
  );
}

function notInCache(exchange: Exchange): NetworkReplyError {
  return new NetworkReplyError(
    NetworkError.ContentNotFoundError,
    `${exchange.method} ${exchange.url.href} is not in the cache (cache load control "always-cache")`,
  );
}

function policyRequest(
  context: Context,
): { url: string; method: string; headers: Record<string, string> } {
  // A HEAD request is answered from a stored GET response.
  return {
    url: context.key,
    method: "GET",
    headers: {
      ..._requestRecord(context.exchange.url, context.exchange.headers),
      ...context.secrets,
    },
  };
}

/** Parsed policies by the stored policy object (shared by reads of one stored version). */
const parsedPolicies = new WeakMap<object, { Policy: PolicyClass; policy: Policy }>();

/**
 * The parsed policy of an entry, parsed once per stored version; `null` when it lacks a field
 * the library reads, or has one of another type. An entry stored without one has the policy
 * its response implies.
 */
function policyOf(context: Context, entry: CacheEntry): Policy | null {
  const stored = entry.policy;
  if (stored === null || stored === undefined) return impliedPolicy(context, entry);
  const known = typeof stored === "object" ? parsedPolicies.get(stored) : undefined;
  if (known?.Policy === context.Policy) return known.policy;
  if (!_isPolicyObject(stored)) return null;
  const policy = context.Policy.fromObject(stored);
  if (Object.isFrozen(stored)) {
    parsedPolicies.set(stored, { Policy: context.Policy, policy });
  }
  return policy;
}

/**
 * The policy of an entry stored without one (as `insert()` and `prepare()` store it by
 * default): its response, to a GET of its URL, received when the store stored it (`storedAt`;
 * its `Date` when a store gives no time; never later than now). The request fields its `Vary`
 * names are the request's, whose variant key selected the entry.
 */
function impliedPolicy(context: Context, entry: CacheEntry): Policy {
  const record = _responseRecord(entry.headers);
  const fields = keyHeaders(context);
  const headers: Record<string, string> = { host: context.exchange.url.host };
  for (const name of _varyFields(record.vary)) {
    const value = fields.get(name);
    if (value !== null) headers[name] = value;
  }
  const policy = new context.Policy(
    { url: context.key, method: "GET", headers },
    { status: entry.status, headers: record },
    _policyOptions(context.shared),
  );
  const now = context.clock();
  const date = parseHttpDate(record.date ?? "");
  const received = Number.isFinite(entry.storedAt)
    ? entry.storedAt
    : Number.isNaN(date)
    ? now
    : date;
  return context.Policy.fromObject({ ...policy.toObject(), t: Math.min(received, now) });
}

/** The request headers as keys read them: secret fields as their digests. */
function keyHeaders(context: Context): Pick<Headers, "get"> {
  const { secrets, exchange } = context;
  return { get: (name) => secrets[name.toLowerCase()] ?? exchange.headers.get(name) };
}

/**
 * Finds the stored variant of the URL that the request selects, the newest when several. The
 * usual case, a response without `Vary`, is read by its key; variants are listed otherwise.
 */
async function lookup(context: Context): Promise<Candidate | null> {
  let entries: CacheEntry[];
  const storing = _readingOn(context.cache, context.key); // a followed redirect's body
  if (storing !== undefined) await storing;
  try {
    const plain = await context.cache.metaData(context.key);
    if (plain !== null && _headerOf(plain.headers, "vary") === undefined) {
      const policy = policyOf(context, plain);
      if (policy !== null) return { entry: plain, policy };
      await discard(context, plain);
      return null;
    }
    entries = await context.cache.variants(context.key);
  } catch {
    return null;
  }
  let best: Candidate | null = null;
  for (const entry of entries) {
    if (_variantKey(_headerOf(entry.headers, "vary"), keyHeaders(context)) !== entry.variant) {
      continue;
    }
    const policy = policyOf(context, entry);
    if (policy === null) {
      if (await discard(context, entry)) return null;
      continue;
    }
    if (best === null || entry.storedAt > best.entry.storedAt) best = { entry, policy };
  }
  return best;
}

/**
 * Removes the stored responses of the URL when `entry`'s policy is corrupt, and says whether
 * it did; a policy of another serialisation version (a later library's) is left in place.
 */
async function discard(context: Context, entry: CacheEntry): Promise<boolean> {
  const version = (entry.policy as { v?: unknown } | null)?.v;
  if (typeof version === "number" && version !== 1) return false;
  await context.cache.remove(context.key).catch(() => false);
  return true;
}

/**
 * Whether a stored response with these response directives may be served stale (under a
 * request's `max-stale`, its own `stale-while-revalidate` or `stale-if-error`): not with
 * `must-revalidate` or `no-cache`, nor in a shared cache with `proxy-revalidate` or `s-maxage`
 * (RFC 9111 sections 4.2.4, 5.2.2.2, 5.2.2.4, 5.2.2.8 and 5.2.2.10).
 */
function servesStale(context: Context, rescc: Record<string, string | boolean>): boolean {
  if (rescc["must-revalidate"] !== undefined || rescc["no-cache"] !== undefined) return false;
  return !context.shared ||
    (rescc["proxy-revalidate"] === undefined && rescc["s-maxage"] === undefined);
}

/**
 * The policy that tells how long a stored response is fresh, and whether it may be served
 * stale ({@linkcode servesStale}). `must-revalidate`, and `proxy-revalidate` in a shared cache,
 * forbid serving it stale, not serving it fresh, so they are left out of the copy the library
 * reads; the response was stored, so whatever its Authorization allowed is taken as read.
 */
function freshnessPolicy(
  context: Context,
  policy: Policy,
): { policy: Policy; mustRevalidate: boolean } {
  const object = policy.toObject();
  const mustRevalidate = !servesStale(context, object.rescc);
  if (
    object.rescc["must-revalidate"] === undefined &&
    (!context.shared || object.rescc["proxy-revalidate"] === undefined)
  ) return { policy, mustRevalidate };
  const rescc = { ...object.rescc };
  delete rescc["must-revalidate"];
  delete rescc["proxy-revalidate"];
  // `a` is the library's "no Authorization in the request" flag (http-cache-semantics 4.3.0).
  return { policy: context.Policy.fromObject({ ...object, rescc, a: true }), mustRevalidate };
}

/** The opaque tags of an `If-None-Match` or `ETag` value (weak or strong alike), or `"*"`. */
function entityTags(value: string): Set<string> | "*" {
  if (value.trim() === "*") return "*";
  return new Set(value.match(/"[^"]*"/g) ?? []);
}

/**
 * A `304` for a request whose conditionals are `If-None-Match` (weak comparison, RFC 9110
 * section 13.1.2) or, without it, `If-Modified-Since`, when a fresh stored response meets
 * them; else `null`.
 */
async function answerValidation(context: Context): Promise<Response | null> {
  const headers = context.exchange.headers;
  const inm = headers.get("if-none-match");
  const ims = headers.get("if-modified-since");
  if (headers.has("if-match") || headers.has("if-unmodified-since")) return null;
  if (inm === null && ims === null) return null;
  const candidate = await lookup(context);
  const how = candidate === null ? undefined : evaluate(context, candidate).how;
  if (candidate === null || how === undefined) return null;
  const stored = candidate.entry.headers;
  if (inm !== null) {
    const etag = _headerOf(stored, "etag");
    if (etag === undefined) return null;
    const wanted = entityTags(inm);
    const tags = [...entityTags(etag) as Set<string>];
    if (wanted !== "*" && !tags.some((tag) => wanted.has(tag))) return null;
  } else {
    const since = parseHttpDate(ims!);
    const changed = parseHttpDate(_headerOf(stored, "last-modified") ?? "");
    if (Number.isNaN(since) || Number.isNaN(changed) || changed > since) return null;
  }
  const served = _servedHeaders(stored, candidate.policy.age());
  for (const name of ["content-length", "content-range", "content-encoding"]) {
    served.delete(name);
  }
  await context.cache.touch(candidate.entry).catch(() => {});
  const response = new Response(null, { status: 304, statusText: "Not Modified", headers: served });
  return noted(
    context,
    setResponseInfo(response, { url: context.exchange.url, fromCache: true }),
    how,
  );
}

/**
 * A `206` with one byte range of a stored complete `200` that the request may use (fresh, or
 * any stored one under `"prefer-cache"` and `"always-cache"`), or `null`: several ranges, a
 * range the body cannot satisfy, a coded body (stored decoded, while ranges count coded bytes)
 * and a request's `no-store` are left to the origin. As for a request without a range,
 * `"prefer-cache"` serves a stored response whatever the request's `no-cache` says.
 */
async function serveRange(context: Context, load: CacheLoadControl): Promise<Response | null> {
  const { exchange } = context;
  const directives = _requestDirectives(exchange.headers);
  if (exchange.method !== "GET" || directives.has("no-store")) return null;
  const candidate = await lookup(context);
  if (candidate === null || candidate.entry.status !== 200) return null;
  const { entry, policy } = candidate;
  if (_headerOf(entry.headers, "content-encoding") !== undefined) return null;
  const range = _byteRange(exchange.headers.get("range")!, entry.bodySize);
  if (range === null) return null;
  const anyStored = load === "prefer-cache" || load === "always-cache";
  const how = anyStored ? "load-control" : evaluate(context, candidate).how;
  if (how === undefined) return null;
  let body: ReadableStream<Uint8Array> | null;
  try {
    body = await context.cache.body(entry);
  } catch {
    return null;
  }
  if (body === null) return null;
  const headers = _servedHeaders(entry.headers, policy.age());
  headers.set("content-range", `bytes ${range.first}-${range.last}/${entry.bodySize}`);
  headers.set("content-length", String(range.last - range.first + 1));
  const response = new Response(_sliceBody(body, range), {
    status: 206,
    statusText: "Partial Content",
    headers,
  });
  return noted(context, setResponseInfo(response, { url: exchange.url, fromCache: true }), how);
}

/**
 * How the policy lets the request use the stored response; `how` it is served when it is used
 * as it is (fresh, or stale within the request's `max-stale`).
 */
function evaluate(context: Context, candidate: Candidate): {
  use: "fresh" | "stale-while-revalidate" | "revalidate";
  headers: Record<string, string>;
  how?: "fresh" | "max-stale";
} {
  const request = policyRequest(context);
  const { policy, mustRevalidate } = freshnessPolicy(context, candidate.policy);
  const result = policy.evaluateRequest(request);
  const headers =
    (result.revalidation?.headers ?? candidate.policy.revalidationHeaders(request)) as Record<
      string,
      string
    >;
  if (result.response === undefined) return { use: "revalidate", headers };
  if (mustRevalidate && policy.stale()) return { use: "revalidate", headers };
  if (result.revalidation === undefined) {
    return { use: "fresh", headers, how: policy.stale() ? "max-stale" : "fresh" };
  }
  return { use: "stale-while-revalidate", headers };
}

/** Whether the stored response's `stale-if-error` lets it answer a failure now. */
function staleIfError(context: Context, policy: Policy): boolean {
  const { rescc } = policy.toObject();
  const value = Number.parseInt(String(rescc["stale-if-error"] ?? ""), 10);
  return Number.isFinite(value) && value > 0 && servesStale(context, rescc) &&
    policy.maxAge() + value > policy.age();
}

async function preferNetwork(context: Context, candidate: Candidate): Promise<Response> {
  const { exchange } = context;
  const { use, headers, how } = evaluate(context, candidate);
  if (use === "fresh") {
    const served = await serve(context, candidate.entry, candidate.policy, true);
    if (served) return noted(context, served, how!);
    return await store(context, await context.next(exchange));
  }
  if (use === "stale-while-revalidate") {
    const served = await serve(context, candidate.entry, candidate.policy, true);
    if (served === null) return await store(context, await context.next(exchange));
    // The stale response answers now; the revalidation runs on its own, never waited for.
    const revalidate = (signal: AbortSignal) =>
      backgroundRevalidate(context, candidate, headers, signal);
    if (context.background) context.background(revalidate);
    else void revalidate(exchange.signal);
    return noted(context, served, "stale-while-revalidate");
  }
  const original = exchange.headers;
  const conditional = new Headers(original);
  for (const name of ["if-none-match", "if-modified-since"]) {
    if (headers[name]) conditional.set(name, headers[name]);
  }
  exchange.headers = conditional;
  let response: Response;
  try {
    response = await context.next(exchange);
  } catch (error) {
    exchange.headers = original;
    if (!exchange.signal.aborted && staleIfError(context, candidate.policy)) {
      const served = await serve(context, candidate.entry, candidate.policy, true);
      if (served) return noted(context, served, "stale-if-error");
    }
    throw error;
  }
  exchange.headers = original;
  if (response.status === 304) {
    dropResponse(response);
    if (!_validatesStored(candidate.entry.headers, response.headers)) {
      // It validates another response (RFC 9111 section 4.3.4): the stored one is neither
      // updated nor used, and the request is sent again without the cache's conditionals.
      await interimResponse(exchange)?.(response, exchange.headers);
      return await store(context, await context.next(exchange));
    }
    const updated = await refresh(context, candidate, response);
    const served = await serve(
      context,
      candidate.entry,
      updated.policy,
      false,
      updated.headers,
      true,
    );
    if (served) {
      // The 304's own cookies are this user's, from the network: they go up, never stored.
      for (const line of response.headers.getSetCookie()) served.headers.append("set-cookie", line);
      return served;
    }
    return await store(context, await context.next(exchange));
  }
  if (response.status >= 500 && response.status <= 504 && staleIfError(context, candidate.policy)) {
    const served = await serve(context, candidate.entry, candidate.policy, true);
    if (served) {
      dropResponse(response);
      return noted(context, served, "stale-if-error");
    }
  }
  return await store(context, response);
}

/** Applies a `304` to the stored entry: merged headers, a new policy, a new expiry. */
async function refresh(
  context: Context,
  candidate: Candidate,
  response: Response,
): Promise<{ headers: [string, string][]; policy: Policy }> {
  const headers = _mergeHeaders(candidate.entry.headers, _storableHeaders(response.headers));
  const request = policyRequest(context);
  const record = _responseRecord(headers);
  const policy = new context.Policy(
    { ...request, headers: _storedRequestRecord(request.headers, record.vary) },
    { status: candidate.entry.status, headers: record },
    _policyOptions(context.shared),
  );
  if (context.save) {
    await context.cache.updateMetaData(candidate.entry, {
      headers,
      policy: policy.toObject(),
      expires: expiresAt(context, policy, headers),
    }).catch(() => false);
  }
  return { headers, policy };
}

/**
 * Revalidates a stale entry that was served, as an exchange of its own: `signal` (the
 * manager closing) aborts it, not the end of the reply. Never rejects.
 */
async function backgroundRevalidate(
  context: Context,
  candidate: Candidate,
  conditionalHeaders: Record<string, string>,
  signal: AbortSignal,
): Promise<void> {
  const { exchange } = context;
  const headers = new Headers(exchange.headers);
  for (const name of ["if-none-match", "if-modified-since"]) {
    if (conditionalHeaders[name]) headers.set(name, conditionalHeaders[name]);
  }
  const background = new Exchange({
    url: new URL(exchange.url.href),
    method: "GET",
    headers,
    body: null,
    request: exchange.request,
    reply: exchange.reply,
    signal,
    monitor: QUIET,
    client: exchange.client,
    hop: exchange.hop,
  });
  _noteRevalidation(background);
  try {
    const response = await context.next(background);
    // Its cookies are this user's, from the network, as a response passed up would be.
    await interimResponse(exchange)?.(response, null);
    if (response.status === 304) {
      dropResponse(response);
      // A 304 that validates another response leaves the stored one as it was.
      if (_validatesStored(candidate.entry.headers, response.headers)) {
        await refresh({ ...context, exchange: background }, candidate, response);
      }
      return;
    }
    const stored = await store({ ...context, exchange: background }, response);
    if (stored.body) { for await (const _ of stored.body) { /* drained into the cache */ } }
  } catch {
    // The stale response was served; a failed revalidation leaves the entry as it was.
  }
}

/**
 * How long a response without validators is kept past its freshness lifetime, so that a
 * request's `max-stale` can still use it.
 */
const STALE_KEPT_MS = 24 * 60 * 60 * 1000;

/** When the store may drop an entry: never while it can be revalidated. */
function expiresAt(context: Context, policy: Policy, headers: [string, string][]): number | null {
  if (_hasValidator(headers)) return null;
  return context.clock() + freshnessPolicy(context, policy).policy.timeToLive() + STALE_KEPT_MS;
}

/** What a background exchange reports its activity and progress to: nobody. */
const QUIET: ExchangeMonitor = { activity() {}, uploadProgress() {} };

/** Records how the cache answered the exchange (see `_cache_served.ts`); returns `response`. */
function noted(context: Context, response: Response, how: _CacheServed): Response {
  _noteCacheServed(context.exchange, how);
  return response;
}

/**
 * Serves a stored response: from the cache alone, or `revalidated` by a `304`. Returns `null`
 * when its body is gone.
 */
async function serve(
  context: Context,
  entry: CacheEntry,
  policy: Policy,
  fromCache: boolean,
  headers: readonly [string, string][] = entry.headers,
  revalidated = false,
): Promise<Response | null> {
  const { cache, exchange } = context;
  let body: ReadableStream<Uint8Array> | null = null;
  try {
    if (exchange.method === "HEAD" || NULL_BODY_STATUSES.has(entry.status)) {
      await cache.touch(entry);
    } else {
      body = await cache.body(entry);
      if (body === null) return null;
    }
  } catch {
    return null;
  }
  const response = new Response(body, {
    status: entry.status,
    statusText: entry.statusText,
    headers: _servedHeaders(headers, policy.age()),
  });
  return setResponseInfo(
    response,
    revalidated ? { url: exchange.url, revalidated } : { url: exchange.url, fromCache },
  );
}

/**
 * Stores a response from the network if the request allows it and the response is storable,
 * streaming its body to the reply and to the store at once. The entry is published when the
 * body completed; a body that fails or is cancelled stores nothing.
 */
async function store(context: Context, response: Response): Promise<Response> {
  const { exchange, cache } = context;
  if (exchange.method === "HEAD" && response.status === 200) await headChecks(context, response);
  if (!context.save || exchange.method !== "GET" || response.status === 206) return response;
  // A redirect with several Location fields: stored, they would come back joined as one.
  if (response.status >= 300 && response.status < 400 && responseInfo(response).locations) {
    return response;
  }
  const pairs = _storableHeaders(response.headers);
  const record = _responseRecord(pairs);
  const request = policyRequest(context);
  let policy: Policy;
  try {
    policy = new context.Policy(
      { ...request, headers: _storedRequestRecord(request.headers, record.vary) },
      { status: response.status, headers: record },
      _policyOptions(context.shared),
    );
  } catch {
    return response;
  }
  // The library reads the request's no-store from the request it was built with.
  if (!policy.storable() || /no-store/i.test(exchange.headers.get("cache-control") ?? "")) {
    return response;
  }
  if (context.shared && personal(exchange) && !allowsSharing(record["cache-control"])) {
    return response;
  }
  const vary = response.headers.get("vary");
  const variant = _variantKey(vary, keyHeaders(context));
  if (variant === null) return response;
  const expires = expiresAt(context, policy, pairs);
  // Nothing could ever use a response that is stale already and has no validator.
  if (expires !== null && expires - STALE_KEPT_MS <= context.clock()) return response;
  const varyFields = _varyFields(vary).sort().join(",");
  const ready = (async () => {
    // A response whose Vary differs from the stored ones replaces all of them.
    const stored = await cache.variants(context.key);
    if (
      stored.some((e) => _varyFields(_headerOf(e.headers, "vary")).sort().join(",") !== varyFields)
    ) {
      await cache.remove(context.key);
    }
    return cache.prepare({
      url: context.key,
      variant,
      status: response.status,
      statusText: response.statusText,
      headers: pairs,
      policy: policy.toObject(),
      expires,
    });
  })();
  ready.catch(() => {});
  const timeout = exchange.request.transferTimeout ?? context.transferTimeout;
  const wait = timeout > 0
    ? Math.min(REDIRECT_BODY_WAIT_MS, Math.max(1, Math.floor(timeout / 2)))
    : REDIRECT_BODY_WAIT_MS;
  return await tee(response, ready, exchange, wait, [cache, context.key]);
}

/**
 * A `200` to a HEAD from the network that is not the stored GET response's makes it stale (RFC
 * 9111 section 4.3.5): the URL's stored responses are removed. The validators both carry tell,
 * `ETag` first, then `Last-Modified`; `Content-Length` only without either (a HEAD may say 0).
 */
async function headChecks(context: Context, { headers }: Response): Promise<void> {
  const [etag, modified, length] = HEAD_CHECKED.map((name) => headers.get(name));
  if (etag === null && modified === null && length === null) return;
  const candidate = await lookup(context);
  if (candidate === null) return;
  const [tag, date, size] = HEAD_CHECKED.map((name) => _headerOf(candidate.entry.headers, name));
  const differs = etag != null && tag !== undefined
    ? tag.trim() !== etag.trim()
    : modified != null && date !== undefined
    ? parseHttpDate(date) !== parseHttpDate(modified)
    : length != null && size !== undefined && size.trim() !== length.trim();
  if (differs) await context.cache.remove(context.key).catch(() => false);
}

const HEAD_CHECKED = ["etag", "last-modified", "content-length"];

/** Whether a request carried a user's state: a `Cookie` (the user's or the jar's), URL credentials. */
function personal(exchange: Exchange): boolean {
  const { url } = exchange;
  return exchange.headers.has("cookie") || url.username !== "" || url.password !== "";
}

/**
 * Whether a response says a shared cache may keep it although the request was personal:
 * `public` or `s-maxage` (Varnish's built-in rule).
 */
function allowsSharing(cacheControl: string | undefined): boolean {
  return /(?:^|,)\s*(?:public|s-maxage=\d+)\s*(?:,|$)/i.test(cacheControl ?? "");
}

/** Removes the stored responses an unsafe request made stale (RFC 9111 section 4.4). */
async function invalidate(cache: NetworkCache, url: URL, headers: Headers): Promise<void> {
  const targets = [url];
  for (const name of ["location", "content-location"]) {
    const value = headers.get(name);
    if (!value) continue;
    try {
      const target = new URL(value, url);
      if (target.origin === url.origin) targets.push(target);
    } catch {
      // not a URL: nothing to invalidate
    }
  }
  for (const target of targets) {
    await cache.remove(_policyUrl(target)).catch(() => false);
  }
}
