import assert from "node:assert/strict";
import { parseStrictTransportSecurity, parseStsHeaderValue } from "../../src/hsts/_sts_header.ts";
import { upgradeUrl } from "../../src/hsts/_upgrade.ts";
import type { HstsStore } from "../../src/hsts/hsts_store.ts";
import { KvHstsStore } from "../../src/hsts/kv_hsts_store.ts";
import { KvCache } from "../../src/cache/kv_cache.ts";
import { MemoryHstsStore, type MemoryHstsStoreOptions } from "../../src/hsts/memory_hsts_store.ts";
import { fakeClock } from "../_helpers/fake_clock.ts";
import { lockedKv } from "../_helpers/kv_spy.ts";
import { NetworkAccessManager, NetworkError } from "../../mod.ts";

const START = Date.UTC(2026, 0, 1);

const testClock = () => fakeClock(START);

Deno.test("parseStrictTransportSecurity accepts valid headers", async (t) => {
  const cases: [string, number, boolean][] = [
    ["max-age=31536000", 31536000, false],
    ["max-age=31536000; includeSubDomains", 31536000, true],
    ["MAX-AGE=10;INCLUDESUBDOMAINS", 10, true],
    ['max-age="600"', 600, false],
    ["  max-age = 5 ;  includeSubDomains  ", 5, true],
    ["includeSubDomains; max-age=7", 7, true],
    [";; max-age=7;;", 7, false],
    ["max-age=0", 0, false],
    ["max-age=7; preload", 7, false],
    ['max-age=7; future="a \\"quoted\\" value; with semicolon"', 7, false],
    ["max-age=7; unknown=token", 7, false],
    ["max-age=9999999999999999", 2_147_483_648, false],
  ];
  for (const [value, maxAge, includeSubDomains] of cases) {
    await t.step(value, () => {
      assert.deepEqual(parseStrictTransportSecurity(value), { maxAge, includeSubDomains });
    });
  }
});

Deno.test("parseStrictTransportSecurity rejects malformed headers", async (t) => {
  const cases = [
    "",
    "includeSubDomains",
    "max-age",
    "max-age=",
    "max-age=-1",
    "max-age=1.5",
    "max-age=abc",
    'max-age="12',
    'max-age="1 2"',
    "max-age=1; max-age=2",
    "max-age=1; includeSubDomains; INCLUDESUBDOMAINS",
    "max-age=1; includeSubDomains=yes",
    "max-age=1 includeSubDomains",
    "max-age=1, max-age=2",
    "=1",
    "max-age=1; @bad",
    'max-age=1; x="\\',
  ];
  for (const value of cases) {
    await t.step(JSON.stringify(value), () => {
      assert.equal(parseStrictTransportSecurity(value), null);
    });
  }
});

/** Chromium's `Strict-Transport-Security` parsing cases (net/http/http_security_headers_unittest). */
const CHROMIUM_VALID: [string, boolean][] = [
  ["max-age=243", false],
  ["max-age=3488923;", false],
  ["  Max-agE    = 567", false],
  ["  mAx-aGe    = 890      ", false],
  ["max-age=123;incLudesUbdOmains", true],
  ["incLudesUbdOmains; max-age=123", true],
  ["   incLudesUbdOmains; max-age=123", true],
  ["   incLudesUbdOmains; max-age=123; pumpkin=kitten", true],
  ["   pumpkin=894; incLudesUbdOmains; max-age=123  ", true],
  ["   pumpkin; incLudesUbdOmains; max-age=123  ", true],
  ['   pumpkin; incLudesUbdOmains; max-age="123"  ', true],
  ['animal="squirrel; distinguished"; incLudesUbdOmains; max-age=123', true],
  ["max-age=394082;  incLudesUbdOmains", true],
  ["max-age=39408299  ;incLudesUbdOmains", true],
  ["max-age=394082038  ; incLudesUbdOmains", true],
  ["max-age=394082038  ; incLudesUbdOmains;", true],
  [";; max-age=394082038  ; incLudesUbdOmains; ;", true],
  [";; max-age=394082038  ;", false],
  ["max-age=0  ;  incLudesUbdOmains   ", true],
  ["  max-age=999999999999999999999999999999999999999999  ;  incLudesUbdOmains  ", true],
];

const CHROMIUM_BOGUS = [
  "",
  "    ",
  "abc",
  "  abc",
  "  abc   ",
  "max-age",
  "  max-age",
  "  max-age  ",
  "max-age=",
  "   max-age=",
  "   max-age  =",
  "   max-age=   ",
  "   max-age  =     ",
  "   max-age  =     xy",
  "   max-age  =     3488a923",
  "max-age=3488a923  ",
  "max-ag=3488923",
  "max-aged=3488923",
  "max-age==3488923",
  "amax-age=3488923",
  "max-age=-3488923",
  "max-age=+3488923",
  "max-age=13####",
  "max-age=9223372036854775807#####",
  "max-age=18446744073709551615####",
  "max-age=999999999999999999999999$.&#!",
  "max-age=3488923     e",
  "max-age=3488923     includesubdomain",
  "max-age=3488923includesubdomains",
  "max-age=3488923=includesubdomains",
  "max-age=3488923 includesubdomainx",
  "max-age=3488923 includesubdomain=",
  "max-age=3488923 includesubdomain=true",
  "max-age=3488923 includesubdomainsx",
  "max-age=3488923 includesubdomains x",
  "max-age=34889.23 includesubdomains",
  "max-age=34889 includesubdomains",
  ";;;; ;;;",
  ";;;; includeSubDomains;;;",
  "   includeSubDomains;  ",
  ";",
  "max-age; ;",
  'max-age="3488923',
  "max-age=3488923; max-age=3488923",
];

Deno.test("parseStsHeaderValue passes Chromium's parsing cases", async (t) => {
  for (const [value, includeSubDomains] of CHROMIUM_VALID) {
    await t.step(`valid ${JSON.stringify(value)}`, () => {
      const parsed = parseStsHeaderValue(value);
      assert.notEqual(parsed, null);
      assert.equal(parsed!.includeSubDomains, includeSubDomains);
    });
  }
  for (const value of CHROMIUM_BOGUS) {
    await t.step(`bogus ${JSON.stringify(value)}`, () => {
      assert.equal(parseStsHeaderValue(value), null);
    });
  }
});

Deno.test("parseStsHeaderValue: a comma ends a field only outside quoted strings", async (t) => {
  const cases: [string, number | null][] = [
    // One field with a comma in a token is invalid, and so is the value as a whole.
    ["max-age=1; unknownDirective=non,token", null],
    ["max-age=1, includeSubDomains", null],
    ["max-age=5,", null],
    // A comma in a quoted string is part of the value.
    ['max-age=5; note="a, b"', 5],
    ['max-age=5; note="a, \\"b, c\\""', 5],
    // Several valid fields (several header lines): the first counts.
    ["max-age=5, max-age=9", 5],
    ['max-age=5; x="1,2", max-age=9; includeSubDomains', 5],
  ];
  for (const [value, maxAge] of cases) {
    await t.step(JSON.stringify(value), () => {
      assert.equal(parseStsHeaderValue(value)?.maxAge ?? null, maxAge);
    });
  }
});

type Factory = (options: MemoryHstsStoreOptions) => Promise<HstsStore & Partial<AsyncDisposable>>;

const factories: [string, Factory][] = [
  ["MemoryHstsStore", (options) => Promise.resolve(new MemoryHstsStore(options))],
  ["KvHstsStore", (options) => KvHstsStore.open({ ...options, path: ":memory:" })],
];

async function withStore(
  factory: Factory,
  options: MemoryHstsStoreOptions,
  body: (store: HstsStore) => Promise<void>,
): Promise<void> {
  const store = await factory(options);
  try {
    await body(store);
  } finally {
    await store[Symbol.asyncDispose]?.();
  }
}

for (const [name, factory] of factories) {
  Deno.test(`${name} learns policies and honours includeSubDomains on parent domains`, async () => {
    const { clock } = testClock();
    await withStore(factory, { clock }, async (store) => {
      assert.equal(await store.learn("Example.COM.", "max-age=600; includeSubDomains"), true);
      assert.equal(await store.learn("plain.org", "max-age=600"), true);
      assert.deepEqual(await store.get("example.com"), {
        host: "example.com",
        expires: START + 600_000,
        includeSubDomains: true,
      });
      assert.equal(await store.isKnownHost("example.com"), true);
      assert.equal(await store.isKnownHost("EXAMPLE.com."), true);
      assert.equal(await store.isKnownHost("a.b.example.com"), true);
      assert.equal(await store.isKnownHost("notexample.com"), false);
      assert.equal(await store.isKnownHost("plain.org"), true);
      assert.equal(await store.isKnownHost("www.plain.org"), false);
      assert.equal(await store.isKnownHost("org"), false);
      assert.equal(await store.get("www.example.com"), undefined);
    });
  });

  Deno.test(`${name} expires policies by the injected clock`, async () => {
    const { clock, advance } = testClock();
    await withStore(factory, { clock }, async (store) => {
      await store.learn("example.com", "max-age=60; includeSubDomains");
      advance(59_999);
      assert.equal(await store.isKnownHost("www.example.com"), true);
      advance(1);
      assert.equal(await store.isKnownHost("www.example.com"), false);
      assert.equal(await store.isKnownHost("example.com"), false);
      assert.equal(await store.get("example.com"), undefined);
      assert.deepEqual(await store.all(), []);
    });
  });

  Deno.test(`${name} removes a policy on max-age=0 and ignores malformed headers`, async () => {
    const { clock } = testClock();
    await withStore(factory, { clock }, async (store) => {
      await store.learn("example.com", "max-age=600");
      assert.equal(await store.learn("example.com", "max-age=oops"), false);
      assert.equal(await store.learn("example.com", "max-age=1; max-age=1"), false);
      assert.equal(await store.isKnownHost("example.com"), true);
      assert.equal(await store.learn("example.com", "max-age=0"), true);
      assert.equal(await store.isKnownHost("example.com"), false);
    });
  });

  Deno.test(`${name} ignores IP literals and processes only the first header field`, async () => {
    const { clock } = testClock();
    await withStore(factory, { clock }, async (store) => {
      assert.equal(await store.learn("127.0.0.1", "max-age=600"), false);
      assert.equal(await store.learn("[::1]", "max-age=600"), false);
      assert.equal(await store.isKnownHost("127.0.0.1"), false);
      assert.deepEqual(await store.all(), []);
      // Two header fields joined by Headers: the first one counts.
      assert.equal(await store.learn("example.com", "max-age=600, max-age=0"), true);
      assert.equal((await store.get("example.com"))?.expires, START + 600_000);
      assert.equal(await store.learn("example.com", 'max-age=0; x="a,b", max-age=5'), true);
      assert.equal(await store.get("example.com"), undefined);
      // A comma in a token makes the field invalid: nothing is learned.
      assert.equal(
        await store.learn("example.com", "max-age=1; unknownDirective=non,token"),
        false,
      );
      assert.equal(await store.get("example.com"), undefined);
    });
  });

  Deno.test(`${name} sets, lists, removes and clears policies`, async () => {
    const { clock } = testClock();
    await withStore(factory, { clock }, async (store) => {
      await store.set({ host: "A.example", expires: START + 1000, includeSubDomains: false });
      await store.set({ host: "b.example", expires: START + 2000, includeSubDomains: true });
      await store.set({ host: "c.example", expires: START - 1, includeSubDomains: true });
      const all = (await store.all()).sort((x, y) => x.host.localeCompare(y.host));
      assert.deepEqual(all, [
        { host: "a.example", expires: START + 1000, includeSubDomains: false },
        { host: "b.example", expires: START + 2000, includeSubDomains: true },
      ]);
      // An expired policy given to set() removes the host's policy.
      await store.set({ host: "a.example", expires: START, includeSubDomains: false });
      assert.equal(await store.isKnownHost("a.example"), false);
      assert.equal(await store.remove("B.example"), true);
      assert.equal(await store.remove("b.example"), false);
      await store.set({ host: "d.example", expires: Infinity, includeSubDomains: false });
      assert.equal(await store.isKnownHost("d.example"), true);
      await store.clear();
      assert.deepEqual(await store.all(), []);
      await assert.rejects(
        store.set({ host: "10.0.0.1", expires: START + 1, includeSubDomains: false }),
        { name: "TypeError", message: /'host' must not be an IP address, got "10\.0\.0\.1"$/ },
      );
      await assert.rejects(
        store.set({ host: "", expires: START + 1, includeSubDomains: false }),
        { name: "TypeError", message: /'host' must be a non-empty string/ },
      );
      await assert.rejects(
        store.set({
          host: "x.example",
          expires: "soon" as unknown as number,
          includeSubDomains: false,
        }),
        { name: "TypeError", message: /'expires' must be a time in epoch ms, got "soon"$/ },
      );
      await assert.rejects(store.set(5 as never), {
        name: "TypeError",
        message: "Cannot set HSTS policy: the policy must be an object, got 5",
      });
      await assert.rejects(
        store.set({ host: "x.example", expires: [1] as never, includeSubDomains: false }),
        { name: "TypeError", message: /'expires' must be a time in epoch ms, got an array$/ },
      );
    });
  });

  Deno.test(`${name} remove() tells false for a policy that expired, and deletes it`, async () => {
    const time = testClock();
    await withStore(factory, { clock: time.clock }, async (store) => {
      await store.learn("old.example", "max-age=60");
      await store.learn("live.example", "max-age=600");
      time.advance(60_000);
      // Expired, not swept yet (nothing read it since): there was no policy to remove.
      assert.equal(await store.remove("old.example"), false);
      assert.equal(await store.remove("live.example"), true);
      assert.equal(await store.remove("live.example"), false);
      time.advance(-60_000);
      assert.equal(await store.get("old.example"), undefined, "deleted, not only hidden");
    });
  });

  Deno.test(`${name} refuses host arguments that are not host names, naming them`, async () => {
    const { clock } = testClock();
    await withStore(factory, { clock }, async (store) => {
      const notString = (what: string, value: string) => ({
        name: "TypeError",
        message: `Cannot ${what}: 'host' must be a string, got ${value}`,
      });
      const bad = <T>(value: T) => value as unknown as string;
      await assert.rejects(store.learn(bad(5), "max-age=1"), notString("learn HSTS policy", "5"));
      await assert.rejects(store.isKnownHost(bad(null)), notString("check HSTS host", "null"));
      await assert.rejects(store.get(bad(undefined)), notString("get HSTS policy", "undefined"));
      await assert.rejects(
        store.remove(bad({})),
        notString("remove HSTS policy", "an object"),
      );
      const notHost = (what: string, host: string) => ({
        name: "TypeError",
        message:
          `Cannot ${what}: 'host' must be a host name (no scheme, port, path or spaces), got ${
            JSON.stringify(host)
          }`,
      });
      for (const host of ["example.net:443", "https://a.com/", "a b.com", "bücher.de", ""]) {
        await assert.rejects(store.learn(host, "max-age=100"), notHost("learn HSTS policy", host));
        await assert.rejects(
          store.set({ host, expires: Infinity, includeSubDomains: false }),
          host === ""
            ? { name: "TypeError", message: /'host' must be a non-empty string, got ""/ }
            : notHost("set HSTS policy", host),
        );
      }
      await assert.rejects(
        store.set({ host: "s.com", expires: Infinity, includeSubDomains: bad("yes") as never }),
        {
          name: "TypeError",
          message: `Cannot set HSTS policy: 'includeSubDomains' must be a boolean, got "yes"`,
        },
      );
      assert.deepEqual(await store.all(), [], "nothing stored");
      // What URL.hostname gives is a host name, whatever its case or trailing dot.
      for (const host of ["Example.COM.", "a_b.example", "xn--bcher-kva.de"]) {
        assert.equal(await store.learn(host, "max-age=100"), true, host);
        assert.equal(await store.isKnownHost(host), true, host);
      }
      assert.equal(await store.isKnownHost("example.com"), true);
      assert.equal(await store.isKnownHost("a b.com"), false);
      assert.equal(await store.learn("[::1]", "max-age=100"), false);
    });
  });

  Deno.test(`${name}.learn refuses a header value that is not a string, naming it`, async () => {
    const { clock } = testClock();
    await withStore(factory, { clock }, async (store) => {
      const cases: [unknown, string][] = [
        [5, "5"],
        [null, "null"],
        [undefined, "undefined"],
        [["max-age=100"], "an array"],
        [{ toString: () => "max-age=100" }, "an object"],
      ];
      for (const [value, shown] of cases) {
        for (const host of ["example.com", "127.0.0.1"]) {
          await assert.rejects(store.learn(host, value as string), {
            name: "TypeError",
            message: `Cannot learn HSTS policy: 'headerValue' must be a string, got ${shown}`,
          });
        }
      }
      assert.deepEqual(await store.all(), [], "nothing learned");
      assert.equal(await store.learn("example.com", "max-age=100"), true);
    });
  });

  Deno.test(`${name} preloads hosts that headers do not remove`, async () => {
    const { clock, advance } = testClock();
    const preload = [
      "pinned.example",
      { host: "tree.example", includeSubDomains: true },
      { host: "brief.example", expires: START + 1000 },
    ];
    await withStore(factory, { clock, preload }, async (store) => {
      assert.equal(await store.isKnownHost("pinned.example"), true);
      assert.equal(await store.isKnownHost("www.pinned.example"), false);
      assert.equal(await store.isKnownHost("deep.www.tree.example"), true);
      assert.equal(await store.isKnownHost("brief.example"), true);
      // The header could not remove a preloaded policy: `learn` says so.
      assert.equal(await store.learn("pinned.example", "max-age=0"), false);
      assert.equal(await store.isKnownHost("pinned.example"), true);
      // A host under a preloaded parent has its own policy removed, as asked.
      assert.equal(await store.learn("www.tree.example", "max-age=600"), true);
      assert.equal(await store.learn("www.tree.example", "max-age=0"), true);
      assert.equal(await store.get("www.tree.example"), undefined);
      await store.clear();
      assert.equal(await store.isKnownHost("tree.example"), true);
      assert.deepEqual(await store.get("tree.example"), {
        host: "tree.example",
        expires: Infinity,
        includeSubDomains: true,
      });
      advance(1000);
      assert.equal(await store.isKnownHost("brief.example"), false);
      assert.deepEqual((await store.all()).map((p) => p.host).sort(), [
        "pinned.example",
        "tree.example",
      ]);
    });
  });
}

Deno.test("Stores validate their options", async () => {
  assert.throws(() => new MemoryHstsStore({ clock: 5 as unknown as () => number }), {
    name: "TypeError",
    message: "Cannot create HSTS store: 'clock' must be a function, got 5",
  });
  assert.throws(() => new MemoryHstsStore({ preload: ["127.0.0.1"] }), {
    name: "TypeError",
    message: "Cannot create HSTS store: 'host' must not be an IP address, got \"127.0.0.1\"",
  });
  const stores: [string, (preload: unknown) => unknown][] = [
    ["create", (preload) => new MemoryHstsStore({ preload } as never)],
    ["open", (preload) => KvHstsStore.open({ path: ":memory:", preload } as never)],
  ];
  for (const [verb, open] of stores) {
    const message = (got: string) => ({
      name: "TypeError",
      message: `Cannot ${verb} HSTS store: ${got}`,
    });
    await assert.rejects(
      async () => await open("example.com"),
      message(`'preload' must be an array (or other iterable) of hosts, got "example.com"`),
    );
    await assert.rejects(
      async () => await open([{ host: "a.com", includeSubDomains: "yes" }]),
      message(`'includeSubDomains' must be a boolean, got "yes"`),
    );
    await assert.rejects(
      async () => await open(["example.com:443"]),
      message(
        `'host' must be a host name (no scheme, port, path or spaces), got "example.com:443"`,
      ),
    );
  }
  const fromSet = new MemoryHstsStore({ preload: new Set(["set.example"]) });
  assert.equal(await fromSet.isKnownHost("set.example"), true, "any iterable but a string");
  await assert.rejects(KvHstsStore.open({ prefix: "hsts" as unknown as Deno.KvKey }), {
    name: "TypeError",
    message: `Cannot open HSTS store: 'prefix' must be a non-empty array of key parts, got "hsts"`,
  });
  await assert.rejects(KvHstsStore.open({ prefix: ["h".repeat(513)] }), {
    name: "RangeError",
    message: "Cannot open HSTS store: 'prefix' must be at most 512 bytes, got 513",
  });
  await using kv = await Deno.openKv(":memory:");
  await assert.rejects(KvHstsStore.open({ kv, path: ":memory:" }), {
    name: "TypeError",
    message: /give either 'kv' or 'path'/,
  });
});

Deno.test("upgradeUrl rewrites http URLs of known hosts to https", async (t) => {
  const store = new MemoryHstsStore({
    preload: [{ host: "example.com", includeSubDomains: true }],
  });
  const cases: [string, string | null][] = [
    ["http://example.com/a?b=c#d", "https://example.com/a?b=c#d"],
    ["http://example.com:80/", "https://example.com/"],
    ["http://www.example.com:8080/x", "https://www.example.com:8080/x"],
    ["http://user:pw@example.com/", "https://user:pw@example.com/"],
    ["http://EXAMPLE.com./", "https://example.com./"],
    ["https://example.com/", null],
    ["http://other.org/", null],
    ["ws://example.com/", null],
    ["http://127.0.0.1/", null],
    ["http://[::1]/", null],
  ];
  for (const [input, expected] of cases) {
    await t.step(input, async () => {
      const upgraded = await upgradeUrl(new URL(input), store);
      assert.equal(upgraded?.href ?? null, expected);
    });
  }
  await t.step("a string URL is accepted and the input is not modified", async () => {
    const url = new URL("http://example.com/");
    await upgradeUrl(url, store);
    assert.equal(url.href, "http://example.com/");
    assert.equal(
      (await upgradeUrl("http://example.com:443/", store))?.href,
      "https://example.com/",
    );
  });
});

Deno.test("KvHstsStore keeps policies across restarts of a database file", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/state.sqlite3`;
  try {
    const { clock, advance } = testClock();
    {
      await using store = await KvHstsStore.open({ path, clock });
      await store.learn("example.com", "max-age=3600; includeSubDomains");
    }
    advance(1000);
    {
      await using store = await KvHstsStore.open({ path, clock });
      assert.equal(await store.isKnownHost("api.example.com"), true);
      assert.equal(await store.isKnownHost("example.net"), false);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KvHstsStore leaves a shared database open and is safe to close twice", async () => {
  await using kv = await Deno.openKv(":memory:");
  const store = await KvHstsStore.open({ kv });
  await store.learn("example.com", "max-age=60");
  await store.close();
  await store.close();
  await store[Symbol.asyncDispose]();
  await assert.rejects(store.isKnownHost("example.com"), { message: /it is closed/ });
  // The database is still usable and holds the policy under the default prefix.
  const entry = await kv.get(["netaccess", "hsts", "example.com"]);
  assert.notEqual(entry.value, null);
});

Deno.test("KvHstsStore ignores and removes corrupt values", async () => {
  await using kv = await Deno.openKv(":memory:");
  const { clock } = testClock();
  await using store = await KvHstsStore.open({ kv, clock, prefix: ["p"] });
  await kv.set(["p", "bad.example"], { v: 1, expires: "never" });
  await kv.set(["p", "worse.example"], "garbage");
  await kv.set(["p", "good.example"], { v: 1, expires: START + 5000, includeSubDomains: true });
  assert.equal(await store.isKnownHost("bad.example"), false);
  assert.equal((await kv.get(["p", "bad.example"])).value, null);
  assert.equal(await store.isKnownHost("x.good.example"), true);
  assert.deepEqual(await store.all(), [
    { host: "good.example", expires: START + 5000, includeSubDomains: true },
  ]);
  assert.equal((await kv.get(["p", "worse.example"])).value, null);
});

Deno.test("KvHstsStore misses a policy of a newer format and leaves it in place", async () => {
  await using kv = await Deno.openKv(":memory:");
  const { clock } = testClock();
  await using store = await KvHstsStore.open({ kv, clock, prefix: ["p"] });
  // What a later version sharing the database might write: format byte 3.
  const newer = new Uint8Array([3, 0, 0, 0, 2, 0x7b, 0x7d]);
  await kv.set(["p", "newer.example"], newer);
  assert.equal(await store.isKnownHost("newer.example"), false);
  assert.deepEqual(await store.all(), []);
  assert.deepEqual((await kv.get(["p", "newer.example"])).value, newer);
});

Deno.test("KvHstsStore writes policies as records other runtimes decode, and reads 0.1.0 ones", async () => {
  await using kv = await Deno.openKv(":memory:");
  const { clock } = testClock();
  await using store = await KvHstsStore.open({ kv, clock, prefix: ["p"] });
  await store.learn("example.com", "max-age=60; includeSubDomains");
  const value = (await kv.get(["p", "example.com"])).value;
  assert.ok(value instanceof Uint8Array, "a record is bytes");
  assert.equal(value[0], 2, "format version byte");
  const length = new DataView(value.buffer, value.byteOffset).getUint32(1);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(value.subarray(5, 5 + length))), {
    expires: START + 60_000,
    includeSubDomains: true,
  });
  // What 0.1.0 wrote: a V8-serialised object.
  await kv.set(["p", "old.example"], { v: 1, expires: START + 5000, includeSubDomains: false });
  assert.equal(await store.isKnownHost("old.example"), true);
  assert.equal(await store.isKnownHost("x.old.example"), false);
});

Deno.test("KvHstsStore keeps stores with different prefixes apart", async () => {
  await using kv = await Deno.openKv(":memory:");
  const { clock } = testClock();
  await using one = await KvHstsStore.open({ kv, clock, prefix: ["one"] });
  await using two = await KvHstsStore.open({ kv, clock, prefix: ["two"] });
  await one.learn("example.com", "max-age=60");
  assert.equal(await two.isKnownHost("example.com"), false);
  await two.learn("example.org", "max-age=60");
  await one.clear();
  assert.equal(await one.isKnownHost("example.com"), false);
  assert.equal(await two.isKnownHost("example.org"), true);
});

/**
 * `db` seen through a proxy whose next `method` call, once its read is done, first runs what
 * `afterRead` was last given: another store's write between a read and the write after it.
 */
function interleaved(db: Deno.Kv, method: "get" | "getMany") {
  let then: (() => Promise<unknown>) | undefined;
  const kv = new Proxy(db, {
    get(target, name) {
      const value = Reflect.get(target, name, target);
      if (typeof value !== "function") return value;
      if (name !== method) return value.bind(target);
      return async (...args: unknown[]) => {
        const read = await value.apply(target, args);
        const run = then;
        then = undefined;
        await run?.();
        return read;
      };
    },
  });
  return { kv, afterRead: (run: () => Promise<unknown>) => void (then = run) };
}

/**
 * Two stores over one database (two isolates on one KV) after `a` learnt a policy for
 * example.com that has since expired: `a`'s next `method` call, once its read is done, lets `b`
 * learn a new one for the host before `a` goes on.
 */
async function racingStores(method: "get" | "getMany") {
  const db = await Deno.openKv(":memory:");
  const { clock, advance } = testClock();
  const { kv, afterRead } = interleaved(db, method);
  const a = await KvHstsStore.open({ kv, clock });
  const b = await KvHstsStore.open({ kv: db, clock });
  await a.learn("example.com", "max-age=10");
  advance(20_000);
  afterRead(() => b.learn("example.com", "max-age=600"));
  return {
    db,
    a,
    b,
    clock,
    advance,
    async [Symbol.asyncDispose]() {
      await a[Symbol.asyncDispose]();
      await b[Symbol.asyncDispose]();
      db.close();
    },
  };
}

Deno.test("KvHstsStore: a policy another store learns while this one reads the expired one is kept", async () => {
  await using stores = await racingStores("getMany");
  const { db, a, b, clock, advance } = stores;
  assert.equal(await a.isKnownHost("example.com"), false, "a read the expired policy");
  assert.equal(await b.isKnownHost("example.com"), true, "b's new policy was not removed");
  assert.deepEqual(await b.get("example.com"), {
    host: "example.com",
    expires: clock() + 600_000,
    includeSubDomains: false,
  });
  assert.equal(await a.isKnownHost("example.com"), true);
  // An expired policy no one replaced is removed as before.
  await a.learn("example.org", "max-age=10");
  advance(20_000);
  assert.equal(await a.isKnownHost("example.org"), false);
  assert.equal((await db.get(["netaccess", "hsts", "example.org"])).value, null);
});

Deno.test("KvHstsStore: remove() tells of the policy it removed, not of one another store replaced", async () => {
  await using stores = await racingStores("get");
  const { a, b } = stores;
  assert.equal(await a.remove("example.com"), true, "the live policy b learnt was removed");
  assert.equal(await b.isKnownHost("example.com"), false);
  assert.equal(await a.remove("example.com"), false);
});

Deno.test("KvHstsStore lists and clears its policies again while the database is locked", async (t) => {
  await using db = await Deno.openKv(":memory:");
  const { clock } = testClock();
  const { kv, state } = lockedKv(db, "list", 0);
  await using store = await KvHstsStore.open({ kv, clock });
  await store.set({ host: "a.example", expires: START + 5000, includeSubDomains: false });
  await store.set({ host: "b.example", expires: START + 5000, includeSubDomains: true });
  await t.step("all()", async () => {
    state.failures = 2;
    state.calls = 0;
    const hosts = (await store.all()).map((p) => p.host).sort();
    assert.deepEqual(hosts, ["a.example", "b.example"]);
    assert.equal(state.calls, 3);
  });
  await t.step("clear()", async () => {
    state.failures = 2;
    state.calls = 0;
    await store.clear();
    assert.ok(state.calls >= 3, `${state.calls} listings`);
    assert.equal(state.failures, 0);
    assert.deepEqual(await store.all(), []);
    assert.equal(await store.isKnownHost("a.example"), false);
  });
});

Deno.test("KvHstsStore keeps no policy for a host too long for a KV key, and does not fail", async (t) => {
  // A key is at most 2 KiB: a 2100-character name is past that, a DNS name (253) never is.
  const long = `${"a".repeat(2100)}.com`;
  await t.step("the store's operations", async () => {
    await using store = await KvHstsStore.open({ path: ":memory:", clock: testClock().clock });
    assert.equal(await store.isKnownHost(long), false);
    assert.equal(await store.isKnownHost(`www.${long}`), false);
    assert.equal(await store.learn(long, "max-age=60; includeSubDomains"), false, "not stored");
    assert.equal(await store.learn(long, "max-age=0"), true, "none stored, as asked");
    await store.set({ host: long, expires: START + 5000, includeSubDomains: true });
    assert.equal(await store.remove(long), false);
    assert.deepEqual(await store.all(), []);
    // Other hosts keep working, their parents looked up beside the long one.
    await store.learn("example.com", "max-age=60; includeSubDomains");
    assert.equal(await store.isKnownHost("www.example.com"), true);
  });
  await t.step("what fits depends on the prefix", async () => {
    const label = "b".repeat(63);
    const dns = `${label}.${label}.${label}.${"c".repeat(57)}.com`;
    const mid = `${"m".repeat(1796)}.com`;
    await using kv = await Deno.openKv(":memory:");
    const { clock } = testClock();
    await using short = await KvHstsStore.open({ kv, clock });
    await using longPrefix = await KvHstsStore.open({ kv, clock, prefix: ["p".repeat(500)] });
    for (const store of [short, longPrefix]) await store.learn(dns, "max-age=60");
    assert.equal(await longPrefix.isKnownHost(dns), true, "a DNS name always fits");
    // An 1800-character name fits under the default prefix, not under a 500-byte one.
    assert.equal(await short.learn(mid, "max-age=60"), true);
    assert.equal(await longPrefix.learn(mid, "max-age=60"), false);
    assert.equal(await short.isKnownHost(mid), true);
    assert.equal(await longPrefix.isKnownHost(mid), false);
  });
  await t.step("a request to such a host does not fail because of the store", async () => {
    await using store = await KvHstsStore.open({ path: ":memory:" });
    await using manager = new NetworkAccessManager({
      hstsStore: store,
      transport: () =>
        Promise.resolve(
          new Response("ok", { headers: { "strict-transport-security": "max-age=60" } }),
        ),
    });
    const reply = manager.get(`https://${long}/`);
    assert.equal(await reply.text(), "ok");
    assert.equal(reply.error, NetworkError.NoError, reply.errorString);
    const plain = manager.get(`http://${long}/`);
    assert.equal(await plain.text(), "ok");
    assert.equal(plain.url.protocol, "http:");
  });
});

Deno.test("KvHstsStore.open refuses a prefix nesting with another store's on the same Deno.Kv, and shares one prefix as before", async () => {
  const nested = "so clearing one store would remove the other's entries; give each store a " +
    "prefix that does not start with another's";
  await using kv = await Deno.openKv(":memory:");
  const { clock } = testClock();
  {
    await using _cache = await KvCache.open({ kv, prefix: ["netaccess"] });
    await assert.rejects(KvHstsStore.open({ kv, clock }), {
      name: "RangeError",
      message:
        `Cannot open HSTS store: its prefix [ "netaccess", "hsts" ] starts with the prefix ` +
        `[ "netaccess" ] of a cache open on the same Deno.Kv, ${nested}`,
    });
  }
  await using store = await KvHstsStore.open({ kv, clock });
  await using same = await KvHstsStore.open({ kv, clock });
  await store.learn("example.com", "max-age=60");
  assert.equal(await same.isKnownHost("example.com"), true, "one prefix, one set of policies");
  await assert.rejects(KvCache.open({ kv, prefix: ["netaccess", "hsts"] }), {
    name: "RangeError",
    message: `Cannot open cache: its prefix [ "netaccess", "hsts" ] is the prefix ` +
      `[ "netaccess", "hsts" ] of an HSTS store open on the same Deno.Kv, ${nested}`,
  });
  await assert.rejects(KvHstsStore.open({ kv, clock, prefix: ["netaccess"] }), {
    name: "RangeError",
    message: `Cannot open HSTS store: the prefix [ "netaccess", "hsts" ] of an HSTS store open ` +
      `on the same Deno.Kv starts with its prefix [ "netaccess" ], ${nested}`,
  });
  assert.equal(await store.isKnownHost("example.com"), true, "the refused stores removed nothing");
});
