import { strict as assert } from "node:assert";
import { runWriter, tempDb } from "../_helpers/cookie_db.ts";
import { KvCookieJar } from "../../src/cookies/kv_cookie_jar.ts";
import { KvHstsStore } from "../../src/hsts/kv_hsts_store.ts";
import { cookieHeader } from "../../src/cookies/network_cookie.ts";
import { _KvCookieStore } from "../../src/cookies/_kv_cookie_store.ts";
import { countedKv } from "../_helpers/kv_spy.ts";
import { assertSecureKept, SHADOW_CASES, type ShadowCase } from "../_helpers/secure_shadow.ts";
import { encodeRecord } from "../../src/_kv_record.ts";
import { NetworkAccessManager, NetworkError } from "../../mod.ts";

const START = Date.UTC(2026, 0, 1);

Deno.test("KvCookieJar keeps cookies across processes", async () => {
  await using db = await tempDb();
  assert.equal(await runWriter(db.path, "p", 10), 10);
  await using jar = await KvCookieJar.open({ path: db.path });
  const header = cookieHeader(await jar.cookiesForUrl("https://www.site1.com/"));
  assert.equal(header, "p-1=1; p-6=6");
  assert.equal((await jar.allCookies()).length, 10);
});

Deno.test("KvCookieJar loses no cookie when two processes write one file at once", async () => {
  await using db = await tempDb();
  const [a, b] = await Promise.all([runWriter(db.path, "a", 150), runWriter(db.path, "b", 150)]);
  assert.equal(a + b, 300);
  await using jar = await KvCookieJar.open({ path: db.path });
  const names = new Set((await jar.allCookies()).map((c) => c.name));
  assert.equal(names.size, 300);
  for (let i = 0; i < 150; i++) assert.ok(names.has(`a-${i}`) && names.has(`b-${i}`), `${i}`);
  const kv = await Deno.openKv(db.path);
  try {
    const total = await kv.get<Deno.KvU64>(["netaccess", "cookies", "count"]);
    assert.equal(total.value?.value, 300n);
    for (let s = 0; s < 5; s++) {
      const site = await kv.get<Deno.KvU64>(["netaccess", "cookies", "n", `site${s}.com`]);
      assert.equal(site.value?.value, 60n);
    }
  } finally {
    kv.close();
  }
});

Deno.test("KvCookieJar stores every Set-Cookie of a burst of responses for one host", async (t) => {
  // A sticky-session cookie refreshed by each of 300 concurrent responses: which of them comes
  // last is not defined (each write first reads the domain's cookies, and reads may complete in
  // any order), but every one is stored and one of them is kept.
  const burst = async (jars: KvCookieJar[]) => {
    const url = "https://api.example.com/orders";
    const results = await Promise.allSettled(
      Array.from(
        { length: 300 },
        (_, i) =>
          jars[i % jars.length]!.setCookiesFromUrl([`lb=v${i}; Path=/`, `n${i % 100}=${i}`], url),
      ),
    );
    const failed = results.filter((r) => r.status === "rejected");
    assert.deepEqual(failed.slice(0, 1), []);
    assert.ok(results.every((r) => r.status === "fulfilled" && r.value === 2));
    for (const jar of jars) {
      const cookies = await jar.cookiesForUrl(url);
      assert.equal(cookies.length, 101);
    }
  };
  await t.step("one jar: one of the responses' values", async () => {
    await using jar = await KvCookieJar.open({ path: ":memory:" });
    await burst([jar]);
    const lb = (await jar.cookiesForUrl("https://api.example.com/")).filter((c) => c.name === "lb");
    assert.equal(lb.length, 1);
    assert.match(lb[0]!.value, /^v([12]?\d?\d)$/);
  });
  await t.step("two jars on one file", async () => {
    await using db = await tempDb();
    await using a = await KvCookieJar.open({ path: db.path });
    await using b = await KvCookieJar.open({ path: db.path });
    await burst([a, b]);
  });
});

Deno.test("KvCookieJar: a cookie one jar deletes with Max-Age=0 or a past Expires is gone from another jar on the file", async () => {
  await using db = await tempDb();
  await using a = await KvCookieJar.open({ path: db.path });
  await using b = await KvCookieJar.open({ path: db.path });
  const url = "https://www.example.com/app";
  const sent = async (jar: KvCookieJar) => cookieHeader(await jar.cookiesForUrl(url));
  await a.setCookiesFromUrl(["sid=1; Path=/", "dom=1; Domain=example.com; Path=/"], url);
  assert.equal(await sent(b), "sid=1; dom=1");
  assert.equal(await b.setCookiesFromUrl(["sid=; Path=/; Max-Age=0"], url), 0);
  assert.equal(await sent(a), "dom=1");
  const past = "Expires=Thu, 01 Jan 1970 00:00:01 GMT";
  assert.equal(await a.setCookiesFromUrl([`dom=; Domain=example.com; Path=/; ${past}`], url), 0);
  assert.equal(await sent(b), null);
  assert.deepEqual(await b.allCookies(), []);
});

Deno.test("KvCookieJar skips and removes a corrupt bundle, reading only the request's domains", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await using jar = await KvCookieJar.open({ kv, clock: () => START });
    await jar.setCookiesFromUrl(["good=1"], "https://a.example.com/");
    const corruptA = ["netaccess", "cookies", "d", "example.com", "example.com"];
    const corruptB = ["netaccess", "cookies", "d", "other.org", "other.org"];
    await kv.set(corruptA, { name: 42 });
    await kv.set(corruptB, new Uint8Array([2, 123]));
    assert.equal(cookieHeader(await jar.cookiesForUrl("https://a.example.com/")), "good=1");
    assert.equal((await kv.get(corruptA)).versionstamp, null);
    // Another site's bundle was not read, so it is still there...
    assert.notEqual((await kv.get(corruptB)).versionstamp, null);
    assert.deepEqual(await jar.cookiesForUrl("https://other.org/"), []);
    assert.equal((await kv.get(corruptB)).versionstamp, null);
    // ...and a corrupt value where a bundle is about to be written does no harm.
    await kv.set(["netaccess", "cookies", "d", "example.com", "a.example.com"], 7);
    assert.equal(await jar.setCookiesFromUrl(["x=2"], "https://a.example.com/"), 1);
    assert.deepEqual((await jar.allCookies()).map((c) => c.name), ["x"]);
  } finally {
    kv.close();
  }
});

Deno.test("KvCookieJar recounts when a count is corrupt and still bounds the jar", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await using jar = await KvCookieJar.open({ kv, clock: () => START, maxCookies: 5 });
    await kv.set(["netaccess", "cookies", "count"], "garbage");
    for (let i = 0; i < 8; i++) {
      await jar.setCookiesFromUrl([`c${i}=1`], `https://s${i}.example/`);
    }
    assert.ok((await jar.allCookies()).length <= 5);
    const total = await kv.get<Deno.KvU64>(["netaccess", "cookies", "count"]);
    assert.equal(total.value?.value, BigInt((await jar.allCookies()).length));
  } finally {
    kv.close();
  }
});

Deno.test("KvCookieJar: a recount loses no cookie another jar stores while it counts", async () => {
  await using kv = await Deno.openKv(":memory:");
  const P = ["netaccess", "cookies"];
  let during: (() => Promise<void>) | null = null;
  // This jar's database: once armed, another jar writes after the jar listed the bundles.
  const seen = new Proxy(kv, {
    get(target, name) {
      const value = Reflect.get(target, name, target);
      if (name !== "list") return typeof value === "function" ? value.bind(target) : value;
      return (selector: Deno.KvListSelector, options?: Deno.KvListOptions) => {
        const items = target.list(selector, options);
        const prefix = "prefix" in selector ? selector.prefix : [];
        if (during === null || prefix.length !== 3 || prefix[2] !== "d") return items;
        const run = during;
        during = null;
        return (async function* () {
          yield* items;
          await run();
        })();
      };
    },
  });
  await using jar = await KvCookieJar.open({ kv: seen, clock: () => START });
  await using other = await KvCookieJar.open({ kv, clock: () => START });
  await other.setCookiesFromUrl(["x=1"], "https://one.example/");
  await kv.set([...P, "count"], "garbage"); // this jar's next write recounts
  during = async () => {
    assert.equal(await other.setCookiesFromUrl(["z=1"], "https://two.example/"), 1);
  };
  assert.equal(await jar.setCookiesFromUrl(["y=1"], "https://three.example/"), 1);
  assert.equal(during, null, "the other jar wrote during the recount");
  assert.equal((await jar.allCookies()).length, 3);
  const count = async (key: Deno.KvKey) => (await kv.get<Deno.KvU64>(key)).value?.value;
  assert.equal(await count([...P, "count"]), 3n);
  for (const site of ["one.example", "two.example", "three.example"]) {
    assert.equal(await count([...P, "n", site]), 1n, site);
  }
});

/**
 * `kv` as a jar sees it: once armed with `run`, it runs `run` (another jar's write) right after
 * the jar's next read of a kind in `reads`.
 */
function interleaved(kv: Deno.Kv, reads: readonly string[] = ["getMany", "list"]) {
  let during: (() => Promise<void>) | null = null;
  const seen = new Proxy(kv, {
    get(target, name) {
      const value = Reflect.get(target, name, target);
      if (typeof value !== "function") return value;
      if (typeof name !== "string" || !reads.includes(name)) return value.bind(target);
      const after = async () => {
        const run = during;
        during = null;
        await run?.();
      };
      if (name === "getMany" || name === "get") {
        return async (...args: unknown[]) => {
          const items = await value.apply(target, args);
          await after();
          return items;
        };
      }
      return (...args: unknown[]) =>
        (async function* () {
          yield* value.apply(target, args);
          await after();
        })();
    },
  });
  return {
    seen,
    arm: (run: () => Promise<void>) => void (during = run),
    armed: () => during !== null,
  };
}

Deno.test("KvCookieJar: removing an expired cookie a lookup met keeps the fresh one another jar stored meanwhile", async (t) => {
  const url = "https://app.example/";
  for (const lookup of ["cookiesForUrl", "allCookies"] as const) {
    await t.step(lookup, async () => {
      await using kv = await Deno.openKv(":memory:");
      const { seen, arm, armed } = interleaved(kv);
      let now = START;
      await using jar = await KvCookieJar.open({ kv: seen, clock: () => now });
      await using other = await KvCookieJar.open({ kv, clock: () => now });
      await other.setCookiesFromUrl(["session=old; Max-Age=60"], url);
      now += 120_000; // the old session expired
      arm(async () => {
        assert.equal(await other.setCookiesFromUrl(["session=new; Max-Age=3600"], url), 1);
      });
      const found = lookup === "cookiesForUrl"
        ? await jar.cookiesForUrl(url)
        : await jar.allCookies();
      assert.ok(!armed(), "the other jar stored its cookie during the lookup");
      assert.deepEqual(found, [], "the lookup read before the new cookie was stored");
      assert.equal(cookieHeader(await other.cookiesForUrl(url)), "session=new");
    });
  }
});

Deno.test("KvCookieJar: eviction keeps a cookie another jar renewed after the eviction listed it", async () => {
  const url = "https://app.example/";
  await using kv = await Deno.openKv(":memory:");
  // Armed at the next listing: the eviction's (a jar reads a domain's bundle with getMany).
  const { seen, arm, armed } = interleaved(kv, ["list"]);
  let now = START;
  await using jar = await KvCookieJar.open({ kv: seen, clock: () => now, maxCookiesPerDomain: 3 });
  await using other = await KvCookieJar.open({ kv, clock: () => now, maxCookiesPerDomain: 3 });
  for (const name of ["session", "b", "c"]) {
    now += 1000;
    await other.setCookiesFromUrl([`${name}=1; Max-Age=3600`], url);
  }
  now += 1000;
  // The fourth cookie is over the limit: the eviction lists the site and picks the least
  // recently used (session); the other jar renews session right after that listing.
  let listed = false;
  arm(async () => {
    listed = true;
    await other.setCookiesFromUrl(["session=renewed; Max-Age=3600"], url);
  });
  await jar.setCookiesFromUrl(["d=1; Max-Age=3600"], url);
  assert.ok(listed && !armed());
  const names = (await other.cookiesForUrl(url)).map((c) => `${c.name}=${c.value}`).sort();
  assert.ok(names.includes("session=renewed"), `the renewed cookie stays: ${names.join("; ")}`);
  assert.ok(names.includes("d=1"), `the new cookie stays: ${names.join("; ")}`);
});

Deno.test("KvCookieJar: updateCookie and deleteCookie act on the cookie as it is when they write", async (t) => {
  const key = ["netaccess", "cookies", "d", "example.com", "example.com"];
  const cookie = { name: "a", value: "1", domain: "example.com", path: "/" };
  /** Two jars over one database; `jar` reads through `seen`, which runs `arm`ed writes. */
  async function jars(
    body: (
      jar: KvCookieJar,
      other: KvCookieJar,
      kv: Deno.Kv,
      arm: (run: () => Promise<void>) => void,
    ) => Promise<void>,
  ): Promise<void> {
    await using kv = await Deno.openKv(":memory:");
    // Armed at the next read of one key: the jar's read of the cookie's bundle.
    const { seen, arm, armed } = interleaved(kv, ["get"]);
    await using jar = await KvCookieJar.open({ kv: seen, clock: () => START });
    await using other = await KvCookieJar.open({ kv, clock: () => START });
    assert.equal(await other.insertCookie(cookie), true);
    await body(jar, other, kv, arm);
    assert.ok(!armed(), "the other write ran between the jar's read and its write");
  }
  await t.step(
    "an update does not bring back a cookie another jar deleted meanwhile",
    () =>
      jars(async (jar, other, _kv, arm) => {
        arm(async () => assert.equal(await other.deleteCookie(cookie), true));
        assert.equal(await jar.updateCookie({ ...cookie, value: "2" }), false, "nothing updated");
        assert.deepEqual(await other.allCookies(), [], "the deleted cookie stays deleted");
      }),
  );
  await t.step(
    "an update leaves a bundle another version rewrote in a newer format",
    () =>
      jars(async (jar, _other, kv, arm) => {
        const newer = encodeRecord({ tag: "t", parts: 1, cookies: [] });
        newer[0] = 3;
        let stamp: string | null = null;
        arm(async () => void (stamp = (await kv.set(key, newer)).versionstamp));
        assert.equal(await jar.updateCookie({ ...cookie, value: "2" }), false, "nothing updated");
        const after = await kv.get(key);
        assert.equal(after.versionstamp, stamp, "the newer bundle is as its version wrote it");
        assert.deepEqual(after.value, newer);
      }),
  );
  await t.step(
    "a deletion another jar made first is not reported as this jar's",
    () =>
      jars(async (jar, other, _kv, arm) => {
        arm(async () => assert.equal(await other.deleteCookie(cookie), true));
        assert.equal(await jar.deleteCookie(cookie), false, "the other jar removed it");
      }),
  );
  await t.step(
    "an insert keeps the creation time of the cookie it replaces as written",
    () =>
      jars(async (jar, other, _kv, arm) => {
        arm(async () => {
          assert.equal(await other.deleteCookie(cookie), true);
          assert.equal(await other.insertCookie({ ...cookie, creationTime: START + 5 }), true);
        });
        assert.equal(await jar.insertCookie({ ...cookie, value: "2" }), true);
        const [stored] = await other.allCookies();
        assert.equal(stored?.value, "2");
        assert.equal(stored?.creationTime, START + 5, "the creation time of the cookie replaced");
      }),
  );
});

Deno.test("KvCookieJar: a Set-Cookie takes its creation time from the cookie it replaces as its write finds it", async (t) => {
  const url = "https://example.com/";
  /** `jar` sets `a=2` at START + 60 s; `between` runs in another jar after its read of `a`. */
  async function setAcross(
    before: string[],
    between: (other: KvCookieJar) => Promise<void>,
  ): Promise<number | undefined> {
    await using kv = await Deno.openKv(":memory:");
    // Armed at the next read of one key: the jar's read of the cookie's bundle.
    const { seen, arm, armed } = interleaved(kv, ["get"]);
    let now = START;
    await using jar = await KvCookieJar.open({ kv: seen, clock: () => now });
    await using other = await KvCookieJar.open({ kv, clock: () => now });
    await other.setCookiesFromUrl(before, url);
    now += 60_000;
    arm(() => between(other));
    assert.equal(await jar.setCookiesFromUrl(["a=2; Max-Age=3600"], url), 1);
    assert.ok(!armed(), "the other jar wrote between the jar's read and its write");
    const named = (await other.allCookies()).filter((c) => c.name === "a");
    assert.deepEqual(named.map((c) => c.value), ["2"]);
    return named[0]?.creationTime;
  }
  await t.step("deleted meanwhile: the cookie set is a new one, created when set", async () => {
    const created = await setAcross(
      ["a=1; Max-Age=3600"],
      async (other) => void await other.setCookiesFromUrl(["a=; Max-Age=0"], url),
    );
    assert.equal(created, START + 60_000);
  });
  await t.step(
    "set meanwhile: the cookie set replaces that one, and keeps its creation",
    async () => {
      const created = await setAcross(["b=1; Max-Age=3600"], async (other) => {
        await other.insertCookie({
          name: "a",
          value: "1",
          domain: "example.com",
          path: "/",
          hostOnly: true,
          creationTime: START + 5,
        });
      });
      assert.equal(created, START + 5);
    },
  );
});

Deno.test("KvCookieJar: an insecure origin's cookie is not stored over a Secure cookie another jar stores while it writes", async (t) => {
  const cases: (ShadowCase & { before?: [string, string] })[] = [...SHADOW_CASES, {
    ...SHADOW_CASES[2]!,
    name: "of a parent domain, replacing a cookie that was not Secure",
    before: ["id=plain; Domain=example.com", "http://www.example.com/"],
  }];
  for (const { name, before, secure, insecure } of cases) {
    await t.step(name, async () => {
      await using kv = await Deno.openKv(":memory:");
      // Armed at the jar's next listing: it reads the site's cookies before it writes.
      const { seen, arm, armed } = interleaved(kv, ["list"]);
      await using jar = await KvCookieJar.open({ kv: seen, clock: () => START });
      await using other = await KvCookieJar.open({ kv, clock: () => START });
      if (before !== undefined) await other.setCookiesFromUrl([before[0]], before[1]);
      arm(async () => void await other.setCookiesFromUrl([secure[0]], secure[1]));
      assert.equal(await jar.setCookiesFromUrl([insecure[0]], insecure[1]), 0);
      assert.ok(!armed(), "the other jar wrote between the jar's listing and its write");
      await assertSecureKept(other);
    });
  }
});

Deno.test("KvCookieJar shares an application's Deno.Kv without closing it, under its prefix", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const one = await KvCookieJar.open({ kv, prefix: ["jar", 1] });
    const two = await KvCookieJar.open({ kv, prefix: ["jar", 2] });
    await one.setCookiesFromUrl(["a=1"], "https://example.com/");
    await two.setCookiesFromUrl(["b=2"], "https://example.com/");
    assert.equal(cookieHeader(await one.cookiesForUrl("https://example.com/")), "a=1");
    await two.clear();
    assert.equal((await one.allCookies()).length, 1);
    await one.close();
    await one.close();
    await two[Symbol.asyncDispose]();
    await assert.rejects(() => one.cookiesForUrl("https://example.com/"), {
      name: "TypeError",
      message: "Cannot get cookies: the cookie jar is closed",
    });
    assert.equal((await kv.list({ prefix: ["jar", 1] }).next()).done, false); // kv still open
  } finally {
    kv.close();
  }
});

Deno.test("KvCookieJar opened by path closes its database, safely twice", async () => {
  await using db = await tempDb();
  const jar = await KvCookieJar.open({ path: db.path });
  await jar.setCookiesFromUrl(["a=1"], "https://example.com/");
  await jar.close();
  await jar.close();
  // The sanitizers would report a leaked database; reopening proves the file is intact.
  await using again = await KvCookieJar.open({ path: db.path });
  assert.equal((await again.allCookies()).length, 1);
});

Deno.test("KvCookieJar partitions are closed with their jar, with the closed-jar TypeError", async (t) => {
  const closed = { name: "TypeError", message: /the cookie jar is closed/ };
  const check = async (partition: KvCookieJar) => {
    await assert.rejects(() => partition.allCookies(), closed);
    await assert.rejects(() => partition.cookiesForUrl("https://example.com/"), closed);
    await assert.rejects(
      () => partition.setCookiesFromUrl(["b=2"], "https://example.com/"),
      closed,
    );
    assert.throws(() => partition.partition("nested"), closed);
  };
  await t.step("a jar opened by path (its database closed)", async () => {
    await using db = await tempDb();
    const jar = await KvCookieJar.open({ path: db.path });
    const partition = jar.partition("user:1");
    await partition.setCookiesFromUrl(["a=1"], "https://example.com/");
    const nested = partition.partition("user:1:tab");
    await jar.close();
    await check(partition);
    await check(nested);
  });
  await t.step("a jar on a shared Deno.Kv (the database stays open)", async () => {
    await using db = await tempDb();
    using kv = await Deno.openKv(db.path);
    const jar = await KvCookieJar.open({ kv });
    const partition = jar.partition("user:1");
    await partition.setCookiesFromUrl(["a=1"], "https://example.com/");
    await jar.close();
    await check(partition);
    // The cookies are still in the database, for a jar opened on it again.
    await using again = await KvCookieJar.open({ kv });
    assert.equal((await again.partition("user:1").allCookies()).length, 1);
  });
});

Deno.test("KvCookieJar.open validates its options", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await assert.rejects(() => KvCookieJar.open({ kv, path: ":memory:" }), {
      name: "TypeError",
      message: "Cannot open cookie jar: give either 'kv' or 'path', not both",
    });
    await assert.rejects(() => KvCookieJar.open({ kv, maxCookiesPerDomain: -1 }), {
      name: "RangeError",
      message: "Cannot open cookie jar: 'maxCookiesPerDomain' must be a positive integer, got -1",
    });
    await assert.rejects(
      () => KvCookieJar.open({ kv, prefix: "x" as unknown as Deno.KvKey }),
      TypeError,
    );
  } finally {
    kv.close();
  }
});

Deno.test("KvCookieJar rewrites a last-access time only when it is over a minute old", async () => {
  let now = START;
  await using jar = await KvCookieJar.open({ path: ":memory:", clock: () => now });
  await jar.setCookiesFromUrl(["a=1"], "https://example.com/");
  now += 30_000;
  assert.equal((await jar.cookiesForUrl("https://example.com/"))[0]!.lastAccessTime, START);
  now += 40_000;
  assert.equal((await jar.cookiesForUrl("https://example.com/"))[0]!.lastAccessTime, now);
  assert.equal((await jar.allCookies())[0]!.lastAccessTime, now);
});

Deno.test("KvCookieJar stores names and paths too long for a key part", async () => {
  await using jar = await KvCookieJar.open({ path: ":memory:" });
  const name = "n".repeat(3000);
  const path = `/${"p".repeat(1000)}`;
  assert.equal(await jar.setCookiesFromUrl([`${name}=v; Path=${path}`], "https://example.com/"), 1);
  assert.equal(await jar.setCookiesFromUrl([`${name}=w; Path=${path}`], "https://example.com/"), 1);
  const sent = await jar.cookiesForUrl(`https://example.com${path}/x`);
  assert.deepEqual(sent.map((c) => [c.name.length, c.value]), [[3000, "w"]]);
  assert.equal(await jar.deleteCookie({ name, domain: "example.com", path }), true);
  assert.deepEqual(await jar.allCookies(), []);
});

Deno.test("KvCookieJar decodes a bundle once per version and sees another process's cookie on the next lookup", async () => {
  await using db = await tempDb();
  assert.equal(await runWriter(db.path, "p", 10), 10);
  const kv = await Deno.openKv(db.path);
  try {
    const store = new _KvCookieStore(kv, ["netaccess", "cookies"], {
      clock: () => Date.now(),
      maxCookiesPerDomain: 180,
      maxCookies: 3000,
    });
    const first = await store.find("www.site1.com");
    assert.deepEqual(first.flat().map((c) => c.name).sort(), ["p-1", "p-6"]);
    // The same version: the decoded cookies, not a new decode.
    const sameArrays = (a: readonly unknown[], b: readonly unknown[]) =>
      a.length === b.length && a.every((item, i) => item === b[i]);
    assert.ok(sameArrays(await store.find("www.site1.com"), first));
    assert.equal(await runWriter(db.path, "q", 2), 2);
    const next = await store.find("www.site1.com");
    assert.deepEqual(next.flat().map((c) => c.name).sort(), ["p-1", "p-6", "q-1"]);
    assert.ok(sameArrays(await store.find("www.site1.com"), next));
  } finally {
    kv.close();
  }
});

Deno.test("KvCookieJar lookup makes one KV read and no write, for a host with cookies or without", async () => {
  const database = await Deno.openKv(":memory:");
  try {
    const { kv, ops } = countedKv(database);
    await using jar = await KvCookieJar.open({ kv, clock: () => START });
    await jar.setCookiesFromUrl(["a=1; Domain=example.com", "b=2"], "https://www.example.com/");
    const urls = [
      "https://www.example.com/",
      "https://www.example.com/again",
      "https://example.com/",
      "https://other.org/",
      "https://a.b.other.org/",
    ];
    const headers = [];
    for (const url of urls) {
      ops.reads = 0;
      ops.writes = 0;
      headers.push(cookieHeader(await jar.cookiesForUrl(url)));
      assert.deepEqual(ops, { reads: 1, writes: 0 }, url);
    }
    assert.deepEqual(headers, ["a=1; b=2", "a=1; b=2", "a=1", null, null]);
  } finally {
    database.close();
  }
});

Deno.test("KvCookieJar holds no cookies for a host too long for a KV key, and does not fail", async (t) => {
  // 2 KiB keys hold the site and the domain: a 1100-character name is past that, a DNS name
  // (253 at most) never is.
  const long = `${"a".repeat(1100)}.com`;
  const longUrl = `https://${long}/`;
  await t.step("the jar's operations", async () => {
    await using jar = await KvCookieJar.open({ path: ":memory:", clock: () => START });
    assert.deepEqual(await jar.cookiesForUrl(longUrl), []);
    assert.deepEqual(await jar.cookiesForUrl(`https://www.${long}/`), []);
    assert.equal(await jar.setCookiesFromUrl(["a=1"], longUrl), 0);
    assert.equal(await jar.setCookiesFromUrl([`b=2; Domain=${long}`], `https://x.${long}/`), 0);
    assert.equal(await jar.insertCookie({ name: "c", value: "3", domain: long, path: "/" }), false);
    assert.equal(await jar.updateCookie({ name: "a", value: "4", domain: long, path: "/" }), false);
    assert.equal(await jar.deleteCookie({ name: "a", domain: long, path: "/" }), false);
    assert.deepEqual(await jar.allCookies(), []);
    // Other hosts keep working.
    assert.equal(await jar.setCookiesFromUrl(["ok=1"], "https://example.com/"), 1);
    assert.equal(cookieHeader(await jar.cookiesForUrl("https://example.com/")), "ok=1");
  });
  await t.step("a 253-character DNS name in a partition under a long prefix", async () => {
    const label = "b".repeat(63);
    const dns = `${label}.${label}.${label}.${"c".repeat(57)}.com`;
    assert.equal(dns.length, 253);
    await using jar = await KvCookieJar.open({ path: ":memory:", prefix: ["p".repeat(500)] });
    const part = jar.partition("q".repeat(500));
    assert.equal(await part.setCookiesFromUrl(["a=1"], `https://${dns}/`), 1);
    assert.equal(cookieHeader(await part.cookiesForUrl(`https://${dns}/`)), "a=1");
    // Under that prefix and partition, a 600-character name no longer fits: no cookies.
    const mid = `${"m".repeat(600)}.com`;
    assert.equal(await part.setCookiesFromUrl(["a=1"], `https://${mid}/`), 0);
    assert.deepEqual(await part.cookiesForUrl(`https://${mid}/`), []);
  });
  await t.step("a request to such a host does not fail because of the jar", async () => {
    await using jar = await KvCookieJar.open({ path: ":memory:" });
    await using manager = new NetworkAccessManager({
      cookieJar: jar,
      transport: () => Promise.resolve(new Response("ok", { headers: { "set-cookie": "s=1" } })),
    });
    const reply = manager.get(longUrl);
    assert.equal(await reply.text(), "ok");
    assert.equal(reply.error, NetworkError.NoError, reply.errorString);
    assert.deepEqual(await jar.allCookies(), []);
  });
});

Deno.test("KvCookieJar stores no cookie too large for a KV value, and the reply does not fail", async () => {
  // A cookie without Path takes its response's path, which only the URL limits (64 KiB): with
  // its value, past a 64 KiB KV value.
  const dir = "/" + "p".repeat(62_400);
  await using jar = await KvCookieJar.open({ path: ":memory:", clock: () => START });
  await using manager = new NetworkAccessManager({
    cookieJar: jar,
    transport: (request) => {
      const value = new URL(request.url).searchParams.get("v")!;
      return Promise.resolve(new Response("ok", { headers: { "set-cookie": `big=${value}` } }));
    },
  });
  const url = `https://example.com${dir}/x?v=${"v".repeat(3000)}`;
  assert.ok(url.length < 65_533, "a URL the HTTP client sends");
  const reply = manager.get(url);
  assert.equal(await reply.text(), "ok");
  assert.equal(reply.error, NetworkError.NoError, reply.errorString.slice(0, 200));
  assert.deepEqual(await jar.allCookies(), []);
  // A shorter value fits.
  assert.equal(await jar.setCookiesFromUrl(["big=1"], `https://example.com${dir}/x`), 1);
  assert.equal(cookieHeader(await jar.cookiesForUrl(`https://example.com${dir}/`)), "big=1");
  assert.equal(
    await jar.insertCookie({ name: "n", value: "v".repeat(4000), domain: "a.test", path: dir }),
    false,
  );
  // Around the limit a cookie is stored or not; nothing throws.
  let stored = 0;
  for (let extra = 0; extra <= 5000; extra += 250) {
    const path = `/${"q".repeat(61_000 + extra)}/x`;
    stored += await jar.setCookiesFromUrl(
      [`n${extra}=${"w".repeat(100)}`],
      `https://b${extra}.test${path}`,
    );
  }
  assert.ok(stored > 0 && stored < 21, `stored ${stored}`);
  assert.equal((await jar.allCookies()).length, stored + 1);
});

Deno.test("KvCookieJar.open refuses a prefix nesting with another store's on the same Deno.Kv, and shares one prefix as before", async (t) => {
  const nested = "so clearing one store would remove the other's entries; give each store a " +
    "prefix that does not start with another's";
  await using kv = await Deno.openKv(":memory:");
  await using jar = await KvCookieJar.open({ kv, prefix: ["app"] });
  await t.step("jars under one prefix, and its partitions, share the cookies", async () => {
    await using same = await KvCookieJar.open({ kv, prefix: ["app"] });
    await using user = await KvCookieJar.open({ kv, prefix: ["app"], partition: "user:1" });
    await jar.setCookiesFromUrl(["a=1"], "https://example.com/");
    assert.equal(cookieHeader(await same.cookiesForUrl("https://example.com/")), "a=1");
    await user.setCookiesFromUrl(["b=2"], "https://example.com/");
    assert.equal(
      cookieHeader(await jar.partition("user:1").cookiesForUrl("https://example.com/")),
      "b=2",
    );
  });
  await t.step("a jar under a prefix starting with an open jar's", async () => {
    await assert.rejects(KvCookieJar.open({ kv, prefix: ["app", "inner"] }), {
      name: "RangeError",
      message: `Cannot open cookie jar: its prefix [ "app", "inner" ] starts with the prefix ` +
        `[ "app" ] of a cookie jar open on the same Deno.Kv, ${nested}`,
    });
  });
  await t.step("a jar whose prefix is the start of an open HSTS store's", async () => {
    await using _hsts = await KvHstsStore.open({ kv, prefix: ["other", "hsts"] });
    await assert.rejects(KvCookieJar.open({ kv, prefix: ["other"] }), {
      name: "RangeError",
      message: `Cannot open cookie jar: the prefix [ "other", "hsts" ] of an HSTS store open on ` +
        `the same Deno.Kv starts with its prefix [ "other" ], ${nested}`,
    });
  });
  await t.step("a closed store no longer counts", async () => {
    await using _outer = await KvCookieJar.open({ kv, prefix: ["other"] });
  });
  assert.equal((await jar.allCookies()).length, 1, "the refused jars removed nothing");
});

Deno.test("KvCookieJar: a partition of a partition lies within it, apart from every other", async () => {
  await using kv = await Deno.openKv(":memory:");
  await using tenantA = await KvCookieJar.open({ kv, partition: "tenant:A" });
  await using root = await KvCookieJar.open({ kv });
  const tenantB = root.partition("tenant:B");
  const url = "https://api.example.com/";
  const aUser = tenantA.partition("user:1");
  const bUser = tenantB.partition("user:1");
  const rootUser = root.partition("user:1");
  assert.deepEqual(aUser.partitionKey, ["tenant:A", "user:1"]);
  assert.ok(Object.isFrozen(aUser.partitionKey));
  assert.deepEqual(bUser.partitionKey, ["tenant:B", "user:1"]);
  assert.equal(rootUser.partitionKey, "user:1");
  assert.equal(tenantA.partitionKey, "tenant:A");
  await aUser.setCookiesFromUrl(["session=A; Max-Age=3600"], url);
  await bUser.setCookiesFromUrl(["session=B; Max-Age=3600"], url);
  await rootUser.setCookiesFromUrl(["session=root; Max-Age=3600"], url);
  await tenantA.setCookiesFromUrl(["tenant=A; Max-Age=3600"], url);
  const header = async (jar: KvCookieJar) => cookieHeader(await jar.cookiesForUrl(url));
  assert.equal(await header(aUser), "session=A");
  assert.equal(await header(tenantA.partition("user:1")), "session=A", "the same partition");
  assert.equal(await header(bUser), "session=B");
  assert.equal(await header(rootUser), "session=root");
  assert.equal(await header(tenantA), "tenant=A", "a partition's cookies are not its parent's");
  assert.equal(await header(tenantB), null);
  // A partition's clear() removes its own partitions' cookies, and no other's.
  await tenantA.clear();
  assert.equal(await header(aUser), null);
  assert.equal(await header(bUser), "session=B");
  assert.equal(await header(rootUser), "session=root");
  // The unpartitioned jar's clear() removes every partition, nested ones too.
  await root.clear();
  assert.equal(await header(bUser), null);
  assert.equal(await header(rootUser), null);
  // The keys of a nested partition are at most 512 bytes together.
  assert.throws(() => tenantA.partition("u".repeat(505)), {
    name: "RangeError",
    message: "Cannot partition cookie jar: 'partition' must be at most 512 bytes with the keys " +
      "of the jar's own partition, got 513 (hash a longer key)",
  });
  assert.equal(tenantA.partition("u".repeat(504)).partitionKey?.length, 2);
  // Closing the jar closes its partitions and theirs.
  await root.close();
  await assert.rejects(() => bUser.allCookies(), {
    name: "TypeError",
    message: "Cannot list cookies: the cookie jar is closed",
  });
});
