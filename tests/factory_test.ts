import assert from "node:assert/strict";
import {
  KvCache,
  KvCookieJar,
  KvHstsStore,
  KvNetworkAccessManagerFactory,
  MemoryCookieJar,
  NetworkAccessManager,
  type NetworkAccessManagerFactory,
  type NetworkAccessManagerOptions,
  NetworkError,
} from "../mod.ts";
import { MANAGER_OPTIONS } from "../src/manager/_options.ts";
import { runDeno } from "./_helpers/deno_run.ts";
import { guardUnhandledRejections, serve, takeUnhandledRejections } from "./_helpers/server.ts";

guardUnhandledRejections();

/** A temporary KV file, removed (with its SQLite side files) on dispose. */
async function tempKvPath(): Promise<{ path: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir();
  return {
    path: `${dir}/state.sqlite3`,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** Counts `Deno.openKv` calls while the returned object is alive. */
function countKvOpens(): { count: () => number } & Disposable {
  const original = Deno.openKv;
  let count = 0;
  Object.defineProperty(Deno, "openKv", {
    configurable: true,
    writable: true,
    value: (...args: Parameters<typeof Deno.openKv>) => {
      count++;
      return original(...args);
    },
  });
  return {
    count: () => count,
    [Symbol.dispose]: () =>
      Object.defineProperty(Deno, "openKv", {
        configurable: true,
        writable: true,
        value: original,
      }),
  };
}

/** An origin that sets a cookie on /login, echoes the Cookie header on /whoami, and serves a public
 * cacheable /doc whose body counts the hits. */
function origin() {
  const hits = { doc: 0 };
  const server = serve((request) => {
    const url = new URL(request.url);
    if (url.pathname === "/login") {
      return new Response("in", { headers: { "set-cookie": "session=abc; Max-Age=3600" } });
    }
    if (url.pathname === "/whoami") return new Response(request.headers.get("cookie") ?? "");
    hits.doc++;
    return new Response(`doc ${hits.doc}`, {
      headers: { "cache-control": "public, max-age=3600" },
    });
  });
  return Object.assign(server, { hits });
}

Deno.test("KvNetworkAccessManagerFactory.open makes managers on shared stores, with the chosen options", async () => {
  await using file = await tempKvPath();
  await using factory = await KvNetworkAccessManagerFactory.open({
    path: file.path,
    hsts: true,
    manager: { maxRedirects: 3, retry: { limit: 1 }, redirectPolicy: "same-origin" },
  });
  const implementsInterface: NetworkAccessManagerFactory = factory;
  await using a = implementsInterface.create();
  await using b = factory.create();
  assert.ok(a instanceof NetworkAccessManager);
  assert.notEqual(a, b);
  assert.ok(factory.cache !== null && factory.cookieJar !== null && factory.hstsStore !== null);
  assert.notEqual(a.cookieJar, b.cookieJar, "no cookie jar is shared unless asked");
  for (const manager of [a, b]) {
    assert.equal(manager.cache, factory.cache);
    assert.ok(manager.cookieJar instanceof MemoryCookieJar);
    assert.equal(manager.hstsStore, factory.hstsStore);
    assert.equal(manager.maxRedirects, 3);
    assert.equal(manager.redirectPolicy, "same-origin");
    assert.deepEqual(manager.retry, { limit: 1 });
  }
  assert.notEqual(a.queue, b.queue, "each manager has its own queue");
  assert.equal(factory.openManagers, 2);
});

Deno.test("KvNetworkAccessManagerFactory: managers of one partition see each other's cookies; every manager sees the cache", async () => {
  await using server = origin();
  await using file = await tempKvPath();
  await using factory = await KvNetworkAccessManagerFactory.open({ path: file.path });
  {
    await using first = factory.create({ partition: "alice" });
    assert.equal(await first.get(`${server.url}/login`).text(), "in");
    assert.equal(await first.get(`${server.url}/doc`).text(), "doc 1");
  }
  assert.equal(factory.openManagers, 0, "a closed manager is forgotten");
  await using second = factory.create({ partition: "alice" });
  assert.equal(await second.get(`${server.url}/whoami`).text(), "session=abc");
  const cached = second.get(`${server.url}/doc`);
  assert.equal(await cached.text(), "doc 1");
  assert.equal(cached.fromCache, true);
  assert.equal(server.hits.doc, 1);
  await using bob = factory.create({ partition: "bob" });
  assert.equal(await bob.get(`${server.url}/whoami`).text(), "", "no cookie crosses partitions");
  await using anonymous = factory.create();
  assert.equal(await anonymous.get(`${server.url}/whoami`).text(), "");
  assert.equal(await factory.cookieJar!.allCookies().then((c) => c.length), 0);
  await factory.cookieJar!.clear();
  assert.equal(await second.get(`${server.url}/whoami`).text(), "", "clear() empties partitions");
});

Deno.test("KvNetworkAccessManagerFactory shares one cookie jar only when asked", async () => {
  await using server = origin();
  await using file = await tempKvPath();
  await using factory = await KvNetworkAccessManagerFactory.open({
    path: file.path,
    cookieJar: { shared: true },
  });
  await using first = factory.create();
  await using second = factory.create();
  assert.equal(first.cookieJar, factory.cookieJar);
  assert.equal(second.cookieJar, factory.cookieJar);
  await first.get(`${server.url}/login`).text();
  assert.equal(await second.get(`${server.url}/whoami`).text(), "session=abc");
  await using carol = factory.create({ partition: "carol" });
  assert.notEqual(carol.cookieJar, factory.cookieJar);
  assert.equal(await carol.get(`${server.url}/whoami`).text(), "", "a partition stays apart");
  assert.equal(factory.cache!.mode, "shared", "the factory's KV cache is a shared cache");
  await using single = await KvNetworkAccessManagerFactory.open({
    path: ":memory:",
    cache: { mode: "private" },
  });
  assert.equal(single.cache!.mode, "private");
  assert.throws(
    () => new KvNetworkAccessManagerFactory({ cookieJar: { shared: "yes" as never } }),
    { name: "TypeError", message: /'cookieJar.shared' must be a boolean, got "yes"$/ },
  );
  assert.throws(() => factory.create({ partition: "" }), {
    name: "TypeError",
    message: /'partition' must be a non-empty string, got ""/,
  });
  assert.throws(() => factory.create({ partition: "x".repeat(513) }), {
    name: "RangeError",
    message: /'partition' must be at most 512 bytes, got 513/,
  });
});

Deno.test("KvNetworkAccessManagerFactory.create checks the partition without a cookie jar too, and refuses one there", async () => {
  await using factory = await KvNetworkAccessManagerFactory.open({
    path: ":memory:",
    cookieJar: false,
  });
  assert.throws(() => factory.create({ partition: "" }), {
    name: "TypeError",
    message: `Cannot create manager: 'partition' must be a non-empty string, got ""`,
  });
  assert.throws(() => factory.create({ partition: 7 as never }), {
    name: "TypeError",
    message: "Cannot create manager: 'partition' must be a non-empty string, got 7",
  });
  assert.throws(() => factory.create({ partition: "x".repeat(513) }), {
    name: "RangeError",
    message: "Cannot create manager: 'partition' must be at most 512 bytes, got 513 " +
      "(hash a longer key)",
  });
  await assert.rejects(() => factory.createAsync({ partition: "" }), TypeError);
  assert.equal(factory.openManagers, 0);
  // A valid key is refused too: the manager would keep no cookie, not that user's.
  const refused = {
    name: "TypeError",
    message: "Cannot create manager: 'partition' needs the factory's cookie jar, and this " +
      "factory was opened with cookieJar: false (its managers keep no cookies)",
  };
  assert.throws(() => factory.create({ partition: "user:1" }), refused);
  await assert.rejects(() => factory.createAsync({ partition: "user:1" }), refused);
  assert.equal(factory.openManagers, 0);
  await using manager = factory.create({});
  assert.equal(manager.cookieJar, null);
});

Deno.test("KvCookieJar partitions: two processes' jars on one file keep each partition apart", async () => {
  await using file = await tempKvPath();
  const url = "https://example.test/";
  {
    await using alice = await KvCookieJar.open({ path: file.path, partition: "alice" });
    await using bob = await KvCookieJar.open({ path: file.path, partition: "bob" });
    await using root = await KvCookieJar.open({ path: file.path });
    await alice.setCookiesFromUrl(["session=A; Max-Age=3600"], url);
    await bob.setCookiesFromUrl(["session=B; Max-Age=3600"], url);
    await root.setCookiesFromUrl(["theme=dark; Max-Age=3600"], url);
    assert.deepEqual((await alice.cookiesForUrl(url)).map((c) => c.value), ["A"]);
    assert.deepEqual((await bob.cookiesForUrl(url)).map((c) => c.value), ["B"]);
    assert.deepEqual((await root.allCookies()).map((c) => c.value), ["dark"]);
    assert.equal(alice.partitionKey, "alice");
    assert.equal(root.partitionKey, null);
    assert.equal(root.partition("alice").partitionKey, "alice");
    await bob.clear();
    assert.deepEqual((await alice.cookiesForUrl(url)).map((c) => c.value), ["A"]);
  }
  await using again = await KvCookieJar.open({ path: file.path, partition: "alice" });
  assert.deepEqual((await again.cookiesForUrl(url)).map((c) => c.value), ["A"], "it persists");
  await assert.rejects(() => KvCookieJar.open({ path: file.path, partition: 7 as never }), {
    name: "TypeError",
    message: /Cannot open cookie jar: 'partition' must be a non-empty string, got 7/,
  });
  // A key part too long is out of range, the prefix's as the partition's, naming the limit.
  await assert.rejects(() => KvCookieJar.open({ path: file.path, prefix: ["p".repeat(600)] }), {
    name: "RangeError",
    message: "Cannot open cookie jar: 'prefix' must be at most 512 bytes, got 600",
  });
  await assert.rejects(() => KvCookieJar.open({ path: file.path, partition: "x".repeat(513) }), {
    name: "RangeError",
    message: "Cannot open cookie jar: 'partition' must be at most 512 bytes, got 513 " +
      "(hash a longer key)",
  });
});

Deno.test("KvNetworkAccessManagerFactory closes managers' connections only, never the shared stores", async () => {
  await using file = await tempKvPath();
  await using factory = await KvNetworkAccessManagerFactory.open({ path: file.path });
  const first = factory.create();
  await first.close();
  await first.close();
  await factory.cookieJar!.setCookiesFromUrl(["a=1"], "https://example.test/");
  assert.equal((await factory.cookieJar!.allCookies()).length, 1);
  assert.equal(await factory.cache!.cacheSize(), 0);
});

Deno.test("KvNetworkAccessManagerFactory opens the stores once when the first calls race", async (t) => {
  await using file = await tempKvPath();
  await t.step("create() before the stores are open throws", async () => {
    await using factory = new KvNetworkAccessManagerFactory({ path: file.path });
    assert.equal(factory.cache, null);
    assert.throws(() => factory.create(), {
      name: "TypeError",
      message:
        /^Cannot create manager: the factory's stores are not open yet; await factory\.ready/,
    });
  });
  await t.step(
    "20 concurrent createAsync() and ready: one database, one set of stores",
    async () => {
      using opens = countKvOpens();
      await using factory = new KvNetworkAccessManagerFactory({
        path: file.path,
        hsts: true,
        cookieJar: { shared: true },
      });
      const managers = await Promise.all([
        ...Array.from({ length: 20 }, () => factory.createAsync()),
        factory.ready.then((f) => f.create()),
      ]);
      assert.equal(opens.count(), 1);
      assert.equal(new Set(managers).size, 21);
      assert.equal(new Set(managers.map((m) => m.cache)).size, 1);
      assert.equal(new Set(managers.map((m) => m.cookieJar)).size, 1);
      assert.equal(new Set(managers.map((m) => m.hstsStore)).size, 1);
      assert.equal(await factory.ready, factory);
      assert.equal(opens.count(), 1);
      assert.equal(factory.openManagers, 21);
    },
  );
  await t.step(
    "a failed opening rejects every waiter, and the next access tries again",
    async () => {
      using opens = countKvOpens();
      const factory = new KvNetworkAccessManagerFactory({
        path: "/nonexistent-dir/x/state.sqlite3",
      });
      const results = await Promise.allSettled([factory.createAsync(), factory.createAsync()]);
      assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
      assert.equal(opens.count(), 1);
      const failure = await factory.ready.then(() => assert.fail("opened"), (error) => error);
      assert.equal(opens.count(), 2);
      // create() tells why, not to await a ready that failed.
      assert.throws(() => factory.create(), (error: Error) => {
        assert.ok(error instanceof TypeError);
        assert.equal(
          error.message,
          `Cannot create manager: the factory's stores could not be opened: ${failure.message}`,
        );
        assert.match(error.message, /"\/nonexistent-dir\/x\/state\.sqlite3"/);
        assert.equal(error.cause, failure);
        return true;
      });
      await factory.close();
    },
  );
});

Deno.test("KvNetworkAccessManagerFactory.close closes open managers, then the stores and its database", async (t) => {
  await t.step("a database it opened", async () => {
    await using server = serve(() => new Promise<Response>(() => {}));
    await using file = await tempKvPath();
    const factory = await KvNetworkAccessManagerFactory.open({ path: file.path });
    const manager = factory.create();
    const hanging = manager.get(server.url);
    const cache = factory.cache!;
    await factory.close();
    await factory.close();
    assert.equal(hanging.error, NetworkError.OperationCanceledError);
    assert.equal(factory.openManagers, 0);
    await assert.rejects(cache.cacheSize(), /closed/);
    assert.throws(() => factory.create(), {
      message: "Cannot create manager: the factory is closed",
    });
    await assert.rejects(factory.createAsync(), /Cannot create manager: the factory is closed/);
  });
  await t.step("a database the application gave stays open", async () => {
    await using kv = await Deno.openKv(":memory:");
    {
      await using factory = await KvNetworkAccessManagerFactory.open({ kv, cookieJar: false });
      assert.equal(factory.cookieJar, null);
      await using manager = factory.create();
      assert.equal(manager.cookieJar, null);
    }
    await kv.set(["still", "open"], true);
    assert.equal((await kv.get(["still", "open"])).value, true);
  });
  await t.step("closing before the stores were ever opened", async () => {
    const factory = new KvNetworkAccessManagerFactory({ path: ":memory:" });
    await factory.close();
    await assert.rejects(factory.ready, /it is closed/);
    // A manager asked for after close is refused in the words create() uses.
    await assert.rejects(factory.createAsync(), {
      name: "TypeError",
      message: "Cannot create manager: the factory is closed",
    });
  });
  await t.step("closing while the stores are opening", async () => {
    const factory = new KvNetworkAccessManagerFactory({ path: ":memory:" });
    const ready = factory.ready;
    await factory.close();
    await ready;
    assert.throws(() => factory.create(), /the factory is closed/);
  });
});

Deno.test("KvNetworkAccessManagerFactory: a manager let go of without being closed is collected", async () => {
  const child = new URL("./testdata/factory/unclosed_managers.ts", import.meta.url).pathname;
  const { code, stdout, stderr } = await runDeno(
    ["run", "--allow-net=127.0.0.1", "--v8-flags=--expose-gc", child],
    { cwd: new URL("../", import.meta.url).pathname },
  );
  assert.equal(code, 0, stderr);
  const { made, collected, open, heldClosed } = JSON.parse(stdout);
  // A handler that forgets to close its manager: the factory must not keep each one alive.
  assert.equal(made, 50);
  assert.equal(collected, made);
  assert.equal(open, 0, "the factory counts the collected managers as open");
  // A manager still held is closed with the factory, as before.
  assert.equal(heldClosed, true);
});

Deno.test("KvNetworkAccessManagerFactory.open names the path, and why, when the database cannot be opened", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await t.step("a folder that does not exist", async () => {
      const path = `${dir}/missing/state.sqlite3`;
      await assert.rejects(KvNetworkAccessManagerFactory.open({ path }), {
        name: "TypeError",
        message: `Cannot open manager factory: the KV database ${JSON.stringify(path)} cannot ` +
          `be opened: its folder ${JSON.stringify(`${dir}/missing`)} does not exist ` +
          `(unable to open database file: ${path})`,
      });
    });
    await t.step("a folder given as the file", async () => {
      await assert.rejects(KvNetworkAccessManagerFactory.open({ path: dir }), {
        name: "TypeError",
        message: new RegExp(
          `^Cannot open manager factory: the KV database "${dir}" cannot be opened: it is a ` +
            "folder, not a file \\(",
        ),
      });
    });
    await t.step("the stores' own open() says the same", async () => {
      await assert.rejects(KvCache.open({ path: `${dir}/missing/cache.sqlite3` }), {
        name: "TypeError",
        message:
          /^Cannot open cache: the KV database ".*cache\.sqlite3" cannot be opened: its folder/,
      });
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KvNetworkAccessManagerFactory: a manager's settings are its own; changing the options given reaches none", async () => {
  const options = {
    path: ":memory:",
    manager: { retry: { limit: 2, methods: ["GET"] }, caCerts: [] as string[] },
  };
  await using factory = await KvNetworkAccessManagerFactory.open(options);
  await using a = factory.create();
  // The options given, changed after the factory was made (the last one unchecked: -1).
  options.manager.retry.limit = -1;
  options.manager.retry.methods.push("POST");
  options.manager.caCerts.push("not a certificate");
  // One manager's settings, changed in place: refused, not shared with the others.
  assert.throws(() => {
    (a.retry as { limit: number }).limit = 7;
  }, TypeError);
  assert.throws(() => (a.retry as { methods: string[] }).methods.push("PUT"), TypeError);
  a.retry = { limit: 5 };
  await using b = factory.create();
  assert.deepEqual(b.retry, { limit: 2, methods: ["GET"] });
  assert.deepEqual(b.caCerts, []);
  assert.deepEqual(a.retry, { limit: 5 });
});

Deno.test("KvNetworkAccessManagerFactory: a store that fails to open closes the ones that opened", async (t) => {
  // The resource sanitizer fails a step that leaves the file open (the cache watches it).
  const stores = { "the cookie jar": KvCookieJar, "the HSTS store": KvHstsStore };
  for (const [name, Store] of Object.entries(stores)) {
    await t.step(name, async () => {
      const open = Object.getOwnPropertyDescriptor(Store, "open")!;
      const failure = new Error("the disk is full");
      Object.defineProperty(Store, "open", { ...open, value: () => Promise.reject(failure) });
      try {
        await using temp = await tempKvPath();
        await assert.rejects(
          KvNetworkAccessManagerFactory.open({ path: temp.path, hsts: true }),
          (thrown) => thrown === failure,
        );
      } finally {
        Object.defineProperty(Store, "open", open);
      }
    });
  }
});

Deno.test("KvNetworkAccessManagerFactory refuses store prefixes that nest, so that no store's clear() removes another's entries", async () => {
  // Clearing a cache under ["app"] removed the cookies and HSTS policies under ["app", ...].
  assert.throws(
    () =>
      new KvNetworkAccessManagerFactory({
        path: ":memory:",
        cache: { prefix: ["app"] },
        cookieJar: { prefix: ["app", "cookies"] },
      }),
    {
      name: "RangeError",
      message:
        `Cannot create manager factory: the 'cookieJar' prefix [ "app", "cookies" ] starts ` +
        `with the 'cache' prefix [ "app" ], so clearing one store would remove the other's ` +
        "entries; give each store a prefix that does not start with another's",
    },
  );
  // Against a store's default prefix too, and the same prefix twice.
  assert.throws(
    () =>
      new KvNetworkAccessManagerFactory({
        hsts: true,
        cookieJar: false,
        cache: { prefix: ["netaccess"] },
      }),
    { message: /the 'hsts' prefix \[ "netaccess", "hsts" \] starts with the 'cache' prefix/ },
  );
  assert.throws(
    () =>
      new KvNetworkAccessManagerFactory({
        hsts: { prefix: ["app", "state"] },
        cookieJar: { prefix: ["app", "state"] },
      }),
    { message: /the 'hsts' prefix \[ "app", "state" \] is the 'cookieJar' prefix/ },
  );
  // A store that is off takes no keys; prefixes side by side are fine.
  new KvNetworkAccessManagerFactory({ cookieJar: false, cache: { prefix: ["netaccess"] } });
  await using factory = await KvNetworkAccessManagerFactory.open({
    path: ":memory:",
    cache: { prefix: ["app", "cache"] },
    cookieJar: { prefix: ["app", "cookies"], shared: true },
    hsts: { prefix: ["app", "hsts"] },
  });
  await factory.hstsStore!.learn("example.com", "max-age=600");
  await factory.cookieJar!.setCookiesFromUrl(["a=1; Max-Age=600"], "https://example.com/");
  await factory.cache!.clear();
  assert.equal(await factory.hstsStore!.isKnownHost("example.com"), true);
  assert.equal((await factory.cookieJar!.allCookies()).length, 1);
});

Deno.test("KvNetworkAccessManagerFactory validates its options with messages naming them", () => {
  assert.throws(() => new KvNetworkAccessManagerFactory({ path: "a", kv: {} as Deno.Kv }), {
    message: "Cannot create manager factory: give either 'kv' or 'path', not both",
  });
  for (
    const [kv, shown] of [[{}, "an object"], [null, "null"], ["state.sqlite3", '"state.sqlite3"']]
  ) {
    assert.throws(() => new KvNetworkAccessManagerFactory({ kv: kv as never }), {
      name: "TypeError",
      message:
        `Cannot create manager factory: 'kv' must be a Deno.Kv from Deno.openKv(), got ${shown}`,
    });
  }
  // The stores' options, when the factory is made (not once the stores open).
  assert.throws(() => new KvNetworkAccessManagerFactory({ cache: { maxSize: -1 } }), {
    name: "RangeError",
    message:
      "Cannot create manager factory ('cache'): 'maxSize' must be a positive integer, got -1",
  });
  assert.throws(() => new KvNetworkAccessManagerFactory({ cache: { mode: "public" as never } }), {
    name: "TypeError",
    message: `Cannot create manager factory ('cache'): 'mode' must be "shared" or "private", ` +
      `got "public"`,
  });
  assert.throws(() => new KvNetworkAccessManagerFactory({ hsts: { prefix: [] } }), {
    name: "TypeError",
    message: "Cannot create manager factory ('hsts'): 'prefix' must be a non-empty array of key " +
      "parts, got an empty array",
  });
  assert.throws(
    () => new KvNetworkAccessManagerFactory({ cookieJar: { prefix: "jar" as never } }),
    { name: "TypeError", message: /^Cannot create manager factory \('cookieJar'\): 'prefix'/ },
  );
  assert.throws(() => new KvNetworkAccessManagerFactory({ cache: { prefix: ["c".repeat(513)] } }), {
    name: "RangeError",
    message: "Cannot create manager factory ('cache'): 'prefix' must be at most 512 bytes, got 513",
  });
  assert.throws(
    () => new KvNetworkAccessManagerFactory({ manager: { cookieJar: null } as never }),
    { message: /'manager.cookieJar' is set by the factory/ },
  );
  // The managers' options and the clock are the factory's own: its message names them.
  for (const [manager, shown] of [[5, "5"], ["x", '"x"'], [null, "null"], [[1], "an array"]]) {
    assert.throws(() => new KvNetworkAccessManagerFactory({ manager: manager as never }), {
      name: "TypeError",
      message: `Cannot create manager factory: 'manager' must be an object, got ${shown}`,
    });
  }
  assert.throws(() => new KvNetworkAccessManagerFactory({ clock: 5 as never }), {
    name: "TypeError",
    message: "Cannot create manager factory: 'clock' must be a function, got 5",
  });
  assert.throws(() => new KvNetworkAccessManagerFactory({ cache: "yes" as never }), {
    message: `Cannot create manager factory: 'cache' must be a boolean or an object, got "yes"`,
  });
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("KvNetworkAccessManagerFactory checks the managers' options when it is made, naming them 'manager.<option>'", async () => {
  for (const [options, shown] of [[[], "an array"], [null, "null"], [5, "5"]] as const) {
    assert.throws(() => new KvNetworkAccessManagerFactory(options as never), {
      name: "TypeError",
      message: `Cannot create manager factory: 'options' must be an object, got ${shown}`,
    });
  }
  const cases: [NetworkAccessManagerOptions, string, string][] = [
    [
      { maxRedirects: -1 },
      "RangeError",
      "'manager.maxRedirects' must be a non-negative integer, got -1",
    ],
    [
      { redirectPolicy: "sometimes" as never },
      "TypeError",
      `'manager.redirectPolicy' must be one of "manual", "no-less-safe", "same-origin", ` +
      `"user-verified", got "sometimes"`,
    ],
    [
      { retry: { limit: -1 } },
      "RangeError",
      "'manager.retry.limit' must be a non-negative integer, got -1",
    ],
    [
      { proxy: { type: "http" } as never },
      "TypeError",
      `'manager.proxy.url' must be a non-empty string for a "http" proxy, got undefined`,
    ],
    [{ layers: 3 as never }, "TypeError", "'manager.layers' must be an array of functions, got 3"],
    [
      { timout: 5 } as never,
      "TypeError",
      "unknown option 'manager.timout'; did you mean 'manager.timeout'?",
    ],
  ];
  for (const [manager, name, message] of cases) {
    assert.throws(() => new KvNetworkAccessManagerFactory({ path: ":memory:", manager }), {
      name,
      message: `Cannot create manager factory: ${message}`,
    });
  }
  await using factory = await KvNetworkAccessManagerFactory.open({ path: ":memory:" });
  assert.throws(() => factory.create([] as never), {
    name: "TypeError",
    message: "Cannot create manager: 'options' must be an object, got an array",
  });
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("KvNetworkAccessManagerFactory refuses every manager option the constructor refuses, with its message under 'manager.'", async (t) => {
  const fn = () => {};
  const pem = "-----BEGIN CERTIFICATE-----";
  /** Values of every kind, then values each option takes in part (a bad field within). */
  const any: unknown[] = [null, NaN, -1, -2, 0, 1.5, Infinity, 2 ** 31, "x", "", {}, [], [1], fn];
  any.push(true, false, 10n, new Map(), Promise.resolve());
  const within: Record<string, unknown[]> = {
    layers: [[fn, 1], [null]],
    proxy: [
      { type: "bad" },
      { type: "http" },
      { type: "http", url: "h:0" },
      { type: "http", url: "http://h:1/path" },
      { type: "http", url: "h:1", username: 1 },
      { type: "http", url: "h:1", password: "p" },
      { type: "http", url: "h:1", username: "a:b" },
    ],
    caCerts: [["x"], [`${pem}\nnot base64\n-----END CERTIFICATE-----`]],
    clientCertificate: [{ cert: "x", key: "y" }, { cert: pem, key: "y" }],
    clientCertificates: [
      { "http://a": {} },
      { "https://a": 1 },
      { "https://a": { cert: pem, key: "k" } },
    ],
    retry: [
      { limit: -1 },
      { limt: 1 },
      { zzzzzz: 1 },
      { delay: 2 ** 31 },
      { methods: ["G T"] },
      { statusCodes: [700] },
      { errorCodes: [12345] },
      { jitter: 1 },
      { sleep: 1 },
    ],
  };
  // The stores and the clock are the factory's own options, refused under the manager's.
  const own = ["cache", "cookieJar", "hstsStore", "clock"];
  const names = MANAGER_OPTIONS.filter((name) => !own.includes(name));
  let refused = 0;
  for (const name of names) {
    await t.step(name, async () => {
      for (const value of [...any, ...within[name] ?? []]) {
        const shown = `${name}: ${Deno.inspect(value, { depth: 4 })}`;
        let made: Error | undefined;
        try {
          await new NetworkAccessManager({ [name]: value }).close();
        } catch (error) {
          made = error as Error;
        }
        let factoryError: Error | undefined;
        try {
          await new KvNetworkAccessManagerFactory({ manager: { [name]: value } }).close();
        } catch (error) {
          factoryError = error as Error;
        }
        if (made === undefined) {
          assert.equal(factoryError, undefined, `${shown}: taken by both`);
          continue;
        }
        refused++;
        assert.ok(factoryError, `${shown}: refused by the factory too`);
        assert.equal(factoryError.name, made.name, `${shown}: the same error class`);
        const prefix = "Cannot create manager: ";
        assert.match(made.message, new RegExp(`^${prefix}(unknown option )?'${name}\\b`));
        assert.equal(
          factoryError.message,
          `Cannot create manager factory: ${made.message.slice(prefix.length)}`
            .replaceAll(`'${name}`, `'manager.${name}`),
          `${shown}: the same message, each option under 'manager.'`,
        );
      }
    });
  }
  assert.ok(refused > 300, `${refused} values refused`);
  await t.step("unknown options", () => {
    for (const [key, close] of [["timout", "timeout"], ["Retry", "retry"], ["zzzzzz", undefined]]) {
      const hint = close === undefined
        ? `; the options are ${MANAGER_OPTIONS.map((name) => `'${name}'`).join(", ")}`
        : `; did you mean '${close}'?`;
      assert.throws(() => new NetworkAccessManager({ [key!]: 1 }), {
        name: "TypeError",
        message: `Cannot create manager: unknown option '${key}'${hint}`,
      });
      assert.throws(() => new KvNetworkAccessManagerFactory({ manager: { [key!]: 1 } as never }), {
        name: "TypeError",
        message: `Cannot create manager factory: unknown option 'manager.${key}'${
          hint.replace("did you mean '", "did you mean 'manager.")
        }`,
      });
    }
  });
});

Deno.test("KvNetworkAccessManagerFactory checks the managers' options without making a manager: no permission is queried", async () => {
  const querySync = Deno.permissions.querySync;
  const query = Deno.permissions.query;
  const asked: string[] = [];
  Deno.permissions.querySync = (descriptor) => {
    asked.push(descriptor.name);
    return querySync.call(Deno.permissions, descriptor);
  };
  Deno.permissions.query = (descriptor) => {
    asked.push(descriptor.name);
    return query.call(Deno.permissions, descriptor);
  };
  try {
    const factory = new KvNetworkAccessManagerFactory({
      path: ":memory:",
      manager: { retry: { limit: 2 }, maxRedirects: 3, networkAccessible: true },
    });
    assert.deepEqual(asked, [], "no permission queried while the factory is made");
    await factory.ready;
    assert.deepEqual(asked, [], "nor while its stores open");
    // A manager it makes does query the `net` permission (it reports network accessibility).
    await using manager = factory.create();
    assert.deepEqual(asked, ["net"]);
    assert.equal(manager.maxRedirects, 3);
    await factory.close();
  } finally {
    Deno.permissions.querySync = querySync;
    Deno.permissions.query = query;
  }
});
