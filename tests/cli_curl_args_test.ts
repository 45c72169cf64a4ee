/**
 * The command line's arguments as curl takes them: an empty value before an option, the
 * authentication schemes of -u, --max-redirs -1, -X with -L, a --cert file without its key and
 * URL globbing.
 */

import assert from "node:assert/strict";
import { runCli } from "./_helpers/cli.ts";
import { serve } from "./_helpers/server.ts";
import { startAuthServer } from "./_helpers/auth_server.ts";
import { EXIT_CODES } from "../src/cli.ts";
import { parse } from "../src/cli/_args.ts";
import type { Exit } from "../src/cli/exit_codes.ts";
import { expandGlob, globName } from "../src/cli/_glob.ts";

Deno.test("cli: an empty value is an option's value whatever follows it, as curl", async () => {
  for (
    const [flag, name] of [
      ["-x", "proxy"],
      ["-A", "user-agent"],
      ["-e", "referer"],
      ["-w", "write-out"],
      ["--noproxy", "noproxy"],
      ["--user-agent", "user-agent"],
    ] as const
  ) {
    const { values, positionals } = parse([flag, "", "-s", "http://h/"]);
    assert.equal(values[name], "", flag);
    assert.equal(values.silent, true, flag);
    assert.deepEqual(positionals, ["http://h/"], flag);
  }
  const data = parse(["-d", "", "-s", "http://h/"]);
  assert.deepEqual(data.values.sends, [{ option: "data", value: "" }]);
  // An empty URL before an option is a URL (a malformed one), not a lost argument.
  assert.deepEqual(parse(["", "-s", "http://h/"]).positionals, ["", "http://h/"]);
  await using server = serve((request) => new Response(request.headers.get("referer")));
  const run = await runCli(["-x", "", "-e", "", "-e", "http://from/", "-d", "", "-s", server.url]);
  assert.equal(run.code, 0, run.err);
  assert.equal(run.out, "http://from/");
});

Deno.test("cli: --digest and --anyauth send -u only in answer to a challenge", async () => {
  await using server = startAuthServer({ scheme: "digest", users: { me: "secret" } });
  const url = `${server.origin}/p`;
  // -u alone (and --digest taken away): Basic up front, the password in clear.
  for (const args of [[], ["--digest", "--no-digest"], ["--anyauth", "--no-digest"]]) {
    server.log.length = 0;
    const basic = await runCli([...args, "-s", "-u", "me:secret", url]);
    assert.equal(basic.code, 0, basic.err);
    assert.match(server.log[0]!.authorization ?? "", /^Basic /, args.join(" "));
  }
  // As curl 7.88: --basic, --digest and --anyauth add up, --no-anyauth takes none away.
  for (
    const args of [
      ["--digest"],
      ["--anyauth"],
      ["--basic", "--digest"],
      ["--digest", "--basic"],
      ["--anyauth", "--no-anyauth"],
      ["--anyauth", "--no-basic"],
    ]
  ) {
    server.log.length = 0;
    const { code, err } = await runCli([
      ...args,
      "-s",
      "-w",
      "%{http_code}",
      "-u",
      "me:secret",
      url,
    ]);
    assert.equal(code, 0, err);
    assert.deepEqual(
      server.log.map((
        { authorization, outcome },
      ) => [authorization?.split(" ")[0] ?? null, outcome]),
      [[null, "missing"], ["Digest", "ok"]],
      args.join(" "),
    );
  }
});

Deno.test("cli: --digest answers no Basic challenge, --anyauth does", async () => {
  await using server = startAuthServer({ scheme: "basic", users: { me: "secret" } });
  const url = `${server.origin}/p`;
  // One request, a POST sent once, no credentials in clear: the 401 ends it, as curl's.
  const digest = await runCli(
    ["--digest", "-v", "-d", "x", "-s", "-w", "%{http_code}", "-u", "me:secret", url],
  );
  assert.equal(digest.out.endsWith("401"), true, digest.out + digest.err);
  assert.deepEqual(
    server.log.map(({ method, authorization, status }) => [
      method,
      authorization,
      status,
    ]),
    [["POST", null, 401]],
  );
  assert.equal(digest.err.match(/^> POST /gm)?.length, 1, digest.err);
  for (const args of [["--anyauth"], ["--basic", "--digest"], ["--digest", "--basic"]]) {
    server.log.length = 0;
    const any = await runCli([...args, "-s", "-w", "%{http_code}", "-u", "me:secret", url]);
    assert.equal(any.code, 0, any.err);
    assert.equal(any.out.endsWith("200"), true, any.out);
    assert.deepEqual(server.log.map(({ outcome }) => outcome), ["missing", "ok"], args.join(" "));
  }
});

/** A server answering /r/STATUS/N with a STATUS redirect to /r/STATUS/N-1, and /r/STATUS/0 with
 * the method, body and Content-Type it got; /seen tells what each hop got. */
function redirectServer() {
  const seen: string[] = [];
  const server = serve(async (request) => {
    const url = new URL(request.url);
    const body = await request.text();
    seen.push(`${request.method} ${url.pathname} ${body} ${request.headers.get("content-type")}`);
    const [, status, left] = /^\/r\/(\d+)\/(\d+)$/.exec(url.pathname) ?? [];
    if (status !== undefined && Number(left) > 0) {
      return new Response(null, {
        status: Number(status),
        headers: { location: `/r/${status}/${Number(left) - 1}` },
      });
    }
    return new Response("end");
  });
  return { server, seen };
}

Deno.test("cli: each -T goes with a URL given and every URL its glob gives, as curl", async () => {
  const { server, seen } = redirectServer();
  await using _server = server;
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/f1`, "one");
    await Deno.writeTextFile(`${dir}/f2`, "two");
    const lines = () => seen.map((line) => line.split(" ").slice(0, 3).join(" "));
    const range = await runCli(["-s", "-T", `${dir}/f1`, `${server.url}/[1-2]`]);
    assert.equal(range.code, 0, range.err);
    assert.deepEqual(lines(), ["PUT /1 one", "PUT /2 one"]);
    seen.length = 0;
    const two = await runCli([
      "-s",
      "-T",
      `${dir}/f1`,
      "-T",
      `${dir}/f2`,
      `${server.url}/{a,b}`,
      `${server.url}/c`,
    ]);
    assert.equal(two.code, 0, two.err);
    assert.deepEqual(lines(), ["PUT /a one", "PUT /b one", "PUT /c two"]);
    seen.length = 0;
    const named = await runCli(["-s", "-T", `${dir}/f1`, `${server.url}/d{1,2}/`]);
    assert.equal(named.code, 0, named.err);
    assert.deepEqual(lines(), ["PUT /d1/f1 one", "PUT /d2/f1 one"]);
    const more = await runCli(["-T", `${dir}/f1`, "-T", `${dir}/f2`, `${server.url}/[1-2]`]);
    assert.equal(more.code, EXIT_CODES.usage);
    assert.match(more.err, /-T goes with one URL each: 2 files, 1 URL\b/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: --max-redirs -1 follows redirects without limit, as curl", async () => {
  const { server, seen } = redirectServer();
  await using _server = server;
  const unlimited = await runCli(["-sL", "--max-redirs", "-1", `${server.url}/r/302/60`]);
  assert.equal(unlimited.code, 0, unlimited.err);
  assert.equal(unlimited.out, "end");
  assert.equal(seen.length, 61);
  const bad = await runCli(["-sL", "--max-redirs", "-2", `${server.url}/r/302/1`]);
  assert.equal(bad.code, EXIT_CODES.usage);
  assert.match(bad.err, /--max-redirs takes a whole number of at least 0 \(or -1: no limit\)/);
});

Deno.test("cli: -L -X METHOD -d drops the body after a 301, 302 or 303, as curl", async () => {
  const { server, seen } = redirectServer();
  await using _server = server;
  const form = "application/x-www-form-urlencoded";
  for (const status of [301, 302, 303, 307, 308]) {
    seen.length = 0;
    const { code, err } = await runCli([
      "-sL",
      "-X",
      "PUT",
      "-d",
      "a=1",
      `${server.url}/r/${status}/1`,
    ]);
    assert.equal(code, 0, err);
    const kept = status === 307 || status === 308;
    assert.deepEqual(seen, [
      `PUT /r/${status}/1 a=1 ${form}`,
      kept ? `PUT /r/${status}/0 a=1 ${form}` : `PUT /r/${status}/0  null`,
    ]);
  }
  // Once dropped, the body stays dropped; --post301 keeps it.
  seen.length = 0;
  await runCli(["-sL", "-X", "PUT", "-d", "a=1", `${server.url}/r/301/1`, "--post301"]);
  assert.deepEqual(seen, [`PUT /r/301/1 a=1 ${form}`, `PUT /r/301/0 a=1 ${form}`]);
});

Deno.test("cli: URLs are globbed as curl's, -g sends them as they are", async (t) => {
  await t.step("sets and ranges, the last pattern varying fastest", () => {
    const texts = (url: string) => expandGlob(url).map(({ text }) => text);
    assert.deepEqual(texts("h/{a,b}[1-2].txt"), ["h/a1.txt", "h/a2.txt", "h/b1.txt", "h/b2.txt"]);
    assert.deepEqual(texts("h/[08-11]"), ["h/08", "h/09", "h/10", "h/11"]);
    assert.deepEqual(texts("h/[1-10:4]"), ["h/1", "h/5", "h/9"]);
    assert.deepEqual(texts("h/[a-e:2]{,x}"), ["h/a", "h/ax", "h/c", "h/cx", "h/e", "h/ex"]);
    assert.deepEqual(texts("h/\\{a,b\\}\\[1\\]"), ["h/{a,b}[1]"]);
    assert.deepEqual(texts("http://[::1]:8080/[1-2]"), [
      "http://[::1]:8080/1",
      "http://[::1]:8080/2",
    ]);
    assert.deepEqual(texts("h/q?a=[1-2]&b[]=z"), ["h/q?a=1&b[]=z", "h/q?a=2&b[]=z"]);
    assert.deepEqual(texts("h/p?a[]=1&a[]=2"), ["h/p?a[]=1&a[]=2"]);
    assert.deepEqual(texts("h/x[fe80::1%25eth0]"), ["h/x[fe80::1%25eth0]"]);
    assert.deepEqual(expandGlob("h/{a,b}/[1-2]")[3]!.values, ["b", "2"]);
    assert.equal(globName("f_#1_#2_#3", ["b", "2"]), "f_b_2_#3");
  });
  await t.step("a malformed pattern exits 3, naming where", () => {
    for (
      const [url, message] of [
        ["h/[1-2", "bad range in URL position 3"],
        ["h/[3-1]", "bad range in URL position 3"],
        ["h/[1-a]", "bad range in URL position 3"],
        ["h/[1-3:0]", "bad range in URL position 3"],
        ["h/{a,b", "unmatched brace in URL position 3"],
        ["h/{a,[1-2]}", "nested brace in URL position 6"],
        ["h/a]", "unmatched close brace/bracket in URL position 4"],
        ["h/{}", "empty string within braces in URL position 4"],
        // No IPv6 address: a range with no "-".
        ["h/[1:2]", "bad range in URL position 3"],
      ]
    ) {
      assert.throws(
        () => expandGlob(url!),
        (error: Exit) => error.code === EXIT_CODES.protocol && error.message.startsWith(message!),
        url,
      );
    }
    assert.throws(() => expandGlob("h/[1-100][1-101]"), /gives 10100 URLs, more than 10000/);
  });
  await t.step("each URL fetched, #N in the -o names", async () => {
    const { server, seen } = redirectServer();
    await using _server = server;
    const dir = await Deno.makeTempDir();
    try {
      const run = await runCli([
        "-s",
        `${server.url}/files/{a,b}[1-2].txt`,
        "-o",
        `${dir}/#1-#2.out`,
        `${server.url}/[01-02]`,
      ]);
      assert.equal(run.code, 0, run.err);
      assert.deepEqual(seen.map((line) => line.split(" ")[1]), [
        "/files/a1.txt",
        "/files/a2.txt",
        "/files/b1.txt",
        "/files/b2.txt",
        "/01",
        "/02",
      ]);
      assert.deepEqual([...Deno.readDirSync(dir)].map(({ name }) => name).sort(), [
        "a-1.out",
        "a-2.out",
        "b-1.out",
        "b-2.out",
      ]);
      assert.equal(run.out, "endend");
      seen.length = 0;
      const off = await runCli(["-sg", "-w", "%{url_effective}", `${server.url}/[1-2`]);
      assert.equal(off.code, 0, off.err);
      assert.equal(seen.length, 1);
      // `[]` is text, as in a -K file's url.
      seen.length = 0;
      await Deno.writeTextFile(`${dir}/k.conf`, `url = "${server.url}/a?x[]=1"\n`);
      const arrays = await runCli(["-s", `${server.url}/q?a=[1-2]&b[]=z`, "-K", `${dir}/k.conf`]);
      assert.equal(arrays.code, 0, arrays.err);
      assert.deepEqual(seen.map((line) => line.split(" ")[1]), ["/q", "/q", "/a"]);
      const bad = await runCli([`${server.url}/{a,b`]);
      assert.equal(bad.code, EXIT_CODES.protocol);
      assert.match(bad.err, /^netaccess: unmatched brace in URL position \d+:\n.*\n *\^\n.*-g/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});
