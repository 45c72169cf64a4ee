import assert from "node:assert/strict";
import { _ProxyClientPool } from "../../src/_proxy_client.ts";
import type { NetworkProxy } from "../../src/proxy/network_proxy.ts";
import { classifyProxyError } from "../../src/proxy/_probe.ts";
import { NetworkError } from "../../src/network_error.ts";
import { NetworkAccessManager } from "../../src/manager.ts";
import {
  assertNoProxyCredentials,
  createProxyClient,
  startOrigin,
  TEST_CA_CERT,
} from "../_helpers/proxy_server.ts";
import { loadRealProxies, type RealProxy } from "../_helpers/real_proxies.ts";

// Real proxies from Debian's packages, started by .ci/proxies.sh. Outside CI their absence
// skips these tests with a message; in CI (the CI variable is set) it fails them.
const found = await loadRealProxies();
const inCi = Deno.env.get("CI") !== undefined && Deno.env.get("CI") !== "";
if (found.problems.length > 0 && !inCi) {
  console.log(
    `proxy_interop_test: skipping tests of absent proxies:\n  ${found.problems.join("\n  ")}`,
  );
}

Deno.test({
  name: "real proxies are present in CI",
  ignore: !inCi,
  fn() {
    assert.deepEqual(found.problems, [], "run .ci/proxies.sh before the tests");
  },
});

function withCredentials(
  type: NetworkProxy["type"],
  real: RealProxy,
  password = real.password,
): NetworkProxy {
  return { type, url: real.url, username: real.username, password };
}

async function failure(client: Deno.HttpClient | undefined, url: string): Promise<unknown> {
  return await fetch(url, { client }).then(
    async (response) => {
      await response.body?.cancel();
      throw new Error(`expected a failure, got ${response.status}`);
    },
    (e: unknown) => e,
  );
}

Deno.test({
  name: "tinyproxy forwards HTTP and tunnels HTTPS with Basic credentials",
  ignore: found.tinyproxy === undefined,
  async fn(t) {
    const real = found.tinyproxy!;
    await using origin = startOrigin();
    await using tlsOrigin = startOrigin({ tls: true });
    const pool = new _ProxyClientPool();
    try {
      await t.step("Deno.createHttpClient with basicAuth", async () => {
        using client = createProxyClient(
          { url: real.url, basicAuth: { username: real.username, password: real.password } },
          [TEST_CA_CERT],
        );
        const response = await fetch(origin.url("127.0.0.1", "/raw"), { client });
        assert.equal(await response.text(), "origin GET /raw");
        assert.match(response.headers.get("x-seen-via") ?? "", /tinyproxy/);
        assert.equal(response.headers.get("x-seen-proxy-authorization"), "");
      });
      await t.step("the pool's client, plain http", async () => {
        const client = pool.get(withCredentials("http", real), { caCerts: [TEST_CA_CERT] });
        const response = await fetch(origin.url("127.0.0.1", "/pool"), { client });
        assert.equal(await response.text(), "origin GET /pool");
        assert.match(response.headers.get("x-seen-via") ?? "", /tinyproxy/);
      });
      await t.step("the pool's client, https through CONNECT", async () => {
        const client = pool.get(withCredentials("http", real), { caCerts: [TEST_CA_CERT] });
        const response = await fetch(tlsOrigin.url("127.0.0.1", "/tls"), { client });
        assert.equal(await response.text(), "origin GET /tls");
      });
      await t.step("no credentials get 407 with a Basic challenge", async () => {
        const client = pool.get({ type: "http", url: real.url });
        const response = await fetch(origin.url("127.0.0.1"), { client });
        await response.body?.cancel();
        assert.equal(response.status, 407);
        assert.match(response.headers.get("proxy-authenticate") ?? "", /^Basic/i);
      });
      await t.step(
        "a wrong password is refused (tinyproxy 1.11 answers 401, not 407)",
        async () => {
          const client = pool.get(withCredentials("http", real, "wrong-password"));
          const response = await fetch(origin.url("127.0.0.1"), { client });
          await response.body?.cancel();
          assert.ok(response.status === 401 || response.status === 407, `got ${response.status}`);
          assert.match(response.headers.get("server") ?? "", /tinyproxy/);
        },
      );
      await t.step("a wrong password on CONNECT is ProxyAuthenticationRequiredError", async () => {
        const proxy = withCredentials("http", real, "wrong-password");
        const client = pool.get(proxy, { caCerts: [TEST_CA_CERT] });
        const url = tlsOrigin.url("127.0.0.1");
        const error = await classifyProxyError(await failure(client, url), proxy, url);
        assert.equal(error.code, NetworkError.ProxyAuthenticationRequiredError);
        assert.ok(!error.message.includes("wrong-password"));
      });
    } finally {
      pool.clear();
    }
  },
});

Deno.test({
  name: "dante tunnels HTTP and HTTPS with SOCKS5 username and password",
  ignore: found.dante === undefined,
  async fn(t) {
    const real = found.dante!;
    await using origin = startOrigin();
    await using tlsOrigin = startOrigin({ tls: true });
    const pool = new _ProxyClientPool();
    try {
      await t.step("Deno.createHttpClient with basicAuth", async () => {
        using client = createProxyClient(
          { url: real.url, basicAuth: { username: real.username, password: real.password } },
          [TEST_CA_CERT],
        );
        const response = await fetch(origin.url("127.0.0.1", "/raw"), { client });
        assert.equal(await response.text(), "origin GET /raw");
      });
      for (const type of ["socks5", "socks5h"] as const) {
        await t.step(`the pool's client, ${type}`, async () => {
          const url = real.url.replace(/^socks5:/, `${type}:`);
          const proxy: NetworkProxy = {
            type,
            url,
            username: real.username,
            password: real.password,
          };
          const client = pool.get(proxy, { caCerts: [TEST_CA_CERT] });
          const plain = await fetch(origin.url("127.0.0.1", "/plain"), { client });
          assert.equal(await plain.text(), "origin GET /plain");
          const secure = await fetch(tlsOrigin.url("127.0.0.1", "/tls"), { client });
          assert.equal(await secure.text(), "origin GET /tls");
        });
      }
      await t.step("a wrong password is ProxyAuthenticationRequiredError", async () => {
        const proxy = withCredentials("socks5", real, "wrong-password");
        const client = pool.get(proxy);
        const url = origin.url("127.0.0.1");
        const error = await classifyProxyError(await failure(client, url), proxy, url);
        assert.equal(error.code, NetworkError.ProxyAuthenticationRequiredError);
        assert.ok(!error.message.includes("wrong-password"));
      });
      await t.step("no credentials is ProxyAuthenticationRequiredError", async () => {
        const proxy: NetworkProxy = { type: "socks5", url: real.url };
        const url = origin.url("127.0.0.1");
        const error = await classifyProxyError(await failure(pool.get(proxy), url), proxy, url);
        assert.equal(error.code, NetworkError.ProxyAuthenticationRequiredError);
      });
    } finally {
      pool.clear();
    }
  },
});

Deno.test({
  name: "manager through tinyproxy with the NetworkProxy's Basic credentials",
  ignore: found.tinyproxy === undefined,
  async fn(t) {
    const real = found.tinyproxy!;
    await using origin = startOrigin();
    await using tlsOrigin = startOrigin({ tls: true });
    await t.step("http forwarded and https tunnelled", async () => {
      await using manager = new NetworkAccessManager({
        proxy: withCredentials("http", real),
        caCerts: [TEST_CA_CERT],
      });
      const plain = manager.get(origin.url("127.0.0.1", "/m"));
      assert.equal(await plain.text(), "origin GET /m");
      assert.match(plain.headers.get("x-seen-via") ?? "", /tinyproxy/);
      assert.equal(plain.headers.get("x-seen-proxy-authorization"), "");
      // The credentials go on CONNECT only: the origin inside the tunnel never sees them.
      for (const path of ["/mt", "/mt2"]) {
        const secure = manager.get(tlsOrigin.url("127.0.0.1", path));
        assert.equal(await secure.text(), `origin GET ${path}`);
        assertNoProxyCredentials(secure.headers.get("x-seen-proxy-authorization"));
      }
    });
    for (const target of ["http", "https"] as const) {
      await t.step(`a wrong password is ProxyAuthenticationRequiredError, ${target}`, async () => {
        await using manager = new NetworkAccessManager({
          proxy: withCredentials("http", real, "wrong-password"),
          caCerts: [TEST_CA_CERT],
        });
        const url = (target === "http" ? origin : tlsOrigin).url("127.0.0.1", "/w");
        const reply = manager.get(url);
        await reply.finished;
        assert.equal(reply.error, NetworkError.ProxyAuthenticationRequiredError, reply.errorString);
        assert.ok(!reply.errorString.includes("wrong-password"), reply.errorString);
        // A refusal with 401 (tinyproxy's to a forwarded request) keeps that response.
        if (target === "http") assert.equal(reply.status, 401);
      });
    }
    await t.step(
      "an authenticator's wrong password: 105 at once, the target never asked about",
      async () => {
        const asked: boolean[] = [];
        await using manager = new NetworkAccessManager({
          proxy: { type: "http", url: real.url },
          authenticator: (_reply, challenge) => {
            asked.push(challenge.proxy);
            return challenge.proxy
              ? { username: real.username, password: "wrong-password" }
              : { username: "siteuser", password: "site-secret" };
          },
        });
        const reply = manager.get(origin.url("127.0.0.1", "/a"));
        await reply.finished;
        assert.equal(reply.error, NetworkError.ProxyAuthenticationRequiredError, reply.errorString);
        assert.equal(reply.status, 401);
        assert.deepEqual(asked, [true]);
      },
    );
  },
});

Deno.test({
  name: "manager through dante with SOCKS5 username and password",
  ignore: found.dante === undefined,
  async fn(t) {
    const real = found.dante!;
    await using origin = startOrigin();
    await using tlsOrigin = startOrigin({ tls: true });
    for (const type of ["socks5", "socks5h"] as const) {
      await t.step(type, async () => {
        await using manager = new NetworkAccessManager({
          proxy: { ...withCredentials(type, real), url: real.url.replace(/^socks5:/, `${type}:`) },
          caCerts: [TEST_CA_CERT],
        });
        assert.equal(await manager.get(origin.url("127.0.0.1", "/m")).text(), "origin GET /m");
        assert.equal(await manager.get(tlsOrigin.url("127.0.0.1", "/mt")).text(), "origin GET /mt");
      });
    }
    await t.step("a wrong password is ProxyAuthenticationRequiredError", async () => {
      await using manager = new NetworkAccessManager({
        proxy: withCredentials("socks5", real, "wrong-password"),
      });
      const reply = manager.get(origin.url("127.0.0.1", "/w"));
      await reply.finished;
      assert.equal(reply.error, NetworkError.ProxyAuthenticationRequiredError, reply.errorString);
      assert.ok(!reply.errorString.includes("wrong-password"), reply.errorString);
    });
  },
});
