/**
 * A cache hit against the alternatives, for 1 KiB and 1 MiB bodies: the same request over
 * loopback with the cache off (the baseline), a hit in a `MemoryCache` and in a `KvCache`
 * (`:memory:`) through the manager, and a hit in Deno's built-in Cache API
 * (`caches.open` / `cache.match`). Each group reports ratios to the baseline in one run.
 *
 * Run: `npx --yes deno@2.9.6 bench -A bench/cache_bench.ts`
 */

import { KvCache, MemoryCache, NetworkAccessManager } from "../mod.ts";

const BODIES = {
  "1 KiB": new Uint8Array(1024).fill(1),
  "1 MiB": new Uint8Array(1024 * 1024).fill(2),
};
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
  const size = new URL(request.url).pathname.includes("mib") ? "1 MiB" : "1 KiB";
  return new Response(BODIES[size], { headers: { "cache-control": "max-age=86400" } });
});
const base = `http://127.0.0.1:${server.addr.port}`;

const network = new NetworkAccessManager({ cookieJar: null });
const memory = new NetworkAccessManager({ cookieJar: null, cache: new MemoryCache() });
const kvCache = await KvCache.open({ path: ":memory:", maxSize: 64 * 1024 * 1024 });
const kv = new NetworkAccessManager({ cookieJar: null, cache: kvCache });
const webCache = await caches.open("netaccess-bench");

for (const [name, path] of [["1 KiB", "/kib"], ["1 MiB", "/mib"]] as const) {
  const url = base + path;
  // Fill every cache once.
  for (const manager of [memory, kv]) {
    const reply = manager.get(url);
    await reply.bytes();
    if (reply.fromCache) throw new Error("the first request must come from the network");
    const hit = manager.get(url);
    await hit.bytes();
    if (!hit.fromCache) throw new Error("the second request must be a cache hit");
  }
  await webCache.put(url, await fetch(url));

  Deno.bench(`loopback, no cache ${name}`, { group: name, baseline: true }, async () => {
    await network.get(url).bytes();
  });
  Deno.bench(`MemoryCache hit ${name}`, { group: name }, async () => {
    await memory.get(url).bytes();
  });
  Deno.bench(`KvCache hit ${name}`, { group: name }, async () => {
    await kv.get(url).bytes();
  });
  Deno.bench(`Deno Cache API match ${name}`, { group: name }, async () => {
    const response = await webCache.match(url);
    await response!.bytes();
  });
}

globalThis.addEventListener("unload", () => {
  network.close();
  memory.close();
  kv.close();
  kvCache.close();
  server.shutdown();
});
