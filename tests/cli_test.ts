import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { cliCommand, runCli, scriptAvailable, underTerminal } from "./_helpers/cli.ts";
import { pause, serve } from "./_helpers/server.ts";
import { startProxyServer } from "./_helpers/proxy_server.ts";
import { hasOpenssl, makeTestCertificates, serveMutualTls } from "./_helpers/tls.ts";
import { EXIT_CODES } from "../src/cli.ts";
import { openState } from "../src/cli/_state.ts";
import type { Plan } from "../src/cli/_args.ts";
import { lockedThenOpen, withOpenKv } from "./_helpers/kv_spy.ts";

const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A loopback server with the routes the tests use, counting requests per path. */
function startServer() {
  const hits = new Map<string, number>();
  let active = 0;
  let peak = 0;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const server = serve(async (request) => {
    const url = new URL(request.url);
    const path = url.pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    switch (path) {
      case "/bytes":
        return new Response(Uint8Array.from({ length: 256 }, (_, i) => i));
      case "/text":
        return new Response("hello\n");
      case "/echo": {
        const type = request.headers.get("content-type") ?? "";
        let form: Record<string, string> | undefined;
        let body = "";
        if (type.startsWith("multipart/form-data")) {
          form = {};
          for (const [name, value] of await request.formData()) {
            form[name] = typeof value === "string"
              ? value
              : `${value.name}:${value.type}:${await value.text()}`;
          }
        } else body = await request.text();
        return Response.json({
          method: request.method,
          headers: Object.fromEntries(request.headers),
          body,
          form,
        });
      }
      case "/a":
        return Response.redirect(new URL("/b", url), 302);
      case "/moved":
        return Response.redirect(new URL("/echo", url), 307);
      case "/b":
        return Response.redirect(new URL("/c", url), 301);
      case "/c":
        return new Response("end of the chain\n");
      case "/login":
        return new Response("welcome\n", {
          headers: { "set-cookie": "session=s3cret; Path=/; Max-Age=3600; HttpOnly" },
        });
      case "/me":
        return new Response(`${request.headers.get("cookie") ?? "anonymous"}\n`);
      case "/fresh":
        return new Response(`fresh ${hits.get(path)}\n`, {
          headers: { "cache-control": "max-age=600" },
        });
      case "/validate":
        if (request.headers.get("if-none-match") === '"v1"') {
          return new Response(null, { status: 304, headers: { etag: '"v1"' } });
        }
        return new Response("validated body\n", {
          headers: { "cache-control": "no-cache", etag: '"v1"' },
        });
      case "/nostore":
        return new Response("secret\n", { headers: { "cache-control": "no-store" } });
      case "/slow":
        await pause(4000, request.signal);
        return new Response("late\n");
      case "/stall": {
        let id: ReturnType<typeof setTimeout> | undefined;
        return new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(encoder.encode("first bytes, then nothing"));
              id = setTimeout(() => controller.close(), 4000);
              timers.add(id);
            },
            cancel() {
              clearTimeout(id);
            },
          }),
        );
      }
      case "/flaky":
        return (hits.get(path) ?? 0) <= 2
          ? new Response("busy\n", { status: 503 })
          : new Response("finally\n");
      case "/auth": {
        const expected = `Basic ${btoa("bob:pa ss")}`;
        const size = (await request.bytes()).byteLength;
        if (request.headers.get("authorization") === expected) {
          return new Response(size ? `hi bob, ${size} bytes\n` : "hi bob\n");
        }
        return new Response("who?\n", {
          status: 401,
          headers: { "www-authenticate": 'Basic realm="test"' },
        });
      }
      case "/missing":
        return new Response("no such page\n", { status: 404 });
      case "/bad":
        return new Response("bad request\n", { status: 400 });
      case "/teapot":
        return new Response("short and stout\n", { status: 418 });
      case "/empty.txt":
        return new Response(null, { status: 200 });
      default:
        if (path.startsWith("/files/") || path === "/paced") {
          active++;
          peak = Math.max(peak, active);
          const chunks = Number(url.searchParams.get("chunks") ?? 4);
          const size = 8192;
          let sent = 0;
          return new Response(
            new ReadableStream({
              async pull(controller) {
                if (sent === chunks) {
                  active--;
                  controller.close();
                  return;
                }
                await sleep(Number(url.searchParams.get("pace") ?? 60));
                controller.enqueue(new Uint8Array(size).fill(0x61 + (sent % 26)));
                sent++;
              },
              cancel() {
                active--;
              },
            }),
            { headers: { "content-length": String(chunks * size) } },
          );
        }
        return new Response("not found\n", { status: 404 });
    }
  });
  return {
    url: server.url,
    hits,
    get peak() {
      return peak;
    },
    async close() {
      for (const id of timers) clearTimeout(id);
      await server.close();
    },
  };
}

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "netaccess_cli_" });
}

Deno.test("cli: --help, --version and bad arguments", async (t) => {
  await t.step("--help lists every option and exits 0", async () => {
    const { code, out } = await runCli(["--help"]);
    assert.equal(code, 0);
    for (
      const option of [
        "--request",
        "--header",
        "--data",
        "--data-binary",
        "--json",
        "--form",
        "--output",
        "--remote-name",
        "--head",
        "--include",
        "--location",
        "--max-redirs",
        "--redirect-policy",
        "--proxy",
        "--user",
        "--state",
        "--no-cache",
        "--offline",
        "--no-cookies",
        "--timeout",
        "--transfer-timeout",
        "--retry",
        "--retry-max-time",
        "--resolve",
        "--post301",
        "--post302",
        "--post303",
        "--config",
        "--url",
        "--no-OPTION",
        "--netrc",
        "--netrc-optional",
        "--netrc-file",
        "--parallel",
        "--verbose",
        "--silent",
        "--show-error",
        "--fail",
        "--progress",
        "--cacert",
        "--cert",
        "--key",
        "--user-agent",
        "--compressed",
        "--write-out",
        "--dump-header",
        "--connect-timeout",
        "--location-trusted",
        "--max-time",
        "--fail-with-body",
        "--output-dir",
        "--create-dirs",
        "--retry-delay",
        "--cookie",
        "--cookie-jar",
        "--remote-header-name",
        "--referer",
        "--proxy-user",
      ]
    ) assert.match(out, new RegExp(`${option}\\b`), option);
    assert.match(out, /no -k\/--insecure/);
    assert.match(out, /Short options go together, as in curl: -sS, -sLo FILE, -sK FILE/);
  });
  await t.step("-q/--disable, curl's switch off of ~/.curlrc, is taken: none is read", async () => {
    const server = startServer();
    try {
      for (const args of [["-q"], ["--disable"], ["-qs"]]) {
        const { code, out, err } = await runCli([...args, `${server.url}/text`]);
        assert.equal(code, 0, `${args}: ${err}`);
        assert.equal(out, "hello\n");
      }
    } finally {
      await server.close();
    }
  });
  await t.step("--version prints the package version", async () => {
    const { code, out } = await runCli(["--version"]);
    assert.equal(code, 0);
    assert.match(out, new RegExp(`^netaccess ${denoJson.version.replaceAll(".", "\\.")} `));
  });
  const bad: [string[], RegExp][] = [
    [[], /no URL given/],
    [["--bogus", "http://x.test/"], /Unknown option '--bogus'/],
    [["-X", "BAD@", "http://x.test/"], /-X takes an HTTP method, got "BAD@"/],
    [["--retry", "two", "http://x.test/"], /--retry takes a whole number .*"two"/],
    [["--retry", "-1", "http://x.test/"], /^netaccess: --retry takes a whole number .*"-1"$/],
    [["--max-redirs", "-2", "http://x.test/"], /--max-redirs takes a whole number .*"-2"$/],
    [
      ["-m", "-2", "http://x.test/"],
      /^netaccess: -m takes a number of seconds \(0: no limit\), got "-2"$/,
    ],
    [["--retry", "-v", "http://x.test/"], /--retry takes a whole number .*"-v"$/],
    [["-d", "a", "-F", "b=c", "http://x.test/"], /-d and -F each choose the request.s method/],
    [["--timeout", "", "http://x.test/"], /--timeout takes a number of seconds \(0: no limit\)/],
    [["--connect-timeout", "-1", "http://x.test/"], /--connect-timeout takes a number .*"-1"$/],
    [["--user-agent"], /Option '-A, --user-agent <value>' argument missing/],
    [["--redirect-policy", "always", "http://x.test/"], /--redirect-policy takes manual, /],
    [["-H", "no colon", "http://x.test/"], /-H takes "Name: value" \("Name;" for an empty/],
    [["--parallel", "2", "http://x.test/1", "http://x.test/2"], /give an -o or -O for each URL/],
    [["--key", "k.pem", "http://x.test/"], /--key is the private key .* give --cert FILE$/],
    [["-x", "ftp://p.test", "http://x.test/"], /proxy scheme "ftp" is not supported/],
    // The credentials of a malformed proxy URL are not echoed back.
    [["-x", "http://bob:s3cret@[oops", "http://x.test/"], /got "http:\/\/\*\*\*@\[oops"$/],
    [["-x", "http://bob:s3%zz@p.test", "http://x.test/"], /-x: .*percent-encoding/],
    [["-O", "http://x.test/"], /has none: use -o FILE/],
    [["-O", "http://x.test/..%2Fup.txt"], /names "\.\.\/up\.txt", which is not a plain file name/],
    [["-O", "http://x.test/a%5Cb"], /names "a\\\\b", which is not a plain file name/],
    [["-O", "http://x.test/bad%E0"], /not valid percent-encoding \("bad%E0"\): use -o FILE/],
    [["-u", "me:pw", "-O", "http://x.test/"], /and http:\/\/x\.test\/ has none/],
    [["-k", "https://x.test/"], /Deno has no per-client switch .* --cacert FILE/],
  ];
  for (const [args, message] of bad) {
    await t.step(`${args.join(" ") || "(nothing)"}: one line and the usage, exit 2`, async () => {
      const { code, err, out } = await runCli(args);
      assert.equal(code, EXIT_CODES.usage, err);
      assert.equal(out, "");
      const lines = err.trimEnd().split("\n");
      assert.equal(lines.length, 2, err);
      assert.match(lines[0]!, message);
      assert.match(lines[1]!, /^usage: netaccess \[options\] URL\.\.\./);
    });
  }
});

Deno.test("cli: bodies, files, methods and headers", async (t) => {
  const server = startServer();
  const dir = await tempDir();
  try {
    await t.step("the body goes to stdout, binary-safe", async () => {
      const { code, stdout } = await runCli([`${server.url}/bytes`]);
      assert.equal(code, 0);
      assert.deepEqual(stdout, Uint8Array.from({ length: 256 }, (_, i) => i));
    });
    await t.step("-o writes a file, -O one named after the URL", async () => {
      const file = `${dir}/out.bin`;
      const saved = await runCli(["-o", file, `${server.url}/bytes`]);
      assert.equal(saved.code, 0);
      assert.equal(saved.out, "");
      assert.equal((await Deno.readFile(file)).byteLength, 256);
      const named = await runCli(["-O", `${server.url}/files/x.bin?chunks=2&pace=1`], {
        cwd: dir,
      });
      assert.equal(named.code, 0, named.err);
      assert.equal((await Deno.readFile(`${dir}/x.bin`)).byteLength, 16384);
      const empty = await runCli(["-O", `${server.url}/empty.txt`], { cwd: dir });
      assert.equal(empty.code, 0, empty.err);
      assert.equal((await Deno.readFile(`${dir}/empty.txt`)).byteLength, 0);
    });
    await t.step("-X and -H", async () => {
      const { code, out } = await runCli([
        "-X",
        "PATCH",
        "-H",
        "X-One: 1",
        "-H",
        "Accept: text/plain",
        `${server.url}/echo`,
      ]);
      assert.equal(code, 0);
      const echo = JSON.parse(out);
      assert.equal(echo.method, "PATCH");
      assert.equal(echo.headers["x-one"], "1");
      assert.equal(echo.headers.accept, "text/plain");
    });
    await t.step('as in curl, -H "Name;" sends it empty, -H "Name:" sends none', async () => {
      const empty = await runCli([
        "-H",
        "X-Empty;",
        "-H",
        "X-Gone: 1",
        "-H",
        "X-Gone:",
        `${server.url}/echo`,
      ]);
      assert.equal(empty.code, 0, empty.err);
      assert.equal(empty.err, "");
      const echo = JSON.parse(empty.out);
      assert.equal(echo.headers["x-empty"], "");
      assert.equal("x-gone" in echo.headers, false);
      const untyped = await runCli(["-d", "a=1", "-H", "Content-Type:", `${server.url}/echo`]);
      const posted = JSON.parse(untyped.out);
      assert.equal(posted.body, "a=1");
      assert.equal("content-type" in posted.headers, false, "-d sets no type of its own then");
      const json = JSON.parse(
        (await runCli(["--json", "{}", "-H", "Accept:", `${server.url}/echo`])).out,
      );
      assert.notEqual(json.headers.accept, "application/json");
      assert.notEqual(json.headers.accept, "", "never an empty Accept");
      const anonymous = await runCli([
        "-u",
        "bob:pw",
        "-H",
        "Authorization:",
        `${server.url}/echo`,
      ]);
      assert.equal("authorization" in JSON.parse(anonymous.out).headers, false);
    });
    await t.step('-H "User-Agent:" warns that Deno sends one anyway', async () => {
      const { code, out, err } = await runCli(["-H", "User-Agent:", `${server.url}/echo`]);
      assert.equal(code, 0, err);
      assert.match(JSON.parse(out).headers["user-agent"], /^Deno\//);
      assert.match(err, /^netaccess: warning: -H "User-Agent:": User-Agent cannot be left out/);
      assert.equal(err.trim().split("\n").length, 1, err);
    });
    await t.step("-d text (POST, form type), several -d joined by &", async () => {
      const { out } = await runCli(["-d", "a=1", "-d", "b=2", `${server.url}/echo`]);
      const echo = JSON.parse(out);
      assert.equal(echo.method, "POST");
      assert.equal(echo.body, "a=1&b=2");
      assert.equal(echo.headers["content-type"], "application/x-www-form-urlencoded");
    });
    await t.step("-d @file and -d @- (stdin), without their line breaks as in curl", async () => {
      await Deno.writeTextFile(`${dir}/payload.txt`, "from a file\r\nline two\n");
      const fromFile = JSON.parse(
        (await runCli(["-d", `@${dir}/payload.txt`, `${server.url}/echo`])).out,
      );
      assert.equal(fromFile.body, "from a fileline two");
      const fromStdin = JSON.parse(
        (await runCli(["-X", "PUT", "-d", "@-", `${server.url}/echo`], {
          stdin: "piped\nin\r\n",
        }))
          .out,
      );
      assert.equal(fromStdin.method, "PUT");
      assert.equal(fromStdin.body, "pipedin");
      const joined = JSON.parse(
        (await runCli(["-d", "a=1\n", "-d", `@${dir}/payload.txt`, `${server.url}/echo`])).out,
      );
      assert.equal(joined.body, "a=1\n&from a fileline two", "text keeps its line breaks");
      const json = JSON.parse(
        (await runCli(["--json", `@${dir}/payload.txt`, `${server.url}/echo`])).out,
      );
      assert.equal(json.body, "from a file\r\nline two\n", "--json keeps them");
      const binary = await runCli(["--data-binary", `@${dir}/payload.txt`, `${server.url}/echo`]);
      const echoed = JSON.parse(binary.out);
      assert.equal(echoed.body, "from a file\r\nline two\n", "--data-binary keeps them");
      assert.equal(echoed.method, "POST");
      assert.equal(echoed.headers["content-type"], "application/x-www-form-urlencoded");
      const binaryStdin = await runCli(["--data-binary", "@-", `${server.url}/echo`], {
        stdin: "a\nb\n",
      });
      assert.equal(JSON.parse(binaryStdin.out).body, "a\nb\n");
      // As curl 8.3 and later (older curl sent an empty body): a file that cannot be read
      // exits 26.
      for (const option of ["-d", "--data-binary", "--json"]) {
        const missing = await runCli([option, `@${dir}/nope`, `${server.url}/echo`]);
        assert.equal(missing.code, EXIT_CODES.content, `${option}: ${missing.err}`);
        assert.match(missing.err, /^netaccess: Cannot read the --[a-z-]+ file .*nope: /);
      }
      const encoded = await runCli(["--data-urlencode", `a@${dir}/nope`, `${server.url}/echo`]);
      assert.equal(encoded.code, EXIT_CODES.content, encoded.err);
      assert.match(encoded.err, /^netaccess: Cannot read the --data-urlencode file .*nope: /);
    });
    await t.step("--json sets the JSON types", async () => {
      const echo = JSON.parse((await runCli(["--json", '{"a":1}', `${server.url}/echo`])).out);
      assert.equal(echo.method, "POST");
      assert.equal(echo.body, '{"a":1}');
      assert.equal(echo.headers["content-type"], "application/json");
      assert.equal(echo.headers.accept, "application/json");
    });
    await t.step("-F fields, files with a type, and <file contents", async () => {
      await Deno.writeTextFile(`${dir}/note.txt`, "file body");
      const echo = JSON.parse(
        (await runCli([
          "-F",
          "name=pen",
          "-F",
          `upload=@${dir}/note.txt;type=text/plain`,
          "-F",
          `inline=<${dir}/note.txt`,
          `${server.url}/echo`,
        ])).out,
      );
      assert.equal(echo.method, "POST");
      assert.deepEqual(echo.form, {
        name: "pen",
        upload: "note.txt:text/plain:file body",
        inline: "file body",
      });
    });
    await t.step("-F @FILE and <FILE that cannot be read exit 26, as curl", async () => {
      for (const field of [`upload=@${dir}/nope`, `inline=<${dir}/nope`]) {
        const missing = await runCli(["-F", field, `${server.url}/echo`]);
        assert.equal(missing.code, EXIT_CODES.content, `${field}: ${missing.err}`);
        assert.match(missing.err, /^netaccess: Cannot read the -F file .*nope: /);
      }
    });
    await t.step("-I prints the status line and headers, no body", async () => {
      const { code, out } = await runCli(["-I", `${server.url}/text`]);
      assert.equal(code, 0);
      assert.match(out, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(out, /content-length: 6\r\n/);
      assert.doesNotMatch(out, /hello/);
    });
    await t.step("-i writes the status line and headers before the body", async () => {
      const { code, out, err } = await runCli(["-i", `${server.url}/text`]);
      assert.equal(code, 0, err);
      assert.match(
        out,
        /^HTTP\/1\.1 200 OK\r\n(.+\r\n)*content-length: 6\r\n(.+\r\n)*\r\nhello\n$/,
      );
      const empty = await runCli(["-i", "-o", `${dir}/empty.head`, `${server.url}/empty.txt`]);
      assert.equal(empty.code, 0, empty.err);
      assert.match(
        await Deno.readTextFile(`${dir}/empty.head`),
        /^HTTP\/1\.1 200 OK\r\n.*\r\n\r\n$/s,
      );
    });
    await t.step("--fail: exit 22 and no body on an HTTP error; without it, the body", async () => {
      const plain = await runCli([`${server.url}/missing`]);
      assert.equal(plain.code, 0);
      assert.equal(plain.out, "no such page\n");
      const failing = await runCli(["--fail", `${server.url}/missing`]);
      assert.equal(failing.code, EXIT_CODES.httpError);
      assert.equal(failing.out, "");
      // The status line tells it, as curl's "The requested URL returned error: 404".
      assert.equal(
        failing.err,
        `netaccess: GET ${server.url}/missing returned HTTP 404 Not Found\n`,
      );
      // Every HTTP error status, whatever error code it maps to (400 is a protocol error, 418
      // unknown content): curl's 0 without --fail, 22 with it.
      for (const [path, body] of [["/bad", "bad request\n"], ["/teapot", "short and stout\n"]]) {
        const shown = await runCli([`${server.url}${path}`]);
        assert.equal(shown.code, 0, `${path}: ${shown.err}`);
        assert.equal(shown.out, body);
        const refused = await runCli(["--fail", `${server.url}${path}`]);
        assert.equal(refused.code, EXIT_CODES.httpError, `${path}: ${refused.err}`);
        assert.equal(refused.out, "");
      }
    });
    await t.step("as in curl, -s keeps failures quiet and -sS tells them", async () => {
      const quiet = await runCli(["-s", "--fail", `${server.url}/missing`]);
      assert.equal(quiet.code, EXIT_CODES.httpError);
      assert.equal(quiet.err, "");
      const told = await runCli(["-sS", "--fail", `${server.url}/missing`]);
      assert.equal(told.code, EXIT_CODES.httpError);
      assert.match(told.err, /^netaccess: GET .* returned HTTP 404 Not Found/);
      assert.equal(told.err.trim().split("\n").length, 1);
      const unreadable = await runCli(["-s", "-d", `@${dir}/nope`, `${server.url}/echo`]);
      assert.equal(unreadable.code, EXIT_CODES.content);
      assert.equal(unreadable.err, "");
      const bad = await runCli(["-s", "--bogus", `${server.url}/text`]);
      assert.equal(bad.code, EXIT_CODES.usage);
      assert.match(
        bad.err,
        /^netaccess: Unknown option '--bogus'\nusage: /,
        "bad arguments are told",
      );
    });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: redirects, verbose output, credentials and proxies", async (t) => {
  const server = startServer();
  try {
    await t.step("without -L a redirect is the answer, as in curl", async () => {
      const { code, out, err } = await runCli([`${server.url}/a`]);
      assert.equal(code, 0, err);
      assert.equal(out, "");
      assert.equal(err, "");
      assert.equal(server.hits.get("/b"), undefined);
      const head = await runCli(["-I", `${server.url}/a`]);
      assert.match(head.out, /^HTTP\/1\.1 302 Found\r\n/);
      assert.match(head.out, /\r\nlocation: http:\/\/127\.0\.0\.1:\d+\/b\r\n/);
    });
    await t.step("-L follows; -v shows every hop", async () => {
      const { code, out, err } = await runCli(["-L", "-v", `${server.url}/a`]);
      assert.equal(code, 0);
      assert.equal(out, "end of the chain\n");
      // As curl: the request line and the status line name the HTTP version.
      assert.match(
        err,
        /^> GET \/a HTTP\/1\.1\n> host: 127\.0\.0\.1:\d+\n(> .+\n)*>\n< HTTP\/1\.1 302 Found\n(< .+\n)*< location: .*\/b\n(< .+\n)*<\n/m,
      );
      assert.match(err, /\* redirect 302 to http:\/\/127\.0\.0\.1:\d+\/b \(hop 1\)/);
      assert.match(err, /\* redirect 301 to http:\/\/127\.0\.0\.1:\d+\/c \(hop 2\)/);
      assert.match(err, /^> GET \/c HTTP\/1\.1\n/m);
      assert.match(err, /^< HTTP\/1\.1 200 OK\n/m);
    });
    await t.step("--max-redirs and --redirect-policy", async () => {
      const limited = await runCli(["-L", "--max-redirs", "1", `${server.url}/a`]);
      assert.equal(limited.code, EXIT_CODES.tooManyRedirects, limited.err);
      assert.match(limited.err, /redirect/i);
      const manual = await runCli(["--redirect-policy", "manual", "-I", `${server.url}/a`]);
      assert.equal(manual.code, 0, manual.err);
      assert.match(manual.out, /^HTTP\/1\.1 302 Found/);
    });
    await t.step("-u user:password answers a Basic challenge", async () => {
      const { code, out } = await runCli(["-u", "bob:pa ss", `${server.url}/auth`]);
      assert.equal(code, 0);
      assert.equal(out, "hi bob\n");
      const wrong = await runCli(["--fail", "-u", "bob:nope", `${server.url}/auth`]);
      assert.equal(wrong.code, EXIT_CODES.httpError);
      assert.match(wrong.err, /-u USER/);
      const asking = await runCli(["-u", "bob", `${server.url}/auth`]);
      assert.equal(asking.code, EXIT_CODES.usage);
      assert.match(asking.err, /stdin is not a terminal .*-u bob:PASSWORD/);
    });
    await t.step(
      "an upload is sent again for a 307 and for a challenge, with progress",
      async () => {
        const dir = await tempDir();
        try {
          await Deno.writeFile(`${dir}/up.bin`, new Uint8Array(100_000).fill(1));
          const moved = await runCli(["-L", "-d", "kept", `${server.url}/moved`]);
          assert.equal(moved.code, 0, moved.err);
          assert.equal(JSON.parse(moved.out).body, "kept");
          const challenged = await runCli([
            "--progress",
            "-u",
            "bob:pa ss",
            "-d",
            `@${dir}/up.bin`,
            `${server.url}/auth`,
          ]);
          assert.equal(challenged.code, 0, challenged.err);
          assert.equal(challenged.out, "hi bob, 100000 bytes\n");
          assert.match(challenged.err, /↑ auth {2}97\.7 KiB \/ 97\.7 KiB {2}100%/);
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      },
    );
    await t.step("-v does not show credentials", async () => {
      const { err } = await runCli(["-v", "-u", "bob:pa ss", `${server.url}/auth`]);
      assert.match(err, /> authorization: Basic \*\*\*/);
      assert.doesNotMatch(err, new RegExp(btoa("bob:pa ss")));
    });
    await t.step("-x sends through the proxy; a refused proxy exits 7, as curl", async () => {
      await using proxy = startProxyServer();
      const { code, out } = await runCli(["-x", proxy.url, `${server.url}/text`]);
      assert.equal(code, 0);
      assert.equal(out, "hello\n");
      assert.equal(proxy.log.length, 1);
      assert.equal(proxy.log[0]!.url, `${server.url}/text`);
      const port = proxy.port;
      await proxy.close();
      const refused = await runCli(["-x", `http://127.0.0.1:${port}`, `${server.url}/text`]);
      assert.equal(refused.code, EXIT_CODES.connection, refused.err);
      assert.match(refused.err, /^netaccess: GET .* failed: Proxy .* refused the connection/);
    });
    await t.step("without --allow-net the error says which permission to grant", async () => {
      const args = cliCommand([`${server.url}/text`]);
      args.splice(args.indexOf("-A"), 1, "--allow-env");
      const { code, stderr } = await new Deno.Command(Deno.execPath(), {
        args,
        env: { NO_COLOR: "1" },
        stdin: "null",
      }).output();
      const err = new TextDecoder().decode(stderr);
      assert.equal(code, EXIT_CODES.connection, err);
      assert.equal(err.trim().split("\n").length, 1, err);
      assert.match(err, new RegExp(`--allow-net=${new URL(server.url).host}`));
    });
    await t.step("as in curl, a host name that does not resolve exits 6", async () => {
      const { code, err } = await runCli(["http://host-that-does-not-exist.invalid/"]);
      assert.equal(code, EXIT_CODES.hostNotFound, err);
      assert.equal(code, 6);
      assert.match(
        err,
        /^netaccess: GET .* failed: Host host-that-does-not-exist\.invalid not found/,
      );
    });
    await t.step("as in curl, a malformed URL exits 3, with one line", async () => {
      for (const url of ["http://[::1", "http://exa mple.test/"]) {
        const { code, err, out } = await runCli(["-g", url]);
        assert.equal(code, 3, err);
        assert.equal(out, "");
        assert.equal(err, `netaccess: "${url}" is not a URL\n`);
      }
      // Globbed, as curl's, an unclosed bracket is a bad range.
      const { code, err } = await runCli(["http://[::1"]);
      assert.equal(code, 3, err);
      assert.match(err, /^netaccess: bad range in URL position 8:\nhttp:\/\/\[::1\n {7}\^\n/);
    });
    await t.step("as in curl, a scheme that is not supported exits 1, with one line", async () => {
      const { code, err, out } = await runCli(["htps://example.test/"]);
      assert.equal(code, EXIT_CODES.unsupportedProtocol, err);
      assert.equal(code, 1);
      assert.equal(out, "");
      assert.match(
        err,
        /^netaccess: GET htps:\/\/example\.test\/ failed: Protocol "htps" is unknown/,
      );
      assert.equal(err.trim().split("\n").length, 1);
    });
    await t.step("a refused connection exits 7 with one line", async () => {
      const closed = serve(() => new Response());
      const url = closed.url;
      await closed.close();
      const { code, err } = await runCli([url]);
      assert.equal(code, EXIT_CODES.connection);
      assert.equal(err.trim().split("\n").length, 1);
      assert.match(err, /Connection refused by 127\.0\.0\.1:\d+: is the server running/);
    });
  } finally {
    await server.close();
  }
});

Deno.test("cli: -u sends Basic with the first request, and only to the URL's origin", async () => {
  const seen: { origin: string; path: string; authorization: string | null }[] = [];
  const record = (request: Request) => {
    const url = new URL(request.url);
    seen.push({
      origin: url.origin,
      path: url.pathname,
      authorization: request.headers.get("authorization"),
    });
  };
  await using other = serve((request) => {
    record(request);
    return new Response("elsewhere\n");
  });
  await using server = serve((request) => {
    record(request);
    const path = new URL(request.url).pathname;
    if (path === "/away") return Response.redirect(`${other.url}/landed`, 302);
    if (path === "/here") return Response.redirect(new URL("/home", request.url), 302);
    if (request.headers.get("authorization") === `Basic ${btoa("bob:pw")}`) {
      return new Response(`hi bob at ${path}\n`);
    }
    return new Response("who?\n", {
      status: 401,
      headers: { "www-authenticate": 'Basic realm="test"' },
    });
  });
  const basic = `Basic ${btoa("bob:pw")}`;
  const once = await runCli(["-u", "bob:pw", `${server.url}/private`]);
  assert.equal(once.code, 0, once.err);
  assert.equal(once.out, "hi bob at /private\n");
  assert.deepEqual(seen.splice(0), [
    { origin: server.url, path: "/private", authorization: basic },
  ]);
  const same = await runCli(["-L", "-u", "bob:pw", `${server.url}/here`]);
  assert.equal(same.out, "hi bob at /home\n", same.err);
  assert.deepEqual(seen.splice(0).map((hit) => hit.authorization), [basic, basic]);
  const away = await runCli(["-L", "-u", "bob:pw", `${server.url}/away`]);
  assert.equal(away.out, "elsewhere\n", away.err);
  assert.deepEqual(seen.splice(0), [
    { origin: server.url, path: "/away", authorization: basic },
    { origin: other.url, path: "/landed", authorization: null },
  ]);
  const own = await runCli(["-u", "bob:pw", "-H", "Authorization: Bearer t", `${server.url}/x`]);
  assert.equal(own.code, 0, own.err);
  assert.equal(seen[0]?.authorization, "Bearer t", "a header of one's own wins, as in curl");
});

Deno.test("cli: state shared between processes: cookies, cache, offline", async (t) => {
  const server = startServer();
  const dir = await tempDir();
  const state = `${dir}/state.sqlite3`;
  try {
    await t.step("a login in one process, still logged in in the next", async () => {
      const login = await runCli(["-v", `${server.url}/login`], { state });
      assert.equal(login.code, 0);
      assert.match(login.err, /\* cookie stored: session for 127\.0\.0\.1\/ until /);
      const me = await runCli([`${server.url}/me`], { state });
      assert.equal(me.out, "session=s3cret\n");
      const without = await runCli(["--no-cookies", `${server.url}/me`], { state });
      assert.equal(without.out, "anonymous\n");
      const other = await runCli([`${server.url}/me`], { state: `${dir}/other.sqlite3` });
      assert.equal(other.out, "anonymous\n");
    });
    await t.step("a state file that cannot be opened: a warning, the state in memory", async () => {
      // As curl with its -c and --hsts files: the transfers go on, their exit code stands.
      const { code, out, err } = await runCli([`${server.url}/text`], { state: dir });
      assert.equal(code, 0, err);
      assert.equal(out, "hello\n");
      assert.match(err, /^netaccess: warning: Cannot open the state file: .*folder.*this run only/);
      const quiet = await runCli(["-s", `${server.url}/text`], { state: dir });
      assert.equal(quiet.code, 0, quiet.err);
      assert.equal(quiet.out, "hello\n");
      assert.equal(quiet.err, "", "-s tells no warning");
    });
    await t.step("--state in a folder that does not exist: a warning, no folder made", async () => {
      // As curl's -o without --create-dirs: only the default location gets its folders made.
      const missing = `${dir}/no-such-folder/deeper`;
      const { code, out, err } = await runCli([`${server.url}/text`], {
        state: `${missing}/state.sqlite3`,
      });
      assert.equal(code, 0, err);
      assert.equal(out, "hello\n");
      assert.match(
        err,
        new RegExp(
          `^netaccess: warning: Cannot open the state file: .*"${missing}/state\\.sqlite3".*` +
            `its folder "${missing}" does not exist.*this run only`,
        ),
      );
      await assert.rejects(Deno.stat(`${dir}/no-such-folder`), Deno.errors.NotFound);
    });
    await t.step("a fresh response is stored, then served as a hit", async () => {
      const first = await runCli(["-v", `${server.url}/fresh`], { state });
      assert.equal(first.out, "fresh 1\n");
      assert.match(first.err, /\* cache: stored/);
      const second = await runCli(["-v", `${server.url}/fresh`], { state });
      assert.equal(second.out, "fresh 1\n");
      assert.match(second.err, /\* cache: hit, fresh/);
      assert.equal(server.hits.get("/fresh"), 1);
      const bypass = await runCli(["-v", "--no-cache", `${server.url}/fresh`], { state });
      assert.equal(bypass.out, "fresh 2\n");
      assert.match(bypass.err, /\* cache: off \(--no-cache\)/);
    });
    await t.step("a no-cache response is revalidated with a 304", async () => {
      await runCli([`${server.url}/validate`], { state });
      const again = await runCli(["-v", `${server.url}/validate`], { state });
      assert.equal(again.out, "validated body\n");
      assert.match(again.err, /> if-none-match: "v1"/);
      assert.match(again.err, /< HTTP\/1\.1 304 Not Modified/);
      assert.match(again.err, /\* cache: revalidated: the server answered 304 Not Modified/);
    });
    await t.step("verbose says why a response is not stored", async () => {
      const { err } = await runCli(["-v", `${server.url}/nostore`], { state });
      assert.match(err, /\* cache: not storable: Cache-Control: no-store/);
    });
    await t.step("--offline serves from the cache, or says it cannot", async () => {
      const served = await runCli(["-v", "--offline", `${server.url}/validate`], { state });
      assert.equal(served.code, 0, served.err);
      assert.equal(served.out, "validated body\n");
      assert.match(served.err, /\* cache: hit, served from the cache with the network off/);
      const missing = await runCli(["--offline", `${server.url}/nostore`], { state });
      assert.equal(missing.code, EXIT_CODES.connection);
      assert.match(missing.err, /not in the cache, and --offline keeps the network off/);
      assert.equal(missing.err.trim().split("\n").length, 1);
      // A file: URL never comes from the cache: a missing file is not called a cache miss.
      const file = await runCli(["--offline", `file://${dir}/no-such-file`], { state });
      assert.equal(file.code, EXIT_CODES.content, file.err);
      assert.match(file.err, /does not exist$/m);
      assert.doesNotMatch(file.err, /cache/);
    });
    await t.step("without Deno KV the state lasts one run, and it says so", async () => {
      const project = `${dir}/consumer`;
      await Deno.mkdir(project);
      await Deno.writeTextFile(
        `${project}/deno.json`,
        JSON.stringify({ imports: denoJson.imports }),
      );
      const args = cliCommand([`${server.url}/login`], `${dir}/kvless.sqlite3`);
      args.splice(args.indexOf("--config") + 1, 1, `${project}/deno.json`);
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-lock", ...args.slice(1)],
        env: { NO_COLOR: "1" },
        stdin: "null",
      }).output();
      const err = new TextDecoder().decode(stderr);
      assert.equal(code, 0, err);
      assert.equal(new TextDecoder().decode(stdout), "welcome\n");
      assert.match(err, /^netaccess: Deno KV is not available \(run with --unstable-kv\)/);
    });
    await t.step("the default state is in $XDG_CACHE_HOME/netaccess", async () => {
      const { code } = await runCli([`${server.url}/login`], {
        state: null,
        env: { XDG_CACHE_HOME: `${dir}/xdg` },
      });
      assert.equal(code, 0);
      assert.ok((await Deno.stat(`${dir}/xdg/netaccess/state.sqlite3`)).isFile);
    });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: a state file another run is still setting up is opened once it is ready", async () => {
  // Runs started at once on a new state file race to set it up; SQLite tells the losers
  // "database is locked" at once.
  const { openKv, paths } = lockedThenOpen(2);
  await withOpenKv(openKv, async () => {
    const plan = { noCache: false, noCookies: false, cookieFiles: [] as string[] } as Plan;
    await using state = await openState(":memory:", plan, (line) => assert.fail(line));
    assert.ok(state.cache !== null && state.cookieJar !== null);
  });
  assert.equal(paths.length, 3);
});

Deno.test("cli: timeouts, retries, parallel downloads and progress", async (t) => {
  const server = startServer();
  const dir = await tempDir();
  try {
    await t.step("--timeout ends the whole transfer: exit 28", async () => {
      const { code, err } = await runCli(["--timeout", "0.5", `${server.url}/slow`]);
      assert.equal(code, EXIT_CODES.timeout);
      assert.match(
        err,
        /^netaccess: GET .*\/slow failed: Timed out after 500 ms: .*--timeout SECONDS\)\n$/,
      );
    });
    await t.step("a time limit's message names the flag as it was written", async () => {
      for (const flag of ["-m", "--max-time", "--timeout"]) {
        const { code, err } = await runCli([flag, "0.5", `${server.url}/slow`]);
        assert.equal(code, EXIT_CODES.timeout, err);
        assert.ok(
          err.endsWith(`did not finish in time (${flag}) (allow more with ${flag} SECONDS)\n`),
          err,
        );
      }
      // --max-time wins over -m, as in curl: it is the one named.
      const both = await runCli(["-m", "9", "--max-time", "0.5", `${server.url}/slow`]);
      assert.ok(both.err.endsWith("(--max-time) (allow more with --max-time SECONDS)\n"), both.err);
    });
    await t.step("--transfer-timeout fails a stalled body: exit 28", async () => {
      const { code, err } = await runCli(["--transfer-timeout", "0.5", `${server.url}/stall`]);
      assert.equal(code, EXIT_CODES.timeout, err);
      assert.match(err, /No data moved for 500 ms.*--transfer-timeout SECONDS\)\n$/);
      assert.match(err, /while talking to [^ ]+ \(--transfer-timeout\)/);
      assert.doesNotMatch(err, /transferTimeout/);
    });
    await t.step("Ctrl-C (SIGINT) cancels the transfer: exit 130", async () => {
      const child = new Deno.Command(Deno.execPath(), {
        args: cliCommand(["-o", `${dir}/interrupted`, `${server.url}/slow`]),
        env: { NO_COLOR: "1" },
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      const before = server.hits.get("/slow") ?? 0;
      while ((server.hits.get("/slow") ?? 0) === before) await sleep(20);
      child.kill("SIGINT");
      const status = await child.status;
      assert.equal(status.signal, null, "the command handled SIGINT and exited by itself");
      assert.equal(status.code, EXIT_CODES.canceled);
    });
    await t.step("--retry N retries a 503", async () => {
      const { code, out } = await runCli(["--retry", "3", `${server.url}/flaky`]);
      assert.equal(code, 0);
      assert.equal(out, "finally\n");
      assert.equal(server.hits.get("/flaky"), 3);
    });
    await t.step("--parallel N downloads N at once, one progress line each", async () => {
      const urls = ["one", "two", "three"].map((name) =>
        `${server.url}/files/${name}.bin?chunks=4&pace=80`
      );
      const { code, err } = await runCli([
        "--parallel",
        "2",
        "--progress",
        "--remote-name-all",
        ...urls,
      ], {
        cwd: dir,
      });
      assert.equal(code, 0, err);
      for (const name of ["one", "two", "three"]) {
        assert.equal((await Deno.readFile(`${dir}/${name}.bin`)).byteLength, 4 * 8192);
        assert.match(err, new RegExp(`${name}\\.bin {2}32\\.0 KiB / 32\\.0 KiB {2}100%`));
      }
      assert.equal(server.peak, 2);
    });
    await t.step(
      "progress: none when not a terminal, --progress forces it, -s hides it",
      async () => {
        const url = `${server.url}/paced?chunks=4&pace=20`;
        const quiet = await runCli(["-o", `${dir}/p1`, url]);
        assert.equal(quiet.err, "");
        // Not a terminal: the last line alone, without a terminal's codes, as curl's meter
        // writes none to a file.
        const forced = await runCli(["--progress", "-o", `${dir}/p2`, url]);
        assert.match(
          forced.err,
          /^p2 {2}32\.0 KiB \/ 32\.0 KiB {2}100% {2}[^\r\n]* in 0:0\d\n$/,
        );
        assert.ok(!forced.err.includes("\x1b"), JSON.stringify(forced.err));
        const silent = await runCli(["-s", "--progress", "-o", `${dir}/p3`, url]);
        assert.equal(silent.err, "");
      },
    );
    await t.step("upload progress for -d @file and -F", async () => {
      await Deno.writeFile(`${dir}/up.bin`, new Uint8Array(200_000));
      const data = await runCli(["--progress", "-d", `@${dir}/up.bin`, `${server.url}/echo`]);
      assert.equal(data.code, 0);
      assert.match(data.err, /↑ echo {2}195\.3 KiB \/ 195\.3 KiB {2}100%/);
      const form = await runCli(["--progress", "-F", `f=@${dir}/up.bin`, `${server.url}/echo`]);
      assert.match(form.err, /↑ echo {2}195\.\d KiB \/ 195\.\d KiB {2}100%/);
    });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: TLS with --cacert, --cert and --key", async (t) => {
  const certs = await makeTestCertificates();
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/ca.pem`, certs.caCert);
  await Deno.writeTextFile(`${dir}/me.pem`, certs.cert);
  await Deno.writeTextFile(`${dir}/me.key`, certs.key);
  await using server = serve(() => new Response("over tls\n"), certs);
  try {
    await t.step("an unknown issuer: exit 60 as in curl, the cause and the hint", async () => {
      const { code, err } = await runCli([server.url]);
      assert.equal(code, EXIT_CODES.peerVerification);
      assert.match(err, /unknown issuer.*trust the server's CA with --cacert FILE/);
    });
    await t.step("--cacert trusts the CA", async () => {
      const { code, out } = await runCli(["--cacert", `${dir}/ca.pem`, server.url]);
      assert.equal(code, 0);
      assert.equal(out, "over tls\n");
    });
    await t.step("a missing --cacert exits 77, a missing --cert or --key 58, as curl", async () => {
      const ca = await runCli(["--cacert", `${dir}/nope.pem`, server.url]);
      assert.equal(ca.code, EXIT_CODES.caCertificates, ca.err);
      assert.match(ca.err, /^netaccess: Cannot read the --cacert file .*nope\.pem: /);
      const cert = await runCli([
        "--cert",
        `${dir}/nope.pem`,
        "--key",
        `${dir}/me.key`,
        server.url,
      ]);
      assert.equal(cert.code, EXIT_CODES.clientCertificate, cert.err);
      assert.match(cert.err, /^netaccess: Cannot read the --cert file .*nope\.pem: /);
      const key = await runCli(["--cert", `${dir}/me.pem`, "--key", `${dir}/nope.key`, server.url]);
      assert.equal(key.code, EXIT_CODES.clientCertificate, key.err);
      assert.match(key.err, /^netaccess: Cannot read the --key file .*nope\.key: /);
    });
    await t.step({
      name: "--cert and --key answer a server that requires a client certificate",
      ignore: !(await hasOpenssl()) && !Deno.env.get("CI"),
      fn: async () => {
        const mtlsCerts = await makeTestCertificates({ method: "openssl" });
        await Deno.writeTextFile(`${dir}/mca.pem`, mtlsCerts.caCert);
        await Deno.writeTextFile(`${dir}/m.pem`, mtlsCerts.cert);
        await Deno.writeTextFile(`${dir}/m.key`, mtlsCerts.key);
        await using mtls = await serveMutualTls(mtlsCerts);
        const refused = await runCli(["--cacert", `${dir}/mca.pem`, mtls.url]);
        assert.equal(refused.code, EXIT_CODES.tls);
        assert.match(refused.err, /certificate required.*--cert and --key\)\n$/);
        // The command line's hint only, not the library's option.
        assert.doesNotMatch(refused.err, /clientCertificate/);
        // As curl, a --cert file that holds the key too needs no --key.
        await Deno.writeTextFile(`${dir}/both.pem`, mtlsCerts.cert + mtlsCerts.key);
        for (const pair of [["m.pem", "--key", `${dir}/m.key`], ["both.pem"]]) {
          const [cert, ...key] = pair;
          const ok = await runCli([
            "--cacert",
            `${dir}/mca.pem`,
            "--cert",
            `${dir}/${cert}`,
            ...key,
            mtls.url,
          ]);
          assert.equal(ok.code, 0, ok.err);
          assert.match(ok.out, /s_server/);
        }
      },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const script = await scriptAvailable("cli_test");

Deno.test({
  name: "cli: under a terminal the progress line redraws in place and ends at 100%",
  ignore: !script,
  async fn(t) {
    const server = startServer();
    const dir = await tempDir();
    try {
      await t.step("progress redraws, at most ten times a second, then 100%", async () => {
        const { code, screen } = await underTerminal(
          ["-o", "paced.bin", `${server.url}/paced?chunks=16&pace=100`],
          dir,
        );
        assert.equal(code, 0, screen);
        const frames = screen.split("\r\x1b[2K").slice(1);
        const percents = frames.map((frame) => Number(frame.match(/(\d+)%/)?.[1] ?? -1));
        assert.ok(frames.length >= 4, `redrawn ${frames.length} times: ${JSON.stringify(screen)}`);
        assert.ok(frames.length <= 40, `too many frames: ${frames.length}`);
        for (let i = 1; i < percents.length; i++) assert.ok(percents[i]! >= percents[i - 1]!);
        assert.ok(percents.some((p) => p > 0 && p < 100), JSON.stringify(percents));
        assert.match(
          frames.at(-1)!,
          /^paced\.bin {2}128\.0 KiB \/ 128\.0 KiB {2}100% {2}.* in 0:0\d/,
        );
        assert.match(frames[1] ?? "", /left/);
        assert.equal((await Deno.readFile(`${dir}/paced.bin`)).byteLength, 16 * 8192);
      });
      await t.step("at most ten frames a second, however fast the body comes", async () => {
        // 64 chunks 5 ms apart: a redraw per chunk would be 64 frames in about a third of a
        // second; at most ten a second leaves a handful, whatever the pace of the machine.
        const started = performance.now();
        const { code, screen } = await underTerminal(
          ["-o", "fast.bin", `${server.url}/paced?chunks=64&pace=5`],
          dir,
        );
        const elapsed = performance.now() - started;
        assert.equal(code, 0, screen);
        const frames = screen.split("\r\x1b[2K").length - 1;
        assert.ok(frames <= Math.ceil(elapsed / 100) + 2, `${frames} frames in ${elapsed} ms`);
        assert.match(screen, /100%/);
      });
      await t.step("-u USER asks for the password on the terminal without echoing it", async () => {
        const quote = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;
        const command = [Deno.execPath(), ...cliCommand(["-u", "bob", `${server.url}/auth`])]
          .map(quote).join(" ");
        const child = new Deno.Command("script", {
          args: ["-q", "-e", "-f", "-c", command, "/dev/null"],
          env: { NO_COLOR: "1", TERM: "xterm" },
          stdin: "piped",
          stdout: "piped",
          stderr: "null",
        }).spawn();
        const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let screen = "";
        while (!screen.includes("Password for bob: ")) {
          const { value, done } = await reader.read();
          if (done) break;
          screen += value;
        }
        const writer = child.stdin.getWriter();
        await writer.write(encoder.encode("pa ss\r"));
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          screen += value;
        }
        await writer.close().catch(() => {});
        const { code } = await child.status;
        assert.equal(code, 0, screen);
        assert.match(screen, /Password for bob: /);
        assert.match(screen, /hi bob/);
        assert.doesNotMatch(screen, /pa ss/);
      });
      await t.step("a binary body to the terminal is refused with a hint", async () => {
        const { code, screen } = await underTerminal([`${server.url}/bytes`], dir);
        assert.equal(code, EXIT_CODES.output);
        assert.match(screen, /binary output can mess up a terminal: write it with -o FILE/);
        assert.ok(!screen.includes("\0"), "no byte of the body reached the terminal");
      });
    } finally {
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
