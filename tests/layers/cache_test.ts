import { strict as assert } from "node:assert";
import { MemoryCache } from "../../src/cache/memory_cache.ts";
import { MemoryCookieJar } from "../../src/cookies/memory_cookie_jar.ts";
import { NetworkAccessManager } from "../../src/manager.ts";
import { NetworkError } from "../../src/network_error.ts";
import type { NetworkRequestInit } from "../../src/request.ts";
import {
  guardUnhandledRejections,
  serve,
  takeUnhandledRejections,
  tick,
} from "../_helpers/server.ts";
import { cacheOrigin, START } from "../_helpers/cache_origin.ts";

guardUnhandledRejections();

/** A test clock, a store on it, a manager on both, and an origin that counts requests. */
const setup = (
  handler: (request: Request, count: number) => Response | Promise<Response>,
  options: { store?: "memory" | "kv"; maxConnectionsPerHost?: number } = {},
) => cacheOrigin(handler, options);

function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

Deno.test("cache layer serves a fresh response from the cache without the network", async (t) => {
  for (const store of ["memory", "kv"] as const) {
    await t.step(store, async () => {
      await using env = await setup((_, n) =>
        new Response(`body ${n}`, {
          headers: { "cache-control": "max-age=60", date: httpDate(START) },
        }), { store });
      const first = await env.get();
      assert.equal(first.text, "body 1");
      assert.equal(first.reply.fromCache, false);
      env.advance(30);
      const second = await env.get();
      assert.equal(second.text, "body 1");
      assert.equal(second.reply.fromCache, true);
      assert.equal(second.reply.headers.get("age"), "30");
      assert.equal(env.seen.length, 1);
    });
  }
});

Deno.test("cache layer revalidates a stale response and merges the 304's headers", async () => {
  await using env = await setup((request, n) => {
    if (n === 1) {
      return new Response("original", {
        headers: { "cache-control": "max-age=10", etag: '"v1"', "x-version": "1" },
      });
    }
    assert.equal(request.headers.get("if-none-match"), '"v1"');
    return new Response(null, {
      status: 304,
      headers: { "cache-control": "max-age=100", etag: '"v1"', "x-version": "2" },
    });
  });
  await env.get();
  env.advance(20);
  const second = await env.get();
  assert.equal(env.seen.length, 2);
  assert.equal(second.reply.status, 200);
  assert.equal(second.text, "original");
  assert.equal(second.reply.headers.get("x-version"), "2");
  // The body came from the cache, as Qt's SourceIsFromCacheAttribute says after a 304.
  assert.equal(second.reply.fromCache, true);
  // The 304's max-age now governs: fresh for 100 s more, served without asking.
  env.advance(50);
  const third = await env.get();
  assert.equal(env.seen.length, 2);
  assert.equal(third.text, "original");
  assert.equal(third.reply.headers.get("x-version"), "2");
  assert.equal(third.reply.fromCache, true);
});

Deno.test("cache layer: a revalidated reply is fromCache, and its 304's Set-Cookie reaches the jar", async () => {
  let now = START;
  const clock = () => now;
  let requests = 0;
  await using server = serve((request) => {
    requests++;
    if (request.headers.get("if-none-match") === '"v1"') {
      return new Response(null, {
        status: 304,
        headers: { "cache-control": "max-age=10", etag: '"v1"', "set-cookie": "seen=2" },
      });
    }
    return new Response("stored body", {
      headers: { "cache-control": "max-age=10", etag: '"v1"', "set-cookie": "seen=1" },
    });
  });
  const cookieJar = new MemoryCookieJar({ clock });
  await using manager = new NetworkAccessManager({
    cache: new MemoryCache({ clock }),
    clock,
    cookieJar,
  });
  const first = manager.get(server.url);
  assert.equal(await first.text(), "stored body");
  assert.equal(first.fromCache, false);
  now += 20_000;
  const revalidated = manager.get(server.url);
  const atMetadata: boolean[] = [];
  revalidated.addEventListener("metadatachanged", () => atMetadata.push(revalidated.fromCache));
  assert.equal(await revalidated.text(), "stored body");
  assert.equal(requests, 2);
  assert.equal(revalidated.status, 200);
  assert.deepEqual(atMetadata, [true]);
  assert.equal(revalidated.fromCache, true);
  // Its exchange was the network's: the 304's cookie is stored, as any response's.
  assert.deepEqual((await cookieJar.cookiesForUrl(server.url)).map((c) => c.value), ["2"]);
  // Fresh again: served without the network.
  const hit = manager.get(server.url);
  assert.equal(await hit.text(), "stored body");
  assert.equal(hit.fromCache, true);
  assert.equal(requests, 2);
});

Deno.test("cache layer honours each cache load control", async (t) => {
  await t.step("always-network never reads the cache, sends no-cache, and stores", async () => {
    await using env = await setup((_, n) =>
      new Response(`v${n}`, { headers: { "cache-control": "max-age=60" } })
    );
    await env.get();
    const forced = await env.get("/", { cacheLoadControl: "always-network" });
    assert.equal(forced.text, "v2");
    assert.equal(forced.reply.fromCache, false);
    assert.equal(env.seen[1]!.headers.get("cache-control"), "no-cache");
    const after = await env.get();
    assert.equal(after.text, "v2", "the always-network response was stored");
    assert.equal(env.seen.length, 2);
  });

  await t.step("prefer-network revalidates a stale entry", async () => {
    await using env = await setup((_, n) =>
      new Response(`v${n}`, { headers: { "cache-control": "max-age=5" } })
    );
    await env.get();
    env.advance(10);
    assert.equal((await env.get()).text, "v2");
    assert.equal(env.seen.length, 2);
  });

  await t.step("prefer-cache serves a stale entry without asking", async () => {
    await using env = await setup((_, n) =>
      new Response(`v${n}`, {
        headers: { "cache-control": "max-age=5", "last-modified": httpDate(START - 1000) },
      })
    );
    await env.get();
    env.advance(3600);
    const stale = await env.get("/", { cacheLoadControl: "prefer-cache" });
    assert.equal(stale.text, "v1");
    assert.equal(stale.reply.fromCache, true);
    assert.equal(env.seen.length, 1);
    const miss = await env.get("/other", { cacheLoadControl: "prefer-cache" });
    assert.equal(miss.text, "v2", "a miss goes to the network");
  });

  await t.step("always-cache serves hits and fails misses without the network", async () => {
    await using env = await setup((_, n) =>
      new Response(`v${n}`, { headers: { "cache-control": "max-age=5", etag: '"x"' } })
    );
    await env.get();
    env.advance(3600);
    const hit = await env.get("/", { cacheLoadControl: "always-cache" });
    assert.equal(hit.text, "v1");
    assert.equal(hit.reply.fromCache, true);
    const miss = await env.get("/missing", { cacheLoadControl: "always-cache" });
    assert.equal(miss.reply.error, NetworkError.ContentNotFoundError);
    assert.equal(env.seen.length, 1);
  });

  await t.step("the manager's cacheLoadControl is the default of requests", async () => {
    await using env = await setup((_, n) =>
      new Response(`v${n}`, { headers: { "cache-control": "max-age=5", etag: '"x"' } })
    );
    await env.get();
    env.advance(3600);
    env.manager.cacheLoadControl = "prefer-cache";
    assert.equal((await env.get()).text, "v1");
    assert.equal((await env.get("/", { cacheLoadControl: "prefer-network" })).text, "v2");
    assert.throws(
      () => {
        env.manager.cacheLoadControl = "sometimes" as "prefer-cache";
      },
      {
        name: "TypeError",
        message:
          `Cannot set manager option: 'cacheLoadControl' must be one of "always-network", "prefer-network", "prefer-cache", "always-cache", got "sometimes"`,
      },
    );
  });
});

Deno.test("cache layer keeps several variants of one URL apart by Vary", async () => {
  await using env = await setup((request) =>
    new Response(`lang ${request.headers.get("accept-language")}`, {
      headers: { "cache-control": "max-age=60", vary: "Accept-Language" },
    })
  );
  const en = { headers: { "accept-language": "en" } };
  const fr = { headers: { "accept-language": "fr" } };
  assert.equal((await env.get("/", en)).text, "lang en");
  assert.equal((await env.get("/", fr)).text, "lang fr");
  const enAgain = await env.get("/", en);
  const frAgain = await env.get("/", fr);
  assert.equal(enAgain.text, "lang en");
  assert.equal(frAgain.text, "lang fr");
  assert.ok(enAgain.reply.fromCache && frAgain.reply.fromCache);
  assert.equal(env.seen.length, 2);
  assert.equal((await env.cache.variants(env.url + "/")).length, 2);
  assert.equal((await env.get("/", { headers: { "accept-language": "de" } })).text, "lang de");
  assert.equal(env.seen.length, 3);
});

Deno.test("cache layer selects a variant through whitespace and case that mean nothing, not through order", async (t) => {
  for (const store of ["memory", "kv"] as const) {
    await t.step(store, async () => {
      await using env = await setup(
        (request, n) =>
          new Response(`v${n} ${request.headers.get("accept-language")}`, {
            headers: { "cache-control": "max-age=60", vary: "Accept-Language, Foo" },
          }),
        { store },
      );
      const sent = (language: string, foo: string) => ({
        headers: { "accept-language": language, foo },
      });
      assert.equal((await env.get("/", sent("en, de", "1,2"))).text, "v1 en, de");
      for (const [language, foo] of [[" en ,   de", " 1, 2 "], ["eN, De", "1 ,2"]] as const) {
        const again = await env.get("/", sent(language, foo));
        assert.equal(again.text, "v1 en, de", `${language} / ${foo}`);
        assert.equal(again.reply.fromCache, true);
      }
      assert.equal(env.seen.length, 1);
      // Order may state a preference, and an unknown field's case may matter: both ask again.
      assert.equal((await env.get("/", sent("de, en", "1,2"))).text, "v2 de, en");
      assert.equal((await env.get("/", sent("en, de", "1,2,A"))).text, "v3 en, de");
      assert.equal((await env.get("/", sent("en, de", "1,2,a"))).text, "v4 en, de");
      assert.equal(env.seen.length, 4);
    });
  }
});

Deno.test("cache layer stores nothing for no-store, cacheSaveControl false, or Vary: *", async (t) => {
  const cases: [string, HeadersInit, NetworkRequestInit | undefined][] = [
    ["response no-store", { "cache-control": "no-store, max-age=60" }, undefined],
    ["request no-store", { "cache-control": "max-age=60" }, {
      headers: { "cache-control": "no-store" },
    }],
    ["cacheSaveControl false", { "cache-control": "max-age=60" }, { cacheSaveControl: false }],
    ["Vary: *", { "cache-control": "max-age=60", vary: "*" }, undefined],
  ];
  for (const [name, headers, init] of cases) {
    await t.step(name, async () => {
      await using env = await setup((_, n) => new Response(`v${n}`, { headers }));
      await env.get("/", init);
      assert.equal(await env.cache.cacheSize(), 0);
      assert.equal((await env.get("/", init)).text, "v2");
    });
  }
});

Deno.test("cache layer invalidates the URL, Location and Content-Location after a POST", async () => {
  await using env = await setup((request, n) => {
    if (request.method === "POST") {
      return new Response("posted", {
        status: 201,
        headers: { location: "/created", "content-location": "/described" },
      });
    }
    return new Response(`v${n}`, { headers: { "cache-control": "max-age=600" } });
  });
  for (const path of ["/items", "/created", "/described", "/other"]) await env.get(path);
  assert.equal(env.seen.length, 4);
  const post = env.manager.post(env.url + "/items", "new item");
  await post.text();
  await post.finished;
  assert.equal(post.status, 201);
  assert.equal((await env.get("/items")).reply.fromCache, false);
  assert.equal((await env.get("/created")).reply.fromCache, false);
  assert.equal((await env.get("/described")).reply.fromCache, false);
  assert.equal((await env.get("/other")).reply.fromCache, true, "other URLs stay");
});

Deno.test("cache layer keeps entries after a failed POST", async () => {
  await using env = await setup((request, n) =>
    request.method === "POST"
      ? new Response("nope", { status: 500 })
      : new Response(`v${n}`, { headers: { "cache-control": "max-age=600" } })
  );
  await env.get("/items");
  const post = env.manager.post(env.url + "/items", "x");
  await post.text();
  await post.finished;
  assert.equal((await env.get("/items")).reply.fromCache, true);
});

Deno.test("cache layer serves a HEAD request from a stored GET response", async () => {
  await using env = await setup(() =>
    new Response("content", { headers: { "cache-control": "max-age=60", "x-a": "1" } })
  );
  await env.get();
  const head = env.manager.head(env.url + "/");
  await head.finished;
  assert.equal(head.fromCache, true);
  assert.equal(head.headers.get("x-a"), "1");
  assert.equal(env.seen.length, 1);
});

Deno.test("cache layer: a cache hit takes no slot in the per-host queue", async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  await using env = await setup(async (request) => {
    if (new URL(request.url).pathname === "/slow") await held;
    return new Response("cached", { headers: { "cache-control": "max-age=60" } });
  }, { maxConnectionsPerHost: 1 });
  await env.get("/fast");
  const slow = env.manager.get(env.url + "/slow");
  while (env.seen.length < 2) await tick(1);
  const origin = new URL(env.url).origin;
  assert.equal(env.manager.queue.active(origin), 1, "the slow request holds the only slot");
  const hit = await env.get("/fast");
  assert.equal(hit.reply.fromCache, true);
  assert.equal(hit.text, "cached");
  assert.equal(env.manager.queue.active(origin), 1);
  assert.equal(env.manager.queue.waiting(origin), 0);
  release();
  await slow.text();
  await slow.finished;
});

Deno.test("cache layer stores nothing from a reply aborted or failed midway", async (t) => {
  await t.step("aborted by the user", async () => {
    let chunks = 0;
    await using env = await setup(() => {
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          chunks++;
          controller.enqueue(new Uint8Array(1024));
          if (chunks > 1000) controller.close();
        },
      });
      return new Response(body, { headers: { "cache-control": "max-age=60" } });
    });
    const reply = env.manager.get(env.url + "/");
    let read = 0;
    for await (const chunk of reply) {
      read += chunk.length;
      if (read >= 4096) {
        reply.abort();
        break;
      }
    }
    await reply.finished;
    assert.equal(reply.error, NetworkError.OperationCanceledError);
    assert.equal(await env.cache.cacheSize(), 0);
    assert.equal((await env.cache.variants(env.url + "/")).length, 0);
  });

  await t.step("the connection drops before the end of the body", async () => {
    await using env = await setup(() => {
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ < 3) controller.enqueue(new Uint8Array(1024));
          else controller.error(new Error("origin failed"));
        },
      });
      return new Response(body, {
        headers: { "cache-control": "max-age=60", "content-length": "100000" },
      });
    });
    const { reply } = await env.get();
    assert.notEqual(reply.error, NetworkError.NoError);
    assert.equal(await env.cache.cacheSize(), 0);
  });

  await t.step("a complete body streams to the reply and is stored at the end", async () => {
    const size = 256 * 1024;
    await using env = await setup(() =>
      new Response(new Uint8Array(size).fill(7), { headers: { "cache-control": "max-age=60" } })
    );
    const first = env.manager.get(env.url + "/");
    const bytes = await first.bytes();
    await first.finished;
    assert.equal(bytes.length, size);
    const second = env.manager.get(env.url + "/");
    const again = await second.bytes();
    await second.finished;
    assert.equal(second.fromCache, true);
    assert.deepEqual(again, bytes);
  });
});

Deno.test("cache layer serves stale on error and while revalidating when the response allows", async (t) => {
  await t.step("stale-if-error answers a 503", async () => {
    await using env = await setup((_, n) =>
      n === 1
        ? new Response("good", { headers: { "cache-control": "max-age=10, stale-if-error=60" } })
        : new Response("down", { status: 503 })
    );
    await env.get();
    env.advance(30);
    const second = await env.get();
    assert.equal(second.text, "good");
    assert.equal(second.reply.status, 200);
    env.advance(60);
    assert.equal((await env.get()).reply.status, 503, "past the stale-if-error window");
  });

  await t.step("stale-while-revalidate: text() does not wait for a silent origin", async () => {
    const release = Promise.withResolvers<void>();
    await using env = await setup(async (request, n) => {
      if (n === 2) {
        // The revalidation: the origin says nothing until the test lets it, or the client goes.
        await Promise.race([
          release.promise,
          new Promise((resolve) => request.signal.addEventListener("abort", resolve)),
        ]);
      }
      return new Response(`v${n}`, {
        headers: { "cache-control": "max-age=10, stale-while-revalidate=60" },
      });
    });
    await env.get();
    env.advance(20);
    const stale = env.manager.get(env.url + "/");
    let settled = false;
    const text = stale.text().finally(() => (settled = true));
    const deadline = Date.now() + 5_000;
    while (!settled && Date.now() < deadline) await tick(10);
    assert.equal(settled, true, "text() resolved while the revalidation still waits");
    assert.equal(await text, "v1");
    assert.equal(stale.fromCache, true);
    assert.equal(env.seen.length, 2, "the revalidation was sent");
    release.resolve();
    // The refreshed response is stored once the revalidation completes.
    let fresh = "";
    for (let i = 0; i < 1000 && fresh !== "v2"; i++) {
      await tick(10);
      fresh = (await env.get("/", { cacheLoadControl: "prefer-cache" })).text;
    }
    assert.equal(fresh, "v2");
    assert.equal(env.seen.length, 2);
  });

  await t.step(
    "stale-while-revalidate: closing the manager ends a pending revalidation",
    async () => {
      await using env = await setup(async (request, n) => {
        if (n === 2) {
          await new Promise((resolve) => request.signal.addEventListener("abort", resolve));
        }
        return new Response(`v${n}`, {
          headers: { "cache-control": "max-age=10, stale-while-revalidate=60" },
        });
      });
      await env.get();
      env.advance(20);
      assert.equal((await env.get()).text, "v1");
      while (env.seen.length < 2) await tick(5);
      await env.manager.close(); // returns although the origin never answers
    },
  );

  await t.step("stale-while-revalidate serves the stale body and refreshes it", async () => {
    await using env = await setup((_, n) =>
      new Response(`v${n}`, {
        headers: { "cache-control": "max-age=10, stale-while-revalidate=60" },
      })
    );
    await env.get();
    env.advance(20);
    const stale = await env.get();
    assert.equal(stale.text, "v1");
    assert.equal(stale.reply.fromCache, true);
    for (let i = 0; i < 2000 && env.seen.length < 2; i++) await tick(5);
    assert.equal(env.seen.length, 2, "revalidated in the background");
    let stored = "";
    for (let i = 0; i < 2000 && stored !== "v2"; i++) {
      await tick(5);
      stored = (await env.get("/", { cacheLoadControl: "prefer-cache" })).text;
    }
    const fresh = await env.get();
    assert.equal(fresh.text, "v2");
    assert.equal(fresh.reply.fromCache, true);
    assert.equal(env.seen.length, 2);
  });
});

Deno.test("cache layer honours the request's Cache-Control directives", async (t) => {
  const fresh = (_: Request, n: number) =>
    new Response(`v${n}`, { headers: { "cache-control": "max-age=10", date: httpDate(START) } });
  for (const store of ["memory", "kv"] as const) {
    await t.step(`${store}: no-store goes to the network and stores nothing`, async () => {
      await using env = await setup(fresh, { store });
      await env.get();
      const second = await env.get("/", { headers: { "cache-control": "no-store" } });
      assert.equal(second.text, "v2");
      assert.equal(second.reply.fromCache, false);
      assert.equal(env.seen.length, 2);
      const third = await env.get();
      assert.equal(third.text, "v1", "the stored response was neither used nor replaced");
      assert.equal(third.reply.fromCache, true);
    });
    await t.step(`${store}: only-if-cached with nothing stored answers 504`, async () => {
      await using env = await setup(fresh, { store });
      const { reply, text } = await env.get("/", {
        headers: { "cache-control": "only-if-cached" },
      });
      assert.equal(reply.status, 504);
      assert.equal(reply.error, NetworkError.UnknownServerError);
      assert.equal(reply.fromCache, true);
      assert.equal(text, "");
      assert.equal(env.seen.length, 0, "nothing went to the network");
    });
    await t.step(`${store}: only-if-cached answers from the cache when it can`, async () => {
      await using env = await setup(fresh, { store });
      await env.get();
      const hit = await env.get("/", { headers: { "cache-control": "only-if-cached" } });
      assert.equal(hit.text, "v1");
      assert.equal(hit.reply.fromCache, true);
      env.advance(20);
      const stale = await env.get("/", { headers: { "cache-control": "only-if-cached" } });
      assert.equal(stale.reply.status, 504, "a stale response is not used without max-stale");
      const allowed = await env.get("/", {
        headers: { "cache-control": "only-if-cached, max-stale=60" },
      });
      assert.equal(allowed.text, "v1");
      assert.equal(env.seen.length, 1);
    });
    await t.step(`${store}: max-stale accepts a stale response within its bound`, async () => {
      await using env = await setup(fresh, { store });
      await env.get();
      env.advance(20); // 10 s past its freshness
      const within = await env.get("/", { headers: { "cache-control": "max-stale=30" } });
      assert.equal(within.text, "v1");
      assert.equal(within.reply.fromCache, true);
      const any = await env.get("/", { headers: { "cache-control": "max-stale" } });
      assert.equal(any.text, "v1");
      assert.equal(env.seen.length, 1);
      const beyond = await env.get("/", { headers: { "cache-control": "max-stale=5" } });
      assert.equal(beyond.text, "v2");
      assert.equal(env.seen.length, 2);
    });
  }
});

Deno.test("cache layer reads an Expires whose names are not in the usual case, as browsers do", async (t) => {
  for (
    const expires of [
      "THU, 18 Aug 2050 02:01:18 GMT",
      "Thu, 18 AUG 2050 02:01:18 GMT",
      "Thu, 18 Aug 2050 02:01:18 gMT",
    ]
  ) {
    await t.step(expires, async () => {
      await using env = await setup((_, n) => new Response(`v${n}`, { headers: { expires } }));
      await env.get();
      env.advance(3);
      const second = await env.get();
      assert.equal(second.text, "v1");
      assert.equal(second.reply.fromCache, true);
    });
  }
});

Deno.test("cache layer ends with no unhandled rejections", () => {
  assert.deepEqual(takeUnhandledRejections(), []);
});
