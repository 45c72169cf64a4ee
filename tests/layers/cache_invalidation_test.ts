/**
 * The cache layer's rules a user meets most: a successful unsafe request invalidates what it
 * changed (RFC 9111 section 4.4), `Vary: *` is never served, and a request's `no-store` keeps the
 * cache out of it.
 */

import { strict as assert } from "node:assert";
import { guardUnhandledRejections, serve, takeUnhandledRejections } from "../_helpers/server.ts";
import { cacheOrigin, STORES } from "../_helpers/cache_origin.ts";

guardUnhandledRejections();

/** A clock, a store on it, a manager on both, and an origin that counts requests. */
const setup = (
  store: "memory" | "kv",
  handler: (request: Request, count: number) => Response | Promise<Response>,
) => cacheOrigin(handler, { store });

const cached = (request: Request, n: number) =>
  new Response(`${new URL(request.url).pathname} v${n}`, {
    headers: { "cache-control": "max-age=600" },
  });

Deno.test("cache layer invalidates the URL, Location and Content-Location after a PUT, DELETE or PATCH", async (t) => {
  for (const store of STORES) {
    for (const verb of ["PUT", "DELETE", "PATCH", "POST"]) {
      await t.step(`${store}, ${verb}`, async () => {
        await using env = await setup(
          store,
          (request, n) =>
            request.method === verb
              ? new Response(null, {
                status: 204,
                headers: { location: "/created", "content-location": "/described" },
              })
              : cached(request, n),
        );
        for (const path of ["/items", "/created", "/described", "/other"]) await env.get(path);
        const unsafe = await env.send(verb, "/items");
        assert.equal(unsafe.reply.status, 204);
        for (const path of ["/items", "/created", "/described"]) {
          assert.equal((await env.get(path)).reply.fromCache, false, `${path} after ${verb}`);
        }
        assert.equal((await env.get("/other")).reply.fromCache, true, "other URLs stay");
      });
    }
  }
});

Deno.test("cache layer invalidates every Vary variant of the URL after a successful POST", async () => {
  await using env = await setup(
    "memory",
    (request, n) =>
      request.method === "POST" ? new Response("done") : new Response(`v${n}`, {
        headers: { "cache-control": "max-age=600", vary: "accept-language" },
      }),
  );
  for (const lang of ["en", "fr"]) await env.get("/", { headers: { "accept-language": lang } });
  assert.equal((await env.cache.variants(env.url + "/")).length, 2);
  await env.send("POST", "/");
  assert.equal((await env.cache.variants(env.url + "/")).length, 0);
  for (const lang of ["en", "fr"]) {
    const again = await env.get("/", { headers: { "accept-language": lang } });
    assert.equal(again.reply.fromCache, false, lang);
  }
});

Deno.test("cache layer keeps entries after an unsafe request that failed, or a Location on another origin", async (t) => {
  for (const store of STORES) {
    await t.step(`${store}: 4xx and 5xx answers`, async () => {
      for (const status of [400, 409, 500, 503]) {
        await using env = await setup(
          store,
          (request, n) =>
            request.method === "PUT" ? new Response("no", { status }) : cached(request, n),
        );
        await env.get("/items");
        await env.send("PUT", "/items");
        assert.equal((await env.get("/items")).reply.fromCache, true, String(status));
      }
    });
    await t.step(`${store}: Location and Content-Location on another origin`, async () => {
      await using other = serve((request) => cached(request, 1));
      await using env = await setup(
        store,
        (request, n) =>
          request.method === "POST"
            ? new Response("ok", {
              status: 201,
              headers: { location: `${other.url}/x`, "content-location": `${other.url}/y` },
            })
            : cached(request, n),
      );
      for (const path of ["/x", "/y"]) {
        const first = await env.manager.get(other.url + path).text();
        assert.ok(first.startsWith(path));
      }
      await env.send("POST", "/items");
      for (const path of ["/x", "/y"]) {
        const reply = env.manager.get(other.url + path);
        await reply.text();
        await reply.finished;
        assert.equal(reply.fromCache, true, `${path} on another origin stays`);
      }
    });
  }
});

Deno.test("cache layer never serves a response with Vary: *", async (t) => {
  for (const store of STORES) {
    await t.step(`${store}: not even under "prefer-cache" or "always-cache"`, async () => {
      await using env = await setup(
        store,
        (_, n) => new Response(`v${n}`, { headers: { "cache-control": "max-age=600", vary: "*" } }),
      );
      await env.get();
      const preferred = await env.get("/", { cacheLoadControl: "prefer-cache" });
      assert.equal(preferred.text, "v2");
      assert.equal(preferred.reply.fromCache, false);
      const only = await env.get("/", { cacheLoadControl: "always-cache" });
      assert.equal(only.reply.fromCache, false);
      assert.notEqual(only.reply.error, 0, "always-cache finds nothing to serve");
      assert.equal(env.seen.length, 2);
    });
    await t.step(`${store}: a 304 that adds Vary: * to a stored response`, async () => {
      await using env = await setup(
        store,
        (request, n) =>
          request.headers.has("if-none-match")
            ? new Response(null, {
              status: 304,
              headers: { etag: '"a"', "cache-control": "max-age=600", vary: "*" },
            })
            : new Response(`v${n}`, { headers: { etag: '"a"', "cache-control": "max-age=10" } }),
      );
      await env.get();
      env.advance(20);
      const revalidated = await env.get();
      assert.equal(revalidated.text, "v1", "the 304 itself confirms the stored body");
      const next = await env.get();
      assert.equal(next.reply.fromCache, false, "a stored Vary: * is never selected");
      assert.equal(env.seen.length, 3);
    });
  }
});

Deno.test("cache layer: a request's Cache-Control no-store neither reads nor writes the cache", async (t) => {
  for (const store of STORES) {
    await t.step(store, async () => {
      await using env = await setup(store, cached);
      const noStore = { headers: { "cache-control": "no-store" } };
      const first = await env.get("/", noStore);
      assert.equal(first.reply.fromCache, false);
      assert.equal(await env.cache.cacheSize(), 0, "nothing stored");
      await env.get();
      const bypass = await env.get("/", noStore);
      assert.equal(bypass.text, "/ v3");
      assert.equal(bypass.reply.fromCache, false, "the fresh stored response is not read");
      const after = await env.get();
      assert.equal(after.text, "/ v2", "nor replaced");
      assert.equal(after.reply.fromCache, true);
    });
  }
});

Deno.test("cache layer invalidation ends with no unhandled rejections", () => {
  assert.deepEqual(takeUnhandledRejections(), []);
});
