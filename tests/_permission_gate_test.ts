import assert from "node:assert/strict";
import {
  type NetworkAccessibleChangedEvent,
  NetworkAccessManager,
  NetworkError,
  NetworkReplyError,
} from "../mod.ts";
import { startOrigin, startProxyServer, TEST_CA_CERT } from "./_helpers/proxy_server.ts";
import {
  closedPort,
  guardUnhandledRejections,
  serve,
  takeUnhandledRejections,
} from "./_helpers/server.ts";
import { runDeno } from "./_helpers/deno_run.ts";

guardUnhandledRejections();

const CHILD = new URL("./testdata/permissions/narrowed_net.ts", import.meta.url);
const ROOT = new URL("../", import.meta.url);

/** Runs `deno run <args>` from the project's root; its exit code must be 0. */
async function runChild(args: string[]): Promise<{ stdout: unknown; stderr: string }> {
  const { code, stdout, stderr } = await runDeno(["run", ...args], { cwd: ROOT.pathname });
  assert.equal(code, 0, stderr);
  return { stdout: JSON.parse(stdout), stderr };
}

interface Outcome {
  error: number;
  errorString: string;
  status: number;
  body: string | null;
}

Deno.test("a process run with --allow-net=127.0.0.1:<port> gets reply errors, never NotCapable", async () => {
  await using origin = serve(() => new Response("hello"));
  await using proxy = startProxyServer();
  const refused = closedPort();
  const { stdout, stderr } = await runChild([
    `--allow-net=127.0.0.1:${origin.port}`,
    CHILD.pathname,
    String(origin.port),
    String(proxy.port),
    String(refused),
  ]);
  assert.doesNotMatch(stderr, /NotCapable/);
  const results = stdout as Record<string, unknown>;
  const reply = (name: string) => results[name] as Outcome;

  // The allowed host works, before and after the others were refused.
  assert.deepEqual(reply("allowed"), { error: 0, errorString: "", status: 200, body: "hello" });
  assert.deepEqual(reply("allowedAgain").body, "hello");
  // Other ports and other names of the same address are other permissions.
  assert.equal(reply("otherPort").error, NetworkError.UnknownNetworkError);
  assert.equal(
    reply("otherPort").errorString,
    `Network access to host 127.0.0.1:${refused} is not permitted: Deno's net permission is not granted (grant it with --allow-net=127.0.0.1:${refused})`,
  );
  assert.match(
    reply("otherName").errorString,
    new RegExp(`--allow-net=localhost:${origin.port}\\)$`),
  );
  // file: needs read.
  assert.equal(reply("file").error, NetworkError.UnknownNetworkError);
  assert.match(
    reply("file").errorString,
    /^Cannot read .*narrowed_net\.ts: Deno's read permission is not granted \(grant it with --allow-read=.*narrowed_net\.ts\)$/,
  );
  // Through a proxy, the proxy's address needs the permission too; its password stays out.
  assert.equal(
    reply("proxy").errorString,
    `Network access to proxy 127.0.0.1:${proxy.port} is not permitted: Deno's net permission is not granted (grant it with --allow-net=127.0.0.1:${proxy.port})`,
  );
  assert.equal(proxy.accepted, 0);
  // requestPermissions asks; without a terminal Deno answers "denied".
  assert.match(reply("requested").errorString, /net permission was denied \(grant it with/);
  // A revoked host is refused from then on, and with no granted host left the manager reports
  // the network as not accessible.
  assert.equal(reply("revoked").error, NetworkError.UnknownNetworkError);
  assert.match(
    reply("revoked").errorString,
    /is not granted \(grant it with --allow-net=127\.0\.0\.1:/,
  );
  assert.equal(results.accessibleAtStart, "unknown");
  assert.equal(results.accessibleBeforeRevoke, "unknown");
  assert.deepEqual(results.eventsBeforeRevoke, []);
  assert.equal(results.accessibleAtEnd, "not-accessible");
  assert.deepEqual(results.events, ["not-accessible"]);
  assert.deepEqual(results.rejections, []);
});

Deno.test("a host denied by --deny-net is reported as such, not as one --allow-net would grant", async (t) => {
  const child = new URL("./testdata/permissions/denied_net.ts", import.meta.url).pathname;
  const [target, other, proxy] = [closedPort(), closedPort(), closedPort()];
  const urls = [`http://127.0.0.1:${target}/`, `http://127.0.0.1:${other}/`];
  const run = async (flags: string[]) =>
    (await runChild([...flags, child, `http://127.0.0.1:${proxy}`, ...urls])).stdout as string[];
  const denied = (hosts: string) =>
    `Deno's net permission is denied, by --deny-net or at an earlier prompt (remove the ` +
    `--deny-net entry that covers ${hosts}: --allow-net does not override it)`;
  await t.step("--deny-net for every host", async () => {
    const messages = await run(["--deny-net"]);
    assert.equal(
      messages[0],
      `Network access to host 127.0.0.1:${target} is not permitted: Deno's net permission is ` +
        "denied, by --deny-net or at an earlier prompt (remove --deny-net: --allow-net does not " +
        "override it)",
    );
  });
  await t.step("--deny-net for one host, --allow-net for the others", async () => {
    const messages = await run(["--allow-net", `--deny-net=127.0.0.1:${target}`]);
    assert.equal(
      messages[0],
      `Network access to host 127.0.0.1:${target} is not permitted: ${
        denied(`127.0.0.1:${target}`)
      }`,
    );
    assert.match(messages[1]!, /^Connection refused by 127\.0\.0\.1:/);
  });
  await t.step("a denied proxy and a target not granted are told apart", async () => {
    const messages = await run([`--deny-net=127.0.0.1:${proxy}`]);
    assert.equal(
      messages[1],
      `Network access to host 127.0.0.1:${other} is not permitted: Deno's net permission is not ` +
        `granted (grant it with --allow-net=127.0.0.1:${other})`,
    );
    assert.equal(
      messages[2],
      `Network access to host 127.0.0.1:${target} and proxy 127.0.0.1:${proxy} is not ` +
        `permitted: Deno's net permission is denied for 127.0.0.1:${proxy}, by --deny-net or at ` +
        `an earlier prompt (remove the --deny-net entry that covers 127.0.0.1:${proxy}: ` +
        `--allow-net does not override it) and is not granted for 127.0.0.1:${target} (grant it ` +
        `with --allow-net=127.0.0.1:${target})`,
    );
  });
});

Deno.test("a send after the net permission as a whole was revoked fails as the gate words it", async () => {
  // Revoking `{ name: "net" }` changes no status of a single host: the gate still holds the
  // origin as granted, and Deno refuses the send itself.
  await using origin = startOrigin();
  await using proxy = startProxyServer();
  const child = new URL("./testdata/permissions/revoked_net.ts", import.meta.url).pathname;
  const target = `127.0.0.1:${origin.port}`;
  const { stdout, stderr } = await runChild([
    `--allow-net=${target},127.0.0.1:${proxy.port}`,
    "--no-prompt",
    child,
    origin.url("127.0.0.1", ""),
    proxy.url,
  ]);
  assert.doesNotMatch(stderr, /NotCapable/);
  const results = stdout as Record<string, Outcome>;
  assert.equal(results.direct!.body, "origin GET /a");
  assert.equal(results.proxied!.body, "origin GET /b");
  const notGranted = `Network access to host ${target} is not permitted: Deno's net ` +
    `permission is not granted (grant it with --allow-net=${target})`;
  for (const name of ["directRevoked", "directAgain"]) {
    assert.deepEqual(results[name], {
      error: NetworkError.UnknownNetworkError,
      errorString: notGranted,
      body: null,
    }, name);
  }
  assert.equal(results.proxiedRevoked!.error, NetworkError.UnknownNetworkError);
  assert.equal(
    results.proxiedRevoked!.errorString,
    `Network access to host ${target} and proxy 127.0.0.1:${proxy.port} is not permitted: ` +
      `Deno's net permission is not granted (grant it with ` +
      `--allow-net=${target},127.0.0.1:${proxy.port})`,
  );
  assert.deepEqual(results.rejections, []);
});

Deno.test({
  name:
    "narrowed test permissions: a host not granted fails the reply cleanly, a granted one works",
  permissions: { net: ["127.0.0.1"] },
  async fn(t) {
    await using origin = startOrigin();
    await using manager = new NetworkAccessManager();
    assert.equal(manager.networkAccessible, "unknown");

    await t.step("the granted host", async () => {
      const reply = manager.get(origin.url("127.0.0.1", "/ok"));
      assert.equal(await reply.text(), "origin GET /ok");
    });
    await t.step("another name for it", async () => {
      const reply = manager.get(origin.url("localhost", "/no"));
      const thrown = await reply.text().catch((e: unknown) => e);
      assert.ok(thrown instanceof NetworkReplyError, `got ${thrown}`);
      assert.equal(reply.error, NetworkError.UnknownNetworkError);
      assert.match(
        reply.errorString,
        new RegExp(
          `^Network access to host localhost:${origin.port} is not permitted: .*--allow-net=localhost:${origin.port}\\)$`,
        ),
      );
    });
    await t.step("through a proxy, both addresses granted", async () => {
      await using proxy = startProxyServer();
      await using proxied = new NetworkAccessManager({ proxy: { type: "http", url: proxy.url } });
      assert.equal(await proxied.get(origin.url("127.0.0.1", "/p")).text(), "origin GET /p");
      assert.deepEqual(proxy.log.map((r) => r.kind), ["forward"]);
    });
    await t.step("through a proxy, the target's name needs the permission too", async () => {
      await using proxy = startProxyServer({
        protocol: "socks5",
        hosts: { "origin.test": "127.0.0.1" },
      });
      await using proxied = new NetworkAccessManager({ proxy: { type: "socks5", url: proxy.url } });
      const reply = proxied.get(origin.url("origin.test", "/p"));
      await reply.finished;
      assert.match(
        reply.errorString,
        new RegExp(`host origin\\.test:${origin.port} is not permitted`),
      );
      assert.equal(proxy.accepted, 0);
    });
    await t.step("a proxy not granted names the proxy", async () => {
      await using proxied = new NetworkAccessManager({
        proxy: { type: "http", url: "http://localhost:3128", password: "pw", username: "u" },
      });
      const reply = proxied.get(origin.url("127.0.0.1", "/p"));
      await reply.finished;
      assert.equal(
        reply.errorString,
        "Network access to proxy localhost:3128 is not permitted: Deno's net permission is not granted (grant it with --allow-net=localhost:3128)",
      );
    });
  },
});

Deno.test({
  name: "revoking the net permission is reflected in networkAccessible, the event and the gate",
  permissions: { net: true },
  async fn() {
    await using origin = startOrigin();
    await using manager = new NetworkAccessManager();
    const seen: string[] = [];
    manager.addEventListener("networkaccessiblechanged", (e) => {
      seen.push((e as NetworkAccessibleChangedEvent).networkAccessible);
    });
    assert.equal(manager.networkAccessible, "accessible");
    assert.equal(
      await manager.get(origin.url("127.0.0.1", "/before")).text(),
      "origin GET /before",
    );
    await Deno.permissions.revoke({ name: "net" });
    assert.equal(manager.networkAccessible, "unknown");
    assert.deepEqual(seen, ["unknown"]);
    const reply = manager.get(origin.url("127.0.0.1", "/after"));
    await reply.finished;
    assert.equal(reply.error, NetworkError.UnknownNetworkError);
    assert.match(reply.errorString, new RegExp(`--allow-net=127\\.0\\.0\\.1:${origin.port}\\)$`));
  },
});

class FakeStatus extends EventTarget {
  readonly name = "net";
  partial = false;
  onchange = null;
  constructor(public state: Deno.PermissionState) {
    super();
  }
}

/** Deno's own `querySync`, which a fake may answer with. */
const realQuerySync = Deno.permissions.querySync.bind(Deno.permissions);

/**
 * Replaces `Deno.permissions.query` / `querySync` (for a descriptor of one host) / `request`
 * for the length of `fn`. With `query`, the `net` permission as a whole is granted in part (as
 * `--allow-net` with a `--deny-net` entry makes it), so that each host's own status decides.
 */
async function withPermissions(
  fakes: {
    query?: (descriptor: Deno.PermissionDescriptor) => Deno.PermissionStatus;
    request?: (descriptor: Deno.PermissionDescriptor) => Deno.PermissionStatus;
  },
  fn: () => Promise<void>,
): Promise<void> {
  const permissions = Deno.permissions as unknown as Record<string, unknown>;
  if (fakes.query) {
    const whole = Object.assign(new FakeStatus("granted"), { partial: true });
    const querySync = (d: Deno.PermissionDescriptor) =>
      (d as Deno.NetPermissionDescriptor).host !== undefined
        ? fakes.query!(d)
        : d.name === "net"
        ? whole as unknown as Deno.PermissionStatus
        : realQuerySync(d);
    permissions.querySync = querySync;
    permissions.query = (d: Deno.PermissionDescriptor) => Promise.resolve(querySync(d));
  }
  if (fakes.request) {
    permissions.request = (d: Deno.PermissionDescriptor) => Promise.resolve(fakes.request!(d));
  }
  try {
    await fn();
  } finally {
    delete permissions.query;
    delete permissions.querySync;
    delete permissions.request;
  }
}

Deno.test("permission statuses are queried once per host:port and kept", async () => {
  await using origin = startOrigin();
  await using proxy = startProxyServer();
  const asked: string[] = [];
  await withPermissions({
    query(descriptor) {
      asked.push((descriptor as Deno.NetPermissionDescriptor).host ?? "");
      return realQuerySync(descriptor);
    },
  }, async () => {
    await using manager = new NetworkAccessManager();
    await Promise.all([1, 2, 3].map((n) => manager.get(origin.url("127.0.0.1", `/${n}`)).text()));
    await manager.get(origin.url("127.0.0.1", "/4")).text();
    await manager.get(origin.url("localhost", "/5")).text();
    manager.proxy = { type: "http", url: proxy.url };
    await manager.get(origin.url("127.0.0.1", "/6")).text();
  });
  assert.deepEqual(asked, [
    `127.0.0.1:${origin.port}`,
    `localhost:${origin.port}`,
    `127.0.0.1:${proxy.port}`,
  ]);
});

Deno.test("requestPermissions asks once per host for a permission in the prompt state", async (t) => {
  await using origin = startOrigin();
  const host = `127.0.0.1:${origin.port}`;
  const requested: string[] = [];
  const fakes = {
    query: () => new FakeStatus("prompt") as unknown as Deno.PermissionStatus,
    request: (descriptor: Deno.PermissionDescriptor) => {
      requested.push((descriptor as Deno.NetPermissionDescriptor).host ?? "");
      return new FakeStatus("granted") as unknown as Deno.PermissionStatus;
    },
  };
  await t.step("off: the reply fails and nothing is asked", async () => {
    await withPermissions(fakes, async () => {
      await using manager = new NetworkAccessManager();
      const reply = manager.get(origin.url("127.0.0.1"));
      await reply.finished;
      assert.match(reply.errorString, /net permission is not granted/);
    });
    assert.deepEqual(requested, []);
  });
  await t.step("on: concurrent requests share one question, then go", async () => {
    await withPermissions(fakes, async () => {
      await using manager = new NetworkAccessManager({ requestPermissions: true });
      const bodies = await Promise.all(
        ["/a", "/b"].map((path) => manager.get(origin.url("127.0.0.1", path)).text()),
      );
      assert.deepEqual(bodies, ["origin GET /a", "origin GET /b"]);
    });
    assert.deepEqual(requested, [host]);
  });
});

/**
 * Counts the `change` listeners on the net permission's status and on `port`'s host's for the
 * length of `fn`, which gets the set of listeners. Unless `forAll`, the net permission as a whole
 * shows as granted in part (as with a `--deny-net` entry), so that the host's status is watched.
 */
async function countingListeners(
  port: number,
  fn: (listening: Set<unknown>) => Promise<void>,
  forAll = false,
): Promise<void> {
  const statuses = [
    Deno.permissions.querySync({ name: "net" }),
    Deno.permissions.querySync({ name: "net", host: `127.0.0.1:${port}` }),
  ];
  if (!forAll) Object.defineProperty(statuses[0], "partial", { value: true, configurable: true });
  const listening = new Set<unknown>();
  for (const status of statuses) {
    status.addEventListener = (_type: string, listener: unknown) => listening.add(listener);
    status.removeEventListener = (_type: string, listener: unknown) => listening.delete(listener);
  }
  try {
    await fn(listening);
  } finally {
    for (const status of statuses) {
      delete (status as unknown as Record<string, unknown>).addEventListener;
      delete (status as unknown as Record<string, unknown>).removeEventListener;
      delete (status as unknown as Record<string, unknown>).partial;
    }
  }
}

Deno.test("a waiting request's HTTP/2 handshake connects only to a host the net permission grants", async (t) => {
  // Past 6 requests to one https origin, the manager asks it in a TLS handshake of its own
  // whether it speaks HTTP/2: a connection Deno checks, and prompts for on a terminal.
  await using origin = startOrigin({ tls: true });
  const connected: string[] = [];
  // The handshake connects with Deno.connect (or Deno.connectTls, with a client certificate).
  const { connect, connectTls } = Deno;
  Deno.connect = ((options: Deno.ConnectOptions) => {
    connected.push(`${options.hostname}:${options.port}`);
    return connect(options);
  }) as typeof Deno.connect;
  Deno.connectTls = ((options: Deno.ConnectTlsOptions) => {
    connected.push(`${options.hostname}:${options.port}`);
    return connectTls(options);
  }) as typeof Deno.connectTls;
  const send = async (state: Deno.PermissionState) => {
    await withPermissions({
      query: () => new FakeStatus(state) as unknown as Deno.PermissionStatus,
    }, async () => {
      await using manager = new NetworkAccessManager({ caCerts: [TEST_CA_CERT] });
      const replies = Array.from(
        { length: 8 },
        (_, i) => manager.get(origin.url("127.0.0.1", `/${i}`)),
      );
      await Promise.all(replies.map((reply) => reply.finished));
    });
  };
  try {
    await t.step("not granted: no handshake", async () => {
      await send("prompt");
      assert.deepEqual(connected, []);
    });
    await t.step("granted: one handshake", async () => {
      await send("granted");
      assert.deepEqual(connected, [`127.0.0.1:${origin.port}`]);
    });
  } finally {
    Deno.connect = connect;
    Deno.connectTls = connectTls;
  }
});

Deno.test("close() removes every permission change listener", async () => {
  await using origin = startOrigin();
  await countingListeners(origin.port, async (listening) => {
    const manager = new NetworkAccessManager();
    await manager.get(origin.url("127.0.0.1")).text();
    assert.equal(listening.size, 2);
    await manager.close();
    assert.equal(listening.size, 0);
  });
});

Deno.test("with the net permission granted for every host, no host's own status is queried nor watched", async () => {
  const servers = Array.from({ length: 5 }, () => startOrigin());
  const { querySync } = Deno.permissions;
  try {
    await countingListeners(servers[0]!.port, async (listening) => {
      const asked: string[] = [];
      Deno.permissions.querySync = (descriptor) => {
        const host = (descriptor as Deno.NetPermissionDescriptor).host;
        if (host !== undefined) asked.push(host);
        return querySync.call(Deno.permissions, descriptor);
      };
      await using manager = new NetworkAccessManager();
      for (const origin of servers) {
        assert.equal(await manager.get(origin.url("127.0.0.1", "/a")).text(), "origin GET /a");
        assert.equal(await manager.get(origin.url("localhost", "/b")).text(), "origin GET /b");
      }
      assert.deepEqual(asked, []);
      assert.equal(listening.size, 1); // the net permission's, as a whole
    }, true);
  } finally {
    Deno.permissions.querySync = querySync;
    for (const origin of servers) await origin[Symbol.asyncDispose]();
  }
});

Deno.test("managers share one change listener per permission status", async () => {
  await using origin = startOrigin();
  await countingListeners(origin.port, async (listening) => {
    const managers = [1, 2, 3].map(() => new NetworkAccessManager());
    for (const manager of managers) await manager.get(origin.url("127.0.0.1")).text();
    // One listener on the net permission and one on the host's, for all three.
    assert.equal(listening.size, 2);
    await managers[0]!.close();
    await managers[1]!.close();
    assert.equal(listening.size, 2);
    // The last manager to stop watching removes them.
    await managers[2]!.close();
    assert.equal(listening.size, 0);
  });
});

Deno.test({
  name: "a revoke reaches every open manager, and none that was closed",
  permissions: { net: true },
  async fn() {
    await using origin = startOrigin();
    const managers = [1, 2, 3].map(() => new NetworkAccessManager());
    const seen = managers.map(() => [] as string[]);
    managers.forEach((manager, i) =>
      manager.addEventListener("networkaccessiblechanged", (e) => {
        seen[i]!.push((e as NetworkAccessibleChangedEvent).networkAccessible);
      })
    );
    try {
      for (const manager of managers) {
        assert.equal(await manager.get(origin.url("127.0.0.1")).text(), "origin GET /");
      }
      await managers[1]!.close();
      await Deno.permissions.revoke({ name: "net" });
      assert.deepEqual(seen, [["unknown"], [], ["unknown"]]);
      assert.equal(managers[0]!.networkAccessible, "unknown");
      assert.equal(managers[2]!.networkAccessible, "unknown");
    } finally {
      for (const manager of managers) await manager.close();
    }
  },
});

Deno.test("a manager never closed is collected: permission statuses hold it weakly", async () => {
  const { stdout } = await runChild([
    "--allow-net=127.0.0.1",
    "--v8-flags=--expose-gc",
    new URL("./testdata/permissions/unclosed_managers.ts", import.meta.url).pathname,
  ]);
  const { made, collected, kept } = stdout as { made: number; collected: number; kept: number };
  assert.equal(made, 50);
  // Each manager watched the net permission and its host's status, which live as long as the
  // process: they must not keep the managers alive.
  assert.equal(collected, made);
  // The callbacks of collected managers are swept out as more are added: the 1,050 managers
  // made leave at most half as many, not one each.
  assert.ok(kept > 0 && kept < 525, `the net permission's status keeps ${kept} callbacks`);
});

Deno.test("a closed manager is freed by minor collections, not only by full ones", async () => {
  const { stdout } = await runChild([
    "--allow-net=127.0.0.1",
    "--v8-flags=--expose-gc",
    new URL("./testdata/permissions/closed_managers.ts", import.meta.url).pathname,
  ]);
  const { perManager } = stdout as { perManager: number };
  // A manager takes about 4.5 KB; one held until a full collection (a closure made in the
  // constructor of its permission gate did that) leaves all of it, each, after minor ones.
  assert.ok(perManager < 3000, `each closed manager still takes ${perManager} bytes`);
});

Deno.test("a custom transport is not gated by permissions", {
  permissions: { net: false },
}, async () => {
  await using manager = new NetworkAccessManager({
    transport: () => Promise.resolve(new Response("mock")),
  });
  assert.equal(manager.networkAccessible, "accessible");
  assert.equal(await manager.get("http://mock.test/").text(), "mock");
});

Deno.test("permission tests leave no unhandled rejections", () => {
  assert.deepEqual(takeUnhandledRejections(), []);
});
