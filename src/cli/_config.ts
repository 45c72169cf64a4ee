/**
 * `-K, --config FILE`: curl's config files, read into the arguments where `-K` stands, so that
 * the options after it override theirs as in curl (the last of a single-valued option wins,
 * repeatable ones add up in order).
 *
 * A line is `long-option = value`, `long-option value` or `long-option: value`, a name given as
 * on the command line (`--output file`, `-o file`, `-s`), or a boolean option alone; a value in
 * double quotes takes the escapes `\"`, `\\`, `\t`, `\n`, `\r` and `\v`, an unquoted one ends at
 * the first space. Lines starting with `#` and empty lines are skipped. `url = URL` gives a
 * URL.
 *
 * @module
 */

import { readStdin } from "./_data.ts";
import { Exit, EXIT_CODES } from "./exit_codes.ts";

/** The kind of each long option, and the long name of each short one. */
export interface OptionTable {
  kinds: ReadonlyMap<string, "string" | "boolean">;
  shorts: ReadonlyMap<string, string>;
}

/** How deep config files may name other config files. */
const MAX_DEPTH = 8;

const ESCAPES: Record<string, string> = {
  '"': '"',
  "\\": "\\",
  t: "\t",
  n: "\n",
  r: "\r",
  v: "\v",
};

/**
 * `args` with each `-K FILE` (`--config FILE`, `-K -` for stdin) replaced by the arguments its
 * file gives, in place.
 */
export async function expandConfig(args: string[], table: OptionTable): Promise<string[]> {
  return await expand(args, table, 0);
}

async function expand(args: string[], table: OptionTable, depth: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") return out.concat(args.slice(i));
    let file: string | undefined;
    if (arg === "-K" || arg === "--config") {
      file = args[++i];
      if (file === undefined) {
        throw new Exit(EXIT_CODES.usage, `${arg} takes a FILE (- for stdin)`, true);
      }
    } else if (arg.startsWith("--config=")) {
      file = arg.slice("--config=".length);
    } else if (/^-K./.test(arg)) {
      file = arg.slice(2);
    }
    if (file === undefined) {
      out.push(arg);
      continue;
    }
    if (depth >= MAX_DEPTH) {
      throw new Exit(
        EXIT_CODES.usage,
        `-K ${file}: config files name each other more than ${MAX_DEPTH} deep`,
        true,
      );
    }
    const lines = await configArgs(file, await readConfig(file), table);
    out.push(...await expand(lines, table, depth + 1));
  }
  return out;
}

async function readConfig(file: string): Promise<string> {
  if (file === "-") return new TextDecoder().decode(await readStdin());
  try {
    return await Deno.readTextFile(file);
  } catch (error) {
    // As curl: a config file that cannot be read exits 26.
    throw new Exit(
      EXIT_CODES.content,
      `cannot read the -K config file ${file}: ${(error as Error).message}`,
    );
  }
}

/** The arguments the lines of a config file give; errors name `file` and the line. */
export function configArgs(file: string, text: string, table: OptionTable): string[] {
  const args: string[] = [];
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const where = `${file === "-" ? "stdin" : file}:${n + 1}`;
    const fail = (message: string): never => {
      throw new Exit(EXIT_CODES.usage, `${where}: ${message}`, true);
    };
    const line = lines[n]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const nameEnd = line.search(/[\s=:]/);
    const written = nameEnd < 0 ? line : line.slice(0, nameEnd);
    let rest = nameEnd < 0 ? "" : line.slice(nameEnd).replace(/^\s*[=:]?\s*/, "");
    const cluster = /^-[^-]{2,}$/.test(written)
      ? [...written.slice(1)].map((c) => table.shorts.get(c))
      : [];
    if (cluster.length > 0 && cluster.every((name) => table.kinds.get(name!) === "boolean")) {
      // `-sS`: short boolean options together, as on the command line.
      if (rest !== "" && !rest.startsWith("#")) fail(`${written} takes no value, got "${rest}"`);
      args.push(...cluster.map((name) => `--${name}`));
      continue;
    }
    let long: string | undefined;
    if (written.startsWith("--")) long = written.slice(2);
    else if (/^-[^-]$/.test(written)) long = table.shorts.get(written.slice(1));
    else if (!written.startsWith("-")) long = written;
    if (long === "url") {
      // curl's `url` option: a URL, as given on the command line.
      args.push("--url");
    } else {
      // As curl: --no-NAME switches a boolean option off.
      const negated = long?.startsWith("no-") && table.kinds.get(long.slice(3)) === "boolean";
      const kind = long === undefined
        ? undefined
        : negated
        ? "boolean"
        : long === "config"
        ? "string"
        : table.kinds.get(long);
      if (kind === undefined) fail(`unknown option "${written}"`);
      if (kind === "boolean") {
        if (rest !== "" && !rest.startsWith("#")) {
          fail(`--${long} takes no value, got "${rest}"`);
        }
        args.push(`--${long}`);
        continue;
      }
      args.push(`--${long}`);
    }
    if (rest === "") fail(`${written} needs a value`);
    let value = "";
    if (rest.startsWith('"')) {
      let i = 1;
      for (;; i++) {
        if (i >= rest.length) fail(`${written}: the quoted value has no closing "`);
        const c = rest[i]!;
        if (c === '"') break;
        if (c === "\\" && i + 1 < rest.length) {
          const next = rest[++i]!;
          value += ESCAPES[next] ?? next;
        } else {
          value += c;
        }
      }
      rest = rest.slice(i + 1).trim();
    } else {
      const end = rest.search(/\s/);
      value = end < 0 ? rest : rest.slice(0, end);
      rest = end < 0 ? "" : rest.slice(end).trim();
    }
    if (rest !== "" && !rest.startsWith("#")) {
      fail(`${written}: text after the value ("${rest}"); put a value with spaces in quotes`);
    }
    // `--name=value`: a value starting with "-" stays the value.
    args[args.length - 1] += `=${value}`;
  }
  return args;
}
