/**
 * netaccess: a network access manager for Deno, after Qt's `QNetworkAccessManager`.
 *
 * One {@linkcode NetworkAccessManager} holds what all of an application's requests share; every
 * request returns a {@linkcode NetworkReply} at once, which streams its body as an async
 * iterator, reports progress as events and records errors as Qt's {@linkcode NetworkError}
 * codes. Requests flow through a pipeline of layers (queue, transport, and your own).
 *
 * @example Download, stream and check
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, NetworkError } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager();
 * const reply = manager.get("data:text/plain,hello");
 * const progress: [number, number][] = [];
 * reply.addEventListener("downloadprogress", (e) => progress.push([e.loaded, e.total]));
 * const decoder = new TextDecoder();
 * let text = "";
 * for await (const chunk of reply) text += decoder.decode(chunk, { stream: true });
 * await reply.finished;
 * assert.equal(reply.error, NetworkError.NoError, reply.errorString);
 * assert.equal(text, "hello");
 * assert.deepEqual(progress.at(-1), [5, 5]);
 * ```
 *
 * @module
 */

export { NetworkAccessManager } from "./src/manager.ts";
export type { LayerPosition, NetworkAccessManagerOptions } from "./src/manager_options.ts";
export {
  type CacheLoadControl,
  type CookieControl,
  NetworkRequest,
  type NetworkRequestInit,
  type Priority,
  type RedirectPolicy,
} from "./src/request.ts";
export {
  NetworkRequestFactory,
  type NetworkRequestFactoryOptions,
  type QueryInit,
  type QueryValue,
} from "./src/request_factory.ts";
export { NetworkReply } from "./src/reply.ts";
export type { Operation } from "./src/reply/operation.ts";
export type { ServerSentEvent, ServerSentEventsOptions } from "./src/sse.ts";
export type { EventStreamOptions } from "./src/event_stream.ts";
export type { NextPage, PaginateOptions } from "./src/paginate.ts";
export {
  SchemaValidationError,
  type StandardSchemaV1,
  type StandardSchemaV1InferOutput,
  type StandardSchemaV1Issue,
  type StandardSchemaV1PathSegment,
  type StandardSchemaV1Props,
  type StandardSchemaV1Result,
  type StandardSchemaV1Types,
} from "./src/standard_schema.ts";
export {
  type CreateManagerOptions,
  type KvFactoryCacheOptions,
  type KvFactoryCookieJarOptions,
  type KvFactoryStoreOptions,
  KvNetworkAccessManagerFactory,
  type KvNetworkAccessManagerFactoryOptions,
  type NetworkAccessManagerFactory,
} from "./src/factory.ts";
export {
  InvalidJsonError,
  type InvalidJsonErrorOptions,
  NetworkError,
  type NetworkErrorCode,
  type NetworkErrorCodes,
  NetworkReplyError,
  type NetworkReplyErrorOptions,
} from "./src/network_error.ts";
export {
  type NetworkAccessManagerEventMap,
  NetworkErrorEvent,
  NetworkProgressEvent,
  NetworkReplyEvent,
  type NetworkReplyEventMap,
  NetworkRetryEvent,
} from "./src/events.ts";
export {
  type NetworkAccessibility,
  NetworkAccessibleChangedEvent,
} from "./src/network_accessibility.ts";
export { type NetworkBody, RequestBody } from "./src/body.ts";
export {
  Exchange,
  type ExchangeChanges,
  type ExchangeMonitor,
  type Handler,
  type Layer,
  type ResponseInfo,
  responseInfo,
  setResponseInfo,
} from "./src/exchange.ts";
export { HostQueue } from "./src/host_queue.ts";
export { transport } from "./src/layers/transport.ts";
export type { RetryOptions } from "./src/retry_options.ts";
export type { Clock } from "./src/clock.ts";
export type { ClientCertificate } from "./src/tls.ts";
export type {
  CacheEntry,
  CacheInsertOptions,
  CacheMetaData,
  CacheMetaDataUpdate,
  CacheMode,
  CacheWriter,
  NetworkCache,
} from "./src/cache/network_cache.ts";
export { MemoryCache, type MemoryCacheOptions } from "./src/cache/memory_cache.ts";
export { KvCache, type KvCacheOptions } from "./src/cache/kv_cache.ts";
export {
  type CookieJar,
  type CookieJarOptions,
  type NetworkCookieInit,
} from "./src/cookies/cookie_jar.ts";
export {
  cookieHeader,
  type CookieSameSite,
  type NetworkCookie,
} from "./src/cookies/network_cookie.ts";
export { MemoryCookieJar, type MemoryCookieJarOptions } from "./src/cookies/memory_cookie_jar.ts";
export { KvCookieJar, type KvCookieJarOptions } from "./src/cookies/kv_cookie_jar.ts";
export type { HstsPolicy, HstsPreload, HstsStore } from "./src/hsts/hsts_store.ts";
export { MemoryHstsStore, type MemoryHstsStoreOptions } from "./src/hsts/memory_hsts_store.ts";
export { KvHstsStore, type KvHstsStoreOptions } from "./src/hsts/kv_hsts_store.ts";
export type { AuthChallenge } from "./src/auth/auth_challenge.ts";
export type { AuthCredentials } from "./src/auth/auth_credentials.ts";
export {
  type AuthenticationChallenge,
  AuthenticationRequiredEvent,
  type RedirectDetails,
  RedirectedEvent,
} from "./src/security_events.ts";
export type { Authenticator } from "./src/layers/auth.ts";
export type { RedirectVerifier } from "./src/layers/redirect.ts";
export type {
  NetworkProxy,
  NetworkProxyType,
  ProxyFactory,
  ProxyQuery,
} from "./src/proxy/network_proxy.ts";
export { systemProxyFactory } from "./src/proxy/system_proxy.ts";
