import { strict as assert } from "node:assert";
import type { Clock } from "../../src/clock.ts";
import type {
  CookieJar,
  CookieJarOptions,
  NetworkCookieInit,
} from "../../src/cookies/cookie_jar.ts";
import { MemoryCookieJar } from "../../src/cookies/memory_cookie_jar.ts";
import { _MemoryCookieStore } from "../../src/cookies/_memory_cookie_store.ts";
import { assertSecureKept, SHADOW_CASES } from "../_helpers/secure_shadow.ts";
import { KvCookieJar } from "../../src/cookies/kv_cookie_jar.ts";
import { cookieHeader } from "../../src/cookies/network_cookie.ts";
import { fakeClock } from "../_helpers/fake_clock.ts";
import { CookieJar as ToughCookieJar } from "tough-cookie";

const START = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;

/** A clock the test moves by hand. */
const manualClock = () => fakeClock(START);

type ManualClock = ReturnType<typeof manualClock>;

/** Runs `body` as one step per jar kind, with a fresh jar and a fresh clock at START each. */
async function eachJar(
  t: Deno.TestContext,
  options: Omit<CookieJarOptions, "clock">,
  body: (jar: CookieJar, time: ManualClock) => Promise<void>,
): Promise<void> {
  await t.step("MemoryCookieJar", async () => {
    const time = manualClock();
    await body(new MemoryCookieJar({ ...options, clock: time.clock }), time);
  });
  await t.step("KvCookieJar", async () => {
    const time = manualClock();
    await using jar = await KvCookieJar.open({ ...options, clock: time.clock, path: ":memory:" });
    await body(jar, time);
  });
}

async function header(jar: CookieJar, url: string): Promise<string | null> {
  return cookieHeader(await jar.cookiesForUrl(url));
}

Deno.test("CookieJar sends a host-only cookie to its host alone, a domain cookie to subdomains", async (t) => {
  await eachJar(t, {}, async (jar) => {
    await jar.setCookiesFromUrl(
      ["host=1", "dom=2; Domain=example.com"],
      "https://www.example.com/",
    );
    assert.equal(await header(jar, "https://www.example.com/"), "host=1; dom=2");
    assert.equal(await header(jar, "https://a.www.example.com/"), "dom=2");
    assert.equal(await header(jar, "https://example.com/"), "dom=2");
    assert.equal(await header(jar, "https://example.org/"), null);
    const all = await jar.allCookies();
    assert.deepEqual(all.map((c) => [c.name, c.domain, c.hostOnly]), [
      ["host", "www.example.com", true],
      ["dom", "example.com", false],
    ]);
  });
});

Deno.test("CookieJar: on the apex host, a host-only cookie and a Domain cookie of the same name and path are one cookie (RFC 6265 section 5.3 step 11), as in tough-cookie", async (t) => {
  const url = "https://example.com/";
  const reference = new ToughCookieJar();
  await reference.setCookie("a=1", url);
  await reference.setCookie("a=2; Domain=example.com", url);
  const tough = (await reference.getCookies(url, { allPaths: true }))
    .map((c) => [c.key, c.value, c.domain, c.hostOnly]);
  assert.deepEqual(tough, [["a", "2", "example.com", false]]);
  await eachJar(t, {}, async (jar, time) => {
    await jar.setCookiesFromUrl(["a=1"], url);
    time.advance(MINUTE);
    // Same name, domain and path: the Domain cookie replaces the host-only one.
    await jar.setCookiesFromUrl(["a=2; Domain=example.com"], url);
    let all = await jar.allCookies();
    assert.deepEqual(all.map((c) => [c.name, c.value, c.domain, c.hostOnly]), tough);
    assert.equal(all[0]!.creationTime, START, "the old cookie's creation time is kept");
    assert.equal(await header(jar, url), "a=2");
    assert.equal(await header(jar, "https://sub.example.com/"), "a=2");
    // And the other way round: a host-only cookie replaces the Domain cookie.
    await jar.setCookiesFromUrl(["a=3"], url);
    all = await jar.allCookies();
    assert.deepEqual(all.map((c) => [c.name, c.value, c.domain, c.hostOnly]), [
      ["a", "3", "example.com", true],
    ]);
    assert.equal(await header(jar, url), "a=3");
    assert.equal(await header(jar, "https://sub.example.com/"), null);
  });
});

Deno.test("CookieJar refuses a Domain that is a public suffix or another site", async (t) => {
  await eachJar(t, {}, async (jar) => {
    const url = "https://shop.example.co.uk/";
    assert.equal(await jar.setCookiesFromUrl(["a=1; Domain=co.uk"], url), 0);
    assert.equal(await jar.setCookiesFromUrl(["b=1; Domain=.uk"], url), 0);
    assert.equal(await jar.setCookiesFromUrl(["c=1; Domain=other.co.uk"], url), 0);
    assert.equal(await jar.setCookiesFromUrl(["d=1; Domain=example.co.uk"], url), 1);
    assert.equal(await header(jar, "https://x.example.co.uk/"), "d=1");
    assert.equal(await header(jar, "https://other.co.uk/"), null);
  });
});

Deno.test("CookieJar uses the default path and matches paths by segment", async (t) => {
  await eachJar(t, {}, async (jar) => {
    await jar.setCookiesFromUrl(
      ["d=1", "p=2; Path=/docs/api", "bad=3; Path=relative"],
      "https://example.com/docs/page",
    );
    const paths = Object.fromEntries((await jar.allCookies()).map((c) => [c.name, c.path]));
    assert.deepEqual(paths, { d: "/docs", p: "/docs/api", bad: "/docs" });
    assert.equal(await header(jar, "https://example.com/docs"), "d=1; bad=3");
    assert.equal(await header(jar, "https://example.com/docs/api/v1"), "p=2; d=1; bad=3");
    assert.equal(await header(jar, "https://example.com/docsx"), null);
    assert.equal(await header(jar, "https://example.com/"), null);
  });
});

Deno.test("CookieJar sends a cookie whose Path is escaped as its URL's path is", async (t) => {
  await eachJar(t, {}, async (jar) => {
    const url = "https://example.com/my%20app/caf%C3%A9/login";
    const lines = [
      "enc=1; Path=/my%20app",
      "deep=2; Path=/my%20app/caf%C3%A9",
      "dec=3; Path=/my app",
    ];
    assert.equal(await jar.setCookiesFromUrl(lines, url), 3);
    assert.equal(
      await header(jar, "https://example.com/my%20app/caf%C3%A9/x"),
      "deep=2; enc=1; dec=3",
    );
    assert.equal(await header(jar, "https://example.com/my%20app/"), "enc=1; dec=3");
    assert.equal(await header(jar, "https://example.com/my%20apps/"), null);
  });
});

Deno.test("CookieJar orders the Cookie header by longer path first, then earlier creation", async (t) => {
  await eachJar(t, {}, async (jar, time) => {
    await jar.setCookiesFromUrl(["late=1; Path=/"], "https://example.com/");
    await jar.setCookiesFromUrl(["tie1=1; Path=/a", "tie2=2; Path=/a"], "https://example.com/");
    time.advance(1000);
    await jar.setCookiesFromUrl(["deep=1; Path=/a/b", "early=0; Path=/"], "https://example.com/");
    // Replacing a cookie keeps its creation time, hence its place.
    await jar.setCookiesFromUrl(["late=2; Path=/"], "https://example.com/");
    assert.equal(
      await header(jar, "https://example.com/a/b/c"),
      "deep=1; tie1=1; tie2=2; late=2; early=0",
    );
  });
});

Deno.test("CookieJar accepts Secure cookies from https and loopback http only, sends them likewise", async (t) => {
  await eachJar(t, {}, async (jar) => {
    assert.equal(await jar.setCookiesFromUrl(["s=1; Secure"], "http://example.com/"), 0);
    assert.equal(await jar.setCookiesFromUrl(["s=1; Secure"], "https://example.com/"), 1);
    assert.equal(await header(jar, "http://example.com/"), null);
    assert.equal(await header(jar, "https://example.com/"), "s=1");
    for (const origin of ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"]) {
      assert.equal(await jar.setCookiesFromUrl(["loop=1; Secure"], `${origin}/`), 1, origin);
      assert.equal(await header(jar, `${origin}/x`), "loop=1", origin);
    }
  });
});

Deno.test("CookieJar keeps HttpOnly and SameSite, sending HttpOnly cookies over HTTP", async (t) => {
  await eachJar(t, {}, async (jar) => {
    await jar.setCookiesFromUrl(
      [
        "h=1; HttpOnly",
        "s=1; SameSite=Strict",
        "l=1; samesite=LAX",
        "n=1; SameSite=None; Secure",
        "x=1; SameSite=bogus",
      ],
      "https://example.com/",
    );
    const byName = Object.fromEntries((await jar.allCookies()).map((c) => [c.name, c]));
    assert.equal(byName.h!.httpOnly, true);
    assert.equal(byName.s!.httpOnly, false);
    assert.deepEqual(
      ["s", "l", "n", "x"].map((n) => byName[n]!.sameSite),
      ["strict", "lax", "none", undefined],
    );
    assert.equal(await header(jar, "https://example.com/"), "h=1; s=1; l=1; n=1; x=1");
  });
});

Deno.test("CookieJar ignores a SameSite=None cookie that is not Secure", async (t) => {
  await eachJar(t, {}, async (jar) => {
    const lines = ["n=1; SameSite=None", "lower=1; samesite=none", "ok=1; SameSite=None; Secure"];
    assert.equal(await jar.setCookiesFromUrl(lines, "https://example.com/"), 1);
    // Partitioned is ignored: an ordinary cookie, sent like the others.
    const partitioned = "p=1; Secure; Partitioned; SameSite=None";
    assert.equal(await jar.setCookiesFromUrl([partitioned], "https://example.com/"), 1);
    assert.equal(await jar.setCookiesFromUrl(["plain=1; SameSite=None"], "http://a.test/"), 0);
    assert.equal(await header(jar, "https://example.com/"), "ok=1; p=1");
    assert.equal(await header(jar, "http://a.test/"), null);
  });
});

Deno.test("CookieJar ignores a Partitioned cookie that is not Secure, and keeps a Secure one as an ordinary cookie", async (t) => {
  await eachJar(t, {}, async (jar) => {
    const url = "https://example.com/";
    const insecure = ["p=1; Partitioned", "q=1; partitioned; Path=/", "r=1; PARTITIONED=yes"];
    assert.equal(await jar.setCookiesFromUrl(insecure, url), 0);
    // Not even as a deletion: an existing cookie of the name stays.
    assert.equal(await jar.setCookiesFromUrl(["p=old"], url), 1);
    assert.equal(await jar.setCookiesFromUrl(["p=new; Partitioned; Max-Age=0"], url), 0);
    assert.equal(await jar.setCookiesFromUrl(["s=1; Partitioned; Secure"], url), 1);
    // Loopback http may set Secure cookies, so Partitioned ones too.
    assert.equal(await jar.setCookiesFromUrl(["l=1; Partitioned"], "http://localhost/"), 0);
    assert.equal(await jar.setCookiesFromUrl(["l=2; Partitioned; Secure"], "http://localhost/"), 1);
    assert.equal(await header(jar, url), "p=old; s=1");
    assert.equal(await header(jar, "http://localhost/"), "l=2");
  });
});

Deno.test("CookieJar ignores a Domain whose cookie would not be sent back to the host", async (t) => {
  await eachJar(t, {}, async (jar) => {
    // `localhost` (and the other special-use names) is the top of its hosts' sites: a
    // subdomain's cookie for it would reach `localhost` alone, never the host that set it.
    assert.equal(
      await jar.setCookiesFromUrl(["a=1; Domain=localhost"], "http://app.localhost/"),
      0,
    );
    assert.equal(await jar.setCookiesFromUrl(["t=1; Domain=test"], "http://api.test/"), 0);
    assert.equal(await jar.setCookiesFromUrl(["b=1; Domain=localhost"], "http://localhost/"), 1);
    assert.equal(await header(jar, "http://app.localhost/"), null);
    assert.equal(await header(jar, "http://localhost/"), "b=1");
    // An IPv6 host's Domain as a URL writes it, or without brackets: the host itself.
    const v6 = ["c=1; Domain=[::1]", "d=1; Domain=::1", "e=1; Domain=[::2]"];
    assert.equal(await jar.setCookiesFromUrl(v6, "http://[::1]:8000/"), 2);
    assert.equal(await header(jar, "http://[::1]:8000/"), "c=1; d=1");
    assert.deepEqual(
      (await jar.allCookies()).map((c) => `${c.name} ${c.domain}`),
      ["b localhost", "c ::1", "d ::1"],
    );
  });
});

Deno.test("CookieJar enforces the __Secure- and __Host- prefixes, case-insensitively", async (t) => {
  await eachJar(t, {}, async (jar) => {
    const url = "https://www.example.com/";
    const cases: [string, number][] = [
      ["__Secure-a=1", 0],
      ["__secure-b=1", 0],
      ["__Secure-c=1; Secure", 1],
      ["__Host-d=1; Secure; Path=/", 1],
      ["__Host-e=1; Secure", 0], // no Path=/
      ["__Host-f=1; Secure; Path=/; Domain=example.com", 0],
      ["__HOST-g=1; Path=/", 0], // no Secure
      ["__Host-h", 0], // a nameless cookie that looks prefixed
    ];
    for (const [line, stored] of cases) {
      assert.equal(await jar.setCookiesFromUrl([line], url), stored, line);
    }
    assert.deepEqual((await jar.allCookies()).map((c) => c.name), ["__Secure-c", "__Host-d"]);
  });
});

Deno.test("CookieJar prefers Max-Age over Expires and expires cookies by the injected clock", async (t) => {
  await eachJar(t, {}, async (jar, time) => {
    const url = "https://example.com/";
    await jar.setCookiesFromUrl([
      "a=1; Max-Age=60; Expires=Thu, 01 Jan 2015 00:00:00 GMT",
      "b=1; Expires=Thu, 01 Jan 2015 00:00:00 GMT; Max-Age=120",
      "c=1; Expires=Thu, 01 Jan 2026 00:03:00 GMT",
      "d=1; Max-Age=nonsense",
    ], url);
    const expires = Object.fromEntries((await jar.allCookies()).map((c) => [c.name, c.expires]));
    assert.deepEqual(expires, {
      a: START + 60_000,
      b: START + 120_000,
      c: START + 180_000,
      d: null,
    });
    time.advance(61_000);
    assert.equal(await header(jar, url), "b=1; c=1; d=1");
    time.advance(60_000);
    assert.equal(await header(jar, url), "c=1; d=1");
    assert.deepEqual((await jar.allCookies()).map((c) => c.name), ["c", "d"]);
  });
});

Deno.test("CookieJar deletes a cookie with Max-Age=0 or a past Expires, counting it as not stored", async (t) => {
  await eachJar(t, {}, async (jar) => {
    const url = "https://example.com/";
    await jar.setCookiesFromUrl(["a=1", "b=1"], url);
    assert.equal(
      await jar.setCookiesFromUrl(
        ["a=; Max-Age=0", "b=; Expires=Thu, 01 Jan 2015 00:00:00 GMT"],
        url,
      ),
      0,
    );
    assert.deepEqual(await jar.allCookies(), []);
  });
});

Deno.test("CookieJar caps a cookie's lifetime at 400 days", async (t) => {
  await eachJar(t, {}, async (jar) => {
    await jar.setCookiesFromUrl([
      "a=1; Max-Age=999999999",
      "b=1; Expires=Fri, 07 Aug 9999 08:04:19 GMT",
    ], "https://example.com/");
    const cap = START + 400 * 86_400_000;
    assert.deepEqual((await jar.allCookies()).map((c) => c.expires), [cap, cap]);
  });
});

Deno.test("CookieJar stores a nameless cookie with an empty name and sends it as its value", async (t) => {
  await eachJar(t, {}, async (jar) => {
    const url = "https://example.com/";
    assert.equal(await jar.setCookiesFromUrl(["foo", "a=b"], url), 2);
    assert.equal(await header(jar, url), "foo; a=b");
    assert.equal(await jar.setCookiesFromUrl(["=bar=baz"], url), 1); // replaces "foo"
    const nameless = (await jar.allCookies()).filter((c) => c.name === "");
    assert.deepEqual(nameless.map((c) => c.value), ["bar=baz"]);
    assert.equal(await jar.setCookiesFromUrl(["=", "  ", ""], url), 0);
  });
});

Deno.test("CookieJar limits name plus value to 4096 bytes and attribute values to 1024", async (t) => {
  await eachJar(t, {}, async (jar) => {
    const url = "https://example.com/docs/page";
    assert.equal(await jar.setCookiesFromUrl([`n=${"v".repeat(4095)}`], url), 1);
    assert.equal(await jar.setCookiesFromUrl([`m=${"v".repeat(4096)}`], url), 0);
    // Bytes, not characters: "é" is two bytes.
    assert.equal(await jar.setCookiesFromUrl([`e=${"é".repeat(2048)}`], url), 0);
    await jar.setCookiesFromUrl([
      `p=1; Path=/${"x".repeat(1024)}`, // attribute ignored: the default path
      `q=1; Path=/${"x".repeat(1022)}`, // 1023 bytes: kept
      `d=1; Domain=${"a".repeat(1020)}.example.com`, // ignored: host-only
    ], url);
    const byName = Object.fromEntries((await jar.allCookies()).map((c) => [c.name, c]));
    assert.equal(byName.p!.path, "/docs");
    assert.equal(byName.q!.path, `/${"x".repeat(1022)}`);
    assert.equal(byName.d!.hostOnly, true);
    assert.equal(byName.n!.value.length, 4095);
  });
});

Deno.test("CookieJar aborts a cookie with a control character other than tab", async (t) => {
  await eachJar(t, {}, async (jar) => {
    const url = "https://example.com/";
    assert.equal(await jar.setCookiesFromUrl(["a=b\x01c", "b=1; Path=/\x7f", "c=d\ne"], url), 0);
    assert.equal(await jar.setCookiesFromUrl(["t=a\tb"], url), 1);
    assert.equal(await header(jar, url), "t=a\tb");
  });
});

Deno.test("CookieJar takes the last non-empty Domain attribute", async (t) => {
  await eachJar(t, {}, async (jar) => {
    const url = "https://www.example.com/";
    assert.equal(
      await jar.setCookiesFromUrl(["a=1; Domain=other.org; Domain=example.com"], url),
      1,
    );
    assert.equal(
      await jar.setCookiesFromUrl(["b=1; Domain=example.com; Domain=other.org"], url),
      0,
    );
    assert.equal(await jar.setCookiesFromUrl(["c=1; Domain=example.com; Domain="], url), 1);
    const domains = (await jar.allCookies()).map((c) => [c.name, c.domain, c.hostOnly]);
    assert.deepEqual(domains, [["a", "example.com", false], ["c", "example.com", false]]);
  });
});

Deno.test("CookieJar does not let an insecure origin shadow a Secure cookie", async (t) => {
  await eachJar(t, {}, async (jar) => {
    await jar.setCookiesFromUrl(
      ["id=secret; Secure; Domain=example.com"],
      "https://www.example.com/",
    );
    assert.equal(await jar.setCookiesFromUrl(["id=evil"], "http://www.example.com/"), 0);
    assert.equal(
      await jar.setCookiesFromUrl(
        ["id=evil; Domain=example.com; Path=/x"],
        "http://a.example.com/",
      ),
      0,
    );
    // Nor remove it with a cookie that has expired.
    assert.equal(
      await jar.setCookiesFromUrl(["id=; Max-Age=0; Domain=example.com"], "http://example.com/"),
      0,
    );
    assert.equal(await jar.setCookiesFromUrl(["other=1"], "http://www.example.com/"), 1);
    assert.equal(await header(jar, "https://www.example.com/x"), "id=secret; other=1");
  });
});

Deno.test("MemoryCookieJar: an insecure origin's cookie is not stored over a Secure cookie set while it is set", async (t) => {
  const store = _MemoryCookieStore.prototype;
  const get = store.get;
  for (const { name, secure, insecure } of SHADOW_CASES) {
    await t.step(name, async () => {
      const jar = new MemoryCookieJar({ clock: () => START });
      // Once: the Secure cookie is set when the insecure one's write reads the record it replaces.
      let during: (() => Promise<unknown>) | null = () =>
        jar.setCookiesFromUrl([secure[0]], secure[1]);
      store.get = async function (this: _MemoryCookieStore, ...args) {
        const run = during;
        during = null;
        await run?.();
        return await get.apply(this, args);
      };
      try {
        assert.equal(await jar.setCookiesFromUrl([insecure[0]], insecure[1]), 0);
      } finally {
        store.get = get;
      }
      assert.equal(during, null, "the Secure cookie was set while the insecure one was");
      await assertSecureKept(jar);
    });
  }
});

Deno.test("CookieJar lets an insecure origin set a name whose Secure cookie has expired", async (t) => {
  await eachJar(t, {}, async (jar, time) => {
    // Of a sibling host, which a lookup of the insecure origin's host never reads.
    await jar.setCookiesFromUrl(["id=old; Secure; Max-Age=60"], "https://www.example.com/");
    assert.equal(
      await jar.setCookiesFromUrl(["id=new; Domain=example.com"], "http://example.com/"),
      0,
    );
    time.advance(2 * MINUTE);
    assert.equal(
      await jar.setCookiesFromUrl(["id=new; Domain=example.com"], "http://example.com/"),
      1,
    );
    assert.equal(await header(jar, "http://www.example.com/"), "id=new");
  });
});

Deno.test("CookieJar evicts the least recently used cookies of a site beyond maxCookiesPerDomain", async (t) => {
  await eachJar(t, { maxCookiesPerDomain: 3 }, async (jar, time) => {
    for (const name of ["a", "b", "c"]) {
      await jar.setCookiesFromUrl(
        [`${name}=1; Domain=example.com; Path=/${name}`],
        "https://example.com/",
      );
      time.advance(2 * MINUTE);
    }
    await jar.setCookiesFromUrl(["other=1"], "https://other.org/"); // another site, oldest use
    await jar.cookiesForUrl("https://example.com/a"); // a used now: b is the least recently used
    time.advance(2 * MINUTE);
    await jar.setCookiesFromUrl(["d=1"], "https://sub.example.com/"); // same site, 4th cookie
    const names = (await jar.allCookies()).map((c) => c.name).sort();
    assert.deepEqual(names, ["a", "c", "d", "other"]);
  });
});

Deno.test("CookieJar evicts a site's least recently used cookies down to 90 % of maxCookiesPerDomain", async (t) => {
  await eachJar(t, { maxCookiesPerDomain: 20 }, async (jar, time) => {
    for (let i = 0; i < 20; i++) {
      await jar.setCookiesFromUrl([`c${i}=1; Path=/${i}`], "https://example.com/");
      time.advance(2 * MINUTE);
    }
    await jar.setCookiesFromUrl(["other=1"], "https://other.org/"); // another site: untouched
    await jar.cookiesForUrl("https://example.com/0"); // c0 used: not a victim
    time.advance(2 * MINUTE);
    await jar.setCookiesFromUrl(["new=1"], "https://www.example.com/");
    const names = new Set((await jar.allCookies()).map((c) => c.name));
    assert.equal(names.size, 18 + 1);
    for (const gone of ["c1", "c2", "c3"]) assert.ok(!names.has(gone), gone);
    for (const kept of ["c0", "c4", "c19", "new", "other"]) assert.ok(names.has(kept), kept);
  });
});

Deno.test("CookieJar evicts the least recently used cookies beyond maxCookies, down to 90 %", async (t) => {
  await eachJar(t, { maxCookies: 20 }, async (jar, time) => {
    for (let i = 0; i < 20; i++) {
      await jar.setCookiesFromUrl([`c${i}=1`], `https://site${i}.example/`);
      time.advance(2 * MINUTE);
    }
    await jar.cookiesForUrl("https://site0.example/"); // c0 used: not a victim
    time.advance(2 * MINUTE);
    await jar.setCookiesFromUrl(["new=1"], "https://new.example/");
    const names = new Set((await jar.allCookies()).map((c) => c.name));
    assert.equal(names.size, 18);
    for (const gone of ["c1", "c2", "c3"]) assert.ok(!names.has(gone), gone);
    for (const kept of ["c0", "c4", "c19", "new"]) assert.ok(names.has(kept), kept);
  });
});

Deno.test("CookieJar.cookiesForUrl updates the last-access time", async (t) => {
  await eachJar(t, {}, async (jar, time) => {
    await jar.setCookiesFromUrl(["a=1"], "https://example.com/");
    time.advance(5 * MINUTE);
    const [sent] = await jar.cookiesForUrl("https://example.com/");
    assert.equal(sent!.lastAccessTime, START + 5 * MINUTE);
    assert.equal(sent!.creationTime, START);
    assert.equal((await jar.allCookies())[0]!.lastAccessTime, START + 5 * MINUTE);
  });
});

Deno.test("CookieJar.cookiesForUrl sees each change to a domain it already looked up", async (t) => {
  await eachJar(t, {}, async (jar, time) => {
    const url = "https://www.example.com/";
    await jar.setCookiesFromUrl(["a=1; Max-Age=60", "b=2"], url);
    assert.equal(await header(jar, url), "a=1; b=2");
    // Added to a domain whose cookies were read: the new one is sent.
    await jar.setCookiesFromUrl(["c=3"], url);
    assert.equal(await header(jar, url), "a=1; b=2; c=3");
    // Replaced: the new value, in the old one's creation order.
    await jar.setCookiesFromUrl(["b=22"], url);
    assert.equal(await header(jar, url), "a=1; b=22; c=3");
    // Removed.
    assert.equal(await jar.deleteCookie({ name: "c", domain: "www.example.com", path: "/" }), true);
    assert.equal(await header(jar, url), "a=1; b=22");
    // Expired.
    time.advance(61_000);
    assert.equal(await header(jar, url), "b=22");
    assert.deepEqual((await jar.allCookies()).map((c) => c.name), ["b"]);
    // Cleared, then set again.
    await jar.clear();
    assert.equal(await header(jar, url), null);
    await jar.setCookiesFromUrl(["d=4; Domain=example.com"], url);
    assert.equal(await header(jar, url), "d=4");
    assert.equal(await header(jar, "https://example.com/"), "d=4");
  });
});

Deno.test("CookieJar insertCookie, updateCookie and deleteCookie work on domain, path and name", async (t) => {
  await eachJar(t, {}, async (jar, time) => {
    assert.equal(await jar.insertCookie({ name: "a", value: "1", domain: ".Example.com" }), true);
    assert.equal(
      await jar.insertCookie({
        name: "h",
        value: "1",
        domain: "example.com",
        path: "/p",
        secure: true,
      }),
      true,
    );
    const all = await jar.allCookies();
    assert.deepEqual(all[0], {
      name: "a",
      value: "1",
      domain: "example.com",
      path: "/",
      expires: null,
      secure: false,
      httpOnly: false,
      hostOnly: false,
      creationTime: START,
      lastAccessTime: START,
    });
    assert.equal(all[1]!.hostOnly, true);
    assert.equal(await header(jar, "https://www.example.com/p"), "a=1");
    assert.equal(await header(jar, "https://example.com/p"), "h=1; a=1");

    time.advance(1000);
    assert.equal(await jar.updateCookie({ name: "a", value: "2", domain: ".example.com" }), true);
    assert.equal(await jar.updateCookie({ name: "zz", value: "2", domain: "example.com" }), false);
    const a = (await jar.allCookies()).find((c) => c.name === "a")!;
    assert.equal(a.value, "2");
    assert.equal(a.creationTime, START);

    assert.equal(
      await jar.insertCookie({
        name: "h",
        value: "x",
        domain: "example.com",
        path: "/p",
        expires: START,
      }),
      false,
    );
    assert.equal(await jar.deleteCookie({ name: "a", domain: "example.com" }), true);
    assert.equal(await jar.deleteCookie({ name: "a", domain: "example.com" }), false);
    assert.deepEqual(await jar.allCookies(), []);

    await jar.insertCookie({ name: "b", value: "1", domain: "example.org" });
    await jar.clear();
    assert.deepEqual(await jar.allCookies(), []);
  });
});

Deno.test("CookieJar keeps a host with a trailing dot apart from the same host without", async (t) => {
  await eachJar(t, {}, async (jar) => {
    assert.equal(await jar.setCookiesFromUrl(["a=1"], "https://www.example.com./"), 1);
    assert.equal(
      await jar.setCookiesFromUrl(["b=1; Domain=example.com"], "https://www.example.com./"),
      0,
    );
    assert.equal(await header(jar, "https://www.example.com./"), "a=1");
    assert.equal(await header(jar, "https://www.example.com/"), null);
  });
});

Deno.test("CookieJar rejects invalid arguments with messages naming the field", async (t) => {
  await eachJar(t, {}, async (jar) => {
    await assert.rejects(() => jar.cookiesForUrl("not a url"), {
      name: "TypeError",
      message: `Cannot get cookies: 'url' must be a valid URL, got "not a url"`,
    });
    await assert.rejects(
      () => jar.setCookiesFromUrl("a=1" as unknown as string[], "https://e.com/"),
      TypeError,
    );
    await assert.rejects(() => jar.insertCookie({ name: "a", value: "1", domain: "" }), {
      name: "TypeError",
      message: `Cannot insert cookie: 'domain' must be a non-empty string, got ""`,
    });
    await assert.rejects(
      () => jar.insertCookie({ name: "a", value: "1", domain: "e.com", path: "x" }),
      TypeError,
    );
    await assert.rejects(() => jar.insertCookie({ name: "", value: "", domain: "e.com" }), {
      name: "TypeError",
      message: `Cannot insert cookie: 'value' must be non-empty when 'name' is empty, got ""`,
    });
    assert.equal(await jar.insertCookie({ name: "", value: "nameless", domain: "e.com" }), true);
    await assert.rejects(() => jar.updateCookie({ name: "", value: "", domain: "e.com" }), {
      name: "TypeError",
      message: `Cannot update cookie: 'value' must be non-empty when 'name' is empty, got ""`,
    });
    assert.equal(await header(jar, "https://e.com/"), "nameless");
    assert.deepEqual(await jar.cookiesForUrl("ftp://example.com/"), []);
    assert.equal(await jar.setCookiesFromUrl(["a=1"], "file:///tmp/x"), 0);
  });
  assert.throws(() => new MemoryCookieJar({ maxCookies: 0 }), {
    name: "RangeError",
    message: "Cannot create cookie jar: 'maxCookies' must be a positive integer, got 0",
  });
  assert.throws(() => new MemoryCookieJar({ maxCookiesPerDomain: 1.5 }), RangeError);
  assert.throws(() => new MemoryCookieJar({ clock: 5 as unknown as Clock }), TypeError);
});

Deno.test("CookieJar insertCookie and updateCookie reject a domain no request host can have, naming it", async (t) => {
  await eachJar(t, {}, async (jar) => {
    const form = "a host name (no scheme, port or path)";
    const cases: [string, string][] = [
      ["example.com:80", form],
      ["https://example.com", form],
      ["example.com/app", form],
      ["ex%41mple.com", form],
      ["a..example.com", form],
      ["[::1]:80", form],
    ];
    for (const [domain, expected] of cases) {
      for (const method of ["insert", "update"] as const) {
        await assert.rejects(() => jar[`${method}Cookie`]({ name: "n", value: "v", domain }), {
          name: "TypeError",
          message: `Cannot ${method} cookie: 'domain' must be ${expected}, got ${
            JSON.stringify(domain)
          }`,
        });
      }
    }
    for (const domain of [".com", ".co.uk", "com"]) {
      await assert.rejects(
        () => jar.insertCookie({ name: "n", value: "v", domain, hostOnly: false }),
        {
          name: "TypeError",
          message:
            `Cannot insert cookie: 'domain' must not be a public suffix for a domain cookie (set 'hostOnly' for a cookie of that host alone), got ${
              JSON.stringify(domain)
            }`,
        },
      );
    }
    assert.deepEqual(await jar.allCookies(), [], "nothing stored");
    // A host-only cookie of a host that is a public suffix, an IP address, a name in another
    // script or case: each is stored and sent to its host.
    const usable: [NetworkCookieInit, string][] = [
      [{ name: "ps", value: "1", domain: ".com", hostOnly: true }, "https://com/"],
      [{ name: "v4", value: "1", domain: "127.0.0.1" }, "http://127.0.0.1/"],
      [{ name: "v6", value: "1", domain: "[::1]" }, "http://[::1]:8000/"],
      [{ name: "idn", value: "1", domain: "bücher.de" }, "https://bücher.de/"],
      [{ name: "up", value: "1", domain: ".EXAMPLE.com" }, "https://www.example.com/"],
    ];
    for (const [cookie, url] of usable) {
      assert.equal(await jar.insertCookie(cookie), true, cookie.domain);
      assert.equal(await header(jar, url), `${cookie.name}=1`, url);
    }
  });
});

Deno.test("CookieJar deleteCookie refuses a flag that is no boolean, as insertCookie does", async (t) => {
  await eachJar(t, {}, async (jar) => {
    const cookie = { name: "n", value: "v", domain: "example.com" };
    assert.equal(await jar.insertCookie(cookie), true);
    const cases: [string, unknown, string][] = [
      ["hostOnly", "yes", '"yes"'],
      ["secure", 1, "1"],
      ["httpOnly", null, "null"],
    ];
    for (const [flag, value, shown] of cases) {
      for (const method of ["insert", "delete"] as const) {
        await assert.rejects(() => jar[`${method}Cookie`]({ ...cookie, [flag]: value }), {
          name: "TypeError",
          message: `Cannot ${method} cookie: '${flag}' must be a boolean, got ${shown}`,
        });
      }
    }
    assert.equal((await jar.allCookies()).length, 1, "the refused deletes removed nothing");
    // Booleans (a cookie as allCookies() gives it) delete it, whatever their values.
    const [stored] = await jar.allCookies();
    assert.equal(await jar.deleteCookie(stored!), true);
  });
});

Deno.test("CookieJar insertCookie and updateCookie refuse a time outside a Date's range, naming the field", async (t) => {
  await eachJar(t, {}, async (jar) => {
    const cookie = { name: "n", value: "v", domain: "example.com" };
    assert.equal(await jar.insertCookie(cookie), true);
    const range = "a time in epoch milliseconds within ±8.64e15 (what a Date holds)";
    const cases: [string, number, string, string][] = [
      ["expires", Infinity, "Infinity", " or null"],
      ["expires", -Infinity, "-Infinity", " or null"],
      ["expires", 1e20, "100000000000000000000", " or null"],
      ["expires", 8.64e15 + 1, "8640000000000001", " or null"],
      ["expires", NaN, "NaN", " or null"],
      ["creationTime", 1e20, "100000000000000000000", ""],
      ["lastAccessTime", -Infinity, "-Infinity", ""],
    ];
    for (const [field, value, shown, orNull] of cases) {
      for (const method of ["insert", "update"] as const) {
        await assert.rejects(() => jar[`${method}Cookie`]({ ...cookie, [field]: value }), {
          name: "RangeError",
          message: `Cannot ${method} cookie: '${field}' must be ${range}${orNull}, got ${shown}`,
        });
      }
    }
    const [stored] = await jar.allCookies();
    assert.equal(stored!.expires, null, "the refused writes left the session cookie as it was");
    // The ends of a Date's range are times like any other: the latest one expires never in
    // practice, the earliest has expired.
    assert.equal(await jar.insertCookie({ ...cookie, expires: 8.64e15 }), true);
    assert.equal((await jar.allCookies())[0]!.expires, 8.64e15);
    assert.equal(await jar.insertCookie({ ...cookie, expires: -8.64e15 }), false);
    assert.deepEqual(await jar.allCookies(), []);
  });
});

Deno.test("CookieJar insertCookie and deleteCookie of null say 'got null'", async (t) => {
  await eachJar(t, {}, async (jar) => {
    await assert.rejects(() => jar.insertCookie(null as unknown as NetworkCookieInit), {
      name: "TypeError",
      message: "Cannot insert cookie: the cookie must be an object, got null",
    });
    await assert.rejects(() => jar.deleteCookie(null as unknown as NetworkCookieInit), {
      name: "TypeError",
      message: "Cannot delete cookie: the cookie must be an object, got null",
    });
    await assert.rejects(() => jar.insertCookie("a=1" as unknown as NetworkCookieInit), {
      name: "TypeError",
      message: `Cannot insert cookie: the cookie must be an object, got "a=1"`,
    });
  });
});
