import { strict as assert } from "node:assert";
import { KvCache } from "../../src/cache/kv_cache.ts";
import { MemoryCache } from "../../src/cache/memory_cache.ts";
import type { NetworkCache } from "../../src/cache/network_cache.ts";
import { takeUnhandledRejections } from "../_helpers/server.ts";
import {
  type CacheTestSuite,
  formatTable,
  inBrowserProfile,
  loadPublished,
  loadSuites,
  type RawResult,
  runSuites,
  type SimulatedClock,
  tally,
  verdict,
} from "./_cache_tests_runner.ts";

const suites = await loadSuites();
if (suites === null) {
  console.log(
    "cache-tests conformance skipped: ../shared/conformance/cache-tests/tests.json is absent",
  );
}

/** The least number of required browser-profile tests each store must pass. */
const REQUIRED_PASS_FLOOR = 125;
const RESULTS_DIR = new URL("./results/", import.meta.url);

async function report(
  name: string,
  all: CacheTestSuite[],
  results: Record<string, RawResult>,
): Promise<void> {
  console.log(formatTable(`cache-tests, browser profile, ${name}`, all, results));
  const chrome = await loadPublished("chrome");
  if (chrome) {
    console.log(`  chrome 143 (published): ${JSON.stringify(tally(all, all, chrome).required)}`);
  }
  const failures: string[] = [];
  for (const suite of all) {
    for (const test of suite.tests) {
      if (!inBrowserProfile(test) || (test.kind ?? "required") !== "required") continue;
      const v = verdict(all, test.id, results);
      if (v !== "pass") {
        const result = results[test.id];
        failures.push(`  ${v} ${test.id}: ${result === true ? "" : result?.join(": ")}`);
      }
    }
  }
  if (failures.length) console.log(`required, not passed:\n${failures.join("\n")}`);
  await Deno.mkdir(RESULTS_DIR, { recursive: true });
  const file = new URL(`cache_tests_${name}.json`, RESULTS_DIR);
  await Deno.writeTextFile(file, JSON.stringify(results, null, 2) + "\n");
  console.log(`  per-test results: ${file.pathname}`);
}

async function runAndCheck(
  name: string,
  all: CacheTestSuite[],
  makeCache: (clock: SimulatedClock) => Promise<NetworkCache>,
): Promise<void> {
  const results = await runSuites(all, makeCache);
  const total = Object.keys(results).length;
  assert.equal(total, 300, "the browser profile has 300 tests");
  await report(name, all, results);
  const { required } = tally(all, all, results);
  assert.ok(
    required.pass >= REQUIRED_PASS_FLOOR,
    `${name}: ${required.pass} required tests passed, fewer than ${REQUIRED_PASS_FLOOR}`,
  );
}

Deno.test({
  name: "cache-tests browser profile passes at least 125 required tests with MemoryCache",
  ignore: suites === null,
  async fn() {
    await runAndCheck(
      "MemoryCache",
      suites!,
      (clock) => Promise.resolve(new MemoryCache({ clock: clock.now })),
    );
    assert.deepEqual(takeUnhandledRejections(), []);
  },
});

Deno.test({
  name: "cache-tests browser profile passes at least 125 required tests with KvCache",
  ignore: suites === null,
  async fn() {
    await runAndCheck(
      "KvCache",
      suites!,
      (clock) => KvCache.open({ path: ":memory:", clock: clock.now }),
    );
    assert.deepEqual(takeUnhandledRejections(), []);
  },
});
