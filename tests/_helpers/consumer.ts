/**
 * A consumer project as a user of the package has one: a folder of its own with its own
 * deno.json, whose import map points `@netaccess/core` and `@netaccess/core/testing` at this
 * checkout (no `unstable`, no permissions, nothing else of this repository's deno.json).
 */

const ROOT = new URL("../../", import.meta.url);

/**
 * Makes a temporary consumer project holding `main.ts` with `program`; `imports` adds entries to
 * its import map. Returns the folder; the caller removes it.
 */
export async function makeConsumer(
  prefix: string,
  program: string,
  imports: Record<string, string> = {},
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  await Deno.writeTextFile(
    `${dir}/deno.json`,
    JSON.stringify({
      imports: {
        "@netaccess/core": new URL("mod.ts", ROOT).href,
        "@netaccess/core/testing": new URL("testing.ts", ROOT).href,
        ...imports,
      },
    }),
  );
  await Deno.writeTextFile(`${dir}/main.ts`, program);
  return dir;
}
