/**
 * `--netrc`, `--netrc-optional` and `--netrc-file FILE`: the credentials of a host from a
 * `.netrc` file, as curl reads it.
 *
 * @module
 */

import { basicAuthorization } from "../auth/basic.ts";
import { Exit, EXIT_CODES } from "./exit_codes.ts";

/** The login and password a `.netrc` file gives for a host. */
export interface NetrcEntry {
  login: string | undefined;
  password: string | undefined;
}

const ESCAPES: Record<string, string> = { n: "\n", r: "\r", t: "\t" };

/**
 * The tokens of a `.netrc` file: words split by white space, `"quoted"` ones with `\"`, `\\`,
 * `\n`, `\r` and `\t` escapes; a `#` that starts a word comments out the rest of its line, and
 * the lines of a `macdef` up to the next empty line are skipped.
 */
function* tokens(text: string): Generator<string> {
  let i = 0;
  let macro = false;
  while (i < text.length) {
    if (macro) {
      // A macro's lines run to the next empty line.
      const end = text.indexOf("\n", i);
      const line = text.slice(i, end < 0 ? text.length : end);
      i = end < 0 ? text.length : end + 1;
      if (line.trim() === "") macro = false;
      continue;
    }
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "#") {
      const end = text.indexOf("\n", i);
      i = end < 0 ? text.length : end + 1;
      continue;
    }
    let word = "";
    if (c === '"') {
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === "\\" && i + 1 < text.length) {
          i++;
          word += ESCAPES[text[i]!] ?? text[i]!;
        } else {
          word += text[i]!;
        }
        i++;
      }
      i++;
    } else {
      while (i < text.length && !/\s/.test(text[i]!)) word += text[i++]!;
    }
    yield word;
    if (word === "macdef" && c !== '"') {
      // Its name, then the macro's lines.
      const name = /^[ \t]*\S*[^\n]*\n?/.exec(text.slice(i))![0];
      i += name.length;
      macro = true;
    }
  }
}

/**
 * The entry of `text` (a `.netrc` file) for `host`: the first `machine` of that name, else the
 * `default` entry, else `null`.
 */
export function netrcEntry(text: string, host: string): NetrcEntry | null {
  const wanted = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  let current: NetrcEntry | null = null;
  const words = tokens(text);
  for (let word = words.next(); !word.done; word = words.next()) {
    const keyword = word.value;
    if (keyword === "machine" || keyword === "default") {
      if (current !== null) return current;
      const name = keyword === "machine" ? words.next().value : undefined;
      if (keyword === "default" || name?.toLowerCase() === wanted) {
        current = { login: undefined, password: undefined };
      }
    } else if (keyword === "login" || keyword === "password" || keyword === "account") {
      const value = words.next().value;
      if (current !== null && value !== undefined && keyword !== "account") {
        current[keyword] = value;
      }
    }
  }
  return current;
}

/** The `.netrc` options of a command line. */
export interface NetrcOptions {
  netrc?: boolean;
  "netrc-optional"?: boolean;
  "netrc-file"?: string;
}

/** The `.netrc` file of the user: `$HOME/.netrc` (`%USERPROFILE%\_netrc` on Windows). */
function defaultNetrc(): string {
  const home = Deno.env.get("HOME");
  if (home !== undefined) return `${home}/.netrc`;
  const profile = Deno.env.get("USERPROFILE");
  if (profile !== undefined) return `${profile}\\_netrc`;
  throw new Exit(
    EXIT_CODES.usage,
    "--netrc reads ~/.netrc, and HOME is not set: give --netrc-file FILE",
    true,
  );
}

/**
 * The text of the `.netrc` file the options ask for, or `null` when none is asked for, or with
 * `--netrc-optional` when it cannot be read. As curl, a file that `--netrc` or `--netrc-file`
 * asks for and that cannot be read exits 26.
 */
export async function readNetrc(
  values: NetrcOptions,
): Promise<{ file: string; text: string } | null> {
  if (!values.netrc && !values["netrc-optional"] && values["netrc-file"] === undefined) {
    return null;
  }
  const file = values["netrc-file"] ?? defaultNetrc();
  try {
    return { file, text: await Deno.readTextFile(file) };
  } catch (error) {
    if (values["netrc-optional"]) return null;
    throw new Exit(
      EXIT_CODES.content,
      `cannot read the .netrc file ${file}: ${(error as Error).message}`,
    );
  }
}

/**
 * `-u USER` without a password: the password the `.netrc` file gives for that login at the
 * host of `url`, as `USER:PASSWORD`, or `user` as it is.
 */
export function netrcUser(netrc: { text: string } | null, user: string, url: URL): string {
  if (netrc === null || user.includes(":")) return user;
  const entry = netrcEntry(netrc.text, url.hostname);
  return entry?.login === user && entry.password !== undefined ? `${user}:${entry.password}` : user;
}

/**
 * The Basic `Authorization` of each of `urls` whose host has an entry in the `.netrc` file,
 * its credentials put in the URL too (they answer a Digest challenge, as those of `-u`). With
 * `--netrc-optional` the credentials of a URL win over the file's, as in curl.
 */
export function netrcAuthorizations(
  netrc: { text: string },
  urls: URL[],
  optional: boolean,
): Map<URL, string> {
  const authorizations = new Map<URL, string>();
  for (const url of urls) {
    if (url.protocol !== "http:" && url.protocol !== "https:") continue;
    if (optional && url.username !== "") continue;
    const entry = netrcEntry(netrc.text, url.hostname);
    if (entry === null || (entry.login === undefined && entry.password === undefined)) continue;
    const username = entry.login ?? "";
    const password = entry.password ?? "";
    let authorization: string;
    try {
      authorization = basicAuthorization({ username, password });
    } catch {
      throw new Exit(
        EXIT_CODES.usage,
        `the .netrc login or password for ${url.hostname} must not contain control characters`,
        true,
      );
    }
    url.username = encodeURIComponent(username);
    url.password = encodeURIComponent(password);
    authorizations.set(url, authorization);
  }
  return authorizations;
}
