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

Deno.test("A reply setting changed after requests were sent applies to the next request", async (t) => {
  const body = new Uint8Array(2048);
  await using manager = new NetworkAccessManager({
    transport: () => Promise.resolve(new Response(body, { headers: { "content-length": "2048" } })),
  });
  // Replies of requests that set none of these share the manager's settings as they were.
  assert.equal((await manager.get("https://site.test/").bytes()).byteLength, 2048);

  await t.step("maxBodySize", async () => {
    manager.maxBodySize = 1024;
    const reply = manager.get("https://site.test/");
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolFailure);
    const own = manager.get("https://site.test/", { maxBodySize: 4096 });
    await own.finished;
    assert.equal(own.error, NetworkError.NoError);
    manager.maxBodySize = 0;
    assert.equal((await manager.get("https://site.test/").bytes()).byteLength, 2048);
  });

  await t.step("decompressionGuard", async () => {
    const seen: (string | null)[] = [];
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
      seen.push(request.headers.get("accept-encoding"));
      return new Response("ok");
    });
    try {
      await using network = new NetworkAccessManager();
      const url = `http://127.0.0.1:${server.addr.port}/`;
      await network.get(url).finished;
      network.decompressionGuard = -1;
      await network.get(url).finished;
      network.decompressionGuard = 1024;
      await network.get(url).finished;
      assert.equal(seen[0], "identity");
      assert.notEqual(seen[1], "identity");
      assert.equal(seen[2], "identity");
    } finally {
      await server.shutdown();
    }
  });

  await t.step("timeout", async () => {
    await using slow = new NetworkAccessManager({
      transport: (exchange) =>
        new Promise((_, reject) =>
          exchange.signal.addEventListener("abort", () => reject(exchange.signal.reason))
        ),
    });
    const first = slow.get("https://site.test/", { timeout: 20 });
    await first.finished;
    assert.equal(first.error, NetworkError.TimeoutError);
    slow.timeout = 20;
    const second = slow.get("https://site.test/");
    await second.finished;
    assert.equal(second.error, NetworkError.TimeoutError);
  });
});

Deno.test("Over the network, a request that needs no layer's work and every setting changed after it", async (t) => {
  // The default manager sends a plain GET straight to the transport; these show that each
  // setting, stored credential and cookie turns that off on the next request, and that a
  // response a layer acts on (a redirect, a challenge, a cookie) still reaches that layer.
  const seen: { path: string; cookie: string | null; authorization: string | null }[] = [];
  let flaky = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { pathname } = new URL(request.url);
    const authorization = request.headers.get("authorization");
    seen.push({ path: pathname, cookie: request.headers.get("cookie"), authorization });
    switch (pathname) {
      case "/moved":
        return new Response(null, { status: 302, headers: { location: "/" } });
      case "/private":
        return authorization === null
          ? new Response("who?", {
            status: 401,
            headers: { "www-authenticate": 'Basic realm="r"' },
          })
          : new Response("welcome");
      case "/login":
        return new Response("in", { headers: { "set-cookie": "session=1; Path=/" } });
      case "/renew":
        return new Response(null, {
          status: 302,
          headers: { location: "/", "set-cookie": "session=2; Path=/" },
        });
      case "/flaky":
        // 503 to the first request after `flaky` was reset, 200 to the next.
        return ++flaky === 1 ? new Response("", { status: 503 }) : new Response("again");
      default:
        return new Response("home");
    }
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    await using manager = new NetworkAccessManager();
    assert.equal(await manager.get(`${base}/`).text(), "home");

    await t.step("a redirect is followed, or given back under the manual policy", async () => {
      const followed = manager.get(`${base}/moved`);
      assert.equal(await followed.text(), "home");
      assert.deepEqual(followed.redirects.map((url) => url.pathname), ["/"]);
      const manual = manager.get(`${base}/moved`, { redirectPolicy: "manual" });
      await manual.finished;
      assert.equal(manual.status, 302);
      manager.redirectPolicy = "manual";
      const byManager = manager.get(`${base}/moved`);
      await byManager.finished;
      assert.equal(byManager.status, 302);
      manager.redirectPolicy = "no-less-safe";
    });

    await t.step("a request's own Cookie header goes through the cookies layer", async () => {
      // Which merges it with the jar's (none yet), dropping the trailing separator.
      await manager.get(`${base}/`, { headers: { cookie: "mine=1; " } }).finished;
      assert.equal(seen.at(-1)!.cookie, "mine=1");
    });

    await t.step("a cookie is stored, then sent", async () => {
      await manager.get(`${base}/login`).finished;
      await manager.get(`${base}/`).finished;
      assert.equal(seen.at(-1)!.cookie, "session=1");
      // A redirect that sets the cookie anew: its next hop sends the new value, not the one the
      // first hop was sent with.
      await manager.get(`${base}/renew`).finished;
      assert.deepEqual(seen.slice(-2).map((s) => s.cookie), ["session=1", "session=2"]);
      manager.cookieJar = new MemoryCookieJar();
      await manager.get(`${base}/`).finished;
      assert.equal(seen.at(-1)!.cookie, null);
    });

    await t.step("a challenge is answered, then credentials go first", async () => {
      manager.authenticator = () => ({ username: "me", password: "pw" });
      assert.equal(await manager.get(`${base}/private`).text(), "welcome");
      assert.equal(seen.at(-2)!.authorization, null);
      assert.equal(seen.at(-1)!.authorization, `Basic ${btoa("me:pw")}`);
      // Sent with the request: no 401 first.
      const before = seen.length;
      await manager.get(`${base}/private`).finished;
      assert.equal(seen.length, before + 1);
      assert.equal(seen.at(-1)!.authorization, `Basic ${btoa("me:pw")}`);
      manager.clearAccessCache();
      manager.authenticator = undefined;
    });

    await t.step("credentials in the URL answer the challenge", async () => {
      const url = new URL(`${base}/private`);
      url.username = "you";
      url.password = "pw2";
      assert.equal(await manager.get(url).text(), "welcome");
      assert.equal(seen.at(-2)!.authorization, null);
      assert.equal(seen.at(-1)!.authorization, `Basic ${btoa("you:pw2")}`);
      manager.clearAccessCache();
    });

    await t.step("retry", async () => {
      flaky = 0;
      const off = manager.get(`${base}/flaky`);
      await off.finished;
      assert.equal(off.error, NetworkError.ServiceUnavailableError);
      manager.retry = { limit: 1, delay: 0, jitter: false };
      flaky = 0;
      const on = manager.get(`${base}/flaky`);
      assert.equal(await on.text(), "again");
      assert.equal(on.retries, 1);
      manager.retry = false;
      flaky = 0;
      const own = manager.get(`${base}/flaky`, { retry: { limit: 1, delay: 0, jitter: false } });
      assert.equal(await own.text(), "again");
    });

    await t.step("network access switched off, then on", async () => {
      manager.networkAccessible = false;
      const off = manager.get(`${base}/`);
      await off.finished;
      assert.equal(off.error, NetworkError.UnknownNetworkError);
      manager.networkAccessible = true;
      assert.equal(await manager.get(`${base}/`).text(), "home");
    });

    await t.step("a proxy", async () => {
      // Nothing listens on this port: the request fails at the proxy, not at the server.
      const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (closed.addr as Deno.NetAddr).port;
      closed.close();
      const before = seen.length;
      manager.proxy = { type: "http", url: `http://127.0.0.1:${port}` };
      const reply = manager.get(`${base}/`);
      await reply.finished;
      assert.equal(reply.error, NetworkError.ProxyConnectionRefusedError, reply.errorString);
      assert.equal(seen.length, before);
      manager.proxy = undefined;
      manager.clearConnectionCache();
      assert.equal(await manager.get(`${base}/`).text(), "home");
    });

    await t.step("a layer", async () => {
      const layered: string[] = [];
      manager.use((next) => (exchange) => {
        layered.push(exchange.url.pathname);
        return next(exchange);
      }, "network");
      await manager.get(`${base}/`).finished;
      assert.deepEqual(layered, ["/"]);
    });
  } finally {
    await server.shutdown();
  }
});
