import assert from "node:assert/strict";
import { KvCookieJar } from "../../src/cookies/kv_cookie_jar.ts";
import { cookieHeader } from "../../src/cookies/network_cookie.ts";
import { NetworkAccessManager } from "../../src/manager.ts";
import { countedKv, killAfter, spawnScript } from "../_helpers/kv_spy.ts";
import { encodeRecord } from "../../src/_kv_record.ts";

const START = Date.UTC(2026, 0, 1);
const P = ["netaccess", "cookies"];
const WORKER = new URL("../_helpers/cookie_worker.ts", import.meta.url).pathname;

function worker(...args: string[]): Deno.ChildProcess {
  return spawnScript(WORKER, ...args);
}

async function run(...args: string[]): Promise<string> {
  const { code, stdout, stderr } = await worker(...args).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return new TextDecoder().decode(stdout).trim();
}

async function tempDb(): Promise<{ path: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir();
  return {
    path: `${dir}/cookies.sqlite3`,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

function decodeBundle(
  value: unknown,
): { tag: string; parts?: number; cookies: { name: string }[] } {
  assert.ok(value instanceof Uint8Array, "bundles are bytes");
  assert.equal(value[0], 2, "format version byte");
  const length = new DataView(value.buffer, value.byteOffset).getUint32(1);
  assert.equal(value.length, 5 + length, "nothing after the JSON");
  return JSON.parse(new TextDecoder().decode(value.subarray(5)));
}

Deno.test("KvCookieJar reads a lookup's domains in one getMany and writes nothing within a minute", async () => {
  await using base = await Deno.openKv(":memory:");
  const { kv, ops } = countedKv(base);
  let now = START;
  await using jar = await KvCookieJar.open({ kv, clock: () => now });
  await jar.setCookiesFromUrl(["a=1", "b=2; Domain=example.com"], "https://www.example.com/");
  ops.reads = ops.writes = 0;
  assert.equal(cookieHeader(await jar.cookiesForUrl("https://www.example.com/")), "a=1; b=2");
  assert.deepEqual(ops, { reads: 1, writes: 0 });
  assert.equal(cookieHeader(await jar.cookiesForUrl("https://other.example/")), null);
  assert.deepEqual(ops, { reads: 2, writes: 0 }, "an empty answer is one read too");
  now += 61_000;
  await jar.cookiesForUrl("https://www.example.com/");
  assert.ok(ops.writes > 0, "a last access older than a minute is written");
  const bundle = decodeBundle(
    (await base.get([...P, "d", "example.com", "www.example.com"])).value,
  );
  assert.deepEqual(bundle.cookies.map((c) => c.name), ["a"]);
});

Deno.test("KvCookieJar bundles: one domain's cookies over the KV value limit span parts, all read", async () => {
  await using kv = await Deno.openKv(":memory:");
  await using jar = await KvCookieJar.open({ kv, clock: () => START });
  const url = "https://big.example/";
  const value = (i: number) => `${i}`.padEnd(4000, "x");
  for (let i = 0; i < 40; i++) {
    assert.equal(await jar.setCookiesFromUrl([`c${i}=${value(i)}`], url), 1);
  }
  const key = [...P, "d", "big.example", "big.example"];
  const head = decodeBundle((await kv.get(key)).value);
  assert.ok(head.parts! >= 3, `${head.parts} parts`);
  const values = [
    (await kv.get<Uint8Array>(key)) as Deno.KvEntry<Uint8Array>,
    ...await Array.fromAsync(kv.list<Uint8Array>({ prefix: key })),
  ];
  assert.equal(values.length, head.parts);
  for (const item of values) {
    assert.ok(item.value.length <= 65536, `a part of ${item.value.length} bytes`);
    assert.equal(decodeBundle(item.value).tag, head.tag);
  }
  const cookies = await jar.cookiesForUrl(url);
  assert.equal(cookies.length, 40);
  assert.deepEqual(cookies.map((c) => c.value), Array.from({ length: 40 }, (_, i) => value(i)));
  for (let i = 0; i < 35; i++) await jar.deleteCookie({ name: `c${i}`, domain: "big.example" });
  assert.equal(decodeBundle((await kv.get(key)).value).parts, 1, "shrinks back to one part");
  assert.equal((await Array.fromAsync(kv.list({ prefix: key }))).length, 0, "no part left over");
  assert.equal((await jar.cookiesForUrl(url)).length, 5);
  const total = await kv.get<Deno.KvU64>([...P, "count"]);
  assert.equal(total.value?.value, 5n);
});

Deno.test("KvCookieJar: a domain's cookies beyond one atomic write keep being stored, least recently used out", async () => {
  await using kv = await Deno.openKv(":memory:");
  let now = START;
  await using jar = await KvCookieJar.open({ kv, clock: () => now });
  // Within the per-site limit (180), but 100 such cookies are more than one atomic write
  // (800 KiB) holds: quotes take two bytes each in the bundle's JSON.
  const path = `/${"p".repeat(1000)}`;
  const url = `https://big.example${path}`;
  const line = (i: number) => `c${i}="${`${i}`.padEnd(4000, '"')}; Path=${path}`;
  for (let i = 0; i < 100; i++) {
    now += 1000;
    assert.equal(await jar.setCookiesFromUrl([line(i)], url), 1, `cookie ${i}`);
  }
  const names = (await jar.cookiesForUrl(url)).map((c) => c.name);
  assert.ok(names.length >= 60 && names.length < 100, `${names.length} cookies kept`);
  assert.deepEqual(
    names,
    Array.from({ length: names.length }, (_, i) => `c${100 - names.length + i}`),
    "the newest cookies are kept",
  );
  const total = await kv.get<Deno.KvU64>([...P, "count"]);
  assert.equal(total.value?.value, BigInt(names.length), "the count follows");
  const key = [...P, "d", "big.example", "big.example"];
  assert.ok(decodeBundle((await kv.get(key)).value).parts! <= 27);
});

Deno.test("KvCookieJar: two processes see each other's new cookies on their next lookup", async () => {
  await using db = await tempDb();
  await using jar = await KvCookieJar.open({ path: db.path });
  const url = "https://shared.example/";
  assert.equal(await jar.setCookiesFromUrl(["mine=1"], url), 1);
  assert.equal(await run("get", db.path, url), "mine=1");
  assert.equal(await run("set", db.path, url, "theirs=2; Max-Age=600"), "1");
  assert.equal(cookieHeader(await jar.cookiesForUrl(url)), "mine=1; theirs=2");
});

Deno.test("KvCookieJar keeps its bundles whole when a writer is killed in the middle of writing", async () => {
  await using db = await tempDb();
  const url = "https://killed.example/";
  const { status } = await killAfter(worker("fill", db.path, url, "3000"), "ready", 300);
  assert.equal(status.signal, "SIGKILL");

  await using jar = await KvCookieJar.open({ path: db.path });
  const cookies = await jar.cookiesForUrl(url);
  assert.ok(cookies.length >= 1, `${cookies.length} cookies`);
  assert.ok(cookies.every((c) => c.value.endsWith("v".repeat(3000))));
  assert.equal((await jar.allCookies()).length, cookies.length);
  await using kv = await Deno.openKv(db.path);
  const total = await kv.get<Deno.KvU64>([...P, "count"]);
  assert.equal(total.value?.value, BigInt(cookies.length), "the count matches the bundle");
  assert.equal(await jar.setCookiesFromUrl(["after=1"], url), 1);
  assert.equal((await jar.cookiesForUrl(url)).length, cookies.length + 1);
});

Deno.test("KvCookieJar moves cookies stored by version 0.1.0 into bundles when opened", async () => {
  await using kv = await Deno.openKv(":memory:");
  const cookie = (name: string, domain: string, path: string, seq: number) => ({
    name,
    value: `v-${name}`,
    domain,
    path,
    expires: null,
    secure: false,
    httpOnly: false,
    hostOnly: false,
    creationTime: START + seq,
    lastAccessTime: START + seq,
    seq,
  });
  // What 0.1.0 wrote: one V8-serialised record per cookie, and the counts.
  await kv.atomic()
    .set([...P, "c", "example.com", "example.com", "/", "a"], cookie("a", "example.com", "/", 1))
    .set([...P, "c", "example.com", "www.example.com", "/app", "b"], {
      ...cookie("b", "www.example.com", "/app", 2),
      hostOnly: true,
    })
    .set([...P, "c", "other.org", "other.org", "/", "c"], cookie("c", "other.org", "/", 3))
    .set([...P, "c", "other.org", "other.org", "/", "junk"], "not a cookie")
    .set([...P, "n", "example.com"], new Deno.KvU64(2n))
    .set([...P, "n", "other.org"], new Deno.KvU64(2n))
    .set([...P, "count"], new Deno.KvU64(4n))
    .commit();
  await using jar = await KvCookieJar.open({ kv, clock: () => START + 10 });
  assert.equal(
    cookieHeader(await jar.cookiesForUrl("https://www.example.com/app")),
    "b=v-b; a=v-a",
  );
  assert.equal(cookieHeader(await jar.cookiesForUrl("https://other.org/")), "c=v-c");
  assert.deepEqual(await Array.fromAsync(kv.list({ prefix: [...P, "c"] })), [], "moved, not lost");
  assert.equal((await kv.get<Deno.KvU64>([...P, "count"])).value?.value, 3n);
  assert.equal((await kv.get<Deno.KvU64>([...P, "n", "example.com"])).value?.value, 2n);
  assert.equal((await kv.get<Deno.KvU64>([...P, "n", "other.org"])).value?.value, 1n);
});

Deno.test("KvCookieJar: a corrupt count under its keys fails no reply", async () => {
  await using kv = await Deno.openKv(":memory:");
  await using jar = await KvCookieJar.open({ kv });
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) =>
      new Response(request.headers.get("cookie") ?? "", {
        headers: { "set-cookie": `n=${Date.now()}; Max-Age=60` },
      }),
  );
  await using manager = new NetworkAccessManager({ cookieJar: jar });
  const url = `http://127.0.0.1:${server.addr.port}/`;
  await kv.set([...P, "count"], "garbage");
  await kv.set([...P, "n", "127.0.0.1"], { not: "a count" });
  const first = manager.get(url);
  assert.equal(await first.text(), "");
  assert.equal(first.status, 200);
  const second = manager.get(url);
  assert.match(await second.text(), /^n=\d+$/);
  assert.equal((await kv.get<Deno.KvU64>([...P, "count"])).value?.value, 1n);
});

Deno.test("Cookie jars reject cookie values with CR, LF or ';', and other invalid fields, with a clear error", async (t) => {
  for (const open of [() => KvCookieJar.open({ path: ":memory:" })]) {
    await using jar = await open();
    const base = { name: "a", value: "1", domain: "example.com" };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ value: "x\r\nSet-Cookie: evil=1" }, /'value' must be free of control characters/],
      [{ value: "x\ny" }, /'value' must be free of control characters/],
      [
        { value: "x; Secure" },
        /'value' must be free of control characters \(CR, LF and others; tab aside\), ';'/,
      ],
      [{ name: "a=b" }, /'name' must be free of/],
      [{ name: "a\x01b" }, /'name' must be free of control characters/],
      [{ path: "/a;b" }, /'path' must be a string starting with '\/'/],
      [{ domain: "exa mple.com" }, /'domain' must be a host name/],
    ];
    for (const [change, message] of cases) {
      await t.step(JSON.stringify(change), async () => {
        await assert.rejects(jar.insertCookie({ ...base, ...change } as never), {
          name: "TypeError",
          message,
        });
      });
    }
    await assert.rejects(jar.insertCookie({ ...base, value: "x".repeat(5000) }), {
      name: "RangeError",
      message: /'name' and 'value' must be at most 4096 bytes together, got 5001/,
    });
    assert.deepEqual(await jar.allCookies(), []);
    assert.equal(await jar.insertCookie({ ...base, value: "fine\tvalue" }), true);
  }
});

/** Overwrites the first part of `key`'s bundle with a record that claims `parts` parts. */
async function claimParts(kv: Deno.Kv, key: Deno.KvKey, parts: number): Promise<void> {
  await kv.set(key, encodeRecord({ tag: "t", parts, cookies: [] }));
}

Deno.test("KvCookieJar removes a bundle whose parts are missing, not its own or too many, and the site works at once", async (t) => {
  const key = [...P, "d", "example.com", "www.example.com"];
  const url = "https://www.example.com/";
  const cases: [string, (kv: Deno.Kv) => Promise<void>][] = [
    ["a second part that does not exist", (kv) => claimParts(kv, key, 2)],
    ["a second part of another write", async (kv) => {
      await claimParts(kv, key, 2);
      await kv.set([...key, 1], encodeRecord({ tag: "other", cookies: [] }));
    }],
    ["a second part that does not decode", async (kv) => {
      await claimParts(kv, key, 2);
      await kv.set([...key, 1], "garbage");
    }],
    ["more parts than one atomic write can hold", (kv) => claimParts(kv, key, 28)],
    ["a billion parts", (kv) => claimParts(kv, key, 1e9)],
  ];
  for (const [name, corrupt] of cases) {
    await t.step(name, async () => {
      await using kv = await Deno.openKv(":memory:");
      await using jar = await KvCookieJar.open({ kv, clock: () => START });
      await jar.setCookiesFromUrl(["a=1"], url);
      await corrupt(kv);
      assert.deepEqual(await jar.cookiesForUrl(url), [], "a miss");
      assert.equal((await kv.get(key)).versionstamp, null, "the first part is removed");
      assert.equal((await kv.get([...key, 1])).versionstamp, null, "so is the second");
      assert.equal(await jar.setCookiesFromUrl(["b=2"], url), 1);
      assert.equal(cookieHeader(await jar.cookiesForUrl(url)), "b=2");
      await corrupt(kv);
      assert.deepEqual(await jar.allCookies(), []);
      await corrupt(kv);
      assert.equal(
        await jar.insertCookie({ name: "c", value: "3", domain: "www.example.com" }),
        true,
      );
      await corrupt(kv);
      assert.equal(await jar.deleteCookie({ name: "c", domain: "www.example.com" }), false);
      assert.equal(await jar.setCookiesFromUrl(["d=4"], url), 1);
      assert.deepEqual((await jar.allCookies()).map((c) => c.name), ["d"]);
    });
  }
});

Deno.test("KvCookieJar: a bundle that claims parts it does not have fails no reply, and the next Set-Cookie is sent", async (t) => {
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) =>
      new Response(request.headers.get("cookie") ?? "", {
        headers: { "set-cookie": "n=new; Max-Age=60" },
      }),
  );
  const url = `http://127.0.0.1:${server.addr.port}/`;
  const key = [...P, "d", "127.0.0.1", "127.0.0.1"];
  for (const parts of [2, 1e9]) {
    await t.step(`parts ${parts}`, async () => {
      await using kv = await Deno.openKv(":memory:");
      await using jar = await KvCookieJar.open({ kv });
      await using manager = new NetworkAccessManager({ cookieJar: jar });
      await jar.setCookiesFromUrl(["old=1"], url);
      await claimParts(kv, key, parts);
      const first = manager.get(url);
      assert.equal(await first.text(), "");
      assert.equal(first.error, 0, first.errorString);
      const second = manager.get(url);
      assert.equal(await second.text(), "n=new");
      assert.equal(second.error, 0, second.errorString);
    });
  }
});

Deno.test("KvCookieJar misses a bundle of a newer format and never removes or rewrites it", async () => {
  await using db = await tempDb();
  await using jar = await KvCookieJar.open({
    path: db.path,
    clock: () => START,
    maxCookiesPerDomain: 2,
  });
  const url = "https://example.com/";
  const key = [...P, "d", "example.com", "example.com"];
  // What a later version sharing the database might write: format byte 3.
  const newer = encodeRecord({ tag: "t", parts: 1, cookies: [{ name: "n", value: "v" }] });
  newer[0] = 3;
  await using kv = await Deno.openKv(db.path);
  await kv.set(key, newer);
  const { versionstamp } = await kv.get(key);

  assert.deepEqual(await jar.cookiesForUrl(url), [], "a miss");
  assert.deepEqual(await jar.allCookies(), []);
  // Cookies of the same domain, host-only and with a Domain attribute, are not stored in it.
  await jar.setCookiesFromUrl(["a=1", "b=2; Domain=example.com"], url);
  assert.equal(await jar.insertCookie({ name: "c", value: "3", domain: "example.com" }), false);
  await jar.deleteCookie({ name: "n", domain: "example.com" });
  await jar.setCookiesFromUrl(["x=1; Max-Age=0"], url);
  assert.deepEqual(await jar.cookiesForUrl(url), []);
  // Another domain of the site, and its eviction and recount, leave it too.
  await jar.setCookiesFromUrl(["w=1", "v=2", "u=3"], "https://www.example.com/");
  assert.equal(cookieHeader(await jar.cookiesForUrl("https://www.example.com/")), "v=2; u=3");
  const after = await kv.get<Uint8Array>(key);
  assert.equal(after.versionstamp, versionstamp, "left as the later version wrote it");
  assert.deepEqual(after.value, newer);
});

Deno.test("KvCookieJar counts no cookie a bundle of a newer format kept out", async () => {
  await using db = await tempDb();
  await using jar = await KvCookieJar.open({ path: db.path, clock: () => START });
  const newer = encodeRecord({ tag: "t", parts: 1, cookies: [] });
  newer[0] = 3;
  await using kv = await Deno.openKv(db.path);
  await kv.set([...P, "d", "example.com", "example.com"], newer);
  const url = "https://example.com/";
  assert.equal(await jar.setCookiesFromUrl(["a=1", "b=2; Domain=example.com"], url), 0);
  assert.equal(await jar.setCookiesFromUrl(["a=1"], url), 0, "a second time too (an update)");
  assert.equal(
    await jar.updateCookie({ name: "a", value: "2", domain: "example.com" }),
    false,
    "nothing to update",
  );
  // The same lines to a domain of the site in this format are stored and counted.
  assert.equal(await jar.setCookiesFromUrl(["a=1", "c=3"], "https://www.example.com/"), 2);
  assert.equal(cookieHeader(await jar.cookiesForUrl("https://www.example.com/")), "a=1; c=3");
  assert.deepEqual(await jar.cookiesForUrl(url), []);
});
