/**
 * The cache's small differences measured side by side, in alternating rounds in one process
 * (the median ratio of the rounds; above 1, the second of a pair is faster), which the load of
 * a shared machine hides in `deno bench` figures:
 *
 * - reading an entry record written by 0.1.0 (a V8-serialised object) against the current
 *   record (bytes and JSON): decoded in memory, read with `kv.get` and decoded, and read through
 *   `KvCache.metaData()` (which decodes once per stored version);
 * - `MemoryCache.body()` of 1 MiB, which copies every chunk, against the same chunks streamed
 *   without copies, and what the copies weigh in a 1 MiB hit through the manager.
 *
 * Run: `npx --yes deno@2.9.6 run -A bench/cache_rounds.ts [rounds]` (default 21 rounds).
 *
 * @module
 */

import { KvCache, MemoryCache, NetworkAccessManager } from "../mod.ts";
import { _decodeEntry } from "../src/cache/_kv_cache_schema.ts";
import { median, pair as measure } from "./_rounds.ts";

const rounds = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 21);
const pair = async (
  name: string,
  n: number,
  a: () => unknown,
  b: () => unknown,
): Promise<[number, number]> => {
  const { baseline, subject } = await measure(name, { n, rounds }, a, b);
  return [baseline, subject];
};

/** V8's serializer as Deno KV runs it on values other than bytes. */
const v8 = (Deno as unknown as Record<symbol, { core: V8 }>)[
  (Deno as unknown as { internal: symbol }).internal
]!.core;
interface V8 {
  serialize(value: unknown, options: { forStorage: boolean }): Uint8Array;
  deserialize(bytes: Uint8Array, options: { forStorage: boolean }): unknown;
}

const file = await Deno.makeTempFile({ suffix: ".sqlite3" });
const kv = await Deno.openKv(file);
const cache = await KvCache.open({ kv });
const oldCache = await KvCache.open({ kv, prefix: ["v1"] });
const memory = new MemoryCache({ maxSize: 64 * 1024 * 1024 });
try {
  const url = "http://127.0.0.1:8000/kib";
  const headers = {
    "cache-control": "max-age=86400",
    "content-type": "application/octet-stream",
    date: new Date().toUTCString(),
  };
  const policy = { v: 1, t: Date.now(), sh: true, st: 200, resh: headers, m: "GET", u: "/kib" };
  await cache.insert({ url, status: 200, headers, policy }, [new Uint8Array(1024)]);
  const entry = (await cache.metaData(url))!;
  const oldRecord = { v: 1, ...entry };
  await kv.set(["v1", "e", url, ""], oldRecord);
  const key = ["netaccess", "cache", "e", url, ""];
  const record = (await kv.get(key)).value as Uint8Array;
  const serialized = v8.serialize(oldRecord, { forStorage: true });
  console.log("0.1.0 record against the current one (ratio above 1: the current is faster)");
  await pair(
    "decode in memory",
    2000,
    () => _decodeEntry(v8.deserialize(serialized, { forStorage: true })),
    () => _decodeEntry(record.slice()),
  );
  await pair(
    "kv.get + decode",
    200,
    async () => _decodeEntry((await kv.get(["v1", "e", url, ""])).value),
    async () => _decodeEntry((await kv.get(key)).value),
  );
  await pair("KvCache.metaData", 200, () => oldCache.metaData(url), () => cache.metaData(url));

  const chunks = Array.from({ length: 16 }, () => new Uint8Array(65536).fill(3));
  await memory.insert({ url, status: 200, headers }, chunks);
  console.log("MemoryCache.body() of 1 MiB against its chunks streamed without copies");
  const [copied, shared] = await pair("body read to the end", 20, async () => {
    for await (const _ of (await memory.body((await memory.metaData(url))!))!);
  }, async () => {
    await memory.metaData(url);
    let index = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        const chunk = chunks[index++];
        if (chunk === undefined) controller.close();
        else controller.enqueue(chunk);
      },
    });
    for await (const _ of stream);
  });
  const body = new Uint8Array(1024 * 1024).fill(4);
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(body, { headers: { "cache-control": "max-age=86400" } }),
  );
  await using manager = new NetworkAccessManager({ cookieJar: null, cache: memory });
  const served = `http://127.0.0.1:${server.addr.port}/mib`;
  await manager.get(served).bytes();
  const hits: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const start = performance.now();
    for (let i = 0; i < 20; i++) await manager.get(served).bytes();
    hits.push((performance.now() - start) / 20 * 1000);
  }
  const hit = median(hits);
  console.log(
    `manager + MemoryCache hit of 1 MiB: ${hit.toFixed(1)} µs, of which the copies ${
      ((copied - shared) / hit * 100).toFixed(0)
    }%`,
  );
} finally {
  await memory.close();
  await oldCache.close();
  await cache.close();
  kv.close();
  await Deno.remove(file);
}
