import assert from "node:assert/strict";
import { NetworkAccessManager, NetworkError } from "../mod.ts";
import { _IDLE_MS } from "../src/_http2.ts";
import { certs, http1Server, nodeHttp2Server } from "./_helpers/h2_servers.ts";

/** Sends `count` GETs to `url` at once and waits for them all, each of which must succeed. */
async function getAll(manager: NetworkAccessManager, url: string, count: number): Promise<void> {
  const replies = Array.from({ length: count }, () => manager.get(url));
  await Promise.all(replies.map((reply) => reply.finished));
  for (const reply of replies) assert.equal(reply.error, NetworkError.NoError, reply.errorString);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("NetworkAccessManager holds a burst to an HTTP/2 origin that closed its idle connection to maxConnectionsPerHost until its connection is up", async () => {
  await using server = await nodeHttp2Server(50, {}, { idleMs: 300 });
  await using manager = new NetworkAccessManager({ caCerts: [certs.caCert] });
  // Learned as HTTP/2, then its connection closed for want of requests.
  await getAll(manager, server.url, 12);
  await sleep(_IDLE_MS + 500);
  const before = server.connections;
  await getAll(manager, server.url, 30);
  // Six as over HTTP/1.1, one to ask the origin again, and the rest share one of them.
  assert.ok(server.connections - before <= 7, `${server.connections - before} connections`);
});

Deno.test("NetworkAccessManager holds an HTTP/2 origin that came back idle speaking HTTP/1.1 only to maxConnectionsPerHost", async () => {
  const h2 = await nodeHttp2Server(50, {}, { idleMs: 300 });
  await using manager = new NetworkAccessManager({ caCerts: [certs.caCert] });
  await getAll(manager, h2.url, 12);
  assert.ok(h2.peak > 6, "learned as HTTP/2");
  await h2[Symbol.asyncDispose]();
  await using http1 = http1Server(Number(new URL(h2.url).port), 100);
  await sleep(_IDLE_MS + 500);
  await getAll(manager, h2.url, 20);
  assert.ok(http1.peak <= 6, `${http1.peak} in flight at once`);
});

Deno.test("NetworkAccessManager does not hold a burst to an HTTP/2 origin whose connection answered within the idle time", async () => {
  await using server = await nodeHttp2Server(50);
  await using manager = new NetworkAccessManager({ caCerts: [certs.caCert] });
  await getAll(manager, server.url, 12);
  // Three at a time, never more than the limit, for longer than the idle time: the connection is
  // in use all along, so the burst after it goes at once, with no handshake to ask again.
  const until = performance.now() + _IDLE_MS + 500;
  while (performance.now() < until) await getAll(manager, server.url, 3);
  const before = server.connections;
  server.resetPeak();
  await getAll(manager, server.url, 30);
  assert.equal(server.connections - before, 0, "no new connection");
  assert.ok(server.peak > 6, `${server.peak} in flight at once`);
});
