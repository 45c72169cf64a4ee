import { strict as assert } from "node:assert";
import type { CacheMode } from "../../src/cache/network_cache.ts";
import type { NetworkRequestInit } from "../../src/request.ts";
import { guardUnhandledRejections, takeUnhandledRejections } from "../_helpers/server.ts";
import { cacheOrigin, START, STORES } from "../_helpers/cache_origin.ts";

guardUnhandledRejections();

const MODES: readonly CacheMode[] = ["private", "shared"];

function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

/**
 * For each store and each of `modes`: stores the origin's first response, moves the clock
 * `wait` seconds on, and GETs again with `init`. The origin answers `v1`, `v2`, ... with
 * `headers` (their `Date` the clock's). Returns the second reply's body and how many requests
 * reached the origin.
 */
async function eachStore(
  t: Deno.TestContext,
  modes: readonly CacheMode[],
  check: (env: Awaited<ReturnType<typeof cacheOrigin>>) => Promise<void>,
  handler: (request: Request, n: number) => Response,
): Promise<void> {
  for (const store of STORES) {
    for (const mode of modes) {
      await t.step(`${store}, ${mode}`, async () => {
        await using env = await cacheOrigin(handler, { store, mode });
        await check(env);
      });
    }
  }
}

function secondGet(
  t: Deno.TestContext,
  modes: readonly CacheMode[],
  headers: Record<string, string>,
  wait: number,
  init: NetworkRequestInit,
  expected: string,
): Promise<void> {
  return eachStore(t, modes, async (env) => {
    await env.get();
    env.advance(wait);
    const second = await env.get("/", init);
    assert.equal(second.text, expected);
    assert.equal(second.reply.fromCache, expected === "v1");
  }, (_, n) => new Response(`v${n}`, { headers: { date: httpDate(START), ...headers } }));
}

Deno.test("cache layer reads a request's Cache-Control and Pragma directives in any case", async (t) => {
  const fresh = { "cache-control": "max-age=600" };
  for (
    const [label, headers] of [
      ["Cache-Control: No-Cache", { "cache-control": "No-Cache" }],
      ["Cache-Control: MAX-AGE=0", { "cache-control": "MAX-AGE=0" }],
      ["Pragma: No-Cache", { pragma: "No-Cache" }],
    ] as const
  ) {
    await t.step(label, (t) => secondGet(t, MODES, fresh, 5, { headers }, "v2"));
  }
  await t.step(
    "Cache-Control: Max-Stale=100 serves a stale response",
    (t) =>
      secondGet(t, MODES, { "cache-control": "max-age=10" }, 20, {
        headers: { "cache-control": "Max-Stale=100" },
      }, "v1"),
  );
  // The rule that a response repeating a directive with other values is stale is a response's.
  await t.step(
    "Cache-Control: max-stale=10, max-stale=20 leaves a fresh response fresh",
    (t) =>
      secondGet(t, MODES, fresh, 5, {
        headers: { "cache-control": "max-stale=10, max-stale=20" },
      }, "v1"),
  );
});

Deno.test("cache layer never serves a no-cache response stale", async (t) => {
  await t.step(
    "under a request's max-stale",
    (t) =>
      secondGet(t, MODES, { "cache-control": "no-cache", etag: '"e"' }, 1, {
        headers: { "cache-control": "max-stale" },
      }, "v2"),
  );
  await t.step("under its stale-while-revalidate", (t) =>
    secondGet(
      t,
      MODES,
      {
        "cache-control": "no-cache, stale-while-revalidate=100",
        etag: '"e"',
      },
      1,
      {},
      "v2",
    ));
});

Deno.test("cache layer: in a shared cache, s-maxage forbids serving stale", async (t) => {
  await t.step(
    "under a request's max-stale",
    (t) =>
      secondGet(t, ["shared"], { "cache-control": "s-maxage=10", etag: '"e"' }, 20, {
        headers: { "cache-control": "max-stale=100" },
      }, "v2"),
  );
  await t.step("under its stale-while-revalidate", (t) =>
    secondGet(
      t,
      ["shared"],
      {
        "cache-control": "s-maxage=10, stale-while-revalidate=100",
        etag: '"e"',
      },
      20,
      {},
      "v2",
    ));
  await t.step(
    "a private cache lets max-age's stale response serve under max-stale",
    (t) =>
      secondGet(t, ["private"], { "cache-control": "max-age=10, s-maxage=10" }, 20, {
        headers: { "cache-control": "max-stale=100" },
      }, "v1"),
  );
});

Deno.test("cache layer: stale-if-error gives way to the directives that forbid serving stale", async (t) => {
  const cases: [string, readonly CacheMode[], string, number][] = [
    ["must-revalidate", MODES, "max-age=10, must-revalidate", 20],
    ["no-cache", MODES, "no-cache", 1],
    ["proxy-revalidate (shared)", ["shared"], "max-age=10, proxy-revalidate", 20],
    ["s-maxage (shared)", ["shared"], "s-maxage=10", 20],
  ];
  for (const [label, modes, cc, wait] of cases) {
    await t.step(label, (t) =>
      eachStore(t, modes, async (env) => {
        await env.get();
        env.advance(wait);
        const second = await env.get();
        assert.equal(second.reply.status, 503);
        assert.equal(second.text, "down");
        assert.equal(second.reply.fromCache, false);
      }, (_, n) =>
        n === 1
          ? new Response("stale", {
            headers: { "cache-control": `${cc}, stale-if-error=600`, date: httpDate(START) },
          })
          : new Response("down", { status: 503 })));
  }
  await t.step(
    "proxy-revalidate in a private cache: the stale response answers",
    (t) =>
      eachStore(t, ["private"], async (env) => {
        await env.get();
        env.advance(20);
        const second = await env.get();
        assert.equal(second.reply.status, 200);
        assert.equal(second.text, "stale");
      }, (_, n) =>
        n === 1
          ? new Response("stale", {
            headers: {
              "cache-control": "max-age=10, proxy-revalidate, stale-if-error=600",
              date: httpDate(START),
            },
          })
          : new Response("down", { status: 503 })),
  );
});

Deno.test("cache layer: immutable gives no freshness of its own", async (t) => {
  await t.step(
    "alone, without Last-Modified",
    (t) => secondGet(t, MODES, { "cache-control": "immutable", etag: '"e"' }, 60, {}, "v2"),
  );
  await t.step(
    "over an Expires that has passed",
    (t) =>
      secondGet(
        t,
        MODES,
        { "cache-control": "immutable", expires: httpDate(START + 10_000) },
        3600,
        {},
        "v2",
      ),
  );
  await t.step(
    "while fresh it is served",
    (t) => secondGet(t, MODES, { "cache-control": "max-age=100, immutable" }, 50, {}, "v1"),
  );
});

Deno.test("cache layer: a HEAD response with other validators makes the stored GET stale", async (t) => {
  for (
    const [label, head, expected] of [
      ["another ETag", { etag: '"e2"', "content-length": "2" }, "v3"],
      ["another Last-Modified", { "last-modified": httpDate(START - 1000) }, "v3"],
      ["another Content-Length, no validator", { "content-length": "7" }, "v3"],
      ["the same ETag and length", { etag: '"e1"', "content-length": "2" }, "v1"],
      ["the same ETag, a length of 0 (a HEAD without a body)", { etag: '"e1"' }, "v1"],
      ["the same Last-Modified, another length", {
        "last-modified": httpDate(START - 60_000),
        "content-length": "7",
      }, "v1"],
    ] as const
  ) {
    // The origin counts the HEAD too: a GET sent after it answers v3.
    await t.step(label, (t) =>
      eachStore(t, MODES, async (env) => {
        await env.get();
        const head = env.manager.head(env.url + "/", { cacheLoadControl: "always-network" });
        await head.finished;
        assert.equal(head.status, 200);
        const after = await env.get();
        assert.equal(after.text, expected);
        assert.equal(env.seen.length, expected === "v1" ? 2 : 3);
      }, (request, n) => {
        if (request.method === "HEAD") return new Response(null, { headers: head });
        return new Response(`v${n}`, {
          headers: {
            "cache-control": "max-age=600",
            etag: '"e1"',
            "last-modified": httpDate(START - 60_000),
          },
        });
      }));
  }
});

Deno.test("cache layer: cache load controls treat a range as a whole request", async (t) => {
  await t.step(
    "prefer-cache serves a range of a stale entry despite the request's no-cache",
    (t) =>
      eachStore(t, MODES, async (env) => {
        await env.get();
        env.advance(3600);
        const init: NetworkRequestInit = {
          cacheLoadControl: "prefer-cache",
          headers: { "cache-control": "no-cache" },
        };
        const whole = await env.get("/", init);
        assert.equal(whole.text, "abcdef");
        const ranged = await env.get("/", {
          ...init,
          headers: { ...init.headers, range: "bytes=1-2" },
        });
        assert.equal(ranged.reply.status, 206);
        assert.equal(ranged.text, "bc");
        assert.equal(ranged.reply.fromCache, true);
        assert.equal(env.seen.length, 1);
      }, () =>
        new Response("abcdef", {
          headers: { "cache-control": "max-age=5", etag: '"e"', date: httpDate(START) },
        })),
  );
  for (
    const [label, headers] of [
      ["a Range", { range: "bytes=0-1" }],
      ["an If-None-Match", { "if-none-match": '"x"' }],
    ] as const
  ) {
    await t.step(
      `always-network sends no-cache with ${label}`,
      (t) =>
        eachStore(t, MODES, async (env) => {
          await env.get("/", { cacheLoadControl: "always-network", headers });
          assert.equal(env.seen[0]!.headers.get("cache-control"), "no-cache");
          await env.get("/", {
            cacheLoadControl: "always-network",
            headers: { ...headers, "cache-control": "max-age=5" },
          });
          assert.equal(env.seen[1]!.headers.get("cache-control"), "max-age=5");
        }, () => new Response("abcdef")),
    );
  }
});

Deno.test("cache stale rules: no unhandled rejections", () => {
  assert.deepEqual(takeUnhandledRejections(), []);
});
