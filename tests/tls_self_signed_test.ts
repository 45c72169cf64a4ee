import assert from "node:assert/strict";
import { hasOpenssl, makeTestCertificates, type TestCertificates } from "./_helpers/tls.ts";

function serveHttps(certs: TestCertificates) {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: certs.cert, key: certs.key, onListen() {} },
    (request) => new Response(`secure ${new URL(request.url).pathname}`),
  );
  return { server, url: `https://127.0.0.1:${server.addr.port}/hello` };
}

for (const method of ["openssl", "webcrypto"] as const) {
  Deno.test({
    name: `A self-signed CA made with ${method} lets fetch reach a loopback https server`,
    ignore: method === "openssl" && !(await hasOpenssl()),
    async fn() {
      const certs = await makeTestCertificates({ method });
      const { server, url } = serveHttps(certs);
      try {
        using client = Deno.createHttpClient({ caCerts: [certs.caCert] });
        const response = await fetch(url, { client });
        assert.equal(response.status, 200);
        assert.equal(await response.text(), "secure /hello");
        // Without the CA the certificate is not trusted.
        await assert.rejects(fetch(url), (error: unknown) => {
          assert.ok(error instanceof TypeError);
          assert.match(
            String(error.cause ?? error.message),
            /invalid peer certificate: UnknownIssuer/,
          );
          return true;
        });
        // Nor with another CA.
        const other = await makeTestCertificates({ method: "webcrypto" });
        using stranger = Deno.createHttpClient({ caCerts: [other.caCert] });
        await assert.rejects(fetch(url, { client: stranger }), TypeError);
      } finally {
        await server.shutdown();
      }
    },
  });
}

Deno.test({
  name: "A WebCrypto-made leaf certificate verifies against its CA with openssl",
  ignore: !(await hasOpenssl()),
  async fn() {
    const certs = await makeTestCertificates({ method: "webcrypto" });
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/ca.pem`, certs.caCert);
      await Deno.writeTextFile(`${dir}/leaf.pem`, certs.cert);
      const verify = await new Deno.Command("openssl", {
        args: ["verify", "-CAfile", "ca.pem", "-purpose", "sslserver", "leaf.pem"],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const out = new TextDecoder().decode(verify.stdout) + new TextDecoder().decode(verify.stderr);
      assert.equal(verify.success, true, out);
      const text = await new Deno.Command("openssl", {
        args: ["x509", "-in", "leaf.pem", "-noout", "-ext", "subjectAltName"],
        cwd: dir,
        stdout: "piped",
      }).output();
      assert.match(
        new TextDecoder().decode(text.stdout),
        /IP Address:127\.0\.0\.1.*DNS:localhost/s,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
