import assert from "node:assert/strict";
import https from "node:https";
import { NetworkAccessManager, NetworkError } from "../mod.ts";
import { serve, serveTcp } from "./_helpers/server.ts";
import { hasOpenssl, makeTestCertificates, serveMutualTls } from "./_helpers/tls.ts";

const noOpenssl = !(await hasOpenssl());
if (noOpenssl && Deno.env.get("CI")) {
  throw new Error(
    "openssl is missing: CI must install it (.ci/run does) to test client certificates",
  );
}
if (noOpenssl) console.warn("tls_test: openssl is missing, skipping the client certificate tests");

Deno.test("A TLS failure's reply names the cause", async (t) => {
  const cases = [
    { name: "unknown issuer", options: {}, trust: false, cause: /unknown issuer/ },
    { name: "expired", options: { days: 0 }, trust: true, cause: /certificate expired/ },
    {
      name: "name mismatch",
      options: { names: ["other.test"] },
      trust: true,
      cause: /name mismatch/,
    },
    {
      name: "a self-signed CA certificate as the server's, trusted",
      options: { selfSigned: true },
      trust: true,
      cause: /: CA certificate used as a server certificate: .* CA:TRUE .*CA:FALSE\) \(/,
    },
    {
      name: "a self-signed CA certificate as the server's, not trusted",
      options: { selfSigned: true },
      trust: false,
      cause: /: CA certificate used as a server certificate: /,
    },
  ];
  for (const { name, options, trust, cause } of cases) {
    await t.step(name, async () => {
      const certs = await makeTestCertificates(options);
      await using server = serve(() => new Response("secret"), certs);
      await using manager = new NetworkAccessManager({ caCerts: trust ? [certs.caCert] : [] });
      const reply = manager.get(server.url);
      await reply.finished;
      assert.equal(reply.error, NetworkError.SslHandshakeFailedError);
      assert.match(reply.errorString, cause);
      assert.match(reply.errorString, /^TLS handshake with 127\.0\.0\.1:\d+ failed: /);
    });
  }
});

Deno.test("A handshake with a server that does not speak TLS names the cause", async (t) => {
  await using manager = new NetworkAccessManager();
  const cases = [
    {
      name: "a plain HTTP server",
      server: () => serve(() => new Response("plain")),
      cause: "not TLS: the server answered with something that is not TLS (a plain HTTP " +
        "server? use an http: URL)",
    },
    {
      name: "a server that closes the connection at once",
      server: () => serveTcp((conn) => Promise.resolve(conn.close())),
      cause: "connection closed: the server closed the connection during the handshake",
    },
  ];
  for (const { name, server, cause } of cases) {
    await t.step(name, async () => {
      await using peer = server();
      const reply = manager.get(`https://127.0.0.1:${peer.port}/`);
      await reply.finished;
      assert.equal(reply.error, NetworkError.SslHandshakeFailedError);
      assert.ok(
        reply.errorString.startsWith(
          `TLS handshake with 127.0.0.1:${peer.port} failed: ${cause} (`,
        ),
        reply.errorString,
      );
    });
  }
});

Deno.test("An https server that closes the connection before answering is a closed connection, retried as over http", async (t) => {
  const certs = await makeTestCertificates();
  // Closes the connection of the first request to /flaky after the handshake, without a TLS
  // close_notify (as a server that crashed, or closed a kept-alive connection as the request
  // went out); answers every other request.
  let flaky = 0;
  const server = https.createServer(
    { cert: certs.cert, key: certs.key, ALPNProtocols: ["http/1.1"] },
    (request, response) => {
      if (request.url === "/flaky" && flaky++ === 0) {
        setTimeout(() => request.socket.destroy(), 50);
        return;
      }
      response.end(`ok ${request.url}`);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  try {
    await t.step("without retry the reply says the connection closed", async () => {
      flaky = 0;
      await using manager = new NetworkAccessManager({ caCerts: [certs.caCert] });
      const reply = manager.get(`https://127.0.0.1:${port}/flaky`);
      await reply.finished;
      assert.equal(reply.error, NetworkError.RemoteHostClosedError, reply.errorString);
      assert.ok(
        reply.errorString.startsWith(
          `Connection to 127.0.0.1:${port} closed before the reply was complete (`,
        ),
        reply.errorString,
      );
    });
    await t.step("retry sends it again", async () => {
      flaky = 0;
      await using manager = new NetworkAccessManager({ caCerts: [certs.caCert], retry: true });
      const reply = manager.get(`https://127.0.0.1:${port}/flaky`);
      assert.equal(await reply.text(), "ok /flaky");
      assert.equal(reply.error, NetworkError.NoError);
      assert.equal(reply.retries, 1);
    });
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

Deno.test("caCerts set on a manager is trusted by the requests sent from then on", async () => {
  const certs = await makeTestCertificates();
  await using server = serve(() => new Response("secret"), certs);
  await using manager = new NetworkAccessManager();
  const send = async () => {
    const reply = manager.get(server.url);
    await reply.text().catch(() => {});
    return reply;
  };
  assert.match((await send()).errorString, /unknown issuer/);
  manager.caCerts = [certs.caCert];
  const trusted = await send();
  assert.equal(trusted.error, NetworkError.NoError, trusted.errorString);
  assert.equal(trusted.status, 200);
  assert.ok(Object.isFrozen(manager.caCerts));
  assert.throws(() => (manager.caCerts as string[]).push("x"), TypeError);
  manager.caCerts = [];
  const untrusted = await send();
  assert.equal(untrusted.error, NetworkError.SslHandshakeFailedError);
  assert.match(untrusted.errorString, /unknown issuer/);
});

Deno.test("caCerts that are not PEM certificates Deno can read are refused, naming the entry", async (t) => {
  const certs = await makeTestCertificates();
  const garbled = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  await t.step("a path instead of the file's text, when the manager is made", () => {
    assert.throws(() => new NetworkAccessManager({ caCerts: [certs.caCert, "ca.pem"] }), {
      name: "TypeError",
      message: `Cannot create manager: 'caCerts[1]' must be a PEM certificate ` +
        `("-----BEGIN CERTIFICATE-----..."; the text of a file, not its path), got "ca.pem"`,
    });
  });
  await t.step("PEM that does not decode, when the property is set", async () => {
    await using manager = new NetworkAccessManager({ caCerts: [certs.caCert] });
    assert.throws(() => (manager.caCerts = [garbled]), {
      name: "TypeError",
      message: /^Cannot set manager option: 'caCerts\[0\]' is not a certificate Deno can read \(/,
    });
    assert.deepEqual(manager.caCerts, [certs.caCert]);
  });
  await t.step("PEM whose certificates Deno would skip: indented, after a BOM or text", () => {
    const indented = certs.caCert.replace(/^(?=.)/gm, "  ");
    const cases = [
      [indented, /\(its line 1 is indented: remove the indentation of every line; Deno skips/],
      ["\uFEFF" + certs.caCert, /\(it starts with a byte order mark \(U\+FEFF\): remove it;/],
      [
        `# ca\nca: ${certs.caCert}`,
        /\(its line 2 has text before the "-----BEGIN CERTIFICATE-----"/,
      ],
      [certs.cert + indented, /\(its line \d+ is indented/],
    ] as const;
    for (const [pem, why] of cases) {
      assert.throws(() => new NetworkAccessManager({ caCerts: [certs.caCert, pem] }), {
        name: "TypeError",
        message: new RegExp(
          String.raw`^Cannot create manager: 'caCerts\[1\]' is not a certificate Deno can read ` +
            why.source,
        ),
      });
    }
  });
  await t.step("PEM that Deno reads though it is not as openssl writes it is taken", async () => {
    const server = Deno.serve(
      { port: 0, hostname: "127.0.0.1", cert: certs.cert, key: certs.key, onListen() {} },
      () => new Response("ok"),
    );
    try {
      for (
        const pem of [
          certs.caCert.replaceAll("\n", "\r\n"),
          `subject=CN = test CA\n${certs.caCert.replace(/\n(?=[^-])/g, "\n  ")}`,
        ]
      ) {
        await using manager = new NetworkAccessManager({ caCerts: [pem] });
        const reply = manager.get(`https://127.0.0.1:${server.addr.port}/`);
        assert.equal(await reply.text(), "ok", reply.errorString);
      }
    } finally {
      await server.shutdown();
    }
  });
  await t.step("not an array", () => {
    assert.throws(
      () => new NetworkAccessManager({ caCerts: certs.caCert as unknown as string[] }),
      {
        name: "TypeError",
        message: /'caCerts' must be an array of PEM certificates, got "-----BEGIN/,
      },
    );
  });
});

Deno.test({
  name: "Client certificates: for every request, per origin, and 'certificate required'",
  ignore: noOpenssl,
  async fn(t) {
    const certs = await makeTestCertificates({ method: "openssl" });
    await using server = await serveMutualTls(certs);
    const identity = { cert: certs.cert, key: certs.key };

    await t.step("without one the reply says a certificate is required", async () => {
      await using manager = new NetworkAccessManager({ caCerts: [certs.caCert] });
      const reply = manager.get(server.url);
      await reply.finished;
      assert.equal(reply.error, NetworkError.SslHandshakeFailedError);
      assert.match(reply.errorString, /certificate required/);
    });

    await t.step("clientCertificate is presented to every https server", async () => {
      await using manager = new NetworkAccessManager({
        caCerts: [certs.caCert],
        clientCertificate: identity,
      });
      const reply = manager.get(server.url);
      const text = await reply.text();
      assert.equal(reply.error, NetworkError.NoError, reply.errorString);
      assert.equal(reply.status, 200);
      assert.match(text, /s_server/);
    });

    await t.step("clientCertificates names it per origin, and only there", async () => {
      await using manager = new NetworkAccessManager({
        caCerts: [certs.caCert],
        clientCertificates: { [server.url]: identity },
      });
      const reply = manager.get(`${server.url}/page`);
      await reply.text();
      assert.equal(reply.error, NetworkError.NoError, reply.errorString);
      const other = new URL(server.url);
      other.hostname = "localhost";
      const elsewhere = manager.get(other);
      await elsewhere.finished;
      assert.match(elsewhere.errorString, /certificate required/);
    });

    await t.step("a certificate from another CA is refused by the server", async () => {
      const stranger = await makeTestCertificates({ method: "openssl" });
      await using manager = new NetworkAccessManager({
        caCerts: [certs.caCert],
        clientCertificate: { cert: stranger.cert, key: stranger.key },
      });
      const reply = manager.get(server.url);
      await reply.finished;
      assert.equal(reply.error, NetworkError.SslHandshakeFailedError);
      assert.match(reply.errorString, /client certificate refused/);
    });
  },
});

Deno.test("A client certificate Deno refuses fails its origin's replies with a message naming it", async (t) => {
  const certs = await makeTestCertificates();
  const other = await makeTestCertificates();
  await using server = serve(() => new Response("secret"), certs);
  const garbled = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
  const cases = {
    "a key that does not decode": garbled,
    "a key of another certificate": other.key,
  };
  for (const [name, key] of Object.entries(cases)) {
    await t.step(name, async () => {
      await using manager = new NetworkAccessManager({
        caCerts: [certs.caCert],
        clientCertificates: { [server.url]: { cert: certs.cert, key } },
      });
      const reply = manager.get(`${server.url}/x`);
      await reply.finished;
      assert.equal(reply.error, NetworkError.UnknownNetworkError);
      assert.ok(
        reply.errorString.startsWith(
          `Cannot use the client certificate for ${server.url} (Deno refused it or its key): `,
        ),
        reply.errorString,
      );
      // Another origin does not use it.
      const elsewhere = manager.get(server.url.replace("127.0.0.1", "localhost"));
      assert.equal(await elsewhere.text(), "secret");
    });
  }
});

Deno.test("Client certificate options are checked when the manager is made", async (t) => {
  const pem = (label: string) => `-----BEGIN ${label}-----\nAA==\n-----END ${label}-----\n`;
  const good = { cert: pem("CERTIFICATE"), key: pem("PRIVATE KEY") };
  await t.step("a cert that is not PEM", () => {
    assert.throws(
      () => new NetworkAccessManager({ clientCertificate: { cert: "nope", key: good.key } }),
      { name: "TypeError", message: /'clientCertificate\.cert' must be a PEM certificate/ },
    );
  });
  await t.step("a key that is not a private key", () => {
    assert.throws(
      () => new NetworkAccessManager({ clientCertificate: { cert: good.cert, key: good.cert } }),
      { name: "TypeError", message: /'clientCertificate\.key' must be a PEM private key/ },
    );
  });
  await t.step("an origin that is not https", () => {
    assert.throws(
      () => new NetworkAccessManager({ clientCertificates: { "http://a.test": good } }),
      { name: "TypeError", message: /keys must be https origins, got "http:\/\/a\.test"/ },
    );
    // A long key is cut, as messages show every string; one that does not parse is shown too.
    const long = `http://${"a".repeat(70)}.test`;
    assert.throws(() => new NetworkAccessManager({ clientCertificates: { [long]: good } }), {
      name: "TypeError",
      message: "Cannot create manager: 'clientCertificates' keys must be https origins, got " +
        `"http://${"a".repeat(50)}..."`,
    });
    assert.throws(() => new NetworkAccessManager({ clientCertificates: { [`x${long}`]: good } }), {
      name: "TypeError",
      message: /keys must be https origins, got "xhttp:\/\/a{49}\.\.\."$/,
    });
  });
  await t.step("origins are normalized, and http URLs get none", async () => {
    await using manager = new NetworkAccessManager({
      clientCertificates: { "https://A.test:443": good, "https://b.test:8443/": good },
    });
    assert.deepEqual(manager.clientCertificateFor("https://a.test/x"), good);
    assert.deepEqual(manager.clientCertificateFor("https://b.test:8443/y"), good);
    assert.equal(manager.clientCertificateFor("https://b.test/"), undefined);
    assert.equal(manager.clientCertificateFor("http://a.test/"), undefined);
    assert.deepEqual(Object.keys(manager.clientCertificates), [
      "https://a.test",
      "https://b.test:8443",
    ]);
  });
  await t.step("a key that is more than an origin", () => {
    const cases = {
      "https://a.test/path": 'got "https://a.test/path" with a path',
      "https://a.test/?x=1": 'got "https://a.test/?x=1" with a query',
      "https://a.test?": 'got "https://a.test?" with a query',
      "https://a.test/#top": 'got "https://a.test/#top" with a fragment',
      "https://me:secret@a.test": 'got "https://a.test" with credentials',
    };
    for (const [key, got] of Object.entries(cases)) {
      assert.throws(() => new NetworkAccessManager({ clientCertificates: { [key]: good } }), {
        name: "TypeError",
        message: "Cannot create manager: 'clientCertificates' keys must be bare https origins, " +
          `${got} (a certificate is presented to the whole origin: use "https://a.test")`,
      });
    }
  });
  await t.step("a field a certificate does not have", () => {
    assert.throws(
      () => new NetworkAccessManager({ clientCertificate: { ...good, passphrase: "x" } as never }),
      {
        name: "TypeError",
        message: "Cannot create manager: unknown option 'clientCertificate.passphrase'; the " +
          "options are 'cert', 'key'",
      },
    );
    assert.throws(
      () =>
        new NetworkAccessManager({
          clientCertificates: { "https://a.test": { ...good, kye: "x" } as never },
        }),
      {
        name: "TypeError",
        message:
          /unknown option 'clientCertificates\["https:\/\/a\.test"\]\.kye'; did you mean 'clientCertificates\["https:\/\/a\.test"\]\.key'\?$/,
      },
    );
  });
  await t.step("they are read-only properties: setting one throws", async () => {
    const other = { cert: pem("CERTIFICATE"), key: pem("EC PRIVATE KEY") };
    await using manager = new NetworkAccessManager({
      clientCertificate: good,
      clientCertificates: { "https://a.test": good },
    });
    const writable = manager as unknown as Record<string, unknown>;
    assert.throws(() => (writable.clientCertificate = other), TypeError);
    assert.throws(() => (writable.clientCertificates = { "https://b.test": other }), TypeError);
    assert.deepEqual(manager.clientCertificate, good);
    assert.deepEqual(manager.clientCertificateFor("https://b.test/"), good);
    assert.throws(
      () => ((manager.clientCertificate as { key: string }).key = other.key),
      TypeError,
    );
    assert.throws(() => (writable.clock = 1), TypeError);
  });
});
