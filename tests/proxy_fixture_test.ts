import assert from "node:assert/strict";
import {
  createProxyClient,
  startOrigin,
  startProxyServer,
  TEST_CA_CERT,
} from "./_helpers/proxy_server.ts";

// Targets are named "origin.test", which the fixture maps to 127.0.0.1, so a NO_PROXY of
// "localhost,127.0.0.1" in the environment cannot bypass the proxy under test.
const hosts = { "origin.test": "127.0.0.1" };
const auth = { username: "alice", password: "s3cret" };
const basic = "Basic " + btoa("alice:s3cret");

function causeText(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e instanceof Error; e = e.cause) parts.push(e.message);
  return parts.join(": ");
}

async function fetchVia(proxy: Deno.Proxy, url: string, init: RequestInit = {}) {
  using client = createProxyClient(proxy, [TEST_CA_CERT]);
  const response = await fetch(url, { ...init, client });
  return {
    status: response.status,
    headers: response.headers,
    body: await response.text(),
  };
}

async function fetchFails(proxy: Deno.Proxy, url: string, init: RequestInit = {}) {
  using client = createProxyClient(proxy, [TEST_CA_CERT]);
  const error = await fetch(url, { ...init, client }).then(
    async (response) => {
      await response.body?.cancel();
      throw new Error(`expected a failure, got ${response.status}`);
    },
    (e: unknown) => e,
  );
  return error;
}

Deno.test("proxy fixture forwards absolute-form HTTP requests and strips Proxy-Authorization", async () => {
  await using origin = startOrigin();
  await using proxy = startProxyServer({ hosts });
  const reply = await fetchVia(
    { url: proxy.url, basicAuth: auth },
    origin.url("origin.test", "/a?b=1"),
    { method: "POST", body: "payload" },
  );
  assert.equal(reply.status, 200);
  assert.equal(reply.body, "origin POST /a");
  assert.equal(reply.headers.get("x-seen-proxy-authorization"), "");
  assert.equal(proxy.log.length, 1);
  assert.deepEqual(proxy.log[0], {
    kind: "forward",
    target: `origin.test:${origin.port}`,
    method: "POST",
    url: origin.url("origin.test", "/a?b=1"),
    proxyAuthorization: basic,
    socksCredentials: null,
    outcome: 200,
  });
});

Deno.test("proxy fixture tunnels HTTPS with CONNECT", async () => {
  await using origin = startOrigin({ tls: true });
  await using proxy = startProxyServer({ hosts });
  const reply = await fetchVia({ url: proxy.url }, origin.url("origin.test", "/secure"));
  assert.equal(reply.body, "origin GET /secure");
  assert.deepEqual(proxy.log.map((r) => [r.kind, r.target, r.outcome]), [
    ["connect", `origin.test:${origin.port}`, 200],
  ]);
});

Deno.test("proxy fixture speaks TLS to clients as an https proxy", async () => {
  await using origin = startOrigin();
  await using proxy = startProxyServer({ hosts, tls: true });
  assert.match(proxy.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const reply = await fetchVia({ transport: "https", url: proxy.url }, origin.url("origin.test"));
  assert.equal(reply.body, "origin GET /");
  assert.equal(proxy.log[0]?.kind, "forward");
});

Deno.test("proxy fixture demands Basic credentials with 407 when configured", async (t) => {
  await using origin = startOrigin();
  await using tlsOrigin = startOrigin({ tls: true });
  await using proxy = startProxyServer({ hosts, auth });

  await t.step("a forwarded request without credentials gets 407 and a challenge", async () => {
    const reply = await fetchVia({ url: proxy.url }, origin.url("origin.test"));
    assert.equal(reply.status, 407);
    assert.equal(reply.headers.get("proxy-authenticate"), 'Basic realm="proxy"');
  });
  await t.step("CONNECT with a wrong password is refused with 407", async () => {
    const error = await fetchFails(
      { url: proxy.url, basicAuth: { username: "alice", password: "wrong" } },
      tlsOrigin.url("origin.test"),
    );
    assert.match(causeText(error), /proxy authentication required/);
  });
  await t.step("the right credentials pass, forwarded and tunnelled", async () => {
    assert.equal(
      (await fetchVia({ url: proxy.url, basicAuth: auth }, origin.url("origin.test"))).body,
      "origin GET /",
    );
    assert.equal(
      (await fetchVia({ url: proxy.url, basicAuth: auth }, tlsOrigin.url("origin.test"))).body,
      "origin GET /",
    );
  });
  assert.deepEqual(proxy.log.map((r) => [r.kind, r.outcome, r.proxyAuthorization]), [
    ["forward", 407, null],
    ["connect", 407, "Basic " + btoa("alice:wrong")],
    ["forward", 200, basic],
    ["connect", 200, basic],
  ]);
});

Deno.test("proxy fixture serves SOCKS5 without authentication", async (t) => {
  await using origin = startOrigin();
  await using tlsOrigin = startOrigin({ tls: true });
  await using proxy = startProxyServer({ protocol: "socks5", hosts });
  assert.match(proxy.url, /^socks5:\/\/127\.0\.0\.1:\d+$/);

  await t.step("http and https targets by name travel as domain addresses", async () => {
    assert.equal(
      (await fetchVia({ url: proxy.url }, origin.url("origin.test"))).body,
      "origin GET /",
    );
    assert.equal(
      (await fetchVia({ url: proxy.url }, tlsOrigin.url("origin.test", "/s"))).body,
      "origin GET /s",
    );
  });
  await t.step("socks5h:// URLs are served the same way", async () => {
    const url = proxy.url.replace("socks5:", "socks5h:");
    assert.equal((await fetchVia({ url }, origin.url("origin.test", "/h"))).body, "origin GET /h");
  });
  await t.step("an IPv4 target travels as an IPv4 address", async () => {
    assert.equal(
      (await fetchVia({ url: proxy.url }, origin.url("127.0.0.1"))).body,
      "origin GET /",
    );
  });
  assert.deepEqual(proxy.log.map((r) => [r.addressType, r.target, r.outcome]), [
    ["domain", `origin.test:${origin.port}`, 0],
    ["domain", `origin.test:${tlsOrigin.port}`, 0],
    ["domain", `origin.test:${origin.port}`, 0],
    ["ipv4", `127.0.0.1:${origin.port}`, 0],
  ]);
});

Deno.test("proxy fixture checks SOCKS5 username and password", async (t) => {
  await using origin = startOrigin();
  await using proxy = startProxyServer({ protocol: "socks5", hosts, auth });

  await t.step("no credentials: no acceptable method", async () => {
    const error = await fetchFails({ url: proxy.url }, origin.url("origin.test"));
    assert.match(causeText(error), /No acceptable auth methods/);
  });
  await t.step("a wrong password fails the sub-negotiation", async () => {
    const error = await fetchFails(
      { url: proxy.url, basicAuth: { username: "alice", password: "wrong" } },
      origin.url("origin.test"),
    );
    assert.match(causeText(error), /Password auth failure/);
  });
  await t.step("the right credentials pass", async () => {
    const reply = await fetchVia({ url: proxy.url, basicAuth: auth }, origin.url("origin.test"));
    assert.equal(reply.body, "origin GET /");
  });
  assert.deepEqual(proxy.log.map((r) => [r.socksCredentials, r.outcome]), [
    [{ username: "alice", password: "wrong" }, 0xff],
    [auth, 0],
  ]);
});

Deno.test("proxy fixture reports a refused target with SOCKS5 reply 5 and HTTP 502", async () => {
  const spare = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = (spare.addr as Deno.NetAddr).port;
  spare.close();
  await using socks = startProxyServer({ protocol: "socks5", hosts });
  await using http = startProxyServer({ hosts });
  const error = await fetchFails({ url: socks.url }, `http://origin.test:${deadPort}/`);
  assert.match(causeText(error), /Connection refused/);
  const reply = await fetchVia({ url: http.url }, `http://origin.test:${deadPort}/`);
  assert.equal(reply.status, 502);
  assert.equal(socks.log[0]?.outcome, 5);
  assert.equal(http.log[0]?.outcome, 502);
});

Deno.test("proxy fixture in close mode drops every connection at once", async (t) => {
  await using origin = startOrigin();
  for (const protocol of ["http", "socks5"] as const) {
    await t.step(protocol, async () => {
      await using proxy = startProxyServer({ protocol, hosts, mode: "close" });
      const error = await fetchFails({ url: proxy.url }, origin.url("origin.test"));
      assert.match(causeText(error), /closed|end of file|eof/i);
      assert.ok(proxy.accepted >= 1);
      assert.deepEqual(proxy.log, []);
    });
  }
});

Deno.test("proxy fixture in hang mode holds connections until closed", async () => {
  await using origin = startOrigin();
  const proxy = startProxyServer({ hosts, mode: "hang" });
  const controller = new AbortController();
  const failing = fetchFails({ url: proxy.url }, origin.url("origin.test"), {
    signal: controller.signal,
  });
  // However long a loaded machine takes to connect: once accepted, the request is held, not
  // answered, until the client gives up.
  for (let waited = 0; proxy.accepted === 0 && waited < 10_000; waited += 10) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(proxy.accepted, 1);
  await new Promise((resolve) => setTimeout(resolve, 100));
  controller.abort(new DOMException("Gave up waiting for the proxy", "TimeoutError"));
  const error = await failing;
  assert.equal((error as DOMException).name, "TimeoutError");
  assert.equal(proxy.accepted, 1);
  await proxy.close();
  await proxy.close(); // safe twice
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: proxy.port }));
});
