/**
 * The stores' figures measured side by side, in alternating rounds in one process (the median
 * ratio of the rounds; above 1, the store's path is faster than its baseline), so that a
 * shared machine's load moves both sides alike:
 *
 * - `cache`: a manager + `KvCache` hit of 1 KiB against Deno's Cache API (`caches.match()` and
 *   the body) and against the bare `kv.getMany` of the entry's record, and a 1 MiB hit against
 *   a loopback `fetch` of the same body, for a cache opened by `path` and one on the same file
 *   passed as `kv`; a manager + `MemoryCache` hit of 1 KiB against the Cache API;
 * - `cookie-get`: a manager GET whose host has 20 cookies, with a `MemoryCookieJar` and a
 *   `KvCookieJar` opened by `path`, against the same GET with no jar (run before the lookups
 *   below fill the process with 10,000 cookies);
 * - `cookies`: `cookiesForUrl` on a jar of 10,000 cookies over 1,000 domains (10 match each
 *   lookup) against tough-cookie's own `MemoryCookieStore`, for `MemoryCookieJar`, a
 *   `KvCookieJar` opened by `path` and one on a database passed as `kv`, and the floor of the
 *   latter: one bare `kv.get` on the same database against the same baseline.
 *
 * KV stores are SQLite files. Run:
 * `npx --yes deno@2.9.6 run -A bench/stores_report.ts [rounds] [--only=cache,cookie-get,cookies]`
 * (default 9 rounds).
 *
 * @module
 */

import { CookieJar as ToughCookieJar, MemoryCookieStore } from "tough-cookie";
import {
  KvCache,
  KvCookieJar,
  MemoryCache,
  MemoryCookieJar,
  NetworkAccessManager,
} from "../mod.ts";
import { pair } from "./_rounds.ts";
import { PER_SITE, siteCookies, SITES, stillClock } from "./_cookie_sites.ts";

const rounds = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 9);
const only = Deno.args.find((a) => a.startsWith("--only="))?.slice(7).split(",");
const wanted = (name: string) => only === undefined || only.includes(name);

if (wanted("cache")) {
  const bodies = { kib: new Uint8Array(1024).fill(1), mib: new Uint8Array(1024 * 1024).fill(2) };
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const body = new URL(request.url).pathname === "/mib" ? bodies.mib : bodies.kib;
    return new Response(body, { headers: { "cache-control": "max-age=86400" } });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  const file = await Deno.makeTempFile({ suffix: ".sqlite3" });
  const maxSize = 64 * 1024 * 1024;
  // Opened by path (it sees from the file whether anything was written since a read), and the
  // same file opened by the application and passed as `kv` (every hit reads KV).
  const kvCache = await KvCache.open({ path: file, maxSize });
  const db = await Deno.openKv(file);
  const passedCache = await KvCache.open({ kv: db, maxSize });
  const kv = new NetworkAccessManager({ cookieJar: null, cache: kvCache });
  const passed = new NetworkAccessManager({ cookieJar: null, cache: passedCache });
  const memory = new NetworkAccessManager({ cookieJar: null, cache: new MemoryCache() });
  const webCache = await caches.open("netaccess-stores-report");
  try {
    for (const path of ["/kib", "/mib"]) {
      for (const manager of [kv, passed, memory]) {
        await manager.get(base + path).bytes();
        const hit = manager.get(base + path);
        await hit.bytes();
        if (!hit.fromCache) throw new Error(`${path} must be a cache hit`);
      }
      await webCache.put(base + path, await fetch(base + path));
    }
    const kib = base + "/kib";
    const mib = base + "/mib";
    const record = ["netaccess", "cache", "e", kib, ""];
    const options = { n: 200, rounds };
    const bareRead = async () => {
      const [entry] = await db.getMany([record]);
      if (entry?.versionstamp === null) throw new Error("no record");
    };
    for (const [how, manager] of [["opened by path", kv], ["passed as kv", passed]] as const) {
      await pair(
        `manager + KvCache (${how}) hit 1 KiB against caches.match() + body`,
        options,
        async () => await (await webCache.match(kib))!.bytes(),
        async () => await manager.get(kib).bytes(),
      );
      await pair(
        `manager + KvCache (${how}) hit 1 KiB against a bare kv.getMany of its record`,
        options,
        bareRead,
        async () => await manager.get(kib).bytes(),
      );
      await pair(
        `manager + KvCache (${how}) hit 1 MiB against a loopback fetch`,
        { n: 20, rounds },
        async () => await (await fetch(mib)).bytes(),
        async () => await manager.get(mib).bytes(),
      );
    }
    await pair(
      "manager + MemoryCache hit 1 KiB against caches.match() + body",
      options,
      async () => await (await webCache.match(kib))!.bytes(),
      async () => await memory.get(kib).bytes(),
    );
  } finally {
    await kv.close();
    await passed.close();
    await memory.close();
    await kvCache.close();
    await passedCache.close();
    db.close();
    await caches.delete("netaccess-stores-report");
    await Deno.remove(file);
  }
}

if (wanted("cookie-get")) {
  // First, in a process that holds nothing else: a jar of 20 cookies, as the GET has.
  const clock = () => Date.now();
  const get = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => new Response(String(request.headers.get("cookie")?.length ?? 0)),
  );
  const getFile = await Deno.makeTempFile({ suffix: ".sqlite3" });
  const kvJar = await KvCookieJar.open({ path: getFile, clock });
  const memoryJar = new MemoryCookieJar({ clock });
  const noJar = new NetworkAccessManager({ cookieJar: null });
  const withMemory = new NetworkAccessManager({ cookieJar: memoryJar });
  const withKv = new NetworkAccessManager({ cookieJar: kvJar });
  try {
    const url = `http://127.0.0.1:${get.addr.port}/`;
    const twenty = Array.from({ length: 20 }, (_, n) => `k${n}=value-${n}; Max-Age=86400`);
    await memoryJar.setCookiesFromUrl(twenty, url);
    await kvJar.setCookiesFromUrl(twenty, url);
    const sent = await withMemory.get(url).text();
    if (sent === "0" || sent !== await withKv.get(url).text()) {
      throw new Error("both jars must send the 20 cookies");
    }
    const viaNoJar = async () => await noJar.get(url).text();
    await pair(
      "GET with 20 cookies for the host, MemoryCookieJar against no jar",
      { n: 300, rounds },
      viaNoJar,
      async () => await withMemory.get(url).text(),
    );
    await pair(
      "GET with 20 cookies for the host, KvCookieJar against no jar",
      { n: 300, rounds },
      viaNoJar,
      async () => await withKv.get(url).text(),
    );
  } finally {
    await noJar.close();
    await withMemory.close();
    await withKv.close();
    await kvJar.close();
    await get.shutdown();
    await Deno.remove(getFile);
  }
}

if (wanted("cookies")) {
  const DOMAINS = SITES;
  const limits = { maxCookies: 20_000, clock: stillClock() };
  const file = await Deno.makeTempFile({ suffix: ".sqlite3" });
  const memory = new MemoryCookieJar(limits);
  const byPath = await KvCookieJar.open({ path: file, ...limits });
  const db = await Deno.openKv(file);
  const passed = await KvCookieJar.open({ kv: db, ...limits });
  const tough = new ToughCookieJar(new MemoryCookieStore());
  try {
    for (let d = 0; d < DOMAINS; d++) {
      const url = `https://www.site${d}.com/`;
      const lines = siteCookies(d);
      await memory.setCookiesFromUrl(lines, url);
      await byPath.setCookiesFromUrl(lines, url);
      for (const line of lines) await tough.setCookie(line, url);
    }
    let i = 0;
    const next = () => `https://www.site${(i++ * 7919) % DOMAINS}.com/app/api/items`;
    const check = (cookies: readonly unknown[]) => {
      if (cookies.length !== PER_SITE) {
        throw new Error(`${cookies.length} cookies, not ${PER_SITE}`);
      }
    };
    const options = { n: 1000, rounds };
    const viaTough = async () => check(await tough.getCookies(next()));
    await pair(
      "MemoryCookieJar lookup against tough-cookie's MemoryCookieStore",
      options,
      viaTough,
      async () => check(await memory.cookiesForUrl(next())),
    );
    await pair(
      "KvCookieJar (opened by path) lookup against tough-cookie's MemoryCookieStore",
      options,
      viaTough,
      async () => check(await byPath.cookiesForUrl(next())),
    );
    await pair(
      "KvCookieJar (database passed as kv) lookup against tough-cookie's MemoryCookieStore",
      { n: 200, rounds },
      viaTough,
      async () => check(await passed.cookiesForUrl(next())),
    );
    // The floor of a store that cannot tell whether the database changed: one KV read of one
    // small value, whatever the store does with it.
    await db.set(["floor"], new Uint8Array(1024));
    await pair(
      "  floor: one bare kv.get of 1 KiB on the same database against tough-cookie's lookup",
      { n: 200, rounds },
      viaTough,
      async () => {
        if ((await db.get(["floor"])).versionstamp === null) throw new Error("no value");
      },
    );
  } finally {
    await passed.close();
    await byPath.close();
    db.close();
    await Deno.remove(file);
  }
}

console.log(`\n${rounds} rounds, medians.`);
