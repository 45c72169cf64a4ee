/**
 * The command line's curl options beyond the basics: exit codes 47 and 60, --compressed,
 * -w/--write-out, -A, -D, --connect-timeout, --location-trusted, and curl's status lines.
 */

import assert from "node:assert/strict";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { runCli } from "./_helpers/cli.ts";
import { readHead, serve, serveTcp } from "./_helpers/server.ts";
import { makeTestCertificates } from "./_helpers/tls.ts";
import { EXIT_CODES } from "../src/cli.ts";

const encoder = new TextEncoder();

/** A loopback server: redirects, a loop, compressed bodies, an echo of the request headers. */
function startServer() {
  return serve(async (request) => {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/a":
        return Response.redirect(new URL("/b", url), 302);
      case "/b":
        return new Response("at b\n", { headers: { "content-type": "text/plain; charset=utf-8" } });
      case "/loop":
        return Response.redirect(new URL("/loop", url), 302);
      case "/headers":
        return Response.json(Object.fromEntries(request.headers));
      case "/packed": {
        const asked = request.headers.get("accept-encoding") ?? "";
        const text = encoder.encode(`packed for ${asked}\n`);
        if (/\bbr\b/.test(asked) && url.searchParams.has("br")) {
          return new Response(Uint8Array.from(brotliCompressSync(text)), {
            headers: { "content-encoding": "br" },
          });
        }
        if (/\bgzip\b/.test(asked)) {
          return new Response(Uint8Array.from(gzipSync(text)), {
            headers: { "content-encoding": "gzip" },
          });
        }
        return new Response(text);
      }
      case "/paused": {
        // Headers at once, then the body after a pause longer than --connect-timeout.
        let timer: ReturnType<typeof setTimeout> | undefined;
        return new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(encoder.encode("first, "));
              timer = setTimeout(() => {
                controller.enqueue(encoder.encode("then the rest\n"));
                controller.close();
              }, 700);
            },
            cancel() {
              clearTimeout(timer);
            },
          }),
        );
      }
      default:
        await request.body?.cancel();
        return new Response("not found\n", { status: 404 });
    }
  });
}

Deno.test("cli: as curl, too many redirects exit 47 and an unverified certificate 60", async (t) => {
  await using server = startServer();
  await t.step("-L into a loop: exit 47 after --max-redirs", async () => {
    const { code, err, out } = await runCli(["-L", "--max-redirs", "3", `${server.url}/loop`]);
    assert.equal(code, 47, err);
    assert.equal(code, EXIT_CODES.tooManyRedirects);
    assert.equal(out, "");
    assert.match(err, /^netaccess: GET .*\/loop failed: Too many redirects/);
  });
  await t.step("an https server whose CA is not trusted: exit 60", async () => {
    const certs = await makeTestCertificates();
    await using tls = serve(() => new Response("over tls\n"), certs);
    const { code, err } = await runCli([tls.url]);
    assert.equal(code, 60, err);
    assert.equal(code, EXIT_CODES.peerVerification);
    assert.match(err, /unknown issuer/);
  });
  await t.step("an expired certificate: exit 60", async () => {
    const certs = await makeTestCertificates({ method: "webcrypto", days: 0 });
    const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
    try {
      await Deno.writeTextFile(`${dir}/ca.pem`, certs.caCert);
      await using tls = serve(() => new Response("over tls\n"), certs);
      const { code, err } = await runCli(["--cacert", `${dir}/ca.pem`, tls.url]);
      assert.equal(code, EXIT_CODES.peerVerification, err);
      assert.match(err, /expired/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
  await t.step("the help text and EXIT_CODES name them", async () => {
    const { out } = await runCli(["--help"]);
    assert.match(out, /47 too many redirects/);
    assert.match(out, /60 server certificate not verified/);
    // The escapes -w knows, named as they are written, not as the characters they stand for.
    assert.ok(out.includes("and \\n \\r \\t \\\\ escapes"), out);
    assert.ok(!out.includes("\r"), "no carriage return in the help text");
  });
});

Deno.test("cli: --compressed asks for gzip and br and decodes them", async () => {
  await using server = startServer();
  const packed = await runCli(["--compressed", `${server.url}/packed`]);
  assert.equal(packed.code, 0, packed.err);
  assert.equal(packed.out, "packed for gzip, br\n");
  const br = await runCli(["--compressed", `${server.url}/packed?br`]);
  assert.equal(br.out, "packed for gzip, br\n");
  const own = await runCli([
    "--compressed",
    "-H",
    "Accept-Encoding: gzip",
    `${server.url}/packed?br`,
  ]);
  assert.equal(own.out, "packed for gzip\n", "a header of one's own wins");
  const plain = await runCli([`${server.url}/packed`]);
  assert.equal(plain.out, "packed for identity\n", "without it, nothing is asked for");
});

Deno.test("cli: -A sets the User-Agent, -H wins over it", async () => {
  await using server = startServer();
  const agent = await runCli(["-A", "probe/1.0", `${server.url}/headers`]);
  assert.equal(agent.code, 0, agent.err);
  assert.equal(JSON.parse(agent.out)["user-agent"], "probe/1.0");
  const both = await runCli([
    "--user-agent",
    "probe/1.0",
    "-H",
    "User-Agent: mine",
    `${server.url}/headers`,
  ]);
  assert.equal(JSON.parse(both.out)["user-agent"], "mine");
  const empty = await runCli(["-A", "", `${server.url}/headers`]);
  assert.equal(empty.code, 0, empty.err);
  assert.match(empty.err, /^netaccess: warning: -A "": User-Agent cannot be left out/);
});

Deno.test("cli: -w/--write-out prints curl's variables after each transfer", async (t) => {
  await using server = startServer();
  await t.step("after a redirect followed", async () => {
    const format = "%{http_code}|%{http_version}|%{url_effective}|%{size_download}|" +
      "%{content_type}|%{num_redirects}|%{exitcode}|%{errormsg}|%{method}|%header{content-type}" +
      "|%%|\\t|%{time_total}\\n";
    const { code, out, err } = await runCli(["-L", "-w", format, `${server.url}/a`]);
    assert.equal(code, 0, err);
    const [body, line] = [out.slice(0, 5), out.slice(5)];
    assert.equal(body, "at b\n");
    const fields = line.split("|");
    assert.deepEqual(fields.slice(0, 12), [
      "200",
      "1.1",
      `${server.url}/b`,
      "5",
      "text/plain; charset=utf-8",
      "1",
      "0",
      "",
      "GET",
      "text/plain; charset=utf-8",
      "%",
      "\t",
    ]);
    assert.match(fields[12]!, /^\d+\.\d{6}\n$/);
  });
  await t.step("%{redirect_url} and %{filename_effective}, as curl", async () => {
    const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
    try {
      const format = "%{redirect_url}|%{filename_effective}\\n";
      const stopped = await runCli(["-o", `${dir}/a.txt`, "-w", format, `${server.url}/a`]);
      assert.equal(stopped.code, 0, stopped.err);
      assert.equal(stopped.out, `${server.url}/b|${dir}/a.txt\n`);
      const followed = await runCli(["-L", "-w", format, `${server.url}/a`]);
      assert.equal(followed.code, 0, followed.err);
      assert.equal(followed.out, "at b\n|\n");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
  await t.step("after a failure: 000, the exit code and the error", async () => {
    const closed = serve(() => new Response());
    const url = closed.url;
    await closed.close();
    const { code, out, err } = await runCli([
      "-s",
      "-w",
      "%{http_code} %{exitcode} %{errormsg}\\n",
      url,
    ]);
    assert.equal(code, EXIT_CODES.connection);
    assert.equal(err, "");
    assert.match(out, /^000 7 GET http:\/\/127\.0\.0\.1:\d+\/ failed: Connection refused by /);
  });
  await t.step("%{stderr}, @file, several URLs, an unknown variable", async () => {
    const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
    try {
      await Deno.writeTextFile(`${dir}/format`, "%{stderr}code %{http_code}%{bogus}\\n");
      const { code, out, err } = await runCli([
        "-w",
        `@${dir}/format`,
        `${server.url}/b`,
        `${server.url}/nope`,
      ]);
      assert.equal(code, 0, err);
      assert.equal(out, "at b\nnot found\n");
      assert.equal(
        err,
        "netaccess: warning: -w: unknown variable %{bogus}, which prints nothing\n" +
          "code 200\ncode 404\n",
      );
      // As curl 8 (curl 7.88 warned and went on): a -w @FILE that cannot be read exits 26.
      const missing = await runCli(["-w", `@${dir}/nope`, `${server.url}/b`]);
      assert.equal(missing.code, EXIT_CODES.content, missing.err);
      assert.equal(missing.out, "");
      assert.match(missing.err, /^netaccess: Cannot read the --write-out file .*nope: /);
      const folder = await runCli(["-w", `@${dir}`, `${server.url}/b`]);
      assert.equal(folder.code, EXIT_CODES.content, folder.err);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("cli: -D writes every response's status line and headers, to a file or stdout", async () => {
  await using server = startServer();
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  try {
    const saved = await runCli(["-L", "-D", `${dir}/head.txt`, `${server.url}/a`]);
    assert.equal(saved.code, 0, saved.err);
    assert.equal(saved.out, "at b\n");
    assert.match(
      await Deno.readTextFile(`${dir}/head.txt`),
      /^HTTP\/1\.1 302 Found\r\n(.+\r\n)*location: .*\/b\r\n(.+\r\n)*\r\nHTTP\/1\.1 200 OK\r\n(.+\r\n)*\r\n$/,
    );
    const piped = await runCli(["--dump-header", "-", `${server.url}/b`]);
    assert.match(
      piped.out,
      /^HTTP\/1\.1 200 OK\r\n(.+\r\n)*content-type: text\/plain.*\r\n(.+\r\n)*\r\nat b\n$/,
    );
    const split = await runCli(["-D", "-", "-o", `${dir}/body.txt`, `${server.url}/b`]);
    assert.match(split.out, /^HTTP\/1\.1 200 OK\r\n(.+\r\n)*\r\n$/);
    assert.equal(await Deno.readTextFile(`${dir}/body.txt`), "at b\n");
    const unwritable = await runCli(["-D", `${dir}/no/such/dir`, `${server.url}/b`]);
    assert.equal(unwritable.code, EXIT_CODES.output, "as curl, a write error exits 23");
    assert.match(unwritable.err, /^netaccess: cannot write .*no\/such\/dir: /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: --connect-timeout bounds the wait for the response headers, not the body", async () => {
  await using silent = serveTcp(async (conn) => {
    await readHead(conn);
    // No answer: the connection stays open until the client goes away.
    await conn.read(new Uint8Array(1)).catch(() => null);
    conn.close();
  });
  const started = performance.now();
  const { code, err } = await runCli(["--connect-timeout", "0.3", `${silent.url}/`]);
  assert.equal(code, EXIT_CODES.timeout, err);
  assert.ok(performance.now() - started < 2500, "it did not wait for the server");
  assert.match(
    err,
    /^netaccess: GET .* failed: Connection to 127\.0\.0\.1:\d+ timed out after 300 ms: no response headers \(--connect-timeout\)\n$/,
  );
  await using server = startServer();
  const paused = await runCli(["--connect-timeout", "0.3", `${server.url}/paused`]);
  assert.equal(paused.code, 0, paused.err);
  assert.equal(paused.out, "first, then the rest\n");
});

Deno.test("cli: --location-trusted sends -u credentials to the hosts redirected to", async () => {
  const seen: (string | null)[] = [];
  await using other = serve((request) => {
    seen.push(request.headers.get("authorization"));
    return new Response("elsewhere\n");
  });
  await using server = serve((request) => {
    seen.push(request.headers.get("authorization"));
    return Response.redirect(`${other.url}/landed`, 302);
  });
  const basic = `Basic ${btoa("bob:pw")}`;
  const trusted = await runCli(["--location-trusted", "-u", "bob:pw", `${server.url}/away`]);
  assert.equal(trusted.code, 0, trusted.err);
  assert.equal(trusted.out, "elsewhere\n");
  assert.deepEqual(seen.splice(0), [basic, basic]);
  const plain = await runCli(["-L", "-u", "bob:pw", `${server.url}/away`]);
  assert.equal(plain.out, "elsewhere\n");
  assert.deepEqual(seen.splice(0), [basic, null], "by default they stay with the URL's host");
});

Deno.test("cli: status lines as curl prints them: HTTP/1.1 200 OK, HTTP/2 200 and a space", async (t) => {
  await using server = startServer();
  await t.step("-i with -L: a block for each response, then the body", async () => {
    const { code, out, err } = await runCli(["-i", "-L", `${server.url}/a`]);
    assert.equal(code, 0, err);
    assert.match(
      out,
      /^HTTP\/1\.1 302 Found\r\n(.+\r\n)*\r\nHTTP\/1\.1 200 OK\r\n(.+\r\n)*\r\nat b\n$/,
    );
  });
  await t.step("-I, -i, -D and -v over HTTP/2: the status code and a space, as curl", async () => {
    const certs = await makeTestCertificates();
    const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
    try {
      await Deno.writeTextFile(`${dir}/ca.pem`, certs.caCert);
      await using tls = serve(() => new Response("over h2\n"), certs);
      const head = await runCli(["--cacert", `${dir}/ca.pem`, "-I", tls.url]);
      assert.equal(head.code, 0, head.err);
      assert.match(head.out, /^HTTP\/2 200 \r\n/);
      const included = await runCli([
        "--cacert",
        `${dir}/ca.pem`,
        "-i",
        "-w",
        "%{http_version}",
        tls.url,
      ]);
      assert.match(included.out, /^HTTP\/2 200 \r\n(.+\r\n)*\r\nover h2\n2$/);
      const dumped = await runCli(["--cacert", `${dir}/ca.pem`, "-s", "-D", "-", tls.url]);
      assert.match(dumped.out, /^HTTP\/2 200 \r\n(.+\r\n)*\r\nover h2\n$/);
      // -v names the version in the request line and the status line, as -i does.
      const verbose = await runCli(["--cacert", `${dir}/ca.pem`, "-v", tls.url]);
      assert.equal(verbose.code, 0, verbose.err);
      assert.match(verbose.err, /^> GET \/ HTTP\/2\n> host: 127\.0\.0\.1:\d+\n(> .+\n)*>\n/m);
      assert.match(verbose.err, /^< HTTP\/2 200 \n(< .+\n)*<\n/m);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});
