import { strict as assert } from "node:assert";
import { KvCache } from "../../src/cache/kv_cache.ts";
import { MemoryCache } from "../../src/cache/memory_cache.ts";
import type { CacheMode, NetworkCache } from "../../src/cache/network_cache.ts";
import { guardUnhandledRejections, takeUnhandledRejections } from "../_helpers/server.ts";
import {
  type CacheTestSuite,
  formatTable,
  inProfile,
  loadPublished,
  loadSuites,
  type Profile,
  type RawResult,
  runSuites,
  type SimulatedClock,
  type Tally,
  tally,
  verdict,
} from "./_cache_tests_runner.ts";

guardUnhandledRejections();

const suites = await loadSuites();
if (suites === null) {
  console.log(
    "cache-tests conformance skipped: ../shared/conformance/cache-tests/tests.json is absent",
  );
}

const RESULTS_DIR = new URL("./results/", import.meta.url);

/** The number of tests in each profile. */
const PROFILE_SIZE: Record<Profile, number> = { browser: 300, shared: 341 };

/**
 * What each store reaches in each profile, exactly: a change in any count (up or down) fails,
 * so a regression cannot hide behind an improvement and a gain gets recorded here and in the
 * README; and the required tests not passed, each with its verdict.
 */
const EXPECTED: Record<Profile, { tally: Tally; notPassed: string[] }> = {
  browser: {
    tally: {
      required: { pass: 133, fail: 2, other: 2 },
      optimal: { pass: 68, fail: 9, other: 0 },
      check: { yes: 49, no: 30, other: 7 },
    },
    notPassed: [
      "dependency_fail stale-close-must-revalidate",
      "dependency_fail stale-close-no-cache",
      "fail headers-store-Set-Cookie",
      "fail headers-store-Set-Cookie2",
    ],
  },
  shared: {
    tally: {
      required: { pass: 144, fail: 2, other: 4 },
      optimal: { pass: 89, fail: 8, other: 1 },
      check: { yes: 52, no: 34, other: 7 },
    },
    notPassed: [
      "dependency_fail stale-close-must-revalidate",
      "dependency_fail stale-close-no-cache",
      "dependency_fail stale-close-proxy-revalidate",
      "dependency_fail stale-close-s-maxage=2",
      "fail headers-store-Set-Cookie",
      "fail headers-store-Set-Cookie2",
    ],
  },
};

/** The published results each profile is compared with. */
const ANCHORS: Record<Profile, string[]> = {
  browser: ["chrome", "firefox", "safari"],
  shared: ["trafficserver", "squid", "varnish", "apache", "caddy", "nginx", "haproxy", "fastly"],
};

async function report(
  name: string,
  profile: Profile,
  all: CacheTestSuite[],
  results: Record<string, RawResult>,
): Promise<void> {
  console.log(formatTable(`cache-tests, ${profile} profile, ${name}`, all, results, profile));
  for (const anchor of ANCHORS[profile]) {
    const published = await loadPublished(anchor);
    if (published === null) continue;
    const { required } = tally(all, all, published, profile);
    console.log(`  ${anchor} (published): ${JSON.stringify(required)}`);
  }
  const failures: string[] = [];
  for (const suite of all) {
    for (const test of suite.tests) {
      if (!inProfile(test, profile) || (test.kind ?? "required") !== "required") continue;
      const v = verdict(all, test.id, results);
      if (v !== "pass") {
        const result = results[test.id];
        failures.push(`  ${v} ${test.id}: ${result === true ? "" : result?.join(": ")}`);
      }
    }
  }
  if (failures.length) console.log(`required, not passed:\n${failures.join("\n")}`);
  await Deno.mkdir(RESULTS_DIR, { recursive: true });
  const file = new URL(`cache_tests_${profile}_${name}.json`, RESULTS_DIR);
  await Deno.writeTextFile(file, JSON.stringify(results, null, 2) + "\n");
  console.log(`  per-test results: ${file.pathname}`);
}

async function runAndCheck(
  name: string,
  mode: CacheMode,
  all: CacheTestSuite[],
  makeCache: (clock: SimulatedClock, mode: CacheMode) => Promise<NetworkCache>,
): Promise<void> {
  const profile: Profile = mode === "private" ? "browser" : "shared";
  const results = await runSuites(all, (clock) => makeCache(clock, mode), profile);
  assert.equal(Object.keys(results).length, PROFILE_SIZE[profile]);
  await report(name, profile, all, results);
  const expected = EXPECTED[profile];
  assert.deepEqual(
    tally(all, all, results, profile),
    expected.tally,
    `${name}: the counts changed`,
  );
  const notPassed: string[] = [];
  for (const suite of all) {
    for (const test of suite.tests) {
      if (!inProfile(test, profile) || (test.kind ?? "required") !== "required") continue;
      const v = verdict(all, test.id, results);
      if (v !== "pass") notPassed.push(`${v} ${test.id}`);
    }
  }
  assert.deepEqual(notPassed.sort(), expected.notPassed, `${name}: other required tests fail`);
}

const stores: [string, (clock: SimulatedClock, mode: CacheMode) => Promise<NetworkCache>][] = [
  ["MemoryCache", (clock, mode) => Promise.resolve(new MemoryCache({ clock: clock.now, mode }))],
  ["KvCache", (clock, mode) => KvCache.open({ path: ":memory:", clock: clock.now, mode })],
];

for (const mode of ["private", "shared"] as const) {
  for (const [name, makeCache] of stores) {
    const profile = mode === "private" ? "browser" : "shared";
    Deno.test({
      name: `cache-tests ${profile} profile: exact figures of a ${mode} ${name}`,
      ignore: suites === null,
      async fn() {
        await runAndCheck(name, mode, suites!, makeCache);
        assert.deepEqual(takeUnhandledRejections(), []);
      },
    });
  }
}
