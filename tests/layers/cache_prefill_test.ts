/**
 * Entries stored with the cache's own `insert()` and `prepare()` and no `policy`: the manager
 * serves them as the responses they store, received when they were stored.
 */

import assert from "node:assert/strict";
import { _variantKey } from "../../src/cache/_policy.ts";
import { NetworkError } from "../../src/network_error.ts";
import { cacheOrigin, START, STORES } from "../_helpers/cache_origin.ts";
import { guardUnhandledRejections } from "../_helpers/server.ts";

guardUnhandledRejections();

const encoder = new TextEncoder();

/** The origin's answer: a 304 to a request that validates `"v1"`, else a new body. */
function origin(request: Request): Response {
  if (request.headers.get("if-none-match") === '"v1"') {
    return new Response(null, {
      status: 304,
      headers: { etag: '"v1"', "cache-control": "max-age=100" },
    });
  }
  return new Response("network", { headers: { "cache-control": "no-store" } });
}

Deno.test("cache layer serves an entry inserted without a policy, in every cacheLoadControl mode", async (t) => {
  for (const store of STORES) {
    await t.step(store, async () => {
      await using env = await cacheOrigin(origin, { store });
      const url = env.url + "/pre";
      await env.cache.insert(
        { url, status: 200, headers: { "cache-control": "max-age=100", etag: '"v1"' } },
        [encoder.encode("prefilled")],
      );
      env.advance(30);
      for (const cacheLoadControl of ["always-cache", "prefer-cache", "prefer-network"] as const) {
        const { reply, text } = await env.get("/pre", { cacheLoadControl });
        assert.equal(
          reply.error,
          NetworkError.NoError,
          `${cacheLoadControl}: ${reply.errorString}`,
        );
        assert.equal(text, "prefilled", cacheLoadControl);
        assert.equal(reply.fromCache, true, cacheLoadControl);
        // Its age counts from when the store stored it.
        assert.equal(reply.headers.get("age"), "30", cacheLoadControl);
      }
      assert.equal(env.seen.length, 0, "a fresh entry is served without the network");
      assert.ok(await env.cache.metaData(url), "the lookups keep the entry");
      const network = await env.get("/pre", { cacheLoadControl: "always-network" });
      assert.equal(network.text, "network");
      assert.equal(env.seen.length, 1);
    });
  }
});

Deno.test("cache layer revalidates a stale entry written through prepare() without a policy", async (t) => {
  for (const store of STORES) {
    await t.step(store, async () => {
      await using env = await cacheOrigin(origin, { store });
      const url = env.url + "/pre";
      await using writer = env.cache.prepare({
        url,
        status: 200,
        headers: { "cache-control": "max-age=100", etag: '"v1"' },
      });
      await writer.write(encoder.encode("prefilled"));
      assert.equal(await writer.commit(), true);
      env.advance(150);
      // Stale: prefer-cache serves it as it is, prefer-network asks with its validator.
      const stale = await env.get("/pre", { cacheLoadControl: "prefer-cache" });
      assert.equal(stale.text, "prefilled");
      assert.equal(stale.reply.headers.get("age"), "150");
      assert.equal(env.seen.length, 0);
      const revalidated = await env.get("/pre");
      assert.equal(revalidated.text, "prefilled");
      assert.equal(revalidated.reply.status, 200);
      assert.equal(env.seen.length, 1);
      assert.equal(env.seen[0]!.headers.get("if-none-match"), '"v1"');
      // The 304's max-age now governs.
      env.advance(50);
      const fresh = await env.get("/pre");
      assert.equal(fresh.text, "prefilled");
      assert.equal(fresh.reply.fromCache, true);
      assert.equal(env.seen.length, 1);
    });
  }
});

Deno.test("cache layer reads an inserted entry's Expires against its Date", async () => {
  await using env = await cacheOrigin(origin);
  const url = env.url + "/pre";
  const headers = {
    date: new Date(START).toUTCString(),
    expires: new Date(START + 60_000).toUTCString(),
  };
  await env.cache.insert({ url, status: 200, headers }, [encoder.encode("prefilled")]);
  env.advance(40);
  assert.equal((await env.get("/pre")).text, "prefilled");
  assert.equal(env.seen.length, 0);
  env.advance(40);
  assert.equal((await env.get("/pre")).text, "network", "stale after its Expires");
  assert.equal(env.seen.length, 1);
});

Deno.test("cache layer selects an inserted Vary variant by the request's fields", async () => {
  await using env = await cacheOrigin(origin);
  const url = env.url + "/pre";
  for (const language of ["en", "de"]) {
    const variant = _variantKey("accept-language", new Headers({ "accept-language": language }));
    await env.cache.insert({
      url,
      variant: variant!,
      status: 200,
      headers: { "cache-control": "max-age=100", vary: "accept-language" },
    }, [encoder.encode(`prefilled ${language}`)]);
  }
  for (const language of ["de", "en"]) {
    const { reply, text } = await env.get("/pre", { headers: { "accept-language": language } });
    assert.equal(text, `prefilled ${language}`);
    assert.equal(reply.fromCache, true);
  }
  assert.equal(env.seen.length, 0);
});

Deno.test("cache layer takes an entry without a storing time as received at its Date", async () => {
  await using env = await cacheOrigin(origin);
  const url = env.url + "/pre";
  const headers = { "cache-control": "max-age=100", date: new Date(START - 40_000).toUTCString() };
  await env.cache.insert({ url, status: 200, headers }, [encoder.encode("prefilled")]);
  // A store of an application's own that keeps no time.
  const inner = env.cache;
  const timeless = new Proxy(inner, {
    get(target, name) {
      if (name === "metaData") {
        return async (u: string) => {
          const entry = await target.metaData(u);
          return entry && { ...entry, storedAt: Number.NaN };
        };
      }
      const value = Reflect.get(target, name);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  env.manager.cache = timeless;
  env.advance(10);
  const { reply, text } = await env.get("/pre");
  assert.equal(text, "prefilled");
  assert.equal(reply.headers.get("age"), "50");
});
