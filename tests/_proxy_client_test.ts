import assert from "node:assert/strict";
import { KvNetworkAccessManagerFactory, NetworkAccessManager } from "../mod.ts";
import { _openClients, _ProxyClientPool } from "../src/_proxy_client.ts";
import type { NetworkProxy } from "../src/proxy/network_proxy.ts";
import { startConnectRelay } from "../src/proxy/_relay.ts";
import { serve, type TestServer } from "./_helpers/server.ts";
import {
  assertNoProxyCredentials,
  startOrigin,
  startProxyServer,
  TEST_CA_CERT,
} from "./_helpers/proxy_server.ts";
import { runDeno } from "./_helpers/deno_run.ts";
import { makeTestCertificates } from "./_helpers/tls.ts";

const certs = await makeTestCertificates();
const other = await makeTestCertificates();
const proxyAuth = { username: "alice", password: "s3cret-pw" };

/** An https server that tells its connections apart by their client port. */
function countingServer(): TestServer & { connections: Set<number> } {
  const connections = new Set<number>();
  const server = serve((request, info) => {
    connections.add(info.remoteAddr.port);
    return new Response(`ok ${new URL(request.url).pathname}`);
  }, certs);
  return Object.assign(server, { connections });
}

async function get(manager: NetworkAccessManager, url: string): Promise<string> {
  const reply = manager.get(url);
  const text = await reply.text().catch(() => null);
  assert.equal(reply.errorString, "", `${url}: ${reply.errorString}`);
  return text!;
}

Deno.test("Managers with equal client settings share one client, closed with the last of them", async (t) => {
  await using server = countingServer();
  const before = _openClients();
  const a = new NetworkAccessManager({ caCerts: [certs.caCert] });
  const b = new NetworkAccessManager({ caCerts: [certs.caCert] });
  try {
    await t.step(
      "two managers with the same caCerts reach the server over one connection",
      async () => {
        assert.equal(await get(a, `${server.url}/a`), "ok /a");
        assert.equal(await get(b, `${server.url}/b`), "ok /b");
        assert.equal(await get(a, `${server.url}/a2`), "ok /a2");
        assert.equal(server.connections.size, 1);
        assert.equal(_openClients() - before, 1);
      },
    );
    await t.step(
      "closing one leaves the other's requests working, on the same connection",
      async () => {
        await a.close();
        assert.equal(_openClients() - before, 1);
        assert.equal(await get(b, `${server.url}/b2`), "ok /b2");
        assert.equal(server.connections.size, 1);
      },
    );
    await t.step("closing both closes the client", async () => {
      await b.close();
      assert.equal(_openClients(), before);
    });
  } finally {
    await a.close();
    await b.close();
  }
  assert.equal(_openClients(), before);
});

Deno.test("Managers with different caCerts get different clients", async () => {
  await using server = countingServer();
  const before = _openClients();
  await using a = new NetworkAccessManager({ caCerts: [certs.caCert] });
  await using b = new NetworkAccessManager({ caCerts: [certs.caCert, other.caCert] });
  await using c = new NetworkAccessManager({ caCerts: [certs.caCert, other.caCert] });
  assert.equal(await get(a, `${server.url}/a`), "ok /a");
  assert.equal(await get(b, `${server.url}/b`), "ok /b");
  assert.equal(await get(c, `${server.url}/c`), "ok /c");
  assert.equal(server.connections.size, 2);
  assert.equal(_openClients() - before, 2);
});

Deno.test("A manager whose caCerts change lets go of its old client", async (t) => {
  await using server = countingServer();
  const before = _openClients();
  await using a = new NetworkAccessManager({ caCerts: [certs.caCert] });
  await using b = new NetworkAccessManager({ caCerts: [certs.caCert] });
  await t.step("the other manager keeps the shared client", async () => {
    assert.equal(await get(a, `${server.url}/a`), "ok /a");
    assert.equal(await get(b, `${server.url}/b`), "ok /b");
    a.caCerts = [certs.caCert, other.caCert];
    assert.equal(await get(a, `${server.url}/a2`), "ok /a2");
    assert.equal(await get(b, `${server.url}/b2`), "ok /b2");
    assert.equal(server.connections.size, 2);
    assert.equal(_openClients() - before, 2);
  });
  await t.step("with no one else holding it, the old client is closed", async () => {
    a.caCerts = [certs.caCert];
    // a is back on the shared client; its client of both certificates is closed.
    assert.equal(await get(a, `${server.url}/a3`), "ok /a3");
    assert.equal(_openClients() - before, 1);
    b.caCerts = [other.caCert, certs.caCert];
    assert.equal(await get(b, `${server.url}/b3`), "ok /b3");
    assert.equal(_openClients() - before, 2);
    a.caCerts = [...a.caCerts]; // the same certificates: the client stays
    assert.equal(_openClients() - before, 2);
    assert.equal(await get(a, `${server.url}/a4`), "ok /a4");
    assert.equal(server.connections.size, 3);
  });
});

Deno.test("A reply in flight keeps its client when its manager's caCerts change", async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  await using server = serve(() =>
    new Response(
      new ReadableStream({
        async start(controller) {
          controller.enqueue(new TextEncoder().encode("head;"));
          await released;
          controller.enqueue(new TextEncoder().encode("tail"));
          controller.close();
        },
      }),
    ), certs);
  const before = _openClients();
  await using manager = new NetworkAccessManager({ caCerts: [certs.caCert] });
  const reply = manager.get(`${server.url}/slow`);
  const chunks = reply[Symbol.asyncIterator]();
  assert.equal(new TextDecoder().decode((await chunks.next()).value), "head;");
  manager.caCerts = [certs.caCert, other.caCert];
  assert.equal(_openClients() - before, 1);
  release();
  let text = "head;";
  for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
    text += new TextDecoder().decode(next.value);
  }
  assert.equal(text, "head;tail");
  assert.equal(reply.errorString, "");
  assert.equal(_openClients(), before);
});

Deno.test("clearConnectionCache gives its manager a new client and leaves the others' be", async () => {
  await using server = countingServer();
  const before = _openClients();
  await using a = new NetworkAccessManager({ caCerts: [certs.caCert] });
  await using b = new NetworkAccessManager({ caCerts: [certs.caCert] });
  assert.equal(await get(a, `${server.url}/a`), "ok /a");
  assert.equal(await get(b, `${server.url}/b`), "ok /b");
  a.clearConnectionCache();
  assert.equal(await get(b, `${server.url}/b2`), "ok /b2");
  assert.equal(server.connections.size, 1);
  assert.equal(await get(a, `${server.url}/a2`), "ok /a2");
  assert.equal(server.connections.size, 2);
  // A manager made now takes the newest client, the one `a` connected anew with.
  await using c = new NetworkAccessManager({ caCerts: [certs.caCert] });
  assert.equal(await get(c, `${server.url}/c`), "ok /c");
  assert.equal(server.connections.size, 2);
  assert.equal(_openClients() - before, 2);
  await b.close();
  assert.equal(_openClients() - before, 1);
});

Deno.test("A factory's managers, made and closed one at a time, share one client until the factory closes", async (t) => {
  await using server = countingServer();
  const before = _openClients();
  const factory = await KvNetworkAccessManagerFactory.open({
    path: ":memory:",
    manager: { caCerts: [certs.caCert] },
  });
  try {
    await t.step("one connection for every manager", async () => {
      for (let i = 0; i < 3; i++) {
        await using manager = factory.create();
        assert.equal(await get(manager, `${server.url}/${i}`), `ok /${i}`);
      }
      assert.equal(server.connections.size, 1);
      assert.equal(_openClients() - before, 1);
    });
    await t.step("clearConnectionCache: a new client, which the next managers share", async () => {
      {
        await using manager = factory.create();
        manager.clearConnectionCache();
        assert.equal(await get(manager, `${server.url}/new`), "ok /new");
      }
      assert.equal(_openClients() - before, 1);
      await using manager = factory.create();
      assert.equal(await get(manager, `${server.url}/again`), "ok /again");
      assert.equal(server.connections.size, 2);
    });
  } finally {
    await factory.close();
  }
  assert.equal(_openClients(), before);
});

Deno.test("https through an http proxy with credentials takes a client of its own, whose relay closes with it", async (t) => {
  await using proxy = startProxyServer({ hosts: { "origin.test": "127.0.0.1" }, auth: proxyAuth });
  await using tlsOrigin = startOrigin({ tls: true });
  const pool = new _ProxyClientPool();
  const before = _openClients();
  try {
    await t.step("a relayed client for https targets only, not for other proxies", () => {
      const withAuth: NetworkProxy = { type: "http", url: proxy.url, ...proxyAuth };
      const plain = pool.get(withAuth);
      assert.equal(pool.get(withAuth, { secureTarget: false }), plain);
      const secure = pool.get(withAuth, { secureTarget: true });
      assert.notEqual(secure, plain);
      assert.equal(pool.get(withAuth, { secureTarget: true }), secure);
      // No credentials, SOCKS5: one client for every target, as before.
      for (
        const other of [
          { type: "http", url: proxy.url },
          { type: "socks5", url: "socks5://127.0.0.1:1080", ...proxyAuth },
        ] satisfies NetworkProxy[]
      ) {
        assert.equal(pool.get(other, { secureTarget: true }), pool.get(other));
      }
      assert.equal(_openClients() - before, 4);
    });
    await t.step("the relay adds the credentials to CONNECT and nothing inside", async () => {
      const client = pool.get(
        { type: "http", url: proxy.url, ...proxyAuth },
        {
          secureTarget: true,
          targetAuthority: new URL(tlsOrigin.url("origin.test", "/")).host,
          caCerts: [TEST_CA_CERT],
        },
      );
      const response = await fetch(tlsOrigin.url("origin.test", "/r"), { client });
      assert.equal(await response.text(), "origin GET /r");
      assertNoProxyCredentials(response.headers.get("x-seen-proxy-authorization"));
      assert.deepEqual(proxy.log.map((r) => [r.kind, r.proxyAuthorization, r.outcome]), [
        ["connect", `Basic ${btoa("alice:s3cret-pw")}`, 200],
      ]);
    });
    // The relay's listener and its open tunnel are closed here, or the sanitizers fail the test.
    await t.step("clear closes the clients and their relays", () => {
      pool.clear();
      assert.equal(_openClients(), before);
    });
  } finally {
    pool.close();
  }
});

Deno.test("without net permission for every port of 127.0.0.1, Deno's client sends the credentials itself", async () => {
  await using proxy = startProxyServer({ hosts: { "origin.test": "127.0.0.1" }, auth: proxyAuth });
  await using tlsOrigin = startOrigin({ tls: true });
  const script = `
    import { NetworkAccessManager } from ${
    JSON.stringify(new URL("../mod.ts", import.meta.url).href)
  };
    await using manager = new NetworkAccessManager({
      proxy: { type: "http", url: ${
    JSON.stringify(proxy.url)
  }, username: "alice", password: "s3cret-pw" },
      caCerts: [${JSON.stringify(TEST_CA_CERT)}],
    });
    const reply = manager.get(${JSON.stringify(tlsOrigin.url("origin.test", "/p"))});
    console.log(await reply.text(), reply.errorString);
  `;
  const { code, stdout, stderr } = await runDeno([
    "eval",
    "--no-config",
    `--allow-net=127.0.0.1:${new URL(proxy.url).port}`,
    "--allow-read",
    "--allow-env",
    script,
  ]);
  assert.equal(code, 0, stderr);
  assert.equal(stdout.trim(), "origin GET /p");
  assert.deepEqual(proxy.log.map((r) => [r.kind, r.outcome]), [["connect", 200]]);
});

Deno.test("the relay of an http proxy with credentials tunnels for its own client alone", async () => {
  await using proxy = startProxyServer({ hosts: { "origin.test": "127.0.0.1" }, auth: proxyAuth });
  const relay = startConnectRelay({ type: "http", url: proxy.url, ...proxyAuth })!;
  try {
    const own = `Proxy-Authorization: Basic ${
      btoa(`${relay.basicAuth.username}:${relay.basicAuth.password}`)
    }\r\n`;
    relay.allow("origin.test:8443");
    // Another process on the machine, without the relay's own credentials, or with them (an
    // origin sees them in its tunnel) to a host the relay's client was not taken for: refused,
    // and the proxy never asked.
    for (
      const [authority, authorization] of [
        ["origin.test:443", ""],
        ["origin.test:443", "Proxy-Authorization: Basic cmVsYXk6d3Jvbmc=\r\n"],
        ["origin.test:443", own],
        ["elsewhere.test:8443", own],
      ]
    ) {
      const conn = await Deno.connect({
        hostname: "127.0.0.1",
        port: Number(new URL(relay.url).port),
      });
      await conn.write(
        new TextEncoder().encode(`CONNECT ${authority} HTTP/1.1\r\n${authorization}\r\n`),
      );
      const answer = new Uint8Array(64);
      const n = await conn.read(answer);
      conn.close();
      assert.match(new TextDecoder().decode(answer.subarray(0, n ?? 0)), /^HTTP\/1\.1 502 /);
    }
    assert.deepEqual(proxy.log, []);
    // A connection that never finishes its request head is closed.
    const silent = await Deno.connect({
      hostname: "127.0.0.1",
      port: Number(new URL(relay.url).port),
    });
    const started = performance.now();
    assert.equal(await silent.read(new Uint8Array(64)).catch(() => null), null);
    silent.close();
    assert.ok(performance.now() - started >= 4_000, "closed after its deadline");
  } finally {
    relay.close();
  }
});
