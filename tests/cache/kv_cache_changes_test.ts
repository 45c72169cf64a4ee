import assert from "node:assert/strict";
import { KvCache } from "../../src/cache/kv_cache.ts";
import { countReads, spawnScript } from "../_helpers/kv_spy.ts";
import { pattern, withDatabase } from "../_helpers/cache_patterns.ts";
import { bodyOf } from "../_helpers/cache_store_suite.ts";

const WORKER = new URL("../_helpers/cache_worker.ts", import.meta.url).pathname;

/** Stores `url` with body `pattern(seed, size)` from another process. */
async function storeElsewhere(path: string, url: string, seed: number, size: number) {
  const { code, stdout, stderr } = await spawnScript(
    WORKER,
    "store",
    path,
    url,
    String(seed),
    String(size),
  ).output();
  const decoder = new TextDecoder();
  assert.equal(code, 0, decoder.decode(stderr));
  assert.equal(decoder.decode(stdout).trim(), "stored");
}

/** The KV reads `read` made. */
async function readsOf(read: () => Promise<unknown>): Promise<number> {
  using counter = countReads();
  await read();
  return counter.reads;
}

const meta = (url: string, seed: number) => ({
  url,
  status: 200,
  headers: { "x-seed": String(seed) },
});

Deno.test("KvCache opened by path answers a repeated read with no KV read until a write", async () => {
  await withDatabase(async (path) => {
    await using cache = await KvCache.open({ path });
    const url = "https://example.com/kept";
    const missing = "https://example.com/missing";
    assert.ok(await cache.insert(meta(url, 1), [pattern(1, 1000)]));
    const read = async (target: string) => {
      const entry = await cache.metaData(target);
      return entry === null ? null : await bodyOf(cache, entry);
    };
    assert.equal(await readsOf(() => read(url)), 1, "the first read goes to KV");
    assert.equal(await readsOf(() => read(url)), 0, "nothing written since: no KV read");
    assert.deepEqual(await read(url), pattern(1, 1000));
    assert.equal(await readsOf(() => read(missing)), 1);
    assert.equal(await readsOf(() => read(missing)), 0, "a miss is kept too");
    // Any write to the database, of any entry, makes the next read go to KV again.
    assert.ok(await cache.insert(meta("https://example.com/other", 2), [pattern(2, 10)]));
    assert.equal(await readsOf(() => read(url)), 1);
    assert.equal(await readsOf(() => read(url)), 0);
  });
});

Deno.test("KvCache on a database passed as kv reads KV on every read", async () => {
  await using kv = await Deno.openKv(":memory:");
  await using cache = await KvCache.open({ kv });
  const url = "https://example.com/passed";
  assert.ok(await cache.insert(meta(url, 1), [pattern(1, 100)]));
  for (let i = 0; i < 3; i++) {
    assert.equal(await readsOf(() => cache.metaData(url)), 1);
  }
});

Deno.test("KvCache serves another process's new version on the next read", async () => {
  await withDatabase(async (path) => {
    const url = "https://example.com/replaced";
    await storeElsewhere(path, url, 1, 1000);
    await using cache = await KvCache.open({ path });
    const seed = async () => (await cache.metaData(url))?.headers[0]?.[1];
    assert.equal(await seed(), "1");
    assert.equal(await readsOf(seed), 0);
    await storeElsewhere(path, url, 2, 1000);
    assert.equal(await seed(), "2", "the other process's write is seen at once");
    const entry = (await cache.metaData(url))!;
    assert.deepEqual(await bodyOf(cache, entry), pattern(2, 1000));
    // A URL that was a miss, stored by the other process, is a hit on the next read.
    const later = "https://example.com/later";
    assert.equal(await cache.metaData(later), null);
    await storeElsewhere(path, later, 3, 10);
    assert.equal((await cache.metaData(later))?.headers[0]?.[1], "3");
  });
});

Deno.test("KvCache hands out a kept inline body as a copy of its own", async () => {
  await withDatabase(async (path) => {
    await using cache = await KvCache.open({ path });
    const url = "https://example.com/own";
    assert.ok(await cache.insert(meta(url, 3), [pattern(3, 500)]));
    /** Reads the body's one chunk as handed out, and scribbles over it. */
    const readAndScribble = async () => {
      const stream = (await cache.body((await cache.metaData(url))!))!;
      const chunks = await Array.fromAsync(stream);
      assert.equal(chunks.length, 1);
      const copy = chunks[0]!.slice();
      chunks[0]!.fill(0);
      return copy;
    };
    assert.deepEqual(await readAndScribble(), pattern(3, 500));
    assert.equal(await readsOf(readAndScribble), 0, "kept from the first read");
    assert.deepEqual(await readAndScribble(), pattern(3, 500));
  });
});
