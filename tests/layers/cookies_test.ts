import assert from "node:assert/strict";
import {
  type CookieJar,
  KvCookieJar,
  type Layer,
  MemoryCache,
  MemoryCookieJar,
  NetworkAccessManager,
  NetworkError,
  setResponseInfo,
} from "../../mod.ts";
import { guardUnhandledRejections, serve, takeUnhandledRejections } from "../_helpers/server.ts";
import { loopbackHosts } from "../_helpers/loopback_hosts.ts";

guardUnhandledRejections();

/** What the origin saw of one request. */
interface Seen {
  host: string;
  path: string;
  cookie: string | null;
}

function latin1ToUtf8(value: string): string {
  return new TextDecoder().decode(Uint8Array.from(value, (c) => c.charCodeAt(0)));
}

function utf8ToLatin1(value: string): string {
  return String.fromCharCode(...new TextEncoder().encode(value));
}

/**
 * An origin driven by its query: each `set` is a `Set-Cookie` line (sent as UTF-8 bytes),
 * `to` makes the answer a 302 to that URL; otherwise it answers 200 with what it saw.
 */
function cookieOrigin() {
  const seen: Seen[] = [];
  const server = serve((request) => {
    const url = new URL(request.url);
    const cookie = request.headers.get("cookie");
    const entry: Seen = {
      host: request.headers.get("host") ?? "",
      path: url.pathname,
      cookie: cookie === null ? null : latin1ToUtf8(cookie),
    };
    seen.push(entry);
    const headers = new Headers();
    for (const line of url.searchParams.getAll("set")) {
      headers.append("set-cookie", utf8ToLatin1(line));
    }
    const to = url.searchParams.get("to");
    if (to !== null) {
      headers.set("location", to);
      return new Response(null, { status: 302, headers });
    }
    return Response.json(entry, { headers });
  });
  return Object.assign(server, { seen });
}

/** A URL for {@linkcode cookieOrigin}: `set` lines to send, `to` to redirect. */
function at(base: string, options: { set?: string[]; to?: string } = {}): string {
  const url = new URL(base);
  for (const line of options.set ?? []) url.searchParams.append("set", line);
  if (options.to !== undefined) url.searchParams.set("to", options.to);
  return url.href;
}

/** A manager whose http host names all reach `port` on loopback. */
function managerFor(port: number, options: { cookieJar?: CookieJar | null } = {}) {
  const hosts = loopbackHosts(port);
  const manager = new NetworkAccessManager(options);
  manager.use(hosts.layer, "network");
  return {
    manager,
    hosts,
    async [Symbol.asyncDispose]() {
      await manager.close();
      hosts.close();
    },
  };
}

async function cookieSeenBy(manager: NetworkAccessManager, url: string): Promise<string | null> {
  const reply = manager.get(url);
  const seen = await reply.json() as Seen;
  assert.equal(reply.error, NetworkError.NoError, reply.errorString);
  return seen.cookie;
}

Deno.test("cookie layer stores a response's Set-Cookie and sends it with the next request", async () => {
  await using origin = cookieOrigin();
  await using env = managerFor(origin.port);
  const { manager } = env;
  const first = manager.get(
    at("http://a.test/login", { set: ["session=abc; HttpOnly", "theme=dark"] }),
  );
  await first.text();
  assert.equal(first.error, NetworkError.NoError, first.errorString);
  assert.equal(origin.seen[0]!.cookie, null);
  assert.equal(await cookieSeenBy(manager, "http://a.test/account"), "session=abc; theme=dark");
  assert.equal(await cookieSeenBy(manager, "http://b.test/"), null, "another host gets none");
  const names = (await manager.cookieJar!.allCookies()).map((c) => `${c.domain} ${c.name}`);
  assert.deepEqual(names, ["a.test session", "a.test theme"]);
});

Deno.test("cookie layer honours the manual load and save controls", async (t) => {
  await using origin = cookieOrigin();
  await using env = managerFor(origin.port);
  const { manager } = env;
  const jar = manager.cookieJar!;
  await jar.setCookiesFromUrl(["kept=1"], "http://a.test/");

  await t.step("cookieLoadControl manual sends no jar cookie but still stores", async () => {
    const reply = manager.get(at("http://a.test/x", { set: ["loaded=2"] }), {
      cookieLoadControl: "manual",
    });
    assert.equal(((await reply.json()) as Seen).cookie, null);
    assert.equal(await cookieSeenBy(manager, "http://a.test/"), "kept=1; loaded=2");
  });

  await t.step("cookieLoadControl manual leaves a user Cookie header as it is", async () => {
    const reply = manager.get("http://a.test/x", {
      cookieLoadControl: "manual",
      headers: { cookie: "mine=1" },
    });
    assert.equal(((await reply.json()) as Seen).cookie, "mine=1");
  });

  await t.step("cookieSaveControl manual stores nothing but still sends", async () => {
    const reply = manager.get(at("http://a.test/x", { set: ["unsaved=3"] }), {
      cookieSaveControl: "manual",
    });
    assert.equal(((await reply.json()) as Seen).cookie, "kept=1; loaded=2");
    assert.equal(await cookieSeenBy(manager, "http://a.test/"), "kept=1; loaded=2");
  });

  await t.step("both manual: a redirect chain neither sends nor stores", async () => {
    const url = at("http://a.test/r", {
      set: ["hop=1"],
      to: at("http://a.test/end", { set: ["end=1"] }),
    });
    const before = origin.seen.length;
    const reply = manager.get(url, { cookieLoadControl: "manual", cookieSaveControl: "manual" });
    await reply.text();
    assert.equal(reply.error, NetworkError.NoError, reply.errorString);
    assert.deepEqual(origin.seen.slice(before).map((s) => s.cookie), [null, null]);
    assert.equal(await cookieSeenBy(manager, "http://a.test/"), "kept=1; loaded=2");
  });
});

Deno.test("cookie layer stores a 302's Set-Cookie before the next hop is sent", async () => {
  await using origin = cookieOrigin();
  await using env = managerFor(origin.port);
  const reply = env.manager.get(
    at("http://a.test/start", { set: ["step=1"], to: "http://a.test/next" }),
  );
  const seen = await reply.json() as Seen;
  assert.equal(reply.error, NetworkError.NoError, reply.errorString);
  assert.equal(reply.url.href, "http://a.test/next");
  assert.deepEqual(origin.seen.map((s) => [s.path, s.cookie]), [
    ["/start", null],
    ["/next", "step=1"],
  ]);
  assert.equal(seen.cookie, "step=1");
});

Deno.test("cookie layer sends each hop of a redirect chain the cookies of its own host", async () => {
  await using origin = cookieOrigin();
  await using env = managerFor(origin.port);
  const jar = env.manager.cookieJar!;
  await jar.setCookiesFromUrl(["pre=a"], "http://a.test/");
  await jar.setCookiesFromUrl(["pre=b"], "http://b.test/");
  await jar.setCookiesFromUrl(["wide=1; Domain=example.test"], "http://www.example.test/");
  const url = at("http://a.test/1", {
    set: ["one=1"],
    to: at("http://b.test/2", {
      set: ["two=2"],
      to: at("http://x.example.test/3", { to: at("http://a.test/4") }),
    }),
  });
  const reply = env.manager.get(url);
  await reply.text();
  assert.equal(reply.error, NetworkError.NoError, reply.errorString);
  assert.equal(reply.redirects.length, 3);
  assert.deepEqual(origin.seen.map((s) => [s.host, s.path, s.cookie]), [
    ["a.test", "/1", "pre=a"],
    ["b.test", "/2", "pre=b"],
    ["x.example.test", "/3", "wide=1"],
    ["a.test", "/4", "pre=a; one=1"],
  ]);
  assert.equal(await cookieSeenBy(env.manager, "http://b.test/"), "pre=b; two=2");
});

Deno.test("cookie layer merges a user Cookie header with the jar's cookies", async (t) => {
  await using origin = cookieOrigin();
  await using env = managerFor(origin.port);
  const { manager } = env;
  await manager.cookieJar!.setCookiesFromUrl(["a=jar", "j=2"], "http://a.test/");

  await t.step(
    "the user's pairs come first and win over a jar cookie of the same name",
    async () => {
      const reply = manager.get("http://a.test/", { headers: { cookie: "a=user; u=1" } });
      assert.equal(((await reply.json()) as Seen).cookie, "a=user; u=1; j=2");
    },
  );

  await t.step("layers above see the request's own header again after the hop", async () => {
    let after: string | null = "unset";
    const peek: Layer = (next) => async (exchange) => {
      const response = await next(exchange);
      after = exchange.headers.get("cookie");
      return response;
    };
    await using peeking = managerFor(origin.port);
    await peeking.manager.cookieJar!.setCookiesFromUrl(["j=2"], "http://a.test/");
    peeking.manager.use(peek);
    const reply = peeking.manager.get("http://a.test/", { headers: { cookie: "u=1" } });
    assert.equal(((await reply.json()) as Seen).cookie, "u=1; j=2");
    assert.equal(after, "u=1");
  });

  await t.step(
    "the user's header goes to the first origin only, jar cookies to every hop",
    async () => {
      await manager.cookieJar!.setCookiesFromUrl(["pre=b"], "http://b.test/");
      const before = origin.seen.length;
      const reply = manager.get(at("http://a.test/start", { to: "http://b.test/other" }), {
        headers: { cookie: "u=1" },
      });
      await reply.text();
      assert.equal(reply.error, NetworkError.NoError, reply.errorString);
      assert.deepEqual(origin.seen.slice(before).map((s) => [s.host, s.cookie]), [
        ["a.test", "u=1; a=jar; j=2"],
        ["b.test", "pre=b"],
      ]);
    },
  );

  await t.step(
    "a hop to another origin that still carries the header does not send it",
    async () => {
      // A request layer sending a second exchange itself, headers and all.
      const twice: Layer = (next) => async (exchange) => {
        const first = await next(exchange);
        await first.body?.cancel();
        return await next(exchange.next({ url: new URL("http://b.test/again") }));
      };
      await using other = managerFor(origin.port);
      await other.manager.cookieJar!.setCookiesFromUrl(["pre=b"], "http://b.test/");
      other.manager.use(twice);
      const before = origin.seen.length;
      const reply = other.manager.get("http://a.test/", { headers: { cookie: "u=1" } });
      await reply.text();
      assert.equal(reply.error, NetworkError.NoError, reply.errorString);
      assert.deepEqual(origin.seen.slice(before).map((s) => [s.host, s.cookie]), [
        ["a.test", "u=1"],
        ["b.test", "pre=b"],
      ]);
    },
  );
});

Deno.test("cookie layer stores no cookie from a response served by the cache", async (t) => {
  const answer = (fromCache: boolean): Layer => () => (exchange) =>
    Promise.resolve(
      setResponseInfo(
        new Response("body", { headers: { "set-cookie": "hit=1" } }),
        { url: exchange.url, fromCache },
      ),
    );
  for (const fromCache of [true, false]) {
    await t.step(
      fromCache ? "a cache hit stores nothing" : "a network response stores",
      async () => {
        await using manager = new NetworkAccessManager();
        manager.use(answer(fromCache), "network");
        const reply = manager.get("http://a.test/");
        assert.equal(await reply.text(), "body");
        assert.equal(reply.fromCache, fromCache);
        const cookies = await manager.cookieJar!.allCookies();
        assert.deepEqual(cookies.map((c) => c.name), fromCache ? [] : ["hit"]);
      },
    );
  }
});

Deno.test("cookie layer loses no cookie when many replies store at once", async (t) => {
  const count = 40;
  await using origin = cookieOrigin();
  const kv = await Deno.openKv(":memory:");
  try {
    const jars: [string, CookieJar][] = [
      ["MemoryCookieJar", new MemoryCookieJar()],
      ["KvCookieJar", await KvCookieJar.open({ kv })],
    ];
    for (const [kind, jar] of jars) {
      await t.step(kind, async () => {
        await using env = managerFor(origin.port, { cookieJar: jar });
        const replies = Array.from(
          { length: count },
          (_, i) => env.manager.get(at(`http://a.test/p${i}`, { set: [`c${i}=${i}`] })),
        );
        await Promise.all(replies.map((reply) => reply.text()));
        for (const reply of replies) assert.equal(reply.error, NetworkError.NoError);
        const names = (await jar.allCookies()).map((c) => c.name).sort();
        assert.deepEqual(names, Array.from({ length: count }, (_, i) => `c${i}`).sort());
        const sent = (await cookieSeenBy(env.manager, "http://a.test/")) ?? "";
        assert.equal(sent.split("; ").length, count);
      });
    }
  } finally {
    kv.close();
  }
});

Deno.test("cookie layer reads Set-Cookie as UTF-8 and sends cookies back as UTF-8", async () => {
  await using origin = cookieOrigin();
  await using env = managerFor(origin.port);
  await env.manager.get(at("http://a.test/", { set: ["foo=春节回家", "名=値"] })).text();
  const cookies = await env.manager.cookieJar!.allCookies();
  assert.deepEqual(cookies.map((c) => [c.name, c.value]), [["foo", "春节回家"], ["名", "値"]]);
  assert.equal(await cookieSeenBy(env.manager, "http://a.test/"), "foo=春节回家; 名=値");
});

Deno.test("cookie layer expires cookies by the manager's clock", async () => {
  let now = Date.UTC(2030, 0, 1);
  await using origin = cookieOrigin();
  const hosts = loopbackHosts(origin.port);
  await using manager = new NetworkAccessManager({ clock: () => now });
  manager.use(hosts.layer, "network");
  try {
    await manager.get(at("http://a.test/", { set: ["short=1; Max-Age=60"] })).text();
    now += 59_000;
    assert.equal(await cookieSeenBy(manager, "http://a.test/"), "short=1");
    now += 2_000;
    assert.equal(await cookieSeenBy(manager, "http://a.test/"), null);
  } finally {
    hosts.close();
  }
});

Deno.test("cookie layer does nothing when the manager has no jar", async () => {
  await using origin = cookieOrigin();
  await using env = managerFor(origin.port);
  const jar = env.manager.cookieJar!;
  env.manager.cookieJar = null;
  const reply = env.manager.get(at("http://a.test/", { set: ["x=1"] }), {
    headers: { cookie: "mine=1" },
  });
  assert.equal(((await reply.json()) as Seen).cookie, "mine=1");
  assert.deepEqual(await jar.allCookies(), []);
  env.manager.cookieJar = jar;
  await env.manager.get(at("http://a.test/", { set: ["y=2"] })).text();
  assert.deepEqual((await jar.allCookies()).map((c) => c.name), ["y"]);
});

Deno.test("cookie layer fails the reply when the jar fails", async (t) => {
  await using origin = cookieOrigin();
  const failing = (which: "load" | "save"): CookieJar => {
    const jar = new MemoryCookieJar();
    return Object.assign(Object.create(jar), {
      cookiesForUrl: (url: string | URL) =>
        which === "load" ? Promise.reject(new Error("disk on fire")) : jar.cookiesForUrl(url),
      setCookiesFromUrl: (lines: readonly string[], url: string | URL) =>
        which === "save"
          ? Promise.reject(new Error("disk on fire"))
          : jar.setCookiesFromUrl(lines, url),
    }) as CookieJar;
  };
  for (const which of ["load", "save"] as const) {
    await t.step(which, async () => {
      await using env = managerFor(origin.port, { cookieJar: failing(which) });
      const reply = env.manager.get(at("http://a.test/", { set: ["x=1"] }));
      await reply.finished;
      assert.equal(reply.error, NetworkError.UnknownNetworkError);
      assert.match(reply.errorString, /Cookie jar failed to .*http:\/\/a\.test\/.*disk on fire/);
    });
  }
  await t.step("URLs without cookies never reach the jar", async () => {
    await using manager = new NetworkAccessManager({ cookieJar: failing("load") });
    assert.equal(await manager.get("data:,plain").text(), "plain");
  });
});

Deno.test("cookie layer tests leave no unhandled rejection", () => {
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("cookies layer: a memory jar filled directly, not through a response, is read", async () => {
  const jar = new MemoryCookieJar();
  const sent: (string | null)[] = [];
  await using manager = new NetworkAccessManager({
    cookieJar: jar,
    transport: (exchange) => {
      sent.push(exchange.headers.get("cookie"));
      return Promise.resolve(new Response("ok"));
    },
  });
  await manager.get("https://site.test/").finished;
  assert.equal(await jar.insertCookie({ name: "id", value: "7", domain: "site.test" }), true);
  await manager.get("https://site.test/").finished;
  assert.deepEqual(sent, [null, "id=7"]);
});

Deno.test("cookies layer: a memory jar's header is written from its records as a lookup would", async () => {
  let now = Date.UTC(2030, 0, 1);
  const jar = new MemoryCookieJar({ clock: () => now });
  await using origin = cookieOrigin();
  await using env = managerFor(origin.port, { cookieJar: jar });
  const { manager } = env;
  await manager.get(
    at("http://a.test/app/", { set: ["a=1; Path=/", "b=2; Path=/app", "short=3; Max-Age=60"] }),
  ).text();
  // Longer paths first (short=3 has the default path, /app), then earlier creation.
  assert.equal(await cookieSeenBy(manager, "http://a.test/app/x"), "b=2; short=3; a=1");
  assert.equal(await cookieSeenBy(manager, "http://a.test/"), "a=1");
  // An expired cookie is not sent, and the lookup that met it removes it.
  now += 61_000;
  assert.equal(await cookieSeenBy(manager, "http://a.test/app/x"), "b=2; a=1");
  assert.deepEqual((await jar.allCookies()).map((c) => c.name).sort(), ["a", "b"]);
  // The last-access time of what was sent is recorded, as a lookup records it.
  const sent = (await jar.allCookies()).find((c) => c.name === "a")!;
  assert.equal(sent.lastAccessTime, now);
  // With a Cookie header of the request's own, the jar's cookies are merged into it.
  const reply = manager.get("http://a.test/app/x", { headers: { cookie: "mine=0; a=9" } });
  assert.equal(((await reply.json()) as { cookie: string }).cookie, "mine=0; a=9; b=2");
});

Deno.test("cookies layer asks a MemoryCookieJar subclass that overrides cookiesForUrl", async () => {
  let lookups = 0;
  class FilteringJar extends MemoryCookieJar {
    override async cookiesForUrl(url: string | URL) {
      lookups++;
      return (await super.cookiesForUrl(url)).filter((c) => c.name !== "tracker");
    }
  }
  await using origin = cookieOrigin();
  // One subclass that never stored a cookie, and one that did: both are asked.
  await using empty = managerFor(origin.port, { cookieJar: new FilteringJar() });
  assert.equal(await cookieSeenBy(empty.manager, "http://a.test/"), null);
  assert.equal(lookups, 1);
  const jar = new FilteringJar();
  await jar.setCookiesFromUrl(["kept=1", "tracker=2"], "http://a.test/");
  await using env = managerFor(origin.port, { cookieJar: jar });
  assert.equal(await cookieSeenBy(env.manager, "http://a.test/"), "kept=1");
  assert.equal(lookups, 2);
});

Deno.test("cookie layer stores a 401's Set-Cookie and sends it with the authenticated retry", async (t) => {
  for (const kind of ["MemoryCookieJar", "KvCookieJar"] as const) {
    for (const [via, own] of [["authenticator", false], ["URL userinfo", true]] as const) {
      await t.step(`${kind}, credentials from the ${via}`, async () => {
        const seen: (string | null)[] = [];
        await using server = serve((request) => {
          seen.push(request.headers.get("cookie"));
          if (request.headers.get("authorization") === null) {
            const headers = new Headers({ "www-authenticate": 'Basic realm="r"' });
            headers.append("set-cookie", "sticky=node1");
            headers.append("set-cookie", "mine=jar");
            return new Response("who?", { status: 401, headers });
          }
          return new Response("welcome", { headers: { "set-cookie": "session=s1" } });
        });
        await using cookieJar = kind === "MemoryCookieJar"
          ? Object.assign(new MemoryCookieJar(), { [Symbol.asyncDispose]: async () => {} })
          : await KvCookieJar.open({ path: ":memory:" });
        await using manager = new NetworkAccessManager({
          cookieJar,
          authenticator: () => Promise.resolve({ username: "u", password: "p" }),
        });
        const url = new URL(`${server.url}/private`);
        if (via === "URL userinfo") {
          url.username = "u";
          url.password = "p";
        }
        const reply = manager.get(url, own ? { headers: { cookie: "mine=own" } } : {});
        assert.equal(await reply.text(), "welcome");
        assert.equal(reply.error, NetworkError.NoError, reply.errorString);
        // A request's own `mine` wins over the jar's, as on any hop.
        assert.deepEqual(
          seen,
          own ? ["mine=own", "mine=own; sticky=node1"] : [null, "sticky=node1; mine=jar"],
        );
        const names = (await cookieJar.allCookies()).map((c) => `${c.name}=${c.value}`);
        assert.deepEqual(names, ["sticky=node1", "mine=jar", "session=s1"]);
        await manager.get(`${server.url}/again`).text();
        assert.equal(seen.at(-1), "sticky=node1; mine=jar; session=s1");
      });
    }
  }
});

Deno.test("cookie layer stores the Set-Cookie of a background revalidation", async (t) => {
  for (const answer of [200, 304] as const) {
    await t.step(`a ${answer}`, async () => {
      let now = Date.UTC(2026, 0, 1);
      const clock = () => now;
      const seen: (string | null)[] = [];
      await using server = serve((request) => {
        seen.push(request.headers.get("cookie"));
        const headers = new Headers({
          "cache-control": "max-age=10, stale-while-revalidate=600",
          etag: '"v1"',
          "set-cookie": `n${seen.length}=${answer}`,
        });
        const conditional = request.headers.get("if-none-match") !== null;
        if (conditional && answer === 304) return new Response(null, { status: 304, headers });
        return new Response("v1", { headers });
      });
      await using manager = new NetworkAccessManager({ cache: new MemoryCache({ clock }), clock });
      const jar = manager.cookieJar!;
      assert.equal(await manager.get(`${server.url}/r`).text(), "v1");
      now += 20_000;
      const stale = manager.get(`${server.url}/r`);
      assert.equal(await stale.text(), "v1");
      assert.equal(stale.fromCache, true);
      let names: string[] = [];
      for (let i = 0; i < 400 && names.length < 2; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        names = (await jar.allCookies()).map((c) => `${c.name}=${c.value}`);
      }
      assert.deepEqual(seen, [null, "n1=" + answer], "the revalidation carries the jar's cookies");
      assert.deepEqual(names, [`n1=${answer}`, `n2=${answer}`]);
    });
  }
});

Deno.test("a reply whose cookies the jar cannot store keeps the response's status and headers", async () => {
  const jar = new MemoryCookieJar();
  jar.setCookiesFromUrl = () => Promise.reject(new Error("disk full"));
  await using manager = new NetworkAccessManager({
    cookieJar: jar,
    transport: () =>
      Promise.resolve(
        new Response("welcome", {
          status: 201,
          statusText: "Created",
          headers: { "set-cookie": "sid=1", "x-session": "new" },
        }),
      ),
  });
  const reply = manager.get("https://shop.test/login");
  await reply.finished;
  assert.match(reply.errorString, /disk full/);
  assert.deepEqual([reply.status, reply.statusText, reply.headers.get("x-session")], [
    201,
    "Created",
    "new",
  ]);
});
