import assert from "node:assert/strict";
import {
  type Exchange,
  MemoryCache,
  MemoryCookieJar,
  MemoryHstsStore,
  NetworkAccessManager,
  NetworkError,
} from "../mod.ts";

/** A transport that answers by path and records what each request carried. */
function recordingTransport() {
  const seen: { url: string; cookie: string | null }[] = [];
  const tried = new WeakSet<object>();
  const transport = (exchange: Exchange): Promise<Response> => {
    const { url } = exchange;
    seen.push({ url: url.href, cookie: exchange.headers.get("cookie") });
    switch (url.pathname) {
      case "/login":
        return Promise.resolve(new Response("in", { headers: { "set-cookie": "session=1" } }));
      case "/cached":
        return Promise.resolve(
          new Response(`copy ${seen.length}`, { headers: { "cache-control": "max-age=600" } }),
        );
      case "/flaky":
        // 503 to the first attempt of each reply, 200 to a second.
        if (tried.has(exchange.reply)) return Promise.resolve(new Response("again"));
        tried.add(exchange.reply);
        return Promise.resolve(new Response("", { status: 503 }));
      case "/hsts":
        return Promise.resolve(
          new Response("secure", { headers: { "strict-transport-security": "max-age=600" } }),
        );
      default:
        return Promise.resolve(new Response("ok"));
    }
  };
  return { transport, seen };
}

Deno.test("A feature switched on after requests were sent takes effect on the next request", async (t) => {
  const { transport, seen } = recordingTransport();
  await using manager = new NetworkAccessManager({ transport, cookieJar: null });
  // The pipeline is built and used with every feature off.
  assert.equal(await manager.get("https://site.test/login").text(), "in");
  assert.equal(await manager.get("https://site.test/").text(), "ok");
  assert.equal(seen.at(-1)!.cookie, null);

  await t.step("a cookie jar", async () => {
    manager.cookieJar = new MemoryCookieJar();
    await manager.get("https://site.test/login").finished;
    await manager.get("https://site.test/").finished;
    assert.equal(seen.at(-1)!.cookie, "session=1");
  });

  await t.step("the cookie jar turned off again", async () => {
    manager.cookieJar = null;
    await manager.get("https://site.test/").finished;
    assert.equal(seen.at(-1)!.cookie, null);
    manager.cookieJar = new MemoryCookieJar();
  });

  await t.step("a cache", async () => {
    manager.cache = new MemoryCache();
    const first = await manager.get("https://site.test/cached").text();
    const second = manager.get("https://site.test/cached");
    assert.equal(await second.text(), first);
    assert.equal(second.fromCache, true);
  });

  await t.step("retry", async () => {
    const off = manager.get("https://site.test/flaky");
    await off.finished;
    assert.equal(off.error, NetworkError.ServiceUnavailableError);
    manager.retry = { limit: 1, delay: 0, jitter: false };
    const on = manager.get("https://site.test/flaky");
    await on.finished;
    assert.equal(on.error, NetworkError.NoError, on.errorString);
    assert.equal(on.retries, 1);
  });

  await t.step("an HSTS store", async () => {
    manager.hstsStore = new MemoryHstsStore();
    await manager.get("https://secure.test/hsts").finished;
    const upgraded = manager.get("http://secure.test/page");
    await upgraded.finished;
    assert.equal(seen.at(-1)!.url, "https://secure.test/page");
  });

  await t.step("a layer added with use()", async () => {
    manager.use((next) => (exchange) => {
      exchange.headers.set("x-added", "yes");
      return next(exchange);
    }, "network");
    let header: string | null = null;
    manager.use((next) => async (exchange) => {
      const response = await next(exchange);
      header = exchange.headers.get("x-added");
      return response;
    });
    await manager.get("https://site.test/").finished;
    assert.equal(header, "yes");
  });
});
