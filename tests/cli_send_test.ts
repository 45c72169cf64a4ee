/**
 * What the command line sends, checked against curl's behaviour: the data options (-d,
 * --data-binary, --data-raw, --data-urlencode, --json), -G, -F and --form-string, -T, and -X.
 */

import assert from "node:assert/strict";
import { runCli } from "./_helpers/cli.ts";
import { serve } from "./_helpers/server.ts";
import { EXIT_CODES } from "../src/cli.ts";
import { parseErrorText } from "../src/cli/_args.ts";

const decoder = new TextDecoder();

/** A request the server saw. */
interface Seen {
  method: string;
  /** The path and query. */
  target: string;
  headers: Record<string, string>;
  bytes: Uint8Array;
  text: string;
}

/** A loopback server that keeps every request it is sent. */
function startServer() {
  const seen: Seen[] = [];
  const server = serve(async (request) => {
    const url = new URL(request.url);
    const bytes = await request.bytes();
    seen.push({
      method: request.method,
      target: url.pathname + url.search,
      headers: Object.fromEntries(request.headers),
      bytes,
      text: decoder.decode(bytes),
    });
    return new Response("ok\n");
  });
  return {
    url: server.url,
    /** The last request seen. */
    get last(): Seen {
      return seen.at(-1)!;
    },
    seen,
    close: () => server.close(),
  };
}

async function send(args: string[], stdin?: string | Uint8Array) {
  const result = await runCli(args, stdin === undefined ? {} : { stdin });
  assert.equal(result.code, 0, result.err);
  return result;
}

Deno.test("cli: bodies go with a Content-Length, as curl sends them", async () => {
  const server = startServer();
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  try {
    await Deno.writeTextFile(`${dir}/big.txt`, "x".repeat(200_000));
    for (const args of [["-d", "a=1"], ["--data-binary", `@${dir}/big.txt`], ["-F", "a=1"]]) {
      await send([...args, `${server.url}/post`]);
      const { headers, bytes } = server.last;
      assert.equal(headers["transfer-encoding"], undefined, `${args}: not chunked`);
      assert.equal(headers["content-length"], String(bytes.byteLength), `${args}`);
    }
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: the data options, as curl joins and reads them", async (t) => {
  const server = startServer();
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  const url = `${server.url}/post`;
  try {
    await Deno.writeTextFile(`${dir}/lines.txt`, "a b\r\nc&d\n");
    const binary = Uint8Array.from([0xff, 0x00, 0x0a, 0xfe]);
    await Deno.writeFile(`${dir}/blob.bin`, binary);
    await t.step("-d, --data-binary, --data-raw mixed, joined by & in their order", async () => {
      await send([
        "-d",
        "a=1",
        "--data-binary",
        `@${dir}/lines.txt`,
        "--data-raw",
        "@not-a-file",
        "-d",
        `@${dir}/lines.txt`,
        "--data-ascii",
        "z=9",
        url,
      ]);
      assert.equal(server.last.method, "POST");
      assert.equal(server.last.text, "a=1&a b\r\nc&d\n&@not-a-file&a bc&d&z=9");
      assert.equal(server.last.headers["content-type"], "application/x-www-form-urlencoded");
    });
    await t.step("--data-binary files are sent byte for byte, several too", async () => {
      await send(["--data-binary", `@${dir}/blob.bin`, "--data-binary", `@${dir}/blob.bin`, url]);
      assert.deepEqual(server.last.bytes, Uint8Array.from([...binary, 0x26, ...binary]));
    });
    await t.step("--data-raw sends a leading @ as it is, even alone", async () => {
      await send(["--data-raw", "@me", url]);
      assert.equal(server.last.text, "@me");
    });
    await t.step(
      "--data-urlencode: content, =content, name=content, @file, name@file",
      async () => {
        await send([
          "--data-urlencode",
          "hello world/é",
          "--data-urlencode",
          "=a=b&c",
          "--data-urlencode",
          "q=x y+z",
          "--data-urlencode",
          `@${dir}/lines.txt`,
          "--data-urlencode",
          `f@${dir}/lines.txt`,
          url,
        ]);
        assert.equal(
          server.last.text,
          "hello+world%2F%C3%A9&a%3Db%26c&q=x+y%2Bz&a+b%0D%0Ac%26d%0A&f=a+b%0D%0Ac%26d%0A",
        );
        assert.equal(server.last.headers["content-type"], "application/x-www-form-urlencoded");
        await send(["--data-urlencode", "v@-", url], "from\nstdin");
        assert.equal(server.last.text, "v=from%0Astdin");
      },
    );
    await t.step("--json: pieces joined as they are, JSON types unless -H says", async () => {
      await send(["--json", '{"a":', "--json", `@${dir}/lines.txt`, url]);
      assert.equal(server.last.text, '{"a":a b\r\nc&d\n');
      assert.equal(server.last.headers["content-type"], "application/json");
      assert.equal(server.last.headers.accept, "application/json");
      await send(["--json", "[]", "-H", "Content-Type: application/vnd.x+json", url]);
      assert.equal(server.last.headers["content-type"], "application/vnd.x+json");
      assert.equal(server.last.headers.accept, "application/json");
    });
    await t.step("-G puts the data in the query: GET, or HEAD with -I", async () => {
      await send(["-G", "-d", "a=1", "--data-urlencode", "q=x y", url]);
      assert.equal(server.last.method, "GET");
      assert.equal(server.last.target, "/post?a=1&q=x+y");
      assert.equal(server.last.text, "");
      assert.equal(server.last.headers["content-type"], undefined);
      await send(["--get", "-d", "b=2", `${url}?a=1`]);
      assert.equal(server.last.target, "/post?a=1&b=2");
      await send(["-G", "-I", "-d", "c=3", url]);
      assert.equal(server.last.method, "HEAD");
      assert.equal(server.last.target, "/post?c=3");
    });
    await t.step("-X changes the method, not the body", async () => {
      await send(["-X", "PATCH", "-d", "a=1", url]);
      assert.equal(server.last.method, "PATCH");
      assert.equal(server.last.text, "a=1");
      assert.equal(server.last.headers["content-type"], "application/x-www-form-urlencoded");
      const get = await runCli(["-X", "GET", "-d", "a=1", url]);
      assert.equal(get.code, EXIT_CODES.usage);
      assert.match(get.err, /^netaccess: -X GET cannot carry a body: .*-G puts the data/);
    });
    await t.step("one way of sending at a time, as in curl", async () => {
      const before = server.seen.length;
      for (
        const [args, named] of [
          [["-d", "a=1", "-F", "b=2"], /-d and -F/],
          [["-d", "a=1", "-T", `${dir}/lines.txt`], /-d and -T/],
          [["-I", "-d", "a=1"], /-d and -I/],
          [["-G", "-F", "b=2"], /-G puts the data of -d in the URL/],
        ] as const
      ) {
        const refused = await runCli([...args, url]);
        assert.equal(refused.code, EXIT_CODES.usage, `${args}`);
        assert.match(refused.err, named);
      }
      assert.equal(server.seen.length, before, "nothing sent");
    });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: -F and --form-string make curl's multipart body", async (t) => {
  const server = startServer();
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  const url = `${server.url}/form`;
  /** The parts of the last body: their header lines and bytes as text (latin1). */
  const parts = () => {
    const type = server.last.headers["content-type"]!;
    const boundary = /boundary=(.+)$/.exec(type)![1]!;
    const text = Array.from(server.last.bytes, (byte) => String.fromCharCode(byte)).join("");
    assert.ok(/--\r?\n?$/.test(text) && text.includes(`--${boundary}--`), text);
    return text.split(`--${boundary}`).slice(1, -1).map((part) => {
      const [head, ...body] = part.slice(2, -2).split("\r\n\r\n");
      return { head: head!.split("\r\n"), body: body.join("\r\n\r\n") };
    });
  };
  try {
    await Deno.writeFile(`${dir}/pic.png`, Uint8Array.from([0x89, 0x50, 0xff, 0x00]));
    await Deno.writeFile(`${dir}/raw.dat`, Uint8Array.from([0xc3, 0x28, 0x0d, 0x0a]));
    await t.step("text, files, <file, ;type=, ;filename=, stdin", async () => {
      const { err } = await send([
        "-F",
        "plain=pen",
        "-F",
        "typed=hi there;type=text/html",
        "-F",
        `pic=@${dir}/pic.png`,
        "-F",
        `doc=@${dir}/raw.dat;type=text/csv;filename="a;b.csv"`,
        "-F",
        `inline=<${dir}/raw.dat`,
        "-F",
        "piped=@-",
        "-F",
        'quoted="semi;colon"',
        "--form-string",
        "literal=@not-a-file;type=x",
        url,
      ], "from stdin");
      assert.equal(err, "");
      assert.equal(server.last.method, "POST");
      assert.match(server.last.headers["content-type"]!, /^multipart\/form-data; boundary=/);
      assert.deepEqual(parts(), [
        { head: ['Content-Disposition: form-data; name="plain"'], body: "pen" },
        {
          head: ['Content-Disposition: form-data; name="typed"', "Content-Type: text/html"],
          body: "hi there",
        },
        {
          head: [
            'Content-Disposition: form-data; name="pic"; filename="pic.png"',
            "Content-Type: image/png",
          ],
          body: "\x89P\xff\x00",
        },
        {
          head: [
            'Content-Disposition: form-data; name="doc"; filename="a;b.csv"',
            "Content-Type: text/csv",
          ],
          body: "\xc3(\r\n",
        },
        { head: ['Content-Disposition: form-data; name="inline"'], body: "\xc3(\r\n" },
        {
          // As curl: stdin has no type of its own.
          head: ['Content-Disposition: form-data; name="piped"; filename="-"'],
          body: "from stdin",
        },
        { head: ['Content-Disposition: form-data; name="quoted"'], body: "semi;colon" },
        {
          head: ['Content-Disposition: form-data; name="literal"'],
          body: "@not-a-file;type=x",
        },
      ]);
    });
    await t.step("names with quotes and line breaks are escaped, as curl does", async () => {
      await send(["-F", 'say"hi"=1', "-F", `f=@${dir}/pic.png;filename=a"b.png`, url]);
      assert.equal(parts()[0]!.head[0], 'Content-Disposition: form-data; name="say%22hi%22"');
      assert.equal(
        parts()[1]!.head[0],
        'Content-Disposition: form-data; name="f"; filename="a%22b.png"',
      );
    });
    await t.step("a -H Content-Type gets the boundary, as curl", async () => {
      await send(["-F", "a=1", "-H", "Content-Type: multipart/form-data", url]);
      assert.match(server.last.headers["content-type"]!, /^multipart\/form-data; boundary=-+\w+$/);
      assert.deepEqual(parts(), [{
        head: ['Content-Disposition: form-data; name="a"'],
        body: "1",
      }]);
      // Another type: the parts are attachments, as curl writes them.
      await send(["-F", "a=1", "-H", "Content-Type: multipart/related; type=x", url]);
      assert.match(server.last.headers["content-type"]!, /^multipart\/related; type=x; boundary=/);
      assert.deepEqual(parts(), [{
        head: ['Content-Disposition: attachment; name="a"'],
        body: "1",
      }]);
      // A type naming its boundary keeps it, and the body uses it.
      await send(["-F", "a=1", "-H", "Content-Type: multipart/form-data; boundary=XYZ", url]);
      assert.equal(server.last.headers["content-type"], "multipart/form-data; boundary=XYZ");
      assert.deepEqual(parts(), [{
        head: ['Content-Disposition: form-data; name="a"'],
        body: "1",
      }]);
    });
    await t.step("headers=@FILE reads the part's headers from FILE, as curl", async () => {
      await Deno.writeTextFile(
        `${dir}/part.h`,
        "# a comment\r\nX-One: 1\r\n\nX-Two: a\n  folded  \n#X-No: 3\nX-Three: 3\n",
      );
      await send([
        "-F",
        `a=v;headers=@${dir}/part.h`,
        "-F",
        `f=@${dir}/pic.png;headers=<${dir}/part.h`,
        url,
      ]);
      const lines = ["X-One: 1", "X-Two: a  folded", "X-Three: 3"];
      assert.deepEqual(parts()[0], {
        head: ['Content-Disposition: form-data; name="a"', ...lines],
        body: "v",
      });
      assert.deepEqual(parts()[1]!.head.slice(1), ["Content-Type: image/png", ...lines]);
      const missing = await runCli(["-F", `a=v;headers=@${dir}/none.h`, url]);
      assert.equal(missing.code, EXIT_CODES.content);
      assert.match(missing.err, /^netaccess: Cannot read the -F headers=@ file .*none\.h: /);
    });
    await t.step("type= keeps its parameters, as curl: ;charset=", async () => {
      await send(["-F", `f=@${dir}/pic.png;type=text/plain;charset=utf-8;filename=p.txt`, url]);
      assert.deepEqual(parts()[0]!.head, [
        'Content-Disposition: form-data; name="f"; filename="p.txt"',
        "Content-Type: text/plain;charset=utf-8",
      ]);
    });
    await t.step("NAME=@FILE1,FILE2: the files in a multipart/mixed part, as curl", async () => {
      await send(["-F", `f=@${dir}/pic.png,${dir}/raw.dat;type=text/csv`, url]);
      const [part] = parts();
      const mixed = /^Content-Type: multipart\/mixed; boundary=(.+)$/.exec(part!.head[1]!)![1]!;
      assert.equal(part!.head[0], 'Content-Disposition: form-data; name="f"');
      assert.equal(
        part!.body,
        `--${mixed}\r\nContent-Disposition: attachment; filename="pic.png"\r\n` +
          `Content-Type: image/png\r\n\r\n\x89P\xff\x00\r\n` +
          `--${mixed}\r\nContent-Disposition: attachment; filename="raw.dat"\r\n` +
          `Content-Type: text/csv\r\n\r\n\xc3(\r\n\r\n--${mixed}--\r\n`,
      );
    });
    await t.step("an unknown parameter is skipped with a warning", async () => {
      const { err } = await send(["-F", "a=x;bogus=1", url]);
      assert.equal(parts()[0]!.body, "x");
      assert.match(err, /^netaccess: warning: -F "a=x;bogus=1": skipped .*"bogus=1"/);
    });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: -T uploads a file or stdin with PUT, as curl", async (t) => {
  const server = startServer();
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  try {
    const bytes = Uint8Array.from([0x00, 0x0d, 0x0a, 0xff]);
    await Deno.writeFile(`${dir}/up load.bin`, bytes);
    await t.step("a file: PUT, byte for byte, no Content-Type of its own", async () => {
      await send(["-T", `${dir}/up load.bin`, `${server.url}/to/file`]);
      assert.equal(server.last.method, "PUT");
      assert.equal(server.last.target, "/to/file");
      assert.deepEqual(server.last.bytes, bytes);
      assert.equal(server.last.headers["content-type"], undefined);
      assert.equal(server.last.headers["content-length"], "4");
    });
    await t.step("a URL ending in / gets the file's name", async () => {
      await send(["--upload-file", `${dir}/up load.bin`, `${server.url}/dir/`]);
      assert.equal(server.last.target, "/dir/up%20load.bin");
    });
    await t.step("- is stdin; -X changes the method", async () => {
      await send(["-X", "POST", "-T", "-", `${server.url}/dir/`], "piped\n");
      assert.equal(server.last.method, "POST");
      assert.equal(server.last.target, "/dir/");
      assert.equal(server.last.text, "piped\n");
    });
    await t.step("one -T for each URL, in order; the others are fetched", async () => {
      await send(["-T", `${dir}/up load.bin`, `${server.url}/one`, `${server.url}/two`]);
      assert.deepEqual(
        server.seen.slice(-2).map(({ method, target }) => `${method} ${target}`),
        ["PUT /one", "GET /two"],
      );
      const many = await runCli(["-T", "-", "-T", "-", `${server.url}/one`]);
      assert.equal(many.code, EXIT_CODES.usage);
      assert.match(many.err, /^netaccess: -T goes with one URL each: 2 files, 1 URL/);
      const missing = await runCli(["-T", `${dir}/nope`, `${server.url}/one`]);
      assert.equal(missing.code, EXIT_CODES.content, "26, as curl");
      assert.match(missing.err, /^netaccess: Cannot read the -T file .*nope: /);
      const folder = await runCli(["-T", dir, `${server.url}/one`]);
      assert.equal(folder.code, EXIT_CODES.content);
      assert.match(
        folder.err,
        /^netaccess: Cannot read the -T file .*: it is a directory, not a file\n$/,
      );
    });
    await t.step({
      name: "a pipe (/dev/stdin, a FIFO) goes as it is read, chunked, as curl",
      ignore: Deno.build.os === "windows",
      fn: async () => {
        await send(["-T", "/dev/stdin", `${server.url}/piped`], "from a pipe");
        assert.equal(server.last.method, "PUT");
        assert.equal(server.last.text, "from a pipe");
        assert.equal(server.last.headers["transfer-encoding"], "chunked");
        const fifo = `${dir}/fifo`;
        await new Deno.Command("mkfifo", { args: [fifo] }).output();
        const upload = runCli(["-T", fifo, `${server.url}/fifo`]);
        const writer = await Deno.open(fifo, { write: true });
        await writer.write(new TextEncoder().encode("through a FIFO"));
        writer.close();
        const { code, err } = await upload;
        assert.equal(code, 0, err);
        assert.equal(server.last.text, "through a FIFO");
      },
    });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: an option takes the next argument as its value, whatever it starts with, as curl", async () => {
  const server = startServer();
  try {
    const url = `${server.url}/dash`;
    for (
      const [args, check] of [
        [["-d", "-1"], (seen: Seen) => assert.equal(seen.text, "-1")],
        [["--json", "-1"], (seen: Seen) => assert.equal(seen.text, "-1")],
        [["--data-raw", "--x"], (seen: Seen) => assert.equal(seen.text, "--x")],
        [["-sd", "-1"], (seen: Seen) => assert.equal(seen.text, "-1")],
        [["-d", "--"], (seen: Seen) => assert.equal(seen.text, "--")],
        [["-A", "-agent"], (seen: Seen) => assert.equal(seen.headers["user-agent"], "-agent")],
        [["-H", "-X-A: y"], (seen: Seen) => assert.equal(seen.headers["-x-a"], "y")],
        [
          ["-u", "-user:pw"],
          (seen: Seen) => assert.equal(seen.headers.authorization, `Basic ${btoa("-user:pw")}`),
        ],
      ] as [string[], (seen: Seen) => void][]
    ) {
      await send([...args, url]);
      check(server.last);
    }
  } finally {
    await server.close();
  }
});

Deno.test("cli: -v shows the request headers that go out, as curl", async () => {
  const server = startServer();
  const dir = await Deno.makeTempDir({ prefix: "netaccess_cli_" });
  try {
    await Deno.writeTextFile(`${dir}/up.txt`, "file");
    for (
      const [args, stdin] of [
        [["-d", "abc"]],
        [["-H", "Accept: text/plain", "-A", "me", "--compressed"]],
        [["-T", `${dir}/up.txt`]],
        [["-T", "-"], "piped"],
        [["-X", "POST"]],
      ] as [string[], string?][]
    ) {
      const { err } = await send(["-v", "--no-cookies", ...args, `${server.url}/v`], stdin);
      const shown = err.split("\n").filter((line) => /^> [^:]+: /.test(line)).map((line) =>
        line.slice(2)
      ).sort();
      const received = Object.entries(server.last.headers).map(([name, value]) =>
        `${name}: ${value}`
      ).sort();
      assert.deepEqual(shown, received, args.join(" "));
    }
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: a parse error keeps the lines of its hint, but for the one on positionals", () => {
  assert.equal(
    parseErrorText(
      new Error(
        "Option '-d' argument is ambiguous.\nDid you forget to specify the option argument?",
      ),
    ),
    "Option '-d' argument is ambiguous.\nDid you forget to specify the option argument?",
  );
  assert.equal(
    parseErrorText(
      new Error(
        "Unknown option '--x'. To specify a positional argument starting with a '-', place it " +
          "at the end of the command after '--', as in '-- \"--x\"",
      ),
    ),
    "Unknown option '--x'",
  );
});

Deno.test("cli: --help names the sending options", async () => {
  const { out } = await runCli(["--help"]);
  for (
    const option of [
      "--data-raw",
      "--data-urlencode",
      "--data-binary",
      "--json",
      "-G, --get",
      "--form-string",
      "-T, --upload-file",
    ]
  ) {
    assert.ok(out.includes(option), option);
  }
  const unknown = await runCli(["--data-urlencoded", "a=1", "http://127.0.0.1:9/"]);
  assert.equal(unknown.code, EXIT_CODES.usage);
  assert.match(unknown.err, /^netaccess: Unknown option '--data-urlencoded'/);
});
