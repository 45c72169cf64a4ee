/** A cache on a test clock, a manager using it, and an origin that records what reaches it. */

import { KvCache } from "../../src/cache/kv_cache.ts";
import { MemoryCache } from "../../src/cache/memory_cache.ts";
import type { CacheMode, NetworkCache } from "../../src/cache/network_cache.ts";
import { NetworkAccessManager } from "../../src/manager.ts";
import type { NetworkReply } from "../../src/reply.ts";
import { NetworkRequest, type NetworkRequestInit } from "../../src/request.ts";
import { serve } from "./server.ts";

/** The test clock's time at the start: 1 January 2026. */
export const START = Date.UTC(2026, 0, 1);

/** The two stores the cache tests run against. */
export const STORES = ["memory", "kv"] as const;

/** What the origin was sent, one entry per request. */
export interface Seen {
  method: string;
  path: string;
  headers: Headers;
}

/** A reply read to its end: the reply and its body as text ("" when it failed). */
export interface Done {
  reply: NetworkReply;
  text: string;
}

/** What {@linkcode cacheOrigin} makes. */
export interface CacheOrigin extends AsyncDisposable {
  url: string;
  seen: Seen[];
  cache: NetworkCache;
  manager: NetworkAccessManager;
  /** Moves the clock on. */
  advance(seconds: number): void;
  /** GETs `path`, reads the body as text and waits for the end. */
  get(path?: string, init?: NetworkRequestInit): Promise<Done>;
  /** Sends `verb` to `path` with a small body, as `get` does. */
  send(verb: string, path: string): Promise<Done>;
}

/**
 * Makes a store of the kind `store` (memory by default) on a clock that moves only with
 * `advance`, a manager with that cache and no cookie jar, and an origin that answers with
 * `handler` (its second argument counts the requests, from 1); `mode` is the store's (its
 * default when not given). Dispose of it to close all three.
 */
export async function cacheOrigin(
  handler: (request: Request, count: number) => Response | Promise<Response>,
  options: { store?: "memory" | "kv"; maxConnectionsPerHost?: number; mode?: CacheMode } = {},
): Promise<CacheOrigin> {
  let now = START;
  const clock = () => now;
  const cache: NetworkCache = options.store === "kv"
    ? await KvCache.open({ path: ":memory:", clock, mode: options.mode })
    : new MemoryCache({ clock, mode: options.mode });
  const seen: Seen[] = [];
  const server = serve((request) => {
    seen.push({
      method: request.method,
      path: new URL(request.url).pathname,
      headers: new Headers(request.headers),
    });
    return handler(request, seen.length);
  });
  const manager = new NetworkAccessManager({
    cache,
    clock,
    cookieJar: null,
    maxConnectionsPerHost: options.maxConnectionsPerHost,
  });
  const done = async (reply: NetworkReply): Promise<Done> => {
    const text = await reply.text().catch(() => "");
    await reply.finished;
    return { reply, text };
  };
  return {
    url: server.url,
    seen,
    cache,
    manager,
    advance(seconds: number) {
      now += seconds * 1000;
    },
    get: (path = "/", init?: NetworkRequestInit) => done(manager.get(server.url + path, init)),
    send: (verb: string, path: string) =>
      done(manager.sendCustomRequest(new NetworkRequest(server.url + path), verb, "x")),
    async [Symbol.asyncDispose]() {
      await manager.close();
      await server.close();
      await cache.close();
    },
  };
}
