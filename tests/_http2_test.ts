import assert from "node:assert/strict";
import { NetworkAccessManager, NetworkError, NetworkRequest } from "../mod.ts";
import { _Http2Origins, _negotiatedProtocol, _RECHECK_MS } from "../src/_http2.ts";
import { runDeno } from "./_helpers/deno_run.ts";
import { closedPort } from "./_helpers/server.ts";
import { startProxyServer } from "./_helpers/proxy_server.ts";
import {
  ALL_IN,
  certs,
  holdingServer,
  http1Server,
  mutedH2Server,
  nodeHttp2Server,
  silentServer,
  unansweredServer,
} from "./_helpers/h2_servers.ts";

/** Sends `count` GETs to `url` at once and waits for them all, each of which must succeed. */
async function getAll(manager: NetworkAccessManager, url: string, count: number): Promise<void> {
  const replies = Array.from({ length: count }, () => manager.get(url));
  await Promise.all(replies.map((reply) => reply.finished));
  for (const reply of replies) assert.equal(reply.error, NetworkError.NoError, reply.errorString);
}

for (const protocol of ["HTTP/2", "HTTP/1.1"] as const) {
  Deno.test(
    protocol === "HTTP/2"
      ? "NetworkAccessManager lets concurrent requests to an HTTP/2 origin share its connection beyond maxConnectionsPerHost"
      : "NetworkAccessManager holds an https origin that speaks HTTP/1.1 only to maxConnectionsPerHost",
    async () => {
      await using server = protocol === "HTTP/2" ? holdingServer(12, ALL_IN) : http1Server(0, 100);
      await using manager = new NetworkAccessManager({
        caCerts: [certs.caCert],
        maxConnectionsPerHost: 2,
      });
      await getAll(manager, server.url, 12);
      assert.equal(server.peak, protocol === "HTTP/2" ? 12 : 2);
    },
  );
}

Deno.test("NetworkAccessManager holds an HTTP/2 origin reached through a proxy to maxConnectionsPerHost", async () => {
  await using server = holdingServer(12, 300);
  await using manager = new NetworkAccessManager({
    caCerts: [certs.caCert],
    maxConnectionsPerHost: 2,
    // A factory that always answers "no proxy": the manager cannot know it beforehand.
    proxyFactory: () => [{ type: "none" }],
  });
  const replies = Array.from({ length: 4 }, () => manager.get(server.url));
  await Promise.all(replies.map((reply) => reply.finished));
  for (const reply of replies) assert.equal(reply.error, NetworkError.NoError, reply.errorString);
  assert.equal(server.peak, 2);
});

Deno.test("NetworkAccessManager.close() settles at once while an origin is asked for HTTP/2", async (t) => {
  const servers = {
    "its TCP connect is never answered": unansweredServer,
    "its TLS handshake hangs": silentServer,
    "it picked h2 and its SETTINGS are awaited": mutedH2Server,
  };
  for (const [name, start] of Object.entries(servers)) {
    await t.step(name, async () => {
      await using server = await start();
      const manager = new NetworkAccessManager({
        caCerts: [certs.caCert],
        maxConnectionsPerHost: 1,
        timeout: 200,
      });
      // The second waits for the first's slot: the manager asks the origin for HTTP/2.
      const replies = [manager.get(server.url), manager.get(server.url)];
      await Promise.all(replies.map((reply) => reply.finished));
      for (const reply of replies) assert.equal(reply.error, NetworkError.TimeoutError);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const outcome = await Promise.race([
        manager.close().then(() => "closed"),
        new Promise((resolve) => timer = setTimeout(() => resolve("still closing"), 2000)),
      ]);
      clearTimeout(timer);
      assert.equal(outcome, "closed", "the question for HTTP/2 was given up");
    });
  }
});

Deno.test("_negotiatedProtocol gives up a handshake the origin never answers when its signal aborts", async () => {
  await using server = silentServer();
  const port = Number(new URL(server.url).port);
  const controller = new AbortController();
  const asking = _negotiatedProtocol("127.0.0.1", port, [certs.caCert], {
    signal: controller.signal,
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const aborting = setTimeout(() => controller.abort(), 50);
  const outcome = await Promise.race([
    asking,
    new Promise((resolve) => timer = setTimeout(() => resolve("still asking"), 2000)),
  ]);
  clearTimeout(timer);
  clearTimeout(aborting);
  assert.equal(outcome, undefined);
});

Deno.test("NetworkAccessManager asks an https origin for HTTP/2 again once it is up, when it was down at first", async () => {
  const reserved = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = reserved.addr.port;
  reserved.close();
  await using manager = new NetworkAccessManager({
    caCerts: [certs.caCert],
    maxConnectionsPerHost: 2,
  });
  const url = `https://127.0.0.1:${port}/`;
  // Refused: the third waits, and the question asked then fails too.
  const refused = Array.from({ length: 3 }, () => manager.get(url));
  await Promise.all(refused.map((reply) => reply.finished));
  for (const reply of refused) assert.equal(reply.error, NetworkError.ConnectionRefusedError);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  await using server = holdingServer(12, ALL_IN, port);
  await getAll(manager, server.url, 12);
  assert.equal(server.peak, 12, "all twelve were in flight at once");
});

/**
 * Has `manager` (held to 2 per host) learn that a loopback origin speaks HTTP/2, with 12 requests
 * in flight at once, then restarts that origin on its port speaking HTTP/1.1 only.
 */
async function learnedThenHttp1(manager: NetworkAccessManager) {
  const h2 = holdingServer(12, ALL_IN);
  const direct = Array.from({ length: 12 }, () => manager.get(h2.url));
  await Promise.all(direct.map((reply) => reply.finished));
  assert.equal(h2.peak, 12, "learned as HTTP/2");
  await h2[Symbol.asyncDispose]();
  return { url: h2.url, http1: http1Server(Number(new URL(h2.url).port)) };
}

Deno.test("NetworkAccessManager asks again after clearConnectionCache() when an HTTP/2 origin comes back speaking HTTP/1.1 only", async () => {
  await using manager = new NetworkAccessManager({
    caCerts: [certs.caCert],
    maxConnectionsPerHost: 2,
  });
  const { url, http1 } = await learnedThenHttp1(manager);
  await using _ = http1;
  manager.clearConnectionCache();
  const replies = Array.from({ length: 6 }, () => manager.get(url));
  await Promise.all(replies.map((reply) => reply.finished));
  for (const reply of replies) assert.equal(reply.error, NetworkError.NoError, reply.errorString);
  assert.equal(http1.peak, 2);
});

Deno.test("_Http2Origins asks an HTTP/2 origin again once its answer is old, keeping it meanwhile", async () => {
  const woken: string[] = [];
  // An answer holds 400 ms here: long enough that a busy machine does not age it between two
  // statements of the test.
  const origins = new _Http2Origins((key) => woken.push(key), 400);
  const h2 = holdingServer(1, 10);
  const url = new URL(h2.url);
  const key = url.origin;
  origins.learn(key, url, [certs.caCert]);
  await origins.settled();
  assert.ok(origins.speaks(key));
  assert.deepEqual(woken, [key]);
  assert.equal(origins.stale(key), false);
  await h2[Symbol.asyncDispose]();
  await using _http1 = http1Server(Number(url.port));
  await new Promise((resolve) => setTimeout(resolve, 410));
  assert.ok(origins.stale(key));
  origins.learn(key, url, [certs.caCert], undefined, true);
  assert.ok(origins.speaks(key), "the old answer holds until the new one");
  assert.equal(origins.stale(key), false, "asked once");
  await origins.settled();
  assert.equal(origins.speaks(key), false);
  assert.equal(origins.stale(key), false);
});

Deno.test("_Http2Origins.answer() gives the answer of the handshake under way once it settles", async () => {
  const origins = new _Http2Origins(() => {});
  await using h2 = holdingServer(1, 10);
  await using http1 = http1Server(0);
  await using muted = mutedH2Server();
  const ask = (url: string) => {
    origins.learn(new URL(url).origin, new URL(url), [certs.caCert]);
    return origins.answer(new URL(url).origin);
  };
  assert.equal(await origins.answer(new URL(h2.url).origin), undefined, "not asked");
  assert.equal(await ask(h2.url), true);
  assert.equal(await ask(http1.url), false);
  assert.equal(await ask(`https://127.0.0.1:${closedPort()}/`), undefined, "refused");
  // Stopped while under way: nothing learnt.
  const stopped = ask(muted.url);
  origins.close();
  assert.equal(await stopped, undefined);
});

/**
 * Runs `body` with a manager held to 2 per host, and a `performance.now` that `age()` moves
 * {@linkcode _RECHECK_MS} ahead, so that what the manager learnt until then is old.
 */
async function withAging(
  body: (manager: NetworkAccessManager, age: () => void) => Promise<void>,
): Promise<void> {
  const now = performance.now;
  let offset = 0;
  performance.now = () => now.call(performance) + offset;
  try {
    await using manager = new NetworkAccessManager({
      caCerts: [certs.caCert],
      maxConnectionsPerHost: 2,
    });
    await body(manager, () => offset = _RECHECK_MS);
  } finally {
    performance.now = now;
  }
}

Deno.test("NetworkAccessManager holds an HTTP/2 origin that came back speaking HTTP/1.1 only to maxConnectionsPerHost once its answer is old", async () => {
  await withAging(async (manager, age) => {
    const { url, http1 } = await learnedThenHttp1(manager);
    await using _ = http1;
    age();
    // Over the limit, the old answer is asked again; these still go at once.
    const first = Array.from({ length: 6 }, () => manager.get(url));
    await Promise.all(first.map((reply) => reply.finished));
    http1.resetPeak();
    const replies = Array.from({ length: 6 }, () => manager.get(url));
    await Promise.all(replies.map((reply) => reply.finished));
    for (const reply of replies) assert.equal(reply.error, NetworkError.NoError, reply.errorString);
    assert.equal(http1.peak, 2);
  });
});

Deno.test("NetworkAccessManager lets an HTTP/1.1 origin that moved to HTTP/2 share its connection once its answer is old", async () => {
  await withAging(async (manager, age) => {
    const http1 = http1Server(0);
    const url = http1.url;
    const learned = Array.from({ length: 6 }, () => manager.get(url));
    await Promise.all(learned.map((reply) => reply.finished));
    assert.equal(http1.peak, 2, "learned as HTTP/1.1");
    await http1[Symbol.asyncDispose]();
    await using h2 = holdingServer(12, ALL_IN, Number(new URL(url).port));
    // Within a minute the answer stands: the origin is not asked again.
    h2.holdMs = 100;
    await getAll(manager, url, 3);
    assert.equal(h2.peak, 2);
    h2.resetPeak();
    h2.holdMs = ALL_IN;
    age();
    // Asked again beside the requests waiting, which go once it answers HTTP/2.
    await getAll(manager, url, 12);
    assert.equal(h2.peak, 12, "all twelve were in flight at once");
  });
});

Deno.test("NetworkAccessManager holds an HTTP/2 origin that refused connections and came back speaking HTTP/1.1 only to maxConnectionsPerHost", async () => {
  await using manager = new NetworkAccessManager({
    caCerts: [certs.caCert],
    maxConnectionsPerHost: 2,
  });
  const h2 = holdingServer(12, ALL_IN);
  const direct = Array.from({ length: 12 }, () => manager.get(h2.url));
  await Promise.all(direct.map((reply) => reply.finished));
  assert.equal(h2.peak, 12, "learned as HTTP/2");
  await h2[Symbol.asyncDispose]();
  // Down: refused at once, not held.
  const refused = Array.from({ length: 6 }, () => manager.get(h2.url));
  await Promise.all(refused.map((reply) => reply.finished));
  for (const reply of refused) assert.equal(reply.error, NetworkError.ConnectionRefusedError);
  await using http1 = http1Server(Number(new URL(h2.url).port));
  const replies = Array.from({ length: 6 }, () => manager.get(h2.url));
  await Promise.all(replies.map((reply) => reply.finished));
  for (const reply of replies) assert.equal(reply.error, NetworkError.NoError, reply.errorString);
  assert.equal(http1.peak, 2);
});

Deno.test("NetworkAccessManager holds an HTTP/2 origin that refused connections and came back speaking HTTP/1.1 only to maxConnectionsPerHost on the direct lane", async () => {
  // No caCerts of the manager's own (Deno trusts the test CA through DENO_CERT), so that its
  // plain requests take the direct lane: in a process of its own.
  const ca = await Deno.makeTempFile({ suffix: ".pem" });
  try {
    await Deno.writeTextFile(ca, certs.caCert);
    const module = (path: string) => JSON.stringify(new URL(path, import.meta.url).href);
    const code = `
      const { NetworkAccessManager } = await import(${module("../mod.ts")});
      const { holdingServer, http1Server } = await import(${module("./_helpers/h2_servers.ts")});
      await using manager = new NetworkAccessManager({ maxConnectionsPerHost: 2 });
      const h2 = holdingServer(12, ${ALL_IN});
      const direct = Array.from({ length: 12 }, () => manager.get(h2.url));
      await Promise.all(direct.map((reply) => reply.finished));
      const learned = h2.peak;
      await h2[Symbol.asyncDispose]();
      const refused = Array.from({ length: 6 }, () => manager.get(h2.url));
      await Promise.all(refused.map((reply) => reply.finished));
      await using http1 = http1Server(Number(new URL(h2.url).port));
      const replies = Array.from({ length: 6 }, () => manager.get(h2.url));
      await Promise.all(replies.map((reply) => reply.finished));
      console.log(JSON.stringify({
        learned,
        errors: [...direct, ...refused, ...replies].map((reply) => reply.error),
        peak: http1.peak,
      }));
    `;
    const output = await runDeno(["eval", "--quiet", code], {
      env: { DENO_CERT: ca, H2_SERVERS_CERTS: JSON.stringify(certs) },
    });
    assert.equal(output.code, 0, output.stderr);
    const { learned, errors, peak } = JSON.parse(output.stdout);
    assert.equal(learned, 12, "learned as HTTP/2");
    assert.deepEqual(errors, [
      ...Array(12).fill(NetworkError.NoError),
      ...Array(6).fill(NetworkError.ConnectionRefusedError),
      ...Array(6).fill(NetworkError.NoError),
    ]);
    assert.equal(peak, 2);
  } finally {
    await Deno.remove(ca);
  }
});

Deno.test("NetworkAccessManager holds requests to an HTTP/2 origin to the streams it allows, so that none times out waiting for a stream", async () => {
  await using server = await nodeHttp2Server(50, { settings: { maxConcurrentStreams: 1 } });
  await using manager = new NetworkAccessManager({
    caCerts: [certs.caCert],
    maxConnectionsPerHost: 1,
  });
  // Learned first: the second waits, and the origin is asked.
  await getAll(manager, server.url, 2);
  // Twenty at 50 ms each, one at a time: sent all at once, the last would wait a second.
  const request = new NetworkRequest(server.url, { transferTimeout: 500 });
  const replies = Array.from({ length: 20 }, () => manager.get(request));
  await Promise.all(replies.map((reply) => reply.finished));
  assert.deepEqual(
    replies.map((reply) => reply.error),
    Array(20).fill(NetworkError.NoError),
    replies.find((reply) => reply.error !== NetworkError.NoError)?.errorString,
  );
  assert.equal(server.peak, 1);
});

Deno.test("NetworkAccessManager sends requests to an HTTP/2 origin that allows few streams in priority order", async () => {
  await using server = await nodeHttp2Server(30, { settings: { maxConcurrentStreams: 1 } });
  await using manager = new NetworkAccessManager({
    caCerts: [certs.caCert],
    maxConnectionsPerHost: 1,
  });
  // Learned first: the origin speaks HTTP/2 and allows one stream.
  const first = Array.from({ length: 3 }, () => manager.get(server.url));
  await Promise.all(first.map((reply) => reply.finished));
  const sent = server.paths.length;
  const get = (path: string, priority: "high" | "normal" | "low") =>
    manager.get(new NetworkRequest(new URL(path, server.url), { priority }));
  const replies = [
    get("/n1", "normal"),
    get("/l1", "low"),
    get("/n2", "normal"),
    get("/h1", "high"),
  ];
  await Promise.all(replies.map((reply) => reply.finished));
  for (const reply of replies) assert.equal(reply.error, NetworkError.NoError, reply.errorString);
  assert.deepEqual(server.paths.slice(sent), ["/n1", "/h1", "/n2", "/l1"]);
});

Deno.test("NetworkAccessManager learns that an origin asking for a client certificate speaks HTTP/2, presenting the manager's certificate", async () => {
  await using server = await nodeHttp2Server(300, {
    ca: certs.caCert,
    requestCert: true,
    rejectUnauthorized: true,
  });
  await using manager = new NetworkAccessManager({
    caCerts: [certs.caCert],
    maxConnectionsPerHost: 2,
    clientCertificate: { cert: certs.cert, key: certs.key },
  });
  await getAll(manager, server.url, 12);
  assert.ok(server.peak > 2, `beyond the limit once learned: ${server.peak} at once`);
});

Deno.test("NetworkAccessManager made and closed per request leaves no connection or timer of its HTTP/2 question behind", async () => {
  await using server = holdingServer(3, 20);
  for (let i = 0; i < 8; i++) {
    await using manager = new NetworkAccessManager({
      caCerts: [certs.caCert],
      maxConnectionsPerHost: 1,
    });
    // The second and third wait: the origin is asked for HTTP/2 (some of the managers close
    // before the answer comes).
    const replies = Array.from({ length: 3 }, () => manager.get(server.url));
    if (i % 2 === 0) await Promise.all(replies.map((reply) => reply.finished));
    else await replies[0]!.finished;
    assert.equal(replies[0]!.error, NetworkError.NoError, replies[0]!.errorString);
  }
});

Deno.test("NetworkAccessManager keeps priorities, and lets an aborted request leave the queue, while an origin is asked for HTTP/2", async (t) => {
  for (const protocol of ["HTTP/1.1", "HTTP/2"] as const) {
    await t.step(protocol, async () => {
      await using server = protocol === "HTTP/2" ? await nodeHttp2Server(100) : http1Server(0, 100);
      await using manager = new NetworkAccessManager({
        caCerts: [certs.caCert],
        maxConnectionsPerHost: 1,
      });
      const started: string[] = [];
      const get = (path: string, priority: "high" | "normal" | "low") => {
        const reply = manager.get(new NetworkRequest(new URL(path, server.url), { priority }));
        reply.addEventListener("metadatachanged", () => started.push(path));
        return reply;
      };
      // The first takes the slot; the others wait while the origin is asked.
      const replies = [
        get("/a", "normal"),
        get("/b", "low"),
        get("/c", "normal"),
        get("/d", "high"),
      ];
      replies[2]!.abort();
      await Promise.all(replies.map((reply) => reply.finished));
      assert.deepEqual(replies.map((reply) => reply.error), [
        NetworkError.NoError,
        NetworkError.NoError,
        NetworkError.OperationCanceledError,
        NetworkError.NoError,
      ]);
      if (protocol === "HTTP/1.1") assert.deepEqual(started, ["/a", "/d", "/b"]);
      else assert.deepEqual(started.toSorted(), ["/a", "/b", "/d"]);
    });
  }
});

Deno.test("NetworkAccessManager with a proxy asks no origin for HTTP/2 around it", async () => {
  await using proxy = startProxyServer({ protocol: "http" });
  await using server = http1Server(0, 100);
  await using manager = new NetworkAccessManager({
    caCerts: [certs.caCert],
    maxConnectionsPerHost: 2,
    proxy: { type: "http", url: proxy.url },
  });
  await getAll(manager, server.url, 8);
  assert.equal(server.peak, 2);
  const tunnels = proxy.log.filter((record) => record.kind === "connect").length;
  assert.ok(tunnels > 0, "sent through the proxy");
  assert.equal(
    server.connections,
    tunnels,
    "every connection the origin saw came through the proxy",
  );
});
