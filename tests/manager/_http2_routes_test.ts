/**
 * The per-host queue and HTTP/2 through a proxy: an https origin reached through an HTTP proxy's
 * tunnel (CONNECT) or a SOCKS5 proxy is asked for HTTP/2 through the same proxy, and its
 * concurrent requests share one tunnel as Deno's `fetch` multiplexes them; what an origin said on
 * one route is never read for another.
 */

import assert from "node:assert/strict";
import { NetworkAccessManager, NetworkError } from "../../mod.ts";
import { originHttp2 } from "../../src/manager/_origin_http2.ts";
import { runWithEnv, startProxyServer } from "../_helpers/proxy_server.ts";
import { certs, holdingServer, http1Server } from "../_helpers/h2_servers.ts";

/** Sends `count` GETs to `url` at once and waits for them all, each of which must succeed. */
async function getAll(manager: NetworkAccessManager, url: string, count: number): Promise<void> {
  const replies = Array.from({ length: count }, () => manager.get(url));
  await Promise.all(replies.map((reply) => reply.finished));
  for (const reply of replies) assert.equal(reply.error, NetworkError.NoError, reply.errorString);
}

for (const protocol of ["http", "socks5"] as const) {
  const credentials = { username: "user", password: "secret" };
  Deno.test(
    `NetworkAccessManager lets 30 concurrent requests to an HTTP/2 origin through ${
      protocol === "http" ? "an HTTP proxy's CONNECT tunnel" : "a SOCKS5 proxy"
    } past maxConnectionsPerHost`,
    async () => {
      await using proxy = startProxyServer({ protocol, auth: credentials });
      // Every request held until all thirty are in flight, or a second passed without a new one.
      await using server = holdingServer(30, 1000);
      await using manager = new NetworkAccessManager({
        caCerts: [certs.caCert],
        proxy: { type: protocol, url: proxy.url, ...credentials },
      });
      assert.equal(manager.maxConnectionsPerHost, 6);
      const started = performance.now();
      await getAll(manager, server.url, 30);
      const ms = Math.round(performance.now() - started);
      assert.equal(server.peak, 30, "all thirty were in flight at once");
      const tunnels = proxy.log.length;
      console.log(`  ${protocol}: peak ${server.peak}, ${tunnels} tunnels, ${ms} ms`);
      // The first six, each on a tunnel of its own (Deno's client knows no protocol before its
      // first connection), and the handshake's: the other requests shared them.
      assert.ok(tunnels <= 7, `${tunnels} tunnels`);
      for (const record of proxy.log) {
        assert.equal(record.target, new URL(server.url).host);
        if (protocol === "http") {
          assert.equal(record.proxyAuthorization, `Basic ${btoa("user:secret")}`);
        } else assert.deepEqual(record.socksCredentials, credentials);
      }
    },
  );
}

for (const protocol of ["http", "socks5", "factory"] as const) {
  Deno.test(
    protocol === "factory"
      ? "NetworkAccessManager holds an HTTP/2 origin learned directly to maxConnectionsPerHost once a proxyFactory is set"
      : `NetworkAccessManager asks an HTTP/2 origin learned directly again through ${
        protocol === "http" ? "an HTTP proxy" : "a SOCKS5 proxy"
      } once it is set`,
    async () => {
      await using proxy = startProxyServer({ protocol: protocol === "socks5" ? "socks5" : "http" });
      await using manager = new NetworkAccessManager({
        caCerts: [certs.caCert],
        maxConnectionsPerHost: 2,
      });
      await using server = holdingServer(12, 300);
      await getAll(manager, server.url, 12);
      assert.equal(server.peak, 12, "learned directly");
      server.resetPeak();
      if (protocol === "factory") {
        // A factory that always answers "no proxy": the manager cannot know it beforehand.
        manager.proxyFactory = () => [{ type: "none" }];
        await getAll(manager, server.url, 6);
        assert.equal(server.peak, 2);
        return;
      }
      manager.proxy = { type: protocol, url: proxy.url };
      await getAll(manager, server.url, 12);
      assert.equal(server.peak, 12, "learned through the proxy");
      const tunnels = proxy.log.length;
      assert.ok(tunnels > 0 && tunnels <= 3, `${tunnels} tunnels`);
    },
  );
}

Deno.test("NetworkAccessManager reads no origin's answer given directly for its requests through a proxy", async () => {
  // 127.0.0.1:<port> speaks HTTP/2; the proxy takes the same name to 127.0.0.2:<port>, which
  // speaks HTTP/1.1 only.
  await using h2 = holdingServer(8, 300);
  const { port } = new URL(h2.url);
  await using h1 = http1Server(Number(port), 200, "127.0.0.2");
  await using proxy = startProxyServer({ hosts: { "127.0.0.1": "127.0.0.2" } });
  await using manager = new NetworkAccessManager({
    caCerts: [certs.caCert],
    maxConnectionsPerHost: 2,
    proxy: { type: "http", url: proxy.url },
  });
  // The origin's answer reached directly, as the command line asks it.
  assert.equal(await originHttp2(manager, new URL(h2.url)), true);
  await getAll(manager, h2.url, 8);
  assert.equal(h2.peak, 0, "every request went through the proxy");
  assert.equal(h1.peak, 2, "held to maxConnectionsPerHost on the proxy's route");
});

Deno.test("NetworkAccessManager reads no origin's answer given directly once the environment's proxy takes its requests", async () => {
  // In a process of its own: the proxy variables are process-wide.
  const { code, stdout, stderr } = await runWithEnv(
    new URL("../testdata/proxy/http2_env_route.ts", import.meta.url),
    [],
    { H2_SERVERS_CERTS: JSON.stringify(certs) },
  );
  assert.equal(code, 0, stderr);
  const { direct, proxied } = JSON.parse(stdout);
  assert.deepEqual(direct, { ok: true, h2: 8, h1: 0 }, "learned directly");
  assert.equal(proxied.ok, true);
  assert.equal(proxied.h2, 8, "no request went around the proxy");
  assert.equal(proxied.h1, 2, "held to maxConnectionsPerHost on the proxy's route");
  assert.ok(proxied.tunnels > 0);
});
