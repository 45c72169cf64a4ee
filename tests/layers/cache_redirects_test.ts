/**
 * The cache layer and the redirects the manager follows: each hop is looked up, revalidated and
 * stored by the cache's own rules, in a private MemoryCache and in a shared KvCache.
 */

import { strict as assert } from "node:assert";
import { KvCache } from "../../src/cache/kv_cache.ts";
import { MemoryCache } from "../../src/cache/memory_cache.ts";
import type { NetworkCache } from "../../src/cache/network_cache.ts";
import { NetworkAccessManager } from "../../src/manager.ts";
import { NetworkError } from "../../src/network_error.ts";
import type { NetworkRequestInit } from "../../src/request.ts";
import type { RedirectedEvent } from "../../src/security_events.ts";
import { fakeClock } from "../_helpers/fake_clock.ts";
import {
  guardUnhandledRejections,
  readHead,
  serve,
  serveTcp,
  takeUnhandledRejections,
} from "../_helpers/server.ts";

guardUnhandledRejections();

type Store = "memory" | "kv";
const STORES: readonly Store[] = ["memory", "kv"];

/** What the origin answers on a path: status, headers (a `Date` of the clock's now is added). */
interface Route {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * A store of the kind asked for (a private MemoryCache or a shared KvCache) on a fake clock, a
 * manager with it, and an origin that answers from `routes` and counts the requests per path.
 */
async function setup(store: Store, routes: Record<string, Route>) {
  const time = fakeClock();
  const cache: NetworkCache = store === "kv"
    ? await KvCache.open({ path: ":memory:", clock: time.clock })
    : new MemoryCache({ clock: time.clock });
  const hits: Record<string, number> = {};
  const requests: Record<string, Headers[]> = {};
  const server = serve((request) => {
    const path = new URL(request.url).pathname;
    hits[path] = (hits[path] ?? 0) + 1;
    (requests[path] ??= []).push(new Headers(request.headers));
    const route = routes[path];
    if (route === undefined) return new Response("no such path", { status: 404 });
    const headers = new Headers(route.headers);
    headers.set("date", new Date(time.now).toUTCString());
    const etag = headers.get("etag");
    if (etag !== null && request.headers.get("if-none-match") === etag) {
      return new Response(null, { status: 304, headers });
    }
    return new Response(route.body ?? `body of ${path}`, { status: route.status ?? 200, headers });
  });
  const manager = new NetworkAccessManager({ cache, clock: time.clock, cookieJar: null });
  return {
    url: server.url,
    cache,
    hits,
    requests,
    manager,
    time,
    async get(path: string, init?: NetworkRequestInit) {
      const reply = manager.get(server.url + path, init);
      const redirected: string[] = [];
      reply.addEventListener("redirected", (event) => {
        const { from, url, status } = event as RedirectedEvent;
        redirected.push(`${status} ${from.href} ${url.href}`);
      });
      const text = await reply.text();
      await reply.finished;
      assert.equal(reply.error, NetworkError.NoError, reply.errorString);
      return {
        text,
        status: reply.status,
        url: reply.url.href,
        redirects: reply.redirects.map((url) => url.href),
        redirected,
        fromCache: reply.fromCache,
      };
    },
    async [Symbol.asyncDispose]() {
      await manager.close();
      await server.close();
      await cache.close();
    },
  };
}

const FRESH = { "cache-control": "max-age=3600" };
/** A `Last-Modified` long past: heuristic freshness, for the statuses that allow it. */
const LONG_AGO = { "last-modified": new Date(Date.UTC(2020, 0, 1)).toUTCString() };

Deno.test("cache layer answers a fresh redirect it stored while following it", async (t) => {
  for (const store of STORES) {
    for (const status of [301, 302, 303, 307, 308]) {
      await t.step(`${store}, ${status} with max-age`, async () => {
        await using env = await setup(store, {
          "/old": { status, headers: { location: "/new", ...FRESH } },
          "/new": { headers: FRESH },
        });
        const first = await env.get("/old");
        assert.equal(first.text, "body of /new");
        assert.equal(first.fromCache, false);
        assert.deepEqual(env.hits, { "/old": 1, "/new": 1 });
        env.time.advance(60_000);
        for (let i = 0; i < 2; i++) {
          const again = await env.get("/old");
          // No network request for either hop; the reply reads as the first one did.
          assert.deepEqual(env.hits, { "/old": 1, "/new": 1 });
          assert.equal(again.text, "body of /new");
          assert.equal(again.url, first.url);
          assert.deepEqual(again.redirects, first.redirects);
          assert.deepEqual(again.redirected, first.redirected);
          assert.deepEqual(again.redirects, [`${env.url}/new`]);
          assert.equal(again.fromCache, true);
        }
      });
    }
  }
});

Deno.test("cache layer answers a chain of stored redirects with no request", async (t) => {
  for (const store of STORES) {
    await t.step(store, async () => {
      await using env = await setup(store, {
        "/a": { status: 301, headers: { location: "/b", ...FRESH } },
        "/b": { status: 308, headers: { location: `/c?x=1`, ...LONG_AGO } },
        "/c": { headers: FRESH },
      });
      const first = await env.get("/a");
      const again = await env.get("/a");
      assert.deepEqual(env.hits, { "/a": 1, "/b": 1, "/c": 1 });
      assert.deepEqual(again.redirects, [`${env.url}/b`, `${env.url}/c?x=1`]);
      assert.deepEqual(again.redirects, first.redirects);
      assert.equal(again.url, first.url);
      assert.equal(again.text, "body of /c");
      assert.equal(again.fromCache, true);
    });
  }
});

Deno.test("cache layer answers a stored redirect and its target under always-cache", async (t) => {
  for (const store of STORES) {
    await t.step(store, async () => {
      await using env = await setup(store, {
        "/old": { status: 307, headers: { location: "/new", "cache-control": "max-age=60" } },
        "/new": { headers: { "cache-control": "max-age=60" } },
      });
      const first = await env.get("/old");
      // Stale by now: "always-cache" serves what is stored without asking.
      env.time.advance(600_000);
      const offline = await env.get("/old", { cacheLoadControl: "always-cache" });
      assert.deepEqual(env.hits, { "/old": 1, "/new": 1 });
      assert.equal(offline.text, "body of /new");
      assert.deepEqual(offline.redirects, first.redirects);
      assert.equal(offline.fromCache, true);
    });
  }
});

Deno.test("cache layer stores followed redirects by heuristic freshness only for 301 and 308", async (t) => {
  for (const store of STORES) {
    for (const status of [301, 302, 303, 307, 308]) {
      await t.step(`${store}, ${status} with Last-Modified only`, async () => {
        await using env = await setup(store, {
          "/old": { status, headers: { location: "/new", ...LONG_AGO } },
          "/new": { headers: FRESH },
        });
        await env.get("/old");
        const again = await env.get("/old");
        const heuristic = status === 301 || status === 308;
        assert.deepEqual(env.hits, { "/old": heuristic ? 1 : 2, "/new": 1 });
        assert.deepEqual(again.redirects, [`${env.url}/new`]);
        assert.equal(again.fromCache, true);
      });
    }
  }
});

Deno.test("cache layer stores the whole body of a redirect it followed", async (t) => {
  for (const store of STORES) {
    await t.step(store, async () => {
      const body = "<p>Moved to <a href=/new>/new</a></p>".repeat(200);
      await using env = await setup(store, {
        "/old": { status: 301, headers: { location: "/new", ...FRESH }, body },
        "/new": { headers: FRESH },
      });
      await env.get("/old");
      // Not followed, the stored redirect is the reply, with the body the origin sent.
      const manual = await env.get("/old", { redirectPolicy: "manual" });
      assert.deepEqual(env.hits, { "/old": 1, "/new": 1 });
      assert.equal(manual.status, 301);
      assert.equal(manual.fromCache, true);
      assert.equal(manual.text, body);
      assert.deepEqual(manual.redirects, []);
    });
  }
});

Deno.test("cache layer follows a redirect whose body is too long to store, storing nothing", async (t) => {
  for (const store of STORES) {
    await t.step(store, async () => {
      await using env = await setup(store, {
        "/old": { status: 301, headers: { location: "/new", ...FRESH }, body: "x".repeat(70_000) },
        "/new": { headers: FRESH },
      });
      await env.get("/old");
      const again = await env.get("/old");
      assert.equal(again.text, "body of /new");
      assert.deepEqual(env.hits, { "/old": 2, "/new": 1 });
      assert.equal(await env.cache.metaData(`${env.url}/old`), null);
    });
  }
});

Deno.test("cache layer follows a redirect whose body stalls, storing nothing", async () => {
  await using target = serve(() => new Response("the target"));
  let redirects = 0;
  await using origin = serveTcp(async (conn) => {
    await readHead(conn);
    redirects++;
    const head = `HTTP/1.1 301 Moved Permanently\r\nlocation: ${target.url}/new\r\n` +
      `cache-control: max-age=3600\r\ncontent-length: 100\r\n\r\n`;
    await conn.write(new TextEncoder().encode(head + "ten bytes."));
    // The other 90 bytes never come; the connection stays open until the client lets go.
    await conn.read(new Uint8Array(1));
  });
  const cache = new MemoryCache();
  await using manager = new NetworkAccessManager({ cache, cookieJar: null });
  for (let i = 1; i <= 2; i++) {
    const reply = manager.get(`${origin.url}/old`);
    assert.equal(await reply.text(), "the target");
    assert.deepEqual(reply.redirects.map((url) => url.href), [`${target.url}/new`]);
    assert.equal(redirects, i);
  }
  assert.equal(await cache.metaData(`${origin.url}/old`), null);
  await cache.close();
});

Deno.test("cache layer gives up a stalled redirect body within half the transfer timeout", async () => {
  await using target = serve(() => new Response("the target"));
  await using origin = serveTcp(async (conn) => {
    await readHead(conn);
    const head = `HTTP/1.1 301 Moved Permanently\r\nlocation: ${target.url}/new\r\n` +
      `cache-control: max-age=3600\r\ncontent-length: 100\r\n\r\n`;
    await conn.write(new TextEncoder().encode(head + "ten bytes."));
    await conn.read(new Uint8Array(1));
  });
  const cache = new MemoryCache();
  // Shorter than the half second the read waits otherwise: waiting that long would time out.
  await using manager = new NetworkAccessManager({ cache, cookieJar: null, transferTimeout: 200 });
  const reply = manager.get(`${origin.url}/old`);
  assert.equal(await reply.text(), "the target");
  assert.equal(reply.error, NetworkError.NoError, reply.errorString);
  assert.equal(await cache.metaData(`${origin.url}/old`), null);
  await cache.close();
});

Deno.test("cache layer revalidates a stale redirect before following it", async (t) => {
  for (const store of STORES) {
    await t.step(`${store}, with a validator`, async () => {
      await using env = await setup(store, {
        "/old": {
          status: 301,
          headers: { location: "/new", "cache-control": "max-age=60", etag: '"r1"' },
        },
        "/new": { headers: FRESH },
      });
      const first = await env.get("/old");
      env.time.advance(120_000);
      const again = await env.get("/old");
      assert.deepEqual(env.hits, { "/old": 2, "/new": 1 });
      assert.equal(env.requests["/old"]![1]!.get("if-none-match"), '"r1"');
      assert.deepEqual(again.redirects, first.redirects);
      assert.equal(again.url, first.url);
      assert.equal(again.text, "body of /new");
      assert.equal(again.fromCache, true);
      // The 304 made it fresh again.
      await env.get("/old");
      assert.deepEqual(env.hits, { "/old": 2, "/new": 1 });
    });
    await t.step(`${store}, without a validator`, async () => {
      await using env = await setup(store, {
        "/old": { status: 308, headers: { location: "/new", "cache-control": "max-age=60" } },
        "/new": { headers: FRESH },
      });
      await env.get("/old");
      await env.get("/old");
      assert.deepEqual(env.hits, { "/old": 1, "/new": 1 });
      env.time.advance(120_000);
      const stale = await env.get("/old");
      assert.deepEqual(env.hits, { "/old": 2, "/new": 1 });
      assert.equal(env.requests["/old"]![1]!.has("if-none-match"), false);
      assert.deepEqual(stale.redirects, [`${env.url}/new`]);
    });
  }
});

Deno.test("cache layer reports fromCache of the final response after redirects", async (t) => {
  for (const store of STORES) {
    await t.step(`${store}, stored redirect to a target that is not stored`, async () => {
      await using env = await setup(store, {
        "/old": { status: 301, headers: { location: "/new", ...FRESH } },
        "/new": { headers: { "cache-control": "no-store" } },
      });
      await env.get("/old");
      const again = await env.get("/old");
      assert.deepEqual(env.hits, { "/old": 1, "/new": 2 });
      assert.equal(again.fromCache, false);
      assert.deepEqual(again.redirects, [`${env.url}/new`]);
      assert.equal(again.url, `${env.url}/new`);
    });
    await t.step(`${store}, redirect not stored to a stored target`, async () => {
      await using env = await setup(store, {
        "/old": { status: 302, headers: { location: "/new" } },
        "/new": { headers: FRESH },
      });
      await env.get("/old");
      const again = await env.get("/old");
      assert.deepEqual(env.hits, { "/old": 2, "/new": 1 });
      assert.equal(again.fromCache, true);
    });
  }
});

Deno.test("cache layer keeps its rules for the redirects it follows", async (t) => {
  for (const store of STORES) {
    await t.step(`${store}, no-store in the response`, async () => {
      await using env = await setup(store, {
        "/old": { status: 301, headers: { location: "/new", "cache-control": "no-store" } },
        "/new": { headers: FRESH },
      });
      await env.get("/old");
      await env.get("/old");
      assert.deepEqual(env.hits, { "/old": 2, "/new": 1 });
    });
    await t.step(`${store}, no-store in the request`, async () => {
      await using env = await setup(store, {
        "/old": { status: 301, headers: { location: "/new", ...FRESH } },
        "/new": { headers: FRESH },
      });
      const init = { headers: { "cache-control": "no-store" } };
      await env.get("/old", init);
      await env.get("/old", init);
      await env.get("/old");
      assert.deepEqual(env.hits, { "/old": 3, "/new": 3 });
    });
    await t.step(`${store}, private (kept only by a private cache)`, async () => {
      await using env = await setup(store, {
        "/old": {
          status: 301,
          headers: { location: "/new", "cache-control": "private, max-age=3600" },
        },
        "/new": { headers: FRESH },
      });
      assert.equal(env.cache.mode, store === "memory" ? "private" : "shared");
      await env.get("/old");
      await env.get("/old");
      assert.deepEqual(env.hits, { "/old": store === "memory" ? 1 : 2, "/new": 1 });
    });
    await t.step(`${store}, Authorization (a shared cache needs public)`, async () => {
      await using env = await setup(store, {
        "/old": { status: 301, headers: { location: "/new", ...FRESH } },
        "/public": {
          status: 301,
          headers: { location: "/new", "cache-control": "public, max-age=3600" },
        },
        "/new": { headers: FRESH },
      });
      const init = { headers: { authorization: "Bearer token" } };
      for (const path of ["/old", "/old", "/public", "/public"]) await env.get(path, init);
      assert.equal(env.hits["/old"], store === "memory" ? 1 : 2);
      assert.equal(env.hits["/public"], 1);
    });
    await t.step(`${store}, Vary`, async () => {
      await using env = await setup(store, {
        "/old": {
          status: 301,
          headers: { location: "/new", vary: "accept-language", ...FRESH },
        },
        "/new": { headers: FRESH },
      });
      const english = { headers: { "accept-language": "en" } };
      const french = { headers: { "accept-language": "fr" } };
      await env.get("/old", english);
      await env.get("/old", english);
      assert.equal(env.hits["/old"], 1);
      await env.get("/old", french);
      assert.equal(env.hits["/old"], 2);
      await env.get("/old", french);
      await env.get("/old", english);
      assert.equal(env.hits["/old"], 2);
    });
  }
});

Deno.test("cache layer with redirects ends with no unhandled rejections", () => {
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("cache layer: the request after a followed redirect finds it stored, however slow the store", async () => {
  // A store whose commit of the redirect takes a while, as KV's may on a busy machine: the
  // redirect is followed before its body, read on to be stored, is committed.
  class SlowCache extends MemoryCache {
    override prepare(metaData: Parameters<MemoryCache["prepare"]>[0]) {
      const writer = super.prepare(metaData);
      if (metaData.status !== 301) return writer;
      const commit = writer.commit.bind(writer);
      writer.commit = async () => {
        await new Promise((resolve) => setTimeout(resolve, 100));
        return await commit();
      };
      return writer;
    }
  }
  const hits: Record<string, number> = {};
  const server = serve((request) => {
    const path = new URL(request.url).pathname;
    hits[path] = (hits[path] ?? 0) + 1;
    if (path === "/old") {
      return new Response("moved", { status: 301, headers: { location: "/new", ...FRESH } });
    }
    return new Response("new", { headers: FRESH });
  });
  const cache = new SlowCache();
  await using manager = new NetworkAccessManager({ cache, cookieJar: null });
  try {
    for (let i = 0; i < 2; i++) {
      const reply = manager.get(server.url + "/old");
      assert.equal(await reply.text(), "new");
    }
    assert.equal(hits["/old"], 1, "the second request was answered by the stored 301");
  } finally {
    await server.close();
  }
});
