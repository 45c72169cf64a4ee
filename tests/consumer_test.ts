/**
 * The package as a consumer sees it: a project of its own, with its own deno.json (an import map
 * to the entry points, no `"unstable"`), run with `deno run` and no flag.
 */

import assert from "node:assert/strict";
import { closedPort, serve } from "./_helpers/server.ts";
import { makeConsumer } from "./_helpers/consumer.ts";
import { type DenoOutput, runDeno } from "./_helpers/deno_run.ts";

const ROOT = new URL("../", import.meta.url);

/** Runs `program` with `deno run <flags>` in a temporary consumer project. */
async function runConsumer(
  program: string,
  flags: string[] = [],
  env: Record<string, string> = {},
): Promise<DenoOutput> {
  // Keep the consumer's output plain: no colours in what the tests read.
  const dir = await makeConsumer("netaccess_consumer_", program);
  try {
    return await runDeno(["run", "--no-lock", ...flags, "main.ts"], {
      cwd: dir,
      env: { NO_COLOR: "1", ...env },
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a consumer without the KV flag imports both entry points and makes requests", async () => {
  const { code, stdout, stderr } = await runConsumer(`
    import { MemoryCookieJar, NetworkAccessManager } from "@netaccess/core";
    import { createMockManager } from "@netaccess/core/testing";

    await using manager = new NetworkAccessManager();
    const text = await manager.get("data:text/plain,hello").text();
    await using mocked = createMockManager();
    mocked.mock.route("GET", "/a", { status: 200, headers: { "set-cookie": "id=1" }, body: "a" });
    const mockedText = await mocked.manager.get("https://api.example/a").text();
    const jar = new MemoryCookieJar();
    await jar.setCookiesFromUrl(["theme=dark"], "https://example.com/");
    const cookies = (await jar.cookiesForUrl("https://example.com/")).map((c) => c.name);
    console.log(JSON.stringify({ kv: typeof Deno.openKv, text, mockedText, cookies }));
  `);
  assert.equal(code, 0, stderr);
  assert.deepEqual(JSON.parse(stdout), {
    kv: "undefined",
    text: "hello",
    mockedText: "a",
    cookies: ["theme"],
  });
});

Deno.test("a consumer without the KV flag gets an error naming the flag from every KV store", async () => {
  const { code, stdout, stderr } = await runConsumer(`
    import {
      KvCache,
      KvCookieJar,
      KvHstsStore,
      KvNetworkAccessManagerFactory,
    } from "@netaccess/core";

    const opens = {
      cache: () => KvCache.open({ path: ":memory:" }),
      cookieJar: () => KvCookieJar.open({ path: ":memory:" }),
      hsts: () => KvHstsStore.open({ path: ":memory:" }),
      factory: () => KvNetworkAccessManagerFactory.open({ path: ":memory:" }),
    };
    const messages: Record<string, string> = {};
    for (const [name, open] of Object.entries(opens)) {
      try {
        await open();
        messages[name] = "opened";
      } catch (error) {
        messages[name] = (error as Error).name + ": " + (error as Error).message;
      }
    }
    console.log(JSON.stringify(messages));
  `);
  assert.equal(code, 0, stderr);
  const messages = JSON.parse(stdout) as Record<string, string>;
  assert.deepEqual(Object.keys(messages), ["cache", "cookieJar", "hsts", "factory"]);
  for (const [name, message] of Object.entries(messages)) {
    assert.match(message, /^TypeError: Cannot open /, name);
    assert.match(message, /Deno KV is not available/, name);
    assert.match(message, /--unstable-kv/, name);
    assert.match(message, /"unstable": \["kv"\]/, name);
  }
});

Deno.test("importing the entry points loads no npm package and no node: module until a feature needs it", async (t) => {
  for (const entry of ["mod.ts", "testing.ts"]) {
    await t.step(entry, async () => {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["info", "--json", entry],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
      const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
        roots: string[];
        modules: {
          specifier: string;
          dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
        }[];
      };
      const modules = new Map(info.modules.map((m) => [m.specifier, m]));
      // What evaluating the entry point runs: static imports of code (no types, nothing dynamic).
      const loaded = new Set<string>();
      const dynamic = new Set<string>();
      const pending = [...info.roots];
      while (pending.length > 0) {
        const specifier = pending.pop()!;
        if (loaded.has(specifier)) continue;
        loaded.add(specifier);
        for (const dependency of modules.get(specifier)?.dependencies ?? []) {
          if (dependency.code === undefined) continue;
          if (dependency.isDynamic) dynamic.add(dependency.code.specifier);
          else pending.push(dependency.code.specifier);
        }
      }
      // tough-cookie and tldts (a cookie jar's first use), http-cache-semantics (a cache's) and
      // node:crypto (a Digest challenge's) are imported when first needed, not at import.
      assert.deepEqual([...loaded].filter((s) => /^(npm|node):/.test(s)), []);
      assert.ok(loaded.has(new URL("src/cookies/memory_cookie_jar.ts", ROOT).href));
      const lazy = ["src/cookies/_engines.ts", "src/cache/_policy_class.ts", "node:crypto"];
      for (const module of lazy) {
        const specifier = module.startsWith("node:") ? module : new URL(module, ROOT).href;
        assert.ok(dynamic.has(specifier), `${module} is imported dynamically`);
      }
    });
  }
});

Deno.test("the README's first example, run as written, reports a failed transfer and exits cleanly", async (t) => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const first = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
  assert.ok(first?.includes(`manager.get("https://example.com/big.bin")`), first);
  await t.step("a refused connection", async () => {
    const url = `http://127.0.0.1:${closedPort()}/big.bin`;
    const program = first.replace("https://example.com/big.bin", url);
    const { code, stdout, stderr } = await runConsumer(program, ["--allow-net=127.0.0.1"]);
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stdout, /^\d+$/m, "no chunk arrived");
    assert.match(stderr, /^1 Connection refused by 127\.0\.0\.1:\d+/);
  });
  await t.step("a 404 with a body", async () => {
    await using server = serve(() => new Response("gone", { status: 404 }));
    const program = first.replace("https://example.com/big.bin", `${server.url}/big.bin`);
    const { code, stdout, stderr } = await runConsumer(program, ["--allow-net=127.0.0.1"]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /^4\n/m, "the body's chunks were read");
    assert.match(stderr, /^203 Error transferring .*server replied: 404 Not Found\n$/);
  });
});

Deno.test("the README's servers keep their manager factory open while they serve", async (t) => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const servers = blocks.filter((block) => block.includes("Deno.serve("));
  assert.equal(servers.length, 3);
  await using upstream = serve(() => new Response("upstream says hi"));
  // Deno.serve stood in by a server that takes one request once the module has run on.
  const prelude = `
    async function authenticate(_request: Request) { return "ada"; }
    function serveOnce(handler: (request: Request) => Promise<Response>) {
      const finished = new Promise((resolve) => setTimeout(resolve, 0)).then(async () => {
        const response = await handler(new Request("http://localhost/?city=Bergen"));
        console.log(response.status, await response.text());
      });
      return { finished };
    }
  `;
  for (const [i, block] of servers.entries()) {
    await t.step(`server ${i + 1}`, async () => {
      const program = prelude + block.replaceAll("Deno.serve(", "serveOnce(")
        .replaceAll("https://api.example.com", upstream.url);
      const { code, stdout, stderr } = await runConsumer(program, [
        "--unstable-kv",
        "--allow-net=127.0.0.1",
        "--allow-env=KV_PATH",
        "--allow-read=.",
        "--allow-write=.",
      ], { KV_PATH: ":memory:" });
      assert.equal(code, 0, stderr);
      assert.equal(stdout, "200 upstream says hi\n");
    });
  }
});

Deno.test("the README's request factory example runs with API_TOKEN unset", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const block = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)
    .find((b) => b.includes("new NetworkRequestFactory("));
  assert.ok(block);
  let authorization: string | null = "not asked";
  await using api = serve((request) => {
    authorization = request.headers.get("authorization");
    return Response.json({ id: 1, name: "pen" }, { status: 201 });
  });
  const program = block.replace("https://api.example.com", api.url) +
    "\nconsole.log(JSON.stringify(item));\n";
  const { code, stdout, stderr } = await runConsumer(program, [
    "--allow-net=127.0.0.1",
    "--allow-env=API_TOKEN",
  ]);
  assert.equal(code, 0, stderr);
  assert.equal(stdout, '{"id":1,"name":"pen"}\n');
  // The child inherits this process's environment: with no API_TOKEN, no Authorization header.
  if (Deno.env.get("API_TOKEN") === undefined) assert.equal(authorization, null);
});

Deno.test("the README's example of a call's headers over a factory's sends its request", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const block = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)
    .find((b) => b.includes("If-None-Match is added"));
  assert.ok(block);
  const sent: string[] = [];
  await using api = serve((request) => {
    const names = ["authorization", "accept", "x-client", "if-none-match"];
    sent.push(names.map((name) => `${name}: ${request.headers.get(name)}`).join(", "));
    return new Response(null, { status: 304 });
  });
  const program = block.replace("https://api.example.com", api.url);
  const { code, stderr } = await runConsumer(program, ["--allow-net=127.0.0.1"]);
  assert.equal(code, 0, stderr);
  assert.deepEqual(sent, [
    'authorization: Bearer s3cret, accept: application/json, x-client: null, if-none-match: "v1"',
  ]);
});

Deno.test("the README's examples and unset options check under exactOptionalPropertyTypes", async () => {
  // A value that may be `undefined` (an unset variable) is given as it is: `undefined` is the
  // default of every optional option.
  const program = `
    import {
      KvNetworkAccessManagerFactory,
      MemoryCache,
      NetworkAccessManager,
      NetworkRequest,
      NetworkRequestFactory,
    } from "@netaccess/core";
    import { createMockManager, MockTransport } from "@netaccess/core/testing";

    const unset = Deno.env.get("NETACCESS_UNSET");
    const number = unset === undefined ? undefined : Number(unset);
    await using manager = new NetworkAccessManager({ timeout: number, retry: { limit: number } });
    manager.get("data:,x", { timeout: number, headers: undefined }).abort();
    new NetworkRequest("https://example.com/", { priority: undefined, signal: undefined });
    new NetworkRequestFactory("https://example.com/", { bearerToken: unset, query: undefined });
    new MemoryCache({ maxSize: number });
    await using factory = await KvNetworkAccessManagerFactory.open({
      path: unset ?? ":memory:",
      kv: undefined,
      manager: { timeout: number },
    });
    await using mocked = createMockManager({ mock: new MockTransport({ latency: number }) });
    await manager.connectToHost("data:,x", { timeout: number }).catch(() => {});
  `;
  const dir = await makeConsumer("netaccess_exact_", program, {
    "@netaccess/core/cli": new URL("src/cli.ts", ROOT).href,
  });
  try {
    const config = JSON.parse(await Deno.readTextFile(`${dir}/deno.json`));
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      JSON.stringify({
        ...config,
        unstable: ["kv"],
        compilerOptions: { strict: true, exactOptionalPropertyTypes: true },
      }),
    );
    await Deno.copyFile(new URL("README.md", ROOT), `${dir}/README.md`);
    const { stderr } = await runDeno(["check", "--no-lock", "--doc", "main.ts", "README.md"], {
      cwd: dir,
      env: { NO_COLOR: "1" },
    });
    // This repository's own files are checked too (they are local files here, not a published
    // package's); only what the consumer wrote counts.
    const theirs = stderr.split(/\n(?=TS\d+ )/).filter((error) =>
      error.includes(`at file://${dir}/`)
    );
    assert.deepEqual(theirs, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a refusal in a process that may not read the proxy variables says Deno may have sent it through one", async (t) => {
  // Deno's HTTP client sends through HTTP_PROXY whatever the `env` permission; the library cannot
  // read the variable without it, so it takes the request for a direct one.
  await using origin = serve(() => new Response("hi"));
  const program = `
    import { NetworkAccessManager } from "@netaccess/core";
    await using manager = new NetworkAccessManager();
    const reply = manager.get(${JSON.stringify(`${origin.url}/a`)});
    await reply.finished;
    console.log(JSON.stringify({ error: reply.error, errorString: reply.errorString }));
  `;
  const env = { HTTP_PROXY: `http://127.0.0.1:${closedPort()}` };
  await t.step("without --allow-env: the target's refusal, and the hint", async () => {
    const { code, stdout, stderr } = await runConsumer(program, ["--allow-net=127.0.0.1"], env);
    assert.equal(code, 0, stderr);
    const { error, errorString } = JSON.parse(stdout);
    assert.equal(error, 1);
    assert.match(
      errorString,
      /^Connection refused by 127\.0\.0\.1:\d+: is the server running and listening there\? \(if HTTP_PROXY or ALL_PROXY is set, Deno sent the request through that proxy, which may be what failed: grant --allow-env=HTTP_PROXY,http_proxy,ALL_PROXY,all_proxy so that it is read and named\)$/,
    );
  });
  await t.step("with --allow-env: the proxy is read and named, no hint", async () => {
    const { code, stdout, stderr } = await runConsumer(program, [
      "--allow-net=127.0.0.1",
      "--allow-env",
    ], env);
    assert.equal(code, 0, stderr);
    const { error, errorString } = JSON.parse(stdout);
    assert.equal(error, 101);
    assert.doesNotMatch(errorString, /allow-env/);
  });
});
