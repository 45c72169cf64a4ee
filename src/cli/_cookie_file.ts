/**
 * Cookie files in the Netscape format curl reads with `-b FILE` and writes with `-c FILE`: one
 * cookie a line, seven fields split by tabs (domain, whether subdomains get it, path, whether
 * it is secure, expiry in seconds since the epoch with 0 for a session cookie, name, value); a
 * domain starting with `#HttpOnly_` marks an HttpOnly cookie; other `#` lines are comments.
 * A line of exactly seven fields is taken as it is, so that a file written with `-c` reads back
 * the same (a nameless cookie has an empty name field). Otherwise, as curl reads them: runs of
 * tabs are one, and a line of six fields whose third is `TRUE` or `FALSE` is the older format
 * without a path (`/`); an empty path is `/`. Blanks before a line are skipped; spaces at either end of a name or
 * value are not part of it, as in a Set-Cookie header; an expiry past 2^63-1 seconds makes
 * the line no cookie, as in curl.
 *
 * @module
 */

import type { CookieJar, NetworkCookieInit } from "../../mod.ts";

const HTTP_ONLY = "#HttpOnly_";

/** The latest time a Date holds, in milliseconds: a later expiry is kept as this one. */
const LATEST = 8.64e15;

/** The largest expiry curl reads, in seconds: a later one makes the line no cookie. */
const LARGEST_EXPIRY = 2n ** 63n - 1n;

/** Spaces and tabs at either end of a name or value. */
const EDGE_BLANKS = /^[ \t]+|[ \t]+$/g;

/**
 * The cookie of one line of a cookie file, `null` for a comment or a blank line, or why the
 * line is not a cookie.
 */
function parseCookieLine(line: string): NetworkCookieInit | null | string {
  let text = line.replace(/\r$/, "").replace(/^[ \t]+/, "");
  const httpOnly = text.startsWith(HTTP_ONLY);
  if (httpOnly) text = text.slice(HTTP_ONLY.length);
  else if (text.startsWith("#") || text.trim() === "") return null;
  let fields = text.split("\t");
  // Seven fields are taken as they are: an empty name (a nameless cookie, as -c writes it)
  // stays empty. Other lines are read as curl reads them, runs of tabs as one.
  if (fields.length !== 7) {
    fields = fields.filter((field) => field !== "");
    // The older format has no path: its third field is already whether the cookie is secure.
    if (fields[2] === "TRUE" || fields[2] === "FALSE") fields.splice(2, 0, "/");
    // A cookie with an empty value may have lost its last tab.
    if (fields.length === 6) fields.push("");
  }
  if (fields.length !== 7) return `it has ${fields.length} tab-separated fields, not 7`;
  let [domain, subdomains, path, secure, expires, name, value] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  // As curl, a path left empty is the root ("the file format allows the path field to remain
  // not filled in").
  if (path === "") path = "/";
  if (!/^\d+$/.test(expires)) return `its expiry "${expires}" is not a number of seconds`;
  // As curl, which reads it as a 64-bit signed number.
  if (BigInt(expires) > LARGEST_EXPIRY) {
    return `its expiry ${expires} is past the largest curl reads (2^63-1)`;
  }
  const seconds = Number(expires);
  const bare = domain.replace(/^\./, "");
  if (bare === "") return "it has no domain";
  return {
    // As a Set-Cookie header's, spaces at either end are not part of the name or value.
    name: name.replace(EDGE_BLANKS, ""),
    value: value.replace(EDGE_BLANKS, ""),
    domain: bare,
    hostOnly: subdomains.toUpperCase() !== "TRUE",
    path,
    secure: secure.toUpperCase() === "TRUE",
    httpOnly,
    // As curl, an expiry too far to hold is kept: as the latest time there is.
    expires: seconds === 0 ? null : Math.min(seconds * 1000, LATEST),
  };
}

/**
 * `-b FILE`: puts the cookies of `path` into `jar`. As in curl, a file that cannot be read
 * (missing, a directory, no permission) is an empty jar, told only by `note` (`-v`): `-b
 * cookies.txt -c cookies.txt` on a first run; a line that is not a cookie is skipped with a
 * warning.
 */
export async function readCookieFile(
  path: string,
  jar: CookieJar,
  warn: (line: string) => void,
  note: (line: string) => void = () => {},
): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    note(
      `* cookies: the -b file ${path} cannot be read, none from it: ${(error as Error).message}`,
    );
    return;
  }
  for (const [i, line] of text.split("\n").entries()) {
    const cookie = parseCookieLine(line);
    if (cookie === null) continue;
    const skip = (why: string) => warn(`-b ${path}, line ${i + 1} skipped: ${why}`);
    if (typeof cookie === "string") {
      skip(cookie);
      continue;
    }
    if (cookie.expires !== null && cookie.expires! <= Date.now()) continue;
    try {
      await jar.insertCookie(cookie);
    } catch (error) {
      skip((error as Error).message);
    }
  }
}

/**
 * The text of a cookie file holding the cookies of `jar`, as curl writes it. A cookie with a
 * tab (or a line break) in a field would break its line: as curl, which refuses such cookies,
 * it is left out, told by `warn`.
 */
export async function cookieFileText(
  jar: CookieJar,
  warn: (line: string) => void,
): Promise<string> {
  let text = "# Netscape HTTP Cookie File\n" +
    "# https://curl.se/docs/http-cookies.html\n" +
    "# This file was generated by netaccess. Edit at your own risk.\n\n";
  for (const cookie of await jar.allCookies()) {
    if ([cookie.name, cookie.value, cookie.domain, cookie.path].some((f) => /[\t\r\n]/.test(f))) {
      warn(
        `-c: the cookie ${JSON.stringify(cookie.name)} for ${cookie.domain} is left out: ` +
          "a tab or line break in its name, value or path would break its line",
      );
      continue;
    }
    text += [
      `${cookie.httpOnly ? HTTP_ONLY : ""}${cookie.hostOnly ? "" : "."}${cookie.domain}`,
      cookie.hostOnly ? "FALSE" : "TRUE",
      cookie.path,
      cookie.secure ? "TRUE" : "FALSE",
      cookie.expires === null ? "0" : String(Math.floor(cookie.expires / 1000)),
      cookie.name,
      cookie.value,
    ].join("\t") + "\n";
  }
  return text;
}
