import assert from "node:assert/strict";
import {
  type HstsStore,
  KvHstsStore,
  type Layer,
  MemoryHstsStore,
  NetworkAccessManager,
  NetworkError,
  NetworkReplyError,
  setResponseInfo,
} from "../../mod.ts";
import { PLAIN_HTTP_HINT } from "../../src/tls.ts";
import {
  guardUnhandledRejections,
  serve,
  serveTcp,
  takeUnhandledRejections,
} from "../_helpers/server.ts";
import { makeTestCertificates } from "../_helpers/tls.ts";

guardUnhandledRejections();

const certificates = await makeTestCertificates();

/** A network layer answering every exchange itself, recording the URLs that reached it. */
function fakeNetwork(answer: (url: URL) => Response): { layer: Layer; urls: string[] } {
  const urls: string[] = [];
  const layer: Layer = () => (exchange) => {
    urls.push(exchange.url.href);
    return Promise.resolve(answer(exchange.url));
  };
  return { layer, urls };
}

/** An https server on loopback (certificate for localhost) that sends `sts` when given. */
async function httpsServer(sts: string | null = "max-age=600") {
  const { cert, key } = await certificates;
  const paths: string[] = [];
  const server = serve((request) => {
    paths.push(new URL(request.url).pathname);
    const headers = new Headers();
    if (sts !== null) headers.set("strict-transport-security", sts);
    return new Response("secure", { headers });
  }, { cert, key });
  return Object.assign(server, { paths });
}

Deno.test("HSTS is off by default: nothing is learned or upgraded", async () => {
  const net = fakeNetwork(() =>
    new Response("x", { headers: { "strict-transport-security": "max-age=600" } })
  );
  await using manager = new NetworkAccessManager();
  manager.use(net.layer, "network");
  assert.equal(manager.hstsStore, null);
  await manager.get("https://secure.test/").text();
  await manager.get("http://secure.test/").text();
  assert.deepEqual(net.urls, ["https://secure.test/", "http://secure.test/"]);
});

Deno.test("HSTS layer learns from https and upgrades http before anything is sent", async (t) => {
  await t.step("port 80 becomes 443, another port is kept", async () => {
    const store = new MemoryHstsStore();
    const net = fakeNetwork(() =>
      new Response("x", { headers: { "strict-transport-security": "max-age=600" } })
    );
    await using manager = new NetworkAccessManager({ hstsStore: store });
    manager.use(net.layer, "network");
    await manager.get("https://secure.test/first").text();
    assert.equal(await store.isKnownHost("secure.test"), true);
    const reply = manager.get("http://secure.test/page?q=1");
    await reply.text();
    assert.equal(reply.url.href, "https://secure.test/page?q=1");
    await manager.get("http://secure.test:80/a").text();
    await manager.get("http://secure.test:8080/b").text();
    assert.deepEqual(net.urls, [
      "https://secure.test/first",
      "https://secure.test/page?q=1",
      "https://secure.test/a",
      "https://secure.test:8080/b",
    ]);
  });
  await t.step("against a loopback https server", async () => {
    const { caCert } = await certificates;
    await using server = await httpsServer();
    await using manager = new NetworkAccessManager({
      hstsStore: new MemoryHstsStore(),
      caCerts: [caCert],
    });
    await manager.get(`https://localhost:${server.port}/learn`).text();
    const reply = manager.get(`http://localhost:${server.port}/upgraded`);
    assert.equal(await reply.text(), "secure");
    assert.equal(reply.error, NetworkError.NoError);
    assert.equal(reply.url.href, `https://localhost:${server.port}/upgraded`);
    assert.deepEqual(server.paths, ["/learn", "/upgraded"]);
  });
  await t.step("the first byte on the wire is a TLS handshake, not a request", async () => {
    const firstBytes: Uint8Array[] = [];
    await using tcp = serveTcp(async (conn) => {
      const buffer = new Uint8Array(512);
      const n = await conn.read(buffer);
      if (n !== null) firstBytes.push(buffer.slice(0, n));
    });
    await using manager = new NetworkAccessManager({
      hstsStore: new MemoryHstsStore({ preload: ["localhost"] }),
    });
    const reply = manager.get(`http://localhost:${tcp.port}/secret?token=1`);
    await reply.finished;
    assert.notEqual(reply.error, NetworkError.NoError);
    assert.equal(firstBytes.length >= 1, true);
    assert.equal(firstBytes[0]![0], 0x16); // TLS handshake record
    assert.doesNotMatch(new TextDecoder().decode(firstBytes[0]), /GET|secret/);
  });
});

Deno.test("HSTS layer learns only what RFC 6797 allows", async (t) => {
  const learnFrom = async (url: string, sts: string) => {
    const store = new MemoryHstsStore();
    const net = fakeNetwork(() =>
      new Response("x", { headers: { "strict-transport-security": sts } })
    );
    await using manager = new NetworkAccessManager({ hstsStore: store });
    manager.use(net.layer, "network");
    await manager.get(url).text();
    return store;
  };
  await t.step("not from http responses", async () => {
    const store = await learnFrom("http://plain.test/", "max-age=600");
    assert.deepEqual(await store.all(), []);
  });
  await t.step("not for IP literals", async () => {
    assert.deepEqual(await (await learnFrom("https://127.0.0.1/", "max-age=600")).all(), []);
    assert.deepEqual(await (await learnFrom("https://[::1]/", "max-age=600")).all(), []);
  });
  await t.step("not from malformed headers", async () => {
    for (const bad of ["max-age=abc", "includeSubDomains", "max-age=1; max-age=2", "max-age"]) {
      assert.deepEqual(await (await learnFrom("https://secure.test/", bad)).all(), [], bad);
    }
  });
  await t.step("not from responses the cache answered", async () => {
    const store = new MemoryHstsStore();
    await using manager = new NetworkAccessManager({ hstsStore: store });
    manager.use(() => () =>
      Promise.resolve(
        setResponseInfo(
          new Response("x", { headers: { "strict-transport-security": "max-age=600" } }),
          { fromCache: true },
        ),
      ), "network");
    await manager.get("https://secure.test/").text();
    assert.deepEqual(await store.all(), []);
  });
  await t.step("includeSubDomains covers subdomains", async () => {
    const store = await learnFrom("https://secure.test/", "max-age=600; includeSubDomains");
    assert.equal(await store.isKnownHost("api.secure.test"), true);
    const plain = await learnFrom("https://secure.test/", "max-age=600");
    assert.equal(await plain.isKnownHost("api.secure.test"), false);
  });
  await t.step("max-age=0 removes the policy", async () => {
    const store = new MemoryHstsStore();
    let sts = "max-age=600";
    const net = fakeNetwork(() =>
      new Response("x", { headers: { "strict-transport-security": sts } })
    );
    await using manager = new NetworkAccessManager({ hstsStore: store });
    manager.use(net.layer, "network");
    await manager.get("https://secure.test/").text();
    assert.equal(await store.isKnownHost("secure.test"), true);
    sts = "max-age=0";
    await manager.get("https://secure.test/").text();
    assert.equal(await store.isKnownHost("secure.test"), false);
    await manager.get("http://secure.test/").text();
    assert.equal(net.urls.at(-1), "http://secure.test/");
  });
  await t.step("a policy expires on the manager's store clock", async () => {
    let now = Date.UTC(2026, 0, 1);
    const store = new MemoryHstsStore({ clock: () => now });
    const net = fakeNetwork(() =>
      new Response("x", { headers: { "strict-transport-security": "max-age=60" } })
    );
    await using manager = new NetworkAccessManager({ hstsStore: store });
    manager.use(net.layer, "network");
    await manager.get("https://secure.test/").text();
    await manager.get("http://secure.test/a").text();
    now += 61_000;
    await manager.get("http://secure.test/b").text();
    assert.deepEqual(net.urls.slice(1), ["https://secure.test/a", "http://secure.test/b"]);
  });
});

Deno.test("HSTS layer upgrades redirect targets", async (t) => {
  const { caCert } = await certificates;
  await using secure = await httpsServer(null);
  const plainTarget = `http://localhost:${secure.port}/target`;
  await t.step("an http redirect to a known host goes to https", async () => {
    await using up = serve(() => Response.redirect(plainTarget, 302));
    await using manager = new NetworkAccessManager({
      hstsStore: new MemoryHstsStore({ preload: ["localhost"] }),
      caCerts: [caCert],
    });
    const reply = manager.get(`${up.url}/start`);
    assert.equal(await reply.text(), "secure");
    assert.deepEqual(reply.redirects.map((u) => u.href), [
      `https://localhost:${secure.port}/target`,
    ]);
  });
  await t.step("https -> http to a known host is not a downgrade", async () => {
    const { cert, key } = await certificates;
    await using down = serve(() => Response.redirect(plainTarget, 302), { cert, key });
    await using manager = new NetworkAccessManager({
      hstsStore: new MemoryHstsStore({ preload: ["localhost"] }),
      caCerts: [caCert],
    });
    const reply = manager.get(`https://localhost:${down.port}/start`);
    assert.equal(await reply.text(), "secure");
    assert.equal(reply.error, NetworkError.NoError);
  });
  await t.step("without HSTS the same redirect is refused", async () => {
    const { cert, key } = await certificates;
    await using down = serve(() => Response.redirect(plainTarget, 302), { cert, key });
    await using manager = new NetworkAccessManager({ caCerts: [caCert] });
    const reply = manager.get(`https://localhost:${down.port}/start`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.InsecureRedirectError);
  });
});

Deno.test("an upgraded request that fails reports the https URL it tried", async (t) => {
  await using plain = serve(() => new Response("plain"));
  await using manager = new NetworkAccessManager({
    hstsStore: new MemoryHstsStore({ preload: ["localhost"] }),
  });
  await t.step("a handshake that fails", async () => {
    const reply = manager.get(`http://localhost:${plain.port}/p`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.SslHandshakeFailedError);
    assert.equal(reply.url.href, `https://localhost:${plain.port}/p`);
    assert.deepEqual(reply.redirects, []);
    // The caller did use an http: URL: the message says why it went over https.
    assert.match(reply.errorString, /upgraded from http: to https: by HSTS policy/);
    assert.match(reply.errorString, /localhost is in the HSTS store/);
    assert.doesNotMatch(reply.errorString, /use an http: URL/);
  });
  await t.step("a refused connection, with user info kept out", async () => {
    const reply = manager.get("http://user:pw@localhost/p");
    await reply.finished;
    assert.notEqual(reply.error, NetworkError.NoError);
    assert.equal(reply.url.href, "https://localhost/p");
  });
});

Deno.test("a failed upgraded handshake names the host whose policy covers the host", async (t) => {
  /** A network layer failing every handshake as the TLS layer does with a plain HTTP server. */
  const plainServer: Layer = () => (exchange) =>
    Promise.reject(
      new NetworkReplyError(
        NetworkError.SslHandshakeFailedError,
        `TLS handshake with ${exchange.url.host} failed ${PLAIN_HTTP_HINT}`,
      ),
    );
  const failure = async (store: HstsStore, url: string) => {
    await using manager = new NetworkAccessManager({ hstsStore: store });
    manager.use(plainServer, "network");
    const reply = manager.get(url);
    await reply.finished;
    assert.equal(reply.error, NetworkError.SslHandshakeFailedError);
    assert.match(reply.errorString, /upgraded from http: to https: by HSTS policy/);
    return reply.errorString;
  };
  await t.step("a parent's includeSubDomains policy is named as the parent's", async () => {
    const store = new MemoryHstsStore();
    await store.learn("secure.test", "max-age=600; includeSubDomains");
    const message = await failure(store, "http://api.v1.secure.test/p");
    assert.doesNotMatch(message, /api\.v1\.secure\.test is in the HSTS store/);
    assert.match(
      message,
      /api\.v1\.secure\.test is covered by the includeSubDomains policy of secure\.test in the HSTS store, so an http: URL does not help; remove secure\.test from the store/,
    );
  });
  await t.step("the host's own policy, with a parent's too, is the host's", async () => {
    const store = new MemoryHstsStore({ preload: [{ host: "test", includeSubDomains: true }] });
    await store.learn("secure.test", "max-age=600");
    const message = await failure(store, "http://secure.test./p");
    assert.match(message, /secure\.test\.? is in the HSTS store/);
  });
  await t.step("a store that does not tell which policy is worded without naming one", async () => {
    const memory = new MemoryHstsStore({
      preload: [{ host: "secure.test", includeSubDomains: true }],
    });
    const store: HstsStore = Object.assign(Object.create(memory), {
      get: () => Promise.reject(new Error("unavailable")),
      isKnownHost: (host: string) => memory.isKnownHost(host),
    });
    const message = await failure(store, "http://api.secure.test/p");
    assert.match(
      message,
      /api\.secure\.test is covered by an HSTS policy in the store, so an http: URL does not help/,
    );
  });
});

Deno.test("HSTS policies in a KvHstsStore survive a restart", async () => {
  const { caCert } = await certificates;
  const dir = await Deno.makeTempDir();
  const path = `${dir}/hsts.sqlite3`;
  try {
    await using server = await httpsServer("max-age=3600; includeSubDomains");
    {
      await using store = await KvHstsStore.open({ path });
      await using manager = new NetworkAccessManager({ hstsStore: store, caCerts: [caCert] });
      assert.equal(await manager.get(`https://localhost:${server.port}/learn`).text(), "secure");
    }
    {
      await using store = await KvHstsStore.open({ path });
      const seen: string[] = [];
      await using manager = new NetworkAccessManager({ hstsStore: store, caCerts: [caCert] });
      manager.use((next) => (exchange) => {
        seen.push(exchange.url.href);
        return next(exchange);
      }, "network");
      const reply = manager.get(`http://localhost:${server.port}/after-restart`);
      assert.equal(await reply.text(), "secure");
      assert.deepEqual(seen, [`https://localhost:${server.port}/after-restart`]);
      assert.deepEqual(server.paths, ["/learn", "/after-restart"]);
      assert.equal((await store.get("localhost"))?.includeSubDomains, true);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HSTS layer fails the reply when the store fails", async () => {
  const store = await KvHstsStore.open({ path: ":memory:" });
  await store.close();
  await using manager = new NetworkAccessManager({ hstsStore: store });
  const reply = manager.get("http://secure.test/");
  await reply.finished;
  assert.equal(reply.error, NetworkError.UnknownNetworkError);
  assert.match(reply.errorString, /HSTS store failed/);
});

Deno.test("a redirect fails with a message naming the HSTS store when the store fails", async () => {
  const store = new MemoryHstsStore();
  const isKnownHost = store.isKnownHost.bind(store);
  store.isKnownHost = (host) =>
    host === "b.test" ? Promise.reject(new Error("disk on fire")) : isKnownHost(host);
  const net = fakeNetwork((url) =>
    url.hostname === "a.test"
      ? new Response(null, { status: 302, headers: { location: "http://user:pw@b.test/x" } })
      : new Response("b")
  );
  await using manager = new NetworkAccessManager({ hstsStore: store });
  manager.use(net.layer, "network");
  const reply = manager.get("http://a.test/start");
  await reply.finished;
  assert.equal(reply.error, NetworkError.UnknownNetworkError);
  assert.equal(
    reply.errorString,
    "Cannot follow the 302 redirect from http://a.test/start to http://b.test/x: " +
      "the HSTS store failed (disk on fire)",
  );
  assert.deepEqual(net.urls, ["http://a.test/start"]);
});

Deno.test("HSTS layer tests leave no unhandled rejections", () => {
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("a reply whose HSTS policy the store cannot record keeps the response's status and headers", async () => {
  const store = new MemoryHstsStore();
  store.learn = () => Promise.reject(new Error("disk on fire"));
  const net = fakeNetwork(() =>
    new Response("secure", {
      headers: { "strict-transport-security": "max-age=600", "x-served-by": "edge-1" },
    })
  );
  await using manager = new NetworkAccessManager({ hstsStore: store });
  manager.use(net.layer, "network");
  const reply = manager.get("https://secure.test/");
  await reply.finished;
  assert.equal(reply.error, NetworkError.UnknownNetworkError);
  assert.match(reply.errorString, /Cannot record the HSTS policy of secure\.test/);
  assert.deepEqual([reply.status, reply.headers.get("x-served-by")], [200, "edge-1"]);
});

Deno.test("HSTS layer learns from the responses the retry and auth layers do not pass up", async (t) => {
  const sts = { "strict-transport-security": "max-age=600" };
  await t.step("a 503 sent again for", async () => {
    const store = new MemoryHstsStore();
    let calls = 0;
    const net = fakeNetwork(() =>
      ++calls === 1 ? new Response("busy", { status: 503, headers: sts }) : new Response("ok")
    );
    await using manager = new NetworkAccessManager({
      hstsStore: store,
      retry: { sleep: () => Promise.resolve() },
    });
    manager.use(net.layer, "network");
    const reply = manager.get("https://busy.test/");
    assert.equal(await reply.text(), "ok");
    assert.equal(reply.retries, 1);
    assert.equal(await store.isKnownHost("busy.test"), true);
  });
  await t.step("a 401 answered with credentials", async () => {
    const store = new MemoryHstsStore();
    let calls = 0;
    const net = fakeNetwork(() =>
      ++calls === 1
        ? new Response("who", {
          status: 401,
          headers: { ...sts, "www-authenticate": 'Basic realm="r"' },
        })
        : new Response("ok")
    );
    await using manager = new NetworkAccessManager({ hstsStore: store });
    manager.use(net.layer, "network");
    assert.equal(await manager.get("https://u:p@locked.test/").text(), "ok");
    assert.equal(calls, 2);
    assert.equal(await store.isKnownHost("locked.test"), true);
  });
});
