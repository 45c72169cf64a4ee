import { strict as assert } from "node:assert";
import type { CookieJar, NetworkCookieInit } from "../../src/cookies/cookie_jar.ts";
import { MemoryCookieJar } from "../../src/cookies/memory_cookie_jar.ts";
import { KvCookieJar } from "../../src/cookies/kv_cookie_jar.ts";
import { cookieHeader } from "../../src/cookies/network_cookie.ts";

/** Runs `body` once per jar kind, as a step of its own. */
async function eachKind(
  t: Deno.TestContext,
  body: (open: () => Promise<CookieJar & AsyncDisposable>) => Promise<void>,
): Promise<void> {
  await t.step("MemoryCookieJar", () =>
    body(() => {
      const jar = new MemoryCookieJar();
      return Promise.resolve(Object.assign(jar, { [Symbol.asyncDispose]: () => jar.clear() }));
    }));
  await t.step("KvCookieJar", () => body(() => KvCookieJar.open({ path: ":memory:" })));
}

Deno.test("CookieJar insertCookie and updateCookie refuse what the __Secure- and __Host- prefixes forbid, naming the field", async (t) => {
  await eachKind(t, async (open) => {
    await using jar = await open();
    const base = { value: "1", domain: "example.com", path: "/", secure: true };
    const cases: [Partial<NetworkCookieInit>, string][] = [
      [
        { name: "__Host-a", secure: false },
        `'secure' must be true for a name starting with '__Host-' (RFC 6265bis cookie prefixes), got false`,
      ],
      [
        { name: "__Host-a", secure: undefined },
        `'secure' must be true for a name starting with '__Host-' (RFC 6265bis cookie prefixes), got false`,
      ],
      [
        { name: "__HOST-b", hostOnly: false },
        `'hostOnly' must be true for a name starting with '__Host-' (RFC 6265bis cookie prefixes), got false`,
      ],
      [
        { name: "__Host-b", domain: ".example.com" },
        `'hostOnly' must be true for a name starting with '__Host-' (RFC 6265bis cookie prefixes), got false`,
      ],
      [
        { name: "__Host-c", path: "/x" },
        `'path' must be "/" for a name starting with '__Host-' (RFC 6265bis cookie prefixes), got "/x"`,
      ],
      [
        { name: "__secure-d", secure: false },
        `'secure' must be true for a name starting with '__Secure-' (RFC 6265bis cookie prefixes), got false`,
      ],
      [
        { name: "", value: "__Host-e=1" },
        `'value' must be free of a leading '__Secure-' or '__Host-' when 'name' is empty (RFC 6265bis cookie prefixes), got "__Host-e=1"`,
      ],
    ];
    for (const [change, message] of cases) {
      const cookie = { ...base, ...change } as NetworkCookieInit;
      for (const what of ["insert", "update"] as const) {
        await assert.rejects(
          what === "insert" ? jar.insertCookie(cookie) : jar.updateCookie(cookie),
          { name: "TypeError", message: `Cannot ${what} cookie: ${message}` },
        );
      }
    }
    assert.deepEqual(await jar.allCookies(), []);
    assert.equal(await jar.cookiesForUrl("http://example.com/x").then(cookieHeader), null);
    // What the prefixes ask for is stored, and sent over https alone.
    assert.equal(await jar.insertCookie({ ...base, name: "__Host-ok" }), true);
    assert.equal(await jar.insertCookie({ ...base, name: "__Secure-ok", path: "/x" }), true);
    assert.equal(await jar.cookiesForUrl("http://example.com/x").then(cookieHeader), null);
    assert.equal(
      await jar.cookiesForUrl("https://example.com/x").then(cookieHeader),
      "__Secure-ok=1; __Host-ok=1",
    );
  });
});

Deno.test("CookieJar insertCookie takes every name and value Set-Cookie stores, and no other", async (t) => {
  const lines = ["sp ace=1", "com,ma=3", "tab\tx=2", "a=b=c", "=nameless", "é=ü", 'q="x y"'];
  await eachKind(t, async (open) => {
    await using from = await open();
    await using into = await open();
    const url = "https://example.com/";
    assert.equal(await from.setCookiesFromUrl(lines, url), lines.length);
    for (const cookie of await from.allCookies()) {
      assert.equal(await into.insertCookie(cookie), true, JSON.stringify(cookie.name));
    }
    assert.equal(
      await into.cookiesForUrl(url).then(cookieHeader),
      await from.cookiesForUrl(url).then(cookieHeader),
    );
    // Set-Cookie trims SP and HTAB around a name and a value, and stops at CTLs, ';' and '='.
    const refused: [Partial<NetworkCookieInit>, string][] = [
      [{ name: " a" }, "name"],
      [{ name: "a\t" }, "name"],
      [{ name: "a=b" }, "name"],
      [{ name: "a;b" }, "name"],
      [{ name: "a\x7fb" }, "name"],
      [{ value: "1 " }, "value"],
      [{ value: "\t1" }, "value"],
      [{ value: "1\x00" }, "value"],
    ];
    for (const [change, field] of refused) {
      await assert.rejects(
        into.insertCookie({ name: "n", value: "v", domain: "example.com", ...change }),
        {
          name: "TypeError",
          message: new RegExp(`^Cannot insert cookie: '${field}' must be free of`),
        },
        JSON.stringify(change),
      );
    }
  });
});
