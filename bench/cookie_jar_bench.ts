/**
 * Cookie lookups, each group's ratios from one run:
 * - `cookiesForUrl` on a jar of 10,000 cookies over 1,000 domains (10 match each lookup):
 *   `MemoryCookieJar` and `KvCookieJar` against tough-cookie's own `MemoryCookieStore` (the
 *   baseline). The `KvCookieJar` opened on the SQLite file by `path` sees other processes'
 *   writes from SQLite's wal-index header and reads KV only after a write; the same file
 *   passed as `kv` reads KV on every lookup. The floors of a KV read: a bare `kv.get` of one
 *   small key and the bare `kv.getMany` of the host's bundles;
 * - `KvCookieJar` on a host without cookies, both ways, against the bare `kv.getMany` of its
 *   (absent) bundles;
 * - a manager GET over loopback whose host has 20 cookies, with each jar, against the same GET
 *   with no jar (the baseline).
 *
 * Run: `npx --yes deno@2.9.6 bench -A bench/cookie_jar_bench.ts`
 */
import { CookieJar as ToughCookieJar, MemoryCookieStore } from "tough-cookie";
import { KvCookieJar, MemoryCookieJar, NetworkAccessManager } from "../mod.ts";
import { PER_SITE, siteCookies, SITES, stillClock } from "./_cookie_sites.ts";

const DOMAINS = SITES;
const PER_DOMAIN = PER_SITE;

const file = await Deno.makeTempFile({ suffix: ".sqlite3" });
// A host whose cookies were last sent over a minute ago costs one write, whatever the jar: the
// clock stands still so every lookup meets the steady state.
const limits = { maxCookies: 20_000, clock: stillClock() };
const memory = new MemoryCookieJar(limits);
const kv = await KvCookieJar.open({ path: file, ...limits });
const tough = new ToughCookieJar(new MemoryCookieStore());
// The same file opened again, for the bare reads, and for a jar on a database passed in.
const db = await Deno.openKv(file);
const passed = await KvCookieJar.open({ kv: db, ...limits });
const BUNDLES = ["netaccess", "cookies", "d"];
for (let d = 0; d < DOMAINS; d++) {
  const url = `https://www.site${d}.com/`;
  const lines = siteCookies(d);
  await memory.setCookiesFromUrl(lines, url);
  await kv.setCookiesFromUrl(lines, url);
  for (const line of lines) await tough.setCookie(line, url);
}
for (
  const [name, count] of [
    ["memory", (await memory.allCookies()).length],
    ["kv", (await kv.allCookies()).length],
    ["tough", (await tough.store.getAllCookies()).length],
  ] as const
) {
  if (count !== DOMAINS * PER_DOMAIN) throw new Error(`${name} jar holds ${count} cookies`);
}

await db.set(["bench", "small"], 1);
// One lookup per domain first: the steady state, where last-access times are recent and a
// lookup writes nothing.
for (let d = 0; d < DOMAINS; d++) {
  await memory.cookiesForUrl(`https://www.site${d}.com/app/api/items`);
  await kv.cookiesForUrl(`https://www.site${d}.com/app/api/items`);
  await kv.cookiesForUrl(`https://www.nosite${d}.com/`);
  await passed.cookiesForUrl(`https://www.site${d}.com/app/api/items`);
}

let i = 0;
const nextUrl = () => `https://www.site${(i++ * 7919) % DOMAINS}.com/app/api/items`;
const lookups = "cookiesForUrl, 10,000 cookies over 1,000 domains";

Deno.bench(
  "tough-cookie MemoryCookieStore getCookies",
  { group: lookups, baseline: true },
  async () => {
    const cookies = await tough.getCookies(nextUrl());
    if (cookies.length !== PER_DOMAIN) throw new Error("wrong cookies");
  },
);
Deno.bench("MemoryCookieJar cookiesForUrl", { group: lookups }, async () => {
  const cookies = await memory.cookiesForUrl(nextUrl());
  if (cookies.length !== PER_DOMAIN) throw new Error("wrong cookies");
});
Deno.bench("KvCookieJar cookiesForUrl (opened by path)", { group: lookups }, async () => {
  const cookies = await kv.cookiesForUrl(nextUrl());
  if (cookies.length !== PER_DOMAIN) throw new Error("wrong cookies");
});
Deno.bench("KvCookieJar cookiesForUrl (database passed as kv)", { group: lookups }, async () => {
  const cookies = await passed.cookiesForUrl(nextUrl());
  if (cookies.length !== PER_DOMAIN) throw new Error("wrong cookies");
});
Deno.bench("bare kv.get of one small key (a KV read's floor)", { group: lookups }, async () => {
  if ((await db.get(["bench", "small"])).versionstamp === null) throw new Error("no key");
});
Deno.bench("bare kv.getMany of the host's bundles (the KV floor)", { group: lookups }, async () => {
  const d = (i++ * 7919) % DOMAINS;
  const site = `site${d}.com`;
  const found = await db.getMany([[...BUNDLES, site, `www.${site}`], [...BUNDLES, site, site]]);
  if (found.every((entry) => entry.versionstamp === null)) throw new Error("no bundles");
});

// A lookup for a host the jar holds no cookies for, against the bare read it cannot skip.
const empty = "cookiesForUrl, a host without cookies";
Deno.bench("bare kv.getMany of the host's (absent) bundles", {
  group: empty,
  baseline: true,
}, async () => {
  const site = `nosite${(i++ * 7919) % DOMAINS}.com`;
  await db.getMany([[...BUNDLES, site, `www.${site}`], [...BUNDLES, site, site]]);
});
Deno.bench("KvCookieJar cookiesForUrl, host without cookies (opened by path)", {
  group: empty,
}, async () => {
  const cookies = await kv.cookiesForUrl(`https://www.nosite${(i++ * 7919) % DOMAINS}.com/`);
  if (cookies.length !== 0) throw new Error("cookies for a host without any");
});
Deno.bench("KvCookieJar cookiesForUrl, host without cookies (passed as kv)", {
  group: empty,
}, async () => {
  const cookies = await passed.cookiesForUrl(`https://www.nosite${(i++ * 7919) % DOMAINS}.com/`);
  if (cookies.length !== 0) throw new Error("cookies for a host without any");
});

// A GET whose host has 20 cookies.
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
  return new Response(String(request.headers.get("cookie")?.length ?? 0));
});
const url = `http://127.0.0.1:${server.addr.port}/`;
const twenty = Array.from({ length: 20 }, (_, n) => `k${n}=value-${n}; Max-Age=86400`);
const getFile = await Deno.makeTempFile({ suffix: ".sqlite3" });
const memoryJar = new MemoryCookieJar({ clock: limits.clock });
const kvJar = await KvCookieJar.open({ path: getFile, clock: limits.clock });
await memoryJar.setCookiesFromUrl(twenty, url);
await kvJar.setCookiesFromUrl(twenty, url);
const noJar = new NetworkAccessManager({ cookieJar: null });
const withMemory = new NetworkAccessManager({ cookieJar: memoryJar });
const withKv = new NetworkAccessManager({ cookieJar: kvJar });
const expected = await withMemory.get(url).text();
if (expected === "0" || expected !== await withKv.get(url).text()) {
  throw new Error("both jars must send the 20 cookies");
}
const get20 = "GET with 20 cookies for the host";
Deno.bench("manager GET, no cookie jar", { group: get20, baseline: true }, async () => {
  await noJar.get(url).text();
});
Deno.bench("manager GET, MemoryCookieJar", { group: get20 }, async () => {
  await withMemory.get(url).text();
});
Deno.bench("manager GET, KvCookieJar", { group: get20 }, async () => {
  await withKv.get(url).text();
});

globalThis.addEventListener("unload", () => {
  noJar.close();
  withMemory.close();
  withKv.close();
  kv.close();
  passed.close();
  db.close();
  kvJar.close();
  server.shutdown();
  Deno.removeSync(file);
  Deno.removeSync(getFile);
});
