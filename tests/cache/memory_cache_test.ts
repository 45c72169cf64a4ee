import assert from "node:assert/strict";
import { MemoryCache } from "../../src/cache/memory_cache.ts";
import { cacheStoreSuite, pattern } from "../_helpers/cache_store_suite.ts";

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
