import assert from "node:assert/strict";
import {
  MemoryCache,
  type NetworkAccessibleChangedEvent,
  NetworkAccessManager,
  NetworkError,
} from "../../mod.ts";
import { effectiveAccessibility, netHost } from "../../src/layers/access.ts";
import { runDeno } from "../_helpers/deno_run.ts";
import {
  guardUnhandledRejections,
  serve,
  takeUnhandledRejections,
  tick,
} from "../_helpers/server.ts";

guardUnhandledRejections();

function events(manager: NetworkAccessManager): string[] {
  const seen: string[] = [];
  manager.addEventListener("networkaccessiblechanged", (e) => {
    seen.push((e as NetworkAccessibleChangedEvent).networkAccessible);
  });
  return seen;
}

/** A loopback origin counting the requests that reach it. */
function countingOrigin(cacheControl = "max-age=60") {
  let hits = 0;
  const server = serve((request) => {
    hits++;
    return new Response(`origin ${new URL(request.url).pathname} #${hits}`, {
      headers: { "cache-control": cacheControl, "etag": '"v1"' },
    });
  });
  return {
    server,
    get hits() {
      return hits;
    },
  };
}

Deno.test("networkAccessible is accessible by default with the net permission", async () => {
  await using manager = new NetworkAccessManager();
  assert.equal(Deno.permissions.querySync({ name: "net" }).state, "granted");
  assert.equal(manager.networkAccessible, "accessible");
});

Deno.test("networkAccessible rejects values that are not accessibilities", async (t) => {
  await t.step("in the constructor", () => {
    assert.throws(
      () => new NetworkAccessManager({ networkAccessible: "off" as never }),
      {
        name: "TypeError",
        message:
          `Cannot create manager: 'networkAccessible' must be one of "accessible", "not-accessible", "unknown", got "off"`,
      },
    );
  });
  await t.step("in the setter, undefined included", async () => {
    await using manager = new NetworkAccessManager();
    assert.throws(() => manager.networkAccessible = 0 as never, {
      name: "TypeError",
      message: /^Cannot set manager option: 'networkAccessible' must be one of .*, got 0$/,
    });
    assert.throws(() => manager.networkAccessible = undefined as never, {
      message: /'networkAccessible' must be one of .*, got undefined$/,
    });
    assert.throws(() => manager.networkAccessible = null as never, {
      message: /'networkAccessible' must be one of .*, got null$/,
    });
    assert.equal(manager.networkAccessible, "accessible");
  });
  await t.step("true and false stand for accessible and not-accessible", async () => {
    await using manager = new NetworkAccessManager({ networkAccessible: false });
    assert.equal(manager.networkAccessible, "not-accessible");
    manager.networkAccessible = true;
    assert.equal(manager.networkAccessible, "accessible");
  });
  await t.step("requestPermissions must be a boolean", () => {
    assert.throws(() => new NetworkAccessManager({ requestPermissions: "yes" as never }), {
      name: "TypeError",
      message: "Cannot create manager: 'requestPermissions' must be a boolean, got \"yes\"",
    });
  });
});

Deno.test("networkaccessiblechanged fires on every change and only then", async () => {
  await using manager = new NetworkAccessManager();
  const seen = events(manager);
  manager.networkAccessible = "not-accessible";
  manager.networkAccessible = "not-accessible";
  assert.equal(manager.networkAccessible, "not-accessible");
  manager.networkAccessible = "accessible";
  manager.networkAccessible = "accessible";
  manager.networkAccessible = "unknown";
  assert.deepEqual(seen, ["not-accessible", "accessible", "unknown"]);
});

Deno.test("a manager made not accessible starts so, without an event", async () => {
  await using manager = new NetworkAccessManager({ networkAccessible: "not-accessible" });
  const seen = events(manager);
  assert.equal(manager.networkAccessible, "not-accessible");
  assert.deepEqual(seen, []);
});

Deno.test("when not accessible, http and https requests fail at once and reach no socket", async (t) => {
  const origin = countingOrigin();
  await using _server = origin.server;
  await using manager = new NetworkAccessManager({ networkAccessible: "not-accessible" });
  for (const method of ["GET", "POST", "HEAD"] as const) {
    await t.step(method, async () => {
      const errors: number[] = [];
      const reply = manager.sendCustomRequest(`${origin.server.url}/a`, method);
      reply.addEventListener("error", () => errors.push(reply.error));
      await reply.finished;
      assert.equal(reply.error, NetworkError.UnknownNetworkError);
      assert.equal(reply.errorString, "Network access is disabled");
      assert.deepEqual(errors, [99]);
    });
  }
  await t.step("https, and hosts that do not exist", async () => {
    for (const url of ["https://127.0.0.1:1/", "http://no-such-host.invalid/"]) {
      const reply = manager.get(url);
      await reply.finished;
      assert.equal(reply.errorString, "Network access is disabled");
    }
  });
  assert.equal(origin.hits, 0);
  await t.step("switched back on, requests go out again", async () => {
    manager.networkAccessible = "accessible";
    const reply = manager.get(`${origin.server.url}/b`);
    assert.equal(await reply.text(), "origin /b #1");
  });
});

Deno.test("when not accessible, the transport is never reached, even a custom one", async () => {
  let sent = 0;
  await using manager = new NetworkAccessManager({
    networkAccessible: "not-accessible",
    transport: () => {
      sent++;
      return Promise.resolve(new Response("mock"));
    },
  });
  const reply = manager.get("http://mock.test/");
  await reply.finished;
  assert.equal(reply.error, NetworkError.UnknownNetworkError);
  manager.networkAccessible = "accessible";
  assert.equal(await manager.get("http://mock.test/").text(), "mock");
  assert.equal(sent, 1);
});

Deno.test("when not accessible, file: and data: URLs still work", async () => {
  await using manager = new NetworkAccessManager({ networkAccessible: "not-accessible" });
  assert.equal(await manager.get("data:text/plain,offline%20ok").text(), "offline ok");
  const path = await Deno.makeTempFile({ suffix: ".txt" });
  try {
    await Deno.writeTextFile(path, "from disk");
    const url = new URL(`file://${path}`);
    const reply = manager.get(url);
    assert.equal(await reply.text(), "from disk");
    assert.equal(reply.error, NetworkError.NoError);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("when not accessible, the cache answers what it can", async (t) => {
  let now = Date.parse("2030-01-01T00:00:00Z");
  const origin = countingOrigin("max-age=60");
  await using _server = origin.server;
  await using manager = new NetworkAccessManager({
    cache: new MemoryCache({ clock: () => now }),
    clock: () => now,
  });
  const base = origin.server.url;
  for (const path of ["/fresh", "/stale"]) {
    assert.match(await manager.get(`${base}${path}`).text(), new RegExp(`origin ${path}`));
  }
  assert.equal(origin.hits, 2);
  manager.networkAccessible = "not-accessible";

  await t.step("a fresh entry, under the default prefer-network", async () => {
    const reply = manager.get(`${base}/fresh`);
    assert.equal(await reply.text(), "origin /fresh #1");
    assert.equal(reply.fromCache, true);
  });
  await t.step("always-cache and prefer-cache", async () => {
    for (const cacheLoadControl of ["always-cache", "prefer-cache"] as const) {
      const reply = manager.get(`${base}/fresh`, { cacheLoadControl });
      assert.equal(await reply.text(), "origin /fresh #1");
      assert.equal(reply.fromCache, true);
    }
  });
  await t.step("always-network is refused without asking the cache", async () => {
    const reply = manager.get(`${base}/fresh`, { cacheLoadControl: "always-network" });
    await reply.finished;
    assert.equal(reply.error, NetworkError.UnknownNetworkError);
    assert.equal(reply.errorString, "Network access is disabled");
  });
  await t.step("a miss is refused as network access disabled", async () => {
    const reply = manager.get(`${base}/missing`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.UnknownNetworkError);
    assert.equal(reply.errorString, "Network access is disabled");
  });
  await t.step("a miss under always-cache stays ContentNotFoundError", async () => {
    const reply = manager.get(`${base}/missing`, { cacheLoadControl: "always-cache" });
    await reply.finished;
    assert.equal(reply.error, NetworkError.ContentNotFoundError);
  });
  now += 120_000;
  await t.step("a stale entry: prefer-cache serves it, prefer-network does not", async () => {
    const cached = manager.get(`${base}/stale`, { cacheLoadControl: "prefer-cache" });
    assert.equal(await cached.text(), "origin /stale #2");
    assert.equal(cached.fromCache, true);
    const network = manager.get(`${base}/stale`);
    await network.finished;
    assert.equal(network.error, NetworkError.UnknownNetworkError);
    assert.equal(network.errorString, "Network access is disabled");
  });
  await t.step("a manager without a cache refuses every request", async () => {
    await using bare = new NetworkAccessManager({ networkAccessible: "not-accessible" });
    const reply = bare.get(`${base}/fresh`, { cacheLoadControl: "always-cache" });
    await reply.finished;
    assert.equal(reply.errorString, "Network access is disabled");
  });
  assert.equal(origin.hits, 2);
});

Deno.test("a queued request finds the network off when its turn comes", async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  let hits = 0;
  await using server = serve(async (request) => {
    hits++;
    if (new URL(request.url).pathname === "/slow") await held;
    return new Response("ok");
  });
  await using manager = new NetworkAccessManager({ maxConnectionsPerHost: 1 });
  const first = manager.get(`${server.url}/slow`);
  const second = manager.get(`${server.url}/next`);
  while (hits === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  manager.networkAccessible = "not-accessible";
  release();
  assert.equal(await first.text(), "ok");
  await second.finished;
  assert.equal(second.error, NetworkError.UnknownNetworkError);
  assert.equal(second.errorString, "Network access is disabled");
  assert.equal(hits, 1);
});

Deno.test("with a cache, a request made while not accessible waits for no queue slot", async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  const arrived: string[] = [];
  await using server = serve(async (request) => {
    const path = new URL(request.url).pathname;
    arrived.push(path);
    if (path === "/slow") await held;
    return new Response(`origin ${path}`, { headers: { "cache-control": "max-age=60" } });
  });
  await using manager = new NetworkAccessManager({
    maxConnectionsPerHost: 1,
    cache: new MemoryCache(),
  });
  assert.equal(await manager.get(`${server.url}/cached`).text(), "origin /cached");
  // The origin's only slot taken, and a request already waiting for it when the switch goes off.
  const first = manager.get(`${server.url}/slow`);
  while (arrived.length < 2) await tick(5);
  const queued = manager.get(`${server.url}/queued`);
  while (manager.queue.waiting(server.url) === 0) await tick(1);
  manager.networkAccessible = "not-accessible";

  // Not in the cache: refused at once, not when the slot frees (or its timeout ends it).
  const started = performance.now();
  const miss = manager.get(`${server.url}/miss`, { timeout: 2_000 });
  await miss.finished;
  assert.deepEqual([miss.error, miss.errorString], [
    NetworkError.UnknownNetworkError,
    "Network access is disabled",
  ]);
  assert.ok(performance.now() - started < 1_000, `took ${performance.now() - started} ms`);
  // In the cache: answered, the slot still taken.
  const hit = manager.get(`${server.url}/cached`);
  assert.equal(await hit.text(), "origin /cached");
  assert.equal(hit.fromCache, true);

  // The request that was waiting kept its place, and finds the switch as it is when its turn comes.
  assert.equal(manager.queue.waiting(server.url), 1);
  manager.networkAccessible = "accessible";
  release();
  assert.equal(await first.text(), "origin /slow");
  assert.equal(await queued.text(), "origin /queued");
  assert.deepEqual(arrived, ["/cached", "/slow", "/queued"]);
});

Deno.test("a file: URL that --deny-read covers says to remove the entry, not to grant --allow-read", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/secret.txt`;
    await Deno.writeTextFile(file, "secret");
    const child = new URL("../testdata/permissions/denied_read.ts", import.meta.url).pathname;
    // --allow-read already grants the file: only the --deny-read entry keeps it out.
    const { code, stdout, stderr } = await runDeno(
      ["run", "--allow-read", `--deny-read=${dir}`, "--no-prompt", child, `file://${file}`],
      { cwd: new URL("../../", import.meta.url).pathname },
    );
    assert.equal(code, 0, stderr);
    assert.deepEqual(JSON.parse(stdout), [[
      NetworkError.UnknownNetworkError,
      `Cannot read ${file}: Deno's read permission is denied, by --deny-read or at an earlier ` +
      `prompt (remove the --deny-read entry that covers ${file}: --allow-read does not ` +
      "override it)",
    ]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("effectiveAccessibility combines the switch with the net permission", () => {
  const cases: [Parameters<typeof effectiveAccessibility>, string][] = [
    [["accessible", "granted"], "accessible"],
    [["accessible", "prompt"], "unknown"],
    [["accessible", "denied"], "not-accessible"],
    [["accessible", undefined], "accessible"],
    [["not-accessible", "granted"], "not-accessible"],
    [["unknown", "granted"], "unknown"],
  ];
  for (const [args, expected] of cases) assert.equal(effectiveAccessibility(...args), expected);
});

Deno.test("netHost names host:port as Deno's net permission does", () => {
  assert.equal(netHost(new URL("http://example.com/")), "example.com:80");
  assert.equal(netHost(new URL("https://example.com/")), "example.com:443");
  assert.equal(netHost(new URL("http://127.0.0.1:8080/")), "127.0.0.1:8080");
  assert.equal(netHost(new URL("http://[::1]:8080/")), "[::1]:8080");
  assert.equal(netHost(new URL("socks5://proxy.test:1080")), "proxy.test:1080");
  assert.equal(netHost(new URL("socks5://proxy.test")), "proxy.test:1080");
});

Deno.test("access tests leave no unhandled rejections", () => {
  assert.deepEqual(takeUnhandledRejections(), []);
});
