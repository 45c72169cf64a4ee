import assert from "node:assert/strict";
import {
  type CacheMode,
  KvCache,
  MemoryCache,
  NetworkAccessManager,
  NetworkRequest,
} from "../../mod.ts";
import { sharedStateOrigin } from "../_helpers/shared_state_origin.ts";
import { serve } from "../_helpers/server.ts";

type RequestKind = "plain" | "authorization" | "cookie" | "url credentials";

/** [request, response Cache-Control, stored by a shared cache, stored by a private cache] */
const CASES: [RequestKind, string, boolean, boolean][] = [
  ["plain", "max-age=60", true, true],
  ["plain", "private, max-age=60", false, true],
  ["plain", "max-age=0, s-maxage=60", true, false],
  ["authorization", "max-age=60", false, true],
  ["authorization", "public, max-age=60", true, true],
  ["authorization", "s-maxage=60", true, false],
  ["authorization", "must-revalidate, max-age=60", true, true],
  ["cookie", "max-age=60", false, true],
  ["cookie", "must-revalidate, max-age=60", false, true],
  ["cookie", "public, max-age=60", true, true],
  ["cookie", "s-maxage=60", true, false],
  ["url credentials", "max-age=60", false, true],
  ["url credentials", "public, max-age=60", true, true],
  ["plain", "max-age=60, proxy-revalidate", true, true],
];

function request(origin: string, kind: RequestKind, cc: string): NetworkRequest {
  let url = `${origin}/doc?cc=${encodeURIComponent(cc)}&kind=${encodeURIComponent(kind)}`;
  const headers = new Headers();
  if (kind === "authorization") headers.set("authorization", `Basic ${btoa("alice:pw")}`);
  if (kind === "cookie") headers.set("cookie", "session=alice");
  if (kind === "url credentials") url = url.replace("://", "://alice:pw@");
  return new NetworkRequest(url, { headers });
}

Deno.test("a shared cache stores only what RFC 9111 and Varnish's rule let it share; a private one stores for its user", async (t) => {
  for (const mode of ["shared", "private"] as const) {
    for (const [kind, cc, shared, own] of CASES) {
      const expected = mode === "shared" ? shared : own;
      await t.step(`${mode}: ${kind}, ${cc}: ${expected ? "stored" : "not stored"}`, async () => {
        await using origin = sharedStateOrigin();
        await using manager = new NetworkAccessManager({
          cache: new MemoryCache({ mode }),
          cookieJar: null,
        });
        await manager.get(request(origin.url, kind, cc)).text();
        const again = manager.get(request(origin.url, kind, cc));
        await again.text();
        assert.equal(again.fromCache, expected);
      });
    }
  }
});

Deno.test("a shared cache revalidates a stale proxy-revalidate response; a private one may serve it stale", async (t) => {
  for (const mode of ["shared", "private"] as const) {
    await t.step(mode, async () => {
      let now = Date.parse("2030-01-01T00:00:00Z");
      const clock = () => now;
      await using origin = sharedStateOrigin();
      await using manager = new NetworkAccessManager({
        cache: new MemoryCache({ mode, clock }),
        cookieJar: null,
        clock,
      });
      const url = `${origin.url}/doc?cc=${
        encodeURIComponent("max-age=10, proxy-revalidate, stale-while-revalidate=60")
      }`;
      await manager.get(url).text();
      const fresh = manager.get(url);
      await fresh.text();
      assert.equal(fresh.fromCache, true, "fresh: served from the cache in both modes");
      now += 20_000;
      const stale = manager.get(url);
      await stale.text();
      assert.equal(stale.fromCache, mode === "private");
    });
  }
});

Deno.test("cache stores take a mode: KvCache defaults to shared, MemoryCache to private; a bad mode names itself", async () => {
  await using kv = await KvCache.open({ path: ":memory:" });
  assert.equal(kv.mode, "shared");
  await using privateKv = await KvCache.open({ path: ":memory:", mode: "private" });
  assert.equal(privateKv.mode, "private");
  assert.equal(new MemoryCache().mode, "private");
  assert.equal(new MemoryCache({ mode: "shared" }).mode, "shared");
  assert.throws(() => new MemoryCache({ mode: "public" as CacheMode }), {
    name: "TypeError",
    message: `Cannot create cache: 'mode' must be "shared" or "private", got "public"`,
  });
  await assert.rejects(() => KvCache.open({ path: ":memory:", mode: 1 as never }), {
    name: "TypeError",
    message: `Cannot open cache: 'mode' must be "shared" or "private", got 1`,
  });
});

Deno.test("a store that does not say its mode is treated as a shared cache", async () => {
  await using origin = sharedStateOrigin();
  const store = new MemoryCache();
  const unsaid = new Proxy(store, {
    get: (target, key) => {
      if (key === "mode") return undefined;
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  await using manager = new NetworkAccessManager({ cache: unsaid, cookieJar: null });
  const url = `${origin.url}/doc?cc=${encodeURIComponent("private, max-age=60")}`;
  await manager.get(url).text();
  const again = manager.get(url);
  await again.text();
  assert.equal(again.fromCache, false);
  await store.close();
});

Deno.test("a shared cache answers a request's own If-None-Match or If-Modified-Since from a fresh stored response; a private one passes it on", async (t) => {
  for (const mode of ["shared", "private"] as const) {
    await t.step(mode, async () => {
      let hits = 0;
      const lastModified = "Mon, 01 Jan 2029 00:00:00 GMT";
      await using server = serve(() => {
        hits++;
        return new Response("body", {
          headers: { "cache-control": "max-age=60", etag: 'W/"v1"', "last-modified": lastModified },
        });
      });
      await using manager = new NetworkAccessManager({
        cache: new MemoryCache({ mode }),
        cookieJar: null,
      });
      await manager.get(`${server.url}/doc`).text();
      const cases: [Record<string, string>, number][] = [
        [{ "if-none-match": '"v1"' }, 304],
        [{ "if-none-match": '"other", W/"v1"' }, 304],
        [{ "if-none-match": "*" }, 304],
        [{ "if-modified-since": lastModified }, 304],
        [{ "if-none-match": '"v2"' }, 200],
        [{ "if-none-match": '"v2"', "if-modified-since": lastModified }, 200],
        [{ "if-modified-since": "Sun, 31 Dec 2028 00:00:00 GMT" }, 200],
        [{ "if-match": '"v1"' }, 200],
      ];
      for (const [headers, status] of cases) {
        const before = hits;
        const reply = manager.get(new NetworkRequest(`${server.url}/doc`, { headers }));
        await reply.text();
        const fromCache = mode === "shared" && status === 304;
        assert.equal(reply.fromCache, fromCache, JSON.stringify(headers));
        assert.equal(hits - before, fromCache ? 0 : 1, JSON.stringify(headers));
        if (fromCache) {
          assert.equal(reply.status, 304);
          assert.equal(reply.headers.get("etag"), 'W/"v1"');
        }
      }
    });
  }
});

Deno.test("a response that varies on Cookie or Authorization is stored without the cookie or token in clear", async () => {
  await using kv = await Deno.openKv(":memory:");
  await using cache = await KvCache.open({ kv, mode: "private" });
  let hits = 0;
  await using server = serve((request) => {
    hits++;
    return new Response(`for ${request.headers.get("cookie")}`, {
      headers: { "cache-control": "max-age=60", vary: "Cookie, Authorization" },
    });
  });
  await using manager = new NetworkAccessManager({ cache, cookieJar: null });
  const get = async (cookie: string) => {
    const headers = { cookie, authorization: "Bearer token-of-alice-123" };
    const reply = manager.get(new NetworkRequest(`${server.url}/doc`, { headers }));
    return { body: await reply.text(), fromCache: reply.fromCache };
  };
  assert.deepEqual(await get("session=alice-secret-cookie"), {
    body: "for session=alice-secret-cookie",
    fromCache: false,
  });
  assert.deepEqual(await get("session=alice-secret-cookie"), {
    body: "for session=alice-secret-cookie",
    fromCache: true,
  });
  assert.deepEqual(await get("session=bob"), { body: "for session=bob", fromCache: false });
  assert.equal(hits, 2);
  const stored = Deno.inspect(await Array.fromAsync(kv.list({ prefix: [] })), {
    depth: 20,
    iterableLimit: 1000,
    strAbbreviateSize: 100_000,
  });
  assert.match(stored, /sha-256:/);
  assert.doesNotMatch(stored, /alice-secret-cookie|token-of-alice-123/);
});

/** [stored validators, 304 validators, whether the 304 validates the stored response] */
const VALIDATIONS: [Record<string, string>, Record<string, string>, boolean][] = [
  [{ etag: '"A"' }, { etag: '"A"' }, true],
  [{ etag: '"A"' }, { etag: '"B"' }, false],
  [{ etag: 'W/"A"' }, { etag: '"A"' }, false],
  [{ etag: 'W/"A"' }, { etag: 'W/"A"' }, true],
  [{ etag: '"A"' }, { etag: 'W/"A"' }, true],
  [{ etag: 'W/"A"' }, { etag: 'W/"B"' }, false],
  [{ "last-modified": "Mon, 01 Jan 2029 00:00:00 GMT" }, {
    "last-modified": "Mon, 01 Jan 2029 00:00:00 GMT",
  }, true],
  [{ "last-modified": "Mon, 01 Jan 2029 00:00:00 GMT" }, {
    "last-modified": "Tue, 02 Jan 2029 00:00:00 GMT",
  }, false],
  [{ etag: '"A"' }, { "last-modified": "Mon, 01 Jan 2029 00:00:00 GMT" }, false],
  [{ etag: '"A"' }, {}, true],
];

Deno.test("a 304 updates and serves the stored response only when its validator is the stored one's (RFC 9111 section 4.3.4); else the request goes again without conditionals", async (t) => {
  for (const mode of ["shared", "private"] as const) {
    for (const [stored, validators, validates] of VALIDATIONS) {
      const label = `${mode}: stored ${JSON.stringify(stored)}, 304 ${JSON.stringify(validators)}`;
      await t.step(label, async () => {
        let now = Date.parse("2030-01-01T00:00:00Z");
        const clock = () => now;
        const conditionals: (string | null)[] = [];
        let full = 0;
        await using server = serve((request) => {
          const conditional = request.headers.get("if-none-match") ??
            request.headers.get("if-modified-since");
          conditionals.push(conditional);
          if (conditional !== null) {
            return new Response(null, {
              status: 304,
              headers: { ...validators, "cache-control": "max-age=100", "x-from": "304" },
            });
          }
          full++;
          return new Response(`body ${full}`, {
            headers: { ...stored, "cache-control": "max-age=1", "x-from": `200 #${full}` },
          });
        });
        await using manager = new NetworkAccessManager({
          cache: new MemoryCache({ mode, clock }),
          cookieJar: null,
          clock,
        });
        const url = `${server.url}/r`;
        assert.equal(await manager.get(url).text(), "body 1");
        now += 5_000;
        const revalidated = manager.get(url);
        const body = await revalidated.text();
        if (validates) {
          assert.equal(body, "body 1");
          assert.equal(revalidated.fromCache, true);
          assert.equal(revalidated.headers.get("x-from"), "304");
          assert.equal(conditionals.length, 2);
        } else {
          assert.equal(body, "body 2", "the response to the unconditional request answers");
          assert.equal(revalidated.fromCache, false);
          assert.equal(revalidated.headers.get("x-from"), "200 #2");
          assert.deepEqual(conditionals.slice(1).map((c) => c !== null), [true, false]);
        }
        // What is stored now is fresh: the updated response, or the one fetched again.
        const next = manager.get(url);
        assert.equal(await next.text(), validates ? "body 1" : "body 2");
        assert.equal(next.fromCache, true);
        assert.equal(next.headers.get("x-from"), validates ? "304" : "200 #2");
      });
    }
  }
});

Deno.test("a background revalidation's 304 whose ETag is not the stored one's leaves the stored response as it was", async () => {
  let now = Date.parse("2030-01-01T00:00:00Z");
  const clock = () => now;
  let revalidations = 0;
  await using server = serve((request) => {
    if (request.headers.has("if-none-match")) {
      revalidations++;
      return new Response(null, {
        status: 304,
        headers: { etag: '"B"', "cache-control": "max-age=100", "x-from": "304" },
      });
    }
    return new Response("body A", {
      headers: { etag: '"A"', "cache-control": "max-age=1, stale-while-revalidate=60" },
    });
  });
  const cache = new MemoryCache({ clock });
  await using manager = new NetworkAccessManager({ cache, cookieJar: null, clock });
  const url = `${server.url}/r`;
  await manager.get(url).text();
  now += 5_000;
  const stale = manager.get(url);
  assert.equal(await stale.text(), "body A");
  assert.equal(stale.fromCache, true);
  while (revalidations === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  await new Promise((resolve) => setTimeout(resolve, 50));
  const entry = await cache.metaData(url);
  assert.deepEqual(entry?.headers.find(([name]) => name === "etag"), ["etag", '"A"']);
  assert.equal(entry?.headers.some(([name]) => name === "x-from"), false);
});
