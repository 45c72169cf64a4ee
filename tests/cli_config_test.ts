/**
 * The command line's options from files, as curl reads them: -K/--config files and the
 * credentials of --netrc, --netrc-optional and --netrc-file.
 */

import assert from "node:assert/strict";
import { runCli } from "./_helpers/cli.ts";
import { serve } from "./_helpers/server.ts";
import { EXIT_CODES } from "../src/cli.ts";
import { configArgs } from "../src/cli/_config.ts";
import { OPTION_TABLE } from "../src/cli/_args.ts";
import { netrcEntry } from "../src/cli/_netrc.ts";

/** A loopback server that answers with what it was sent: method, path, headers and body. */
function echoServer() {
  return serve(async (request) => {
    const url = new URL(request.url);
    return Response.json({
      method: request.method,
      target: url.pathname + url.search,
      headers: Object.fromEntries(request.headers),
      body: await request.text(),
    });
  });
}

Deno.test("cli: -K reads curl's config file syntax", async (t) => {
  await using server = echoServer();
  const dir = await Deno.makeTempDir();
  try {
    await t.step(
      "name = value, name value, --name value, -n value, quotes and comments",
      async () => {
        const file = `${dir}/all.conf`;
        await Deno.writeTextFile(
          file,
          [
            "# a comment",
            "",
            '  header = "X-One: a \\"quoted\\" \\\\ value"',
            "header: X-Two:two",
            '--header "X-Three: tab\\there"',
            "-H X-Four:four",
            'user-agent "agent with spaces"',
            "request = PATCH",
            'data-raw = "line\\none"',
            "silent",
            `url = "${server.url}/from-config?q=1"`,
          ].join("\n"),
        );
        const { code, out, err } = await runCli(["-K", file]);
        assert.equal(code, 0, err);
        const seen = JSON.parse(out);
        assert.equal(seen.method, "PATCH");
        assert.equal(seen.target, "/from-config?q=1");
        assert.equal(seen.headers["x-one"], 'a "quoted" \\ value');
        assert.equal(seen.headers["x-two"], "two");
        assert.equal(seen.headers["x-three"], "tab\there");
        assert.equal(seen.headers["x-four"], "four");
        assert.equal(seen.headers["user-agent"], "agent with spaces");
        assert.equal(seen.body, "line\none");
      },
    );
    await t.step("the options after -K override the file's, as curl", async () => {
      const file = `${dir}/override.conf`;
      await Deno.writeTextFile(file, 'request = PUT\nheader = "X-A: from-file"\nfail\n');
      const later = await runCli(["-K", file, "-X", "DELETE", "-H", "X-B: cli", server.url]);
      assert.equal(later.code, 0, later.err);
      const seen = JSON.parse(later.out);
      assert.equal(seen.method, "DELETE", "the last -X wins");
      assert.equal(seen.headers["x-a"], "from-file", "headers add up");
      assert.equal(seen.headers["x-b"], "cli");
      const earlier = await runCli(["-X", "DELETE", "-K", file, server.url]);
      assert.equal(JSON.parse(earlier.out).method, "PUT", "the file's comes after it");
      // A boolean the file turns on, switched off again: --no-fail.
      const missing = serve(() => new Response("gone", { status: 404 }));
      try {
        assert.equal((await runCli(["-K", file, missing.url])).code, EXIT_CODES.httpError);
        const off = await runCli(["-K", file, "--no-fail", missing.url]);
        assert.equal(off.code, 0, off.err);
        assert.equal(off.out, "gone");
      } finally {
        await missing.close();
      }
    });
    await t.step("-K - reads stdin", async () => {
      const { code, out, err } = await runCli(["-K", "-"], {
        stdin: `header = "X-Stdin: yes"\nurl ${server.url}/stdin\n`,
      });
      assert.equal(code, 0, err);
      const seen = JSON.parse(out);
      assert.equal(seen.target, "/stdin");
      assert.equal(seen.headers["x-stdin"], "yes");
    });
    await t.step("errors name the file and the line", async () => {
      const cases: [string, RegExp][] = [
        ["verbose\nbogus = 1\n", /^netaccess: .*bad\.conf:2: unknown option "bogus"\n/],
        ["\n\nheader\n", /^netaccess: .*bad\.conf:3: header needs a value\n/],
        [
          'header = "X-A: open\n',
          /^netaccess: .*bad\.conf:1: header: the quoted value has no closing "/,
        ],
        ["verbose yes\n", /^netaccess: .*bad\.conf:1: --verbose takes no value, got "yes"/],
        ["header X-A: b c\n", /^netaccess: .*bad\.conf:1: header: text after the value \("b c"\)/],
      ];
      for (const [text, message] of cases) {
        await Deno.writeTextFile(`${dir}/bad.conf`, text);
        const { code, err } = await runCli(["-K", `${dir}/bad.conf`, server.url]);
        assert.equal(code, EXIT_CODES.usage, err);
        assert.match(err, message);
      }
      const unreadable = await runCli(["-K", `${dir}/none.conf`, server.url]);
      assert.equal(unreadable.code, EXIT_CODES.content);
      assert.match(unreadable.err, /^netaccess: cannot read the -K config file .*none\.conf: /);
    });
    await t.step(
      "a bad value names the file and the line, and exits as on the command line",
      async () => {
        const cases: [string, string[], RegExp][] = [
          ["verbose\nretry = abc\n", ["--retry", "abc"], /--retry takes a whole number .*"abc"/],
          ["\nproxy ftp://p.test\n", ["-x", "ftp://p.test"], /-x: proxy scheme "ftp" is not/],
          ["redirect-policy: x\n", ["--redirect-policy", "x"], /--redirect-policy takes .*"x"/],
          ["insecure\n", ["-k"], /-k\/--insecure is not available/],
          [
            "resolve = a.test:80:127.0.0.1\n\nresolve = bad\n",
            ["--resolve", "bad"],
            /--resolve takes HOST:PORT:ADDRESS/,
          ],
          [
            'header = "X-A: 1"\nheader = "no colon"\n',
            ["-H", "no colon"],
            /-H takes "Name: value"/,
          ],
        ];
        for (const [text, given, message] of cases) {
          await Deno.writeTextFile(`${dir}/bad.conf`, text);
          const line = text.split("\n").length - 1; // the last line
          const { code, err } = await runCli(["-K", `${dir}/bad.conf`, server.url]);
          const direct = await runCli([...given, server.url]);
          assert.equal(code, EXIT_CODES.usage, err);
          assert.equal(direct.code, code, direct.err);
          assert.match(err, new RegExp(`^netaccess: \\S*bad\\.conf:${line}: ${message.source}`));
          assert.match(direct.err, new RegExp(`^netaccess: ${message.source}`));
        }
        // The value in effect is the last one: the command line's, after the file's.
        await Deno.writeTextFile(`${dir}/bad.conf`, "retry = 1\n");
        const later = await runCli(["-K", `${dir}/bad.conf`, "--retry", "abc", server.url]);
        assert.equal(later.code, EXIT_CODES.usage);
        assert.match(later.err, /^netaccess: --retry takes a whole number/);
      },
    );
    await t.step("-K ends a cluster of short options, as in curl", async () => {
      const file = `${dir}/cluster.conf`;
      await Deno.writeTextFile(file, 'header = "X-Cluster: yes"\n');
      for (const args of [["-sK", file], [`-sK${file}`], ["-sfK", file], ["-K", file]]) {
        const { code, out, err } = await runCli([...args, server.url]);
        assert.equal(code, 0, `${args.join(" ")}: ${err}`);
        assert.equal(JSON.parse(out).headers["x-cluster"], "yes", args.join(" "));
      }
      // In a file too, as a value option ending a cluster (-so FILE, -sKFILE).
      const outer = `${dir}/outer.conf`;
      await Deno.writeTextFile(outer, `-sK ${file}\n-so ${dir}/cluster.out\n`);
      const nested = await runCli(["-K", outer, server.url]);
      assert.equal(nested.code, 0, nested.err);
      const written = JSON.parse(await Deno.readTextFile(`${dir}/cluster.out`));
      assert.equal(written.headers["x-cluster"], "yes");
      const missing = await runCli([server.url, "-sK"]);
      assert.equal(missing.code, EXIT_CODES.usage);
      assert.match(missing.err, /^netaccess: -K takes a FILE/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: -K lines become the arguments curl would read", () => {
  assert.deepEqual(configArgs("f", "-sS\n--output=out.txt\nretry -1\nno-verbose\n", OPTION_TABLE), [
    "--silent",
    "--show-error",
    "--output=out.txt",
    "--retry=-1",
    "--no-verbose",
  ]);
  assert.deepEqual(configArgs("f", 'data "a\\tb\\\\c" # note\n', OPTION_TABLE), [
    "--data=a\tb\\c",
  ]);
  assert.deepEqual(configArgs("f", "-so out.txt\n-sKother.conf\n-oo.txt\n-K x\n", OPTION_TABLE), [
    "--silent",
    "--output=out.txt",
    "--silent",
    "--config=other.conf",
    "--output=o.txt",
    "--config=x",
  ]);
  const origins: (string | undefined)[] = [];
  configArgs("f", "# note\n-sS\n\nretry 2\n", OPTION_TABLE, origins);
  assert.deepEqual(origins, ["f:2", "f:2", "f:4"]);
});

Deno.test("cli: the .netrc file's entry for a host, as curl reads it", () => {
  const text = [
    "# comment line",
    "machine other.test login o password op",
    "macdef init",
    "  machine 127.0.0.1 login macro password no",
    "",
    'machine 127.0.0.1 login "ada lovelace" password "p\\"w d"',
    "default login anon password guest",
  ].join("\n");
  assert.deepEqual(netrcEntry(text, "127.0.0.1"), { login: "ada lovelace", password: 'p"w d' });
  assert.deepEqual(netrcEntry(text, "OTHER.test"), { login: "o", password: "op" });
  assert.deepEqual(netrcEntry(text, "elsewhere.test"), { login: "anon", password: "guest" });
  assert.equal(netrcEntry("machine a login b password c", "z"), null);
});

Deno.test("cli: --netrc, --netrc-optional and --netrc-file send the host's credentials", async (t) => {
  await using server = echoServer();
  const home = await Deno.makeTempDir();
  const basic = (user: string, password: string) => `Basic ${btoa(`${user}:${password}`)}`;
  try {
    await Deno.writeTextFile(
      `${home}/.netrc`,
      "machine 127.0.0.1\n  login ada\n  password s3cret-netrc\n",
    );
    await Deno.writeTextFile(`${home}/other`, "default login bob password b0b-pass\n");
    const env = { HOME: home };
    await t.step("--netrc reads ~/.netrc", async () => {
      const { code, out, err } = await runCli(["--netrc", server.url], { env });
      assert.equal(code, 0, err);
      assert.equal(JSON.parse(out).headers.authorization, basic("ada", "s3cret-netrc"));
    });
    await t.step(
      "--netrc-file reads FILE; -u wins; -u USER takes the file's password",
      async () => {
        const file = await runCli(["--netrc-file", `${home}/other`, server.url], { env });
        assert.equal(JSON.parse(file.out).headers.authorization, basic("bob", "b0b-pass"));
        const user = await runCli(["--netrc", "-u", "eve:evepw", server.url], { env });
        assert.equal(JSON.parse(user.out).headers.authorization, basic("eve", "evepw"));
        const login = await runCli(["--netrc", "-u", "ada", server.url], { env });
        assert.equal(login.code, 0, login.err);
        assert.equal(JSON.parse(login.out).headers.authorization, basic("ada", "s3cret-netrc"));
      },
    );
    await t.step("no credentials without the option", async () => {
      const { out } = await runCli([server.url], { env });
      assert.equal(JSON.parse(out).headers.authorization, undefined);
    });
    await t.step(
      "a missing file: exit 26 with --netrc-file, none with --netrc-optional",
      async () => {
        const missing = await runCli(["--netrc-file", `${home}/none`, server.url], { env });
        assert.equal(missing.code, EXIT_CODES.content);
        assert.match(missing.err, /^netaccess: cannot read the \.netrc file .*none: /);
        const optional = await runCli(["--netrc-optional", server.url], {
          env: { HOME: `${home}/x` },
        });
        assert.equal(optional.code, 0, optional.err);
        assert.equal(JSON.parse(optional.out).headers.authorization, undefined);
      },
    );
    await t.step(
      "a redirect to another host gets none of the first host's credentials",
      async () => {
        // As curl: the credentials of one host's entry are not sent to the host redirected to,
        // not even with --location-trusted (which concerns -u and -H Authorization).
        const seen: (string | null)[] = [];
        await using other = serve((request) => {
          seen.push(request.headers.get("authorization"));
          return request.headers.has("authorization")
            ? new Response("signed in")
            : new Response("who?", {
              status: 401,
              headers: { "www-authenticate": 'Basic realm="o"' },
            });
        });
        const first: (string | null)[] = [];
        await using origin = serve((request) => {
          first.push(request.headers.get("authorization"));
          return new Response(null, {
            status: 302,
            headers: { location: `http://other.test:${other.port}/landing` },
          });
        });
        for (const follow of ["-L", "--location-trusted"]) {
          seen.length = first.length = 0;
          const { code, out, err } = await runCli([
            "--netrc",
            follow,
            "--resolve",
            `other.test:${other.port}:127.0.0.1`,
            `${origin.url}/start`,
          ], { env });
          assert.equal(code, 0, err);
          assert.equal(out, "who?", follow);
          assert.deepEqual(first, [basic("ada", "s3cret-netrc")], follow);
          assert.deepEqual(seen, [null], follow);
        }
      },
    );
    await t.step("verbose output never shows the password", async () => {
      const { code, err } = await runCli(["-v", "--netrc", `${server.url}/v`], { env });
      assert.equal(code, 0, err);
      assert.match(err, /> authorization: Basic \*\*\*/);
      assert.doesNotMatch(err, /s3cret-netrc/);
      assert.doesNotMatch(err, new RegExp(btoa("ada:s3cret-netrc")));
      const refused = await runCli(["-v", "--netrc", "-f", "http://127.0.0.1:1/x"], { env });
      assert.notEqual(refused.code, 0);
      assert.doesNotMatch(refused.err, /s3cret-netrc/);
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
