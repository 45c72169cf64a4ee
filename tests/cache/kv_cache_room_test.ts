/**
 * A store the cache has no room for (a newer format's records leave too little under maxSize):
 * decided before its body is written, so it writes none of it, or no more of it once its
 * length is known not to fit, and leaves nothing behind.
 */

import assert from "node:assert/strict";
import { KvCache } from "../../src/cache/kv_cache.ts";
import {
  bodyOf,
  keysUnder,
  manualClock,
  newerRecord,
  pattern,
} from "../_helpers/cache_store_suite.ts";
import { countedKv } from "../_helpers/kv_spy.ts";

const PREFIX = ["netaccess", "cache"];
const CHUNK = 65536;
const MAX = 4 * 1024 * 1024;
const MIB = 1024 * 1024;
const LATER = [...PREFIX, "e", "https://example.com/later", ""];

function meta(url: string, headers: Record<string, string> = {}) {
  return { url, status: 200, headers: { "x-test": "1", ...headers } };
}

/** `count` chunks of 64 KiB, one at a time, as a body still arriving. */
async function* arriving(count: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < count; i++) yield pattern(i, CHUNK);
}

/**
 * A cache of {@linkcode MAX} bytes on a database it shares with a later version, whose entry
 * leaves it `room` bytes; the KV operations it makes are counted, and the chunks it sets listed.
 */
async function crowded(room: number) {
  const later = MAX - room;
  const base = await Deno.openKv(":memory:");
  await base.atomic()
    .set(LATER, newerRecord({ url: "https://example.com/later", size: later }))
    .sum([...PREFIX, "n"], BigInt(later))
    .commit();
  const chunks: Deno.KvKey[] = [];
  const { kv, ops } = countedKv(base, (key) => key[2] === "c" && chunks.push(key));
  const cache = await KvCache.open({ kv, maxSize: MAX, clock: manualClock().clock });
  return {
    base,
    cache,
    ops,
    chunks,
    /** What the database holds besides the later version's entry and the size counter. */
    leftOver: async () =>
      (await keysUnder(base, PREFIX)).filter((key) =>
        key[2] !== "n" && !(key[2] === "e" && key[3] === LATER[3])
      ),
    async [Symbol.asyncDispose]() {
      await cache.close();
      base.close();
    },
  };
}

Deno.test("KvCache writes nothing of a store it has no room for when the body's size is known", async () => {
  // The later version leaves 1.2 MB: a body of 2 MiB cannot fit, though its first MiB could.
  await using db = await crowded(1_200_000);
  const { cache, ops, chunks } = db;
  const url = "https://example.com/big";
  assert.equal(await cache.insert(meta(url), [pattern(9, 100)]), true, "a small entry fits");
  const size = await cache.cacheSize();
  ops.writes = 0;

  // A body given whole.
  assert.equal(await cache.insert(meta(url), [pattern(1, MIB), pattern(2, MIB)]), false);
  assert.deepEqual({ writes: ops.writes, chunks: chunks.length }, { writes: 0, chunks: 0 });
  // A body whose Content-Length says its size, arriving in chunks.
  const declared = { "content-length": String(2 * MIB) };
  const writer = cache.prepare(meta(url, declared));
  for await (const chunk of arriving(32)) await writer.write(chunk);
  assert.equal(await writer.commit(), false);
  assert.deepEqual({ writes: ops.writes, chunks: chunks.length }, { writes: 0, chunks: 0 });
  // The same, aborted.
  const aborted = cache.prepare(meta(url, declared));
  for await (const chunk of arriving(20)) await aborted.write(chunk);
  await aborted.abort();
  assert.deepEqual({ writes: ops.writes, chunks: chunks.length }, { writes: 0, chunks: 0 });

  // The entry the store would have replaced is as it was; nothing else is left.
  const entry = await cache.metaData(url);
  assert.ok(entry, "the entry stored before stays");
  assert.deepEqual(await bodyOf(cache, entry), pattern(9, 100));
  assert.equal(await cache.cacheSize(), size);
  assert.deepEqual(await db.leftOver(), [[...PREFIX, "e", url, ""]]);
});

Deno.test("KvCache stops writing a body of unknown length once it is known not to fit, and leaves none of it", async () => {
  // The later version leaves 1.2 MB: the first MiB of the body fits.
  await using db = await crowded(1_200_000);
  const { cache, chunks } = db;
  const url = "https://example.com/streamed";
  // 2.5 MiB (under the entry limit of 3 MiB), written 512 KiB at a time as it arrives.
  assert.equal(await cache.insert(meta(url), arriving(40)), false);
  assert.ok(chunks.length <= 16, `${chunks.length} chunks written: only those of the first MiB`);
  assert.equal(await cache.metaData(url), null);
  assert.deepEqual(await db.leftOver(), [], "its chunks and generation record are deleted");
  assert.equal(await cache.cacheSize(), MAX - 1_200_000);

  // One that cannot fit its first 512 KiB writes nothing.
  await using full = await crowded(500_000);
  assert.equal(await full.cache.insert(meta(url), arriving(40)), false);
  assert.deepEqual(full.chunks, []);
  assert.deepEqual(await full.leftOver(), []);
});

/**
 * `kv` seen through a proxy that runs `before` once, before the first atomic operation setting
 * `key` commits: another process's write between this one's read and its commit.
 */
function racedAt(kv: Deno.Kv, key: Deno.KvKey, before: () => Promise<unknown>): Deno.Kv {
  let armed = true;
  return new Proxy(kv, {
    get(target, name) {
      const value = Reflect.get(target, name, target);
      if (typeof value !== "function") return value;
      if (name !== "atomic") return value.bind(target);
      return () => {
        const atomic = target.atomic();
        const set = atomic.set.bind(atomic);
        const commit = atomic.commit.bind(atomic);
        let hit = false;
        atomic.set = (setKey, ...rest) => {
          hit ||= setKey.length === key.length && setKey.every((part, i) => part === key[i]);
          return set(setKey, ...rest);
        };
        atomic.commit = async () => {
          if (hit && armed) {
            armed = false;
            await before();
          }
          return await commit();
        };
        return atomic;
      };
    },
  });
}

Deno.test("KvCache retries a publication that lost a race with one read, the generation record's with the entry's", async () => {
  await using base = await Deno.openKv(":memory:");
  const url = "https://example.com/raced";
  await using other = await KvCache.open({ kv: base });
  const raced = racedAt(
    base,
    [...PREFIX, "e", url, ""],
    () => other.insert(meta(url), [pattern(2, 10)]),
  );
  const { kv, ops } = countedKv(raced);
  await using cache = await KvCache.open({ kv });
  // 9 chunks and a bit: 8 written as they arrive, the rest with the entry.
  const body = async function* () {
    yield* arriving(9);
    yield pattern(3, 1000);
  };
  assert.equal(await cache.insert(meta(url), body()), true);
  // The entry record and the counter read before the first chunk is written; once more with
  // the generation record after the lost race; after the publication, the size and the
  // retired bodies.
  assert.equal(ops.reads, 4);
  const entry = (await cache.metaData(url))!;
  assert.equal(entry.bodySize, 9 * CHUNK + 1000, "this store's entry replaced the other's");
});

Deno.test("KvCache asks for room again when a publication lost a race, and leaves nothing when none is left", async () => {
  await using base = await Deno.openKv(":memory:");
  const url = "https://example.com/raced";
  await using other = await KvCache.open({ kv: base, maxSize: MAX });
  // Meanwhile another process stores the URL, and a later version leaves 500 KB of room.
  const raced = racedAt(base, [...PREFIX, "e", url, ""], async () => {
    await other.insert(meta(url), [pattern(2, 10)]);
    await base.atomic()
      .set(LATER, newerRecord({ url: "https://example.com/later", size: MAX - 500_000 }))
      .sum([...PREFIX, "n"], BigInt(MAX - 500_000))
      .commit();
  });
  await using cache = await KvCache.open({ kv: raced, maxSize: MAX });
  const body = async function* () {
    yield* arriving(9);
    yield pattern(3, 1000);
  };
  assert.equal(await cache.insert(meta(url), body()), false);
  const entry = await cache.metaData(url);
  assert.ok(entry, "the other process's entry stays");
  assert.deepEqual(await bodyOf(cache, entry), pattern(2, 10));
  for (const tag of ["g", "c", "r"]) {
    assert.deepEqual(await keysUnder(base, [...PREFIX, tag]), [], `nothing under "${tag}"`);
  }
});

Deno.test("KvCache deciding on the room makes no KV read more for a store that fits", async () => {
  await using base = await Deno.openKv(":memory:");
  const { kv, ops } = countedKv(base);
  await using cache = await KvCache.open({ kv, maxSize: MAX, clock: manualClock().clock });
  const stores: [string, () => Iterable<Uint8Array> | AsyncIterable<Uint8Array>][] = [
    ["inline", () => [pattern(1, 1000)]],
    ["in chunks, given whole", () => [pattern(1, 5 * CHUNK)]],
    ["arriving, 24 chunks", () => arriving(24)],
  ];
  for (const [name, body] of stores) {
    for (const url of ["https://example.com/a", "https://example.com/b"]) {
      ops.reads = 0;
      assert.equal(await cache.insert(meta(`${url}/${name}`), body()), true);
      // The entry record (with the size counter, in the same read), then the size and the
      // retired bodies after the publication.
      assert.equal(ops.reads, 3, `${name}: ${ops.reads} reads`);
    }
  }
  await cache.clear();
  // Stores that evict: the first lists the entries to find its room; later ones do not.
  const reads: number[] = [];
  for (let i = 0; i < 12; i++) {
    ops.reads = 0;
    assert.equal(await cache.insert(meta(`https://example.com/${i}`), arriving(8)), true);
    reads.push(ops.reads);
  }
  assert.deepEqual(reads, [3, 3, 3, 3, 3, 3, 3, 9, 7, 7, 7, 7]);
});
