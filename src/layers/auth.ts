/**
 * The authentication layer: answers 401 (`WWW-Authenticate`) and 407 (`Proxy-Authenticate`)
 * challenges with Basic or Digest credentials from the credential cache, the URL's userinfo
 * or the manager's `authenticator`, and authenticates later requests to a known protection
 * space pre-emptively.
 *
 * @module
 */

import { basicAuthorization } from "../auth/basic.ts";
import {
  challengesFromHeaders,
  selectChallenge,
  type SelectedChallenge,
} from "../auth/challenge.ts";
import type { AuthChallenge } from "../auth/challenge.ts";
import {
  type AuthCredentials,
  type CachedCredentials,
  type CredentialCache,
  credentialsFromUrl,
  type ProtectionSpace,
  withoutCredentials,
} from "../auth/credential_cache.ts";
import { type DigestChallenge, loadDigest } from "../auth/digest.ts";
import {
  type Exchange,
  type Handler,
  interimResponse,
  type Layer,
  type ProxyChosen,
  responseInfo,
  setProxyChosen,
  throwIfReplyFinished,
} from "../exchange.ts";
import { NetworkError, type NetworkErrorCode, NetworkReplyError } from "../network_error.ts";
import { discard, failedOnResponse } from "../_response.ts";
import type { NetworkProxy } from "../proxy/network_proxy.ts";
import { refusedCredentials } from "../proxy/_probe.ts";
import { monitorQueued, type NetworkReply } from "../reply.ts";
import type { NetworkRequest } from "../request.ts";
import { type AuthenticationChallenge, AuthenticationRequiredEvent } from "../security_events.ts";
import { listensTo } from "../_typed_event_target.ts";
import {
  type Answer,
  digestOf,
  type DigestStamp,
  rspauthMatches,
  sendDigest,
  stampDigest,
  takeNextNonce,
} from "./_auth_digest.ts";
import { describe as shown } from "../_validation.ts";

/**
 * Supplies credentials for a challenge: called when a server (401) or an http proxy (407,
 * `challenge.proxy`) asks and neither the credential cache nor the URL has credentials that
 * work. Return (or resolve) a user name and password to retry with, or `undefined` to give up:
 * the reply then ends with the 401 or 407 response, as `AuthenticationRequiredError` (204) or
 * `ProxyAuthenticationRequiredError` (105). After credentials are refused it is asked again,
 * at most three times per reply. Concurrent challenges of one protection space and scheme ask
 * once: the replies challenged while that call is under way wait for its answer and use it.
 *
 * @example Credentials for one origin only
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Authenticator, NetworkError } from "@netaccess/core";
 * import { createMockManager } from "@netaccess/core/testing";
 *
 * const authenticator: Authenticator = (_reply, challenge) =>
 *   challenge.origin === "https://api.example.com" && !challenge.proxy
 *     ? { username: "me", password: "secret" }
 *     : undefined;
 * await using mocked = createMockManager({ authenticator });
 * mocked.mock.route("GET", "/", (request) =>
 *   request.headers.has("authorization")
 *     ? { body: "signed in" }
 *     : { status: 401, headers: { "www-authenticate": 'Basic realm="api"' } });
 * assert.equal(await mocked.manager.get("https://api.example.com/").text(), "signed in");
 * const elsewhere = mocked.manager.get("https://other.example/");
 * await elsewhere.finished;
 * assert.equal(elsewhere.error, NetworkError.AuthenticationRequiredError); // no credentials sent
 * ```
 */
export type Authenticator = (
  reply: NetworkReply,
  challenge: AuthenticationChallenge,
) => AuthCredentials | undefined | Promise<AuthCredentials | undefined>;

/** How many times one reply asks the authenticator before giving up. */
const MAX_ASKS = 3;
/** How many `stale=true` answers one exchange retries without asking. */
const MAX_STALE = 2;

/** The requests that never ask the authenticator (a connection warm-up). */
const unprompted = new WeakSet<NetworkRequest>();

/**
 * Marks `request` as one that never asks the authenticator, nor tells its reply's listeners
 * of a challenge: a challenge that cached or configured credentials cannot answer ends it.
 *
 * @returns The request.
 */
export function withoutPrompt(request: NetworkRequest): NetworkRequest {
  unprompted.add(request);
  return request;
}

function sameSpace(a: ProtectionSpace, b: ProtectionSpace): boolean {
  return a.origin === b.origin && a.realm === b.realm && a.proxy === b.proxy;
}

function spaceKey(space: ProtectionSpace): string {
  return JSON.stringify([space.proxy, space.origin, space.realm]);
}

function isCredentials(value: unknown): value is AuthCredentials {
  return value !== null && typeof value === "object" &&
    typeof (value as AuthCredentials).username === "string" &&
    typeof (value as AuthCredentials).password === "string";
}

/** The origin of the http proxy an exchange went through, or `undefined`. */
function httpProxyOf(
  p: NetworkProxy | undefined,
): { origin: string; proxy: NetworkProxy } | undefined {
  if (p === undefined || (p.type !== "http" && p.type !== "https") || p.url === undefined) {
    return undefined;
  }
  try {
    return { origin: new URL(p.url).origin, proxy: p };
  } catch {
    return undefined;
  }
}

/** What the authentication layer reads, for each challenge. */
export interface AuthSettings {
  /** Supplies credentials when neither the cache nor the URL has working ones. */
  readonly authenticator: Authenticator | undefined;
  /** Extra CA certificates, for asking an https proxy whose 401 it was. */
  readonly caCerts: readonly string[];
}

/**
 * Whether cached credentials may answer for a request: always when its URL names no user,
 * else only that user's own (the same name, and the same password when the URL gives one).
 * Userinfo wins over the cache and is never merged with another user's credentials.
 */
function ownCredentials(cached: AuthCredentials, fromUrl: AuthCredentials | undefined): boolean {
  if (fromUrl === undefined) return true;
  return cached.username === fromUrl.username &&
    (fromUrl.password === "" || cached.password === fromUrl.password);
}

/** Whether the auth layer answers a response of this status: 401 or 407, a challenge. */
export function isChallenge(status: number): boolean {
  return status === 401 || status === 407;
}

/** Creates the authentication layer, keeping credentials in `cache`. */
export function authLayer(settings: AuthSettings, cache: CredentialCache): Layer {
  /**
   * Whether `cached` are Basic credentials of a space that challenged with Digest (marked in the
   * cache, `markDigest`): they are not sent up front (the password would go in clear where
   * Digest is known to be used).
   */
  const clearToDigestSpace = (cached: CachedCredentials): boolean =>
    cached.scheme === "basic" && cache.usedDigest(cached.space);
  /**
   * The authenticator calls under way, by protection space and scheme: a challenge of the same
   * space that comes meanwhile (concurrent requests) waits for that answer instead of asking too.
   */
  const asking = new Map<string, Promise<AuthCredentials | undefined>>();
  /** Asks the authenticator for `key`'s space, or joins the call under way for it. */
  const ask = (
    key: string,
    authenticator: Authenticator,
    reply: NetworkReply,
    challenge: AuthenticationChallenge,
  ): Promise<AuthCredentials | undefined> => {
    let pending = asking.get(key);
    if (pending === undefined) {
      // Called now (a throw becomes the rejection); the entry goes once the answer is in.
      const call = new Promise<AuthCredentials | undefined>((resolve) =>
        resolve(authenticator(reply, challenge))
      );
      pending = call;
      asking.set(key, call);
      const done = () => {
        if (asking.get(key) === call) asking.delete(key);
      };
      call.then(done, done);
    }
    return pending;
  };

  /** The Basic header value answering with `answer`; fails the reply when it cannot be built. */
  const basicHeader = (answer: Answer): string => {
    try {
      return basicAuthorization(answer.credentials);
    } catch (error) {
      throw new NetworkReplyError(
        answer.space.proxy
          ? NetworkError.ProxyAuthenticationRequiredError
          : NetworkError.AuthenticationRequiredError,
        `Cannot authenticate to ${answer.space.origin}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  };

  const answering: Layer = (next) => (exchange) => {
    const url = exchange.url;
    if (url.protocol !== "http:" && url.protocol !== "https:") return next(exchange);
    if (url.username === "" && url.password === "" && !cache.mayAnswer(url)) {
      // Nothing to send pre-emptively (nothing cached for its origin, or for a proxy it may go
      // through): the request goes as it is, and only a challenge enters the loop that answers
      // it.
      return next(exchange).then((response) =>
        isChallenge(response.status) ? challenged(next, exchange, response) : response
      );
    }
    return challenged(next, exchange, undefined);
  };

  /**
   * Sends `exchange` (unless `first`, its response without credentials, came already) and
   * answers challenges until a response is final.
   */
  const challenged = async (
    next: Handler,
    exchange: Exchange,
    first: Response | undefined,
  ): Promise<Response> => {
    const url = exchange.url;
    // Copied only when there is userinfo or a fragment to drop.
    let plain = url;
    if (url.username !== "" || url.password !== "" || url.hash !== "") {
      plain = withoutCredentials(url);
      plain.hash = "";
    }
    const method = exchange.method;
    // The request's own headers: each attempt that adds credentials sends a copy.
    const baseHeaders = exchange.headers;
    const fromUrl = credentialsFromUrl(url);
    // The protection spaces whose cached credentials this request has tried, and the server
    // and proxy origins whose configured ones (the URL's, the proxy's) it has: made when there
    // is a first one.
    let usedCache: Set<string> | undefined;
    let usedConfigured: Set<string> | undefined;
    let server: Answer | undefined;
    let proxy: Answer | undefined;
    let staleRetries = 0;
    /** Whether the current attempt carries `server`'s credentials (none when they cannot go). */
    let serverSent = false;
    // The body as sent, for Digest `qop=auth-int`: known before sending for none, bytes, Blobs
    // and FormData (its encoding is made once, with one boundary), not for streams; read once a
    // challenge asks for it.
    const hashable = exchange.body === null || exchange.body.length !== null;
    let entity: Uint8Array | undefined;

    // With `first`, nothing was sent pre-emptively (the cache was empty then).
    if (first === undefined && !baseHeaders.has("authorization")) {
      const cached = cache.forUrl(plain);
      if (
        cached !== undefined && ownCredentials(cached.credentials, fromUrl) &&
        !clearToDigestSpace(cached)
      ) {
        server = cached;
        usedCache = new Set([spaceKey(cached.space)]);
      }
    }
    // Proxy credentials go where the proxy is known: the proxy layer, below the cache and the
    // queue, calls `toProxy` once it chose the proxy of an attempt. A request that sets its own
    // `Proxy-Authorization` keeps it until a 407 of its own is answered.
    let proxyAnswered = false;
    /** The `Proxy-Authorization` value the proxy was last asked about (see `refused`). */
    let probedProxyValue: string | undefined;
    /** The `Proxy-Authorization` value `toProxy` set on the current attempt. */
    let proxyValue: string | undefined;
    /** The proxy's Digest answer of the current attempt, for its `nextnonce`. */
    let proxyStamp: DigestStamp | undefined;
    const toProxy: ProxyChosen = (sending, chosen) => {
      proxy = undefined;
      proxyStamp = undefined;
      const via = httpProxyOf(chosen);
      let cached = via === undefined ? undefined : cache.forProxy(via.origin);
      // Basic credentials of a proxy that challenged with Digest go only once this request
      // answered its Basic challenge (a downgrade the authenticator accepted), never up front.
      if (cached !== undefined && !proxyAnswered && clearToDigestSpace(cached)) {
        cached = undefined;
      }
      let value: string | undefined;
      if (cached !== undefined) {
        try {
          // The Digest uri is the path and query even though the request line to the proxy is
          // in absolute-form, as curl sends it (and as the origin behind the proxy sees it).
          if (cached.scheme === "basic") value = basicAuthorization(cached.credentials);
          else {
            proxyStamp = stampDigest(cache, cached, method, requestTarget(), entity);
            value = sendDigest(proxyStamp);
          }
        } catch {
          value = undefined; // the space went away meanwhile: the proxy challenges again
        }
      }
      // Sent again (a retry) to a proxy without credentials: what was set for another goes.
      if (
        value === undefined && (proxyValue === undefined ||
          sending.headers.get("proxy-authorization") !== proxyValue)
      ) {
        proxyValue = undefined;
        return;
      }
      const headers = new Headers(sending.headers);
      if (value === undefined) headers.delete("proxy-authorization");
      else headers.set("proxy-authorization", value);
      sending.headers = headers;
      proxyValue = value;
      if (cached !== undefined && value !== undefined) {
        proxy = cached;
        (usedCache ??= new Set()).add(spaceKey(cached.space));
      }
    };

    /** The server's Digest answer of the current attempt, counted again as it is sent. */
    let serverStamp: DigestStamp | undefined;
    const dropServerStamp = () => void (serverStamp = undefined);
    /** Whether the current attempt gets the proxy's credentials as it is sent. */
    let proxyHooked = false;
    /**
     * What the proxy layer calls as an attempt goes to the network (each retry too): the
     * server's Digest answer takes its nonce count now, and the proxy's credentials are set.
     */
    const onSend: ProxyChosen = (sending, chosen) => {
      if (serverStamp !== undefined) {
        const before = serverStamp.value;
        const value = sendDigest(serverStamp);
        if (value !== before) {
          const headers = new Headers(sending.headers);
          headers.set("authorization", value);
          sending.headers = headers;
        }
      }
      if (proxyHooked) toProxy(sending, chosen);
    };

    let attempt = exchange;
    for (;;) {
      // No credentials to send: the request's own headers, uncopied.
      let headers = baseHeaders;
      // Set by `answerWith` (a call, so that the type of what it set is not narrowed away).
      dropServerStamp();
      if (server !== undefined) {
        headers = new Headers(baseHeaders);
        serverSent = await answerWith(headers, "authorization", server, requestTarget());
      }
      let response: Response;
      if (first !== undefined) {
        response = first;
        first = undefined;
      } else {
        attempt.headers = headers;
        proxy = undefined;
        proxyValue = undefined;
        proxyStamp = undefined;
        proxyHooked = plain.protocol === "http:" &&
          (proxyAnswered || !baseHeaders.has("proxy-authorization"));
        if (proxyHooked || serverStamp !== undefined) setProxyChosen(attempt, onSend);
        response = await next(attempt);
        // The next hop starts from what was asked, not from the credentials of this one: the
        // first attempt is the exchange the layers above (a redirect's next hop) read again.
        if (attempt === exchange) attempt.headers = baseHeaders;
        else if (proxyValue !== undefined) attempt.headers = headers;
      }
      const isProxy = response.status === 407;
      if (proxyStamp !== undefined && proxy !== undefined && !isProxy) {
        const info = authenticationInfo(response, proxy, proxyStamp);
        proxyStamp.state.accepted = proxyStamp.credentials;
        takeNextNonce(cache, proxy, proxyStamp, info);
      }
      if (response.status !== 401 && !isProxy) {
        if (serverStamp !== undefined && serverSent) {
          const info = authenticationInfo(response, server!, serverStamp);
          serverStamp.state.accepted = serverStamp.credentials;
          takeNextNonce(cache, server!, serverStamp, info);
        }
        // The server took credentials the cache did not hold yet: they join it now.
        const pending = server?.pending;
        if (pending !== undefined) {
          const { space, scheme, credentials } = server!;
          cache.store(space, { scheme, credentials, digest: pending.digest }, plain);
        }
        return response;
      }

      // A 401 to the Basic credentials this reply answered its http proxy's 407 with: the
      // proxy's refusal (tinyproxy's), unless the proxy takes them for a tunnel. Found out before
      // the target's credentials are asked for, which would go to that proxy.
      if (!isProxy && proxyAnswered && proxy?.scheme === "basic") {
        response = await refused(response);
      }

      let origin: string;
      let proxyConfig: NetworkProxy | undefined;
      if (isProxy) {
        const via = plain.protocol === "http:" ? httpProxyOf(exchange.proxy) : undefined;
        if (via === undefined) return response;
        origin = via.origin;
        proxyConfig = via.proxy;
      } else {
        origin = plain.origin;
      }
      const challenges = challengesFromHeaders(response.headers, isProxy);
      // The credentials this response refuses: those the attempt carried.
      const sent = isProxy ? proxy : serverSent ? server : undefined;
      if (challenges.length === 0) {
        // A bare refusal (no challenge to answer) still refuses what was sent.
        if (sent !== undefined && sent.pending === undefined) forget(sent);
        return await refused(response);
      }
      const selected = selectChallenge(challenges, hashable);
      const code: NetworkErrorCode = isProxy
        ? NetworkError.ProxyAuthenticationRequiredError
        : NetworkError.AuthenticationRequiredError;
      const shown: AuthChallenge = selected?.challenge ?? challenges[0]!;
      const space: ProtectionSpace = { origin, realm: shown.realm ?? "", proxy: isProxy };
      // A Basic challenge of a space that challenged with Digest is a downgrade, answered only
      // by the authenticator, told so; another realm of the same origin that always used Basic
      // is no downgrade.
      if (selected?.scheme === "digest") cache.markDigest(space);
      const downgrade = selected?.scheme === "basic" && cache.usedDigest(space);
      const describe = (count: number, supported: boolean): AuthenticationChallenge => ({
        scheme: shown.scheme,
        realm: shown.realm,
        params: shown.params,
        ...(shown.token68 === undefined ? {} : { token68: shown.token68 }),
        proxy: isProxy,
        origin,
        url: new URL(plain.href),
        attempt: count,
        supported,
        ...(downgrade ? { downgrade } : {}),
      });
      if (selected === null) {
        // Schemes this client cannot answer are reported, never guessed.
        const asks = exchange.authenticatorCalls;
        throwIfReplyFinished(exchange); // aborted as the challenge came: no event after it
        if (listensTo(exchange.reply, "authenticationrequired")) {
          exchange.reply.dispatchEvent(new AuthenticationRequiredEvent(describe(asks + 1, false)));
        }
        if (sent !== undefined && sent.pending === undefined) forget(sent);
        return await refused(response);
      }

      const digest: DigestChallenge | undefined = selected.scheme === "digest"
        ? selected.digest
        : undefined;
      let answer: Answer | undefined;
      // Refused although a response accepted these credentials with this nonce before: what the
      // server refuses is the nonce or its count (a server that wants the counts to arrive in
      // order, which concurrent requests over several connections may not), not the credentials.
      const sentStamp = isProxy ? proxyStamp : serverSent ? serverStamp : undefined;
      const accepted = sentStamp?.state.accepted;
      const replayed = accepted !== undefined &&
        accepted.username === sentStamp!.credentials.username &&
        accepted.password === sentStamp!.credentials.password;
      if (
        (digest?.stale || (digest !== undefined && replayed)) && sent?.scheme === "digest" &&
        sameSpace(sent.space, space) && staleRetries < MAX_STALE
      ) {
        // The credentials were right; only the nonce aged. Retry with the new one, without
        // asking.
        staleRetries++;
        answer = sent;
      } else {
        // Refused: cached credentials of the challenge's space leave the cache; a challenge of
        // another realm (RFC 9110 section 11.5: the realm defines the space) does not refuse
        // them, and the credentials that answer it are stored last, so they win a tie of paths.
        // Pending ones were never in it, and what the cache holds (which worked for other
        // requests) stays. When another request put new credentials there meanwhile, this one
        // tries them before asking.
        if (
          sent !== undefined && sent.pending === undefined && sameSpace(sent.space, space) &&
          forget(sent)
        ) {
          usedCache?.delete(spaceKey(space));
        }
        try {
          answer = await choose(selected, space, isProxy, proxyConfig, describe, code, downgrade);
        } catch (error) {
          discard(response);
          throw failedOnResponse(error, response); // the reply shows the challenge's status
        }
      }
      if (answer === undefined) return await refused(response);
      discard(response);
      // A server's challenge may set cookies (a session, a sticky backend) that the answer must
      // carry: the layers above see it before the next attempt is made from `baseHeaders`.
      if (!isProxy) await interimResponse(exchange)?.(response, baseHeaders);
      // The reply shows the challenge that could not be answered, as when the authenticator
      // gives up.
      if (oneShot()) throw failedOnResponse(cannotResend(origin), response);
      // Built before they are cached: credentials Basic cannot encode fail this reply only,
      // which shows the challenge they answered.
      if (answer.scheme === "basic") {
        try {
          basicHeader(answer);
        } catch (error) {
          throw failedOnResponse(error, response);
        }
      } else {
        await loadDigest(); // the proxy layer's call builds the header without waiting
        if (digest?.qop === "auth-int") entity ??= await readEntity();
      }
      const pending = answer.pending;
      if (pending !== undefined) {
        // Not cached until they work; the nonce's count is the cache's (`nonceState`).
        pending.digest = digest;
      } else {
        cache.store(
          space,
          { scheme: answer.scheme, credentials: answer.credentials, digest },
          isProxy ? undefined : plain,
        );
        answer.own = digest;
      }
      if (isProxy) proxyAnswered = true;
      else server = answer;
      attempt = exchange.again({ url: new URL(url.href), method, headers: baseHeaders });
    }

    /**
     * A 401 that ends the reply: through an http proxy that was sent credentials, it may be the
     * proxy's refusal (as tinyproxy answers), asked only now, never on the way.
     */
    function refused(response: Response): Response | Promise<Response> {
      if (response.status !== 401 || exchange.proxy === undefined) return response;
      // Cached Basic proxy credentials are probed with as they were sent; refused, they go.
      const sentProxy = proxy?.scheme === "basic" ? proxy : undefined;
      const value = sentProxy === undefined ? undefined : proxyValue;
      // Once per credentials: a proxy that opened a tunnel with them took them.
      if (value !== undefined && value === probedProxyValue) return response;
      probedProxyValue = value;
      return refusedCredentials(response, exchange.proxy, exchange.url, settings.caCerts, value)
        .catch((error) => {
          if (sentProxy !== undefined) forget(sentProxy);
          throw failedOnResponse(error, response); // the reply shows the proxy's 401
        });
    }

    /**
     * The `Authentication-Info` (`Proxy-Authentication-Info` for a proxy's `answer`) of a
     * response to the Digest answer `stamp`, once its `rspauth`, when it has one, proves that
     * the server (or proxy) knows the credentials.
     *
     * @throws {NetworkReplyError} `AuthenticationRequiredError` (or
     * `ProxyAuthenticationRequiredError`) when it does not match, failed on `response`; the
     * cached credentials sent leave the cache, unless another request replaced them meanwhile.
     */
    function authenticationInfo(
      response: Response,
      answer: Answer,
      stamp: DigestStamp,
    ): string | null {
      const isProxy = answer.space.proxy;
      const name = isProxy ? "Proxy-Authentication-Info" : "Authentication-Info";
      const info = response.headers.get(name);
      if (info === null || rspauthMatches(stamp, info)) return info;
      // A stored response carries the rspauth of the request that was sent when it was stored.
      const stored = responseInfo(response);
      if (!isProxy && (stored.fromCache || stored.revalidated)) return info;
      // Cached as they were sent (the authenticator's): they leave the cache, so the next
      // request to the space asks again instead of offering them to what answered this one.
      if (answer.pending === undefined) forget(answer);
      discard(response);
      throw failedOnResponse(
        new NetworkReplyError(
          isProxy
            ? NetworkError.ProxyAuthenticationRequiredError
            : NetworkError.AuthenticationRequiredError,
          `Cannot authenticate ${answer.space.origin}: the rspauth of its ${name} does not ` +
            `match the response digest of the credentials sent (RFC 7616 section 3.5); the ` +
            `response did not come from one that knows them`,
        ),
        response,
      );
    }

    /** The request target in origin-form: the path and query, a `?` with an empty query kept. */
    function requestTarget(): string {
      return plain.href.slice(plain.origin.length);
    }

    /**
     * Drops refused cached credentials from the cache, unless another request replaced them
     * meanwhile.
     *
     * @returns Whether the cache holds other credentials for the space.
     */
    function forget(refusedAnswer: Answer): boolean {
      const held = cache.get(refusedAnswer.space)?.credentials;
      if (held === undefined) return false;
      const { username, password } = refusedAnswer.credentials;
      if (held.username !== username || held.password !== password) return true;
      cache.delete(refusedAnswer.space);
      return false;
    }

    /** The request's body as it is sent, or undefined when it is known only then. */
    async function readEntity(): Promise<Uint8Array | undefined> {
      const body = exchange.body;
      if (body === null) return new Uint8Array(0);
      if (!hashable) return undefined;
      const data = body.open().body;
      return data instanceof Uint8Array ? data : new Uint8Array(await (data as Blob).arrayBuffer());
    }

    /** Whether the request's body is a one-shot stream, which cannot be sent again. */
    function oneShot(): boolean {
      return exchange.body !== null && !exchange.body.replayable;
    }

    /** The failure of a challenge that only sending the body again could answer. */
    function cannotResend(origin: string): NetworkReplyError {
      return new NetworkReplyError(
        NetworkError.ContentReSendError,
        `Cannot answer the authentication challenge of ${origin}: the request must be sent ` +
          `again with credentials, and its body is a one-shot stream that was already sent; ` +
          `pass a string, bytes, Blob, FormData or URLSearchParams to allow resending`,
      );
    }

    /**
     * Sets the header answering with `answer`: none when its space went away meanwhile, or when
     * `qop=auth-int` needs a body known only as it is sent.
     *
     * @returns Whether the header was set.
     */
    async function answerWith(
      headers: Headers,
      name: string,
      answer: Answer,
      uri: string,
    ): Promise<boolean> {
      if (answer.scheme !== "basic") {
        await loadDigest();
        if (digestOf(cache, answer)?.qop === "auth-int") entity ??= await readEntity();
        try {
          serverStamp = stampDigest(cache, answer, method, uri, entity);
        } catch (error) {
          if (error instanceof RangeError) return false;
          throw error;
        }
        headers.set(name, serverStamp.value);
      } else {
        headers.set(name, basicHeader(answer));
      }
      return true;
    }

    /** Picks the credentials for a new round: cache, then URL or proxy settings, then asking. */
    async function choose(
      selected: SelectedChallenge,
      space: ProtectionSpace,
      isProxy: boolean,
      proxyConfig: NetworkProxy | undefined,
      describe: (count: number, supported: boolean) => AuthenticationChallenge,
      code: NetworkErrorCode,
      downgrade: boolean,
    ): Promise<Answer | undefined> {
      const key = spaceKey(space);
      const scheme = selected.scheme;
      // A downgrade from Digest to Basic sends a password in clear only if the user says so.
      usedCache ??= new Set();
      if (!usedCache.has(key) && !downgrade) {
        usedCache.add(key);
        const cached = cache.get(space);
        if (cached !== undefined && (isProxy || ownCredentials(cached.credentials, fromUrl))) {
          return { space, scheme, credentials: cached.credentials };
        }
      }
      // The URL's or the proxy's own credentials are tried once per exchange, whatever the
      // realm: a server that names a new realm with each challenge cannot make them loop.
      const side = `${isProxy}|${space.origin}`;
      usedConfigured ??= new Set();
      // The proxy's own Basic credentials went with the attempt already (the transport sends
      // them to an http proxy with every request) unless this layer or the request set others:
      // refused, they are not sent again, as curl does not.
      const sentByTransport = isProxy && scheme === "basic" && proxyValue === undefined &&
        !baseHeaders.has("proxy-authorization");
      if (!usedConfigured.has(side) && !downgrade) {
        usedConfigured.add(side);
        const configured = isProxy
          ? (proxyConfig?.username === undefined || sentByTransport ? undefined : {
            username: proxyConfig.username,
            password: proxyConfig.password ?? "",
          })
          : fromUrl;
        if (configured !== undefined) {
          // A URL's credentials answer this request; they join the cache once they work.
          return isProxy ? { space, scheme, credentials: configured } : {
            space,
            scheme,
            credentials: configured,
            pending: { digest: undefined },
          };
        }
      }
      const asks = exchange.authenticatorCalls;
      if (asks >= MAX_ASKS || unprompted.has(exchange.request)) return undefined;
      const authenticator = settings.authenticator;
      // Credentials asked for could only be sent with the body again: none are asked for.
      if (authenticator !== undefined && oneShot()) throw cannotResend(space.origin);
      exchange.authenticatorCalls = asks + 1;
      const challenge = describe(asks + 1, true);
      throwIfReplyFinished(exchange); // aborted as the challenge came: no event, nobody asked
      if (listensTo(exchange.reply, "authenticationrequired")) {
        exchange.reply.dispatchEvent(new AuthenticationRequiredEvent(challenge));
      }
      throwIfReplyFinished(exchange); // aborted by a listener: the authenticator is not asked
      if (authenticator === undefined) return undefined;
      let credentials: AuthCredentials | undefined;
      // Waiting for the application moves no data: the transfer timeout starts again with the
      // send that answers the challenge (or the read of the refusal's body).
      monitorQueued(exchange.reply);
      try {
        credentials = await ask(
          JSON.stringify([key, scheme]),
          authenticator,
          exchange.reply,
          challenge,
        );
      } catch (error) {
        throw new NetworkReplyError(
          code,
          `Cannot authenticate to ${space.origin}: the 'authenticator' threw (${
            (error as Error)?.message ?? error
          })`,
          { cause: error },
        );
      }
      if (exchange.signal.aborted) throw exchange.signal.reason;
      if (credentials === undefined || credentials === null) return undefined;
      if (!isCredentials(credentials)) {
        throw new NetworkReplyError(
          code,
          `Cannot authenticate to ${space.origin}: the 'authenticator' must return ` +
            `{ username, password } strings or undefined, got ${
              // A string may be the password itself.
              typeof credentials === "string" ? "a string (not shown)" : shown(credentials)}`,
        );
      }
      return {
        space,
        scheme,
        credentials: { username: credentials.username, password: credentials.password },
      };
    }
  };

  return answering;
}
