import assert from "node:assert/strict";
import {
  type NetworkProxy,
  type ProxyFactory,
  proxyLabel,
  proxyQuery,
  validateProxy,
} from "../../src/proxy/network_proxy.ts";
import { systemProxyFactory } from "../../src/proxy/system_proxy.ts";
import { classifyProxyError, probeConnect, probeProxy } from "../../src/proxy/_probe.ts";
import { redactProxy } from "../../src/proxy/_redact.ts";
import { resolveProxy } from "../../src/proxy/_resolve.ts";
import { _envHasProxy, _ProxyClientPool } from "../../src/_proxy_client.ts";
import { NetworkError } from "../../src/network_error.ts";
import { makeConsumer } from "../_helpers/consumer.ts";
import { runDeno } from "../_helpers/deno_run.ts";
import { closedPort } from "../_helpers/server.ts";
import {
  runWithEnv,
  startOrigin,
  startProxyServer,
  TEST_CA_CERT,
} from "../_helpers/proxy_server.ts";

const hosts = { "origin.test": "127.0.0.1" };
const SECRET = "pa55:w0rd/é";
const auth = { username: "alice", password: SECRET };

function query(url: string) {
  return proxyQuery(new URL(url));
}

function proxyFor(env: Record<string, string>, url: string): readonly NetworkProxy[] {
  return systemProxyFactory(env)(query(url));
}

function bypassed(noProxy: string, url: string): boolean {
  return proxyFor({ HTTP_PROXY: "http://p:1", HTTPS_PROXY: "http://p:1", NO_PROXY: noProxy }, url)
    .length === 0;
}

/** A loopback port nothing listens on. */
function deadPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** What `fetch` throws through `proxy` (normalized by the pool), or a failure if it answers. */
async function fetchError(
  pool: _ProxyClientPool,
  proxy: NetworkProxy,
  url: string,
  init: RequestInit = {},
): Promise<unknown> {
  const client = pool.get(proxy, { caCerts: [TEST_CA_CERT] });
  return await fetch(url, { ...init, client }).then(
    async (response) => {
      await response.body?.cancel();
      throw new Error(`expected a failure, got ${response.status}`);
    },
    (e: unknown) => e,
  );
}

async function classify(
  proxy: NetworkProxy,
  url: string,
  init: RequestInit = {},
  probeTimeout = 300,
) {
  const pool = new _ProxyClientPool();
  try {
    const normalized = validateProxy(proxy, "test");
    const error = await fetchError(pool, normalized, url, init);
    return await classifyProxyError(error, normalized, url, {
      probeTimeout,
      caCerts: [TEST_CA_CERT],
    });
  } finally {
    pool.clear();
  }
}

Deno.test("proxyQuery gives the scheme, the bare host and the effective port", () => {
  assert.deepEqual(
    { ...query("https://Example.COM/a"), url: undefined },
    { url: undefined, scheme: "https", host: "example.com", port: 443 },
  );
  assert.equal(query("http://[::1]:8080/").host, "::1");
  assert.equal(query("http://[::1]:8080/").port, 8080);
  assert.equal(query("http://h/").port, 80);
  assert.equal(query("gopher://h/").port, -1);
  // A scheme named like an object's property has no default port either.
  assert.equal(query("constructor://h/").port, -1);
  assert.equal(query("tostring://h/").port, -1);
});

Deno.test("systemProxyFactory picks the variable by scheme, then ALL_PROXY", async (t) => {
  const env = {
    HTTP_PROXY: "http://plain:1",
    HTTPS_PROXY: "http://secure:2",
    ALL_PROXY: "socks5h://any:3",
  };
  await t.step("http uses HTTP_PROXY, https HTTPS_PROXY", () => {
    assert.deepEqual(proxyFor(env, "http://x/"), [{ type: "http", url: "http://plain:1" }]);
    assert.deepEqual(proxyFor(env, "https://x/"), [{ type: "http", url: "http://secure:2" }]);
    assert.deepEqual(proxyFor(env, "wss://x/"), [{ type: "http", url: "http://secure:2" }]);
  });
  await t.step("other schemes and missing variables fall back to ALL_PROXY", () => {
    assert.deepEqual(proxyFor(env, "ftp://x/"), [{ type: "socks5h", url: "socks5h://any:3" }]);
    assert.deepEqual(proxyFor({ ALL_PROXY: "socks5://any:3" }, "https://x/"), [
      { type: "socks5", url: "socks5://any:3" },
    ]);
  });
  await t.step("nothing set means a direct connection", () => {
    assert.deepEqual(proxyFor({}, "https://x/"), []);
    assert.deepEqual(proxyFor({ HTTPS_PROXY: "http://p:1" }, "http://x/"), []);
  });
});

Deno.test("systemProxyFactory reads lower case before upper case", async (t) => {
  await t.step("lower case wins", () => {
    const env = { http_proxy: "http://lower:1", HTTP_PROXY: "http://upper:1" };
    assert.equal(proxyFor(env, "http://x/")[0]?.url, "http://lower:1");
    const noProxy = { HTTP_PROXY: "http://p:1", no_proxy: "x", NO_PROXY: "y" };
    assert.deepEqual(proxyFor(noProxy, "http://x/"), []);
    assert.equal(proxyFor(noProxy, "http://y/").length, 1);
  });
  await t.step("an empty lower-case value counts as unset", () => {
    const env = { https_proxy: "", HTTPS_PROXY: "http://upper:1" };
    assert.equal(proxyFor(env, "https://x/")[0]?.url, "http://upper:1");
  });
  await t.step("upper-case HTTP_PROXY is ignored in a CGI program", () => {
    assert.deepEqual(
      proxyFor({ HTTP_PROXY: "http://evil:1", REQUEST_METHOD: "GET" }, "http://x/"),
      [],
    );
    const lower = { http_proxy: "http://ok:1", REQUEST_METHOD: "GET" };
    assert.equal(proxyFor(lower, "http://x/")[0]?.url, "http://ok:1");
  });
  await t.step(
    "variables given to it are all there is: no REQUEST_METHOD is not a CGI program",
    () => {
      assert.equal(proxyFor({ HTTP_PROXY: "http://ok:1" }, "http://x/")[0]?.url, "http://ok:1");
    },
  );
});

Deno.test("systemProxyFactory parses proxy values", () => {
  assert.deepEqual(proxyFor({ HTTP_PROXY: "proxy.local:3128" }, "http://x/"), [
    { type: "http", url: "http://proxy.local:3128" },
  ]);
  assert.deepEqual(proxyFor({ HTTP_PROXY: "http://proxy.local/" }, "http://x/"), [
    { type: "http", url: "http://proxy.local:80" },
  ]);
  assert.deepEqual(proxyFor({ HTTP_PROXY: "http://bob:s%3Acret@proxy.local:3128" }, "http://x/"), [
    { type: "http", url: "http://proxy.local:3128", username: "bob", password: "s:cret" },
  ]);
  assert.deepEqual(proxyFor({ HTTP_PROXY: "socks5h://proxy.local" }, "http://x/"), [
    { type: "socks5h", url: "socks5h://proxy.local:1080" },
  ]);
});

Deno.test("systemProxyFactory checks its env at the call", async (t) => {
  const factory = systemProxyFactory as (env: unknown) => unknown;
  for (const [env, shown] of [["x", '"x"'], [5, "5"], [null, "null"], [[], "an array"]]) {
    await t.step(`env ${shown}`, () => {
      assert.throws(() => factory(env), {
        name: "TypeError",
        message: "Cannot read the proxy environment: 'env' must be an object of environment " +
          `variables, got ${shown}`,
      });
    });
  }
  await t.step("a variable it reads must be a string", () => {
    assert.throws(() => factory({ http_proxy: 5 }), {
      name: "TypeError",
      message: "Cannot read the proxy environment: 'env.http_proxy' must be a string, got 5",
    });
    assert.throws(() => factory({ NO_PROXY: ["a"] }), {
      message: "Cannot read the proxy environment: 'env.NO_PROXY' must be a string, got an array",
    });
  });
  await t.step("undefined reads the process environment; unset and other names are fine", () => {
    assert.equal(typeof systemProxyFactory(undefined), "function");
    assert.equal(typeof factory({ http_proxy: undefined, OTHER: 5 }), "function");
  });
});

Deno.test("systemProxyFactory throws for a malformed value, naming the variable", async (t) => {
  const cases: [Record<string, string>, string, string][] = [
    [
      { HTTP_PROXY: "ftp://127.0.0.1:1" },
      "HTTP_PROXY",
      "the scheme must be http, https, socks5 or socks5h",
    ],
    [{ http_proxy: "socks4://u:s3cret@proxy.local:1080" }, "http_proxy", "the scheme must be"],
    [{ HTTP_PROXY: "http://127.0.0.1:99999" }, "HTTP_PROXY", "must be a URL or host:port"],
    [{ HTTP_PROXY: "http://[oops" }, "HTTP_PROXY", "must be a URL or host:port"],
    [{ HTTP_PROXY: "http://" }, "HTTP_PROXY", "must be a URL or host:port"],
    [{ ALL_PROXY: "socks5://u:s3cret@h:1/path" }, "ALL_PROXY", "must not have a path"],
  ];
  for (const [env, name, problem] of cases) {
    await t.step(JSON.stringify(env), () => {
      assert.throws(() => proxyFor(env, "http://x/"), (error: Error) => {
        assert.ok(error instanceof TypeError);
        assert.ok(
          error.message.startsWith(`Cannot use proxy: the environment variable ${name} `),
          error.message,
        );
        assert.ok(error.message.includes(problem), error.message);
        assert.ok(!error.message.includes("s3cret"), error.message);
        return true;
      });
    });
  }
  await t.step("the value is quoted with its user info hidden", () => {
    assert.throws(
      () => proxyFor({ HTTP_PROXY: "http://bob:s3cret@127.0.0.1:99999" }, "http://x/"),
      {
        message: "Cannot use proxy: the environment variable HTTP_PROXY is not a usable proxy " +
          'URL (must be a URL or host:port), got "http://***@127.0.0.1:99999"',
      },
    );
  });
  await t.step("a port out of range is the check's own words", () => {
    assert.throws(() => proxyFor({ HTTP_PROXY: "http://127.0.0.1:0" }, "http://x/"), {
      name: "TypeError",
      message: "Cannot use proxy: the environment variable HTTP_PROXY is not a usable proxy " +
        'URL (must have a port from 1 to 65535), got "http://127.0.0.1:0"',
    });
  });
  await t.step("a long value is cut, as messages show every string", () => {
    assert.throws(() => proxyFor({ HTTP_PROXY: `http://${"p".repeat(70)}:1/x` }, "http://x/"), {
      message: "Cannot use proxy: the environment variable HTTP_PROXY is not a usable proxy " +
        `URL (must not have a path, query or fragment), got "http://${"p".repeat(50)}..."`,
    });
  });
  await t.step("only the variable a request would use, after NO_PROXY, counts", () => {
    const env = { HTTP_PROXY: "ftp://bad:1", HTTPS_PROXY: "http://ok:1", NO_PROXY: "skip.test" };
    assert.deepEqual(proxyFor(env, "https://x/"), [{ type: "http", url: "http://ok:1" }]);
    assert.deepEqual(proxyFor(env, "http://skip.test/"), []);
  });
});

Deno.test("systemProxyFactory honours every NO_PROXY form", async (t) => {
  await t.step("* alone bypasses everything", () => {
    assert.ok(bypassed("*", "http://anything.example/"));
    assert.ok(bypassed("*", "http://10.1.2.3/"));
    assert.ok(bypassed("a.example, *", "http://[::1]/"));
  });
  await t.step("a name matches itself and its subdomains on label boundaries", () => {
    assert.ok(bypassed("example.com", "http://example.com/"));
    assert.ok(bypassed("example.com", "https://a.b.example.com/"));
    assert.ok(!bypassed("example.com", "http://badexample.com/"));
    assert.ok(!bypassed("a.example.com", "http://example.com/"));
  });
  await t.step("a leading dot or *. changes nothing", () => {
    for (const entry of [".example.com", "*.example.com"]) {
      assert.ok(bypassed(entry, "http://example.com/"), entry);
      assert.ok(bypassed(entry, "http://www.example.com/"), entry);
      assert.ok(!bypassed(entry, "http://notexample.com/"), entry);
    }
  });
  await t.step("case, spaces and a trailing dot do not matter", () => {
    assert.ok(bypassed("  Example.COM  other.test", "http://WWW.example.com./"));
    assert.ok(bypassed("example.com.", "http://example.com/"));
  });
  await t.step("host:port matches that port only", () => {
    assert.ok(bypassed("example.com:8080", "http://example.com:8080/"));
    assert.ok(!bypassed("example.com:8080", "http://example.com/"));
    assert.ok(bypassed("example.com:443", "https://example.com/"));
  });
  await t.step("IPv4 literals and CIDR ranges", () => {
    assert.ok(bypassed("127.0.0.1", "http://127.0.0.1:9/"));
    assert.ok(!bypassed("127.0.0.1", "http://127.0.0.2/"));
    assert.ok(bypassed("10.0.0.0/8", "http://10.200.3.4/"));
    assert.ok(!bypassed("10.0.0.0/8", "http://11.0.0.1/"));
    assert.ok(bypassed("192.168.1.0/24:8080", "http://192.168.1.7:8080/"));
    assert.ok(!bypassed("192.168.1.0/24:8080", "http://192.168.1.7/"));
  });
  await t.step("IPv6 literals, bracketed or not, with ports and CIDR ranges", () => {
    assert.ok(bypassed("::1", "http://[::1]/"));
    assert.ok(bypassed("[::1]", "http://[0:0:0:0:0:0:0:1]/"));
    assert.ok(bypassed("[::1]:8080", "http://[::1]:8080/"));
    assert.ok(!bypassed("[::1]:8080", "http://[::1]:8081/"));
    assert.ok(bypassed("fe80::/10", "http://[fe80::1234:5678]/"));
    assert.ok(!bypassed("fe80::/10", "http://[fec0::1]/"));
    assert.ok(bypassed("::ffff:10.0.0.0/104", "http://[::ffff:10.9.8.7]/"));
  });
  await t.step("IP entries never match names, names are not resolved", () => {
    assert.ok(!bypassed("127.0.0.1", "http://localhost/"));
    assert.ok(!bypassed("0.1", "http://10.0.0.1/"));
  });
  await t.step("nothing is bypassed implicitly, not even localhost", () => {
    assert.ok(!bypassed("", "http://localhost/"));
    assert.ok(!bypassed("example.com", "http://127.0.0.1/"));
  });
  await t.step("malformed entries are ignored", () => {
    assert.ok(!bypassed("10.0.0.0/40,example.com:http,[::1", "http://10.0.0.1/"));
    assert.ok(bypassed("10.0.0.0/40,example.com:http,[::1,ok.test", "http://ok.test/"));
  });
});

Deno.test("systemProxyFactory reads the process environment only with permission", async () => {
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    const module = new URL("../../src/proxy/system_proxy.ts", import.meta.url).href;
    const query = new URL("../../src/proxy/network_proxy.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { systemProxyFactory } from "${module}";
import { proxyQuery } from "${query}";
const f = systemProxyFactory();
const ask = (u: string) => f(proxyQuery(new URL(u))).map((p) => p.url);
console.log(JSON.stringify([ask("http://a.test/"), ask("https://a.test/"), ask("https://skip.test/")]));`,
    );
    const run = async (allowEnv: string) => {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-prompt", "--no-config", allowEnv, script],
        env: {
          HTTP_PROXY: "http://plain.test:1",
          HTTPS_PROXY: "http://secure.test:2",
          NO_PROXY: "skip.test",
          https_proxy: "",
          http_proxy: "",
          no_proxy: "",
        },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
      return JSON.parse(new TextDecoder().decode(output.stdout));
    };
    assert.deepEqual(await run("--allow-env"), [
      ["http://plain.test:1"],
      ["http://secure.test:2"],
      [],
    ]);
    // Without permission for HTTP_PROXY and NO_PROXY they read as unset, with no prompt.
    assert.deepEqual(await run("--allow-env=HTTPS_PROXY,https_proxy"), [
      [],
      ["http://secure.test:2"],
      ["http://secure.test:2"],
    ]);
  } finally {
    await Deno.remove(script);
  }
});

/**
 * Runs the consumer in `dir` (`main.ts`, given `mode`) with no prompt, only `vars` in its
 * environment (and what Deno needs), net access to 127.0.0.1 and `--allow-env=allowEnv`.
 */
function runHttpoxyConsumer(
  dir: string,
  allowEnv: string,
  vars: Record<string, string>,
  mode: string,
): ReturnType<typeof runDeno> {
  const env: Record<string, string> = {
    ...vars,
    NO_COLOR: "1",
    PATH: Deno.env.get("PATH") ?? "",
    HOME: Deno.env.get("HOME") ?? "",
  };
  const denoDir = Deno.env.get("DENO_DIR");
  if (denoDir) env.DENO_DIR = denoDir;
  return runDeno([
    "run",
    "--no-lock",
    "--no-prompt",
    "--allow-net=127.0.0.1",
    "--allow-read",
    `--allow-env=${allowEnv}`,
    "main.ts",
    mode,
  ], { cwd: dir, clearEnv: true, env });
}

Deno.test("the documented --allow-env list lets the httpoxy guard work, with no prompt", async (t) => {
  const root = new URL("../../", import.meta.url);
  const list = (text: string) => /`--allow-env=(http_proxy[^`]*)`/.exec(text)?.[1];
  const readme = list(await Deno.readTextFile(new URL("README.md", root)));
  const doc = list(await Deno.readTextFile(new URL("src/proxy/system_proxy.ts", root)));
  assert.ok(readme, "the README lists the variables systemProxyFactory() reads");
  assert.equal(readme, doc, "the README and the API doc list the same variables");
  assert.ok(readme.split(",").includes("REQUEST_METHOD"));
  await using origin = startOrigin();
  await using proxy = startProxyServer();
  const dir = await makeConsumer(
    "netaccess_httpoxy_",
    `import { NetworkAccessManager, systemProxyFactory } from "@netaccess/core";
await using manager = new NetworkAccessManager(
  Deno.args[0] === "factory" ? { proxyFactory: systemProxyFactory() } : {},
);
const reply = manager.get(${JSON.stringify(origin.url("127.0.0.1", "/cgi"))});
console.log(reply.error, await reply.text());`,
  );
  try {
    const run = async (vars: Record<string, string>, mode: string) => {
      const before = proxy.log.length;
      const output = await runHttpoxyConsumer(dir, readme, vars, mode);
      assert.equal(output.code, 0, output.stderr);
      assert.equal(output.stdout, "0 origin GET /cgi\n");
      return proxy.log.length - before;
    };
    for (const mode of ["system", "factory"]) {
      await t.step(mode, async () => {
        assert.equal(await run({ HTTP_PROXY: proxy.url }, mode), 1, "HTTP_PROXY is used");
        assert.equal(
          await run({ HTTP_PROXY: proxy.url, REQUEST_METHOD: "GET" }, mode),
          0,
          "a CGI program ignores HTTP_PROXY",
        );
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("without permission for REQUEST_METHOD, HTTP_PROXY fails the reply instead of being trusted", async (t) => {
  await using origin = startOrigin();
  await using proxy = startProxyServer();
  const dir = await makeConsumer(
    "netaccess_httpoxy_unknown_",
    `import { NetworkAccessManager, systemProxyFactory } from "@netaccess/core";
await using manager = new NetworkAccessManager(
  Deno.args[0] === "factory" ? { proxyFactory: systemProxyFactory() } : {},
);
const reply = manager.get(${JSON.stringify(origin.url("127.0.0.1", "/cgi"))});
await reply.finished;
console.log(JSON.stringify([reply.error, reply.errorString]));`,
  );
  const documented = "http_proxy,HTTP_PROXY,https_proxy,HTTPS_PROXY,all_proxy,ALL_PROXY," +
    "no_proxy,NO_PROXY";
  try {
    const run = async (allowEnv: string, vars: Record<string, string>, mode: string) => {
      const before = proxy.log.length;
      const output = await runHttpoxyConsumer(dir, allowEnv, vars, mode);
      assert.equal(output.code, 0, output.stderr);
      assert.equal(output.stderr, "", "no prompt, no warning");
      const [error, errorString] = JSON.parse(output.stdout);
      return { error, errorString, proxied: proxy.log.length - before };
    };
    for (const mode of ["system", "factory"]) {
      await t.step(mode, async () => {
        for (const allowEnv of [documented, "HTTP_PROXY"]) {
          for (
            const vars of [
              { HTTP_PROXY: proxy.url, REQUEST_METHOD: "GET" },
              { HTTP_PROXY: proxy.url },
            ] as Record<string, string>[]
          ) {
            const got = await run(allowEnv, vars, mode);
            assert.equal(got.proxied, 0, `${allowEnv}: the proxy is not used`);
            assert.equal(got.error, NetworkError.UnknownNetworkError, got.errorString);
            assert.match(got.errorString, /HTTP_PROXY is set, but REQUEST_METHOD may not be read/);
            assert.match(got.errorString, /add REQUEST_METHOD to --allow-env/);
          }
        }
        // Lower case is never set by a CGI server: used without REQUEST_METHOD.
        const lower = await run(
          "http_proxy",
          { http_proxy: proxy.url, REQUEST_METHOD: "GET" },
          mode,
        );
        assert.deepEqual(lower, { error: NetworkError.NoError, errorString: "", proxied: 1 });
        // NO_PROXY still sends the request direct.
        const bypassed = await run(
          documented,
          { HTTP_PROXY: proxy.url, NO_PROXY: "127.0.0.1" },
          mode,
        );
        assert.deepEqual(bypassed, { error: NetworkError.NoError, errorString: "", proxied: 0 });
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("validateProxy gives a SOCKS5 proxy's host as an http URL has it", () => {
  for (const type of ["socks5", "socks5h"]) {
    for (
      const [url, expected] of [
        [`${type}://bücher.example`, `${type}://xn--bcher-kva.example:1080`],
        [`${type}://B%C3%9Ccher.Example:1081`, `${type}://xn--bcher-kva.example:1081`],
        ["bücher.example:1082", `${type}://xn--bcher-kva.example:1082`],
        [`${type}://0x7f.1`, `${type}://127.0.0.1:1080`],
        [`${type}://[::1]:1080`, `${type}://[::1]:1080`],
      ]
    ) {
      assert.deepEqual(validateProxy({ type, url }, "x"), { type, url: expected }, url!);
    }
    for (const url of [`${type}://a%2Fb.example`, `${type}://1.2.3.4.5`]) {
      assert.throws(() => validateProxy({ type, url }, "x"), {
        name: "TypeError",
        message: `x: 'proxy.url' has an invalid host name, got "${url}"`,
      });
    }
  }
  assert.deepEqual(
    systemProxyFactory({ ALL_PROXY: "socks5h://bücher.example" })(
      proxyQuery(new URL("https://a.test/")),
    ),
    [{ type: "socks5h", url: "socks5h://xn--bcher-kva.example:1080" }],
  );
});

Deno.test("systemProxyFactory matches NO_PROXY names past ASCII by their punycode form", () => {
  assert.ok(bypassed("bücher.example", "http://bücher.example/"));
  assert.ok(bypassed("BÜCHER.example", "http://xn--bcher-kva.example/"));
  assert.ok(bypassed(".bücher.example,other.test", "https://a.bücher.example/"));
  assert.ok(bypassed("*.bücher.example", "https://a.bücher.example/"));
  assert.ok(bypassed("bücher.example:8080", "http://bücher.example:8080/"));
  assert.ok(!bypassed("bücher.example:8080", "http://bücher.example/"));
  assert.ok(!bypassed("bücher.example", "http://xn--bcher-kva.example.test/"));
  assert.ok(bypassed("xn--bcher-kva.example", "http://bücher.example/"));
  // A query built by hand may name the host in Unicode.
  const factory = systemProxyFactory({ HTTP_PROXY: "http://p:1", NO_PROXY: "bücher.example" });
  const url = new URL("http://bücher.example/");
  assert.deepEqual(factory({ url, scheme: "http", host: "Bücher.example", port: 80 }), []);
});

Deno.test("validateProxy normalizes proxies", async (t) => {
  await t.step("URLs get their scheme and default port", () => {
    assert.deepEqual(validateProxy({ type: "http", url: "proxy.test" }, "x"), {
      type: "http",
      url: "http://proxy.test:80",
    });
    assert.deepEqual(validateProxy({ type: "https", url: "https://Proxy.Test" }, "x"), {
      type: "https",
      url: "https://proxy.test:443",
    });
    assert.deepEqual(validateProxy({ type: "socks5", url: "127.0.0.1" }, "x"), {
      type: "socks5",
      url: "socks5://127.0.0.1:1080",
    });
    assert.deepEqual(validateProxy({ type: "socks5h", url: "socks5h://[::1]:9050" }, "x"), {
      type: "socks5h",
      url: "socks5h://[::1]:9050",
    });
  });
  await t.step("credentials leave the URL; explicit fields win", () => {
    assert.deepEqual(validateProxy({ type: "http", url: "http://a%40b:p%3Aw@h:1" }, "x"), {
      type: "http",
      url: "http://h:1",
      username: "a@b",
      password: "p:w",
    });
    assert.deepEqual(
      validateProxy({ type: "http", url: "http://a:b@h:1", username: "u", password: "v" }, "x"),
      { type: "http", url: "http://h:1", username: "u", password: "v" },
    );
    // An empty user name with a password (a token), as curl and Go send it: Basic ":token".
    assert.deepEqual(validateProxy({ type: "http", url: "http://:t%40ken@h:1" }, "x"), {
      type: "http",
      url: "http://h:1",
      username: "",
      password: "t@ken",
    });
    assert.deepEqual(validateProxy({ type: "http", url: "h:1", username: "u" }, "x"), {
      type: "http",
      url: "http://h:1",
      username: "u",
      password: "",
    });
  });
  await t.step("none and system need no URL", () => {
    assert.deepEqual(validateProxy({ type: "none" }, "x"), { type: "none" });
    assert.deepEqual(validateProxy({ type: "system", url: "ignored" }, "x"), { type: "system" });
  });
});

Deno.test("validateProxy rejects bad proxies with Deno-style messages", () => {
  const where = "Cannot create manager";
  const cases: [unknown, ErrorConstructor | RangeErrorConstructor, string][] = [
    [null, TypeError, `${where}: 'proxy' must be an object, got null`],
    [
      { type: "ftp", url: "x" },
      TypeError,
      `${where}: 'proxy.type' must be one of "http", "https", "socks5", "socks5h", "none", "system", got "ftp"`,
    ],
    [
      { type: "http" },
      TypeError,
      `${where}: 'proxy.url' must be a non-empty string for a "http" proxy, got undefined`,
    ],
    [
      { type: "socks5h", url: "socks5://h:1" },
      TypeError,
      `${where}: 'proxy.url' must use the scheme "socks5h:" of a "socks5h" proxy, got "socks5:"`,
    ],
    [
      { type: "http", url: "http://h:1/path" },
      TypeError,
      `${where}: 'proxy.url' must not have a path, query or fragment, got "http://h:1/path"`,
    ],
    // A string that gives no usable URL is a TypeError, whichever part of it is wrong: port 0
    // (which the URL parser takes) as a port past 65535 (which it does not).
    [
      { type: "http", url: "http://h:0" },
      TypeError,
      `${where}: 'proxy.url' must have a port from 1 to 65535, got "http://h:0"`,
    ],
    [
      { type: "socks5", url: "socks5://u:p@h:0" },
      TypeError,
      `${where}: 'proxy.url' must have a port from 1 to 65535, got "socks5://***@h:0"`,
    ],
    [
      { type: "http", url: "http://h:65536" },
      TypeError,
      `${where}: 'proxy.url' must be a URL or host:port, got "http://h:65536"`,
    ],
    // Blank is shown as given; a long URL is cut, as messages show every string.
    [
      { type: "http", url: "  " },
      TypeError,
      `${where}: 'proxy.url' must be a non-empty string for a "http" proxy, got "  "`,
    ],
    [
      { type: "http", url: `http://${"h".repeat(70)}:1/x` },
      TypeError,
      `${where}: 'proxy.url' must not have a path, query or fragment, got "http://${
        "h".repeat(50)
      }..."`,
    ],
    [
      { type: "http", url: "h:1", password: "p" },
      TypeError,
      `${where}: 'proxy.password' is given without 'proxy.username'`,
    ],
    [
      { type: "http", url: "h:1", username: 5 },
      TypeError,
      `${where}: 'proxy.username' must be a string, got 5`,
    ],
    // A password of the wrong type is not shown, unless it is an object (which holds none).
    [
      { type: "http", url: "h:1", username: "u", password: 1234 },
      TypeError,
      `${where}: 'proxy.password' must be a string, got a number`,
    ],
    [
      { type: "http", url: "h:1", username: "u", password: null },
      TypeError,
      `${where}: 'proxy.password' must be a string, got null`,
    ],
    [
      { type: "http", url: "h:1", username: "se:cret", password: "p" },
      TypeError,
      `${where}: 'proxy.username' must not contain ':' for a "http" proxy (Basic authentication)`,
    ],
    [
      { type: "https", url: "https://se%3Acret:p@h:1" },
      TypeError,
      `${where}: 'proxy.username' must not contain ':' for a "https" proxy (Basic authentication)`,
    ],
    [
      { type: "http", url: `http://u:${SECRET}@exa mple:1` },
      TypeError,
      `${where}: 'proxy.url' must be a URL or host:port, got "http://***@exa mple:1"`,
    ],
    // A password with a space is still a password: hidden up to the last "@".
    [
      { type: "http", url: "http://u:hush hush@[oops" },
      TypeError,
      `${where}: 'proxy.url' must be a URL or host:port, got "http://***@[oops"`,
    ],
    [
      { type: "http", url: "http://u:hush hush@h:1/path" },
      TypeError,
      `${where}: 'proxy.url' must not have a path, query or fragment, got "http://***@h:1/path"`,
    ],
  ];
  for (const [input, kind, message] of cases) {
    assert.throws(() => validateProxy(input, where), (e: unknown) => {
      assert.ok(e instanceof kind, `${message}: ${e}`);
      assert.equal((e as Error).message, message);
      return true;
    });
  }
  // SOCKS5 sends the user name as it is (RFC 1929): a colon is fine there.
  assert.equal(
    validateProxy({ type: "socks5", url: "h:1", username: "a:b", password: "c" }, where).username,
    "a:b",
  );
});

Deno.test("resolveProxy: an explicit proxy wins over the factory", async (t) => {
  const env = { HTTPS_PROXY: "http://system.test:8" };
  const factory: ProxyFactory = () => [{ type: "socks5", url: "socks5://factory.test:1" }];
  const q = query("https://target.test/");
  await t.step("explicit proxy", () => {
    const proxy: NetworkProxy = { type: "http", url: "explicit.test:3128" };
    assert.deepEqual(resolveProxy(q, { proxy, proxyFactory: factory, env }), {
      type: "http",
      url: "http://explicit.test:3128",
    });
  });
  await t.step("explicit none is direct, whatever the factory says", () => {
    assert.deepEqual(resolveProxy(q, { proxy: { type: "none" }, proxyFactory: factory, env }), {
      type: "none",
    });
  });
  await t.step("explicit system follows the environment", () => {
    assert.deepEqual(resolveProxy(q, { proxy: { type: "system" }, proxyFactory: factory, env }), {
      type: "http",
      url: "http://system.test:8",
    });
    assert.deepEqual(resolveProxy(q, { proxy: { type: "system" }, env: {} }), { type: "none" });
  });
  await t.step("no proxy: the factory", () => {
    assert.deepEqual(resolveProxy(q, { proxyFactory: factory, env }), {
      type: "socks5",
      url: "socks5://factory.test:1",
    });
  });
  await t.step("no proxy and no factory: the system", () => {
    assert.deepEqual(resolveProxy(q, { env }), { type: "http", url: "http://system.test:8" });
  });
  await t.step("the factory is asked about the request's URL", () => {
    const seen: string[] = [];
    resolveProxy(q, {
      proxyFactory: (query) => {
        seen.push(`${query.scheme} ${query.host} ${query.port} ${query.url.href}`);
        return [];
      },
    });
    assert.deepEqual(seen, ["https target.test 443 https://target.test/"]);
  });
});

Deno.test("resolveProxy uses the first usable entry of the factory's list", async (t) => {
  const q = query("http://target.test/");
  await t.step("an empty list is a direct connection", () => {
    assert.deepEqual(resolveProxy(q, { proxyFactory: () => [] }), { type: "none" });
  });
  await t.step("invalid entries are skipped", () => {
    const list = [
      { type: "http" } as NetworkProxy,
      { type: "socks5", url: "http://wrong:1" },
      { type: "https", url: "https://good.test:1" },
      { type: "http", url: "http://later.test:1" },
    ] satisfies NetworkProxy[];
    assert.deepEqual(resolveProxy(q, { proxyFactory: () => list }), {
      type: "https",
      url: "https://good.test:1",
    });
  });
  await t.step("none and system entries count as usable", () => {
    assert.deepEqual(
      resolveProxy(q, { proxyFactory: () => [{ type: "none" }, { type: "http", url: "h:1" }] }),
      { type: "none" },
    );
    assert.deepEqual(
      resolveProxy(q, { proxyFactory: () => [{ type: "system" }], env: { ALL_PROXY: "h:2" } }),
      { type: "http", url: "http://h:2" },
    );
  });
  await t.step("when nothing is usable the first error is thrown", () => {
    assert.throws(
      () => resolveProxy(q, { proxyFactory: () => [{ type: "http" }, { type: "bad" as "http" }] }),
      { name: "TypeError", message: /'proxy\.url' must be a non-empty string/ },
    );
    assert.throws(
      () => resolveProxy(q, { proxyFactory: (() => null) as unknown as ProxyFactory }),
      {
        name: "TypeError",
        message: "Cannot use proxy: 'proxyFactory' must return an array, got null",
      },
    );
  });
});

Deno.test("redactProxy removes every form of the credentials", () => {
  const proxy: NetworkProxy = {
    type: "http",
    url: "http://proxy:1",
    username: "alice",
    password: SECRET,
  };
  const token = btoa(String.fromCharCode(...new TextEncoder().encode(`alice:${SECRET}`)));
  const text = [
    `http://alice:${encodeURIComponent(SECRET)}@proxy:1`,
    `Proxy-Authorization: Basic ${token}`,
    `token ${token}`,
    `pair alice:${SECRET}`,
    `raw ${SECRET} and ${encodeURIComponent(SECRET)}`,
    "alice stays",
  ].join("\n");
  const out = redactProxy(text, proxy);
  assert.ok(!out.includes(SECRET));
  assert.ok(!out.includes(encodeURIComponent(SECRET)));
  assert.ok(!out.includes(token));
  assert.equal(
    out,
    [
      "http://***@proxy:1",
      "Proxy-Authorization: ***",
      "token ***",
      "pair ***",
      "raw *** and ***",
      "alice stays",
    ].join("\n"),
  );
  // Credentials still inside the proxy's URL are found too.
  assert.equal(
    redactProxy("secret=hunter22", { type: "http", url: "http://bob:hunter22@p:1" }),
    "secret=***",
  );
  // Without a proxy, user info and Proxy-Authorization values still go.
  assert.equal(redactProxy("see socks5://u:p@h:1 now"), "see socks5://***@h:1 now");
  assert.equal(
    proxyLabel(validateProxy({ ...proxy, url: "http://x:y@proxy:1" }, "x")),
    "http://proxy:1",
  );
});

Deno.test("_ProxyClientPool keeps one client per configuration", async (t) => {
  const pool = new _ProxyClientPool();
  try {
    await t.step("the same configuration gives the same client", () => {
      const a = pool.get({ type: "http", url: "proxy.test:3128", ...auth });
      const b = pool.get({ type: "http", url: "http://alice:x@proxy.test:3128", ...auth });
      assert.ok(a !== undefined);
      assert.equal(a, b);
      assert.equal(pool.size, 1);
    });
    await t.step("type, address, credentials and CA certificates each make a new client", () => {
      const base: NetworkProxy = { type: "http", url: "proxy.test:3128", ...auth };
      const clients = new Set([
        pool.get(base),
        pool.get({ ...base, password: "other" }),
        pool.get({ ...base, username: "bob" }),
        pool.get({ ...base, url: "proxy.test:3129" }),
        pool.get({ ...base, type: "socks5", url: "proxy.test:3128" }),
        pool.get({ ...base, type: "socks5h", url: "proxy.test:3128" }),
        pool.get(base, { caCerts: [TEST_CA_CERT] }),
      ]);
      assert.equal(clients.size, 7);
      assert.equal(pool.size, 7);
    });
    await t.step(
      "a direct connection uses the default client unless CA certificates are given",
      () => {
        if (_envHasProxy()) return; // covered by the environment test below
        assert.equal(pool.get({ type: "none" }), undefined);
        const direct = pool.get({ type: "none" }, { caCerts: [TEST_CA_CERT] });
        assert.ok(direct !== undefined);
        assert.equal(pool.get({ type: "none" }, { caCerts: [TEST_CA_CERT] }), direct);
      },
    );
    await t.step("system and invalid proxies are refused", () => {
      assert.throws(() => pool.get({ type: "system" }), {
        name: "TypeError",
        message:
          `Cannot create HTTP client: 'proxy.type' "system" must be resolved to a proxy first`,
      });
      assert.throws(() => pool.get({ type: "http" }), TypeError);
    });
  } finally {
    pool.clear();
  }
});

Deno.test("_ProxyClientPool keeps the most recently used clients and closes the others once unused", async (t) => {
  await using origin = startOrigin();
  await using proxy = startProxyServer({ hosts });
  const target = origin.url("origin.test");
  const works = async (client: Deno.HttpClient) =>
    assert.equal(await (await fetch(target, { client })).text(), "origin GET /");
  const as = (username: string): NetworkProxy => ({ type: "http", url: proxy.url, username });
  await t.step("the least recently used client is closed when one too many is made", async () => {
    const pool = new _ProxyClientPool(2);
    try {
      const a = pool.get(as("a"))!;
      const b = pool.get(as("b"))!;
      assert.equal(pool.get(as("a")), a); // a is now the most recent
      pool.get(as("c"));
      assert.equal(pool.size, 2);
      await assert.rejects(fetch(target, { client: b }));
      await works(a);
      assert.notEqual(pool.get(as("b")), b);
    } finally {
      pool.clear();
    }
  });
  await t.step("a client in use stays open until its last request lets go", async () => {
    const pool = new _ProxyClientPool(1);
    try {
      const a = pool.get(as("a"))!;
      const first = pool.hold(a);
      const second = pool.hold(a);
      pool.get(as("b"));
      assert.equal(pool.size, 2);
      await works(a);
      first();
      first();
      assert.equal(pool.size, 2);
      await works(a);
      second();
      assert.equal(pool.size, 1);
      await assert.rejects(fetch(target, { client: a }));
    } finally {
      pool.clear();
    }
  });
});

Deno.test("_ProxyClientPool.clear closes every client and is safe twice", async () => {
  await using origin = startOrigin();
  await using proxy = startProxyServer({ hosts });
  const pool = new _ProxyClientPool();
  const client = pool.get({ type: "http", url: proxy.url })!;
  const response = await fetch(origin.url("origin.test"), { client });
  assert.equal(await response.text(), "origin GET /");
  pool.clear();
  pool.clear();
  assert.equal(pool.size, 0);
  await assert.rejects(fetch(origin.url("origin.test"), { client }));
  const fresh = pool.get({ type: "http", url: proxy.url });
  assert.notEqual(fresh, client);
  pool.clear();
});

Deno.test("_ProxyClientPool: the clients of a pool no one holds are closed once it is collected", async () => {
  // Managers that each send a request through a proxy (ten with a client of their own, ten
  // sharing one) and are never closed: a Deno.HttpClient is a resource of the process, which the
  // collector does not free.
  const { code, stdout, stderr } = await runDeno([
    "run",
    "--allow-net=127.0.0.1",
    "--v8-flags=--expose-gc",
    new URL("../testdata/proxy/abandoned_clients.ts", import.meta.url).pathname,
    String(closedPort()),
    String(closedPort()),
  ], { cwd: new URL("../../", import.meta.url).pathname });
  assert.equal(code, 0, stderr);
  assert.deepEqual(JSON.parse(stdout), { made: 11, closed: 11 });
});

Deno.test("_ProxyClientPool clients ignore the proxy environment variables", async () => {
  // In a process of its own, started with the variables set: they are process-wide, and a
  // manager in another test module running at the same time would read them.
  await using origin = startOrigin();
  await using proxy = startProxyServer({ hosts });
  await using decoy = startProxyServer({ hosts });
  const { code, stdout, stderr } = await runWithEnv(
    new URL("../testdata/proxy/pool_env.ts", import.meta.url),
    [proxy.url, origin.url("origin.test", "/via"), origin.url("127.0.0.1", "/direct")],
    {
      HTTP_PROXY: decoy.url,
      http_proxy: decoy.url,
      ALL_PROXY: decoy.url,
      NO_PROXY: "origin.test",
      no_proxy: "origin.test",
    },
  );
  assert.equal(code, 0, stderr);
  assert.deepEqual(JSON.parse(stdout), {
    // NO_PROXY does not bypass an explicit proxy.
    via: "origin GET /via",
    // HTTP_PROXY does not proxy a direct connection: it gets a client of its own.
    direct: "origin GET /direct",
    directClient: true,
    // The variables are back once the clients are made.
    after: { HTTP_PROXY: decoy.url, NO_PROXY: "origin.test" },
  });
  assert.deepEqual(proxy.log.map((r) => r.url), [origin.url("origin.test", "/via")]);
  assert.equal(decoy.accepted, 0);
});

Deno.test("a direct request once the environment's proxy is removed goes direct, after a plain fetch", async () => {
  // fetch's default client is made at the process's first fetch, with the proxy variables of
  // that moment, and keeps them.
  await using origin = startOrigin();
  const { code, stdout, stderr } = await runWithEnv(
    new URL("../testdata/proxy/env_removed_direct.ts", import.meta.url),
    [origin.url("127.0.0.1", "/env")],
    { HTTP_PROXY: `http://127.0.0.1:${closedPort()}` },
  );
  assert.equal(code, 0, stderr);
  assert.deepEqual(JSON.parse(stdout), {
    fetch: "failed",
    none: "origin GET /env",
    default: "origin GET /env",
  });
});

Deno.test("classifyProxyError: a proxy port that refuses is ProxyConnectionRefusedError", async (t) => {
  await using origin = startOrigin();
  const port = deadPort();
  for (const type of ["http", "socks5", "socks5h"] as const) {
    await t.step(type, async () => {
      const error = await classify(
        { type, url: `127.0.0.1:${port}`, ...auth },
        origin.url("origin.test"),
      );
      assert.equal(error.code, NetworkError.ProxyConnectionRefusedError, error.message);
      assert.match(error.message, new RegExp(`Proxy ${type}://127\\.0\\.0\\.1:${port} refused`));
      assert.ok(!error.message.includes(SECRET));
    });
  }
  await t.step("https target through an http proxy", async () => {
    const error = await classify(
      { type: "http", url: `127.0.0.1:${port}` },
      `https://origin.test:${port}/`,
    );
    assert.equal(error.code, NetworkError.ProxyConnectionRefusedError);
  });
});

Deno.test("classifyProxyError: a proxy that closes is ProxyConnectionClosedError", async (t) => {
  await using origin = startOrigin({ tls: true });
  await using plain = startOrigin();
  await using http = startProxyServer({ hosts, mode: "close" });
  await using socks = startProxyServer({ protocol: "socks5", hosts, mode: "close" });
  await t.step("http proxy, forwarded request", async () => {
    const error = await classify(
      { type: "http", url: http.url, ...auth },
      plain.url("origin.test"),
    );
    assert.equal(error.code, NetworkError.ProxyConnectionClosedError, error.message);
    assert.ok(!error.message.includes(SECRET));
  });
  await t.step("http proxy, CONNECT", async () => {
    const error = await classify({ type: "http", url: http.url }, origin.url("origin.test"));
    assert.equal(error.code, NetworkError.ProxyConnectionClosedError, error.message);
  });
  await t.step("socks5 proxy", async () => {
    const error = await classify(
      { type: "socks5", url: socks.url, ...auth },
      origin.url("origin.test"),
    );
    assert.equal(error.code, NetworkError.ProxyConnectionClosedError, error.message);
  });
});

Deno.test("classifyProxyError: an unresolvable proxy host is ProxyNotFoundError", async (t) => {
  for (const type of ["http", "socks5h"] as const) {
    await t.step(type, async () => {
      const error = await classify(
        { type, url: "proxy.invalid:3128", ...auth },
        "http://origin.test/",
      );
      assert.equal(error.code, NetworkError.ProxyNotFoundError, error.message);
      assert.match(error.message, /Proxy host of .*proxy\.invalid:3128 not found/);
      assert.ok(!error.message.includes(SECRET));
    });
  }
});

Deno.test("classifyProxyError tells a silent proxy from a silent target", async (t) => {
  await t.step("a proxy that accepts and never answers is ProxyTimeoutError", async () => {
    await using hang = startProxyServer({ hosts, mode: "hang" });
    await using hangSocks = startProxyServer({ protocol: "socks5", hosts, mode: "hang" });
    for (const proxy of [hang, hangSocks]) {
      const type = proxy === hang ? "http" : "socks5";
      const error = await classify({ type, url: proxy.url }, `http://origin.test:${deadPort()}/`, {
        signal: AbortSignal.timeout(150),
      }, 150);
      assert.equal(error.code, NetworkError.ProxyTimeoutError, error.message);
    }
  });
  await t.step("a target that never answers through a live proxy is TimeoutError", async () => {
    const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const held: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const conn of silent) held.push(conn);
    })();
    try {
      await using proxy = startProxyServer({ hosts });
      const url = `http://origin.test:${(silent.addr as Deno.NetAddr).port}/`;
      const error = await classify({ type: "http", url: proxy.url }, url, {
        signal: AbortSignal.timeout(150),
      }, 150);
      assert.equal(error.code, NetworkError.TimeoutError, error.message);
    } finally {
      silent.close();
      await accepting;
      for (const conn of held) conn.close();
    }
  });
});

Deno.test("classifyProxyError keeps target failures reported by the proxy as target errors", async (t) => {
  await using socks = startProxyServer({ protocol: "socks5", hosts });
  await t.step("target refused through SOCKS5 is ConnectionRefusedError", async () => {
    const error = await classify(
      { type: "socks5", url: socks.url },
      `http://127.0.0.1:${deadPort()}/`,
    );
    assert.equal(error.code, NetworkError.ConnectionRefusedError, error.message);
    assert.match(error.message, /says proxy socks5:\/\/127\.0\.0\.1:\d+/);
  });
  await t.step("target unreachable through SOCKS5 is HostNotFoundError", async () => {
    const url = socks.url.replace("socks5:", "socks5h:");
    const error = await classify({ type: "socks5h", url }, "http://target.invalid/");
    assert.equal(error.code, NetworkError.HostNotFoundError, error.message);
  });
  await t.step("a failed CONNECT names the proxy's status", async () => {
    await using http = startProxyServer({ hosts });
    const error = await classify(
      { type: "http", url: http.url },
      `https://origin.test:${deadPort()}/`,
    );
    assert.equal(error.code, NetworkError.UnknownProxyError, error.message);
    assert.match(
      error.message,
      /could not open a tunnel to origin\.test:\d+ \(HTTP 502 to CONNECT\)/,
    );
  });
});

Deno.test("classifyProxyError: refused credentials are ProxyAuthenticationRequiredError", async (t) => {
  await using origin = startOrigin({ tls: true });
  await using http = startProxyServer({ hosts, auth });
  await using socks = startProxyServer({ protocol: "socks5", hosts, auth });
  const wrong = { username: "alice", password: "wrong-" + SECRET };
  await t.step("CONNECT answered with 407", async () => {
    const error = await classify(
      { type: "http", url: http.url, ...wrong },
      origin.url("origin.test"),
    );
    assert.equal(error.code, NetworkError.ProxyAuthenticationRequiredError, error.message);
    assert.ok(!error.message.includes(SECRET));
  });
  await t.step("SOCKS5 without and with wrong credentials", async () => {
    for (const credentials of [{}, wrong]) {
      const error = await classify(
        { type: "socks5", url: socks.url, ...credentials },
        origin.url("origin.test"),
      );
      assert.equal(error.code, NetworkError.ProxyAuthenticationRequiredError, error.message);
      assert.ok(!error.message.includes(SECRET));
    }
  });
  await t.step("probeConnect reports the proxy's answer to CONNECT", async () => {
    const proxy = validateProxy({ type: "http", url: http.url, ...wrong }, "x");
    assert.equal((await probeConnect(proxy, "origin.test:1"))?.status, 407);
    const right = validateProxy({ type: "http", url: http.url, ...auth }, "x");
    assert.equal((await probeConnect(right, `origin.test:${deadPort()}`))?.status, 502);
    assert.equal(http.log.at(-1)?.proxyAuthorization, "Basic " + btoa("alice:pa55:w0rd/Ã©"));
  });
});

Deno.test("probeProxy tells refused, missing, silent and live proxies apart", async () => {
  await using live = startProxyServer({ hosts });
  await using liveSocks = startProxyServer({ protocol: "socks5", hosts });
  await using liveTls = startProxyServer({ hosts, tls: true });
  await using hang = startProxyServer({ hosts, mode: "hang" });
  const probe = (proxy: NetworkProxy) =>
    probeProxy(validateProxy(proxy, "x"), { probeTimeout: 150, caCerts: [TEST_CA_CERT] });
  assert.equal(await probe({ type: "http", url: live.url }), "alive");
  assert.equal(await probe({ type: "socks5", url: liveSocks.url }), "alive");
  assert.equal(await probe({ type: "https", url: liveTls.url }), "alive");
  assert.equal(await probe({ type: "http", url: hang.url }), "timeout");
  assert.equal(await probe({ type: "http", url: `127.0.0.1:${deadPort()}` }), "refused");
  assert.equal(await probe({ type: "socks5", url: "proxy.invalid:1080" }), "not-found");
});

Deno.test("classifyProxyError leaves direct connections and cancellation to the target rules", async () => {
  const url = `http://127.0.0.1:${deadPort()}/`;
  const refused = await fetch(url).catch((e: unknown) => e);
  const direct = await classifyProxyError(refused, { type: "none" }, url);
  assert.equal(direct.code, NetworkError.ConnectionRefusedError);
  const abort = new DOMException("aborted", "AbortError");
  const canceled = await classifyProxyError(abort, { type: "http", url: "http://p:1" }, url);
  assert.equal(canceled.code, NetworkError.OperationCanceledError);
});

/**
 * Runs a script of `tests/testdata/proxy/` with `--allow-env` and only HTTP_PROXY in its
 * environment, and returns the JSON it prints.
 */
async function runWithProxyEnv(name: string): Promise<unknown> {
  const script = new URL(`../testdata/proxy/${name}`, import.meta.url);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-env", "--allow-read", script.pathname],
    clearEnv: true,
    env: { HTTP_PROXY: "http://127.0.0.1:3128" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}

Deno.test("systemProxyFactory stops reading the environment once the env permission is revoked", async () => {
  assert.deepEqual(await runWithProxyEnv("env_revoke.ts"), {
    before: ["http://127.0.0.1:3128"],
    after: [],
  });
});

Deno.test("systemProxyFactory() reads the environment at its first query, not on every query", async () => {
  assert.deepEqual(await runWithProxyEnv("factory_env_once.ts"), {
    first: ["http://127.0.0.1:3128"],
    later: ["http://127.0.0.1:3128"], // Deno.env.set() after the first query: not read again
    fresh: ["http://127.0.0.1:8888"], // a factory made since reads the new value
    revoked: [], // the permission changed: read again, and unreadable now
  });
});
