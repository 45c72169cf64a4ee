import assert from "node:assert/strict";
import { NetworkAccessManager, NetworkError, type NetworkProxy } from "../../mod.ts";
import { redactProxy } from "../../src/proxy/_redact.ts";
import { startOrigin, startProxyServer } from "../_helpers/proxy_server.ts";
import { closedPort } from "../_helpers/server.ts";

const hosts = { "origin.test": "127.0.0.1" };

/** Basic token of `user:pass`, as `Proxy-Authorization` carries it. */
function basic(user: string, pass: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${pass}`)));
}

const MESSAGES = [
  "Request to http://127.0.0.1:39651/echo failed (fetch failed: error sending request for url " +
  "(http://127.0.0.1:39651/echo): client error (Connect): tcp connect error: Connection " +
  "refused (os error 111))",
  "Proxy socks5://127.0.0.1:1080 requires authentication, and the credentials were missing or " +
  "refused (password auth failure)",
  "Connection refused by origin.test:8080, says proxy http://127.0.0.1:29999",
];

Deno.test("redactProxy leaves a short password alone in ordinary text", () => {
  for (const password of ["e", "1", "o", "11111"]) {
    const proxy: NetworkProxy = { type: "socks5", url: "socks5://p:1", username: "u", password };
    for (const message of MESSAGES) assert.equal(redactProxy(message, proxy), message, password);
    // A pair inside a longer word or number is not one.
    assert.equal(
      redactProxy(`menu:${password}x 127.0.0.1:1080`, proxy),
      `menu:${password}x 127.0.0.1:1080`,
    );
  }
});

Deno.test("redactProxy removes the forms of a short password's credentials", () => {
  for (const password of ["e", "1", "o", "é"]) {
    const proxy: NetworkProxy = { type: "http", url: "http://p:1", username: "u", password };
    const token = basic("u", password);
    assert.equal(
      redactProxy(
        [
          `via http://u:${encodeURIComponent(password)}@p:1 now`,
          `Proxy-Authorization: Basic ${token}`,
          `token ${token}.`,
          `pair u:${password} and u:${encodeURIComponent(password)}`,
        ].join("\n"),
        proxy,
      ),
      ["via http://***@p:1 now", "Proxy-Authorization: ***", "token ***.", "pair *** and ***"]
        .join("\n"),
      password,
    );
    // Found also in the proxy's URL.
    assert.equal(
      redactProxy(`auth=u:${password};`, { type: "http", url: `http://u:${password}@p:1` }),
      "auth=***;",
    );
  }
});

Deno.test("redactProxy removes a long password where it stands as a whole token", () => {
  const password = "hunter2/x";
  const proxy: NetworkProxy = { type: "http", url: "http://p:1", username: "bob", password };
  const encoded = encodeURIComponent(password);
  assert.equal(
    redactProxy(
      `secret=${password}; said "${password}" (${encoded}) then ${password}`,
      proxy,
    ),
    `secret=***; said "***" (***) then ***`,
  );
  // Inside a longer word or number it is some other text.
  assert.equal(redactProxy(`x${password} ${password}9`, proxy), `x${password} ${password}9`);
  // Shorter than six characters, a password on its own is left; its forms are not.
  const short: NetworkProxy = { ...proxy, password: "hunt2" };
  assert.equal(redactProxy("said hunt2, bob:hunt2", short), "said hunt2, ***");
});

Deno.test("a short proxy password leaves the message whole and the code right", async (t) => {
  await using origin = startOrigin();
  const auth = { username: "alice", password: "right-one" };
  await using socks = startProxyServer({ protocol: "socks5", hosts, auth });
  await t.step(
    `socks5 refusing the password "e": ProxyAuthenticationRequiredError (105)`,
    async () => {
      await using manager = new NetworkAccessManager({
        proxy: { type: "socks5", url: socks.url, username: "alice", password: "e" },
      });
      const reply = manager.get(origin.url("origin.test", "/echo"));
      await reply.text().catch(() => {});
      assert.equal(reply.error, NetworkError.ProxyAuthenticationRequiredError, reply.errorString);
      assert.match(
        reply.errorString,
        new RegExp(`^Proxy socks5://127\\.0\\.0\\.1:${socks.port} refused the credentials`),
      );
      assert.ok(!reply.errorString.includes("***"), reply.errorString);
    },
  );
  for (const password of ["o", "1"]) {
    await t.step(
      `dead http proxy, password "${password}": ProxyConnectionRefusedError (101)`,
      async () => {
        const port = closedPort();
        await using manager = new NetworkAccessManager({
          proxy: { type: "http", url: `http://127.0.0.1:${port}`, username: "u", password },
        });
        const reply = manager.get(origin.url("origin.test", "/echo"));
        await reply.text().catch(() => {});
        assert.equal(reply.error, NetworkError.ProxyConnectionRefusedError, reply.errorString);
        assert.match(
          reply.errorString,
          new RegExp(`^Proxy http://127\\.0\\.0\\.1:${port} refused the connection`),
        );
        assert.match(reply.errorString, /Connection refused/);
        assert.ok(!reply.errorString.includes("***"), reply.errorString);
      },
    );
  }
});

Deno.test("a proxy error is classified before the password is taken out of its message", async (t) => {
  await using origin = startOrigin();
  // Passwords long enough to be removed where they stand alone, and words Deno's errors use.
  await using socks = startProxyServer({
    protocol: "socks5",
    hosts,
    auth: { username: "alice", password: "right-one" },
  });
  await t.step('socks5 refusing the password "failure": 105', async () => {
    await using manager = new NetworkAccessManager({
      proxy: { type: "socks5", url: socks.url, username: "alice", password: "failure" },
    });
    const reply = manager.get(origin.url("origin.test", "/echo"));
    await reply.text().catch(() => {});
    assert.equal(reply.error, NetworkError.ProxyAuthenticationRequiredError, reply.errorString);
    assert.ok(!/\bfailure\b/.test(reply.errorString), reply.errorString);
  });
  await t.step('dead http proxy, password "refused": 101', async () => {
    const port = closedPort();
    await using manager = new NetworkAccessManager({
      proxy: { type: "http", url: `http://127.0.0.1:${port}`, username: "u", password: "refused" },
    });
    const reply = manager.get(origin.url("origin.test", "/echo"));
    await reply.text().catch(() => {});
    assert.equal(reply.error, NetworkError.ProxyConnectionRefusedError, reply.errorString);
    assert.ok(!/\brefused\b/.test(reply.errorString), reply.errorString);
  });
});
