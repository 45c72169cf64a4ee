/**
 * A separate process working on a KvCache file, for the cross-process tests.
 *
 *   store  <path> <url> <seed> <size>           stores one entry, prints "stored"
 *   hammer <path> <url> <seed> <rounds> <size>  stores and reads the same URL in a loop,
 *                                               prints {"stored","hits","torn"} as JSON
 *   half   <path> <url> <seed> <size>           writes half a body, prints "half", then
 *                                               waits to be killed
 */

import { KvCache } from "../../src/cache/kv_cache.ts";
import { checkBody, pattern } from "./cache_patterns.ts";

const [mode, path, url, seedText, ...rest] = Deno.args;
if (path === undefined || url === undefined || seedText === undefined) {
  throw new TypeError("usage: cache_worker.ts <mode> <path> <url> <seed> ...");
}
const seed = Number(seedText);
const meta = (seed: number) => ({
  url,
  status: 200,
  headers: { "x-seed": String(seed) },
});

if (mode === "store") {
  const size = Number(rest[0]);
  await using cache = await KvCache.open({ path });
  if (!await cache.insert(meta(seed), [pattern(seed, size)])) throw new Error("not stored");
  console.log("stored");
} else if (mode === "hammer") {
  const rounds = Number(rest[0]);
  const size = Number(rest[1]);
  await using cache = await KvCache.open({ path });
  const result = { stored: 0, hits: 0, torn: 0 };
  for (let round = 0; round < rounds; round++) {
    const body = pattern(seed + round, size);
    // Odd-sized pieces, so chunk boundaries fall inside the writes.
    const pieces = [];
    for (let offset = 0; offset < size; offset += 50_000) {
      pieces.push(body.subarray(offset, offset + 50_000));
    }
    if (await cache.insert(meta(seed + round), pieces)) result.stored++;
    const verdict = await checkBody(cache, url, size);
    if (verdict === "hit") result.hits++;
    if (verdict === "torn") result.torn++;
  }
  console.log(JSON.stringify(result));
} else if (mode === "half") {
  const size = Number(rest[0]);
  const cache = await KvCache.open({ path });
  const writer = cache.prepare(meta(seed));
  const body = pattern(seed, size);
  for (let offset = 0; offset < size / 2; offset += 65_536) {
    await writer.write(body.subarray(offset, offset + 65_536));
  }
  console.log("half");
  setInterval(() => {}, 1000); // alive until killed, in the middle of the write
} else {
  throw new TypeError(`unknown mode '${mode}'`);
}
