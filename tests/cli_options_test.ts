/**
 * The command line against curl's documented behaviour: -X as given, -T - streaming stdin, and
 * the output, failure, timeout, retry, header and cookie options a curl user relies on.
 */

import assert from "node:assert/strict";
import { cliCommand, runCli } from "./_helpers/cli.ts";
import { readHead, serve, serveTcp } from "./_helpers/server.ts";
import { startProxyServer } from "./_helpers/proxy_server.ts";
import { EXIT_CODES } from "../src/cli.ts";
import { parseProxy } from "../src/cli/_args.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A raw server that keeps the request line of each request and answers 200 with no body. */
function requestLines() {
  const lines: string[] = [];
  const server = serveTcp(async (conn) => {
    let head = await readHead(conn);
    lines.push(head.split("\r\n")[0]!);
    // A chunked body is read to its end before the answer: closing the connection while the
    // client still sends it would break its pipe.
    if (/\r\ntransfer-encoding: *chunked\r\n/i.test(head.split("\r\n\r\n")[0] + "\r\n")) {
      const buffer = new Uint8Array(4096);
      while (!head.endsWith("0\r\n\r\n")) {
        const n = await conn.read(buffer);
        if (n === null) break;
        head += new TextDecoder().decode(buffer.subarray(0, n));
      }
    }
    await conn.write(
      encoder.encode("HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"),
    );
    conn.close();
  });
  return { server, lines };
}

Deno.test("cli: -X sends the method as given, as curl, but those fetch upper-cases", async () => {
  const { server, lines } = requestLines();
  try {
    for (const method of ["patch", "PropFind", "PATCH"]) {
      const { code, out, err } = await runCli(["-X", method, "-w", "%{method}", server.url]);
      assert.equal(code, 0, err);
      assert.equal(out, method);
      assert.equal(lines.pop(), `${method} / HTTP/1.1`);
    }
    // The Fetch standard upper-cases these six whatever their case: they reach the wire so.
    for (const method of ["get", "Delete", "options", "put", "post", "head"]) {
      const { code, out, err } = await runCli(["-X", method, "-w", "%{method}", server.url]);
      assert.equal(code, 0, err);
      assert.equal(out, method.toUpperCase());
      assert.equal(lines.pop(), `${method.toUpperCase()} / HTTP/1.1`);
    }
    const upload = await runCli(["-X", "patch", "-T", "-", server.url], { stdin: "x" });
    assert.equal(upload.code, 0, upload.err);
    assert.equal(lines.pop(), "patch / HTTP/1.1");
    const get = await runCli(["-X", "get", "-d", "a=1", server.url]);
    assert.equal(get.code, EXIT_CODES.usage);
    assert.match(get.err, /^netaccess: -X get cannot carry a body: /);
  } finally {
    await server.close();
  }
});

Deno.test("cli: -T - streams stdin, chunked as curl sends it, before stdin ends", async () => {
  let firstBytes!: () => void;
  const first = new Promise<void>((resolve) => (firstBytes = resolve));
  const seen: { method: string; chunked: boolean; length: string | null; size: number }[] = [];
  await using server = serve(async (request) => {
    let size = 0;
    for await (const piece of request.body!) {
      size += piece.byteLength;
      firstBytes();
    }
    seen.push({
      method: request.method,
      chunked: request.headers.get("transfer-encoding") === "chunked",
      length: request.headers.get("content-length"),
      size,
    });
    return new Response(`got ${size}\n`);
  });
  const child = new Deno.Command(Deno.execPath(), {
    args: cliCommand(["-T", "-", `${server.url}/up`]),
    env: { NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const piece = new Uint8Array(64 * 1024).fill(0x61);
  await writer.write(piece);
  // Stdin is still open: the server has the first bytes all the same.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve("stdin read whole before sending"), 10_000);
  });
  const outcome = await Promise.race([first.then(() => "streamed"), late]);
  clearTimeout(timer);
  for (let i = 0; i < 15; i++) await writer.write(piece);
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  assert.equal(code, 0, decoder.decode(stderr));
  assert.equal(outcome, "streamed");
  assert.equal(decoder.decode(stdout), `got ${16 * piece.byteLength}\n`);
  assert.deepEqual(seen, [{ method: "PUT", chunked: true, length: null, size: 16 * 65536 }]);
});

/** The peak resident memory of process `pid`, in bytes, where Linux tells it (else null). */
async function peakMemory(pid: number): Promise<number | null> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const kib = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
    return kib === undefined ? null : Number(kib) * 1024;
  } catch {
    return null;
  }
}

Deno.test("cli: -T FILE streams the file with its Content-Length, not read into memory", async () => {
  const dir = await Deno.makeTempDir();
  const size = 96 * 1024 * 1024;
  const pattern = (i: number) => (i * 7 + (i >> 16)) & 0xff;
  {
    using file = await Deno.open(`${dir}/big.bin`, { write: true, create: true });
    const piece = new Uint8Array(1024 * 1024);
    for (let at = 0; at < size; at += piece.byteLength) {
      for (let i = 0; i < piece.byteLength; i++) piece[i] = pattern(at + i);
      let written = 0;
      while (written < piece.byteLength) written += await file.write(piece.subarray(written));
    }
  }
  await Deno.writeTextFile(`${dir}/small.txt`, "small\n");
  let pid = 0;
  const seen: { length: string | null; chunked: boolean; size: number; whole: boolean }[] = [];
  const peaks: (number | null)[] = [];
  await using server = serve(async (request) => {
    let received = 0;
    let whole = true;
    for await (const piece of request.body!) {
      if (request.url.endsWith("/big.bin")) {
        for (let i = 0; i < piece.byteLength; i += 4099) {
          if (piece[i] !== pattern(received + i)) whole = false;
        }
      }
      received += piece.byteLength;
    }
    seen.push({
      length: request.headers.get("content-length"),
      chunked: request.headers.get("transfer-encoding") === "chunked",
      size: received,
      whole,
    });
    // The sender's peak memory, once the whole file has been sent.
    peaks.push(await peakMemory(pid));
    return new Response(`got ${received}\n`);
  });
  try {
    for (const name of ["small.txt", "big.bin"]) {
      const child = new Deno.Command(Deno.execPath(), {
        args: cliCommand(["-T", `${dir}/${name}`, `${server.url}/`]),
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      pid = child.pid;
      const { code, stdout, stderr } = await child.output();
      assert.equal(code, 0, decoder.decode(stderr));
      assert.equal(decoder.decode(stdout), `got ${name === "big.bin" ? size : 6}\n`);
    }
    assert.deepEqual(seen, [
      { length: "6", chunked: false, size: 6, whole: true },
      { length: String(size), chunked: false, size, whole: true },
    ]);
    const [small, big] = peaks;
    if (small != null && big != null) {
      // Read whole, the file alone would add 96 MiB; read as it is sent, a bounded amount.
      const grown = big - small;
      assert.ok(grown < 64 * 2 ** 20, `memory grew by ${(grown / 2 ** 20).toFixed(1)} MiB`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: -T - is stdin for one URL only", async () => {
  const twice = await runCli(["-T", "-", "-T", ".", "http://x.test/1", "http://x.test/2"]);
  assert.equal(twice.code, EXIT_CODES.usage);
  assert.match(twice.err, /^netaccess: -T - \(or \.\) sends stdin as it is read, to one URL/);
});

/** A loopback server: a body, a 404 with a body, a slow answer, a 503 until the third try. */
function startServer() {
  const tries: number[] = [];
  const server = serve(async (request) => {
    const url = new URL(request.url);
    await request.body?.cancel();
    switch (url.pathname) {
      case "/missing":
        return new Response("not here\n", { status: 404 });
      case "/slow": {
        // The headers at once, the body's end late (its timer cleared when the client goes).
        let timer: ReturnType<typeof setTimeout> | undefined;
        return new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(encoder.encode("early, "));
              timer = setTimeout(() => controller.close(), 1500);
            },
            cancel() {
              clearTimeout(timer);
            },
          }),
        );
      }
      case "/flaky":
        tries.push(performance.now());
        return tries.length % 3 === 0
          ? new Response("at last\n")
          : new Response("busy\n", { status: 503 });
      case "/headers":
        return Response.json(Object.fromEntries(request.headers));
      default:
        return new Response(`body of ${url.pathname}\n`);
    }
  });
  return Object.assign(server, { tries });
}

Deno.test("cli: -o -, --output-dir and --create-dirs, as curl", async (t) => {
  await using server = startServer();
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  try {
    await t.step("-o - writes the body to stdout, no file named -", async () => {
      const { code, out, err } = await runCli(["-o", "-", `${server.url}/x`], { cwd: dir });
      assert.equal(code, 0, err);
      assert.equal(out, "body of /x\n");
      assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), []);
    });
    await t.step("one -o for each URL, in order; the URLs after them to stdout", async () => {
      const urls = ["/1", "/2", "/3"].map((path) => `${server.url}${path}`);
      const { code, out, err } = await runCli(["-o", "one.txt", "-o", "two.txt", ...urls], {
        cwd: dir,
      });
      assert.equal(code, 0, err);
      assert.equal(out, "body of /3\n");
      assert.equal(await Deno.readTextFile(`${dir}/one.txt`), "body of /1\n");
      assert.equal(await Deno.readTextFile(`${dir}/two.txt`), "body of /2\n");
      const extra = await runCli(["-o", "-", "-o", "three.txt", urls[0]!], { cwd: dir });
      assert.equal(extra.code, 0, extra.err);
      assert.equal(extra.out, "body of /1\n");
      assert.match(extra.err, /^netaccess: warning: 2 -o for 1 URL: -o three\.txt not used/);
      const parallel = await runCli([
        "--parallel",
        "2",
        "-o",
        "p1",
        "-o",
        "p2",
        ...urls.slice(0, 2),
      ], {
        cwd: dir,
      });
      assert.equal(parallel.code, 0, parallel.err);
      assert.equal(await Deno.readTextFile(`${dir}/p2`), "body of /2\n");
      for (const name of ["one.txt", "two.txt", "p1", "p2"]) await Deno.remove(`${dir}/${name}`);
    });
    await t.step(
      "-O names the file of one URL, as -o; --remote-name-all of every URL",
      async () => {
        const urls = ["/r1", "/r2", "/r3"].map((path) => `${server.url}${path}`);
        const files = async () =>
          (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
        const one = await runCli(["-O", ...urls.slice(0, 2)], { cwd: dir });
        assert.equal(one.code, 0, one.err);
        assert.equal(one.out, "body of /r2\n", "as curl: the second URL to stdout");
        assert.deepEqual(await files(), ["r1"]);
        await Deno.remove(`${dir}/r1`);
        const mixed = await runCli(["-o", "first.txt", "-O", ...urls], { cwd: dir });
        assert.equal(mixed.code, 0, mixed.err);
        assert.equal(mixed.out, "body of /r3\n");
        assert.deepEqual(await files(), ["first.txt", "r2"]);
        await Deno.remove(`${dir}/first.txt`);
        await Deno.remove(`${dir}/r2`);
        const all = await runCli(["--remote-name-all", "-o", "-", ...urls], { cwd: dir });
        assert.equal(all.code, 0, all.err);
        assert.equal(all.out, "body of /r1\n", "an -o of its own wins");
        assert.deepEqual(await files(), ["r2", "r3"]);
        for (const name of ["r2", "r3"]) await Deno.remove(`${dir}/${name}`);
        const parallel = await runCli(["--parallel", "2", "-O", ...urls.slice(0, 2)], { cwd: dir });
        assert.equal(parallel.code, EXIT_CODES.usage);
        assert.match(parallel.err, /give an -o or -O for each URL, or --remote-name-all/);
      },
    );
    await t.step("-I -o FILE writes the headers to FILE, as curl (-sI -o /dev/null)", async () => {
      const { code, out, err } = await runCli(
        ["-sI", "-o", "head.txt", "-w", "%{http_code}", `${server.url}/h`],
        { cwd: dir },
      );
      assert.equal(code, 0, err);
      assert.equal(out, "200");
      assert.match(
        await Deno.readTextFile(`${dir}/head.txt`),
        /^HTTP\/1\.1 200 OK\r\n(.+\r\n)+\r\n$/,
      );
      await Deno.remove(`${dir}/head.txt`);
    });
    await t.step("--output-dir: the file of -o or -O goes in it", async () => {
      await Deno.mkdir(`${dir}/out`);
      const named = await runCli(["--output-dir", "out", "-o", "f.txt", `${server.url}/o`], {
        cwd: dir,
      });
      assert.equal(named.code, 0, named.err);
      assert.equal(await Deno.readTextFile(`${dir}/out/f.txt`), "body of /o\n");
      const remote = await runCli(["--output-dir", `${dir}/out`, "-O", `${server.url}/r.txt`]);
      assert.equal(remote.code, 0, remote.err);
      assert.equal(await Deno.readTextFile(`${dir}/out/r.txt`), "body of /r.txt\n");
    });
    await t.step("a directory missing: exit 23, as curl; --create-dirs makes it", async () => {
      const missing = await runCli(["--output-dir", "new", "-o", "a/f.txt", `${server.url}/n`], {
        cwd: dir,
      });
      assert.equal(missing.code, EXIT_CODES.output, missing.err);
      assert.match(missing.err, /^netaccess: cannot write new\/a\/f\.txt: /);
      const made = await runCli([
        "--create-dirs",
        "--output-dir",
        "new",
        "-o",
        "a/f.txt",
        `${server.url}/n`,
      ], { cwd: dir });
      assert.equal(made.code, 0, made.err);
      assert.equal(await Deno.readTextFile(`${dir}/new/a/f.txt`), "body of /n\n");
      const empty = await runCli(["--create-dirs", "-I", "-o", `${dir}/e/h.txt`, server.url]);
      assert.equal(empty.code, 0, empty.err);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: --fail-with-body exits 22 and writes the body, as curl", async () => {
  await using server = startServer();
  const { code, out, err } = await runCli(["--fail-with-body", `${server.url}/missing`]);
  assert.equal(code, EXIT_CODES.httpError);
  assert.equal(out, "not here\n");
  assert.match(err, /^netaccess: GET .*\/missing returned HTTP 404 Not Found/);
  const ok = await runCli(["--fail-with-body", `${server.url}/x`]);
  assert.equal(ok.code, 0, ok.err);
  const both = await runCli(["-f", "--fail-with-body", `${server.url}/x`]);
  assert.equal(both.code, EXIT_CODES.usage);
  assert.match(both.err, /^netaccess: -f\/--fail writes no body .* give one of them/);
});

Deno.test("cli: --max-time is -m, as in curl", async () => {
  await using server = startServer();
  const { code, err } = await runCli(["--max-time", "0.3", `${server.url}/slow`]);
  assert.equal(code, EXIT_CODES.timeout, err);
  const bad = await runCli(["--max-time", "-1", `${server.url}/slow`]);
  assert.equal(bad.code, EXIT_CODES.usage);
  assert.match(
    bad.err,
    /^netaccess: --max-time takes a number of seconds \(0: no limit\), got "-1"/,
  );
});

Deno.test("cli: --retry-delay waits that long before each retry, as curl", async () => {
  await using server = startServer();
  const { code, out, err } = await runCli([
    "--retry",
    "2",
    "--retry-delay",
    "1",
    `${server.url}/flaky`,
  ]);
  assert.equal(code, 0, err);
  assert.equal(out, "at last\n");
  const [first, second, third] = server.tries;
  assert.equal(server.tries.length, 3);
  // The default backoff waits 0.3 s then 0.6 s, less with jitter.
  assert.ok(second! - first! >= 950, `first wait ${second! - first!} ms`);
  assert.ok(third! - second! >= 950, `second wait ${third! - second!} ms`);
  const bad = await runCli(["--retry-delay", "soon", server.url]);
  assert.equal(bad.code, EXIT_CODES.usage);
  assert.match(bad.err, /^netaccess: --retry-delay takes a number of seconds \(0: the backoff\)/);
});

Deno.test('cli: -H "Host: NAME" is told it is not sent, where curl sends it', async () => {
  await using server = startServer();
  const { code, out, err } = await runCli(["-H", "Host: example.org", `${server.url}/headers`]);
  assert.equal(code, 0, err);
  assert.equal(JSON.parse(out).host, new URL(server.url).host);
  assert.match(err, /^netaccess: warning: -H "Host: example.org" is not sent: Deno's fetch /);
});

Deno.test('cli: -x "" connects directly, whatever HTTP_PROXY says, as curl', async () => {
  await using proxy = serve((request) => new Response(`proxied ${request.url}\n`));
  const env = { HTTP_PROXY: proxy.url, http_proxy: proxy.url };
  const through = await runCli(["http://example.invalid/p"], { env });
  assert.equal(through.code, 0, through.err);
  assert.equal(through.out, "proxied http://example.invalid/p\n");
  const direct = await runCli(["-x", "", "http://example.invalid/p"], { env });
  assert.equal(direct.code, EXIT_CODES.hostNotFound, direct.err);
  assert.equal(direct.out, "");
});

Deno.test("cli: -X TRACE is refused, naming -x for a proxy, not the library's option", async () => {
  const { code, err } = await runCli(["-X", "TRACE", "http://127.0.0.1:9/"]);
  assert.notEqual(code, 0);
  assert.match(err, /does not send CONNECT, TRACE or TRACK \(to go through a proxy, give -x\)/);
  assert.doesNotMatch(err, /manager/);
});

Deno.test("cli: -x without a port: 1080, or 443 for https://, as curl", () => {
  const cases: [string, string][] = [
    ["proxy.test", "http://proxy.test:1080"],
    ["http://proxy.test", "http://proxy.test:1080"],
    ["http://proxy.test/", "http://proxy.test:1080"],
    ["socks5://proxy.test", "socks5://proxy.test:1080"],
    ["socks5h://u:p@proxy.test", "socks5h://proxy.test:1080"],
    ["[::1]", "http://[::1]:1080"],
    ["https://proxy.test", "https://proxy.test"],
    // A port given stays, the scheme's default one too.
    ["proxy.test:80", "http://proxy.test"],
    ["http://[::1]:80", "http://[::1]"],
    ["u:p@proxy.test:3128", "http://proxy.test:3128"],
    ["https://proxy.test:8443", "https://proxy.test:8443"],
  ];
  for (const [given, url] of cases) assert.equal(parseProxy(given).url, url, given);
});

Deno.test("cli: --noproxy LIST: its hosts bypass the proxy of -x or the environment, as curl", async (t) => {
  await using proxy = serve((request) =>
    new Response(`proxied ${new URL(request.url).pathname}\n`)
  );
  await using origin = serve((request) =>
    new Response(`direct ${new URL(request.url).pathname}\n`)
  );
  const url = `${origin.url}/p`;
  const cases: [string, string[], Record<string, string>, string][] = [
    ["-x, the host listed", ["-x", proxy.url, "--noproxy", "127.0.0.1"], {}, "direct"],
    ["-x, * for all", ["-x", proxy.url, "--noproxy", "*"], {}, "direct"],
    ["-x, in a list", ["-x", proxy.url, "--noproxy", "a.example, 127.0.0.1"], {}, "direct"],
    ["-x, other hosts", ["-x", proxy.url, "--noproxy", "a.example,127.0.0.2"], {}, "proxied"],
    ["HTTP_PROXY, the host listed", ["--noproxy", "127.0.0.1"], {
      http_proxy: proxy.url,
    }, "direct"],
    ["HTTP_PROXY, other hosts", ["--noproxy", "a.example"], { http_proxy: proxy.url }, "proxied"],
    ["it replaces NO_PROXY", ["--noproxy", "a.example"], {
      http_proxy: proxy.url,
      no_proxy: "127.0.0.1",
      NO_PROXY: "127.0.0.1",
    }, "proxied"],
    ["an empty list replaces it too", ["--noproxy", ""], {
      http_proxy: proxy.url,
      NO_PROXY: "*",
    }, "proxied"],
    ["-U goes with it", ["-x", proxy.url, "-U", "u:p", "--noproxy", "b.example"], {}, "proxied"],
  ];
  for (const [name, args, env, expected] of cases) {
    await t.step(name, async () => {
      const { code, out, err } = await runCli([...args, url], { env });
      assert.equal(code, 0, err);
      assert.equal(out, `${expected} /p\n`);
    });
  }
});

Deno.test("cli: -b and -c read and write curl's cookie files", async (t) => {
  await using server = serve((request) => {
    const url = new URL(request.url);
    if (url.pathname === "/set") {
      const headers = new Headers();
      headers.append("set-cookie", "a=1; Path=/");
      headers.append("set-cookie", "b=2; Path=/; HttpOnly; Max-Age=3600");
      return new Response("set\n", { headers });
    }
    if (url.pathname === "/tab") {
      const headers = new Headers();
      headers.append("set-cookie", "t\tab=v; Path=/");
      headers.append("set-cookie", "n=x\ty; Path=/");
      headers.append("set-cookie", "ok=1; Path=/");
      return new Response("tab\n", { headers });
    }
    if (url.pathname === "/nameless") {
      return new Response("nameless\n", { headers: { "set-cookie": "nameless" } });
    }
    return new Response(`${request.headers.get("cookie")}\n`);
  });
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  try {
    await t.step("-b NAME=VALUE is sent as a Cookie header", async () => {
      const { code, out, err } = await runCli(["-b", "k=v; k2=v2", `${server.url}/show`]);
      assert.equal(code, 0, err);
      assert.equal(out, "k=v; k2=v2\n");
    });
    await t.step("-b FILE sends the file's cookies for the URL; a bad line warns", async () => {
      const later = Math.floor(Date.now() / 1000) + 3600;
      await Deno.writeTextFile(
        `${dir}/in.txt`,
        [
          "# Netscape HTTP Cookie File",
          "",
          `127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\ts1`,
          `#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t${later}\tkept\tk1`,
          `127.0.0.1\tFALSE\t/\tFALSE\t1000\told\tgone`,
          `127.0.0.1\tFALSE\t/other\tFALSE\t0\telsewhere\tx`,
          `.example.com\tTRUE\t/\tFALSE\t0\tforeign\tx`,
          `127.0.0.1\tFALSE\t/\tFALSE\tsoon\tbad\tx`,
        ].join("\n"),
      );
      const { code, out, err } = await runCli(["-b", `${dir}/in.txt`, `${server.url}/show`]);
      assert.equal(code, 0, err);
      assert.deepEqual(out.trim().split("; ").sort(), ["kept=k1", "session=s1"]);
      assert.match(err, /^netaccess: warning: -b .*in\.txt, line 8 skipped: its expiry "soon" /);
    });
    await t.step("every -b counts, as curl: pairs joined by ; and files read", async () => {
      const pairs = await runCli(["-b", "a=1", "-b", "b=2", `${server.url}/show`]);
      assert.equal(pairs.code, 0, pairs.err);
      assert.equal(pairs.out, "a=1;b=2\n");
      await Deno.writeTextFile(`${dir}/one.txt`, "127.0.0.1\tFALSE\t/\tFALSE\t0\tfile\t1\n");
      await Deno.writeTextFile(`${dir}/two.txt`, "127.0.0.1\tFALSE\t/\tFALSE\t0\tother\t2\n");
      for (
        const args of [
          ["-b", "a=1", "-b", `${dir}/one.txt`],
          ["-b", `${dir}/one.txt`, "-b", "a=1"],
        ]
      ) {
        const both = await runCli([...args, `${server.url}/show`]);
        assert.equal(both.code, 0, both.err);
        assert.deepEqual(both.out.trim().split("; ").sort(), ["a=1", "file=1"], args.join(" "));
      }
      const files = await runCli(["-b", `${dir}/one.txt`, "-b", `${dir}/two.txt`, server.url]);
      assert.deepEqual(files.out.trim().split("; ").sort(), ["file=1", "other=2"]);
    });
    await t.step("-b FILE reads the lines curl reads: no path, far expiry, indents", async () => {
      await Deno.writeTextFile(
        `${dir}/old.txt`,
        [
          "  # an indented comment",
          "127.0.0.1\tFALSE\tFALSE\t0\tnopath\tv",
          "  127.0.0.1\tFALSE\t/\tFALSE\t99999999999999\tfar\t1",
          "127.0.0.1\tFALSE\t\t/\t\tFALSE\t0\ttabs\t2",
        ].join("\n"),
      );
      const { code, out, err } = await runCli([
        "-b",
        `${dir}/old.txt`,
        "-c",
        "-",
        `${server.url}/show`,
      ]);
      assert.equal(code, 0, err);
      assert.equal(err, "");
      const [sent, ...file] = out.split("\n");
      assert.deepEqual(sent!.split("; ").sort(), ["far=1", "nopath=v", "tabs=2"]);
      // The expiry a Date cannot hold is kept as the latest one it holds.
      assert.ok(file.includes("127.0.0.1\tFALSE\t/\tFALSE\t8640000000000\tfar\t1"), out);
      assert.ok(file.includes("127.0.0.1\tFALSE\t/\tFALSE\t0\tnopath\tv"), out);
    });
    await t.step("-b FILE reads a nameless cookie of -c back as it was", async () => {
      const set = await runCli(["-c", `${dir}/nameless.txt`, `${server.url}/nameless`]);
      assert.equal(set.code, 0, set.err);
      const text = await Deno.readTextFile(`${dir}/nameless.txt`);
      assert.ok(text.includes("127.0.0.1\tFALSE\t/\tFALSE\t0\t\tnameless\n"), text);
      const back = await runCli(["-b", `${dir}/nameless.txt`, `${server.url}/show`]);
      assert.equal(back.code, 0, back.err);
      assert.equal(back.out, "nameless\n");
      // A line of more than seven fields still has its runs of tabs read as one, as curl.
      await Deno.writeTextFile(
        `${dir}/runs.txt`,
        "127.0.0.1\tFALSE\t/\tFALSE\t0\t\tname\t\tvalue\n",
      );
      const runs = await runCli(["-b", `${dir}/runs.txt`, `${server.url}/show`]);
      assert.equal(runs.out, "name=value\n", runs.err);
      // Seven fields with the path left empty: the root's, as curl reads it.
      await Deno.writeTextFile(`${dir}/nopath.txt`, "127.0.0.1\tFALSE\t\tFALSE\t0\tempty\tx\n");
      const root = await runCli(["-b", `${dir}/nopath.txt`, `${server.url}/a/show`]);
      assert.equal(root.err, "");
      assert.equal(root.out, "empty=x\n");
    });
    await t.step(
      "-b FILE: spaces at either end of a value are dropped, as in Set-Cookie",
      async () => {
        await Deno.writeTextFile(
          `${dir}/spaces.txt`,
          "127.0.0.1\tFALSE\t/\tFALSE\t0\ttrail\tx \n127.0.0.1\tFALSE\t/\tFALSE\t0\tlead\t  y\n",
        );
        const { code, out, err } = await runCli(["-b", `${dir}/spaces.txt`, `${server.url}/show`]);
        assert.equal(code, 0, err);
        assert.equal(err, "");
        assert.deepEqual(out.trim().split("; ").sort(), ["lead=y", "trail=x"]);
      },
    );
    await t.step("-b FILE: an expiry past 2^63-1 seconds skips the line, as curl", async () => {
      await Deno.writeTextFile(
        `${dir}/huge.txt`,
        [
          "127.0.0.1\tFALSE\t/\tFALSE\t9223372036854775807\tlargest\t1",
          "127.0.0.1\tFALSE\t/\tFALSE\t9223372036854775808\tpast\t1",
        ].join("\n"),
      );
      const { code, out, err } = await runCli(["-b", `${dir}/huge.txt`, `${server.url}/show`]);
      assert.equal(code, 0, err);
      assert.equal(out, "largest=1\n");
      assert.match(
        err,
        /^netaccess: warning: -b .*huge\.txt, line 2 skipped: its expiry 9223372036854775808 is past the largest curl reads \(2\^63-1\)\n$/,
      );
    });
    await t.step("-c leaves out a cookie with a tab, which would break its line", async () => {
      const { code, out, err } = await runCli(["-c", "-", `${server.url}/tab`]);
      assert.equal(code, 0, err);
      const lines = out.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
      assert.deepEqual(lines, ["tab", "127.0.0.1\tFALSE\t/\tFALSE\t0\tok\t1"]);
      assert.match(
        err,
        /^netaccess: warning: -c: the cookie "t\\tab" for 127\.0\.0\.1 is left out/m,
      );
      assert.match(err, /^netaccess: warning: -c: the cookie "n" for 127\.0\.0\.1 is left out/m);
    });
    await t.step("-c FILE writes the run's cookies as curl does; -b reads them back", async () => {
      const set = await runCli([
        "-b",
        `${dir}/none.txt`,
        "-c",
        `${dir}/jar.txt`,
        `${server.url}/set`,
      ]);
      assert.equal(set.code, 0, set.err);
      const lines = (await Deno.readTextFile(`${dir}/jar.txt`)).split("\n");
      assert.equal(lines[0], "# Netscape HTTP Cookie File");
      assert.ok(lines.includes("127.0.0.1\tFALSE\t/\tFALSE\t0\ta\t1"), lines.join("\n"));
      assert.ok(
        lines.some((line) => /^#HttpOnly_127\.0\.0\.1\tFALSE\t\/\tFALSE\t\d{10}\tb\t2$/.test(line)),
        lines.join("\n"),
      );
      const back = await runCli(["-b", `${dir}/jar.txt`, `${server.url}/show`]);
      assert.deepEqual(back.out.trim().split("; ").sort(), ["a=1", "b=2"]);
      const stdout = await runCli(["-s", "-c", "-", `${server.url}/set`]);
      assert.match(stdout.out, /^set\n# Netscape HTTP Cookie File\n/);
    });
    await t.step("with -b FILE or -c, the state's cookies are left alone", async () => {
      const state = `${dir}/state.sqlite3`;
      const stored = await runCli([`${server.url}/set`], { state });
      assert.equal(stored.code, 0, stored.err);
      const own = await runCli(["-b", `${dir}/none.txt`, `${server.url}/show`], { state });
      assert.equal(own.out, "null\n");
      const kept = await runCli([`${server.url}/show`], { state });
      assert.deepEqual(kept.out.trim().split("; ").sort(), ["a=1", "b=2"]);
    });
    await t.step(
      "-b FILE that cannot be read is no cookies, as curl: told with -v only",
      async () => {
        await Deno.mkdir(`${dir}/folder`);
        const { code, out, err } = await runCli(["-b", `${dir}/folder`, `${server.url}/show`]);
        assert.equal(code, 0, err);
        assert.equal(out, "null\n");
        assert.equal(err, "");
        const told = await runCli(["-v", "-b", `${dir}/folder`, `${server.url}/show`]);
        assert.equal(told.code, 0, told.err);
        assert.match(told.err, /^\* cookies: the -b file .*folder cannot be read, none from it: /);
      },
    );
    await t.step("--no-cookies with -b or -c is refused", async () => {
      const both = await runCli(["--no-cookies", "-c", `${dir}/x.txt`, server.url]);
      assert.equal(both.code, EXIT_CODES.usage);
      assert.match(both.err, /^netaccess: --no-cookies sends and stores none: drop -c/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: -H @FILE adds a file's header lines and -e sets the Referer, as curl", async () => {
  await using server = startServer();
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  try {
    await Deno.writeTextFile(`${dir}/headers.txt`, "X-One: 1\r\nX-Empty;\n\nAccept: text/x\n");
    const { code, out, err } = await runCli([
      "-H",
      `@${dir}/headers.txt`,
      "-e",
      "https://from.example/",
      `${server.url}/headers`,
    ]);
    assert.equal(code, 0, err);
    const seen = JSON.parse(out);
    assert.equal(seen["x-one"], "1");
    assert.equal(seen["x-empty"], "");
    assert.equal(seen.accept, "text/x");
    assert.equal(seen.referer, "https://from.example/");
    const stdin = await runCli(["-H", "@-", `${server.url}/headers`], { stdin: "X-In: yes\n" });
    assert.equal(JSON.parse(stdin.out)["x-in"], "yes");
    const auto = await runCli(["-e", "https://from.example/;auto", `${server.url}/headers`]);
    assert.equal(JSON.parse(auto.out).referer, "https://from.example/");
    assert.match(auto.err, /^netaccess: warning: -e ".*;auto": ";auto" .* is not supported/);
    const missing = await runCli(["-H", `@${dir}/none.txt`, server.url]);
    assert.equal(missing.code, EXIT_CODES.content, "26, as curl 8.3 and later");
    assert.match(missing.err, /^netaccess: Cannot read the -H file .*none\.txt: /);
    // A line of the file that is no header is told by its FILE:LINE, as in a -K file.
    await Deno.writeTextFile(`${dir}/bad.txt`, "X-One: 1\n\nnot a header\n");
    const bad = await runCli(["-H", `@${dir}/bad.txt`, server.url]);
    assert.equal(bad.code, EXIT_CODES.usage);
    assert.match(
      bad.err,
      /^netaccess: .*bad\.txt:3: -H takes "Name: value" .*got "not a header"\n/,
    );
    const invalid = await runCli(["-H", "@-", server.url], { stdin: "X-A: 1\nBad Name: 2\n" });
    assert.equal(invalid.code, EXIT_CODES.usage);
    assert.match(invalid.err, /^netaccess: stdin:2: -H "Bad Name: 2" is not a valid header\n/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: -OJ names the file after Content-Disposition, never overwriting, as curl", async () => {
  await using server = serve((request) => {
    const disposition = new URL(request.url).searchParams.get("cd");
    return new Response(
      `body ${disposition}\n`,
      disposition === null ? {} : { headers: { "content-disposition": disposition } },
    );
  });
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  const get = (disposition: string | null, ...args: string[]) =>
    runCli([
      ...args,
      "-OJ",
      `${server.url}/from-url.txt${
        disposition === null ? "" : `?cd=${encodeURIComponent(disposition)}`
      }`,
    ], { cwd: dir });
  try {
    const plain = await get('attachment; filename="../up/report 1.txt"');
    assert.equal(plain.code, 0, plain.err);
    assert.equal(
      await Deno.readTextFile(`${dir}/report 1.txt`),
      'body attachment; filename="../up/report 1.txt"\n',
    );
    const extended = await get(`attachment; filename*=UTF-8''na%C3%AFve.txt; filename="x.txt"`);
    assert.equal(extended.code, 0, extended.err);
    assert.ok((await Deno.stat(`${dir}/naïve.txt`)).isFile);
    const none = await get(null);
    assert.equal(none.code, 0, none.err);
    assert.equal(await Deno.readTextFile(`${dir}/from-url.txt`), "body null\n");
    const again = await get('attachment; filename="report 1.txt"');
    assert.equal(again.code, EXIT_CODES.output);
    assert.match(again.err, /^netaccess: cannot write report 1\.txt: /);
    assert.equal(
      await Deno.readTextFile(`${dir}/report 1.txt`),
      'body attachment; filename="../up/report 1.txt"\n',
      "not overwritten",
    );
    await Deno.mkdir(`${dir}/out`);
    const inDir = await get("attachment; filename=in.txt", "--output-dir", "out");
    assert.equal(inDir.code, 0, inDir.err);
    assert.ok((await Deno.stat(`${dir}/out/in.txt`)).isFile);
    // With -o and -O mixed, -J names the files of -O alone, as curl.
    const mixed = await runCli([
      "-J",
      "-o",
      "given.txt",
      "-O",
      `${server.url}/a.txt?cd=${encodeURIComponent("attachment; filename=a-cd.txt")}`,
      `${server.url}/b.txt?cd=${encodeURIComponent("attachment; filename=b-cd.txt")}`,
    ], { cwd: dir });
    assert.equal(mixed.code, 0, mixed.err);
    assert.equal(
      await Deno.readTextFile(`${dir}/given.txt`),
      "body attachment; filename=a-cd.txt\n",
    );
    assert.ok((await Deno.stat(`${dir}/b-cd.txt`)).isFile);
    const alone = await runCli(["-J", server.url]);
    assert.equal(alone.code, EXIT_CODES.usage);
    assert.match(alone.err, /^netaccess: -J names the file of -O: add -O/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: stdin goes to the first option that reads it, the next find it empty, as curl", async () => {
  await using server = serve(async (request) =>
    Response.json({
      xa: request.headers.get("x-a"),
      length: request.headers.get("content-length"),
      body: await request.text(),
    })
  );
  const twice = await runCli(["-d", "@-", "-d", "@-", server.url], { stdin: "a=1" });
  assert.equal(twice.code, 0, twice.err);
  assert.equal(JSON.parse(twice.out).body, "a=1&");
  const headers = await runCli(["-H", "@-", "-T", "-", server.url], { stdin: "X-A: 1\n" });
  assert.equal(headers.code, 0, headers.err);
  assert.deepEqual(JSON.parse(headers.out), { xa: "1", length: "0", body: "" });
  const format = await runCli(["-w", "@-", "-T", "-", server.url], { stdin: "|%{http_code}" });
  assert.equal(format.code, 0, format.err);
  assert.match(format.out, /\|200$/);
});

Deno.test("cli: -T - with -L: a redirect that sends the body again says to give -T FILE", async () => {
  await using server = serve(async (request) => {
    await request.body?.cancel();
    return new URL(request.url).pathname === "/moved"
      ? new Response(null, { status: 307, headers: { location: "/there" } })
      : new Response("there\n");
  });
  const { code, err } = await runCli(["-L", "-T", "-", `${server.url}/moved`], { stdin: "x" });
  assert.equal(code, EXIT_CODES.content, err);
  assert.match(
    err,
    /Cannot follow the 307 redirect .*\(-T - or a pipe is sent as it is read, once: .*-T FILE\)\n$/,
  );
});

Deno.test("cli: -i shows an HTTP error response with an empty body; -o still makes its file", async () => {
  await using server = serve(() => new Response(null, { status: 404 }));
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  try {
    const shown = await runCli(["-i", `${server.url}/gone`]);
    assert.equal(shown.code, 0, shown.err);
    assert.match(shown.out, /^HTTP\/1\.1 404 Not Found\r\n(.+\r\n)*\r\n$/);
    const saved = await runCli(["-i", "-o", `${dir}/head.txt`, `${server.url}/gone`]);
    assert.equal(saved.code, 0, saved.err);
    assert.match(await Deno.readTextFile(`${dir}/head.txt`), /^HTTP\/1\.1 404 Not Found\r\n/);
    const empty = await runCli(["-o", `${dir}/empty.txt`, `${server.url}/gone`]);
    assert.equal(empty.code, 0, empty.err);
    assert.equal(await Deno.readTextFile(`${dir}/empty.txt`), "");
    const failing = await runCli(["-f", "-o", `${dir}/failed.txt`, `${server.url}/gone`]);
    assert.equal(failing.code, EXIT_CODES.httpError);
    await assert.rejects(Deno.stat(`${dir}/failed.txt`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: -U gives the credentials of the proxy of -x, over those of its URL, as curl", async () => {
  await using server = serve(() => new Response("through\n"));
  await using proxy = startProxyServer({ auth: { username: "pat", password: "s:cret" } });
  const { code, out, err } = await runCli(["-x", proxy.url, "-U", "pat:s:cret", server.url]);
  assert.equal(code, 0, err);
  assert.equal(out, "through\n");
  assert.equal(proxy.log.at(-1)!.proxyAuthorization, `Basic ${btoa("pat:s:cret")}`);
  // As curl: the 407 of an http: URL's proxy is an answer, an error with -f only.
  const wrong = await runCli(["-x", proxy.url, "-U", "pat:nope", server.url]);
  assert.equal(wrong.code, 0, wrong.err);
  assert.equal(wrong.err, "");
  const failing = await runCli(["-f", "-x", proxy.url, "-U", "pat:nope", server.url]);
  assert.equal(failing.code, EXIT_CODES.httpError, failing.err);
  assert.equal(
    failing.err,
    `netaccess: GET ${server.url}/ returned HTTP 407 Proxy Authentication Required ` +
      "(the proxy refused the credentials of -U: check them)\n",
  );
});
