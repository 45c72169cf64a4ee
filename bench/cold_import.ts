/**
 * Cold import of the package against ky's, as a consumer pays it on every cold start (an edge
 * function's, a CLI's): each sample is a fresh `deno run` process in a consumer project of its
 * own (its own deno.json and import map, no flag), which times its one `import()` with
 * `performance.now()`. The kinds of process alternate, so load on the machine hits them alike;
 * the results are ratios of medians measured in the same run:
 *
 * - import: the timed `import()`, the evaluation of the modules (Deno reads and compiles a
 *   statically known graph before the program starts, so this part excludes that);
 * - whole process: the wall time of the process, start-up included;
 * - process less start-up: each process's time less that of a process that imports nothing,
 *   what the import adds to a cold start, reading and compiling included (the noisiest).
 *
 * Run: `deno run -A bench/cold_import.ts [samples]` (or `deno task bench:import`). The first
 * run downloads ky into Deno's cache; that warm-up sample is not counted.
 */

import { makeConsumer } from "../tests/_helpers/consumer.ts";

/** ky from npm, pinned to an exact version. */
export const KY = "npm:ky@2.1.0";

/**
 * Makes a consumer project that imports `specifier` (nothing when `null`) and prints how long the
 * import took.
 */
async function consumer(name: string, specifier: string | null): Promise<string> {
  return await makeConsumer(
    `netaccess_cold_${name}_`,
    `const start = performance.now();\n` +
      (specifier === null ? "" : `await import(${JSON.stringify(specifier)});\n`) +
      `console.log(performance.now() - start);\n`,
    { ky: KY },
  );
}

/** Runs the consumer in `dir` once; returns the import time and the whole process time (ms). */
async function sample(dir: string): Promise<{ import: number; process: number }> {
  const start = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-lock", "main.ts"],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const process = performance.now() - start;
  if (output.code !== 0) throw new Error(new TextDecoder().decode(output.stderr));
  return { import: Number(new TextDecoder().decode(output.stdout).trim()), process };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The medians of each consumer and the ratios of netaccess to ky. */
export interface ColdImportResult {
  /** Samples per consumer. */
  samples: number;
  /** Median import time (ms) per consumer. */
  importMs: Record<string, number>;
  /** Median process time (ms) per consumer, `deno` start-up included. */
  processMs: Record<string, number>;
  /** netaccess's median import time over ky's. */
  importRatio: number;
  /** netaccess's median process time over ky's. */
  processRatio: number;
  /**
   * netaccess's median process time over ky's, each less the median of a process that imports
   * nothing (what the import adds to a cold start).
   */
  addedRatio: number;
}

/** Measures `samples` cold imports of each consumer, alternating them. */
export async function measureColdImport(samples = 15): Promise<ColdImportResult> {
  const consumers: Record<string, string> = {
    "@netaccess/core": await consumer("core", "@netaccess/core"),
    "@netaccess/core + ./testing": await consumer(
      "both",
      "data:text/javascript,export * from '@netaccess/core'; export * from '@netaccess/core/testing';",
    ),
    [`ky (${KY})`]: await consumer("ky", "ky"),
    "nothing (deno start-up)": await consumer("none", null),
  };
  try {
    const times: Record<string, { import: number[]; process: number[] }> = {};
    for (const [name, dir] of Object.entries(consumers)) {
      await sample(dir); // warm-up: fills Deno's caches, as an installed package has them
      times[name] = { import: [], process: [] };
    }
    for (let i = 0; i < samples; i++) {
      for (const [name, dir] of Object.entries(consumers)) {
        const { import: imported, process } = await sample(dir);
        times[name]!.import.push(imported);
        times[name]!.process.push(process);
      }
    }
    const importMs: Record<string, number> = {};
    const processMs: Record<string, number> = {};
    for (const [name, { import: imported, process }] of Object.entries(times)) {
      importMs[name] = median(imported);
      processMs[name] = median(process);
    }
    const ky = `ky (${KY})`;
    const startUp = processMs["nothing (deno start-up)"]!;
    return {
      samples,
      importMs,
      processMs,
      importRatio: importMs["@netaccess/core"]! / importMs[ky]!,
      processRatio: processMs["@netaccess/core"]! / processMs[ky]!,
      addedRatio: (processMs["@netaccess/core"]! - startUp) / (processMs[ky]! - startUp),
    };
  } finally {
    for (const dir of Object.values(consumers)) await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const samples = Number(Deno.args[0] ?? 15);
  const result = await measureColdImport(samples);
  console.log(`cold import, median of ${result.samples} fresh processes each:`);
  for (const name of Object.keys(result.importMs)) {
    console.log(
      `  ${name.padEnd(32)} import ${result.importMs[name]!.toFixed(1).padStart(6)} ms   ` +
        `process ${result.processMs[name]!.toFixed(1).padStart(6)} ms`,
    );
  }
  console.log(
    `ratio to ky: import ${result.importRatio.toFixed(2)}x (target: within 2x), ` +
      `whole process ${result.processRatio.toFixed(2)}x, ` +
      `process less start-up ${result.addedRatio.toFixed(2)}x`,
  );
}
