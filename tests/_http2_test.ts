import assert from "node:assert/strict";
import { NetworkAccessManager, NetworkError } from "../mod.ts";
import { _negotiatedProtocol } from "../src/_http2.ts";
import { startProxyServer } from "./_helpers/proxy_server.ts";
import { makeTestCertificates } from "./_helpers/tls.ts";

const certs = await makeTestCertificates({ method: "webcrypto" });

/**
 * An https server (HTTP/2 by ALPN, as `Deno.serve` offers with TLS) that holds every request
 * until `expected` are in flight at once (or `holdMs` passed without a new one), and reports the peak.
 */
function holdingServer(expected: number, holdMs = 1000, port = 0) {
  let inFlight = 0;
  let peak = 0;
  const waiting: (() => void)[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const releaseAll = () => {
    clearTimeout(timer);
    for (const resolve of waiting.splice(0)) resolve();
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port, cert: certs.cert, key: certs.key, onListen() {} },
    async () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      const held = new Promise<void>((resolve) => waiting.push(resolve));
      if (inFlight >= expected) releaseAll();
      else {
        clearTimeout(timer);
        timer = setTimeout(releaseAll, holdMs);
      }
      await held;
      inFlight--;
      return new Response("stream");
    },
  );
  return {
    url: `https://127.0.0.1:${server.addr.port}/`,
    get peak() {
      return peak;
    },
    /** Forgets the peak so far. */
    resetPeak() {
      peak = 0;
    },
    async [Symbol.asyncDispose]() {
      releaseAll();
      await server.shutdown();
    },
  };
}

Deno.test("NetworkAccessManager lets concurrent requests to an HTTP/2 origin share its connection beyond maxConnectionsPerHost", async () => {
  await using server = holdingServer(12, 300);
  await using manager = new NetworkAccessManager({
    caCerts: [certs.caCert],
    maxConnectionsPerHost: 2,
  });
  const replies = Array.from({ length: 12 }, () => manager.get(server.url));
  await Promise.all(replies.map((reply) => reply.finished));
  for (const reply of replies) assert.equal(reply.error, NetworkError.NoError, reply.errorString);
  assert.equal(server.peak, 12, "all twelve were in flight at once");
});

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

/** A TCP server on loopback that accepts connections and never says a word (no TLS handshake). */
function silentServer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) conns.push(conn);
    } catch {
      // Closed.
    }
  })();
  return {
    url: `https://127.0.0.1:${listener.addr.port}/`,
    async [Symbol.asyncDispose]() {
      for (const conn of conns) conn.close();
      listener.close();
      await accepting;
    },
  };
}

Deno.test("NetworkAccessManager.close() settles at once while an origin's TLS handshake hangs", async () => {
  await using server = silentServer();
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
  const closing = manager.close();
  const outcome = await Promise.race([
    closing.then(() => "closed"),
    new Promise((resolve) => timer = setTimeout(() => resolve("still closing"), 2000)),
  ]);
  clearTimeout(timer);
  assert.equal(outcome, "closed", "the handshake of the HTTP/2 question was given up");
});

Deno.test("_negotiatedProtocol gives up a handshake the origin never answers when its signal aborts", async () => {
  await using server = silentServer();
  const port = Number(new URL(server.url).port);
  const controller = new AbortController();
  const asking = _negotiatedProtocol(
    "127.0.0.1",
    port,
    [certs.caCert],
    undefined,
    controller.signal,
  );
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
  await using server = holdingServer(12, 300, port);
  const replies = Array.from({ length: 12 }, () => manager.get(server.url));
  await Promise.all(replies.map((reply) => reply.finished));
  for (const reply of replies) assert.equal(reply.error, NetworkError.NoError, reply.errorString);
  assert.equal(server.peak, 12, "all twelve were in flight at once");
});

for (const protocol of ["http", "socks5", "factory"] as const) {
  Deno.test(
    `NetworkAccessManager holds an HTTP/2 origin learned directly to maxConnectionsPerHost once ${
      { http: "an HTTP proxy", socks5: "a SOCKS5 proxy", factory: "a proxyFactory" }[protocol]
    } is set`,
    async () => {
      await using proxy = startProxyServer({ protocol: protocol === "socks5" ? "socks5" : "http" });
      await using manager = new NetworkAccessManager({
        caCerts: [certs.caCert],
        maxConnectionsPerHost: 2,
      });
      await using server = holdingServer(12, 300);
      const direct = Array.from({ length: 12 }, () => manager.get(server.url));
      await Promise.all(direct.map((reply) => reply.finished));
      assert.equal(server.peak, 12, "learned directly");
      server.resetPeak();
      if (protocol === "factory") manager.proxyFactory = () => [{ type: "none" }];
      else manager.proxy = { type: protocol, url: proxy.url };
      const replies = Array.from({ length: 6 }, () => manager.get(server.url));
      await Promise.all(replies.map((reply) => reply.finished));
      for (const reply of replies) {
        assert.equal(reply.error, NetworkError.NoError, reply.errorString);
      }
      assert.equal(server.peak, 2);
      if (protocol !== "factory") assert.ok(proxy.log.length > 0, "sent through the proxy");
    },
  );
}
