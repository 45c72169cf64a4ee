import assert from "node:assert/strict";
import { NetworkAccessManager, NetworkError, type NetworkReply } from "../../mod.ts";
import { validateProxy } from "../../src/proxy/network_proxy.ts";
import { classifyProxyError } from "../../src/proxy/_probe.ts";
import { startOrigin, startProxyServer, TEST_CA_CERT } from "../_helpers/proxy_server.ts";
import { serveTcp } from "../_helpers/server.ts";
import { makeTestCertificates } from "../_helpers/tls.ts";

// Targets are named "origin.test", which the fixture maps to 127.0.0.1 (see tests/manager_proxy_test.ts).
const hosts = { "origin.test": "127.0.0.1" };

/** The reply's outcome once it finished. */
async function settle(reply: NetworkReply) {
  await reply.text().catch(() => null);
  return { error: reply.error, errorString: reply.errorString };
}

Deno.test("a failed TLS handshake with an https proxy names the proxy, not the target", async (t) => {
  await using origin = startOrigin();
  await using tlsOrigin = startOrigin({ tls: true });
  await t.step("a certificate not trusted, for an http target and an https one", async () => {
    await using proxy = startProxyServer({ hosts, tls: true });
    await using manager = new NetworkAccessManager({ proxy: { type: "https", url: proxy.url } });
    for (const url of [origin.url("origin.test", "/a"), tlsOrigin.url("origin.test", "/b")]) {
      const outcome = await settle(manager.get(url));
      assert.equal(outcome.error, NetworkError.SslHandshakeFailedError, outcome.errorString);
      assert.ok(
        outcome.errorString.startsWith(
          `TLS handshake with proxy ${proxy.url} failed: unknown issuer: the proxy's ` +
            `certificate is not signed by a trusted CA (trust the proxy's CA with caCerts) (`,
        ),
        outcome.errorString,
      );
    }
  });
  await t.step("a plain HTTP server given as an https proxy", async () => {
    await using plain = serveTcp(async (conn) => {
      await conn.read(new Uint8Array(4096));
      await conn.write(
        new TextEncoder().encode("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"),
      );
    });
    const url = `https://127.0.0.1:${plain.port}`;
    await using manager = new NetworkAccessManager({ proxy: { type: "https", url } });
    const outcome = await settle(manager.get(origin.url("origin.test", "/c")));
    assert.equal(outcome.error, NetworkError.SslHandshakeFailedError, outcome.errorString);
    assert.ok(
      outcome.errorString.startsWith(
        `TLS handshake with proxy ${url} failed: not TLS: the proxy answered with something ` +
          `that is not TLS (a plain HTTP proxy? use type "http") (`,
      ),
      outcome.errorString,
    );
  });
  await t.step("the proxy trusted, the target not: the target's", async () => {
    const other = await makeTestCertificates();
    await using target = Deno.serve(
      { hostname: "127.0.0.1", port: 0, cert: other.cert, key: other.key, onListen() {} },
      () => new Response("hi"),
    );
    await using proxy = startProxyServer({ hosts, tls: true });
    await using manager = new NetworkAccessManager({
      proxy: { type: "https", url: proxy.url },
      caCerts: [TEST_CA_CERT],
    });
    const outcome = await settle(manager.get(`https://origin.test:${target.addr.port}/`));
    assert.equal(outcome.error, NetworkError.SslHandshakeFailedError, outcome.errorString);
    assert.ok(
      outcome.errorString.startsWith(`TLS handshake with origin.test:${target.addr.port} failed`),
      outcome.errorString,
    );
  });
});

Deno.test("a TLS proxy given as an http proxy is told to be given as https", async (t) => {
  await using origin = startOrigin();
  await using tlsOrigin = startOrigin({ tls: true });
  await using proxy = startProxyServer({ hosts, tls: true });
  const url = proxy.url.replace(/^https:/, "http:");
  await using manager = new NetworkAccessManager({
    proxy: { type: "http", url },
    caCerts: [TEST_CA_CERT],
  });
  await t.step("forwarded", async () => {
    const outcome = await settle(manager.get(origin.url("origin.test", "/f")));
    assert.equal(outcome.error, NetworkError.ProtocolFailure, outcome.errorString);
    assert.ok(
      outcome.errorString.startsWith(
        `Proxy ${url} answered the request for origin.test:${origin.port} in TLS: a TLS proxy? ` +
          `use type "https" (`,
      ),
      outcome.errorString,
    );
  });
  await t.step("CONNECT", async () => {
    const outcome = await settle(manager.get(tlsOrigin.url("origin.test", "/c")));
    assert.equal(outcome.error, NetworkError.UnknownProxyError, outcome.errorString);
    assert.ok(
      outcome.errorString.startsWith(
        `Proxy ${url} could not open a tunnel to origin.test:${tlsOrigin.port} (it answered ` +
          `CONNECT in TLS: a TLS proxy? use type "https") (`,
      ),
      outcome.errorString,
    );
  });
});

Deno.test("SOCKS5 credentials RFC 1929 cannot carry are refused when the proxy is given", async (t) => {
  const where = "Cannot create manager";
  const cases: [string, Record<string, string>, string][] = [
    [
      "a user name without a password",
      { type: "socks5", url: "socks5://someone@127.0.0.1:1080" },
      `'proxy.password' must be 1 to 255 bytes for a "socks5" proxy (RFC 1929 username/password authentication), got an empty one (a proxy that needs no credentials is given none)`,
    ],
    [
      "a password without a user name",
      { type: "socks5", url: "socks5://:token@127.0.0.1:1080" },
      `'proxy.username' must be 1 to 255 bytes for a "socks5" proxy (RFC 1929 username/password authentication), got an empty one (a proxy that needs no credentials is given none)`,
    ],
    [
      "an empty password field",
      { type: "socks5h", url: "socks5h://127.0.0.1:1080", username: "someone", password: "" },
      `'proxy.password' must be 1 to 255 bytes for a "socks5h" proxy (RFC 1929 username/password authentication), got an empty one (a proxy that needs no credentials is given none)`,
    ],
    [
      "a user name over 255 bytes",
      { type: "socks5", url: "socks5://127.0.0.1:1080", username: "é".repeat(128), password: "p" },
      `'proxy.username' must be 1 to 255 bytes for a "socks5" proxy (RFC 1929 username/password authentication), got 256 bytes`,
    ],
  ];
  for (const [name, proxy, message] of cases) {
    await t.step(name, () => {
      assert.throws(() => new NetworkAccessManager({ proxy: proxy as never }), {
        name: "TypeError",
        message: `${where}: ${message}`,
      });
      const manager = new NetworkAccessManager();
      assert.throws(() => manager.proxy = proxy as never, TypeError);
      manager.close();
    });
  }
  await t.step(
    "a factory's entry is skipped; alone, it fails the reply naming the field",
    async () => {
      await using origin = startOrigin();
      const bad = { type: "socks5" as const, url: "socks5://someone@127.0.0.1:1" };
      await using skipping = new NetworkAccessManager({
        proxyFactory: () => [bad, { type: "none" }],
      });
      assert.equal(await skipping.get(origin.url("127.0.0.1", "/s")).text(), "origin GET /s");
      await using failing = new NetworkAccessManager({ proxyFactory: () => [bad] });
      const outcome = await settle(failing.get(origin.url("127.0.0.1", "/f")));
      assert.equal(outcome.error, NetworkError.UnknownNetworkError);
      assert.match(outcome.errorString, /'proxy\.password' must be 1 to 255 bytes/);
    },
  );
  await t.step("1 and 255 bytes are taken", () => {
    const proxy = validateProxy(
      { type: "socks5", url: "socks5://127.0.0.1:1080", username: "u", password: "p".repeat(255) },
      where,
    );
    assert.equal(proxy.password?.length, 255);
  });
});

Deno.test("an http proxy at an address with no route to it is ProxyConnectionRefusedError naming it", async () => {
  // Deno's words when the network has no route to the proxy's address.
  const error = new TypeError("fetch failed", {
    cause: new Error(
      "client error (Connect): tcp connect error: Network is unreachable (os error 101)",
    ),
  });
  const proxy = validateProxy({ type: "http", url: "http://bob:hush-hush-9@192.0.2.1:3128" }, "x");
  const classified = await classifyProxyError(error, proxy, "http://origin.test/x");
  assert.equal(classified.code, NetworkError.ProxyConnectionRefusedError);
  assert.ok(
    classified.message.startsWith(
      "Proxy http://192.0.2.1:3128 cannot be reached: no route to its address (",
    ),
    classified.message,
  );
});
