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

/**
 * What each store reaches in the browser profile, exactly: a change in any count (up or down)
 * fails, so a regression cannot hide behind an improvement and a gain gets recorded here.
 */
const EXPECTED_TALLY = {
  required: { pass: 133, fail: 0, other: 4 },
  optimal: { pass: 59, fail: 18, other: 0 },
  check: { yes: 52, no: 28, other: 6 },
};
/** The required tests not passed, each with its verdict. */
const EXPECTED_NOT_PASSED = [
  "dependency_fail partial-use-headers",
  "dependency_fail partial-use-stored-headers",
  "dependency_fail stale-close-must-revalidate",
  "dependency_fail stale-close-no-cache",
];
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
  assert.deepEqual(tally(all, all, results), EXPECTED_TALLY, `${name}: the counts changed`);
  const notPassed: string[] = [];
  for (const suite of all) {
    for (const test of suite.tests) {
      if (!inBrowserProfile(test) || (test.kind ?? "required") !== "required") continue;
      const v = verdict(all, test.id, results);
      if (v !== "pass") notPassed.push(`${v} ${test.id}`);
    }
  }
  assert.deepEqual(notPassed.sort(), EXPECTED_NOT_PASSED, `${name}: other required tests fail`);
}

Deno.test({
  name: "cache-tests browser profile gives exactly the recorded results with MemoryCache",
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
  name: "cache-tests browser profile gives exactly the recorded results with KvCache",
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
