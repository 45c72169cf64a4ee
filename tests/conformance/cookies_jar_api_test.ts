import { strict as assert } from "node:assert";
import { cookieHeader } from "../../src/cookies/network_cookie.ts";
import type { CookieJar } from "../../src/cookies/cookie_jar.ts";
import { MemoryCookieJar } from "../../src/cookies/memory_cookie_jar.ts";
import { KvCookieJar } from "../../src/cookies/kv_cookie_jar.ts";
import type { Clock } from "../../src/clock.ts";
import {
  conformanceRoot,
  expectedCookieHeader,
  loadDateCases,
  loadParserCases,
  parserSentUrl,
  parserSetUrl,
  rfc6265bisExpected,
} from "./_cookies_data.ts";

const parserCases = await loadParserCases();
const dateCases = await loadDateCases();
const NOW = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

type JarFactory = (clock: Clock, name: string) => Promise<CookieJar>;

async function withJars(
  run: (kind: string, makeJar: JarFactory) => Promise<void>,
): Promise<void> {
  await run("MemoryCookieJar", (clock) => Promise.resolve(new MemoryCookieJar({ clock })));
  const kv = await Deno.openKv(":memory:");
  try {
    await run("KvCookieJar", (clock, name) => KvCookieJar.open({ kv, clock, prefix: [name] }));
  } finally {
    kv.close();
  }
}

Deno.test({
  name: "http-state parser cases give RFC 6265 results, and the 25 others RFC 6265bis results, " +
    "through the jar API of both jars",
  ignore: parserCases === null,
  async fn(t) {
    await withJars(async (kind, makeJar) => {
      await t.step(kind, async () => {
        let passed = 0;
        let bis = 0;
        const failed: string[] = [];
        for (const testCase of parserCases!) {
          const jar = await makeJar(() => NOW, testCase.test);
          await jar.setCookiesFromUrl(testCase.received, parserSetUrl(testCase));
          const sent = cookieHeader(await jar.cookiesForUrl(parserSentUrl(testCase)));
          const inBucket = rfc6265bisExpected.has(testCase.test);
          const expected = inBucket
            ? rfc6265bisExpected.get(testCase.test)!
            : expectedCookieHeader(testCase);
          if (sent !== expected) {
            failed.push(`${testCase.test}: sent ${sent}, expected ${expected}`);
          } else if (inBucket) bis++;
          else passed++;
        }
        console.log(
          `${kind}: ${parserCases!.length} parser cases: ${passed} pass by RFC 6265, ${bis} by ` +
            `RFC 6265bis, ${failed.length} failed`,
        );
        assert.deepEqual(failed, []);
        assert.equal(passed, 197);
        assert.equal(bis, 25);
      });
    });
  },
});

Deno.test({
  name: "cookie dates parse by RFC 6265 section 5.1.1 through the Expires attribute of both jars",
  ignore: dateCases === null,
  async fn(t) {
    await withJars(async (kind, makeJar) => {
      await t.step(kind, async () => {
        let passed = 0;
        const failed: string[] = [];
        for (const [i, testCase] of dateCases!.entries()) {
          const expected = testCase.expected === null ? null : Date.parse(testCase.expected);
          // A day before the expected date, so the cookie is alive and under the 400-day cap.
          const now = expected === null ? NOW : expected - DAY;
          const jar = await makeJar(() => now, `date-${i}`);
          const stored = await jar.setCookiesFromUrl(
            [`foo=bar; Expires=${testCase.test}`],
            "http://example.com/",
          );
          const [cookie] = await jar.allCookies();
          if (stored === 1 && cookie?.expires === expected) passed++;
          else failed.push(`${testCase.file} ${JSON.stringify(testCase.test)}: ${cookie?.expires}`);
        }
        console.log(
          `${kind}: ${dateCases!.length} date cases: ${passed} passed, ${failed.length} failed`,
        );
        assert.deepEqual(failed, []);
        assert.equal(passed, 70);
      });
    });
  },
});

if (parserCases === null || dateCases === null) {
  console.log(
    `Skipping the http-state cookie conformance cases: no data at ${conformanceRoot.pathname}cookies-http-state/`,
  );
}
