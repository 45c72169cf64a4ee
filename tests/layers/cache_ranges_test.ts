/**
 * The cache layer and byte ranges: one range of a stored complete response is answered `206`
 * from the cache, what it cannot answer goes to the origin, and a `206` is never stored.
 */

import { strict as assert } from "node:assert";
import type { NetworkRequestInit } from "../../src/request.ts";
import { guardUnhandledRejections, takeUnhandledRejections } from "../_helpers/server.ts";
import { cacheOrigin, STORES } from "../_helpers/cache_origin.ts";

guardUnhandledRejections();

/** A clock, a store on it, a manager on both, and an origin that records what it was sent. */
async function setup(
  store: "memory" | "kv",
  handler: (request: Request, count: number) => Response | Promise<Response>,
) {
  const env = await cacheOrigin(handler, { store });
  const { get } = env;
  return Object.assign(env, { get: (init?: NetworkRequestInit) => get("/file", init) });
}

/** An origin that sends `body` with `headers`, and honours a single `Range` itself. */
function origin(body: string, headers: Record<string, string> = { "cache-control": "max-age=60" }) {
  return (request: Request, count: number) => {
    const range = /^bytes=(\d+)-(\d+)$/.exec(request.headers.get("range") ?? "");
    if (range) {
      const [first, last] = [Number(range[1]), Number(range[2])];
      return new Response(`origin ${count}: ${body.slice(first, last + 1)}`, {
        status: 206,
        headers: { ...headers, "content-range": `bytes ${first}-${last}/${body.length}` },
      });
    }
    return new Response(body, { headers });
  };
}

const range = (value: string, init: NetworkRequestInit = {}): NetworkRequestInit => ({
  ...init,
  headers: { ...init.headers as Record<string, string>, range: value },
});

Deno.test("cache layer answers one byte range of a stored complete response with a 206", async (t) => {
  for (const store of STORES) {
    await t.step(store, async () => {
      await using env = await setup(store, origin("0123456789A"));
      await env.get();
      for (
        const [value, text, contentRange] of [
          ["bytes=0-1", "01", "bytes 0-1/11"],
          ["bytes=1-", "123456789A", "bytes 1-10/11"],
          ["bytes=-1", "A", "bytes 10-10/11"],
          ["bytes=5-100", "56789A", "bytes 5-10/11"],
          ["bytes=-50", "0123456789A", "bytes 0-10/11"],
          ["BYTES = 2 - 3", "23", "bytes 2-3/11"],
        ]
      ) {
        const { reply, text: got } = await env.get(range(value!));
        assert.equal(reply.status, 206, value);
        assert.equal(got, text, value);
        assert.equal(reply.headers.get("content-range"), contentRange, value);
        assert.equal(reply.headers.get("content-length"), String(text!.length), value);
        assert.equal(reply.fromCache, true, value);
      }
      assert.equal(env.seen.length, 1, "only the first request reached the origin");
    });
  }
});

Deno.test("cache layer slices a range across the chunks of a large stored body", async (t) => {
  const body = Array.from({ length: 30_000 }, (_, i) => String(i % 10)).join("").repeat(5);
  for (const store of STORES) {
    await t.step(store, async () => {
      await using env = await setup(store, origin(body));
      await env.get();
      const { reply, text } = await env.get(range("bytes=65000-131100"));
      assert.equal(reply.status, 206);
      assert.equal(text.length, 66101);
      assert.ok(text === body.slice(65000, 131101), "the bytes 65000 to 131100 of the body");
      assert.equal(env.seen.length, 1);
    });
  }
});

Deno.test("cache layer leaves to the origin the ranges it cannot answer from the cache", async (t) => {
  for (const store of STORES) {
    await t.step(`${store}: several ranges, past the end, If-Range, no-store`, async () => {
      await using env = await setup(store, origin("0123456789A"));
      await env.get();
      const cases: NetworkRequestInit[] = [
        range("bytes=0-1,3-4"),
        range("bytes=20-"),
        range("items=0-1"),
        range("bytes=0-1", { headers: { "if-range": '"x"' } }),
        range("bytes=0-1", { headers: { "cache-control": "no-store" } }),
      ];
      for (const [i, init] of cases.entries()) {
        const { reply } = await env.get(init);
        assert.equal(reply.fromCache, false, JSON.stringify(init.headers));
        assert.equal(env.seen.length, i + 2);
        assert.equal(
          env.seen.at(-1)!.headers.get("range"),
          (init.headers as Record<string, string>).range,
        );
      }
      const full = await env.get();
      assert.equal(full.text, "0123456789A", "the stored response is still the complete one");
      assert.equal(full.reply.fromCache, true);
    });
    await t.step(`${store}: a stale response, unless "prefer-cache"`, async () => {
      await using env = await setup(store, origin("0123456789A"));
      await env.get();
      env.advance(120);
      const stale = await env.get(range("bytes=0-1"));
      assert.equal(stale.text, "origin 2: 01");
      assert.equal(stale.reply.fromCache, false);
      const preferred = await env.get(range("bytes=0-1", { cacheLoadControl: "prefer-cache" }));
      assert.equal(preferred.text, "01");
      assert.equal(preferred.reply.fromCache, true);
      assert.equal(env.seen.length, 2);
    });
    await t.step(`${store}: a coded body (stored decoded; ranges count coded bytes)`, async () => {
      const coded = new Uint8Array(
        await new Response(
          new Blob(["0123456789A"]).stream().pipeThrough(new CompressionStream("gzip")),
        ).arrayBuffer(),
      );
      await using env = await setup(
        store,
        (request) =>
          request.headers.has("range")
            ? new Response("from the origin", { status: 206 })
            : new Response(coded, {
              headers: { "cache-control": "max-age=60", "content-encoding": "gzip" },
            }),
      );
      assert.equal((await env.get()).text, "0123456789A");
      const ranged = await env.get(range("bytes=0-1"));
      assert.equal(ranged.text, "from the origin");
      assert.equal(env.seen.length, 2);
    });
  }
});

Deno.test("cache layer never stores a 206 as the full response", async (t) => {
  for (const store of STORES) {
    await t.step(`${store}: the answer to a range request`, async () => {
      await using env = await setup(store, origin("0123456789A"));
      const partial = await env.get(range("bytes=0-1"));
      assert.equal(partial.reply.status, 206);
      assert.equal(await env.cache.cacheSize(), 0);
      const full = await env.get();
      assert.equal(full.reply.status, 200);
      assert.equal(full.text, "0123456789A");
      assert.equal(full.reply.fromCache, false);
    });
    await t.step(`${store}: a 206 the origin sent unasked`, async () => {
      await using env = await setup(store, (_, n) =>
        new Response(`part ${n}`, {
          status: 206,
          headers: { "cache-control": "max-age=60", "content-range": "bytes 0-5/100" },
        }));
      await env.get();
      const second = await env.get();
      assert.equal(second.text, "part 2");
      assert.equal(second.reply.fromCache, false);
      assert.equal(await env.cache.cacheSize(), 0);
    });
  }
});

Deno.test("cache layer ranges end with no unhandled rejections", () => {
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("cache layer: a range or conditional request with only-if-cached never reaches the network", async (t) => {
  for (const store of STORES) {
    await t.step(store, async () => {
      await using env = await setup(store, origin("0123456789A"));
      const onlyIfCached = { "cache-control": "only-if-cached" };
      for (
        const headers of [
          { ...onlyIfCached, range: "bytes=0-1" },
          { ...onlyIfCached, "if-none-match": '"a"' },
        ]
      ) {
        const { reply } = await env.get({ headers });
        assert.equal(reply.status, 504, JSON.stringify(headers));
        assert.equal(reply.fromCache, true);
      }
      assert.equal(env.seen.length, 0);
      await env.get();
      const ranged = await env.get(range("bytes=0-1", { headers: onlyIfCached }));
      assert.equal(ranged.reply.status, 206);
      assert.equal(ranged.text, "01");
      assert.equal(env.seen.length, 1);
    });
  }
});
