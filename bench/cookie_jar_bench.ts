// cookiesForUrl on a jar of 10,000 cookies over 1,000 domains: KvCookieJar and
// MemoryCookieJar against tough-cookie's own MemoryCookieStore (the baseline).
import { CookieJar as ToughCookieJar, MemoryCookieStore } from "tough-cookie";
import { KvCookieJar } from "../src/cookies/kv_cookie_jar.ts";
import { MemoryCookieJar } from "../src/cookies/memory_cookie_jar.ts";

const DOMAINS = 1000;
const PER_DOMAIN = 10;

/** Ten Set-Cookie lines per site: five domain cookies, five host-only, on three paths. */
function setCookies(d: number): string[] {
  const lines: string[] = [];
  for (let j = 0; j < PER_DOMAIN; j++) {
    const path = ["/", "/app", "/app/api"][j % 3];
    const domain = j < 5 ? `; Domain=site${d}.com` : "";
    lines.push(`c${j}=value-${d}-${j}; Path=${path}${domain}; Max-Age=86400`);
  }
  return lines;
}

const limits = { maxCookies: 20_000 };
const memory = new MemoryCookieJar(limits);
const kv = await KvCookieJar.open({ path: ":memory:", ...limits });
const tough = new ToughCookieJar(new MemoryCookieStore());
for (let d = 0; d < DOMAINS; d++) {
  const url = `https://www.site${d}.com/`;
  const lines = setCookies(d);
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

let i = 0;
const nextUrl = () => `https://www.site${(i++ * 7919) % DOMAINS}.com/app/api/items`;

Deno.bench({
  name: "tough-cookie MemoryCookieStore getCookies",
  group: "cookiesForUrl, 10,000 cookies over 1,000 domains",
  baseline: true,
  async fn() {
    const cookies = await tough.getCookies(nextUrl());
    if (cookies.length !== PER_DOMAIN) throw new Error("wrong cookies");
  },
});

Deno.bench({
  name: "MemoryCookieJar cookiesForUrl",
  group: "cookiesForUrl, 10,000 cookies over 1,000 domains",
  async fn() {
    const cookies = await memory.cookiesForUrl(nextUrl());
    if (cookies.length !== PER_DOMAIN) throw new Error("wrong cookies");
  },
});

Deno.bench({
  name: "KvCookieJar cookiesForUrl",
  group: "cookiesForUrl, 10,000 cookies over 1,000 domains",
  async fn() {
    const cookies = await kv.cookiesForUrl(nextUrl());
    if (cookies.length !== PER_DOMAIN) throw new Error("wrong cookies");
  },
});

globalThis.addEventListener("unload", () => void kv.close());
