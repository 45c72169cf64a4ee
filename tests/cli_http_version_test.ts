/**
 * The HTTP version the command line prints (`-v`, `-i`, `-w %{http_version}`) on each route:
 * directly, and through an HTTP proxy's tunnel or a SOCKS5 proxy (the origin's choice, in the
 * manager's handshake, one per origin and route), forwarded by an HTTP proxy (HTTP/1.1), and
 * through the proxies of the environment (never around them).
 */

import assert from "node:assert/strict";
import http2 from "node:http2";
import { type CliOptions, runCli } from "./_helpers/cli.ts";
import { certs } from "./_helpers/h2_servers.ts";
import { startOrigin, startProxyServer, TEST_CA_CERT } from "./_helpers/proxy_server.ts";

/** An HTTP/2 origin on loopback that counts its TLS connections and those that carried a request. */
async function h2Origin(headers: http2.OutgoingHttpHeaders = {}) {
  const server = http2.createSecureServer({ cert: certs.cert, key: certs.key });
  let connections = 0;
  const used = new Set<http2.Http2Session>();
  server.on("secureConnection", () => connections++);
  server.on("stream", (stream) => {
    stream.on("error", () => {});
    used.add(stream.session!);
    stream.respond({ ":status": 200, ...headers });
    stream.end("over h2\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `https://127.0.0.1:${port}/`,
    /** TLS connections accepted so far. */
    get connections() {
      return connections;
    },
    /** TLS connections that carried a request. */
    get carried() {
      return used.size;
    },
    /** TLS connections that carried no request: handshakes that asked for the protocol. */
    get handshakesOnly() {
      return connections - used.size;
    },
    async [Symbol.asyncDispose]() {
      for (const session of used) session.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Runs the command line with `--cacert` trusting the test certificates. */
async function runTrusting(args: string[], options: CliOptions = {}) {
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  try {
    await Deno.writeTextFile(`${dir}/ca.pem`, certs.caCert + TEST_CA_CERT);
    return await runCli(["--cacert", `${dir}/ca.pem`, ...args], options);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("cli: the version of an https origin reached directly comes from the manager's one handshake", async () => {
  await using origin = await h2Origin();
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  try {
    // Three requests at once with one connection per host: two wait, and the manager asks the
    // origin whether it speaks HTTP/2; -v prints the version of each.
    const urls = ["a", "b", "c"].flatMap((
      name,
    ) => ["-o", `${dir}/${name}`, `${origin.url}${name}`]);
    const { code, err } = await runTrusting(["-v", "--parallel", "1", ...urls]);
    assert.equal(code, 0, err);
    assert.equal(err.match(/^< HTTP\/2 200 $/gm)?.length, 3, err);
    assert.equal(origin.handshakesOnly, 1, `one handshake asked the origin (${err})`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: through a proxy, the version is the one spoken on its route", async (t) => {
  await using origin = await h2Origin();
  await using plain = startOrigin();
  await using http = startProxyServer();
  await using socks = startProxyServer({ protocol: "socks5" });
  await using tls = startProxyServer({ tls: true });
  const auth = { username: "u", password: "p w" };
  await using httpAuth = startProxyServer({ auth });
  await using socksAuth = startProxyServer({ protocol: "socks5", auth });
  const withAuth = (url: string) => url.replace("://", "://u:p%20w@");
  for (
    const [name, proxy, proxyUrl] of [
      ["an HTTP proxy's tunnel", http, http.url],
      ["a SOCKS5 proxy", socks, socks.url],
      ["an HTTP proxy's tunnel, with credentials", httpAuth, withAuth(httpAuth.url)],
      ["a SOCKS5 proxy, with credentials", socksAuth, withAuth(socksAuth.url)],
    ] as const
  ) {
    await t.step(
      `https through ${name}: what the origin picks, asked through the proxy`,
      async () => {
        const before = proxy.log.length;
        const { code, out, err } = await runTrusting([
          "-v",
          "-i",
          "-w",
          "%{http_version}",
          "-x",
          proxyUrl,
          origin.url,
        ]);
        assert.equal(code, 0, err);
        assert.match(err, /^> GET \/ HTTP\/2$/m);
        assert.match(err, /^< HTTP\/2 200 $/m);
        assert.match(out, /^HTTP\/2 200 \r\n(.+\r\n)*\r\nover h2\n2$/);
        // The request's connection and the handshake that asked the origin, both through the proxy.
        const records = proxy.log.slice(before);
        assert.equal(records.length, 2);
        assert.ok(
          records.every((record) =>
            record.outcome === (proxy === http || proxy === httpAuth ? 200 : 0)
          ),
        );
      },
    );
  }
  await t.step(
    "https with --cert through an HTTP proxy's tunnel, which the manager asks not: asked by the run",
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
      try {
        await Deno.writeTextFile(`${dir}/me.pem`, certs.cert);
        await Deno.writeTextFile(`${dir}/me.key`, certs.key);
        const before = http.log.length;
        const cert = ["--cert", `${dir}/me.pem`, "--key", `${dir}/me.key`];
        const { code, out, err } = await runTrusting(["-i", ...cert, "-x", http.url, origin.url]);
        assert.equal(code, 0, err);
        assert.match(out, /^HTTP\/2 200 \r\n/);
        // The request's tunnel, and the run's handshake through the proxy.
        assert.equal(http.log.length - before, 2);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
  await t.step("http forwarded by an HTTP proxy: HTTP/1.1, which fetch speaks to it", async () => {
    const { code, err } = await runCli(["-v", "-x", http.url, plain.url("127.0.0.1", "/p")]);
    assert.equal(code, 0, err);
    assert.match(err, /^> GET \/p HTTP\/1\.1$/m);
    assert.match(err, /^< HTTP\/1\.1 200 OK$/m);
    assert.equal(http.log.at(-1)?.kind, "forward");
  });
  await t.step("https through an https proxy: not known, so not said", async () => {
    const { code, out, err } = await runTrusting([
      "-i",
      "-w",
      "%{http_version}",
      "-x",
      tls.url,
      origin.url,
    ]);
    assert.equal(code, 0, err);
    assert.match(out, /^HTTP\/\? 200 OK\r\n(.+\r\n)*\r\nover h2\n0$/);
    assert.deepEqual(tls.log.map((record) => record.kind), ["connect"], "no handshake of its own");
  });
});

Deno.test("cli: through a proxy's tunnel, the version comes from the manager's one handshake", async (t) => {
  await using origin = await h2Origin();
  await using http = startProxyServer();
  await using socks = startProxyServer({ protocol: "socks5" });
  for (const [name, proxy] of [["an HTTP proxy", http], ["a SOCKS5 proxy", socks]] as const) {
    await t.step(name, async () => {
      const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
      try {
        const tunnels = proxy.log.length;
        const connections = origin.connections;
        const carried = origin.carried;
        // Three requests at once with one connection per host: two wait, and the manager asks
        // the origin through the proxy whether it speaks HTTP/2; -i prints the version of each.
        const names = ["a", "b", "c"];
        const urls = names.flatMap((name) => ["-o", `${dir}/${name}`, `${origin.url}${name}`]);
        const { code, err } = await runTrusting([
          "-i",
          "--parallel",
          "1",
          "-x",
          proxy.url,
          ...urls,
        ]);
        assert.equal(code, 0, err);
        for (const name of names) {
          assert.match(await Deno.readTextFile(`${dir}/${name}`), /^HTTP\/2 200 \r\n/);
        }
        // Every connection the origin took came through the proxy: the requests' tunnels, and
        // one more whose handshake asked the origin.
        const opened = proxy.log.length - tunnels;
        assert.equal(opened, origin.connections - connections, "none went around the proxy");
        assert.equal(opened, origin.carried - carried + 1, "the requests' tunnels and one more");
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  }
});

Deno.test("cli: the version of an origin reached through the environment's proxy is asked through it", async (t) => {
  await using origin = await h2Origin();
  await using http = startProxyServer();
  await using socks = startProxyServer({ protocol: "socks5" });
  const cases: [string, Record<string, string>, ProxyServerLike | null][] = [
    ["HTTPS_PROXY", { HTTPS_PROXY: http.url }, http],
    ["ALL_PROXY", { ALL_PROXY: socks.url }, socks],
    ["NO_PROXY, its host direct", { HTTPS_PROXY: http.url, NO_PROXY: "127.0.0.1" }, null],
  ];
  for (const [name, env, proxy] of cases) {
    await t.step(name, async () => {
      const connections = origin.connections;
      const tunnels = proxy?.log.length ?? 0;
      const { code, out, err } = await runTrusting(["-i", origin.url], { env });
      assert.equal(code, 0, err);
      assert.match(out, /^HTTP\/2 200 \r\n/);
      // Every connection the origin took came through the proxy: none went around it.
      const through = proxy === null ? 0 : proxy.log.length - tunnels;
      assert.equal(origin.connections - connections, proxy === null ? 2 : through, out);
      if (proxy !== null) assert.equal(through, 2);
    });
  }
});

Deno.test("cli: --offline does not know the version of an https response from the cache: HTTP/?", async (t) => {
  const cached = { "cache-control": "max-age=600" };
  await using origin = await h2Origin(cached);
  await using plain = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("over http/1.1\n", { headers: cached }),
  );
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  const state = `${dir}/state.sqlite3`;
  const written = ["-i", "-w", "%{http_version}"];
  try {
    await t.step(
      "https: stored with the version the origin spoke, which the cache keeps not",
      async () => {
        const online = await runTrusting([...written, origin.url], { state });
        assert.equal(online.code, 0, online.err);
        assert.match(online.out, /^HTTP\/2 200 \r\n(.+\r\n)*\r\nover h2\n2$/);
        const connections = origin.connections;
        const offline = await runTrusting(["--offline", "-v", ...written, origin.url], { state });
        assert.equal(offline.code, 0, offline.err);
        assert.match(offline.out, /^HTTP\/\? 200 OK\r\n(.+\r\n)*\r\nover h2\n0$/);
        assert.match(offline.err, /\* cache: hit, served from the cache with the network off/);
        assert.equal(origin.connections, connections, "nothing asked");
      },
    );
    await t.step("http: HTTP/1.1, as every http response", async () => {
      const url = `http://127.0.0.1:${plain.addr.port}/`;
      const online = await runCli([...written, url], { state });
      assert.equal(online.code, 0, online.err);
      const offline = await runCli(["--offline", ...written, url], { state });
      assert.equal(offline.code, 0, offline.err);
      for (const { out } of [online, offline]) {
        assert.match(out, /^HTTP\/1\.1 200 OK\r\n(.+\r\n)*\r\nover http\/1\.1\n1\.1$/);
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** What the cases above read of a proxy. */
interface ProxyServerLike {
  readonly log: readonly unknown[];
}
