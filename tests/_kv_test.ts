import assert from "node:assert/strict";
import { _keyBytes, _openKvDatabase, MAX_KEY_BYTES } from "../src/_kv.ts";
import { KvCache, KvCookieJar, KvHstsStore, KvNetworkAccessManagerFactory } from "../mod.ts";
import { countedKv, lockedThenOpen, withOpenKv } from "./_helpers/kv_spy.ts";

Deno.test("opening a KV database is tried again while SQLite reports it locked", async () => {
  const { openKv, paths } = lockedThenOpen(2);
  await withOpenKv(openKv, async () => {
    const kv = await _openKvDatabase(":memory:", "cache");
    try {
      await kv.set(["k"], 1);
      assert.equal((await kv.get(["k"])).value, 1);
    } finally {
      kv.close();
    }
  });
  assert.deepEqual(paths, [":memory:", ":memory:", ":memory:"]);
});

/** How many times `_openKvDatabase` calls `Deno.openKv` when every call fails with `error`. */
async function callsUntilFailure(error: Error): Promise<number> {
  let calls = 0;
  await withOpenKv(() => {
    calls++;
    return Promise.reject(error);
  }, async () => {
    // A lock that stays is reported as it is; another error is the cause of one naming the path.
    await assert.rejects(
      _openKvDatabase("db.sqlite3", "cache"),
      (thrown) => thrown === error || (thrown as Error).cause === error,
    );
  });
  return calls;
}

Deno.test("opening a KV database fails at once on another error, and gives up on a lock that stays", async () => {
  assert.equal(
    await callsUntilFailure(new TypeError("Invalid database path")),
    1,
    "an error other than a lock is not retried",
  );
  assert.equal(
    await callsUntilFailure(new Error("database is locked")),
    9,
    "a lock that is never released is tried 9 times, then reported",
  );
});

Deno.test("workers that open one new KV file at the same moment all get it", async () => {
  const WORKERS = 4;
  const ROUNDS = 60;
  const workers = Array.from(
    { length: WORKERS },
    () =>
      new Worker(new URL("./testdata/workers/kv_open_worker.ts", import.meta.url), {
        type: "module",
      }),
  );
  const dir = await Deno.makeTempDir();
  try {
    const failures: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Without retrying, up to one open in twenty lost the race to set up the file.
      const path = `${dir}/shared-${round}.sqlite3`;
      const results = await Promise.all(workers.map((worker) =>
        new Promise<string>((resolve) => {
          worker.onmessage = (event: MessageEvent<string>) => resolve(event.data);
          // A worker that throws answers with its error, not with silence.
          worker.onerror = (event) => {
            event.preventDefault();
            resolve(`worker error: ${event.message}`);
          };
          worker.postMessage(path);
        })
      ));
      failures.push(...results.filter((result) => result !== "ok"));
    }
    assert.deepEqual(failures, [], `${failures.length} of ${WORKERS * ROUNDS} opens failed`);
  } finally {
    for (const worker of workers) worker.terminate();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the KV stores refuse a 'kv' that is not a Deno.Kv, naming it", async () => {
  const stores = [["cache", KvCache], ["cookie jar", KvCookieJar], ["HSTS store", KvHstsStore]];
  for (const [what, store] of stores as [string, { open(o: object): Promise<unknown> }][]) {
    await assert.rejects(store.open({ kv: {} }), {
      name: "TypeError",
      message: `Cannot open ${what}: 'kv' must be a Deno.Kv from Deno.openKv(), got an object`,
    });
  }
  await assert.rejects(KvNetworkAccessManagerFactory.open({ kv: {} as Deno.Kv }), {
    message:
      "Cannot create manager factory: 'kv' must be a Deno.Kv from Deno.openKv(), got an object",
  });
  const kv = await Deno.openKv(":memory:");
  try {
    const { kv: counted } = countedKv(kv);
    await using cache = await KvCache.open({ kv: counted });
    assert.equal(await cache.cacheSize(), 0);
  } finally {
    kv.close();
  }
});

Deno.test("_keyBytes counts a key as Deno KV does: 2048 bytes is the longest key", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    for (
      const make of [
        (n: number) => ["s".repeat(n)],
        (
          n: number,
        ) => ["netaccess", "é".repeat(100), "x\0y", new Uint8Array([0, 1]), "d".repeat(n), 1],
      ]
    ) {
      let n = 1;
      while (_keyBytes(make(n + 1)) <= MAX_KEY_BYTES) n++;
      assert.equal(_keyBytes(make(n)), MAX_KEY_BYTES);
      await kv.set(make(n), 1);
      assert.equal((await kv.get(make(n))).value, 1);
      await assert.rejects(() => kv.set(make(n + 1), 1), /too large/i);
      await assert.rejects(() => kv.get(make(n + 1)), /too large/i);
    }
  } finally {
    kv.close();
  }
});
