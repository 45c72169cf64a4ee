import { strict as assert } from "node:assert";
import { _registrableDomain } from "../../src/cookies/_domain.ts";
import { MemoryCookieJar } from "../../src/cookies/memory_cookie_jar.ts";
import { conformanceRoot, loadPslCases } from "./_cookies_data.ts";

const cases = await loadPslCases();
if (cases === null) {
  console.log(`Skipping the public suffix list cases: no data at ${conformanceRoot.pathname}psl/`);
}

function toAscii(host: string): string {
  return new URL(`http://${host}/`).hostname;
}

/** A host the cookie rules can see: no leading dot, no empty label. */
function isUsableHost(input: string | null): input is string {
  return input !== null && !input.startsWith(".");
}

Deno.test({
  name: "public suffix list cases give the registrable domain the cookie rules use",
  ignore: cases === null,
  fn() {
    const failed: string[] = [];
    for (const { input, expected } of cases!) {
      const got = _registrableDomain(input);
      const same = got === null || expected === null
        ? got === expected
        : toAscii(got) === toAscii(expected);
      if (!same) failed.push(`${input}: ${got}, expected ${expected}`);
    }
    console.log(
      `${cases!.length} public suffix cases: ${
        cases!.length - failed.length
      } passed, ${failed.length} failed`,
    );
    assert.deepEqual(failed, []);
    assert.equal(cases!.length, 78);
  },
});

Deno.test({
  name: "public suffix list cases decide which Domain attributes a jar accepts",
  ignore: cases === null,
  async fn() {
    let checked = 0;
    const failed: string[] = [];
    const now = Date.UTC(2026, 0, 1);
    for (const { input, expected } of cases!) {
      if (!isUsableHost(input)) continue;
      checked++;
      const host = toAscii(input);
      const jar = new MemoryCookieJar({ clock: () => now });
      if (expected !== null) {
        // The registrable domain takes a domain cookie, sent to the host and its siblings.
        const site = toAscii(expected);
        const stored = await jar.setCookiesFromUrl([`a=1; Domain=${site}`], `https://${host}/`);
        const [cookie] = await jar.cookiesForUrl(`https://sibling.${site}/`);
        if (stored !== 1 || cookie?.domain !== site || cookie.hostOnly) {
          failed.push(`${input}: Domain=${site} not stored as a domain cookie`);
        }
        // Its parent, a public suffix, takes none.
        const parent = site.slice(site.indexOf(".") + 1);
        if (
          parent !== site &&
          await jar.setCookiesFromUrl([`b=1; Domain=${parent}`], `https://${host}/`) !== 0
        ) {
          failed.push(`${input}: Domain=${parent} (a public suffix) was stored`);
        }
      } else {
        // A public suffix takes no domain cookie from a subdomain...
        const fromSub = await jar.setCookiesFromUrl(
          [`a=1; Domain=${host}`],
          `https://www.${host}/`,
        );
        // ...and becomes a host-only cookie when the host itself names it (RFC 6265bis).
        const fromSelf = await jar.setCookiesFromUrl([`b=1; Domain=${host}`], `https://${host}/`);
        const all = await jar.allCookies();
        if (fromSub !== 0 || fromSelf !== 1 || all.length !== 1 || !all[0]!.hostOnly) {
          failed.push(`${input}: a public suffix accepted a domain cookie`);
        }
      }
    }
    console.log(
      `${checked} public suffix cases through the domain rules: ${
        checked - failed.length
      } passed, ${failed.length} failed`,
    );
    assert.deepEqual(failed, []);
  },
});
