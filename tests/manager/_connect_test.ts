import assert from "node:assert/strict";
import { NetworkAccessManager } from "../../mod.ts";
import { createMockManager } from "../../testing.ts";
import {
  closedPort,
  guardUnhandledRejections,
  serve,
  serveTcp,
  takeUnhandledRejections,
} from "../_helpers/server.ts";

guardUnhandledRejections();

Deno.test("connectToHost warms a pooled connection that the next request reuses", async () => {
  const seen: { method: string; path: string; port: number }[] = [];
  await using server = serve((request, info) => {
    seen.push({
      method: request.method,
      path: new URL(request.url).pathname,
      port: info.remoteAddr.port,
    });
    return new Response("ok");
  });
  await using manager = new NetworkAccessManager();
  await manager.connectToHost(`${server.url}/some/page?q=1`);
  assert.equal(await manager.get(`${server.url}/data`).text(), "ok");
  assert.deepEqual(seen.map((s) => `${s.method} ${s.path}`), ["HEAD /", "GET /data"]);
  assert.equal(seen[0]!.port, seen[1]!.port, "the GET used the warmed connection");
});

Deno.test("connectToHost is a hint: it skips cache and cookies and never rejects", async (t) => {
  await t.step("the warm-up request's attributes", async () => {
    await using mocked = createMockManager({ retry: true });
    mocked.mock.route("HEAD", "/", { status: 503 });
    await mocked.manager.connectToHost("https://api.test/deep/path");
    const [sent] = mocked.recorder.requests;
    assert.equal(mocked.recorder.requests.length, 1, "not retried");
    assert.equal(sent!.method, "HEAD");
    assert.equal(sent!.url.href, "https://api.test/");
    assert.equal(sent!.request.cacheLoadControl, "always-network");
    assert.equal(sent!.request.cacheSaveControl, false);
    assert.equal(sent!.request.cookieLoadControl, "manual");
    assert.equal(sent!.request.cookieSaveControl, "manual");
    assert.equal(sent!.request.redirectPolicy, "manual");
  });
  await t.step("a 401 asks no authenticator", async () => {
    let asked = 0;
    await using mocked = createMockManager({
      authenticator: () => {
        asked++;
        return { username: "u", password: "p" };
      },
    });
    mocked.mock.route("HEAD", "/", {
      status: 401,
      headers: { "www-authenticate": 'Basic realm="api"' },
    });
    await mocked.manager.connectToHost("https://api.test/deep/path");
    assert.equal(asked, 0);
    assert.equal(mocked.recorder.requests.length, 1);
    assert.equal(await mocked.manager.head("https://api.test/").text(), "");
    assert.equal(asked, 3, "a request of the application is answered as before");
  });
  await t.step("a refused connection, a bad URL and other schemes resolve quietly", async () => {
    await using manager = new NetworkAccessManager();
    await manager.connectToHost(`http://127.0.0.1:${closedPort()}/`);
    await manager.connectToHost("not a url");
    await manager.connectToHost("data:,x");
    assert.equal(manager.runningReplies.length, 0);
  });
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("connectToHost gives up on a silent server after its timeout", async () => {
  const heads: number[] = [];
  await using server = serveTcp(async (conn) => {
    const buffer = new Uint8Array(4096);
    heads.push(await conn.read(buffer) ?? 0);
    while (await conn.read(buffer) !== null); // never answers; ends when the client hangs up
  });
  await using manager = new NetworkAccessManager();
  const started = performance.now();
  await manager.connectToHost(`http://127.0.0.1:${server.port}/`, { timeout: 100 });
  assert.ok(performance.now() - started < 10_000);
  assert.equal(heads.length, 1);
  assert.deepEqual(manager.runningReplies, []);
  await assert.rejects(
    () => manager.connectToHost(`http://127.0.0.1:${server.port}/`, { timeout: 0 }),
    /'timeout' must be a positive number of ms, got 0/,
  );
  const url = `http://127.0.0.1:${server.port}/`;
  await assert.rejects(() => manager.connectToHost(url, { timeout: "5s" as never }), {
    name: "TypeError",
    message: `Cannot connect to host: 'timeout' must be a positive number of ms, got "5s"`,
  });
  await assert.rejects(() => manager.connectToHost(url, { timout: 5 } as never), {
    name: "TypeError",
    message: "Cannot connect to host: unknown option 'timout'; did you mean 'timeout'?",
  });
  await assert.rejects(() => manager.connectToHost(url, null as never), {
    name: "TypeError",
    message: "Cannot connect to host: 'options' must be an object, got null",
  });
});

Deno.test("connectToHost refuses a timeout too long for a timer without suggesting 0", async () => {
  await using manager = new NetworkAccessManager();
  for (const timeout of [2 ** 31, Infinity]) {
    await assert.rejects(() => manager.connectToHost("http://127.0.0.1:9/", { timeout }), {
      name: "RangeError",
      message: "Cannot connect to host: 'timeout' must be at most 2147483647 ms (about 24.8 " +
        `days, the longest timer), got ${timeout}; leave it out for the default of 30000 ms`,
    });
  }
  assert.deepEqual(manager.runningReplies, []);
});
