/**
 * Side-by-side measurement in one process: two functions run in alternating rounds (which goes
 * first alternates too), and the median of the rounds' ratios is reported. A shared machine's
 * load moves both sides of a round alike, so the ratio holds where single timings do not.
 *
 * @module
 */

/** The median of `values`. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** One pair's result: times in µs per call (medians of the rounds), and the median ratio. */
export interface PairResult {
  /** µs per call of the first function (the baseline). */
  baseline: number;
  /** µs per call of the second. */
  subject: number;
  /** The median of the rounds' `baseline / subject`: above 1, the second is faster. */
  ratio: number;
}

/**
 * Runs `baseline` and `subject` `n` times each per round, for `rounds` rounds, alternating
 * which goes first, and prints a line naming the pair (unless `quiet`).
 */
export async function pair(
  name: string,
  options: { n: number; rounds: number; quiet?: boolean },
  baseline: () => unknown,
  subject: () => unknown,
): Promise<PairResult> {
  const times: [number[], number[]] = [[], []];
  const ratios: number[] = [];
  for (const fn of [baseline, subject]) {
    for (let i = 0; i < Math.min(options.n, 50); i++) await fn(); // warm up
  }
  for (let round = 0; round < options.rounds; round++) {
    const order = round % 2 === 0 ? [0, 1] as const : [1, 0] as const;
    const took = [0, 0];
    for (const which of order) {
      const fn = which === 0 ? baseline : subject;
      const start = performance.now();
      for (let i = 0; i < options.n; i++) {
        const result = fn();
        if (result instanceof Promise) await result; // a synchronous step is not awaited
      }
      took[which] = (performance.now() - start) / options.n * 1000;
      times[which].push(took[which]);
    }
    ratios.push(took[0]! / took[1]!);
  }
  const result = { baseline: median(times[0]), subject: median(times[1]), ratio: median(ratios) };
  if (options.quiet) return result;
  console.log(
    `${name}: ${result.ratio.toFixed(2)}x (${result.baseline.toFixed(1)} µs against ${
      result.subject.toFixed(1)
    } µs)`,
  );
  return result;
}
