/** Temporary cookie databases, and a process of its own that writes cookies to one. */
import { strict as assert } from "node:assert";
import { runDeno } from "./deno_run.ts";

const WRITER = new URL("../testdata/cookies/kv_cookie_writer.ts", import.meta.url);
const CONFIG = new URL("../../deno.json", import.meta.url);

/**
 * Runs `kv_cookie_writer.ts` in a process of its own: `count` cookies named `<label>-<i>` on
 * the KV file at `path`, spread over `site0.com` to `site4.com`.
 *
 * @returns How many cookies it stored.
 */
export async function runWriter(path: string, label: string, count: number): Promise<number> {
  const { code, stdout, stderr } = await runDeno(
    ["run", "-A", "--config", CONFIG.pathname, WRITER.pathname, path, label, String(count)],
  );
  assert.equal(code, 0, stderr);
  return Number(stdout.trim());
}

/** A KV file path in a new temporary folder, removed on dispose. */
export async function tempDb(): Promise<{ path: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir();
  return {
    path: `${dir}/cookies.sqlite3`,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}
