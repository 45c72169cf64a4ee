/**
 * What the command line writes over several URLs and around its progress lines, as curl 7.88
 * writes it: one `-D` file for every transfer, the last transfer's exit code, `-i` with `-f`,
 * `-J` refusing a name that is none, `%header{}` of a header sent twice, and progress lines that
 * neither mix with the body or `-w` on a terminal nor write a terminal's codes elsewhere.
 */

import assert from "node:assert/strict";
import { runCli, scriptAvailable, underTerminal } from "./_helpers/cli.ts";
import { closedPort, serve } from "./_helpers/server.ts";
import { EXIT_CODES } from "../src/cli.ts";

const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `/ok`, `/missing` (404), `/slow` (200 after 300 ms), `/slow-missing` (404 after 300 ms),
 * `/paced` (4 KiB in 4 lines, 50 ms apart), `/cd?v=` (that `Content-Disposition`).
 */
function startServer() {
  return serve(async (request) => {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/ok": {
        const headers = new Headers({ "x-served": "ok" });
        headers.append("set-cookie", "a=1");
        headers.append("set-cookie", "b=2");
        return new Response("hello\n", { headers });
      }
      case "/slow":
        await sleep(300);
        return new Response("slow\n");
      case "/paced": {
        let sent = 0;
        const body = new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (sent++ === 4) return controller.close();
            await sleep(50);
            controller.enqueue(encoder.encode(`${"x".repeat(1023)}\n`));
          },
        });
        return new Response(body, { headers: { "content-length": String(4 * 1024) } });
      }
      case "/slow-missing":
        await sleep(300);
        return new Response("not found\n", { status: 404 });
      case "/cd":
        return new Response("from cd\n", {
          headers: { "content-disposition": url.searchParams.get("v")! },
        });
    }
    return new Response("not found\n", { status: 404, headers: { "x-served": "missing" } });
  });
}

Deno.test("cli: -D FILE keeps the headers of every transfer, in order, as curl", async (t) => {
  await using server = startServer();
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  const file = `${dir}/headers.txt`;
  const blocks = async () =>
    (await Deno.readTextFile(file)).split("\r\n\r\n").filter((block) => block !== "")
      .map((block) => block.split("\r\n"));
  try {
    await t.step("one after the other", async () => {
      await Deno.writeTextFile(file, "stale\r\n\r\n");
      const { code, err } = await runCli([
        "-s",
        "-D",
        file,
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        `${server.url}/ok`,
        `${server.url}/missing`,
      ]);
      assert.equal(code, 0, err);
      const [ok, missing, ...more] = await blocks();
      assert.equal(ok?.[0], "HTTP/1.1 200 OK");
      assert.ok(ok.includes("x-served: ok"), ok.join("|"));
      assert.equal(missing?.[0], "HTTP/1.1 404 Not Found");
      assert.ok(missing.includes("x-served: missing"), missing.join("|"));
      assert.deepEqual(more, [], "the file was emptied first");
    });
    await t.step("--parallel: each block whole, in the order the responses came", async () => {
      const { code, err } = await runCli([
        "-s",
        "--parallel",
        "2",
        "-D",
        file,
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        `${server.url}/slow`,
        `${server.url}/missing`,
      ]);
      assert.equal(code, 0, err);
      const statuses = (await blocks()).map((block) => block[0]);
      assert.deepEqual(statuses, ["HTTP/1.1 404 Not Found", "HTTP/1.1 200 OK"]);
    });
    await t.step("a transfer that gets no response still empties the file", async () => {
      await Deno.writeTextFile(file, "stale\r\n\r\n");
      const { code } = await runCli(["-s", "-D", file, `http://127.0.0.1:${closedPort()}/`]);
      assert.equal(code, EXIT_CODES.connection);
      assert.equal(await Deno.readTextFile(file), "");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: over several URLs the exit code is the last transfer's, as curl's", async (t) => {
  await using server = startServer();
  const refused = `http://127.0.0.1:${closedPort()}/`;
  const exit = async (...args: string[]) => {
    const { code } = await runCli(["-s", "-f", "-o", "/dev/null", ...args]);
    return code;
  };
  await t.step("one after the other: the last one's, a success too", async () => {
    assert.equal(await exit(`${server.url}/missing`, `${server.url}/ok`), 0);
    assert.equal(await exit(refused, `${server.url}/missing`), EXIT_CODES.httpError);
    assert.equal(await exit(`${server.url}/missing`, refused), EXIT_CODES.connection);
  });
  await t.step("--parallel: that of the last transfer to fail, as they end", async () => {
    const parallel = (...urls: string[]) =>
      exit("--parallel", "3", ...urls.flatMap((url) => ["-o", "/dev/null", url]));
    // The 404 fails first, the slow one succeeds last: curl exits 22.
    assert.equal(await parallel(`${server.url}/slow`, `${server.url}/missing`), 22);
    assert.equal(await parallel(`${server.url}/missing`, `${server.url}/ok`), 22);
    assert.equal(await parallel(`${server.url}/slow`, `${server.url}/ok`), 0);
    // The refused connection fails first, the slow 404 last.
    assert.equal(await parallel(refused, `${server.url}/slow-missing`), EXIT_CODES.httpError);
  });
});

Deno.test("cli: -f with -i writes the headers of the failed response, not its body, as curl", async () => {
  await using server = startServer();
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  try {
    const shown = await runCli(["-s", "-f", "-i", `${server.url}/missing`]);
    assert.equal(shown.code, EXIT_CODES.httpError);
    assert.match(shown.out, /^HTTP\/1\.1 404 Not Found\r\n(.+\r\n)*x-served: missing\r\n/);
    assert.ok(shown.out.endsWith("\r\n\r\n"), JSON.stringify(shown.out));
    assert.doesNotMatch(shown.out, /not found\n/);
    const saved = await runCli(["-s", "-f", "-i", "-o", `${dir}/out`, `${server.url}/missing`]);
    assert.equal(saved.code, EXIT_CODES.httpError);
    assert.match(
      await Deno.readTextFile(`${dir}/out`),
      /^HTTP\/1\.1 404 Not Found\r\n.*\r\n\r\n$/s,
    );
    // Without -i, nothing is written, as before.
    const quiet = await runCli(["-s", "-f", "-o", `${dir}/none`, `${server.url}/missing`]);
    assert.equal(quiet.code, EXIT_CODES.httpError);
    await assert.rejects(Deno.stat(`${dir}/none`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: -OJ with a Content-Disposition that names no file writes none, exit 23, as curl", async () => {
  await using server = startServer();
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  try {
    for (const disposition of ["attachment; filename=..", "filename=sub/", "filename="]) {
      await Deno.writeTextFile(`${dir}/cd`, "kept\n");
      const { code, err } = await runCli(
        ["-OJ", `${server.url}/cd?v=${encodeURIComponent(disposition)}`],
        { cwd: dir },
      );
      assert.equal(code, EXIT_CODES.output, `${disposition}: ${err}`);
      assert.equal(
        err,
        `netaccess: cannot write the file of -J: the response's Content-Disposition ` +
          `(${JSON.stringify(disposition)}) names no file that can be written\n`,
      );
      assert.equal(await Deno.readTextFile(`${dir}/cd`), "kept\n", "the URL's file is kept");
    }
    await Deno.remove(`${dir}/cd`);
    const none = await runCli(["-OJ", `${server.url}/cd?v=filename%3D..`], { cwd: dir });
    assert.equal(none.code, EXIT_CODES.output);
    assert.deepEqual([...Deno.readDirSync(dir)], [], "no file made");
    // Without a file name, the URL's is taken, as curl takes it.
    const inline = await runCli(["-OJ", `${server.url}/cd?v=inline`], { cwd: dir });
    assert.equal(inline.code, 0, inline.err);
    assert.equal(await Deno.readTextFile(`${dir}/cd`), "from cd\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: %header{set-cookie} of two Set-Cookie lines prints the first, as curl", async () => {
  await using server = startServer();
  const { code, out } = await runCli([
    "-s",
    "-o",
    "/dev/null",
    "-w",
    "%header{set-cookie}|%header{Set-Cookie}|%header{x-served}|%header{ set-cookie}|" +
    "%header{x-served }|%header{ x-served}",
    `${server.url}/ok`,
  ]);
  assert.equal(code, 0);
  // A space in the name matches no header, as in curl.
  assert.equal(out, "a=1|a=1|ok|||");
});

Deno.test("cli: --progress to a file or pipe writes each transfer's last line, no terminal codes", async () => {
  await using server = startServer();
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  try {
    const { code, err } = await runCli([
      "--progress",
      "-o",
      `${dir}/a`,
      "-o",
      `${dir}/b`,
      `${server.url}/paced`,
      `${server.url}/missing`,
    ]);
    assert.equal(code, 0, err);
    assert.ok(!err.includes("\x1b") && !err.includes("\r"), JSON.stringify(err));
    const lines = err.split("\n");
    assert.equal(lines.length, 3, JSON.stringify(err));
    assert.match(lines[0]!, /^a {2}4\.0 KiB \/ 4\.0 KiB {2}100% {2}.* in 0:0\d$/);
    assert.match(lines[1]!, /^b {2}10 B \/ 10 B {2}100% /);
    assert.equal(lines[2], "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const script = await scriptAvailable("cli_output_test");

Deno.test({
  name: "cli: on a terminal progress never mixes with the body or -w, as curl",
  ignore: !script,
  async fn(t) {
    await using server = startServer();
    const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
    try {
      await t.step("a body written to the terminal: no progress line", async () => {
        const { code, screen } = await underTerminal([`${server.url}/paced`], dir);
        assert.equal(code, 0, screen);
        assert.ok(!screen.includes("\x1b[2K"), JSON.stringify(screen));
        assert.doesNotMatch(screen, /KiB/);
        const text = await underTerminal(["-w", "[%{http_code}]", `${server.url}/ok`], dir);
        assert.equal(text.screen, "hello\r\n[200]");
      });
      await t.step("-w and an error start on a line of their own after the last line", async () => {
        const { code, screen } = await underTerminal([
          "-w",
          "[%{http_code}]\\n",
          "-o",
          "a",
          "-o",
          "b",
          "--fail",
          `${server.url}/paced`,
          `${server.url}/missing`,
        ], dir);
        assert.equal(code, EXIT_CODES.httpError, screen);
        assert.match(
          screen,
          // deno-lint-ignore no-control-regex
          /\r\x1b\[2Ka {2}4\.0 KiB \/ 4\.0 KiB {2}100% {2}[^\r\n]* in 0:0\d\r?\n\[200\]\r?\n/,
        );
        assert.match(
          screen,
          // deno-lint-ignore no-control-regex
          /\r\x1b\[2Kb {2}[^\r\n]*\r?\nnetaccess: GET \S+\/missing returned HTTP 404 Not Found\r?\n\[404\]\r?\n$/,
        );
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
