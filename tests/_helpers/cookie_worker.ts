/**
 * A separate process working on a KvCookieJar file, for the cross-process tests.
 *
 *   set  <path> <url> <set-cookie>  stores one cookie, prints how many were stored
 *   get  <path> <url>               prints the Cookie header for the URL ("" when none)
 *   fill <path> <url> <bytes>       stores cookies of <bytes>-byte values on one domain in a
 *                                   loop, printing "ready" after the first, until killed
 */

import { KvCookieJar } from "../../src/cookies/kv_cookie_jar.ts";
import { cookieHeader } from "../../src/cookies/network_cookie.ts";

const [mode, path, url, arg] = Deno.args;
if (path === undefined || url === undefined) {
  throw new TypeError("usage: cookie_worker.ts <mode> <path> <url> ...");
}
await using jar = await KvCookieJar.open({ path, maxCookiesPerDomain: 1000 });
if (mode === "set") {
  console.log(await jar.setCookiesFromUrl([arg!], url));
} else if (mode === "get") {
  console.log(cookieHeader(await jar.cookiesForUrl(url)) ?? "");
} else if (mode === "fill") {
  const value = "v".repeat(Number(arg));
  for (let i = 0;; i++) {
    await jar.setCookiesFromUrl([`k${i % 60}=${i}${value}; Max-Age=3600`], url);
    if (i === 0) console.log("ready");
  }
} else {
  throw new TypeError(`unknown mode '${mode}'`);
}
