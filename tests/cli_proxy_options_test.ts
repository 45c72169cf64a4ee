/**
 * The proxy options of the command line against curl's: --socks5 and --socks5-hostname, -U
 * with the environment's proxy, the hint when a proxy refuses the credentials given, and the
 * proxy variables read as curl reads them (never upper-case HTTP_PROXY).
 */

import assert from "node:assert/strict";
import { runCli } from "./_helpers/cli.ts";
import { serve } from "./_helpers/server.ts";
import { startProxyServer } from "./_helpers/proxy_server.ts";
import { EXIT_CODES } from "../src/cli.ts";

Deno.test("cli: --socks5 and --socks5-hostname go through a SOCKS5 proxy, as curl's", async (t) => {
  await using server = serve(() => new Response("through\n"));
  await using socks = startProxyServer({
    protocol: "socks5",
    auth: { username: "sam", password: "pw" },
  });
  const hostPort = socks.url.replace("socks5://", "");
  for (const flag of ["--socks5", "--socks5-hostname"]) {
    await t.step(`${flag} HOST:PORT, with -U`, async () => {
      const before = socks.log.length;
      const { code, out, err } = await runCli([flag, hostPort, "-U", "sam:pw", server.url]);
      assert.equal(code, 0, err);
      assert.equal(out, "through\n");
      const record = socks.log.at(-1)!;
      assert.equal(socks.log.length, before + 1);
      assert.equal(record.kind, "socks5");
      assert.equal(record.target, `127.0.0.1:${new URL(server.url).port}`);
      assert.deepEqual(record.socksCredentials, { username: "sam", password: "pw" });
    });
    await t.step(`${flag} USER:PASSWORD@HOST:PORT`, async () => {
      const { code, out, err } = await runCli([flag, `sam:pw@${hostPort}`, server.url]);
      assert.equal(code, 0, err);
      assert.equal(out, "through\n");
      assert.deepEqual(socks.log.at(-1)!.socksCredentials, { username: "sam", password: "pw" });
    });
  }
  await t.step("the last of -x, --socks5 and --socks5-hostname wins", async () => {
    const before = socks.log.length;
    const socksLast = await runCli([
      "-x",
      "http://127.0.0.1:9",
      "--socks5",
      `sam:pw@${hostPort}`,
      server.url,
    ]);
    assert.equal(socksLast.code, 0, socksLast.err);
    assert.equal(socks.log.length, before + 1);
    const xLast = await runCli(["--socks5", `sam:pw@${hostPort}`, "-x", "", server.url]);
    assert.equal(xLast.code, 0, xLast.err);
    assert.equal(xLast.out, "through\n");
    assert.equal(socks.log.length, before + 1, '-x "" last: a direct connection');
  });
  await t.step("a value that names no SOCKS5 proxy is refused, naming the option", async () => {
    for (
      const [flag, value] of [
        ["--socks5", "http://127.0.0.1:3128"],
        ["--socks5-hostname", "socks5://127.0.0.1:1080"],
        ["--socks5", ""],
      ]
    ) {
      const { code, err } = await runCli([flag!, value!, server.url]);
      assert.equal(code, EXIT_CODES.usage, `${flag} ${value}: ${err}`);
      assert.match(err, new RegExp(`^netaccess: ${flag} takes HOST\\[:PORT\\], the SOCKS5 proxy`));
    }
  });
  await t.step("--help names them, and tells that socks5:// sends the name too", async () => {
    const { code, out } = await runCli(["--help"]);
    assert.equal(code, 0);
    assert.match(out, /--socks5 H\[:P\] +as -x socks5:\/\/H\[:P\]/);
    assert.match(out, /--socks5-hostname H\[:P\]\n +as -x socks5h:\/\/H\[:P\]/);
    assert.match(out, /socks5:\/\/ sends the target's name as socks5h:\/\/ does/);
  });
});

Deno.test("cli: -U without -x gives the credentials of the environment's proxy, as curl", async (t) => {
  await using server = serve(() => new Response("direct\n"));
  await using proxy = startProxyServer({ auth: { username: "pat", password: "s:cret" } });
  await t.step("http_proxy: the credentials go to it", async () => {
    const before = proxy.log.length;
    const { code, out, err } = await runCli(["-U", "pat:s:cret", server.url], {
      env: { http_proxy: proxy.url },
    });
    assert.equal(code, 0, err);
    assert.equal(out, "direct\n");
    assert.equal(proxy.log.length, before + 1);
    assert.equal(proxy.log.at(-1)!.proxyAuthorization, `Basic ${btoa("pat:s:cret")}`);
  });
  await t.step("over those of the variable's URL", async () => {
    const { code, err } = await runCli(["-U", "pat:s:cret", server.url], {
      env: { http_proxy: proxy.url.replace("//", "//pat:nope@") },
    });
    assert.equal(code, 0, err);
    assert.equal(proxy.log.at(-1)!.proxyAuthorization, `Basic ${btoa("pat:s:cret")}`);
  });
  await t.step("NO_PROXY and --noproxy still bypass it", async () => {
    const before = proxy.log.length;
    for (
      const [args, env] of [
        [[], { http_proxy: proxy.url, NO_PROXY: "127.0.0.1" }],
        [["--noproxy", "127.0.0.1"], { http_proxy: proxy.url }],
      ] as const
    ) {
      const { code, out, err } = await runCli([...args, "-U", "pat:s:cret", server.url], { env });
      assert.equal(code, 0, err);
      assert.equal(out, "direct\n");
    }
    assert.equal(proxy.log.length, before);
  });
  await t.step("no proxy at all: -U is unused, the request goes direct", async () => {
    const { code, out, err } = await runCli(["-U", "pat:s:cret", server.url]);
    assert.equal(code, 0, err);
    assert.equal(out, "direct\n");
  });
});

Deno.test("cli: credentials a proxy refuses are told refused, with where they came from", async (t) => {
  await using proxy = startProxyServer({
    auth: { username: "pat", password: "s:cret" },
    wrongCredentialsStatus: 401,
  });
  const wrong = proxy.url.replace("//", "//pat:nope@");
  // CONNECT is refused before the proxy goes anywhere: the target needs no server.
  const target = "https://origin.test/";
  const cases: [string, string[], Record<string, string>, string][] = [
    ["the URL of -x", ["-x", wrong], {}, "in the URL of -x: check them, or give others with -U"],
    ["-U", ["-x", proxy.url, "-U", "pat:nope"], {}, "of -U: check them)"],
    ["https_proxy", [], { https_proxy: wrong }, "in https_proxy: check them, or give others"],
    ["ALL_PROXY", [], { ALL_PROXY: wrong }, "in ALL_PROXY: check them, or give others"],
  ];
  for (const [name, args, env, said] of cases) {
    await t.step(name, async () => {
      const { code, err } = await runCli(["-sS", ...args, target], { env });
      assert.equal(code, EXIT_CODES.proxy, err);
      assert.ok(err.includes(` (the proxy refused the credentials ${said}`), err);
      assert.doesNotMatch(err, /give the proxy's credentials/);
    });
  }
  await t.step("none given: the hint says to give them", async () => {
    const { code, err } = await runCli(["-sS", "-x", proxy.url, target]);
    assert.equal(code, EXIT_CODES.proxy, err);
    assert.match(err, / \(give the proxy's credentials with -U USER:PASSWORD\)\n$/);
  });
});

Deno.test("cli: upper-case HTTP_PROXY is not read, as curl (httpoxy); http_proxy is", async () => {
  await using server = serve(() => new Response("direct\n"));
  await using proxy = startProxyServer();
  const upper = await runCli([server.url], { env: { HTTP_PROXY: proxy.url } });
  assert.equal(upper.code, 0, upper.err);
  assert.equal(upper.out, "direct\n");
  assert.equal(proxy.log.length, 0, "HTTP_PROXY was used");
  const both = await runCli([server.url], {
    env: { HTTP_PROXY: "http://127.0.0.1:9", http_proxy: proxy.url },
  });
  assert.equal(both.code, 0, both.err);
  assert.equal(proxy.log.length, 1, "http_proxy was not used");
  // HTTPS_PROXY, ALL_PROXY and NO_PROXY are read in upper case too.
  const all = await runCli([server.url], {
    env: { HTTP_PROXY: "http://127.0.0.1:9", ALL_PROXY: proxy.url },
  });
  assert.equal(all.code, 0, all.err);
  assert.equal(proxy.log.length, 2, "ALL_PROXY was not used");
});

Deno.test("cli: a proxy host not found names the variables read, not HTTP_PROXY", async () => {
  const { code, err } = await runCli(["-sS", "http://origin.test/"], {
    env: { http_proxy: "http://proxy.invalid:3128" },
  });
  assert.equal(code, EXIT_CODES.proxy, err);
  assert.match(
    err,
    / \(check the proxy's host name in -x or in http_proxy\/HTTPS_PROXY\/ALL_PROXY\)\n$/,
  );
});
