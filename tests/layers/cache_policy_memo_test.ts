import assert from "node:assert/strict";
import { KvCache } from "../../src/cache/kv_cache.ts";
import { MemoryCache } from "../../src/cache/memory_cache.ts";
import { _policyClass } from "../../src/cache/_policy_class.ts";
import { NetworkAccessManager } from "../../src/manager.ts";

Deno.test("cache layer parses a stored policy once per stored version, not on every hit", async (t) => {
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    return new Response("cached", { headers: { "cache-control": "max-age=600" } });
  });
  for (
    const [name, open] of [
      ["MemoryCache", () => Promise.resolve(new MemoryCache())],
      ["KvCache", () => KvCache.open({ path: ":memory:" })],
    ] as const
  ) {
    await t.step(name, async () => {
      const clock = () => Date.now();
      const Policy = _policyClass(clock);
      const fromObject = Policy.fromObject;
      let parsed = 0;
      Policy.fromObject = (object) => {
        parsed++;
        return fromObject.call(Policy, object);
      };
      try {
        await using cache = await open();
        await using manager = new NetworkAccessManager({ cache, clock, cookieJar: null });
        const url = `http://127.0.0.1:${server.addr.port}/${name}`;
        assert.equal(await manager.get(url).text(), "cached");
        for (let i = 0; i < 3; i++) {
          const reply = manager.get(url);
          assert.equal(await reply.text(), "cached");
          assert.equal(reply.fromCache, true);
        }
        assert.equal(parsed, 1, "three hits, one parse");
      } finally {
        Policy.fromObject = fromObject;
      }
    });
  }
});
