/** Bodies whose every byte depends on a seed, and a check that a cached body is not torn. */

import type { NetworkCache } from "../../src/cache/network_cache.ts";

/** `length` bytes derived from `seed`, so any mix of two bodies is detectable. */
export function pattern(seed: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (seed * 131 + i * 7 + (i >> 8)) & 255;
  return bytes;
}

/**
 * Reads the entry of `url` and checks its body against the seed in its `x-seed` header:
 * `"miss"` (nothing), `"hit"` (the body of that seed, whole),
 * or `"torn"` (anything else). A read that fails rejects.
 */
export async function checkBody(
  cache: NetworkCache,
  url: string,
  size: number,
): Promise<"miss" | "hit" | "torn"> {
  const entry = await cache.metaData(url);
  if (entry === null) return "miss";
  const seed = Number(entry.headers.find(([name]) => name === "x-seed")?.[1]);
  const stream = await cache.body(entry);
  if (stream === null) return "miss";
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  if (bytes.length !== size || entry.bodySize !== size) return "torn";
  const expected = pattern(seed, size);
  for (let i = 0; i < size; i++) if (bytes[i] !== expected[i]) return "torn";
  return "hit";
}

/** Runs `fn` with the path of a database file in a new temporary folder, removed after. */
export async function withDatabase(fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "kv_cache_" });
  try {
    await fn(`${dir}/cache.sqlite3`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Stored policies the cache cannot read, each made from `valid` (a policy as the cache writes
 * it, JSON-parsed): fields of `CachePolicy#toObject()` missing, `null`, or of another type.
 */
export function corruptPolicies(valid: Record<string, unknown>): [string, unknown][] {
  const changed = (change: (policy: Record<string, unknown>) => void) => {
    const policy = structuredClone(valid);
    change(policy);
    return policy;
  };
  const cases: [string, unknown][] = [
    ["{ v: 1 } alone", { v: 1 }],
    ["a string", "policy"],
    ["resh with a number value", changed((p) => p.resh = { "cache-control": 1 })],
    ["rescc an array", changed((p) => p.rescc = [])],
    ["t a string", changed((p) => p.t = "0")],
    ["st missing", changed((p) => delete p.st)],
  ];
  for (const field of ["resh", "rescc", "reqcc"]) {
    cases.push([`${field} missing`, changed((p) => delete p[field])]);
    cases.push([`${field} null`, changed((p) => p[field] = null)]);
  }
  return cases;
}
