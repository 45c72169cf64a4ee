/**
 * The soak test: 20,000 requests from a seeded random mix of clean reads, streams, aborts at
 * every stage, server errors, broken bodies and transfer timeouts, run by `_soak.ts` in a
 * process of its own so that memory is measured after garbage collections. Set `SOAK_SEED` to
 * replay another mix.
 */

import assert from "node:assert/strict";

const SEED = Number(Deno.env.get("SOAK_SEED") ?? 20_261_130);
const REQUESTS = 20_000;
const MIB = 1024 * 1024;

interface SoakResult {
  seed: number;
  requests: number;
  elapsedMs: number;
  counts: Record<string, number>;
  problems: string[];
  problemCount: number;
  managerFinished: number;
  running: number;
  active: number;
  waiting: number;
  maxActive: number;
  maxPerHost: number;
  heap: number[];
  gc: boolean;
}

Deno.test("soak: 20,000 requests with random aborts, errors and timeouts each finish exactly once, leak no slot, and keep memory flat", async () => {
  // A hang fails the test (the run is killed after ten minutes); its speed is not a result:
  // the same run takes 16 s on a quiet machine and three times that on a busy one.
  const hung = new AbortController();
  const watchdog = setTimeout(() => hung.abort(), 600_000);
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      new URL("./_soak.ts", import.meta.url).pathname,
      String(SEED),
      String(REQUESTS),
    ],
    stdout: "piped",
    // The broken bodies make the server log their errors.
    stderr: "piped",
    signal: hung.signal,
  }).output().finally(() => clearTimeout(watchdog));
  assert.ok(!hung.signal.aborted, "the soak run hung: killed after ten minutes");
  const stdout = new TextDecoder().decode(output.stdout).trim();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr).slice(-2000));
  const result = JSON.parse(stdout.split("\n").at(-1)!) as SoakResult;
  console.log(
    `seed ${result.seed}: ${result.requests} requests in ${result.elapsedMs} ms, ` +
      `heap after each 2,000 (MiB): ${result.heap.map((h) => (h / MIB).toFixed(1)).join(" ")}`,
  );
  assert.equal(result.requests, REQUESTS);
  assert.deepEqual(result.problems, [], `${result.problemCount} replies misbehaved`);
  // Every kind of request was made, many times.
  assert.equal(Object.keys(result.counts).length, 10);
  for (const [kind, count] of Object.entries(result.counts)) assert.ok(count > 1000, kind);
  // Each reply finished exactly once, as the manager saw it too.
  assert.equal(result.managerFinished, REQUESTS);
  assert.equal(result.running, 0);
  // No slot leaked, and the per-host limit held throughout.
  assert.equal(result.active, 0);
  assert.equal(result.waiting, 0);
  assert.ok(result.maxActive <= result.maxPerHost, `${result.maxActive} slots at once`);
  // Memory stays flat: after a first batch, the heap grows by less than 8 MiB over the rest
  // (a reply kept alive would cost about 20,000 of them).
  assert.ok(result.gc, "measured after garbage collections");
  const [first, ...rest] = result.heap;
  assert.ok(rest.length >= 9);
  assert.ok(Math.max(...rest) - first! < 8 * MIB, `heap ${result.heap.join(", ")}`);
});
