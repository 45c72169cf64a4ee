import assert from "node:assert/strict";
import { KvCache } from "../../src/cache/kv_cache.ts";
import { checkBody, pattern, withDatabase } from "../_helpers/cache_patterns.ts";
import { killAfter, spawnScript } from "../_helpers/kv_spy.ts";

const WORKER = new URL("../_helpers/cache_worker.ts", import.meta.url).pathname;
const PREFIX = ["netaccess", "cache"];
const MiB = 1024 * 1024;

function worker(...args: string[]): Deno.ChildProcess {
  return spawnScript(WORKER, ...args);
}

async function finish(child: Deno.ChildProcess): Promise<string> {
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  assert.equal(code, 0, decoder.decode(stderr));
  return decoder.decode(stdout).trim();
}

async function count(kv: Deno.Kv, tag: string): Promise<number> {
  let n = 0;
  for await (const _ of kv.list({ prefix: [...PREFIX, tag] })) n++;
  return n;
}

Deno.test("KvCache serves in one process an entry another process stored", async () => {
  await withDatabase(async (path) => {
    const url = "https://example.com/persisted";
    assert.equal(await finish(worker("store", path, url, "42", String(MiB))), "stored");
    await using cache = await KvCache.open({ path });
    assert.equal(await checkBody(cache, url, MiB), "hit");
    const entry = (await cache.metaData(url))!;
    assert.deepEqual(entry.headers, [["x-seed", "42"]]);
    assert.equal(await cache.cacheSize(), entry.size);
  });
});

Deno.test("KvCache never serves a torn body while two processes write the same URL", async () => {
  await withDatabase(async (path) => {
    const url = "https://example.com/contended";
    const rounds = 16;
    const writers = [
      worker("hammer", path, url, "1000", String(rounds), String(MiB)),
      worker("hammer", path, url, "2000", String(rounds), String(MiB)),
    ];
    let running = true;
    const done = Promise.all(writers.map(finish)).finally(() => running = false);
    await using cache = await KvCache.open({ path });
    const seen = { hit: 0, miss: 0, torn: 0 };
    while (running) seen[await checkBody(cache, url, MiB)]++;
    const results = (await done).map((line) => JSON.parse(line));
    assert.equal(seen.torn, 0, `reader here saw ${JSON.stringify(seen)}`);
    for (const result of results) {
      assert.equal(result.torn, 0, `a writer process saw ${JSON.stringify(result)}`);
      assert.equal(result.stored, rounds, "every insertion was eventually published");
    }
    assert.ok(seen.hit + results[0].hits + results[1].hits > 0, "some reads were hits");

    assert.equal(await checkBody(cache, url, MiB), "hit");
    const entry = (await cache.metaData(url))!;
    assert.equal(await cache.cacheSize(), entry.size);
    await using kv = await Deno.openKv(path);
    await using later = await KvCache.open({ kv, clock: () => Date.now() + 60 * 60 * 1000 });
    await later.expire();
    assert.equal(await count(kv, "c"), 16, "only the last body's chunks remain");
    assert.equal(await count(kv, "g"), 1);
    assert.equal(await count(kv, "r"), 0);
  });
});

Deno.test("KvCache readers finish a 5 MiB body while another process rewrites it", async () => {
  await withDatabase(async (path) => {
    const url = "https://example.com/rewritten";
    const size = 5 * MiB;
    assert.equal(await finish(worker("store", path, url, "1", String(size))), "stored");
    const writer = worker("hammer", path, url, "3000", "4", String(size));
    let running = true;
    const done = finish(writer).finally(() => running = false);
    await using cache = await KvCache.open({ path });
    const seen = { hit: 0, miss: 0, torn: 0 };
    // checkBody rejects when a read fails midway: none may. A read that starts on an entry
    // replaced between its metadata and its body is a clean miss.
    while (running) seen[await checkBody(cache, url, size)]++;
    const result = JSON.parse(await done);
    assert.equal(seen.torn, 0, `reader here saw ${JSON.stringify(seen)}`);
    assert.ok(seen.hit > 0);
    assert.equal(result.torn, 0);
    assert.equal(result.stored, 4);
  });
});

Deno.test("KvCache survives a writer killed midway: the old entry stays, expire() reclaims the chunks", async () => {
  await withDatabase(async (path) => {
    const url = "https://example.com/killed";
    {
      await using cache = await KvCache.open({ path });
      await cache.insert({ url, status: 200, headers: { "x-seed": "1" } }, [pattern(1, MiB)]);
    }
    const { output, status } = await killAfter(
      worker("half", path, url, "2", String(5 * MiB)),
      "half",
    );
    assert.equal(output.trim(), "half");
    assert.equal(status.signal, "SIGKILL");

    await using kv = await Deno.openKv(path);
    const orphans = await count(kv, "c") - 16;
    assert.ok(orphans >= 40, `the killed writer left ${orphans} chunks`);
    {
      await using cache = await KvCache.open({ kv });
      assert.equal(await checkBody(cache, url, MiB), "hit", "the old entry is served");
      assert.deepEqual((await cache.metaData(url))!.headers, [["x-seed", "1"]]);
      await cache.expire();
      assert.equal(await count(kv, "c") - 16, orphans, "a recent write is not reclaimed yet");
    }
    const later = () => Date.now() + 60 * 60 * 1000;
    await using cache = await KvCache.open({ kv, clock: later });
    const entry = (await cache.metaData(url))!;
    assert.equal(await cache.expire(), entry.size);
    assert.equal(await count(kv, "c"), 16, "the orphaned chunks are reclaimed");
    assert.equal(await count(kv, "g"), 1);
    assert.equal(await checkBody(cache, url, MiB), "hit");
  });
});
