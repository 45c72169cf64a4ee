/**
 * The command line's TLS failures, as curl's: a server certificate refused for any cause exits
 * 60, a client certificate that cannot be used 58 before any request; a `--cert` file holding
 * the key too; the hints in flags only.
 */
import assert from "node:assert/strict";
import { runCli } from "./_helpers/cli.ts";
import { serve } from "./_helpers/server.ts";
import { makeTestCertificates } from "./_helpers/tls.ts";
import { EXIT_CODES } from "../src/cli.ts";

Deno.test("cli: a server certificate refused by any check exits 60, with the flag's hint only", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  try {
    await t.step("an extended key usage without serverAuth: 60, as curl", async () => {
      const certs = await makeTestCertificates({ clientOnly: true });
      await Deno.writeTextFile(`${dir}/ca.pem`, certs.caCert);
      await using server = serve(() => new Response("ok\n"), certs);
      const { code, err } = await runCli(["--cacert", `${dir}/ca.pem`, server.url]);
      assert.equal(code, EXIT_CODES.peerVerification, err);
      assert.match(err, /invalid peer certificate/);
    });
    await t.step("an unknown issuer: the hint of --cacert, not the library's caCerts", async () => {
      const certs = await makeTestCertificates();
      await using server = serve(() => new Response("ok\n"), certs);
      const { code, err } = await runCli([server.url]);
      assert.equal(code, EXIT_CODES.peerVerification, err);
      assert.match(err, /unknown issuer.*\(trust the server's CA with --cacert FILE\)\n$/);
      assert.doesNotMatch(err, /caCerts/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: a --cert and --key Deno cannot use exit 58 before any request, naming the file", async (t) => {
  const certs = await makeTestCertificates();
  const other = await makeTestCertificates();
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  await Deno.writeTextFile(`${dir}/ca.pem`, certs.caCert);
  await Deno.writeTextFile(`${dir}/me.pem`, certs.cert);
  await Deno.writeTextFile(`${dir}/other.key`, other.key);
  await Deno.writeTextFile(
    `${dir}/bad.pem`,
    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
  );
  await Deno.writeTextFile(`${dir}/me.key`, certs.key);
  let requests = 0;
  await using server = serve(() => {
    requests++;
    return new Response("ok\n");
  }, certs);
  const withPair = (cert: string, key: string) =>
    runCli([
      "--cacert",
      `${dir}/ca.pem`,
      "--cert",
      `${dir}/${cert}`,
      "--key",
      `${dir}/${key}`,
      server.url,
    ]);
  try {
    await t.step("a key that is not the certificate's", async () => {
      const { code, err } = await withPair("me.pem", "other.key");
      assert.equal(code, EXIT_CODES.clientCertificate, err);
      assert.match(
        err,
        /^netaccess: Cannot use the --key file \S+other\.key: its private key is not that of the certificate in the --cert file \S+me\.pem \(.*KeyMismatch\)\n$/,
      );
    });
    await t.step("a certificate that does not decode", async () => {
      const { code, err } = await withPair("bad.pem", "me.key");
      assert.equal(code, EXIT_CODES.clientCertificate, err);
      assert.match(
        err,
        /^netaccess: Cannot use the --cert file \S+bad\.pem: Deno cannot read its certificate/,
      );
    });
    assert.equal(requests, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: a --cert file that holds the key too, as curl takes it", async (t) => {
  const certs = await makeTestCertificates();
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  await Deno.writeTextFile(`${dir}/ca.pem`, certs.caCert);
  await Deno.writeTextFile(`${dir}/both.pem`, certs.cert + certs.key);
  await Deno.writeTextFile(`${dir}/me.pem`, certs.cert);
  await using server = serve(() => new Response("over tls\n"), certs);
  try {
    await t.step("no --key needed", async () => {
      const { code, out, err } = await runCli([
        "--cacert",
        `${dir}/ca.pem`,
        "--cert",
        `${dir}/both.pem`,
        server.url,
      ]);
      assert.equal(code, 0, err);
      assert.equal(out, "over tls\n");
    });
    await t.step("a --cert file without a key and no --key: exit 58, saying so", async () => {
      const { code, err } = await runCli(["--cert", `${dir}/me.pem`, server.url]);
      // As curl's "unable to set private key file": exit 58, no usage line.
      assert.equal(code, EXIT_CODES.clientCertificate, err);
      const lines = err.trimEnd().split("\n");
      assert.equal(lines.length, 1, err);
      assert.match(
        lines[0]!,
        /^netaccess: Cannot use the --cert file \S+me\.pem: it holds no private key; give its key with --key FILE/,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
