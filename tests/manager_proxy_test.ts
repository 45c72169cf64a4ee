import assert from "node:assert/strict";
import http2 from "node:http2";
import {
  MemoryCache,
  MemoryCookieJar,
  NetworkAccessManager,
  NetworkError,
  type NetworkErrorEvent,
  type NetworkProxy,
  type NetworkReply,
  type ProxyQuery,
  systemProxyFactory,
} from "../mod.ts";
import {
  assertNoProxyCredentials,
  ORIGIN_CERT,
  ORIGIN_KEY,
  runWithEnv,
  startOrigin,
  startProxyServer,
  TEST_CA_CERT,
} from "./_helpers/proxy_server.ts";
import { _MAX_POOLED_CLIENTS, _openClients } from "../src/_proxy_client.ts";
import {
  closedPort,
  guardUnhandledRejections,
  serve,
  takeUnhandledRejections,
} from "./_helpers/server.ts";

guardUnhandledRejections();

// Targets are named "origin.test", which the fixture maps to 127.0.0.1: with a proxy the name
// goes to the proxy unresolved, and a NO_PROXY of "127.0.0.1" in the environment cannot matter.
const hosts = { "origin.test": "127.0.0.1" };
const auth = { username: "alice", password: "s3cret-pw" };
const basic = "Basic " + btoa("alice:s3cret-pw");

/** The reply's outcome, with every error event's message. */
async function settle(reply: NetworkReply) {
  const messages: string[] = [];
  reply.addEventListener("error", (e) => messages.push((e as NetworkErrorEvent).message));
  const body = await reply.text().catch(() => null);
  return {
    error: reply.error,
    errorString: reply.errorString,
    status: reply.status,
    body,
    messages,
  };
}

Deno.test("manager sends http in absolute form and tunnels https with CONNECT through an http proxy", async () => {
  await using origin = startOrigin();
  await using tlsOrigin = startOrigin({ tls: true });
  await using proxy = startProxyServer({ hosts });
  await using manager = new NetworkAccessManager({
    proxy: { type: "http", url: proxy.url },
    caCerts: [TEST_CA_CERT],
  });
  assert.equal(await manager.get(origin.url("origin.test", "/plain")).text(), "origin GET /plain");
  assert.equal(await manager.get(tlsOrigin.url("origin.test", "/tls")).text(), "origin GET /tls");
  assert.deepEqual(proxy.log.map((r) => [r.kind, r.target]), [
    ["forward", `origin.test:${origin.port}`],
    ["connect", `origin.test:${tlsOrigin.port}`],
  ]);
});

Deno.test("manager speaks TLS to an https proxy it trusts through caCerts", async () => {
  await using origin = startOrigin();
  await using proxy = startProxyServer({ hosts, tls: true });
  await using manager = new NetworkAccessManager({
    proxy: { type: "https", url: proxy.url },
    caCerts: [TEST_CA_CERT],
  });
  assert.equal(await manager.get(origin.url("origin.test", "/s")).text(), "origin GET /s");
  assert.equal(proxy.log[0]?.kind, "forward");
});

Deno.test("manager tunnels through SOCKS5 proxies, socks5 and socks5h", async (t) => {
  await using origin = startOrigin();
  await using tlsOrigin = startOrigin({ tls: true });
  await using proxy = startProxyServer({ protocol: "socks5", hosts });
  for (const type of ["socks5", "socks5h"] as const) {
    await t.step(type, async () => {
      await using manager = new NetworkAccessManager({
        proxy: { type, url: proxy.url.replace(/^socks5:/, `${type}:`) },
        caCerts: [TEST_CA_CERT],
      });
      assert.equal(await manager.get(origin.url("origin.test", "/a")).text(), "origin GET /a");
      assert.equal(await manager.get(tlsOrigin.url("origin.test", "/b")).text(), "origin GET /b");
    });
  }
  assert.deepEqual(proxy.log.map((r) => r.addressType), ["domain", "domain", "domain", "domain"]);
});

Deno.test("manager names an internationalised host to a SOCKS5 proxy in its ASCII form", async (t) => {
  await using origin = startOrigin();
  await using proxy = startProxyServer({
    protocol: "socks5",
    hosts: { "xn--bcher-kva.example": "127.0.0.1" },
  });
  for (const type of ["socks5", "socks5h"] as const) {
    await t.step(type, async () => {
      await using manager = new NetworkAccessManager({
        proxy: { type, url: proxy.url.replace(/^socks5:/, `${type}:`) },
      });
      const reply = manager.get(origin.url("BÜCHER.example", "/a"));
      assert.equal(await reply.text(), "origin GET /a");
      assert.equal(reply.error, NetworkError.NoError);
      const record = proxy.log.at(-1)!;
      assert.equal(record.target, `xn--bcher-kva.example:${origin.port}`);
      assert.equal(record.addressType, "domain");
    });
  }
});

Deno.test("manager sends the NetworkProxy's credentials", async (t) => {
  await using origin = startOrigin();
  await using tlsOrigin = startOrigin({ tls: true });
  await t.step(
    "Basic to an http proxy, forwarded and on CONNECT, never to the origin",
    async () => {
      await using proxy = startProxyServer({ hosts, auth });
      await using manager = new NetworkAccessManager({
        proxy: { type: "http", url: proxy.url, ...auth },
        caCerts: [TEST_CA_CERT],
      });
      const plain = manager.get(origin.url("origin.test", "/p"));
      assert.equal(await plain.text(), "origin GET /p");
      assert.equal(plain.headers.get("x-seen-proxy-authorization"), "");
      assert.equal(await manager.get(tlsOrigin.url("origin.test", "/t")).text(), "origin GET /t");
      assert.deepEqual(proxy.log.map((r) => [r.kind, r.proxyAuthorization, r.outcome]), [
        ["forward", basic, 200],
        ["connect", basic, 200],
      ]);
    },
  );
  await t.step("credentials in the proxy URL", async () => {
    await using proxy = startProxyServer({ hosts, auth });
    await using manager = new NetworkAccessManager({
      proxy: { type: "http", url: proxy.url.replace("//", "//alice:s3cret-pw@") },
    });
    assert.equal(await manager.get(origin.url("origin.test", "/u")).text(), "origin GET /u");
    assert.equal(proxy.log[0]?.proxyAuthorization, basic);
  });
  await t.step("username and password to a SOCKS5 proxy", async () => {
    await using proxy = startProxyServer({ protocol: "socks5", hosts, auth });
    await using manager = new NetworkAccessManager({
      proxy: { type: "socks5", url: proxy.url, ...auth },
    });
    assert.equal(await manager.get(origin.url("origin.test", "/s")).text(), "origin GET /s");
    assert.deepEqual(proxy.log[0]?.socksCredentials, auth);
  });
});

Deno.test("an https origin behind an http proxy with credentials never sees them, over HTTP/1.1 or HTTP/2", async (t) => {
  await using tlsOrigin = startOrigin({ tls: true });
  // An HTTP/2 origin that records the protocol it spoke and the proxy credentials it was sent.
  const seen: { alpn: string | undefined; proxyAuthorization: string | undefined }[] = [];
  const h2 = http2.createSecureServer({ cert: ORIGIN_CERT, key: ORIGIN_KEY });
  h2.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    const value = headers["proxy-authorization"];
    seen.push({
      alpn: stream.session?.alpnProtocol,
      proxyAuthorization: Array.isArray(value) ? value.join(", ") : value,
    });
    stream.respond({ ":status": 200 });
    stream.end("h2 ok");
  });
  await new Promise<void>((resolve) => h2.listen(0, "127.0.0.1", resolve));
  const h2Port = (h2.address() as { port: number }).port;
  try {
    const forms: [string, (url: string) => NetworkProxy][] = [
      ["username and password", (url) => ({ type: "http", url, ...auth })],
      [
        "user info of the URL",
        (url) => ({ type: "http", url: url.replace("//", "//alice:s3cret-pw@") }),
      ],
    ];
    for (const [form, proxyOf] of forms) {
      await t.step(form, async () => {
        seen.length = 0;
        await using proxy = startProxyServer({ hosts, auth });
        await using manager = new NetworkAccessManager({
          proxy: proxyOf(proxy.url),
          caCerts: [TEST_CA_CERT],
        });
        const reply = manager.get(`https://origin.test:${h2Port}/h2`);
        assert.equal(await reply.text(), "h2 ok", reply.errorString);
        assert.deepEqual(seen.map((s) => s.alpn), ["h2"]);
        assertNoProxyCredentials(seen[0]?.proxyAuthorization);
        for (const path of ["/a", "/b"]) {
          const reply = manager.get(tlsOrigin.url("origin.test", path));
          assert.equal(await reply.text(), `origin GET ${path}`);
          assertNoProxyCredentials(reply.headers.get("x-seen-proxy-authorization"));
        }
        // The proxy had them on every CONNECT (the connection of /a reused for /b).
        assert.deepEqual(
          proxy.log.map((r) => [r.kind, r.target, r.proxyAuthorization, r.outcome]),
          [
            ["connect", `origin.test:${h2Port}`, basic, 200],
            ["connect", `origin.test:${tlsOrigin.port}`, basic, 200],
          ],
        );
      });
    }
  } finally {
    await new Promise((resolve) => h2.close(resolve));
  }
});

Deno.test("manager fails with ProxyAuthenticationRequiredError (105) when a proxy refuses the credentials", async (t) => {
  await using origin = startOrigin();
  await using tlsOrigin = startOrigin({ tls: true });
  await using httpProxy = startProxyServer({ hosts, auth });
  await using socksProxy = startProxyServer({ protocol: "socks5", hosts, auth });
  const wrong = { username: "alice", password: "wrong-secret" };
  const cases: [string, NetworkProxy, string][] = [
    ["http proxy, forwarded, no credentials", { type: "http", url: httpProxy.url }, "plain"],
    [
      "http proxy, forwarded, wrong password",
      { type: "http", url: httpProxy.url, ...wrong },
      "plain",
    ],
    ["http proxy, CONNECT, wrong password", { type: "http", url: httpProxy.url, ...wrong }, "tls"],
    ["socks5, no credentials", { type: "socks5", url: socksProxy.url }, "plain"],
    ["socks5, wrong password", { type: "socks5", url: socksProxy.url, ...wrong }, "plain"],
  ];
  for (const [name, proxy, target] of cases) {
    await t.step(name, async () => {
      await using manager = new NetworkAccessManager({ proxy, caCerts: [TEST_CA_CERT] });
      const url = (target === "tls" ? tlsOrigin : origin).url("origin.test", "/x");
      const outcome = await settle(manager.get(url));
      assert.equal(
        outcome.error,
        NetworkError.ProxyAuthenticationRequiredError,
        outcome.errorString,
      );
      // The message names the proxy that asked, not only the target.
      assert.ok(
        outcome.errorString.includes(proxy.url!.replace(/^\w+:\/\//, "")),
        outcome.errorString,
      );
      for (const text of [outcome.errorString, ...outcome.messages]) {
        assert.ok(!text.includes("wrong-secret"), text);
        assert.ok(!text.includes(btoa("alice:wrong-secret")), text);
      }
    });
  }
});

Deno.test("a proxy that refuses credentials with 401, as tinyproxy does, is still a proxy refusal (105)", async (t) => {
  await using origin = startOrigin();
  await using tlsOrigin = startOrigin({ tls: true });
  await using proxy = startProxyServer({ hosts, auth, wrongCredentialsStatus: 401 });
  await using manager = new NetworkAccessManager({
    proxy: { type: "http", url: proxy.url, username: "alice", password: "wrong-secret" },
    caCerts: [TEST_CA_CERT],
  });
  for (
    const [name, url] of [
      ["forwarded", origin.url("origin.test", "/f")],
      ["CONNECT", tlsOrigin.url("origin.test", "/c")],
    ]
  ) {
    await t.step(name!, async () => {
      const outcome = await settle(manager.get(url!));
      assert.equal(
        outcome.error,
        NetworkError.ProxyAuthenticationRequiredError,
        outcome.errorString,
      );
      assert.ok(!outcome.errorString.includes("wrong-secret"), outcome.errorString);
    });
  }
});

Deno.test("a 401 the authenticator answers through a proxy with credentials asks the proxy nothing more", async () => {
  await using origin = serve((request) =>
    request.headers.get("authorization") === `Basic ${btoa("bob:pw")}`
      ? new Response("hello bob")
      : new Response("who are you", {
        status: 401,
        headers: { "www-authenticate": 'Basic realm="origin"' },
      })
  );
  await using proxy = startProxyServer({ hosts, auth });
  await using manager = new NetworkAccessManager({
    proxy: { type: "http", url: proxy.url, ...auth },
    authenticator: () => ({ username: "bob", password: "pw" }),
  });
  const reply = manager.get(`http://origin.test:${origin.port}/private`);
  assert.equal(await reply.text(), "hello bob");
  assert.equal(reply.error, NetworkError.NoError, reply.errorString);
  // Two forwarded requests (the challenge, the answer); no CONNECT probe: nothing failed.
  assert.deepEqual(proxy.log.map((r) => [r.kind, r.outcome]), [["forward", 200], ["forward", 200]]);
});

Deno.test("a 401 from the origin through a proxy that accepts the credentials stays the origin's", async () => {
  await using origin = serve(() =>
    new Response("who are you", {
      status: 401,
      headers: { "www-authenticate": 'Basic realm="origin"' },
    })
  );
  await using proxy = startProxyServer({ hosts, auth });
  await using manager = new NetworkAccessManager({
    proxy: { type: "http", url: proxy.url, ...auth },
  });
  const outcome = await settle(manager.get(`http://origin.test:${origin.port}/private`));
  assert.equal(outcome.error, NetworkError.AuthenticationRequiredError, outcome.errorString);
  assert.equal(outcome.status, 401);
  // The forwarded request, then the CONNECT that asked the proxy whose 401 it was.
  assert.deepEqual(proxy.log.map((r) => [r.kind, r.outcome]), [["forward", 200], ["connect", 200]]);
});

Deno.test("manager reports proxy failures with codes 101 to 104 and no credentials", async (t) => {
  await using origin = startOrigin();
  const secret = { username: "alice", password: "hush-hush-42" };
  const check = (outcome: Awaited<ReturnType<typeof settle>>, code: number) => {
    assert.equal(outcome.error, code, outcome.errorString);
    assert.equal(outcome.messages.length, 1);
    for (const text of [outcome.errorString, ...outcome.messages]) {
      assert.ok(!text.includes("hush-hush-42"), text);
      assert.ok(!text.includes(btoa("alice:hush-hush-42")), text);
    }
  };
  for (const type of ["http", "socks5"] as const) {
    await t.step(`${type}: refused is ProxyConnectionRefusedError (101)`, async () => {
      await using manager = new NetworkAccessManager({
        proxy: { type, url: `${type}://127.0.0.1:${closedPort()}`, ...secret },
      });
      const outcome = await settle(manager.get(origin.url("origin.test", "/r")));
      check(outcome, NetworkError.ProxyConnectionRefusedError);
      assert.match(outcome.errorString, /^Proxy .*127\.0\.0\.1:\d+ refused the connection/);
    });
    await t.step(`${type}: closed is ProxyConnectionClosedError (102)`, async () => {
      await using proxy = startProxyServer({ protocol: type, mode: "close" });
      await using manager = new NetworkAccessManager({
        proxy: { type, url: proxy.url, ...secret },
      });
      check(
        await settle(manager.get(origin.url("origin.test", "/c"))),
        NetworkError.ProxyConnectionClosedError,
      );
    });
    await t.step(`${type}: not found is ProxyNotFoundError (103)`, async () => {
      await using manager = new NetworkAccessManager({
        proxy: { type, url: `${type}://proxy.invalid:3128`, ...secret },
      });
      const outcome = await settle(manager.get(origin.url("origin.test", "/n")));
      check(outcome, NetworkError.ProxyNotFoundError);
      assert.match(outcome.errorString, /proxy\.invalid:3128/);
    });
    await t.step(
      `${type}: silent past the transfer timeout is ProxyTimeoutError (104)`,
      async () => {
        await using proxy = startProxyServer({ protocol: type, mode: "hang" });
        await using manager = new NetworkAccessManager({
          proxy: { type, url: proxy.url, ...secret },
          transferTimeout: 400,
        });
        const outcome = await settle(manager.get(origin.url("origin.test", "/t")));
        check(outcome, NetworkError.ProxyTimeoutError);
        assert.match(
          outcome.errorString,
          /did not answer within \d+ ms \(transferTimeout 400 ms\)$/,
        );
      },
    );
  }
  await t.step("a silent target behind a live proxy stays a TimeoutError (4)", async () => {
    await using silent = startProxyServer({ mode: "hang" });
    await using proxy = startProxyServer({ hosts: { "silent.test": "127.0.0.1" } });
    await using manager = new NetworkAccessManager({
      proxy: { type: "http", url: proxy.url },
      transferTimeout: 400,
    });
    const outcome = await settle(manager.get(`http://silent.test:${silent.port}/`));
    check(outcome, NetworkError.TimeoutError);
  });
});

Deno.test("an https target through an http proxy with credentials keeps the proxy's failure codes", async (t) => {
  await using tlsOrigin = startOrigin({ tls: true });
  const secret = { username: "alice", password: "hush-hush-42" };
  const outcomeThrough = async (url: string, options: { transferTimeout?: number } = {}) => {
    await using manager = new NetworkAccessManager({
      proxy: { type: "http", url, ...secret },
      caCerts: [TEST_CA_CERT],
      ...options,
    });
    const outcome = await settle(manager.get(tlsOrigin.url("origin.test", "/x")));
    for (const text of [outcome.errorString, ...outcome.messages]) {
      assert.ok(!text.includes("hush-hush-42"), text);
      assert.ok(!text.includes(btoa("alice:hush-hush-42")), text);
    }
    return outcome;
  };
  await t.step("refused is ProxyConnectionRefusedError (101)", async () => {
    const outcome = await outcomeThrough(`http://127.0.0.1:${closedPort()}`);
    assert.equal(outcome.error, NetworkError.ProxyConnectionRefusedError, outcome.errorString);
    assert.match(outcome.errorString, /^Proxy .*127\.0\.0\.1:\d+ refused the connection/);
  });
  await t.step("closed is ProxyConnectionClosedError (102)", async () => {
    await using proxy = startProxyServer({ mode: "close" });
    const outcome = await outcomeThrough(proxy.url);
    assert.equal(outcome.error, NetworkError.ProxyConnectionClosedError, outcome.errorString);
  });
  await t.step("not found is ProxyNotFoundError (103)", async () => {
    const outcome = await outcomeThrough("http://proxy.invalid:3128");
    assert.equal(outcome.error, NetworkError.ProxyNotFoundError, outcome.errorString);
    assert.match(outcome.errorString, /proxy\.invalid:3128/);
  });
  await t.step("silent past the transfer timeout is ProxyTimeoutError (104)", async () => {
    await using proxy = startProxyServer({ mode: "hang" });
    const outcome = await outcomeThrough(proxy.url, { transferTimeout: 400 });
    assert.equal(outcome.error, NetworkError.ProxyTimeoutError, outcome.errorString);
  });
  await t.step("wrong credentials are ProxyAuthenticationRequiredError (105)", async () => {
    await using proxy = startProxyServer({ hosts, auth });
    const outcome = await outcomeThrough(proxy.url);
    assert.equal(outcome.error, NetworkError.ProxyAuthenticationRequiredError, outcome.errorString);
    assert.match(outcome.errorString, /refused the credentials/);
  });
});

Deno.test("a slow reply through a proxy opens no connection of its own to the proxy", async (t) => {
  // The origin answers after 60% of the transfer timeout: slow, not failed, so nothing probes.
  await using origin = serve(async () => {
    await new Promise((resolve) => setTimeout(resolve, 1200));
    return new Response("slow but fine");
  });
  for (const type of ["http", "socks5"] as const) {
    await t.step(type, async () => {
      await using proxy = startProxyServer({ protocol: type, hosts });
      await using manager = new NetworkAccessManager({
        proxy: { type, url: proxy.url },
        transferTimeout: 2000,
      });
      const outcome = await settle(manager.get(`http://origin.test:${origin.port}/slow`));
      assert.equal(outcome.error, NetworkError.NoError, outcome.errorString);
      assert.equal(outcome.body, "slow but fine");
      assert.equal(proxy.accepted, 1, "only the request's own connection reached the proxy");
    });
  }
});

Deno.test("an explicit proxy wins over the proxy factory", async (t) => {
  await using origin = startOrigin();
  await using explicit = startProxyServer({ hosts });
  await using fromFactory = startProxyServer({ hosts });
  const queries: ProxyQuery[] = [];
  const proxyFactory = (query: ProxyQuery): NetworkProxy[] => {
    queries.push(query);
    return [{ type: "http", url: fromFactory.url }];
  };
  await using manager = new NetworkAccessManager({
    proxy: { type: "http", url: explicit.url },
    proxyFactory,
  });
  await t.step("explicit proxy", async () => {
    assert.equal(await manager.get(origin.url("origin.test", "/1")).text(), "origin GET /1");
    assert.equal(explicit.log.length, 1);
    assert.equal(fromFactory.log.length, 0);
    assert.equal(queries.length, 0);
  });
  await t.step("explicit none is a direct connection", async () => {
    manager.proxy = { type: "none" };
    assert.equal(await manager.get(origin.url("127.0.0.1", "/2")).text(), "origin GET /2");
    assert.equal(explicit.log.length + fromFactory.log.length, 1);
    assert.equal(queries.length, 0);
  });
  await t.step("without one, the factory is asked for every request", async () => {
    manager.proxy = undefined;
    assert.equal(await manager.get(origin.url("origin.test", "/3")).text(), "origin GET /3");
    assert.equal(await manager.get(origin.url("origin.test", "/4")).text(), "origin GET /4");
    assert.equal(fromFactory.log.length, 2);
    assert.deepEqual(
      queries.map((q) => [q.scheme, q.host, q.port, q.url.pathname]),
      [["http", "origin.test", origin.port, "/3"], ["http", "origin.test", origin.port, "/4"]],
    );
  });
});

Deno.test("a proxy factory chooses per request, and an empty list means direct", async () => {
  await using origin = startOrigin();
  await using proxy = startProxyServer({ hosts });
  await using manager = new NetworkAccessManager({
    proxyFactory: ({ host }) => host === "127.0.0.1" ? [] : [{ type: "http", url: proxy.url }],
  });
  assert.equal(await manager.get(origin.url("127.0.0.1", "/direct")).text(), "origin GET /direct");
  assert.equal(
    await manager.get(origin.url("origin.test", "/proxied")).text(),
    "origin GET /proxied",
  );
  assert.deepEqual(proxy.log.map((r) => r.url), [origin.url("origin.test", "/proxied")]);
});

Deno.test("a factory that throws or returns nothing usable fails the reply, not the caller", async () => {
  await using manager = new NetworkAccessManager({
    proxyFactory: () => [{ type: "http", url: "ftp://proxy.test:21" }],
  });
  const outcome = await settle(manager.get("http://origin.test/"));
  assert.equal(outcome.error, NetworkError.UnknownNetworkError);
  assert.match(outcome.errorString, /^Cannot use proxy: 'proxy.url' must use the scheme "http:"/);
  manager.proxyFactory = () => {
    throw new Error("boom");
  };
  const thrown = await settle(manager.get("http://user:pw@origin.test/p"));
  assert.equal(thrown.error, NetworkError.UnknownNetworkError);
  assert.equal(
    thrown.errorString,
    "The proxy factory failed for http://origin.test/p: Error: boom",
  );
});

Deno.test('the system proxy is the default, and "system" reads the environment', async () => {
  // In a process of its own: the proxy variables are process-wide, and Deno builds the
  // default HTTP client of every test module from them.
  await using origin = startOrigin();
  await using proxy = startProxyServer({ hosts });
  const { code, stdout, stderr } = await runWithEnv(
    new URL("./testdata/proxy/system_proxy.ts", import.meta.url),
    [origin.url("origin.test", "/env"), origin.url("127.0.0.1", "/bypass")],
    { http_proxy: proxy.url, no_proxy: "127.0.0.1" },
  );
  assert.equal(code, 0, stderr);
  const results = JSON.parse(stdout);
  const bypassed = "origin GET /bypass";
  assert.deepEqual(results.default, { body: "origin GET /env", error: 0, bypassed });
  assert.deepEqual(results.system, { body: "origin GET /env", error: 0, bypassed });
  // "none" ignores the environment: origin.test is resolved directly, and does not exist.
  assert.equal(results.none.body, null);
  assert.equal(results.none.error, NetworkError.HostNotFoundError);
  assert.equal(results.none.bypassed, bypassed);
  assert.deepEqual(proxy.log.map((r) => r.url), [
    origin.url("origin.test", "/env"),
    origin.url("origin.test", "/env"),
  ]);
});

Deno.test("a malformed proxy variable fails the request instead of sending it direct", async (t) => {
  await using origin = startOrigin();
  await t.step("systemProxyFactory(env)", async () => {
    for (const value of ["ftp://127.0.0.1:1", "http://127.0.0.1:99999", "http://bob:pw@[oops"]) {
      await using manager = new NetworkAccessManager({
        proxyFactory: systemProxyFactory({ HTTP_PROXY: value }),
      });
      const outcome = await settle(manager.get(origin.url("127.0.0.1", "/direct")));
      assert.equal(outcome.error, NetworkError.UnknownNetworkError, value);
      assert.equal(outcome.body, null);
      assert.match(outcome.errorString, /^Cannot use proxy: the environment variable HTTP_PROXY /);
      assert.ok(!outcome.errorString.includes("pw"), outcome.errorString);
    }
  });
  await t.step("the process environment, for the default manager; none stays direct", async () => {
    const { code, stdout, stderr } = await runWithEnv(
      new URL("./testdata/proxy/bad_env_proxy.ts", import.meta.url),
      [origin.url("127.0.0.1", "/direct")],
      { HTTP_PROXY: "http://bob:pw@127.0.0.1:99999" },
    );
    assert.equal(code, 0, stderr);
    const results = JSON.parse(stdout);
    assert.deepEqual(results.default, {
      body: null,
      error: NetworkError.UnknownNetworkError,
      errorString: "Cannot use proxy: the environment variable HTTP_PROXY is not a usable proxy " +
        'URL (must be a URL or host:port), got "http://127.0.0.1:99999"',
    });
    assert.deepEqual(results.none, { body: "origin GET /direct", error: 0, errorString: "" });
  });
});

Deno.test("one client per proxy configuration, closed by clearConnectionCache and close", async (t) => {
  await using tlsOrigin = startOrigin({ tls: true });
  await using proxy = startProxyServer({ hosts });
  await using socks = startProxyServer({ protocol: "socks5", hosts });
  const manager = new NetworkAccessManager({
    proxy: { type: "http", url: proxy.url },
    caCerts: [TEST_CA_CERT],
  });
  const fetchTls = async (path: string) => {
    assert.equal(
      await manager.get(tlsOrigin.url("origin.test", path)).text(),
      `origin GET ${path}`,
    );
  };
  await t.step("requests share the proxy's connection", async () => {
    await fetchTls("/1");
    await fetchTls("/2");
    assert.equal(proxy.accepted, 1);
  });
  await t.step(
    "another configuration has a client of its own; the old one is let go of",
    async () => {
      manager.proxy = { type: "http", url: proxy.url }; // the same proxy: its client stays
      await fetchTls("/2b");
      assert.equal(proxy.accepted, 1);
      manager.proxy = { type: "socks5", url: socks.url };
      await fetchTls("/3");
      manager.proxy = { type: "http", url: proxy.url };
      await fetchTls("/4");
      assert.equal(proxy.accepted, 2);
      assert.equal(socks.accepted, 1);
    },
  );
  await t.step("clearConnectionCache closes them; the next request connects anew", async () => {
    manager.clearConnectionCache();
    await fetchTls("/5");
    assert.equal(proxy.accepted, 3);
  });
  await t.step("close closes them (the resource sanitizer checks)", async () => {
    await manager.close();
    const outcome = await settle(manager.get(tlsOrigin.url("origin.test", "/6")));
    assert.equal(outcome.error, NetworkError.OperationCanceledError);
  });
});

Deno.test("a proxy factory with credentials per request keeps at most 16 clients open", async () => {
  await using tlsOrigin = startOrigin({ tls: true });
  await using proxy = startProxyServer({ hosts });
  let username = "";
  const before = _openClients();
  const manager = new NetworkAccessManager({
    proxyFactory: () => [{ type: "http", url: proxy.url, username, password: "pw" }],
    caCerts: [TEST_CA_CERT],
  });
  const fetchAs = async (user: string) => {
    username = user;
    assert.equal(await manager.get(tlsOrigin.url("origin.test", "/")).text(), "origin GET /");
  };
  try {
    for (let i = 0; i < 40; i++) {
      await fetchAs(`user${i}`);
      assert.ok(_openClients() - before <= _MAX_POOLED_CLIENTS);
    }
    assert.equal(_openClients() - before, _MAX_POOLED_CLIENTS);
    const accepted = proxy.accepted;
    await fetchAs("user39"); // still pooled: its connection serves again
    assert.equal(proxy.accepted, accepted);
    await fetchAs("user0"); // closed long ago: a new client, a new connection
    assert.equal(proxy.accepted, accepted + 1);
  } finally {
    await manager.close();
  }
  assert.equal(_openClients(), before);
});

Deno.test("a client pushed out of the pool while its reply streams closes when the body ends", async () => {
  const streams = new Map<string, ReadableStreamDefaultController<Uint8Array>>();
  const encoder = new TextEncoder();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: ORIGIN_CERT, key: ORIGIN_KEY, onListen() {} },
    (request) => {
      const { pathname } = new URL(request.url);
      if (pathname === "/quick") return new Response("quick");
      return new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            streams.set(pathname, controller);
            controller.enqueue(encoder.encode(`head ${pathname};`));
          },
        }),
      );
    },
  );
  await using proxy = startProxyServer({ hosts });
  const url = (path: string) => `https://origin.test:${server.addr.port}${path}`;
  let username = "";
  const before = _openClients();
  const manager = new NetworkAccessManager({
    proxyFactory: () => [{ type: "http", url: proxy.url, username, password: "pw" }],
    caCerts: [TEST_CA_CERT],
    maxConnectionsPerHost: 2 * _MAX_POOLED_CLIENTS,
  });
  const decoder = new TextDecoder();
  try {
    // Every pooled client busy with a body still streaming.
    const running = [];
    for (let i = 0; i < _MAX_POOLED_CLIENTS; i++) {
      username = `streamer${i}`;
      const reply = manager.get(url(`/s${i}`));
      const chunks = reply[Symbol.asyncIterator]();
      const first = await chunks.next();
      assert.equal(decoder.decode(first.value), `head /s${i};`);
      running.push({ reply, chunks, text: decoder.decode(first.value) });
    }
    assert.equal(_openClients() - before, _MAX_POOLED_CLIENTS);
    // One more configuration pushes out the least recently used client, still in use.
    username = "newcomer";
    assert.equal(await manager.get(url("/quick")).text(), "quick");
    assert.equal(_openClients() - before, _MAX_POOLED_CLIENTS + 1);
    // Its body streams on to the end, then the client is closed.
    const evicted = running[0]!;
    streams.get("/s0")!.enqueue(encoder.encode("tail"));
    streams.get("/s0")!.close();
    for (let next = await evicted.chunks.next(); !next.done; next = await evicted.chunks.next()) {
      evicted.text += decoder.decode(next.value);
    }
    await evicted.reply.finished;
    assert.equal(evicted.reply.error, NetworkError.NoError);
    assert.equal(evicted.text, "head /s0;tail");
    assert.equal(_openClients() - before, _MAX_POOLED_CLIENTS);
    for (let i = 1; i < running.length; i++) streams.get(`/s${i}`)!.close();
    for (const { reply } of running.slice(1)) await reply.finished;
    assert.equal(_openClients() - before, _MAX_POOLED_CLIENTS);
  } finally {
    await manager.close();
    await server.shutdown();
  }
  assert.equal(_openClients(), before);
});

Deno.test("clearConnectionCache lets a reply streaming through an http proxy with credentials finish", async () => {
  let stream: ReadableStreamDefaultController<Uint8Array> | undefined;
  const encoder = new TextEncoder();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: ORIGIN_CERT, key: ORIGIN_KEY, onListen() {} },
    (request) =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            stream = controller;
            controller.enqueue(encoder.encode(`head ${new URL(request.url).pathname};`));
          },
        }),
        {
          headers: {
            "x-seen-proxy-authorization": request.headers.get("proxy-authorization") ?? "",
          },
        },
      ),
  );
  await using proxy = startProxyServer({ hosts, auth });
  const before = _openClients();
  const manager = new NetworkAccessManager({
    proxy: { type: "http", url: proxy.url, ...auth },
    caCerts: [TEST_CA_CERT],
  });
  const decoder = new TextDecoder();
  try {
    const reply = manager.get(`https://origin.test:${server.addr.port}/s`);
    const chunks = reply[Symbol.asyncIterator]();
    let text = decoder.decode((await chunks.next()).value);
    assertNoProxyCredentials(reply.headers.get("x-seen-proxy-authorization"));
    manager.clearConnectionCache();
    assert.equal(_openClients(), before);
    // The relay's tunnel stays open for the body, and closes once it is read (the sanitizers).
    stream!.enqueue(encoder.encode("tail"));
    stream!.close();
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
      text += decoder.decode(next.value);
    }
    await reply.finished;
    assert.equal(reply.error, NetworkError.NoError, reply.errorString);
    assert.equal(text, "head /s;tail");
  } finally {
    await manager.close();
    await server.shutdown();
  }
});

Deno.test("manager proxy tests leave no unhandled rejections", () => {
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("each manager reads the proxy environment once, and again when the env permission changes", async () => {
  await using origin = startOrigin();
  await using proxy = startProxyServer();
  const base = origin.url("127.0.0.1", "").replace(/\/$/, "");
  const { code, stdout, stderr } = await runWithEnv(
    new URL("./testdata/proxy/env_per_manager.ts", import.meta.url),
    [base, proxy.url],
    {},
  );
  assert.equal(code, 0, stderr);
  assert.deepEqual(JSON.parse(stdout), {
    "before": "origin GET /before",
    "after": "origin GET /after",
    "before-again": "origin GET /before-again",
    "after-revoked": "origin GET /after-revoked",
  });
  // Only the manager made once HTTP_PROXY was set used it, until the permission went away.
  assert.deepEqual(proxy.log.map((r) => r.url), [`${base}/after`]);
});

/** Reads exactly `n` bytes of `conn`. */
async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  for (let offset = 0; offset < n;) {
    const read = await conn.read(out.subarray(offset));
    if (read === null) throw new Error("unexpected end of stream");
    offset += read;
  }
  return out;
}

/**
 * A SOCKS5 proxy on 127.0.0.1 that accepts the user name and password given and answers every
 * CONNECT with the reply code `rep`, or answers the greeting with `garbage` instead.
 */
function scriptedSocks(answer: { rep: number } | { garbage: string }) {
  const serve = async (conn: Deno.Conn) => {
    const greeting = await readExactly(conn, 2);
    await readExactly(conn, greeting[1]!);
    if ("garbage" in answer) {
      await conn.write(new TextEncoder().encode(answer.garbage));
      return;
    }
    await conn.write(new Uint8Array([5, 2])); // username/password
    const user = await readExactly(conn, 2);
    await readExactly(conn, user[1]!);
    const pass = await readExactly(conn, 1);
    await readExactly(conn, pass[0]!);
    await conn.write(new Uint8Array([1, 0]));
    const request = await readExactly(conn, 4);
    const type = request[3];
    const length = type === 1 ? 4 : type === 4 ? 16 : (await readExactly(conn, 1))[0]!;
    await readExactly(conn, length + 2);
    await conn.write(new Uint8Array([5, answer.rep, 0, 1, 0, 0, 0, 0, 0, 0]));
  };
  return scriptedServer("socks5h", serve);
}

Deno.test("a SOCKS5 proxy's refusal or a non-SOCKS answer names the proxy, not the target", async (t) => {
  const cases: [string, { rep: number } | { garbage: string }, number, string][] = [
    ["general failure", { rep: 1 }, NetworkError.UnknownProxyError, "failed to connect to"],
    ["not allowed by its rules", { rep: 2 }, NetworkError.UnknownProxyError, "does not allow"],
    ["TTL expired", { rep: 6 }, NetworkError.UnknownNetworkError, "could not reach"],
    ["command not supported", { rep: 7 }, NetworkError.UnknownProxyError, "does not support"],
    ["address type not supported", { rep: 8 }, NetworkError.UnknownProxyError, "does not support"],
    [
      "an HTTP answer",
      { garbage: "HTTP/1.1 400 Bad Request\r\n\r\n" },
      NetworkError.UnknownProxyError,
      "did not answer as a SOCKS5 proxy",
    ],
  ];
  for (const [name, answer, code, words] of cases) {
    await t.step(name, async () => {
      await using socks = scriptedSocks(answer);
      await using manager = new NetworkAccessManager({
        proxy: { type: "socks5h", url: socks.url, ...auth },
      });
      const got = await settle(manager.get("http://origin.test/"));
      assert.equal(got.error, code, got.errorString);
      assert.match(got.errorString, new RegExp(`^Proxy ${socks.url} ${words}`));
      assert.ok(!got.errorString.includes(auth.password), got.errorString);
    });
  }
});

/**
 * An HTTP proxy on loopback that reads a request's head and answers it with `answer` as it is,
 * then closes the connection.
 */
function scriptedHttpProxy(answer: string) {
  const serve = async (conn: Deno.Conn) => {
    const buffer = new Uint8Array(4096);
    let head = "";
    while (!head.includes("\r\n\r\n")) {
      const n = await conn.read(buffer);
      if (n === null) return;
      head += new TextDecoder().decode(buffer.subarray(0, n));
    }
    await conn.write(new TextEncoder().encode(answer));
  };
  return scriptedServer("http", serve);
}

/**
 * A server on loopback that runs `serve` on each connection, then closes it; its URL has
 * `scheme`.
 */
function scriptedServer(scheme: string, serve: (conn: Deno.Conn) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const accepting = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      serve(conn).catch(() => {}).finally(() => {
        conns.delete(conn);
        conn.close();
      });
    }
  })().catch(() => {});
  return {
    url: `${scheme}://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of conns) conn.close();
      await accepting;
    },
  };
}

Deno.test("an HTTP proxy's malformed answer to a forwarded request names the proxy", async (t) => {
  const cases: [string, string, number][] = [
    ["not HTTP", "SSH-2.0-OpenSSH_9.6\r\n", NetworkError.ProtocolFailure],
    ["a bad status line", "HTTP/1.1 abc Weird\r\n\r\n", NetworkError.ProtocolFailure],
    [
      "a header line without a colon",
      "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
      NetworkError.ProtocolFailure,
    ],
    [
      "closed mid-headers",
      "HTTP/1.1 200 OK\r\nContent-Ty",
      NetworkError.ProxyConnectionClosedError,
    ],
  ];
  for (const [name, answer, code] of cases) {
    await t.step(name, async () => {
      await using proxy = scriptedHttpProxy(answer);
      await using manager = new NetworkAccessManager({
        proxy: { type: "http", url: proxy.url, ...auth },
      });
      const got = await settle(manager.get("http://origin.test/"));
      assert.equal(got.error, code, got.errorString);
      assert.match(got.errorString, new RegExp(`^Proxy ${proxy.url} `));
      for (const text of [got.errorString, ...got.messages]) {
        assert.ok(!text.includes(auth.password), text);
        assert.ok(!text.includes(btoa(`alice:${auth.password}`)), text);
      }
    });
  }
});

Deno.test("an https proxy gets its credentials on forwarded requests, the origin never does", async () => {
  await using origin = startOrigin();
  await using proxy = startProxyServer({ hosts, auth, tls: true });
  await using manager = new NetworkAccessManager({
    proxy: { type: "https", url: proxy.url, ...auth },
    caCerts: [TEST_CA_CERT],
  });
  const reply = manager.get(origin.url("origin.test", "/f"));
  assert.equal(await reply.text(), "origin GET /f", reply.errorString);
  assert.equal(reply.headers.get("x-seen-proxy-authorization"), "");
  assert.deepEqual(proxy.log.map((r) => [r.kind, r.proxyAuthorization, r.outcome]), [
    ["forward", basic, 200],
  ]);
  // Refused, they are not sent a second time.
  await using wrong = new NetworkAccessManager({
    proxy: { type: "https", url: proxy.url, username: "alice", password: "wrong-secret" },
    caCerts: [TEST_CA_CERT],
  });
  const refused = await settle(wrong.get(origin.url("origin.test", "/w")));
  assert.equal(refused.error, NetworkError.ProxyAuthenticationRequiredError, refused.errorString);
  assert.equal(proxy.log.length, 2);
});

Deno.test("a proxy's 407 is neither cached for the URL nor sets its cookies", async () => {
  await using origin = startOrigin();
  await using proxy = scriptedHttpProxy(
    'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="p"\r\n' +
      "Cache-Control: max-age=600\r\nSet-Cookie: via=proxy; Path=/\r\nContent-Length: 4\r\n" +
      "Connection: close\r\n\r\nnope",
  );
  await using cache = new MemoryCache();
  const cookieJar = new MemoryCookieJar();
  await using manager = new NetworkAccessManager({
    proxy: { type: "http", url: proxy.url },
    cache,
    cookieJar,
  });
  const url = origin.url("127.0.0.1", "/r");
  const refused = await settle(manager.get(url));
  assert.equal(refused.error, NetworkError.ProxyAuthenticationRequiredError, refused.errorString);
  assert.equal(refused.status, 407);
  assert.deepEqual(await cookieJar.cookiesForUrl(url), []);
  manager.proxy = { type: "none" };
  const direct = await settle(manager.get(url));
  assert.equal(direct.error, NetworkError.NoError, direct.errorString);
  assert.deepEqual([direct.status, direct.body], [200, "origin GET /r"]);
});

Deno.test("a plain proxy given as https is blamed for the handshake of an https target", async () => {
  await using tlsOrigin = startOrigin({ tls: true });
  // Answers the first connection's bytes at once; later ones only after a whole request head,
  // which a TLS handshake never sends (as tinyproxy waits for a request line).
  let first = true;
  await using proxy = scriptedServer("https", async (conn) => {
    const buffer = new Uint8Array(4096);
    let head = "";
    const answerAtOnce = first;
    first = false;
    while (!answerAtOnce && !head.includes("\r\n\r\n")) {
      const n = await conn.read(buffer);
      if (n === null) return;
      head += new TextDecoder().decode(buffer.subarray(0, n));
    }
    if (answerAtOnce && await conn.read(buffer) === null) return;
    await conn.write(new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\n\r\n"));
  });
  await using manager = new NetworkAccessManager({
    proxy: { type: "https", url: proxy.url },
    caCerts: [TEST_CA_CERT],
  });
  const got = await settle(manager.get(tlsOrigin.url("origin.test", "/t")));
  assert.equal(got.error, NetworkError.SslHandshakeFailedError, got.errorString);
  assert.match(
    got.errorString,
    new RegExp(`^TLS handshake with proxy ${proxy.url} failed: not TLS`),
  );
  assert.match(got.errorString, /use type "http"/);
});

Deno.test("a body cut short by a forwarding proxy names the proxy's connection", async () => {
  await using proxy = scriptedHttpProxy(
    "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789",
  );
  await using manager = new NetworkAccessManager({ proxy: { type: "http", url: proxy.url } });
  const got = await settle(manager.get("http://origin.test/cut"));
  assert.equal(got.error, NetworkError.RemoteHostClosedError, got.errorString);
  assert.match(
    got.errorString,
    new RegExp(
      `^Connection to proxy ${proxy.url} closed before the reply was complete: .* of http://origin\\.test/cut arrived`,
    ),
  );
});
