/**
 * `netaccess`: a curl-like command line over {@linkcode NetworkAccessManager}, whose HTTP
 * cache, cookie jar and HSTS policies live in one Deno KV file that every run shares.
 *
 * Once the package is added to a project (`deno add`, as the README's Install section shows),
 * run it by its module specifier; the README's "On the command line" section walks through it.
 *
 * ```sh
 * deno run -A --unstable-kv @netaccess/core/cli https://example.com/
 * deno run -A --unstable-kv @netaccess/core/cli -O https://example.com/big.bin
 * ```
 *
 * Options take curl's names where curl has one; `--help` lists them. Exit codes are in
 * {@linkcode EXIT_CODES}. Without Deno KV (`--unstable-kv`) the state lasts one run.
 *
 * @example Run it from a program
 * ```ts
 * import assert from "node:assert/strict";
 * import { EXIT_CODES, main } from "@netaccess/core/cli";
 *
 * assert.equal(await main(["--version"]), EXIT_CODES.ok);
 * ```
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import {
  HELP,
  OPTION_TABLE,
  parse,
  parseErrorText,
  USAGE,
  type Values,
  type WhereGiven,
} from "./cli/_args.ts";
import { expandConfig } from "./cli/_config.ts";
import { run } from "./cli/_run.ts";
import { cannotWrite, writeAll } from "./cli/_transfer.ts";
import { Exit, EXIT_CODES } from "./cli/exit_codes.ts";

export { EXIT_CODES } from "./cli/exit_codes.ts";
export { defaultStatePath } from "./cli/state_path.ts";

const encoder = new TextEncoder();

/**
 * Runs the command line with `args` (as `Deno.args`): writes bodies to stdout or files,
 * progress, verbose output and errors to stderr, and resolves with the exit code.
 *
 * @param args The arguments, without the program name.
 * @returns The exit code ({@linkcode EXIT_CODES}).
 *
 * @example Asking for the usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { EXIT_CODES, main } from "@netaccess/core/cli";
 *
 * assert.equal(await main(["--help"]), EXIT_CODES.ok);
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const stderr = (line: string) => Deno.stderr.writeSync(encoder.encode(line + "\n"));
  let values: Values;
  let positionals: string[];
  let where: WhereGiven;
  try {
    const expanded = await expandConfig(args, OPTION_TABLE);
    ({ values, positionals, where } = parse(expanded.args, expanded.origins));
  } catch (error) {
    if (error instanceof Exit) {
      stderr(`netaccess: ${error.message}`);
      if (error.usage) stderr(USAGE);
      return error.code;
    }
    stderr(`netaccess: ${parseErrorText(error as Error)}`);
    stderr(USAGE);
    return EXIT_CODES.usage;
  }
  if (values.help || values.version) {
    const text = values.help
      ? HELP + "\n"
      : `netaccess ${denoJson.version} (Deno ${Deno.version.deno})\n`;
    try {
      await writeAll(Deno.stdout, encoder.encode(text));
    } catch (error) {
      const told = cannotWrite("stdout", error);
      if (told !== "") stderr(`netaccess: ${told}`);
      return EXIT_CODES.output;
    }
    return EXIT_CODES.ok;
  }
  // As curl: -s keeps failures quiet (the exit code tells them), -S shows them again; a bad
  // argument is told either way.
  const report = values.silent && !values["show-error"] ? () => {} : stderr;
  try {
    return await run(values, positionals, stderr, report);
  } catch (error) {
    if (error instanceof Exit) {
      // A bad value from a -K file: its file and line, as for the file's syntax errors.
      const given = error.about === undefined ? undefined : where(error.about);
      const message = given === undefined ? error.message : `${given}: ${error.message}`;
      (error.usage ? stderr : report)(`netaccess: ${message}`);
      if (error.usage) stderr(USAGE);
      return error.code;
    }
    report(`netaccess: ${(error as Error)?.message ?? error}`);
    return EXIT_CODES.failure;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
