import assert from "node:assert/strict";
import {
  type AuthenticationChallenge,
  NetworkAccessManager,
  NetworkError,
  type NetworkReply,
} from "../../mod.ts";
import { startOrigin, startProxyServer, TEST_CA_CERT } from "../_helpers/proxy_server.ts";
import { serveTcp } from "../_helpers/server.ts";
import { startAuthServer } from "../_helpers/auth_server.ts";

// Targets are named "origin.test", which the fixture maps to 127.0.0.1 (see tests/manager_proxy_test.ts).
const hosts = { "origin.test": "127.0.0.1" };
const auth = { username: "alice", password: "s3cret-pw" };

/**
 * A manager through the http proxy at `url` whose authenticator gives `forProxy` to the proxy's
 * challenges and bob's credentials to the target's, recording every challenge.
 */
function recordingManager(url: string, forProxy: { username: string; password: string }) {
  const calls: AuthenticationChallenge[] = [];
  const manager = new NetworkAccessManager({
    proxy: { type: "http", url },
    authenticator: (_reply, challenge) => {
      calls.push(challenge);
      return challenge.proxy ? forProxy : { username: "bob", password: "pw" };
    },
  });
  return { calls, manager };
}

/** The reply's outcome, its body read (null when reading threw). */
async function settle(reply: NetworkReply) {
  const body = await reply.text().catch(() => null);
  return {
    error: reply.error,
    errorString: reply.errorString,
    status: reply.status,
    headers: reply.headers,
    body,
  };
}

Deno.test("a 401 to the credentials an authenticator gave after the proxy's 407 ends the reply with 105 at once", async () => {
  await using origin = startOrigin();
  await using proxy = startProxyServer({ hosts, auth, wrongCredentialsStatus: 401 });
  const { calls, manager } = recordingManager(proxy.url, { username: "alice", password: "typo" });
  await using _ = manager;
  const outcome = await settle(manager.get(origin.url("origin.test", "/a")));
  assert.equal(outcome.error, NetworkError.ProxyAuthenticationRequiredError, outcome.errorString);
  assert.match(outcome.errorString, /^Proxy http:\/\/127\.0\.0\.1:\d+ refused the credentials/);
  // The authenticator was asked for the proxy only, never for the target.
  assert.deepEqual(calls.map((c) => [c.proxy, c.attempt]), [[true, 1]]);
  // The 407, the 401 to the answer, and the CONNECT that asked whose 401 it was: nothing more
  // went to the proxy, no target credentials above all.
  assert.deepEqual(proxy.log.map((r) => [r.kind, r.outcome]), [
    ["forward", 407],
    ["forward", 401],
    ["connect", 401],
  ]);
  // The reply shows the proxy's 401.
  assert.equal(outcome.status, 401);
  assert.equal(outcome.headers.get("www-authenticate"), 'Basic realm="proxy"');
  // The refused credentials left the cache: the next request is challenged and asks again.
  await settle(manager.get(origin.url("origin.test", "/b")));
  assert.deepEqual(calls.map((c) => c.proxy), [true, true]);
  assert.equal(proxy.log[3]?.proxyAuthorization, null);
});

Deno.test("an origin's 401 after the proxy took the authenticator's credentials is still the origin's", async () => {
  await using origin = startAuthServer({ scheme: "basic", realm: "origin", users: { bob: "pw" } });
  await using proxy = startProxyServer({ hosts, auth, wrongCredentialsStatus: 401 });
  const { calls, manager } = recordingManager(proxy.url, auth);
  await using _ = manager;
  const reply = manager.get(`http://origin.test:${new URL(origin.origin).port}/private`);
  assert.equal(await reply.text(), "hello bob");
  assert.equal(reply.error, NetworkError.NoError, reply.errorString);
  assert.deepEqual(calls.map((c) => [c.proxy, c.realm]), [[true, "proxy"], [false, "origin"]]);
  // The proxy opened a tunnel with the credentials: the 401 was the origin's, asked once.
  assert.deepEqual(proxy.log.map((r) => [r.kind, r.outcome]), [
    ["forward", 407],
    ["forward", 200],
    ["connect", 200],
    ["forward", 200],
  ]);
});

Deno.test("a proxy's 401 to the credentials of its settings keeps the 401's status and headers", async () => {
  await using origin = startOrigin();
  await using proxy = startProxyServer({ hosts, auth, wrongCredentialsStatus: 401 });
  await using manager = new NetworkAccessManager({
    proxy: { type: "http", url: proxy.url, username: "alice", password: "wrong-secret" },
  });
  const outcome = await settle(manager.get(origin.url("origin.test", "/f")));
  assert.equal(outcome.error, NetworkError.ProxyAuthenticationRequiredError, outcome.errorString);
  assert.equal(outcome.status, 401);
  assert.equal(outcome.headers.get("www-authenticate"), 'Basic realm="proxy"');
  assert.equal(outcome.body, null);
});

Deno.test("a 407 to CONNECT says whether credentials were missing or asked for in Digest", async (t) => {
  await using tlsOrigin = startOrigin({ tls: true });
  await t.step("no credentials given: says so, and where to give them", async () => {
    await using proxy = startProxyServer({ hosts, auth });
    await using manager = new NetworkAccessManager({
      proxy: { type: "http", url: proxy.url },
      caCerts: [TEST_CA_CERT],
    });
    const outcome = await settle(manager.get(tlsOrigin.url("origin.test", "/c")));
    assert.equal(outcome.error, NetworkError.ProxyAuthenticationRequiredError);
    assert.match(
      outcome.errorString,
      /^Proxy http:\/\/127\.0\.0\.1:\d+ requires credentials, and none were given \(HTTP 407 to CONNECT\): give them in the proxy's 'username' and 'password' \(or as the user info of its URL\)/,
    );
  });
  await t.step("a Digest challenge to CONNECT: not answered, and why", async () => {
    await using proxy = serveTcp(async (conn) => {
      const buffer = new Uint8Array(4096);
      await conn.read(buffer);
      await conn.write(
        new TextEncoder().encode(
          "HTTP/1.1 407 Proxy Authentication Required\r\n" +
            'Proxy-Authenticate: Digest realm="qa", nonce="abc", qop="auth"\r\n' +
            "Content-Length: 0\r\nConnection: close\r\n\r\n",
        ),
      );
    });
    await using manager = new NetworkAccessManager({
      proxy: { type: "http", url: proxy.url, ...auth },
      caCerts: [TEST_CA_CERT],
    });
    const outcome = await settle(manager.get(tlsOrigin.url("origin.test", "/d")));
    assert.equal(outcome.error, NetworkError.ProxyAuthenticationRequiredError);
    assert.match(
      outcome.errorString,
      /^Proxy http:\/\/127\.0\.0\.1:\d+ asks for Digest authentication \(HTTP 407 to CONNECT\), which is not answered: Deno's tunnel for an https target sends Basic credentials only/,
    );
    assert.ok(!outcome.errorString.includes(auth.password), outcome.errorString);
  });
  await t.step("wrong Basic credentials: refused", async () => {
    await using proxy = startProxyServer({ hosts, auth });
    await using manager = new NetworkAccessManager({
      proxy: { type: "http", url: proxy.url, username: "alice", password: "wrong-secret" },
      caCerts: [TEST_CA_CERT],
    });
    const outcome = await settle(manager.get(tlsOrigin.url("origin.test", "/e")));
    assert.equal(outcome.error, NetworkError.ProxyAuthenticationRequiredError);
    assert.match(
      outcome.errorString,
      /^Proxy http:\/\/127\.0\.0\.1:\d+ refused the credentials \(HTTP 407 to CONNECT\)/,
    );
  });
});
