import assert from "node:assert/strict";
import { KvNetworkAccessManagerFactory, NetworkAccessManager } from "../mod.ts";
import { _openClients } from "../src/_proxy_client.ts";
import { serve, type TestServer } from "./_helpers/server.ts";
import { makeTestCertificates } from "./_helpers/tls.ts";

const certs = await makeTestCertificates();
const other = await makeTestCertificates();

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
