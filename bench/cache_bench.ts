/**
 * A cache hit against the alternatives, for 1 KiB and 1 MiB bodies, each group's ratios from
 * one run: the same request over loopback with the cache off, a hit in a `MemoryCache` and in a
 * `KvCache` (a SQLite file) through the manager, a hit in Deno's built-in Cache API
 * (`caches.open` / `cache.match`), and the bare KV reads a hit cannot do without (the entry's
 * record; for 1 MiB, the record and then its 16 chunks). Then one entry's record in the format
 * 0.1.0 wrote (a V8-serialised object) and in the current one (bytes and JSON), read through KV
 * and decoded in memory. `cache_rounds.ts` measures the small differences in alternating rounds.
 *
 * Run: `npx --yes deno@2.9.6 bench -A bench/cache_bench.ts`
 */

import { KvCache, MemoryCache, NetworkAccessManager } from "../mod.ts";
import { _decodeEntry } from "../src/cache/_kv_cache_schema.ts";

const BODIES = {
  "1 KiB": new Uint8Array(1024).fill(1),
  "1 MiB": new Uint8Array(1024 * 1024).fill(2),
};
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
  const size = new URL(request.url).pathname.includes("mib") ? "1 MiB" : "1 KiB";
  return new Response(BODIES[size], { headers: { "cache-control": "max-age=86400" } });
});
const base = `http://127.0.0.1:${server.addr.port}`;

const file = await Deno.makeTempFile({ suffix: ".sqlite3" });
const db = await Deno.openKv(file);
const network = new NetworkAccessManager({ cookieJar: null });
const memory = new NetworkAccessManager({ cookieJar: null, cache: new MemoryCache() });
const kvCache = await KvCache.open({ kv: db, maxSize: 64 * 1024 * 1024 });
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
  const entry = (await kvCache.metaData(url))!;
  const recordKey = ["netaccess", "cache", "e", url, ""];
  const chunkKeys = Array.from(
    { length: Math.ceil(entry.bodySize / 65536) },
    (_, i) => ["netaccess", "cache", "c", entry.generation, i],
  );
  const bareReads = async () => {
    const [record] = await db.getMany([recordKey]);
    if (record?.versionstamp === null) throw new Error("no record");
    const batches = [];
    for (let i = 0; i < chunkKeys.length; i += 10) {
      batches.push(db.getMany(chunkKeys.slice(i, i + 10)));
    }
    await Promise.all(batches);
  };

  const group = `cache hit ${name}`;
  Deno.bench(`Deno Cache API match ${name}`, { group, baseline: name === "1 KiB" }, async () => {
    const response = await webCache.match(url);
    await response!.bytes();
  });
  Deno.bench(
    `loopback fetch, no cache ${name}`,
    { group, baseline: name === "1 MiB" },
    async () => {
      await (await fetch(url)).bytes();
    },
  );
  Deno.bench(`manager + MemoryCache hit ${name}`, { group }, async () => {
    await memory.get(url).bytes();
  });
  Deno.bench(`manager + KvCache hit ${name}`, { group }, async () => {
    await kv.get(url).bytes();
  });
  Deno.bench(`bare kv.getMany of the entry ${name}`, { group }, bareReads);
}

// Reading an entry's record: the V8-serialised object 0.1.0 wrote against the current bytes.
// The first group reads through KV (one `kv.get` each, so the read dominates); the second
// decodes the same record in memory, V8's deserializer as KV runs it against the current
// layout (the copy KV makes of a bytes value included), so the formats' own cost shows.
const oldCache = await KvCache.open({ kv: db, prefix: ["bench", "v1"] });
{
  const url = base + "/kib";
  const recordKey = ["netaccess", "cache", "e", url, ""];
  const entry = (await kvCache.metaData(url))!;
  const oldKey = ["bench", "v1-record"];
  const oldRecord = { v: 1, ...entry };
  await db.set(oldKey, oldRecord);
  await db.set(["bench", "v1", "e", url, ""], oldRecord);
  const group = "entry record read";
  Deno.bench("kv.get + decode of a 0.1.0 record (V8-serialised)", {
    group,
    baseline: true,
  }, async () => {
    const decoded = _decodeEntry((await db.get(oldKey)).value);
    if (decoded === null) throw new Error("no record");
  });
  Deno.bench("kv.get of a 0.1.0 record, unchecked", { group }, async () => {
    const item = await db.get<{ headers: unknown }>(oldKey);
    if (!item.value?.headers) throw new Error("no record");
  });
  Deno.bench("kv.get + decode of the current record (bytes)", { group }, async () => {
    const decoded = _decodeEntry((await db.get(recordKey)).value);
    if (decoded === null) throw new Error("no record");
  });
  Deno.bench("KvCache.metaData of a 0.1.0 record", { group }, async () => {
    if ((await oldCache.metaData(url)) === null) throw new Error("no record");
  });
  Deno.bench("KvCache.metaData (decoded once per stored version)", { group }, async () => {
    if ((await kvCache.metaData(url)) === null) throw new Error("no record");
  });

  const decodeGroup = "entry record decode, no KV read";
  const record = (await db.get(recordKey)).value as Uint8Array;
  const v8 = v8Serializer();
  const serialized = v8.serialize(oldRecord, { forStorage: true });
  Deno.bench("V8 deserialise + decode of a 0.1.0 record", {
    group: decodeGroup,
    baseline: true,
  }, () => {
    if (_decodeEntry(v8.deserialize(serialized, { forStorage: true })) === null) {
      throw new Error("no record");
    }
  });
  Deno.bench("copy + decode of the current record (bytes)", { group: decodeGroup }, () => {
    if (_decodeEntry(record.slice()) === null) throw new Error("no record");
  });
}

/** V8's serializer as Deno KV runs it on values other than bytes. */
function v8Serializer(): {
  serialize(value: unknown, options: { forStorage: boolean }): Uint8Array;
  deserialize(bytes: Uint8Array, options: { forStorage: boolean }): unknown;
} {
  const internal = Deno as unknown as Record<symbol, { core: ReturnType<typeof v8Serializer> }>;
  return internal[(Deno as unknown as { internal: symbol }).internal]!.core;
}

globalThis.addEventListener("unload", () => {
  network.close();
  memory.close();
  kv.close();
  kvCache.close();
  oldCache.close();
  db.close();
  server.shutdown();
  Deno.removeSync(file);
});
