import assert from "node:assert/strict";
import { KvCache } from "../../src/cache/kv_cache.ts";
import { KvCookieJar } from "../../src/cookies/kv_cookie_jar.ts";
import { NetworkAccessManager } from "../../src/manager.ts";
import { NetworkError, NetworkReplyError } from "../../src/network_error.ts";
import {
  bodyOf,
  cacheStoreSuite,
  keysUnder,
  manualClock,
  pattern,
  readAll,
} from "../_helpers/cache_store_suite.ts";
import { corruptPolicies } from "../_helpers/cache_patterns.ts";

cacheStoreSuite("KvCache", (options) => KvCache.open({ path: ":memory:", ...options }));

const PREFIX = ["netaccess", "cache"];
const CHUNK = 65536;

function meta(url: string, extra: Record<string, unknown> = {}) {
  return { url, status: 200, headers: { "content-type": "application/octet-stream" }, ...extra };
}

/** The keys stored under the cache's prefix and `tags`. */
const keys = (kv: Deno.Kv, ...tags: Deno.KvKeyPart[]) => keysUnder(kv, [...PREFIX, ...tags]);

Deno.test("KvCache defaults to a 50 MiB maxSize under the prefix ['netaccess', 'cache']", async () => {
  await using kv = await Deno.openKv(":memory:");
  await using cache = await KvCache.open({ kv });
  assert.equal(cache.maxSize, 50 * 1024 * 1024);
  await cache.insert(meta("https://example.com/"), [pattern(1, 10)]);
  assert.deepEqual(await keys(kv, "e"), [[...PREFIX, "e", "https://example.com/", ""]]);
});

Deno.test("KvCache validates its options before opening anything", async (t) => {
  await using kv = await Deno.openKv(":memory:");
  await t.step("path and kv together", async () => {
    await assert.rejects(KvCache.open({ kv, path: ":memory:" }), {
      name: "TypeError",
      message: "Cannot open cache: give either 'kv' or 'path', not both",
    });
  });
  await t.step("prefix", async () => {
    await assert.rejects(KvCache.open({ kv, prefix: [] }), {
      name: "TypeError",
      message: "Cannot open cache: 'prefix' must be a non-empty array of key parts, got an empty " +
        "array",
    });
    await assert.rejects(
      KvCache.open({ kv, prefix: "cache" as unknown as Deno.KvKey }),
      TypeError,
    );
    await assert.rejects(KvCache.open({ kv, prefix: ["x".repeat(600)] }), {
      name: "RangeError",
      message: "Cannot open cache: 'prefix' must be at most 512 bytes, got 600",
    });
  });
});

Deno.test("KvCache leaves a given Deno.Kv open and closes a database it opened", async () => {
  await using kv = await Deno.openKv(":memory:");
  const shared = await KvCache.open({ kv, prefix: ["app", "cache"] });
  await shared.insert(meta("https://example.com/"), [pattern(1, 10)]);
  await shared.close();
  await shared[Symbol.asyncDispose]();
  assert.notEqual((await kv.get(["app", "cache", "n"])).versionstamp, null, "kv still usable");

  const path = await Deno.makeTempFile({ suffix: ".sqlite3" });
  try {
    {
      await using cache = await KvCache.open({ path });
      await cache.insert(meta("https://example.com/p"), [pattern(2, 100_000)]);
    } // closed here: the resource sanitizer fails the test otherwise
    await using again = await KvCache.open({ path });
    const entry = await again.metaData("https://example.com/p");
    assert.ok(entry);
    assert.deepEqual(await bodyOf(again, entry), pattern(2, 100_000));
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("KvCache keeps caches with different prefixes apart", async () => {
  await using kv = await Deno.openKv(":memory:");
  await using a = await KvCache.open({ kv, prefix: ["a"] });
  await using b = await KvCache.open({ kv, prefix: ["b"] });
  await a.insert(meta("https://example.com/"), [pattern(1, 1000)]);
  assert.equal(await b.metaData("https://example.com/"), null);
  assert.equal(await b.cacheSize(), 0);
  await b.insert(meta("https://example.com/"), [pattern(2, 1000)]);
  await b.clear();
  assert.deepEqual(await bodyOf(a, (await a.metaData("https://example.com/"))!), pattern(1, 1000));
});

Deno.test("KvCache stores URLs and variants longer than a key allows under their hash", async () => {
  await using kv = await Deno.openKv(":memory:");
  await using cache = await KvCache.open({ kv });
  const url = `https://example.com/${"long/".repeat(1000)}?q=${"é".repeat(500)}`;
  const variant = "accept-language=" + "fr-CH, fr;q=0.9, ".repeat(100);
  await cache.insert(meta(url, { variant }), [pattern(3, 200_000)]);
  await cache.insert(meta(url), [pattern(4, 10)]);
  const entry = await cache.metaData(url, variant);
  assert.ok(entry);
  assert.equal(entry.url, new URL(url).href);
  assert.equal(entry.variant, variant);
  assert.deepEqual(await bodyOf(cache, entry), pattern(3, 200_000));
  assert.equal((await cache.variants(url)).length, 2);
  const [key] = await keys(kv, "e");
  assert.ok(key?.[3] instanceof Uint8Array, "the URL is hashed in the key");
  assert.equal(await cache.metaData(url.slice(0, -1)), null);
  assert.equal(await cache.remove(url), true);
  assert.equal(await cache.cacheSize(), 0);
});

Deno.test("KvCache treats a corrupt or foreign value under its prefix as a miss and removes it", async (t) => {
  await using kv = await Deno.openKv(":memory:");
  await using cache = await KvCache.open({ kv });
  const url = "https://example.com/x";
  const key = [...PREFIX, "e", url, ""];

  await t.step("a foreign entry value", async () => {
    await kv.set(key, "not an entry");
    assert.equal(await cache.metaData(url), null);
    assert.equal((await kv.get(key)).versionstamp, null);
    await kv.set([...PREFIX, "e", url, "v"], { v: 1, url });
    assert.deepEqual(await cache.variants(url), []);
    assert.deepEqual(await keys(kv, "e"), []);
  });

  await t.step("an entry stored under another URL's key", async () => {
    await cache.insert(meta(url), [pattern(1, 100)]);
    const wrongKey = [...PREFIX, "e", "https://example.com/y", ""];
    await kv.set(wrongKey, (await kv.get(key)).value);
    assert.equal(await cache.metaData("https://example.com/y"), null);
    assert.equal((await kv.get(wrongKey)).versionstamp, null);
    assert.ok(await cache.metaData(url));
  });

  await t.step("a corrupt body chunk", async () => {
    await cache.insert(meta(url), [pattern(2, 3 * CHUNK)]);
    const entry = (await cache.metaData(url))!;
    await kv.set([...PREFIX, "c", entry.generation, 1], "junk");
    assert.equal(await cache.body(entry), null);
    assert.equal(await cache.metaData(url), null, "the broken entry is removed");
    assert.equal(await cache.cacheSize(), 0);
  });

  await t.step("a short body chunk", async () => {
    await cache.insert(meta(url), [pattern(2, 3 * CHUNK)]);
    const entry = (await cache.metaData(url))!;
    await kv.set([...PREFIX, "c", entry.generation, 2], new Uint8Array(5));
    assert.equal(await cache.body(entry), null);
    assert.equal(await cache.metaData(url), null);
  });

  await t.step("a foreign generation record and size counter", async () => {
    await kv.set([...PREFIX, "g", "bogus"], 42);
    await kv.set([...PREFIX, "n"], "junk");
    assert.equal(await cache.insert(meta("https://example.com/z"), [pattern(3, 1000)]), true);
    const z = (await cache.metaData("https://example.com/z"))!;
    assert.equal(await cache.cacheSize(), z.size);
    await kv.set([...PREFIX, "n"], { foreign: true });
    assert.equal(await cache.cacheSize(), z.size);
    assert.equal(await cache.expire(), z.size);
    assert.equal((await kv.get([...PREFIX, "g", "bogus"])).versionstamp, null);
  });
});

/** Keys under the cache's prefix that it never writes, each with a value. */
const STRAY_KEYS: [Deno.KvKey, unknown][] = [
  [[...PREFIX, "e"], "tag alone"],
  [[...PREFIX, "e", "https://example.com/a"], "no variant"],
  [[...PREFIX, "e", "https://example.com/a", "", "x"], "too long"],
  [[...PREFIX, "e", "https://example.com/a", 7], new Uint8Array([2, 0, 0, 0, 2, 123, 125])],
  [[...PREFIX, "e", 5, 6], 1],
  [[...PREFIX, "g"], 1],
  [[...PREFIX, "g", 1], 1],
  [[...PREFIX, "g", "x", "y"], 1],
  [[...PREFIX, "c"], 1],
  [[...PREFIX, "c", "gen"], 1],
  [[...PREFIX, "c", 1, 2], 1],
  [[...PREFIX, "r"], 1],
  [[...PREFIX, "r", "x"], 1],
  [[...PREFIX, "r", 5, 6], 1],
  [[...PREFIX, "r", true, "g"], 1],
  [[...PREFIX, "n", "x"], 1],
  [[...PREFIX, "zzz"], 1],
  [[...PREFIX, 7], 1],
];

Deno.test("KvCache ignores keys under its prefix that it did not write, and clear() removes them", async (t) => {
  for (const [key, value] of STRAY_KEYS) {
    await t.step(JSON.stringify(key.slice(PREFIX.length)), async () => {
      await using kv = await Deno.openKv(":memory:");
      const time = manualClock();
      await using cache = await KvCache.open({ kv, clock: time.clock, maxSize: 400_000 });
      await kv.set(key, value);
      const [a, b, c] = ["a", "b", "c"].map((path) => `https://example.com/${path}`) as [
        string,
        string,
        string,
      ];
      assert.equal(await cache.insert(meta(a), [pattern(1, 100)]), true);
      assert.equal(await cache.insert(meta(b), [pattern(2, 200_000)]), true);
      const sizeA = (await cache.metaData(a))!.size;
      const entryB = (await cache.metaData(b))!;
      assert.equal(await cache.cacheSize(), sizeA + entryB.size);
      assert.equal((await cache.variants(a)).length, 1);
      assert.deepEqual(await bodyOf(cache, entryB), pattern(2, 200_000));
      // Over maxSize: the least recently used entries are evicted.
      assert.equal(await cache.insert(meta(c), [pattern(3, 200_000)]), true);
      const live = async () => {
        const entries = await Promise.all([a, b, c].map((url) => cache.metaData(url)));
        return entries.reduce((sum, entry) => sum + (entry?.size ?? 0), 0);
      };
      const kept = await live();
      assert.ok(kept <= 400_000 && kept >= (await cache.metaData(c))!.size);
      assert.equal(await cache.cacheSize(), kept);
      time.advance(11 * 60_000);
      assert.equal(await cache.expire(), kept);
      await cache.remove(c);
      assert.equal(await cache.cacheSize(), await live());
      await cache.clear();
      assert.equal(await cache.cacheSize(), 0);
      assert.deepEqual(await keys(kv), [[...PREFIX, "n"]], "clear() leaves only the counter");
    });
  }
});

Deno.test("KvCache reads only its own record from a commit that wrote other keys beside it", async () => {
  await using kv = await Deno.openKv(":memory:");
  await using cache = await KvCache.open({ kv });
  const url = "https://example.com/a";
  const key = [...PREFIX, "e", url, ""];
  await cache.insert(meta(url), [pattern(1, 100)]);
  // Another writer copies the record and, in the same commit, a value under a longer key.
  await kv.atomic().set(key, (await kv.get(key)).value).set([...key, "x"], "junk").commit();
  const entry = await cache.metaData(url);
  assert.ok(entry);
  const variants = await cache.variants(url);
  assert.deepEqual(variants.map((e) => e.generation), [entry.generation]);
  assert.deepEqual(await keys(kv, "e"), [key], "the stray value is removed");
  assert.equal(await cache.cacheSize(), entry.size);
});

Deno.test("KvCache recomputes its size when an insert replaces a record of a newer format", async () => {
  await using kv = await Deno.openKv(":memory:");
  await using cache = await KvCache.open({ kv });
  const url = "https://example.com/a";
  const key = [...PREFIX, "e", url, ""];
  // What a later version might write: format byte 3, counted in the size by that version.
  const json = new TextEncoder().encode(JSON.stringify({ url, variant: "", size: 5000 }));
  const record = new Uint8Array(5 + json.length + 4900);
  record[0] = 3;
  new DataView(record.buffer).setUint32(1, json.length);
  record.set(json, 5);
  await kv.atomic().set(key, record).sum([...PREFIX, "n"], 5000n).commit();
  for (const bodySize of [100, 3 * CHUNK]) {
    assert.equal(await cache.insert(meta(url), [pattern(1, bodySize)]), true);
    const entry = (await cache.metaData(url))!;
    assert.equal(await cache.cacheSize(), entry.size, `body of ${bodySize} bytes`);
    await kv.atomic().set(key, record).sum([...PREFIX, "n"], 5000n).commit();
  }
});

/** Rewrites the metadata of the entry record at `key` with `change`, keeping its inline body. */
async function rewriteRecord(
  kv: Deno.Kv,
  key: Deno.KvKey,
  change: (meta: Record<string, unknown>) => void,
): Promise<void> {
  const value = (await kv.get<Uint8Array>(key)).value!;
  const length = new DataView(value.buffer, value.byteOffset).getUint32(1);
  const meta = JSON.parse(new TextDecoder().decode(value.subarray(5, 5 + length)));
  change(meta);
  const json = new TextEncoder().encode(JSON.stringify(meta));
  const rest = value.subarray(5 + length);
  const record = new Uint8Array(5 + json.length + rest.length);
  record[0] = 2;
  new DataView(record.buffer).setUint32(1, json.length);
  record.set(json, 5);
  record.set(rest, 5 + json.length);
  await kv.set(key, record);
}

/** Changes to a record that leave it well-formed but not a response `Response` can carry. */
const UNSERVABLE: [string, (meta: Record<string, unknown>) => void][] = [
  ["a header name with a space", (m) => m.headers = [["bad name", "v"]]],
  ["a header value with NUL", (m) => m.headers = [["x-a", "a\u0000b"]]],
  ["a header value with CRLF", (m) => m.headers = [["x-a", "a\r\nb"]]],
  ["a header value past U+00FF", (m) => m.headers = [["x-a", "\u20ac"]]],
  ["status 999", (m) => m.status = 999],
  ["status 101", (m) => m.status = 101],
  ["a status text with a line break", (m) => m.statusText = "OK\nInjected: 1"],
];

Deno.test("KvCache treats a record no response can be built from as a miss, and removes it with its size and body", async (t) => {
  await using kv = await Deno.openKv(":memory:");
  await using cache = await KvCache.open({ kv });
  const url = "https://example.com/x";
  const key = [...PREFIX, "e", url, ""];
  for (const [label, change] of UNSERVABLE) {
    for (const bodySize of [100, 3 * CHUNK]) {
      await t.step(`${label}, body of ${bodySize} bytes`, async () => {
        await cache.insert(meta(url), [pattern(1, bodySize)]);
        const generation = (await cache.metaData(url))!.generation;
        await rewriteRecord(kv, key, change);
        assert.equal(await cache.metaData(url), null);
        assert.equal((await kv.get(key)).versionstamp, null, "the record is removed");
        assert.equal(await cache.cacheSize(), 0, "its size is taken off");
        assert.equal(
          (await keys(kv, "r")).some((k) => k[k.length - 1] === generation),
          bodySize > 100,
          "a body in chunks is retired",
        );
        await cache.insert(meta(url), [pattern(1, 100)]);
        await rewriteRecord(kv, key, change);
        assert.deepEqual(await cache.variants(url), []);
        assert.deepEqual(await keys(kv, "e"), []);
        assert.equal(await cache.cacheSize(), 0);
        // Replaced without being read: the new entry's size takes the old one's place.
        await cache.insert(meta(url), [pattern(1, bodySize)]);
        const old = (await cache.metaData(url))!.generation;
        await rewriteRecord(kv, key, change);
        await cache.insert(meta(url), [pattern(2, 100)]);
        assert.equal(await cache.cacheSize(), (await cache.metaData(url))!.size);
        assert.equal((await keys(kv, "r")).some((k) => k[k.length - 1] === old), bodySize > 100);
        await cache.clear();
      });
    }
  }
});

Deno.test("KvCache sends a GET for a URL whose record no response can be built from to the network, and stores the response again", async () => {
  await using kv = await Deno.openKv(":memory:");
  await using cache = await KvCache.open({ kv });
  let requests = 0;
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    requests++;
    return new Response(`v${requests}`, { headers: { "cache-control": "max-age=600" } });
  });
  await using manager = new NetworkAccessManager({ cache, cookieJar: null });
  const url = `http://127.0.0.1:${server.addr.port}/`;
  for (const [label, change] of UNSERVABLE) {
    assert.equal(await manager.get(url).text(), `v${requests}`, label);
    await rewriteRecord(kv, [...PREFIX, "e", url, ""], change);
    for (const cacheLoadControl of ["prefer-cache", "prefer-network"] as const) {
      const reply = manager.get(url, { cacheLoadControl });
      assert.equal(await reply.text(), `v${requests}`, `${label}, ${cacheLoadControl}`);
      assert.equal(reply.error, NetworkError.NoError);
      assert.equal(reply.fromCache, cacheLoadControl === "prefer-network", label);
    }
    await cache.clear();
  }
});

Deno.test("KvCache: a GET of a URL whose record's policy the cache cannot read goes to the network, and the record is removed", async (t) => {
  await using kv = await Deno.openKv(":memory:");
  await using cache = await KvCache.open({ kv });
  let requests = 0;
  let storable = true;
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    requests++;
    const headers = { "cache-control": storable ? "max-age=600" : "no-store", vary: "x-v" };
    return new Response(`v${requests}`, { headers });
  });
  await using manager = new NetworkAccessManager({ cache, cookieJar: null });
  const url = `http://127.0.0.1:${server.addr.port}/`;
  await manager.get(url).text();
  const valid = (await cache.variants(url))[0]!.policy as Record<string, unknown>;
  const cases = corruptPolicies(valid);
  cases.push(["reqh missing, with Vary", { ...valid, reqh: undefined }]);
  cases.push(["reqh null, with Vary", { ...valid, reqh: null }]);
  for (const [label, policy] of cases) {
    await t.step(label, async () => {
      storable = true;
      assert.equal(await manager.get(url).text(), `v${requests}`);
      const [entry] = await cache.variants(url);
      const key = [...PREFIX, "e", url, entry!.variant];
      await rewriteRecord(kv, key, (m) => m.policy = policy);
      storable = false;
      const reply = manager.get(url);
      assert.equal(await reply.text(), `v${requests}`);
      assert.equal(reply.error, NetworkError.NoError, reply.errorString);
      assert.equal(reply.fromCache, false);
      assert.equal((await kv.get(key)).versionstamp, null, "the record is removed");
      assert.equal(await cache.cacheSize(), 0);
    });
  }
});

Deno.test("KvCache takes a corrupt record's size off when it removes it, and retires its body", async () => {
  await using kv = await Deno.openKv(":memory:");
  const time = manualClock();
  const urls = [0, 1, 2, 3].map((i) => `https://example.com/${i}`);
  const generations: string[] = [];
  const sizes: number[] = [];
  {
    await using cache = await KvCache.open({ kv, clock: time.clock });
    for (const url of urls) {
      await cache.insert(meta(url), [pattern(1, 200_000)]);
      const entry = (await cache.metaData(url))!;
      generations.push(entry.generation);
      sizes.push(entry.size);
    }
  }
  const key = (url: string) => [...PREFIX, "e", url, ""];
  await kv.set(key(urls[0]!), "garbage"); // says nothing of its size or body
  await rewriteRecord(kv, key(urls[1]!), (m) => m.headers = [["bad name", "v"]]);
  await rewriteRecord(kv, key(urls[2]!), (m) => m.size = -1);
  await rewriteRecord(kv, key(urls[3]!), (m) => m.url = "https://example.com/elsewhere");
  await using cache = await KvCache.open({ kv, clock: time.clock, maxSize: 900_000 });
  assert.equal(await cache.metaData(urls[0]!), null);
  // The counter is recomputed without the garbage: the records that still say their size count.
  assert.equal(await cache.cacheSize(), sizes[1]! + sizes[3]!);
  for (const url of urls) assert.equal(await cache.metaData(url), null);
  assert.equal(await cache.cacheSize(), 0);
  assert.deepEqual(await keys(kv, "e"), []);
  const retired = (await keys(kv, "r")).map((k) => k[k.length - 1]).sort();
  assert.deepEqual(retired, [...generations].sort(), "every body is retired");
  // What they counted is free again: four new responses of the same size are all kept.
  for (const url of urls) assert.equal(await cache.insert(meta(url), [pattern(2, 200_000)]), true);
  for (const url of urls) assert.ok(await cache.metaData(url), url);
  // The retired bodies are collected after the grace period, by the next publication.
  time.advance(5 * 60_000);
  await cache.insert(meta("https://example.com/next"), [pattern(3, 10)]);
  const left = new Set((await keys(kv, "c")).map((k) => k[k.length - 2]));
  assert.ok(generations.every((generation) => !left.has(generation)), "their chunks are gone");
  assert.equal((await keys(kv, "g")).length, 4);
});

Deno.test("KvCache keeps a replaced body readable for five minutes, then collects it", async () => {
  await using kv = await Deno.openKv(":memory:");
  const time = manualClock();
  await using cache = await KvCache.open({ kv, clock: time.clock });
  const url = "https://example.com/r";
  await cache.insert(meta(url), [pattern(1, 20 * CHUNK)]);
  const old = (await cache.metaData(url))!;
  await cache.insert(meta(url), [pattern(2, 3 * CHUNK + 1)]);
  const entry = (await cache.metaData(url))!;
  assert.equal((await keys(kv, "c")).length, 24, "the replaced body is still there");
  assert.equal((await keys(kv, "r")).length, 1, "and marked as retired");
  assert.equal(await cache.body(old), null, "a new read of the replaced entry is a miss");
  time.advance(5 * 60_000);
  await cache.insert(meta("https://example.com/other"), [pattern(3, 10)]);
  const chunks = await keys(kv, "c");
  assert.equal(chunks.length, 4, "the next publication collected it");
  assert.ok(chunks.every((key) => key[3] === entry.generation));
  assert.deepEqual(await keys(kv, "g"), [[...PREFIX, "g", entry.generation]]);
  assert.deepEqual(await keys(kv, "r"), []);
  await cache.remove(url);
  await cache.remove("https://example.com/other");
  time.advance(5 * 60_000);
  await cache.expire();
  assert.deepEqual(await keys(kv), [[...PREFIX, "n"]]);
});

Deno.test("KvCache finishes a long body it started though the entry is replaced meanwhile", async () => {
  const time = manualClock();
  await using cache = await KvCache.open({ path: ":memory:", clock: time.clock });
  const url = "https://example.com/long";
  await cache.insert(meta(url), [pattern(1, 40 * CHUNK)]);
  const entry = (await cache.metaData(url))!;
  assert.deepEqual(await bodyOf(cache, entry), pattern(1, 40 * CHUNK));

  const reader = (await cache.body(entry))!.getReader();
  const first = await reader.read();
  assert.deepEqual(first.value, pattern(1, 40 * CHUNK).subarray(0, CHUNK));
  await cache.insert(meta(url), [pattern(2, 40 * CHUNK)]);
  const rest = await readAll(
    new ReadableStream({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
    }),
  );
  assert.deepEqual(rest, pattern(1, 40 * CHUNK).subarray(CHUNK), "the old body, whole");
  const current = (await cache.metaData(url))!;
  assert.deepEqual(await readAll((await cache.body(current))!), pattern(2, 40 * CHUNK));

  await failSlowReader(cache, time, url, current);
});

Deno.test("KvCache tells a reader whose body clear() collected that the entry was removed, not replaced", async () => {
  await using cache = await KvCache.open({ path: ":memory:" });
  const url = "https://example.com/long";
  await cache.insert(meta(url), [pattern(1, 40 * CHUNK)]);
  const reader = (await cache.body((await cache.metaData(url))!))!.getReader();
  await reader.read();
  await cache.clear();
  await readingFails(
    reader,
    `Cannot read cached body of '${url}': it was removed (the cache cleared, or the entry ` +
      "deleted), and collected before this reader finished",
  );
});

/** A reader slower than the grace period fails with a cache error, not a network one. */
async function failSlowReader(
  cache: KvCache,
  time: ReturnType<typeof manualClock>,
  url: string,
  current: Awaited<ReturnType<KvCache["metaData"]>> & object,
): Promise<void> {
  const reader = (await cache.body(current))!.getReader();
  await reader.read();
  await cache.insert(meta(url), [pattern(3, 40 * CHUNK)]);
  time.advance(5 * 60_000);
  await cache.expire();
  await readingFails(
    reader,
    `Cannot read cached body of '${url}': it was replaced, and collected before this reader finished`,
  );
}

/** Reading the rest of a cached body fails with a cache error, not a network one: `message`. */
async function readingFails(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  message: string,
): Promise<void> {
  await assert.rejects(
    (async () => {
      while (!(await reader.read()).done) { /* read on */ }
    })(),
    (error: unknown) =>
      error instanceof NetworkReplyError && error.code === NetworkError.UnknownContentError &&
      error.message === message,
  );
}

Deno.test("KvCache expire() leaves a write in progress alone and reclaims an interrupted one", async () => {
  await using kv = await Deno.openKv(":memory:");
  const time = manualClock();
  await using cache = await KvCache.open({ kv, clock: time.clock });

  const live = cache.prepare(meta("https://example.com/live"));
  await live.write(pattern(1, 16 * CHUNK));
  const stalled = cache.prepare(meta("https://example.com/stalled"));
  await stalled.write(pattern(2, 16 * CHUNK));
  assert.equal((await keys(kv, "c")).length, 32, "both writers flushed their chunks");

  time.advance(9 * 60_000);
  await live.write(pattern(3, 8 * CHUNK)); // progress keeps the live write fresh
  time.advance(2 * 60_000);
  assert.equal(await cache.expire(), 0);
  assert.equal((await keys(kv, "c")).length, 24, "only the stalled write was reclaimed");

  await stalled.write(pattern(4, 8 * CHUNK));
  assert.equal(await stalled.commit(), false, "a reclaimed write publishes nothing");
  assert.equal(await cache.metaData("https://example.com/stalled"), null);
  assert.equal(await live.commit(), true);
  const entry = (await cache.metaData("https://example.com/live"))!;
  const body = new Uint8Array(24 * CHUNK);
  body.set(pattern(1, 16 * CHUNK));
  body.set(pattern(3, 8 * CHUNK), 16 * CHUNK);
  assert.deepEqual(await bodyOf(cache, entry), body);
  assert.equal((await keys(kv, "c")).length, 24);
  assert.equal((await keys(kv, "g")).length, 1);
});

Deno.test("KvCache expire() collects a published body that no entry references, after the grace period", async () => {
  await using kv = await Deno.openKv(":memory:");
  const time = manualClock();
  await using cache = await KvCache.open({ kv, clock: time.clock });
  // What a writer leaves when it dies between publishing and deleting the body it replaced.
  await kv.set([...PREFIX, "g", "left-behind"], {
    state: "published",
    url: "https://example.com/",
    chunks: 2,
    touchedAt: Date.now(),
  });
  await kv.set([...PREFIX, "c", "left-behind", 0], new Uint8Array(CHUNK));
  await kv.set([...PREFIX, "c", "left-behind", 1], new Uint8Array(7));
  await cache.insert(meta("https://example.com/kept"), [pattern(1, 2 * CHUNK)]);
  const kept = (await cache.metaData("https://example.com/kept"))!;
  assert.equal(await cache.expire(), kept.size);
  // A reader may be reading it: the writer that replaced it may not have retired it yet.
  assert.equal((await keys(kv, "c", "left-behind")).length, 2, "retired first");
  assert.equal((await keys(kv, "r")).length, 1);
  time.advance(5 * 60_000);
  assert.equal(await cache.expire(), kept.size);
  assert.deepEqual(await keys(kv, "r"), []);
  assert.deepEqual(await keys(kv, "c"), [
    [...PREFIX, "c", kept.generation, 0],
    [...PREFIX, "c", kept.generation, 1],
  ]);
});

Deno.test("KvCache expire() evicts down to 90% of a maxSize smaller than what is stored", async () => {
  await using kv = await Deno.openKv(":memory:");
  const time = manualClock();
  {
    await using big = await KvCache.open({ kv, clock: time.clock, maxSize: 1_000_000 });
    for (let i = 0; i < 5; i++) {
      time.advance(61_000);
      await big.insert(meta(`https://example.com/${i}`), [pattern(i, 40_000)]);
    }
    time.advance(61_000);
    await big.touch((await big.metaData("https://example.com/0"))!);
  }
  await using small = await KvCache.open({ kv, clock: time.clock, maxSize: 150_000 });
  const size = await small.expire();
  assert.ok(size <= 135_000, `size ${size}`);
  const present = [];
  for (let i = 0; i < 5; i++) if (await small.metaData(`https://example.com/${i}`)) present.push(i);
  assert.deepEqual(present, [0, 3, 4]);
});

Deno.test("KvCache publishes racing writers of one URL one after the other, leaking nothing", async () => {
  await using kv = await Deno.openKv(":memory:");
  const time = manualClock();
  await using cache = await KvCache.open({ kv, clock: time.clock });
  const url = "https://example.com/race";
  await cache.insert(meta(url), [pattern(1, 3 * CHUNK)]);
  const writers = [2, 3, 4].map((seed) => {
    const writer = cache.prepare(meta(url, { headers: { "x-seed": String(seed) } }));
    return { writer, written: writer.write(pattern(seed, 10 * CHUNK + seed)) };
  });
  await Promise.all(writers.map(({ written }) => written));
  assert.deepEqual(await Promise.all(writers.map(({ writer }) => writer.commit())), [
    true,
    true,
    true,
  ]);
  const entry = (await cache.metaData(url))!;
  const seed = Number(entry.headers[0]?.[1]);
  assert.deepEqual(await bodyOf(cache, entry), pattern(seed, 10 * CHUNK + seed));
  assert.equal(await cache.cacheSize(), entry.size);
  time.advance(5 * 60_000);
  await cache.expire();
  assert.equal((await keys(kv, "c")).length, 11, "no chunks of a replaced body remain");
  assert.deepEqual(await keys(kv, "g"), [[...PREFIX, "g", entry.generation]]);
});

/** How a store refusing a prefix that nests with another's ends its message. */
const NESTED = "so clearing one store would remove the other's entries; give each store a " +
  "prefix that does not start with another's";

Deno.test("KvCache.open refuses a prefix nesting with a cookie jar's on the same Deno.Kv, so clear() cannot remove cookies", async (t) => {
  await using kv = await Deno.openKv(":memory:");
  await t.step("a jar under the prefix of an open cache", async () => {
    await using _cache = await KvCache.open({ kv, prefix: ["netaccess"] });
    await assert.rejects(KvCookieJar.open({ kv }), {
      name: "RangeError",
      message: `Cannot open cookie jar: its prefix [ "netaccess", "cookies" ] starts with the ` +
        `prefix [ "netaccess" ] of a cache open on the same Deno.Kv, ${NESTED}`,
    });
  });
  await t.step("a cache whose prefix is the start of an open jar's", async () => {
    await using jar = await KvCookieJar.open({ kv });
    await jar.setCookiesFromUrl(["session=1"], "https://x.example/");
    await assert.rejects(KvCache.open({ kv, prefix: ["netaccess"] }), {
      name: "RangeError",
      message: `Cannot open cache: the prefix [ "netaccess", "cookies" ] of a cookie jar open on ` +
        `the same Deno.Kv starts with its prefix [ "netaccess" ], ${NESTED}`,
    });
    await assert.rejects(KvCache.open({ kv, prefix: ["netaccess", "cookies"] }), {
      name: "RangeError",
      message: `Cannot open cache: its prefix [ "netaccess", "cookies" ] is the prefix ` +
        `[ "netaccess", "cookies" ] of a cookie jar open on the same Deno.Kv, ${NESTED}`,
    });
    assert.equal((await jar.allCookies()).length, 1);
  });
  await t.step("a closed jar no longer counts", async () => {
    await using _cache = await KvCache.open({ kv, prefix: ["netaccess"] });
  });
  await t.step("caches under one prefix share their entries, as before", async () => {
    await using one = await KvCache.open({ kv, prefix: ["shared"] });
    await using two = await KvCache.open({ kv, prefix: ["shared"] });
    await one.insert(meta("https://example.com/"), [new Uint8Array(3)]);
    assert.equal((await two.metaData("https://example.com/"))?.bodySize, 3);
    await assert.rejects(KvCache.open({ kv, prefix: ["shared", "inner"] }), RangeError);
  });
  await t.step("stores on another Deno.Kv object are not seen", async () => {
    await using other = await Deno.openKv(":memory:");
    await using _cache = await KvCache.open({ kv, prefix: ["netaccess"] });
    await using _jar = await KvCookieJar.open({ kv: other });
  });
});
