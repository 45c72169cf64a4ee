// Looks up the cookies of https://www.site<n>.com/ on one KV file, twice, and prints both
// Cookie headers (one line each); between them it waits for a line on stdin.
// Usage: deno run kv_cookie_reader.ts <path> <n>
import { KvCookieJar } from "../../../src/cookies/kv_cookie_jar.ts";
import { cookieHeader } from "../../../src/cookies/network_cookie.ts";

const [path, n] = Deno.args;
await using jar = await KvCookieJar.open({ path: path! });
const url = `https://www.site${n}.com/`;
console.log(cookieHeader(await jar.cookiesForUrl(url)));
const reader = Deno.stdin.readable.getReader();
await reader.read();
reader.releaseLock();
console.log(cookieHeader(await jar.cookiesForUrl(url)));
