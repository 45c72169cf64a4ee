import assert from "node:assert/strict";
import { KvCache } from "../../src/cache/kv_cache.ts";
import { NetworkAccessManager } from "../../src/manager.ts";
import { bodyOf, manualClock, newerRecord, pattern } from "../_helpers/cache_store_suite.ts";
import { countedKv } from "../_helpers/kv_spy.ts";
import { encodeRecord } from "../../src/_kv_record.ts";

const PREFIX = ["netaccess", "cache"];
const CHUNK = 65536;

function meta(url: string) {
  return { url, status: 200, headers: { "x-test": "1" } };
}

function decodeRecord(value: unknown): { meta: Record<string, unknown>; rest: Uint8Array } {
  assert.ok(value instanceof Uint8Array, "records are bytes");
  assert.equal(value[0], 2, "format version byte");
  const length = new DataView(value.buffer, value.byteOffset).getUint32(1);
  const meta = JSON.parse(new TextDecoder().decode(value.subarray(5, 5 + length)));
  return { meta, rest: value.subarray(5 + length) };
}

Deno.test("KvCache answers a hit on a small body with one KV read and no write", async () => {
  await using base = await Deno.openKv(":memory:");
  const { kv, ops } = countedKv(base);
  const time = manualClock();
  await using cache = await KvCache.open({ kv, clock: time.clock });
  const url = "https://example.com/small";
  await cache.insert(meta(url), [pattern(1, 1024)]);
  ops.reads = ops.writes = 0;
  const entry = (await cache.metaData(url))!;
  assert.deepEqual(await bodyOf(cache, entry), pattern(1, 1024));
  assert.deepEqual(ops, { reads: 1, writes: 0 });

  time.advance(59_000);
  await bodyOf(cache, (await cache.metaData(url))!);
  assert.equal(ops.writes, 0, "an access within a minute of the last is not written");
  time.advance(2_000);
  await bodyOf(cache, (await cache.metaData(url))!);
  assert.equal(ops.writes, 1, "an older one is");
  assert.equal((await cache.metaData(url))!.lastAccess, time.clock());
});

Deno.test("KvCache reads a long body's record, then its first chunks with a check of the record, in parallel", async () => {
  await using base = await Deno.openKv(":memory:");
  const { kv, ops } = countedKv(base);
  await using cache = await KvCache.open({ kv });
  const url = "https://example.com/long";
  await cache.insert(meta(url), [pattern(2, 16 * CHUNK)]);
  ops.reads = ops.writes = 0;
  const entry = (await cache.metaData(url))!;
  assert.deepEqual(await bodyOf(cache, entry), pattern(2, 16 * CHUNK));
  assert.deepEqual(ops, { reads: 3, writes: 0 }, "a get, then two getMany at once");
});

Deno.test("KvCache manager hit: one KV read, no write", async () => {
  await using base = await Deno.openKv(":memory:");
  const { kv, ops } = countedKv(base);
  await using cache = await KvCache.open({ kv });
  let requests = 0;
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    requests++;
    return new Response("hello", { headers: { "cache-control": "max-age=600" } });
  });
  await using manager = new NetworkAccessManager({ cache, cookieJar: null });
  const url = `http://127.0.0.1:${server.addr.port}/`;
  assert.equal(await manager.get(url).text(), "hello");
  ops.reads = ops.writes = 0;
  const reply = manager.get(url);
  assert.equal(await reply.text(), "hello");
  assert.equal(reply.fromCache, true);
  assert.equal(requests, 1);
  assert.deepEqual(ops, { reads: 1, writes: 0 });
});

Deno.test("KvCache writes records as documented bytes any runtime can decode", async () => {
  await using kv = await Deno.openKv(":memory:");
  await using cache = await KvCache.open({ kv });
  await cache.insert(meta("https://example.com/a"), [pattern(1, 100)]);
  await cache.insert(meta("https://example.com/b"), [pattern(2, 2 * CHUNK)]);
  const a = decodeRecord((await kv.get([...PREFIX, "e", "https://example.com/a", ""])).value);
  assert.equal(a.meta.inline, true);
  assert.equal(a.meta.url, "https://example.com/a");
  assert.deepEqual(a.meta.headers, [["x-test", "1"]]);
  assert.deepEqual(a.rest, pattern(1, 100), "the body follows the metadata");
  const b = decodeRecord((await kv.get([...PREFIX, "e", "https://example.com/b", ""])).value);
  assert.equal(b.meta.inline, false);
  assert.equal(b.rest.length, 0);
  const generation = decodeRecord(
    (await kv.get([...PREFIX, "g", b.meta.generation as string]))
      .value,
  );
  assert.deepEqual(
    { state: generation.meta.state, chunks: generation.meta.chunks },
    { state: "published", chunks: 2 },
  );
});

Deno.test("KvCache stores a body inline up to the KV value limit, and in chunks past it", async () => {
  await using kv = await Deno.openKv(":memory:");
  await using cache = await KvCache.open({ kv });
  const url = "https://example.com/edge";
  await cache.insert(meta(url), [pattern(1, 10)]);
  const record = decodeRecord((await kv.get([...PREFIX, "e", url, ""])).value);
  const largestInline = 65536 - (5 + new TextEncoder().encode(JSON.stringify(record.meta)).length) +
    10;
  const seen: boolean[] = [];
  let largestRecord = 0;
  for (let size = largestInline - 40; size <= largestInline + 4; size++) {
    assert.equal(await cache.insert(meta(url), [pattern(size, size)]), true);
    const value = (await kv.get([...PREFIX, "e", url, ""])).value as Uint8Array;
    const inline = decodeRecord(value).meta.inline as boolean;
    seen.push(inline);
    assert.ok(value.length <= 65536, `a record of ${value.length} bytes`);
    if (inline) largestRecord = Math.max(largestRecord, value.length);
    assert.deepEqual(await bodyOf(cache, (await cache.metaData(url))!), pattern(size, size));
  }
  assert.ok(seen[0] && !seen.at(-1), "inline below the limit, chunks above it");
  assert.equal(seen.indexOf(false), seen.lastIndexOf(true) + 1, "one switch");
  assert.ok(largestRecord > 65536 - 8, `the largest inline record has ${largestRecord} bytes`);
});

Deno.test("KvCache reads entries written by version 0.1.0 and rewrites them when they change", async () => {
  await using kv = await Deno.openKv(":memory:");
  const time = manualClock();
  const url = "https://example.com/old";
  const generation = "0b2c4f2e-0000-4000-8000-000000000001";
  const body = pattern(7, CHUNK + 10);
  // What 0.1.0 wrote: V8-serialised objects, the body in chunks.
  await kv.atomic()
    .set([...PREFIX, "e", url, ""], {
      v: 1,
      url,
      variant: "",
      status: 200,
      statusText: "OK",
      headers: [["x-test", "old"]],
      policy: { v: 1 },
      expires: null,
      bodySize: body.length,
      size: body.length + 100,
      storedAt: time.clock(),
      lastAccess: time.clock(),
      generation,
    })
    .set([...PREFIX, "g", generation], {
      state: "published",
      url,
      chunks: 2,
      touchedAt: time.clock(),
    })
    .set([...PREFIX, "c", generation, 0], body.slice(0, CHUNK))
    .set([...PREFIX, "c", generation, 1], body.slice(CHUNK))
    .set([...PREFIX, "n"], new Deno.KvU64(BigInt(body.length + 100)))
    .commit();
  await using cache = await KvCache.open({ kv, clock: time.clock });
  const entry = (await cache.metaData(url))!;
  assert.deepEqual(entry.headers, [["x-test", "old"]]);
  assert.deepEqual(entry.policy, { v: 1 });
  assert.deepEqual(await bodyOf(cache, entry), body);
  assert.equal(await cache.expire(), body.length + 100, "expire() keeps it");
  assert.ok(await cache.metaData(url));

  time.advance(61_000);
  await cache.touch((await cache.metaData(url))!);
  const record = decodeRecord((await kv.get([...PREFIX, "e", url, ""])).value);
  assert.equal(record.meta.generation, generation, "rewritten in the current format");
  assert.deepEqual(await bodyOf(cache, (await cache.metaData(url))!), body);
  assert.equal(await cache.remove(url), true);
  time.advance(5 * 60_000);
  await cache.expire();
  const left = await Array.fromAsync(kv.list({ prefix: PREFIX }));
  assert.deepEqual(left.map((item) => item.key), [[...PREFIX, "n"]]);
});

Deno.test("KvCache hands out the inline body once per read, so a reader's changes stay its own", async () => {
  await using cache = await KvCache.open({ path: ":memory:" });
  const url = "https://example.com/own";
  await cache.insert(meta(url), [pattern(3, 500)]);
  const entry = (await cache.metaData(url))!;
  const first = await bodyOf(cache, entry);
  first!.fill(0);
  assert.deepEqual(await bodyOf(cache, entry), pattern(3, 500));
  assert.deepEqual(await bodyOf(cache, (await cache.metaData(url))!), pattern(3, 500));
});

Deno.test("KvCache keys a URL without its fragment, an empty one included", async () => {
  await using cache = await KvCache.open({ path: ":memory:" });
  await cache.insert(meta("https://example.com/page#"), [pattern(1, 10)]);
  assert.ok(await cache.metaData("https://example.com/page"));
  assert.ok(await cache.metaData("https://example.com/page#top"));
  assert.equal(
    (await cache.metaData("https://example.com/page#"))?.url,
    "https://example.com/page",
  );
});

/** Runs `body` with a cache on a KV file of its own, as processes share one; then removes it. */
async function onKvFile(
  maxSize: number,
  body: (kv: Deno.Kv, cache: KvCache, time: ReturnType<typeof manualClock>) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await using kv = await Deno.openKv(`${dir}/cache.sqlite3`);
    const time = manualClock();
    await using cache = await KvCache.open({ kv, clock: time.clock, maxSize });
    await body(kv, cache, time);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("KvCache misses a record of a newer format and its housekeeping leaves it in place", () =>
  onKvFile(4096, async (kv, cache, time) => {
    const url = "https://example.com/newer";
    const entryKey = [...PREFIX, "e", url, ""];
    // A later version's entry, its body in chunks under a generation record of its format, a
    // retired body of its own, and a body of this format its entry may still reference.
    const later: [Deno.KvKey, Uint8Array][] = [
      [entryKey, newerRecord({ url, variant: "", size: 100, generation: "g3" })],
      [[...PREFIX, "g", "g3"], newerRecord({ state: "published", url, chunks: 1 })],
      [[...PREFIX, "c", "g3", 0], pattern(3, 100)],
      [[...PREFIX, "g", "old3"], newerRecord({ state: "retired", url, touchedAt: 0 })],
      [[...PREFIX, "r", time.clock() - 3_600_000, "old3"], new Uint8Array(0)],
      [
        [...PREFIX, "g", "g2"],
        encodeRecord({ state: "published", url, chunks: 1, touchedAt: time.clock() }),
      ],
      [[...PREFIX, "c", "g2", 0], pattern(2, 100)],
    ];
    for (const [key, value] of later) await kv.set(key, value);
    const snapshot = async () =>
      (await Array.fromAsync(kv.list({ prefix: PREFIX })))
        .filter((item) => !(item.key[2] === "n" && item.key.length === 3))
        .map((item) => [item.key, item.value]);
    const before = await snapshot();
    // A corrupt record of this format stays a miss that is cleaned up.
    const corruptKey = [...PREFIX, "e", "https://example.com/corrupt", ""];
    await kv.set(corruptKey, new Uint8Array([2, 0, 0, 0, 2, 0x7b]));

    assert.equal(await cache.metaData(url), null, "a miss");
    assert.deepEqual(await cache.variants(url), []);
    assert.equal(await cache.metaData("https://example.com/corrupt"), null);
    assert.equal((await kv.get(corruptKey)).versionstamp, null, "the corrupt record is removed");
    // Eviction: entries of this version over maxSize go, the later version's stays.
    for (let i = 0; i < 4; i++) {
      await cache.insert(meta(`https://example.com/${i}`), [pattern(i, 2000)]);
    }
    time.advance(3_600_000); // past every grace period
    await cache.expire();
    for (let i = 0; i < 4; i++) await cache.remove(`https://example.com/${i}`);
    assert.deepEqual(await snapshot(), before, "every record of the later version is as written");

    // An explicit removal is not housekeeping: it removes the later version's entry too.
    assert.equal(await cache.remove(url), true);
    assert.equal((await kv.get(entryKey)).versionstamp, null);
    assert.equal(await cache.cacheSize(), 0);
  }));

Deno.test("KvCache counts a newer format's records in its size, recounted or not", () =>
  onKvFile(1_048_576, async (kv, cache) => {
    // A later version's entries, each counted by that version as it stored it: one whose size
    // its metadata says, and one whose header this version cannot read (counted by its bytes).
    const said = [...PREFIX, "e", "https://example.com/said", ""];
    const unreadable = [...PREFIX, "e", "https://example.com/unreadable", ""];
    const opaque = new Uint8Array([3, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
    await kv.atomic()
      .set(said, newerRecord({ url: "https://example.com/said", size: 5000 }, new Uint8Array(4900)))
      .set(unreadable, opaque)
      .sum([...PREFIX, "n"], BigInt(5000 + opaque.length))
      .commit();
    await cache.insert(meta("https://example.com/mine"), [pattern(1, 1000)]);
    const mine = (await cache.metaData("https://example.com/mine"))!.size;
    const total = mine + 5000 + opaque.length;
    assert.equal(await cache.cacheSize(), total, "as summed by both versions");
    // A recount (expire(), or a foreign value at an entry key) counts the same.
    assert.equal(await cache.expire(), total, "after expire()");
    assert.equal(await cache.cacheSize(), total);
    await kv.set([...PREFIX, "e", "https://example.com/foreign", ""], "foreign");
    assert.equal(await cache.metaData("https://example.com/foreign"), null);
    assert.equal(await cache.cacheSize(), total, "after a recount on a foreign value");
    // The later version removes its entries, taking off what it counted: nothing drifts.
    await kv.atomic().delete(said).delete(unreadable)
      .sum([...PREFIX, "n"], (1n << 64n) - BigInt(5000 + opaque.length)).commit();
    assert.equal(await cache.cacheSize(), mine);
    assert.equal(await cache.expire(), mine);
  }));

Deno.test("KvCache evicts its own entries against a size that counts a newer format's", () =>
  onKvFile(10_000, async (kv, cache, time) => {
    const later = [...PREFIX, "e", "https://example.com/later", ""];
    const record = newerRecord({ url: "https://example.com/later", size: 6000 });
    await kv.atomic().set(later, record).sum([...PREFIX, "n"], 6000n).commit();
    await cache.expire(); // a recount first: the later version's size stays counted
    for (let i = 0; i < 3; i++) {
      time.advance(1000);
      await cache.insert(meta(`https://example.com/${i}`), [pattern(i, 1500)]);
    }
    // 6000 + 3 entries of about 1.6 KB is over 10,000: the oldest of this version's goes.
    assert.equal(await cache.metaData("https://example.com/0"), null, "the oldest is evicted");
    assert.ok(await cache.metaData("https://example.com/2"), "the newest stays");
    assert.deepEqual((await kv.get(later)).value, record, "the later version's is left");
    const size = await cache.cacheSize();
    assert.ok(size <= 10_000 && size > 6000, `${size} counts both versions' entries`);
  }));

Deno.test("KvCache skips a store a newer format's records leave no room for, and keeps its entries", () =>
  onKvFile(10_000, async (kv, cache, time) => {
    const urls = [0, 1, 2, 3].map((i) => `https://example.com/${i}`);
    for (const url of urls.slice(0, 2)) {
      time.advance(1000);
      assert.equal(await cache.insert(meta(url), [pattern(1, 1500)]), true);
    }
    const mine = (await cache.metaData(urls[0]!))!.size + (await cache.metaData(urls[1]!))!.size;
    // A later version's entries alone are over maxSize: what they count is theirs to evict.
    const later = [...PREFIX, "e", "https://example.com/later", ""];
    await kv.atomic().set(later, newerRecord({ url: "https://example.com/later", size: 12_000 }))
      .sum([...PREFIX, "n"], 12_000n).commit();
    for (const url of urls.slice(2)) {
      time.advance(1000);
      const stored = await cache.insert(meta(url), [pattern(2, 1500)]);
      for (const kept of urls.slice(0, 2)) {
        const entry = await cache.metaData(kept);
        assert.ok(entry, `${kept} is kept, not evicted for a store that cannot fit`);
        assert.deepEqual(await bodyOf(cache, entry), pattern(1, 1500));
      }
      assert.equal(stored, false, `${url} is not stored`);
      assert.equal(await cache.metaData(url), null, `${url} left no entry`);
      assert.equal(await cache.cacheSize(), 12_000 + mine, "nothing added, nothing lost");
    }
    // Evicting this version's entries cannot bring the size within maxSize: expire() keeps them.
    assert.equal(await cache.expire(), 12_000 + mine);
    assert.ok(await cache.metaData(urls[0]!), "kept by expire()");
    // Once the later version made room, this version stores again.
    await kv.atomic().delete(later).sum([...PREFIX, "n"], (1n << 64n) - 12_000n).commit();
    assert.equal(await cache.insert(meta(urls[2]!), [pattern(2, 1500)]), true);
    assert.ok(await cache.metaData(urls[2]!));
  }));

Deno.test("KvCache evicts no more of its entries than bring a newer format's share within maxSize", () =>
  onKvFile(10_000, async (kv, cache, time) => {
    // A later version's 8,800 bytes leave this version 1,200: the 90% target is out of reach.
    const later = [...PREFIX, "e", "https://example.com/later", ""];
    await kv.atomic().set(later, newerRecord({ url: "https://example.com/later", size: 8_800 }))
      .sum([...PREFIX, "n"], 8_800n).commit();
    const urls = [0, 1, 2, 3, 4].map((i) => `https://example.com/${i}`);
    for (const url of urls) {
      time.advance(1000);
      assert.equal(await cache.insert(meta(url), [pattern(1, 200)]), true);
    }
    const newest = await cache.metaData(urls[4]!);
    assert.ok(newest, "the entry just stored stays");
    const each = newest.size;
    const room = Math.floor(1_200 / each);
    assert.ok(room >= 2 && room < urls.length, `${each} bytes an entry: ${room} fit`);
    // The newest `room` entries stay; only the older ones went.
    for (const [i, url] of urls.entries()) {
      assert.equal(await cache.metaData(url) !== null, i >= urls.length - room, url);
    }
    assert.ok(await cache.cacheSize() <= 10_000);
  }));
