/**
 * The command line's exit codes where a run goes wrong after its arguments are read: stdin
 * that a challenge would need again, output that cannot be written, time limits past the
 * longest timer, certificate files that hold no PEM, a compressed body cut short.
 */

import assert from "node:assert/strict";
import { deflateSync, gzipSync } from "node:zlib";
import { cliCommand, runCli } from "./_helpers/cli.ts";
import { serve } from "./_helpers/server.ts";
import { makeTestCertificates } from "./_helpers/tls.ts";
import { EXIT_CODES } from "../src/cli.ts";
import { KvHstsStore } from "../mod.ts";

/** A server that answers 401 with a body to any request without `user:pass` (Basic). */
function basicServer() {
  return serve(async (request) => {
    await request.body?.cancel();
    if (request.headers.get("authorization") === `Basic ${btoa("user:pass")}`) {
      return new Response("authed\n");
    }
    return new Response("need auth\n", {
      status: 401,
      headers: { "www-authenticate": 'Basic realm="x"' },
    });
  });
}

Deno.test("cli: -T - answered by a 401 exits 26 and says why, as it cannot send stdin again", async (t) => {
  await using server = basicServer();
  const format = "code=%{http_code} exit=%{exitcode}\n";
  await t.step("Basic, wrong credentials", async () => {
    const { code, out, err } = await runCli(
      ["-T", "-", "-u", "user:bad", "-w", format, `${server.url}/up`],
      { stdin: "abc" },
    );
    assert.equal(code, EXIT_CODES.content, err);
    assert.equal(out, "code=401 exit=26\n");
    assert.match(
      err,
      /^netaccess: PUT \S+\/up returned HTTP 401 Unauthorized, its body not kept: .*one-shot stream that was already sent \(-T - or a pipe is sent as it is read, once: save it to a file and give -T FILE\)\n$/,
    );
    assert.doesNotMatch(err, /pass a string, bytes/, "the library's advice is left out");
  });
  await t.step("with -f: 26 as well, not 22", async () => {
    const { code, err } = await runCli(["-f", "-T", "-", "-u", "user:bad", `${server.url}/up`], {
      stdin: "abc",
    });
    assert.equal(code, EXIT_CODES.content, err);
  });
  await t.step("Digest, which only a second send could answer", async () => {
    await using digest = serve(async (request) => {
      await request.body?.cancel();
      return new Response("need digest\n", {
        status: 401,
        headers: { "www-authenticate": 'Digest realm="t", qop="auth", nonce="n1", algorithm=MD5' },
      });
    });
    const { code, err } = await runCli(["-T", "-", "-u", "user:pass", `${digest.url}/d`], {
      stdin: "abc",
    });
    assert.equal(code, EXIT_CODES.content, err);
    assert.match(err, /returned HTTP 401 Unauthorized, its body not kept: .*-T FILE\)\n$/);
  });
  await t.step("-T FILE: the 401 and its body, exit 0 as curl", async () => {
    const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
    try {
      await Deno.writeTextFile(`${dir}/data.txt`, "abc");
      const { code, out, err } = await runCli(
        ["-T", `${dir}/data.txt`, "-u", "user:bad", "-w", format, `${server.url}/up`],
      );
      assert.equal(code, 0, err);
      assert.equal(out, "need auth\ncode=401 exit=0\n");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("cli: time limits past the longest timer are refused naming the flag; 0 is no limit", async (t) => {
  await using server = serve(() => new Response("ok\n"));
  const refused: [string[], RegExp][] = [
    [
      ["--connect-timeout", "2147484"],
      /^netaccess: --connect-timeout takes at most 2147483 seconds \(about 24\.8 days, the longest timer\), got "2147484"; give 0 for no limit\n/,
    ],
    [["-m", "3000000"], /^netaccess: -m takes at most 2147483 seconds .*; give 0 for no limit\n/],
    [["--max-time", "3000000"], /^netaccess: --max-time takes at most 2147483 seconds/],
    [["-m", "abc"], /^netaccess: -m takes a number of seconds \(0: no limit\), got "abc"\n/],
    [["-m", "-1"], /^netaccess: -m takes a number of seconds \(0: no limit\), got "-1"\n/],
    [
      ["--transfer-timeout", "3000000"],
      /^netaccess: --transfer-timeout takes at most 2147483 seconds .*; give 0 for no limit\n/,
    ],
    [
      ["--retry", "1", "--retry-delay", "3000000"],
      /^netaccess: --retry-delay takes at most 2147483 seconds .*; give 0 for the backoff\n/,
    ],
    [
      ["--max-redirs", "99999999999999999999"],
      /^netaccess: --max-redirs takes a whole number of at most 9007199254740991, got "99999999999999999999"\n/,
    ],
  ];
  for (const [args, message] of refused) {
    await t.step(args.join(" "), async () => {
      const { code, err } = await runCli(["-s", "-o", "/dev/null", ...args, server.url]);
      assert.equal(code, EXIT_CODES.usage, err);
      assert.match(err, message);
      assert.doesNotMatch(err, /Cannot create manager|'[a-zA-Z.]+'/);
    });
  }
  for (
    const args of [
      ["--connect-timeout", "2147483"],
      ["--connect-timeout", "0"],
      ["-m", "0"],
      ["--transfer-timeout", "0"],
    ]
  ) {
    await t.step(`${args.join(" ")} is taken`, async () => {
      const { code, out, err } = await runCli([...args, server.url]);
      assert.equal(code, 0, err);
      assert.equal(out, "ok\n");
      assert.equal(err, "");
    });
  }
});

Deno.test("cli: a --cacert, --cert or --key file without PEM exits 77 or 58, naming it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  try {
    const text = `${dir}/data.txt`;
    const cert = `${dir}/cert.pem`;
    await Deno.writeTextFile(text, "line1\nline2\n");
    await Deno.writeTextFile(
      cert,
      "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
    );
    const ca = await runCli(["--cacert", text, "http://x.test/"]);
    assert.equal(ca.code, EXIT_CODES.caCertificates, ca.err);
    assert.equal(
      ca.err,
      `netaccess: Cannot use the --cacert file ${text}: it holds no PEM certificate ` +
        `("-----BEGIN CERTIFICATE-----")\n`,
    );
    const client = await runCli(["--cert", text, "--key", text, "http://x.test/"]);
    assert.equal(client.code, EXIT_CODES.clientCertificate, client.err);
    assert.match(
      client.err,
      /^netaccess: Cannot use the --cert file \S+data\.txt: it holds no PEM/,
    );
    const key = await runCli(["--cert", cert, "--key", text, "http://x.test/"]);
    assert.equal(key.code, EXIT_CODES.clientCertificate, key.err);
    assert.match(key.err, /^netaccess: Cannot use the --key file \S+data\.txt: it holds no PEM/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: a --cacert file whose certificates Deno would skip (indented, a BOM) exits 77", async () => {
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  try {
    const { caCert } = await makeTestCertificates();
    const cases = [
      ["indented.pem", caCert.replace(/^(?=.)/gm, "  "), "its line 1 is indented"],
      ["bom.pem", "\uFEFF" + caCert, "it starts with a byte order mark (U+FEFF)"],
    ] as const;
    for (const [name, text, why] of cases) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
      const { code, err } = await runCli(["--cacert", `${dir}/${name}`, "http://x.test/"]);
      assert.equal(code, EXIT_CODES.caCertificates, err);
      assert.ok(
        err.startsWith(
          `netaccess: Cannot use the --cacert file ${dir}/${name}: Deno cannot read its ` +
            `certificates (${why}`,
        ),
        err,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Runs the command line with its stdout on /dev/full (a disk with no space left). */
async function toFullDisk(args: string[]): Promise<{ code: number; err: string }> {
  const { code, stderr } = await new Deno.Command("sh", {
    args: ["-c", 'exec "$0" "$@" > /dev/full', Deno.execPath(), ...cliCommand(args)],
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code, err: new TextDecoder().decode(stderr) };
}

/** Runs the command line with its stdout a pipe that its reader closed. */
async function toClosedPipe(args: string[]): Promise<{ code: number; err: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: cliCommand(args),
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await child.stdout.cancel();
  const [status, stderr] = await Promise.all([
    child.status,
    new Response(child.stderr).text(),
  ]);
  return { code: status.code, err: stderr };
}

const hasFullDisk = await Deno.stat("/dev/full").then(() => true, () => false);

Deno.test({
  name: "cli: -w, -i, --help and --version that cannot be written exit 23, naming stdout",
  ignore: !hasFullDisk,
  async fn(t) {
    await using server = serve((request) =>
      new URL(request.url).pathname === "/empty"
        ? new Response(null, { status: 204 })
        : new Response("ok\n")
    );
    const full = /^netaccess: cannot write stdout: No space left on device.*\n$/;
    for (
      const args of [
        ["-sS", "-o", "/dev/null", "-w", "%{http_code}\n", server.url],
        ["-sS", "-i", `${server.url}/empty`],
        ["--help"],
        ["--version"],
      ]
    ) {
      await t.step(args.join(" "), async () => {
        const { code, err } = await toFullDisk(args);
        assert.equal(code, EXIT_CODES.output, err);
        assert.match(err, full);
      });
    }
  },
});

Deno.test("cli: -w, --help and --version into a closed pipe exit 23 without a word, as curl", async (t) => {
  await using server = serve(() => new Response("ok\n"));
  for (
    const args of [
      ["-o", "/dev/null", "-w", "%{http_code}\n", server.url],
      ["--help"],
      ["--version"],
    ]
  ) {
    await t.step(args.join(" "), async () => {
      const { code, err } = await toClosedPipe(args);
      assert.equal(code, EXIT_CODES.output, err);
      assert.equal(err, "");
    });
  }
});

Deno.test("cli: -T FILE that gets shorter while it is sent exits 26, with its size and what was read", async () => {
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  const size = 32 * 1024 * 1024;
  await Deno.writeFile(`${dir}/shrinks.bin`, new Uint8Array(size));
  const started = Promise.withResolvers<void>();
  const truncated = Promise.withResolvers<void>();
  await using server = serve(async (request) => {
    const reader = request.body!.getReader();
    try {
      await reader.read();
      // The sender waits on the connection while the file is cut short.
      started.resolve();
      await truncated.promise;
      while (!(await reader.read()).done);
    } catch { /* the sender gave up */ }
    return new Response("ok\n");
  });
  try {
    const run = runCli(["-T", `${dir}/shrinks.bin`, `${server.url}/up`]);
    await started.promise;
    await Deno.truncate(`${dir}/shrinks.bin`, 1000);
    truncated.resolve();
    const { code, err } = await run;
    assert.equal(code, EXIT_CODES.content, err);
    assert.match(
      err,
      new RegExp(
        `^netaccess: PUT \\S+/up failed: The -T file \\S+shrinks\\.bin got shorter while it was ` +
          `sent: \\d+ bytes read of the ${size} it had \\(sent as its Content-Length\\)\\n$`,
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: a host of the HSTS store: the errors say HSTS upgraded the URL, and how to keep it http:", async () => {
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  await using server = serve(() => new Response("plain\n"));
  const port = new URL(server.url).port;
  const state = `${dir}/state.sqlite3`;
  try {
    {
      await using hsts = await KvHstsStore.open({ path: state });
      await hsts.learn("localhost", "max-age=1000");
    }
    const url = `http://localhost:${port}/`;
    const way = "a run with another one, such as --state :memory: (no cookies, cache or HSTS " +
      "kept), sends the http: URL as it is)";
    const resolved = await runCli(["--resolve", `localhost:${port}:127.0.0.1`, url], { state });
    assert.notEqual(resolved.code, 0);
    assert.ok(
      resolved.err.includes(
        `(--resolve works for http: URLs, and ${url} was upgraded to https: by HSTS policy, ` +
          `as localhost is in the HSTS store; the store is the state file's: ${way}`,
      ),
      resolved.err,
    );
    const plain = await runCli([url], { state });
    assert.equal(plain.code, EXIT_CODES.tls, plain.err);
    assert.ok(
      plain.err.includes(`so an http: URL does not help; the store is the state file's: ${way}`),
      plain.err,
    );
    // The way it gives works.
    const fresh = await runCli(["--resolve", `localhost:${port}:127.0.0.1`, url]);
    assert.equal(fresh.code, 0, fresh.err);
    assert.equal(fresh.out, "plain\n");
    // A subdomain of a host whose policy covers its subdomains: that host is named.
    {
      await using hsts = await KvHstsStore.open({ path: state });
      await hsts.set({ host: "example.test", includeSubDomains: true, expires: Infinity });
    }
    const sub = `http://a.example.test:${port}/`;
    const covered = await runCli(["--resolve", `a.example.test:${port}:127.0.0.1`, sub], {
      state,
    });
    assert.notEqual(covered.code, 0);
    assert.ok(
      covered.err.includes(
        `(--resolve works for http: URLs, and ${sub} was upgraded to https: by HSTS policy, as ` +
          "the HSTS store's policy for example.test covers its subdomains, a.example.test " +
          "among them; the store is the state file's:",
      ),
      covered.err,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: a compressed body cut short exits 3, deflate as gzip", async () => {
  const plain = new TextEncoder().encode("a body worth compressing, ".repeat(2000));
  const bodies: Record<string, Uint8Array> = { gzip: gzipSync(plain), deflate: deflateSync(plain) };
  await using server = serve((request) => {
    const coding = new URL(request.url).pathname.slice(1);
    const body = bodies[coding]!;
    return new Response(body.slice(0, body.byteLength >> 1), {
      headers: { "content-encoding": coding },
    });
  });
  for (const coding of ["gzip", "deflate"]) {
    const { code, err } = await runCli(["-s", "-S", "-o", "-", `${server.url}/${coding}`]);
    assert.equal(code, EXIT_CODES.protocol, `${coding}: ${err}`);
    assert.match(err, new RegExp(`The ${coding} body of \\S+ cannot be decoded \\(unexpected end`));
  }
});
