import assert from "node:assert/strict";
import { runCli } from "./_helpers/cli.ts";
import { serve } from "./_helpers/server.ts";

/**
 * `/miss*`: fresh for a minute; `/swr`: stale from the start (its `Age` is past its `max-age`),
 * served stale while revalidated for ten minutes.
 */
function startServer() {
  const hits = new Map<string, number>();
  const server = serve((request) => {
    const path = new URL(request.url).pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    if (path === "/swr") {
      return new Response(`swr ${hits.get(path)}\n`, {
        headers: {
          "cache-control": "max-age=1, stale-while-revalidate=600",
          age: "5",
          etag: '"s1"',
        },
      });
    }
    return new Response(`${path}\n`, { headers: { "cache-control": "max-age=60" } });
  });
  return Object.assign(server, { hits });
}

Deno.test("cli: -v says how the cache answered without asking the server", async (t) => {
  await using server = startServer();
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_cache_" });
  const state = `${dir}/state.sqlite3`;
  try {
    await t.step("only-if-cached with nothing stored: the cache's own 504", async () => {
      const { code, err } = await runCli(
        ["-v", "-H", "Cache-Control: only-if-cached", `${server.url}/miss3`],
        { state },
      );
      assert.equal(code, 0, err);
      assert.match(err, /^< HTTP\/1\.1 504 Gateway Timeout$/m);
      assert.match(
        err,
        /^\* cache: miss under only-if-cached: the cache answered 504 itself: nothing usable stored$/m,
      );
      assert.doesNotMatch(err, /cache: hit/);
      assert.doesNotMatch(err, /^> GET/m);
      assert.equal(server.hits.get("/miss3"), undefined);
    });
    await t.step("a fresh hit", async () => {
      await runCli([`${server.url}/miss1`], { state });
      const { err } = await runCli(["-v", `${server.url}/miss1`], { state });
      assert.match(err, /^\* cache: hit, fresh: served from the cache without asking the server$/m);
    });
    await t.step("a stale hit under stale-while-revalidate", async () => {
      const first = await runCli(["-v", `${server.url}/swr`], { state });
      assert.match(first.err, /^\* cache: stored$/m);
      const { code, out, err } = await runCli(["-v", `${server.url}/swr`], { state });
      assert.equal(code, 0, err);
      assert.equal(out, "swr 1\n");
      assert.match(
        err,
        /^\* cache: hit, stale: served under stale-while-revalidate, revalidating in the background$/m,
      );
      // The background revalidation is not the reply's request.
      assert.doesNotMatch(err, /^> GET/m);
      assert.doesNotMatch(err, /^< HTTP/m);
      assert.doesNotMatch(err, /not storable/);
      // The run waits for the revalidation, which reaches the server and stores its response.
      assert.equal(server.hits.get("/swr"), 2);
      assert.match(err, /^\* cache: revalidated in the background: 200 OK$/m);
      const third = await runCli(["-s", `${server.url}/swr`], { state });
      assert.equal(third.out, "swr 2\n");
    });
    await t.step("a stale hit under the request's max-stale", async () => {
      const { code, err } = await runCli(
        ["-v", "-H", "Cache-Control: max-stale", `${server.url}/swr`],
        { state },
      );
      assert.equal(code, 0, err);
      assert.match(err, /^\* cache: hit, stale: served under max-stale$/m);
      assert.doesNotMatch(err, /^> GET/m);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
