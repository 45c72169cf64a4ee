import assert from "node:assert/strict";
import { KvBackend } from "../../src/cache/_kv_backend.ts";
import { _Keys } from "../../src/cache/_kv_cache_schema.ts";
import { _KvChanges } from "../../src/_kv_changes.ts";
import { withDatabase } from "../_helpers/cache_patterns.ts";
import { countReads } from "../_helpers/kv_spy.ts";

Deno.test("KvBackend keeps what it read within its budget, misses included", async () => {
  await withDatabase(async (path) => {
    await using kv = await Deno.openKv(path);
    // About ten entries of a short URL and no body.
    const backend = new KvBackend(kv, false, new _Keys(["netaccess", "cache"]), Date.now, 3000);
    const changes = _KvChanges.open(path);
    assert.ok(changes !== null, "a file database has a change detector");
    backend.watch(changes);
    try {
      const url = (i: number) => `https://example.com/missing/${i}`;
      const reads = async (i: number) => {
        using counter = countReads();
        assert.equal(await backend.read(url(i), ""), null);
        return counter.reads;
      };
      for (let i = 0; i < 50; i++) assert.equal(await reads(i), 1);
      assert.equal(await reads(49), 0, "the last miss is kept");
      assert.equal(await reads(0), 1, "the first one was dropped to stay within the budget");
    } finally {
      await backend.close();
    }
  });
});
