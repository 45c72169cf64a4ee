import assert from "node:assert/strict";
import { KvCache } from "../../src/cache/kv_cache.ts";
import { bodyOf, keysUnder, manualClock, pattern } from "../_helpers/cache_store_suite.ts";

const PREFIX = ["netaccess", "cache"];
const CHUNK = 65536;
const MINUTE = 60_000;

function meta(url: string, seed = 0) {
  return { url, status: 200, headers: { "x-seed": String(seed) } };
}

function sameKey(a: Deno.KvKey, b: Deno.KvKey): boolean {
  return a.length === b.length && a.every((part, i) => part === b[i]);
}

/**
 * `kv` seen through a proxy that runs hooks between operations: after a call of `name` whose
 * arguments `match` accepts returned, the first hook armed for it runs, then the call's result
 * is handed back. A `list` counts as returned once iterated to its end.
 */
function interleaved(kv: Deno.Kv) {
  const hooks: {
    name: "get" | "list";
    match: (arg: unknown) => boolean;
    run: () => Promise<void> | void;
  }[] = [];
  const after = async (name: string, arg: unknown) => {
    const index = hooks.findIndex((hook) => hook.name === name && hook.match(arg));
    if (index < 0) return;
    const [hook] = hooks.splice(index, 1);
    await hook!.run();
  };
  const seen = new Proxy(kv, {
    get(target, name) {
      const value = Reflect.get(target, name, target);
      if (typeof value !== "function") return value;
      if (name === "get") {
        return async (...args: unknown[]) => {
          const item = await value.apply(target, args);
          await after(name, args[0]);
          return item;
        };
      }
      if (name === "list") {
        return (...args: unknown[]) =>
          (async function* () {
            yield* value.apply(target, args);
            await after(name, args[0]);
          })();
      }
      return value.bind(target);
    },
  });
  return {
    seen,
    arm: (
      name: "get" | "list",
      match: (arg: unknown) => boolean,
      run: () => Promise<void> | void,
    ) => void hooks.push({ name, match, run }),
    pending: () => hooks.length,
  };
}

/** The keys stored under the cache's prefix and `tags`. */
const keys = (kv: Deno.Kv, ...tags: Deno.KvKeyPart[]) => keysUnder(kv, [...PREFIX, ...tags]);

Deno.test("KvCache evicting while another cache on the database evicts removes only what the size asks", async () => {
  await using kv = await Deno.openKv(":memory:");
  const time = manualClock();
  const url = (i: number) => `https://example.com/e${String(i).padStart(2, "0")}`;
  {
    await using filler = await KvCache.open({ kv, clock: time.clock });
    for (let i = 0; i < 10; i++) {
      await filler.insert(meta(url(i)), [pattern(i, 10_000)]);
      time.advance(MINUTE);
    }
  }
  const one = (await kv.get<Deno.KvU64>([...PREFIX, "n"])).value!.value;
  const size = Number(one) / 10;
  // Ten entries fit, eleven do not; eviction brings the cache down to nine and a half.
  const maxSize = Math.floor(10.5 * size);
  const { seen, arm, pending } = interleaved(kv);
  await using cache = await KvCache.open({ kv: seen, clock: time.clock, maxSize });
  await using other = await KvCache.open({ kv, clock: time.clock, maxSize });
  const isEntries = (selector: unknown) =>
    sameKey((selector as { prefix?: Deno.KvKey }).prefix ?? [], [...PREFIX, "e"]);
  // Once `cache` listed the entries to evict and read the size, `other` evicts first.
  arm("list", isEntries, () => {
    arm("get", (key) => sameKey(key as Deno.KvKey, [...PREFIX, "n"]), async () => {
      await other.expire();
    });
  });
  assert.equal(await cache.insert(meta(url(10)), [pattern(10, 10_000)]), true);
  assert.equal(pending(), 0, "the other cache evicted during this one's eviction");
  const present = [];
  for (let i = 0; i <= 10; i++) if (await cache.metaData(url(i))) present.push(i);
  assert.deepEqual(present, [2, 3, 4, 5, 6, 7, 8, 9, 10], "two entries evicted, not four");
  assert.equal(await cache.cacheSize(), 9 * size);
});

Deno.test("KvCache expire() collects the chunks of a body whose generation record is corrupt", async () => {
  await using kv = await Deno.openKv(":memory:");
  const time = manualClock();
  await using cache = await KvCache.open({ kv, clock: time.clock });
  const url = "https://example.com/big";
  await cache.insert(meta(url, 1), [pattern(1, 3 * CHUNK + 5)]);
  const entry = (await cache.metaData(url))!;
  assert.equal((await keys(kv, "c")).length, 4);
  await kv.set([...PREFIX, "g", entry.generation], "not a generation record");
  assert.deepEqual(await bodyOf(cache, entry), pattern(1, 3 * CHUNK + 5), "the body still reads");
  assert.equal(await cache.remove(url), true);
  time.advance(10 * MINUTE);
  assert.equal(await cache.expire(), 0);
  assert.deepEqual(await keys(kv, "g"), []);
  assert.deepEqual(await keys(kv, "c"), [], "no chunk is left behind");
});

Deno.test("KvCache readers finish a body another cache replaced or removed, though a third ran expire() before it was retired", async (t) => {
  for (const change of ["replaced", "removed"] as const) {
    await t.step(change, async () => {
      await using kv = await Deno.openKv(":memory:");
      const time = manualClock();
      const url = "https://example.com/long";
      const { seen, arm, pending } = interleaved(kv);
      await using reader = await KvCache.open({ kv, clock: time.clock });
      await using writer = await KvCache.open({ kv: seen, clock: time.clock });
      await using janitor = await KvCache.open({ kv, clock: time.clock });
      await reader.insert(meta(url, 1), [pattern(1, 40 * CHUNK)]);
      const entry = (await reader.metaData(url))!;
      const stream = (await reader.body(entry))!.getReader();
      const first = (await stream.read()).value!;
      // The writer has published (or removed) and reads the old body's record to retire it.
      const old = [...PREFIX, "g", entry.generation];
      arm("get", (key) => sameKey(key as Deno.KvKey, old), async () => {
        await janitor.expire();
      });
      if (change === "replaced") await writer.insert(meta(url, 2), [pattern(2, 3 * CHUNK)]);
      else assert.equal(await writer.remove(url), true);
      assert.equal(pending(), 0, "expire() ran before the old body was retired");
      const body = new Uint8Array(40 * CHUNK);
      body.set(first);
      let offset = first.length;
      for (let read = await stream.read(); !read.done; read = await stream.read()) {
        body.set(read.value, offset);
        offset += read.value.length;
      }
      assert.equal(offset, 40 * CHUNK);
      assert.deepEqual(body, pattern(1, 40 * CHUNK), "the body the reader started, whole");
      time.advance(5 * MINUTE);
      await janitor.expire();
      const live = change === "replaced" ? 3 : 0;
      assert.equal((await keys(kv, "c")).length, live, "then it is collected");
    });
  }
});

Deno.test("KvCache clear() keeps whole an entry another cache publishes while it clears", async () => {
  await using kv = await Deno.openKv(":memory:");
  const time = manualClock();
  const { seen, arm, pending } = interleaved(kv);
  await using cache = await KvCache.open({ kv: seen, clock: time.clock });
  await using other = await KvCache.open({ kv, clock: time.clock });
  await other.insert(meta("https://example.com/old", 1), [pattern(1, 3 * CHUNK)]);
  const url = "https://example.com/new";
  const isEntries = (selector: unknown) =>
    sameKey((selector as { prefix?: Deno.KvKey }).prefix ?? [], [...PREFIX, "e"]);
  // Once clear() listed the entries, the other cache publishes a body in chunks.
  arm("list", isEntries, async () => {
    assert.equal(await other.insert(meta(url, 2), [pattern(2, 3 * CHUNK + 5)]), true);
  });
  await cache.clear();
  assert.equal(pending(), 0, "the other cache published during clear()");
  assert.equal(await cache.metaData("https://example.com/old"), null);
  const entry = await cache.metaData(url);
  assert.ok(entry !== null, "published after clear() removed the entries: it stays");
  const body = await bodyOf(cache, entry);
  assert.equal(body?.length, 3 * CHUNK + 5, "its body is whole");
  const expected = pattern(2, 3 * CHUNK + 5);
  assert.ok(body!.every((byte, i) => byte === expected[i]), "and its own");
  assert.equal(await cache.cacheSize(), entry.size);
});
