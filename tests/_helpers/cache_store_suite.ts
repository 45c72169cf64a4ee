/**
 * Behaviour every NetworkCache store must show, run against MemoryCache and KvCache by their
 * test files.
 */

import assert from "node:assert/strict";
// @ts-types="npm:@types/http-cache-semantics@4.2.0"
import CachePolicy from "http-cache-semantics";
import type { Clock } from "../../src/clock.ts";
import { type FakeClock, fakeClock } from "./fake_clock.ts";
import type { CacheEntry, NetworkCache } from "../../src/cache/network_cache.ts";
import { pattern } from "./cache_patterns.ts";

export { pattern };

/** Options a suite passes to the store factory. */
export interface StoreOptions {
  maxSize?: number;
  clock?: Clock;
}

/** Opens a store for one test; the suite closes it. */
export type OpenStore = (options: StoreOptions) => Promise<NetworkCache>;

const START = Date.UTC(2026, 0, 1);
const encoder = new TextEncoder();

/** A minute and a second: more than the interval in which a store records one access. */
const MINUTE = 61_000;

/** The keys stored under `prefix` in `kv`, in order. */
export async function keysUnder(kv: Deno.Kv, prefix: Deno.KvKey): Promise<Deno.KvKey[]> {
  const found: Deno.KvKey[] = [];
  for await (const item of kv.list({ prefix })) found.push(item.key);
  return found;
}

/** A record of the format after this one, as a later version sharing the database writes it. */
export function newerRecord(meta: Record<string, unknown>, rest = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(meta));
  const record = new Uint8Array(5 + json.length + rest.length);
  record[0] = 3;
  new DataView(record.buffer).setUint32(1, json.length);
  record.set(json, 5);
  record.set(rest, 5 + json.length);
  return record;
}

/** A clock a test moves by hand, at START (the tests' shared one). */
export const manualClock = (): FakeClock => fakeClock(START);

/** Splits `bytes` into chunks of the given sizes, cycling through them. */
export function split(bytes: Uint8Array, sizes: number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (let i = 0; offset < bytes.length; i++) {
    const size = sizes[i % sizes.length] ?? bytes.length;
    chunks.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  return chunks;
}

/** Reads a body stream to the end. */
export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Reads the body of `entry`, or null on a miss. */
export async function bodyOf(cache: NetworkCache, entry: CacheEntry): Promise<Uint8Array | null> {
  const stream = await cache.body(entry);
  return stream === null ? null : await readAll(stream);
}

function meta(url: string, extra: Record<string, unknown> = {}) {
  return { url, status: 200, headers: { "content-type": "text/plain" }, ...extra };
}

async function* failingBody(): AsyncGenerator<Uint8Array> {
  yield pattern(1, 100_000);
  throw new Error("connection reset");
}

/** Registers the shared tests for the store named `name`. */
export function cacheStoreSuite(name: string, open: OpenStore): void {
  const test = (title: string, fn: (cache: NetworkCache, t: Deno.TestContext) => Promise<void>) =>
    Deno.test(`${name} ${title}`, async (t) => {
      await using cache = await open({});
      await fn(cache, t);
    });

  test("serves a stored response with its metadata and body", async (cache) => {
    const policy = { v: 1, note: "opaque" };
    const body = pattern(7, 1_048_577); // one byte over 1 MiB, fed in odd chunk sizes
    assert.equal(
      await cache.insert(
        meta("https://example.com/a?q=1#top", { statusText: "OK", policy, expires: null }),
        split(body, [1, 65_535, 100_003, 3]),
      ),
      true,
    );
    const entry = await cache.metaData("https://example.com/a?q=1#other");
    assert.ok(entry);
    assert.equal(entry.url, "https://example.com/a?q=1");
    assert.equal(entry.variant, "");
    assert.equal(entry.status, 200);
    assert.equal(entry.statusText, "OK");
    assert.deepEqual(entry.headers, [["content-type", "text/plain"]]);
    assert.deepEqual(entry.policy, policy);
    assert.equal(entry.expires, null);
    assert.equal(entry.bodySize, body.length);
    assert.deepEqual(await bodyOf(cache, entry), body);
    assert.equal(await cache.cacheSize(), entry.size);
    assert.ok(entry.size > body.length, "metadata counts toward the size");
  });

  test("rejects what is not an entry it gave, naming it, in body(), touch() and updateMetaData()", async (cache) => {
    const message =
      /'entry' must be a CacheEntry from metaData\(\) or variants\(\), got "https:\/\/example.com\/a"/;
    const notEntry = "https://example.com/a" as unknown as CacheEntry;
    await assert.rejects(cache.body(notEntry), message);
    await assert.rejects(cache.touch(notEntry), message);
    await assert.rejects(cache.updateMetaData(notEntry, { expires: null }), message);
    await assert.rejects(
      cache.body({ url: "https://example.com/a" } as unknown as CacheEntry),
      /'entry' must be a CacheEntry .*got an object/,
    );
  });

  test("serves an empty body", async (cache) => {
    await cache.insert(meta("https://example.com/empty"), []);
    const entry = await cache.metaData("https://example.com/empty");
    assert.ok(entry);
    assert.equal(entry.bodySize, 0);
    assert.deepEqual(await bodyOf(cache, entry), new Uint8Array());
  });

  test("never stores Set-Cookie or Set-Cookie2, by insert(), prepare() or updateMetaData()", async (cache) => {
    const cookies: [string, string][] = [
      ["Set-Cookie", "sid=secret; Path=/"],
      ["set-cookie", "other=secret"],
      ["SET-COOKIE2", "old=secret"],
    ];
    const kept = [["content-type", "text/plain"], ["etag", '"v1"']];
    const headers: [string, string][] = [["content-type", "text/plain"], ...cookies, [
      "etag",
      '"v1"',
    ]];
    await cache.insert(meta("https://example.com/i", { headers }), [encoder.encode("x")]);
    const inserted = await cache.metaData("https://example.com/i");
    assert.deepEqual(inserted?.headers, kept);
    await using writer = cache.prepare(meta("https://example.com/p", { headers }));
    await writer.write(encoder.encode("x"));
    assert.equal(await writer.commit(), true);
    assert.deepEqual((await cache.metaData("https://example.com/p"))?.headers, kept);
    assert.equal(await cache.updateMetaData(inserted!, { headers }), true);
    assert.deepEqual((await cache.metaData("https://example.com/i"))?.headers, kept);
  });

  test("misses an unknown URL or variant", async (cache) => {
    await cache.insert(meta("https://example.com/a"), [encoder.encode("x")]);
    assert.equal(await cache.metaData("https://example.com/b"), null);
    assert.equal(await cache.metaData("https://example.com/a", "gzip"), null);
    assert.deepEqual(await cache.variants("https://example.com/b"), []);
  });

  test("rejects an invalid URL", async (cache) => {
    await assert.rejects(cache.metaData("not a url"), {
      name: "TypeError",
      message: `Cannot read cache: 'url' must be a valid URL, got "not a url"`,
    });
    assert.throws(() => cache.prepare(meta("::")), TypeError);
    assert.throws(
      () => cache.prepare({ ...meta("https://example.com/"), status: 42 }),
      {
        name: "RangeError",
        message:
          "Cannot store cache entry: 'status' must be an HTTP status from 200 to 599, got 42",
      },
    );
  });

  test("refuses a status, status text or header a response cannot carry, naming it", async (cache) => {
    const url = "https://example.com/refused";
    const refused: [Record<string, unknown>, string, string][] = [
      [{ status: 999 }, "RangeError", "'status' must be an HTTP status from 200 to 599, got 999"],
      [{ status: 101 }, "RangeError", "'status' must be an HTTP status from 200 to 599, got 101"],
      [
        { status: "200" },
        "TypeError",
        `'status' must be an HTTP status from 200 to 599, got "200"`,
      ],
      [
        { statusText: "OK\nInjected: 1" },
        "TypeError",
        "'statusText' must be tabs, spaces and visible characters up to U+00FF (no line " +
        `breaks), got "OK\\nInjected: 1"`,
      ],
      [{ statusText: 5 }, "TypeError", "'statusText' must be a string, got 5"],
      [
        { headers: [["bad name", "v"]] },
        "TypeError",
        `'headers' has an invalid header name "bad name"`,
      ],
      [
        { headers: { "content-type": "text/plain", "x-a": "a\r\nb" } },
        "TypeError",
        `'headers' has an invalid value for header "x-a": "a\\r\\nb" (no NUL, CR or LF; ` +
        "characters up to U+00FF)",
      ],
      [
        { headers: new Map([["x-a", "a\u0000b"]]) },
        "TypeError",
        `'headers' has an invalid value for header "x-a": "a\\u0000b" (no NUL, CR or LF; ` +
        "characters up to U+00FF)",
      ],
    ];
    for (const [fields, name, message] of refused) {
      assert.throws(() => cache.prepare(meta(url, fields)), {
        name,
        message: `Cannot store cache entry: ${message}`,
      });
      await assert.rejects(cache.insert(meta(url, fields), []), {
        name,
        message: `Cannot store cache entry: ${message}`,
      });
    }
    assert.equal(await cache.metaData(url), null);
    assert.equal(await cache.insert(meta(url, { statusText: "OK" }), [encoder.encode("x")]), true);
    const entry = (await cache.metaData(url))!;
    for (const [fields, name, message] of refused) {
      await assert.rejects(cache.updateMetaData(entry, fields), {
        name,
        message: `Cannot update cache entry: ${message}`,
      });
    }
    const kept = (await cache.metaData(url))!;
    assert.equal(kept.status, 200);
    assert.equal(kept.statusText, "OK");
    assert.deepEqual(kept.headers, [["content-type", "text/plain"]]);
    // Tabs and bytes up to U+00FF are what a response carries, and are kept.
    assert.equal(await cache.updateMetaData(entry, { statusText: "Tr\u00e8s\tbien" }), true);
    assert.equal((await cache.metaData(url))!.statusText, "Tr\u00e8s\tbien");
  });

  test("keeps variants side by side and lets http-cache-semantics pick one", async (cache) => {
    const url = "https://example.com/greeting";
    for (const language of ["en", "fr"]) {
      const request = { url, method: "GET", headers: { "accept-language": language } };
      const response = {
        status: 200,
        headers: { "cache-control": "max-age=600", vary: "accept-language" },
      };
      const policy = new CachePolicy(request, response);
      await cache.insert(
        {
          url,
          variant: language,
          status: 200,
          headers: response.headers,
          policy: policy.toObject(),
        },
        [encoder.encode(language === "en" ? "hello" : "bonjour")],
      );
    }
    const variants = await cache.variants(url);
    assert.deepEqual(variants.map((e) => e.variant).sort(), ["en", "fr"]);
    const request = { url, method: "GET", headers: { "accept-language": "fr" } };
    const match = variants.find((entry) =>
      CachePolicy.fromObject(entry.policy as CachePolicy.CachePolicyObject)
        .satisfiesWithoutRevalidation(request)
    );
    assert.ok(match);
    assert.equal(new TextDecoder().decode((await bodyOf(cache, match))!), "bonjour");
  });

  test("replaces an entry of the same URL and variant, keeping the size exact", async (cache) => {
    const url = "https://example.com/r";
    await cache.insert(meta(url), [pattern(1, 200_000)]);
    const first = await cache.metaData(url);
    await cache.insert(meta(url, { status: 203 }), [pattern(2, 70_000)]);
    const second = await cache.metaData(url);
    assert.ok(first && second);
    assert.equal(second.status, 203);
    assert.notEqual(second.generation, first.generation);
    assert.deepEqual(await bodyOf(cache, second), pattern(2, 70_000));
    assert.equal(await bodyOf(cache, first), null, "the replaced body is gone");
    assert.equal(await cache.cacheSize(), second.size);
  });

  Deno.test(`${name} drops an entry once its expiry passes by the injected clock`, async () => {
    const time = manualClock();
    await using cache = await open({ clock: time.clock });
    await cache.insert(meta("https://example.com/e", { expires: START + 60_000 }), [
      encoder.encode("fresh"),
    ]);
    await cache.insert(meta("https://example.com/keep"), [encoder.encode("kept")]);
    const kept = await cache.metaData("https://example.com/keep");
    time.advance(59_999);
    assert.ok(await cache.metaData("https://example.com/e"));
    time.advance(1);
    assert.equal(await cache.metaData("https://example.com/e"), null);
    assert.deepEqual(await cache.variants("https://example.com/e"), []);
    assert.equal(await cache.cacheSize(), kept?.size);
    assert.equal(await cache.expire(), kept?.size);
  });

  Deno.test(`${name} expire() drops expired entries nobody read`, async () => {
    const time = manualClock();
    await using cache = await open({ clock: time.clock });
    await cache.insert(meta("https://example.com/1", { expires: START + 1000 }), [
      pattern(1, 5000),
    ]);
    await cache.insert(meta("https://example.com/2", { expires: START + 5000 }), [
      pattern(2, 5000),
    ]);
    const second = await cache.metaData("https://example.com/2");
    time.advance(2000);
    assert.equal(await cache.expire(), second?.size);
    assert.ok(await cache.metaData("https://example.com/2"));
  });

  test("stores nothing when the body fails midway, and rethrows", async (cache) => {
    const url = "https://example.com/f";
    await cache.insert(meta(url), [encoder.encode("old")]);
    const size = await cache.cacheSize();
    await assert.rejects(cache.insert(meta(url), failingBody()), { message: "connection reset" });
    const entry = await cache.metaData(url);
    assert.ok(entry);
    assert.equal(new TextDecoder().decode((await bodyOf(cache, entry))!), "old");
    assert.equal(await cache.cacheSize(), size);
  });

  test("stores nothing when the insertion is aborted midway", async (cache) => {
    const controller = new AbortController();
    let reads = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (++reads === 3) controller.abort(new Error("reply aborted"));
        c.enqueue(pattern(reads, 100_000));
      },
    });
    await assert.rejects(
      cache.insert(meta("https://example.com/aborted"), body, { signal: controller.signal }),
      { message: "reply aborted" },
    );
    assert.equal(await cache.metaData("https://example.com/aborted"), null);
    assert.equal(await cache.cacheSize(), 0);
  });

  test("publishes a prepared entry only on commit", async (cache) => {
    const url = "https://example.com/p";
    const writer = cache.prepare(meta(url));
    await writer.write(pattern(3, 300_000));
    assert.equal(await cache.metaData(url), null, "nothing visible before commit");
    assert.equal(await writer.commit(), true);
    assert.equal((await cache.metaData(url))?.bodySize, 300_000);
    await assert.rejects(writer.write(new Uint8Array(1)), TypeError);
    await assert.rejects(writer.commit(), TypeError);
    await writer.abort(); // a no-op after commit
    assert.ok(await cache.metaData(url));

    const aborted = cache.prepare(meta("https://example.com/q"));
    await aborted.write(pattern(4, 700_000));
    await aborted.abort();
    await aborted.abort();
    await assert.rejects(aborted.commit(), TypeError);
    assert.equal(await cache.metaData("https://example.com/q"), null);

    {
      await using disposed = cache.prepare(meta("https://example.com/d"));
      await disposed.write(pattern(5, 10));
    }
    assert.equal(await cache.metaData("https://example.com/d"), null);
  });

  Deno.test(`${name} does not store an entry larger than three quarters of maxSize`, async () => {
    await using cache = await open({ maxSize: 400_000 });
    assert.equal(cache.maxSize, 400_000);
    const url = "https://example.com/big";
    assert.equal(await cache.insert(meta(url), [pattern(1, 100_000)]), true);
    const old = await cache.metaData(url);
    assert.equal(await cache.insert(meta(url), [pattern(2, 290_000), pattern(3, 10_000)]), false);
    assert.deepEqual(await cache.metaData(url), old, "the old entry stays");
    assert.equal(await cache.cacheSize(), old?.size);
    assert.equal(await cache.insert(meta("https://example.com/fits"), [pattern(4, 290_000)]), true);
  });

  Deno.test(`${name} evicts least recently used entries and stays under maxSize`, async () => {
    const time = manualClock();
    const maxSize = 200_000;
    await using cache = await open({ maxSize, clock: time.clock });
    const url = (i: number) => `https://example.com/lru/${i}`;
    for (let i = 0; i < 4; i++) {
      time.advance(MINUTE);
      await cache.insert(meta(url(i)), [pattern(i, 40_000)]);
    }
    time.advance(MINUTE);
    await bodyOf(cache, (await cache.metaData(url(0)))!); // 0 is now the most recently used (accesses count to the minute)
    time.advance(MINUTE);
    await cache.touch((await cache.metaData(url(1)))!); // then 1
    const present = async () => {
      const urls = [];
      for (let i = 0; i < 8; i++) if (await cache.metaData(url(i))) urls.push(i);
      return urls;
    };
    time.advance(MINUTE);
    await cache.insert(meta(url(4)), [pattern(4, 40_000)]);
    // Over 200 000: evicted down to 180 000, least recently used first (2 was stored before 3).
    assert.deepEqual(await present(), [0, 1, 3, 4]);
    for (let i = 5; i < 8; i++) {
      time.advance(MINUTE);
      await cache.insert(meta(url(i)), [pattern(i, 40_000)]);
      assert.ok(await cache.cacheSize() <= maxSize, `size after insert ${i}`);
    }
    assert.deepEqual(await present(), [4, 5, 6, 7]);
    let total = 0;
    for (const i of await present()) total += (await cache.metaData(url(i)))!.size;
    assert.equal(await cache.cacheSize(), total);
    assert.ok(total <= 180_000);
  });

  Deno.test(`${name} makes room by dropping expired entries before evicting a live one`, async () => {
    const time = manualClock();
    await using cache = await open({ maxSize: 200_000, clock: time.clock });
    const expired = "https://example.com/room/expired";
    await cache.insert(meta(expired, { expires: time.now + MINUTE }), [pattern(1, 20_000)]);
    time.advance(MINUTE);
    await cache.insert(meta("https://example.com/room/a"), [pattern(2, 95_000)]);
    time.advance(MINUTE);
    // 210 000 bytes of bodies: over maxSize until the expired entry goes, then under it (but
    // over the 90% that eviction of live entries aims at), so no live entry is evicted.
    await cache.insert(meta("https://example.com/room/b"), [pattern(3, 95_000)]);
    assert.ok(await cache.metaData("https://example.com/room/a"), "the older live entry stays");
    assert.ok(await cache.metaData("https://example.com/room/b"), "the new entry stays");
    const size = await cache.cacheSize();
    assert.ok(size > 190_000 && size <= 200_000, `size ${size}`);
  });

  Deno.test(`${name} keeps the entry just stored when every entry was used at the same time`, async () => {
    const time = manualClock();
    await using cache = await open({ maxSize: 100_000, clock: time.clock });
    for (let i = 0; i < 5; i++) {
      await cache.insert(meta(`https://example.com/same/${i}`), [pattern(i, 30_000)]);
      assert.ok(await cache.metaData(`https://example.com/same/${i}`), `entry ${i} is kept`);
      assert.ok(await cache.cacheSize() <= 100_000);
    }
  });

  test("updates metadata after a revalidation, keeping the body", async (cache) => {
    const url = "https://example.com/u";
    await cache.insert(meta(url, { policy: { etag: 1 } }), [encoder.encode("body")]);
    const entry = (await cache.metaData(url))!;
    assert.equal(
      await cache.updateMetaData(entry, {
        headers: [["etag", '"2"'], ["cache-control", "max-age=5"]],
        policy: { etag: 2 },
      }),
      true,
    );
    const updated = (await cache.metaData(url))!;
    assert.deepEqual(updated.headers, [["cache-control", "max-age=5"], ["etag", '"2"']]);
    assert.deepEqual(updated.policy, { etag: 2 });
    assert.equal(updated.status, 200);
    assert.equal(updated.generation, entry.generation);
    assert.equal(new TextDecoder().decode((await bodyOf(cache, updated))!), "body");
    assert.equal(await cache.cacheSize(), updated.size);

    await cache.insert(meta(url), [encoder.encode("newer")]);
    assert.equal(await cache.updateMetaData(updated, { status: 299 }), false, "replaced since");
    assert.equal((await cache.metaData(url))?.status, 200);
  });

  test("removes every variant of a URL", async (cache) => {
    const url = "https://example.com/v";
    await cache.insert({ ...meta(url), variant: "a" }, [encoder.encode("a")]);
    await cache.insert({ ...meta(url), variant: "b" }, [encoder.encode("b")]);
    await cache.insert(meta("https://example.com/other"), [encoder.encode("o")]);
    const other = await cache.metaData("https://example.com/other");
    assert.equal(await cache.remove(url + "#frag"), true);
    assert.deepEqual(await cache.variants(url), []);
    assert.equal(await cache.remove(url), false);
    assert.equal(await cache.cacheSize(), other?.size);
  });

  test("clears everything", async (cache) => {
    for (let i = 0; i < 3; i++) {
      await cache.insert(meta(`https://example.com/c/${i}`), [pattern(i, 100_000)]);
    }
    await cache.clear();
    assert.equal(await cache.cacheSize(), 0);
    assert.equal(await cache.metaData("https://example.com/c/0"), null);
    await cache.insert(meta("https://example.com/c/0"), [pattern(9, 10)]);
    assert.ok(await cache.metaData("https://example.com/c/0"));
  });

  test("copies chunks, so a caller reusing its buffer does not change the entry", async (cache) => {
    const buffer = encoder.encode("first");
    const writer = cache.prepare(meta("https://example.com/copy"));
    await writer.write(buffer);
    buffer.set(encoder.encode("XXXXX"));
    await writer.commit();
    const entry = (await cache.metaData("https://example.com/copy"))!;
    assert.equal(new TextDecoder().decode((await bodyOf(cache, entry))!), "first");
  });

  Deno.test(`${name} validates its options`, async () => {
    await assert.rejects(open({ maxSize: 0 }), {
      name: "RangeError",
      message: /'maxSize' must be a positive integer, got 0$/,
    });
    await assert.rejects(open({ maxSize: 1.5 }), RangeError);
    await assert.rejects(open({ maxSize: "10" as unknown as number }), {
      name: "TypeError",
      message: /'maxSize' must be a positive integer, got "10"$/,
    });
    await assert.rejects(open({ clock: 5 as unknown as Clock }), {
      name: "TypeError",
      message: /'clock' must be a function, got 5$/,
    });
  });

  Deno.test(`${name} closes twice and refuses work once closed`, async () => {
    const cache = await open({});
    const writer = cache.prepare(meta("https://example.com/open"));
    await writer.write(pattern(1, 10));
    await cache.close();
    await cache.close();
    assert.equal(await writer.commit(), false, "a writer open at close stores nothing");
    await assert.rejects(cache.metaData("https://example.com/"), {
      name: "TypeError",
      message: "Cannot read cache: the cache is closed",
    });
    assert.throws(() => cache.prepare(meta("https://example.com/")), TypeError);
  });
}
