/**
 * The command line's connection, redirect and retry options, as curl has them: --resolve,
 * -X with -L, --post301/--post302/--post303 and --retry-max-time.
 */

import assert from "node:assert/strict";
import { runCli } from "./_helpers/cli.ts";
import { readHead, serve, serveTcp } from "./_helpers/server.ts";
import { EXIT_CODES } from "../src/cli.ts";

const encoder = new TextEncoder();

Deno.test("cli: --resolve connects to the address given and keeps the name in Host", async (t) => {
  const heads: string[] = [];
  await using server = serveTcp(async (conn) => {
    const head = await readHead(conn);
    heads.push(head);
    await conn.write(
      encoder.encode("HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nhi\n"),
    );
    conn.close();
  });
  await t.step("http: the request goes to ADDR, as it is", async () => {
    const { code, out, err } = await runCli([
      "--resolve",
      `example.test:${server.port}:127.0.0.1`,
      `http://example.test:${server.port}/path?q=1`,
    ]);
    assert.equal(code, 0, err);
    assert.equal(out, "hi\n");
    const head = heads.pop()!;
    // Deno's connection to an address of one's choice sends the URL whole (the absolute-form
    // of RFC 9112, which servers accept), where curl sends its path.
    assert.match(head, /^GET (http:\/\/example\.test:\d+)?\/path\?q=1 HTTP\/1\.1\r\n/);
    assert.match(head, new RegExp(`\\r\\nhost: example\\.test:${server.port}\\r\\n`, "i"));
  });
  await t.step("the next address when the first refuses; * for any host", async () => {
    const any = await runCli([
      "--resolve",
      `other.test:80:127.0.0.9`,
      "--resolve",
      `*:${server.port}:127.0.0.1`,
      `http://any.test:${server.port}/one`,
    ]);
    assert.equal(any.code, 0, any.err);
    assert.match(heads.pop()!, new RegExp(`host: any\\.test:${server.port}\\r\\n`, "i"));
    const { code, out, err } = await runCli([
      "--resolve",
      `+name.test:${server.port}:127.0.0.99,127.0.0.1`,
      `http://name.test:${server.port}/two`,
    ]);
    assert.equal(code, 0, err);
    assert.equal(out, "hi\n");
    assert.match(heads.pop()!, new RegExp(`host: name\\.test:${server.port}\\r\\n`, "i"));
  });
  await t.step("https: refused with the reason, never sent to another address", async () => {
    const { code, err } = await runCli([
      "--resolve",
      `secure.test:443:127.0.0.1`,
      "https://secure.test/",
    ]);
    assert.equal(code, EXIT_CODES.usage);
    assert.match(
      err,
      /^netaccess: --resolve secure\.test:443:127\.0\.0\.1 cannot be used for https:\/\/secure\.test: Deno's fetch cannot connect/,
    );
  });
  await t.step("a malformed entry", async () => {
    const { code, err } = await runCli(["--resolve", "example.test:80", "http://example.test/"]);
    assert.equal(code, EXIT_CODES.usage);
    assert.match(err, /^netaccess: --resolve takes HOST:PORT:ADDRESS\[,ADDRESS\]/);
  });
});

/** A server whose /from redirects with `?status=` to /to, and that records what it is sent. */
function redirecting() {
  const seen: { method: string; path: string; body: string; type: string | null }[] = [];
  const server = serve(async (request) => {
    const url = new URL(request.url);
    seen.push({
      method: request.method,
      path: url.pathname,
      body: await request.text(),
      type: request.headers.get("content-type"),
    });
    if (url.pathname === "/from") {
      return new Response(null, {
        status: Number(url.searchParams.get("status")),
        headers: { location: "/to" },
      });
    }
    return new Response("landed\n");
  });
  return { server, seen };
}

Deno.test("cli: -X with -L sends that method on every hop, as curl", async (t) => {
  const { server, seen } = redirecting();
  await using _ = server;
  for (const status of [301, 302, 303]) {
    await t.step(`-X POST after a ${status}: POST again, without the body`, async () => {
      const { code, out, err } = await runCli([
        "-L",
        "-X",
        "POST",
        "-d",
        "a=1",
        `${server.url}/from?status=${status}`,
      ]);
      assert.equal(code, 0, err);
      assert.equal(out, "landed\n");
      assert.deepEqual(seen.splice(0), [
        { method: "POST", path: "/from", body: "a=1", type: "application/x-www-form-urlencoded" },
        { method: "POST", path: "/to", body: "", type: null },
      ]);
    });
  }
  await t.step("-X DELETE after a 303: DELETE again", async () => {
    const { code, err } = await runCli(["-L", "-X", "DELETE", `${server.url}/from?status=303`]);
    assert.equal(code, 0, err);
    assert.deepEqual(seen.splice(0).map((s) => s.method), ["DELETE", "DELETE"]);
  });
  await t.step("-X POST after a 307: POST with the body", async () => {
    await runCli(["-L", "-X", "POST", "-d", "a=1", `${server.url}/from?status=307`]);
    assert.deepEqual(seen.splice(0).map((s) => `${s.method} ${s.body}`), [
      "POST a=1",
      "POST a=1",
    ]);
  });
  await t.step("-d without -X: a GET after a 302, as curl", async () => {
    await runCli(["-L", "-d", "a=1", `${server.url}/from?status=302`]);
    assert.deepEqual(seen.splice(0).map((s) => `${s.method} ${s.body}`), ["POST a=1", "GET "]);
  });
});

Deno.test("cli: --post301, --post302 and --post303 keep a POST and its body", async (t) => {
  const { server, seen } = redirecting();
  await using _ = server;
  for (const status of [301, 302, 303]) {
    await t.step(`--post${status}`, async () => {
      const kept = await runCli([
        "-L",
        `--post${status}`,
        "-d",
        "a=1",
        `${server.url}/from?status=${status}`,
      ]);
      assert.equal(kept.code, 0, kept.err);
      assert.deepEqual(seen.splice(0).map((s) => `${s.method} ${s.body}`), [
        "POST a=1",
        "POST a=1",
      ]);
      // Each switch is for its own status.
      const other = status === 301 ? 302 : 301;
      await runCli(["-L", `--post${status}`, "-d", "a=1", `${server.url}/from?status=${other}`]);
      assert.deepEqual(seen.splice(0).map((s) => `${s.method} ${s.body}`), ["POST a=1", "GET "]);
    });
  }
});

Deno.test("cli: --retry-max-time starts no retry after that many seconds", async () => {
  const tries: number[] = [];
  await using server = serve(() => {
    tries.push(performance.now());
    return new Response("busy\n", { status: 503 });
  });
  // Without it, --retry 3 --retry-delay 0.4 makes 4 attempts; with it, those within 1 s.
  const { code, out, err } = await runCli([
    "--retry",
    "3",
    "--retry-delay",
    "0.4",
    "--retry-max-time",
    "1",
    server.url,
  ]);
  assert.equal(code, 0, err);
  assert.equal(out, "busy\n", "the last response is the answer");
  assert.equal(tries.length, 3, `attempts at ${tries.map((at) => Math.round(at - tries[0]!))}`);
  tries.length = 0;
  const unlimited = await runCli([
    "--retry",
    "2",
    "--retry-delay",
    "0.1",
    "--retry-max-time",
    "0",
    server.url,
  ]);
  assert.equal(unlimited.code, 0, unlimited.err);
  assert.equal(tries.length, 3, "0 sets no limit");
  const bad = await runCli(["--retry", "2", "--retry-max-time", "-1", server.url]);
  assert.equal(bad.code, EXIT_CODES.usage);
  assert.match(
    bad.err,
    /^netaccess: --retry-max-time takes a number of seconds \(0: no limit\), got "-1"/,
  );
});

Deno.test("cli: -w %{method} is the method of the last request, as curl", async (t) => {
  const { server, seen } = redirecting();
  await using _ = server;
  const cases: [string[], number, string][] = [
    [["-d", "a=1"], 302, "GET"],
    [["-d", "a=1"], 307, "POST"],
    [["-I"], 303, "HEAD"],
    [["--post302", "-d", "a=1"], 302, "POST"],
    [["-X", "PATCH"], 303, "PATCH"],
  ];
  for (const [options, status, method] of cases) {
    await t.step(`${options.join(" ")} after a ${status}: ${method}`, async () => {
      const writeOut = ["-o", "/dev/null", "-w", "%{method} %{num_redirects}"];
      const url = `${server.url}/from?status=${status}`;
      const { code, out, err } = await runCli(["-L", ...options, ...writeOut, url]);
      assert.equal(code, 0, err);
      assert.equal(out, `${method} 1`);
      assert.equal(seen.splice(0).at(-1)?.method, method);
    });
  }
});
