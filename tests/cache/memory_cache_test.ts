import assert from "node:assert/strict";
import { MemoryCache } from "../../src/cache/memory_cache.ts";
import { NetworkAccessManager } from "../../src/manager.ts";
import { NetworkError, type NetworkReplyError } from "../../src/network_error.ts";
import type { CacheLoadControl } from "../../src/request.ts";
import { corruptPolicies } from "../_helpers/cache_patterns.ts";
import { cacheStoreSuite, pattern } from "../_helpers/cache_store_suite.ts";
import { serve } from "../_helpers/server.ts";

// deno-lint-ignore require-await
cacheStoreSuite("MemoryCache", async (options) => new MemoryCache(options));

Deno.test("MemoryCache defaults to a 50 MiB maxSize", async () => {
  await using cache = new MemoryCache();
  assert.equal(cache.maxSize, 50 * 1024 * 1024);
});

Deno.test("MemoryCache hands out copies, so a reader cannot change a stored body", async () => {
  await using cache = new MemoryCache();
  await cache.insert({ url: "https://example.com/", status: 200, headers: {} }, [pattern(1, 8)]);
  const entry = (await cache.metaData("https://example.com/"))!;
  for await (const chunk of (await cache.body(entry))!) chunk.fill(0);
  const again = new Uint8Array(await new Response(await cache.body(entry)).arrayBuffer());
  assert.deepEqual(again, pattern(1, 8));
});

/** Requests that read a stored response: [label, headers, cache load control]. */
const READS: [string, Record<string, string>, CacheLoadControl, string?][] = [
  ["GET", {}, "prefer-network"],
  ["GET, prefer-cache", {}, "prefer-cache"],
  ["HEAD", {}, "prefer-network", "HEAD"],
  ["GET of a byte range", { range: "bytes=0-1" }, "prefer-network"],
  ["If-None-Match (answered by a shared cache)", { "if-none-match": '"A"' }, "prefer-network"],
  ["only-if-cached", { "cache-control": "only-if-cached" }, "prefer-network"],
  ["GET, always-cache", {}, "always-cache"],
];

Deno.test("MemoryCache: an entry whose stored policy the cache cannot read is a miss for every request that reads it, and is removed", async (t) => {
  await using server = serve((request) =>
    new URL(request.url).pathname === "/valid"
      ? new Response("valid", { headers: { "cache-control": "max-age=100" } })
      : new Response(request.method === "HEAD" ? null : "network", {
        headers: { "cache-control": "no-store" },
      })
  );
  await using cache = new MemoryCache({ mode: "shared" });
  await using manager = new NetworkAccessManager({ cache, cookieJar: null });
  await manager.get(`${server.url}/valid`).text();
  const valid = JSON.parse(JSON.stringify((await cache.metaData(`${server.url}/valid`))!.policy));
  const url = `${server.url}/r`;
  for (const [label, policy] of corruptPolicies(valid)) {
    for (const [read, headers, cacheLoadControl, method = "GET"] of READS) {
      await t.step(`${label}: ${read}`, async () => {
        await cache.insert({
          url,
          status: 200,
          headers: { "cache-control": "max-age=100", etag: '"A"' },
          policy,
        }, [new TextEncoder().encode("stored")]);
        const init = { headers, cacheLoadControl };
        const reply = method === "HEAD" ? manager.head(url, init) : manager.get(url, init);
        if (cacheLoadControl === "always-cache") {
          await assert.rejects(reply.text(), (error: NetworkReplyError) => {
            assert.equal(error.code, NetworkError.ContentNotFoundError, error.message);
            return true;
          });
        } else if (headers["cache-control"] === "only-if-cached") {
          await reply.finished;
          assert.equal(reply.status, 504, reply.errorString);
        } else {
          const body = await reply.text();
          assert.equal(reply.error, NetworkError.NoError, reply.errorString);
          assert.equal(reply.fromCache, false);
          assert.equal(body, method === "HEAD" ? "" : "network");
        }
        assert.equal(await cache.metaData(url), null, "the entry is removed");
      });
    }
  }
});
