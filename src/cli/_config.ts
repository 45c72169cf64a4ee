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

/** The arguments of a command line with its `-K` files read in, and where each was given. */
export interface Expanded {
  args: string[];
  /** For each argument, the file and line (`FILE:LINE`) it came from; none for the command line's. */
  origins: (string | undefined)[];
}

/**
 * `args` with each `-K FILE` (`--config FILE`, `-K -` for stdin, `-sK FILE` or `-sKFILE` at the
 * end of a cluster of short options, as curl) replaced by the arguments its file gives, in place.
 */
export async function expandConfig(args: string[], table: OptionTable): Promise<Expanded> {
  const origins: (string | undefined)[] = [];
  const out = await expand(args, [], table, 0, origins);
  return { args: out, origins };
}

/**
 * The index in the short option cluster `arg` (`-sS`, `-sK`, `-so`) of its first option that
 * takes a value (`K` too), or -1 when there is none or an unknown one comes first.
 */
export function valueOptionAt(arg: string, table: OptionTable): number {
  if (!/^-[^-]/.test(arg)) return -1;
  for (let i = 1; i < arg.length; i++) {
    if (arg[i] === "K") return i;
    const kind = table.kinds.get(table.shorts.get(arg[i]!) ?? "");
    if (kind !== "boolean") return kind === undefined ? -1 : i;
  }
  return -1;
}

async function expand(
  args: string[],
  from: (string | undefined)[],
  table: OptionTable,
  depth: number,
  origins: (string | undefined)[],
): Promise<string[]> {
  const out: string[] = [];
  const keep = (arg: string, where: string | undefined) => {
    out.push(arg);
    origins.push(where);
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const where = from[i];
    if (arg === "--") {
      for (; i < args.length; i++) keep(args[i]!, from[i]);
      return out;
    }
    const at = valueOptionAt(arg, table);
    // As curl: -K in a cluster of short options, after booleans (`-sK FILE`, `-sKFILE`).
    const inCluster = at > 0 && arg[at] === "K";
    let file: string | undefined;
    if (arg === "--config" || (inCluster && at === arg.length - 1)) {
      file = args[++i];
      if (file === undefined) {
        throw new Exit(
          EXIT_CODES.usage,
          `${inCluster ? "-K" : arg} takes a FILE (- for stdin)`,
          true,
        );
      }
    } else if (arg.startsWith("--config=")) {
      file = arg.slice("--config=".length);
    } else if (inCluster) {
      file = arg.slice(at + 1);
    }
    if (file === undefined) {
      keep(arg, where);
      // The value of an option is kept as it is, even one that looks like -K.
      const value = (at > 0 && at === arg.length - 1) ||
        (/^--[^=]+$/.test(arg) && table.kinds.get(arg.slice(2)) === "string");
      if (value && i + 1 < args.length) keep(args[++i]!, from[i]);
      continue;
    }
    // `-sK FILE`: the options before -K stay where they stand.
    if (at > 1) keep(arg.slice(0, at), where);
    if (depth >= MAX_DEPTH) {
      throw new Exit(
        EXIT_CODES.usage,
        `-K ${file}: config files name each other more than ${MAX_DEPTH} deep`,
        true,
      );
    }
    const lines: (string | undefined)[] = [];
    const given = configArgs(file, await readConfig(file), table, lines);
    out.push(...await expand(given, lines, table, depth + 1, origins));
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

/**
 * The arguments the lines of a config file give; errors name `file` and the line. With
 * `origins`, the `FILE:LINE` of each argument is added to it.
 */
export function configArgs(
  file: string,
  text: string,
  table: OptionTable,
  origins?: (string | undefined)[],
): string[] {
  const args: string[] = [];
  const lines = text.split(/\r?\n/);
  const shortName = (c: string) => c === "K" ? "config" : table.shorts.get(c);
  const kindOf = (name: string | undefined) =>
    name === "config" ? "string" : table.kinds.get(name ?? "");
  for (let n = 0; n < lines.length; n++) {
    const where = `${file === "-" ? "stdin" : file}:${n + 1}`;
    const fail = (message: string): never => {
      throw new Exit(EXIT_CODES.usage, `${where}: ${message}`, true);
    };
    const push = (arg: string) => {
      args.push(arg);
      origins?.push(where);
    };
    const line = lines[n]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const nameEnd = line.search(/[\s=:]/);
    const written = nameEnd < 0 ? line : line.slice(0, nameEnd);
    let rest = nameEnd < 0 ? "" : line.slice(nameEnd).replace(/^\s*[=:]?\s*/, "");
    let long: string | undefined;
    // A value written in a cluster of short options, after the one taking it (`-sKFILE`).
    let attached = "";
    if (written.startsWith("--")) long = written.slice(2);
    else if (!written.startsWith("-")) long = written;
    else {
      // Short options, as on the command line: booleans together (`-sS`), the last of them
      // may take a value (`-so FILE`, `-soFILE`).
      const names = [...written.slice(1)].map(shortName);
      const at = names.findIndex((name) => kindOf(name) !== "boolean");
      if (at < 0 && names.length > 1) {
        if (rest !== "" && !rest.startsWith("#")) fail(`${written} takes no value, got "${rest}"`);
        names.forEach((name) => push(`--${name}`));
        continue;
      }
      long = at < 0 ? names[0] : names[at];
      if (at >= 0 && long !== undefined) {
        names.slice(0, at).forEach((name) => push(`--${name}`));
        attached = written.slice(at + 2);
      }
    }
    if (long === "url") {
      // curl's `url` option: a URL, as given on the command line.
      push("--url");
    } else {
      // As curl: --no-NAME switches a boolean option off.
      const negated = long?.startsWith("no-") && table.kinds.get(long.slice(3)) === "boolean";
      const kind = long === undefined ? undefined : negated ? "boolean" : kindOf(long);
      if (kind === undefined) fail(`unknown option "${written}"`);
      if (kind === "boolean") {
        if (rest !== "" && !rest.startsWith("#")) {
          fail(`--${long} takes no value, got "${rest}"`);
        }
        push(`--${long}`);
        continue;
      }
      push(`--${long}`);
    }
    let value = "";
    if (attached !== "") {
      value = attached;
    } else if (rest === "") {
      fail(`${written} needs a value`);
    } else if (rest.startsWith('"')) {
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
