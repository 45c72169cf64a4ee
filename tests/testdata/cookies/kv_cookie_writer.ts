// Sets `count` cookies named `<label>-<i>` on one KV file, one Set-Cookie header per call,
// spread over five sites (`site0.com` to `site4.com`).
// Usage: deno run -A kv_cookie_writer.ts <path> <label> <count>
import { KvCookieJar } from "../../../src/cookies/kv_cookie_jar.ts";

const [path, label, count] = Deno.args;
await using jar = await KvCookieJar.open({ path: path! });
let stored = 0;
for (let i = 0; i < Number(count); i++) {
  stored += await jar.setCookiesFromUrl(
    [`${label}-${i}=${i}; Domain=site${i % 5}.com; Max-Age=3600`],
    `https://www.site${i % 5}.com/`,
  );
}
console.log(stored);
