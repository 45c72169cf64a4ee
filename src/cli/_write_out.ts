/**
 * `-w/--write-out`: the text printed after each transfer, with curl's variables.
 *
 * @module
 */

import { Exit, EXIT_CODES } from "./exit_codes.ts";
import { readStdin } from "./_data.ts";

/** What a transfer tells its `-w` format. */
export interface TransferInfo {
  /** The final status, 0 when no response came. */
  status: number;
  /** The HTTP version as curl writes it (`1.1`, `2`), asked for only when the format uses it. */
  httpVersion: () => Promise<string>;
  /** The final URL, after redirects, without credentials. */
  url: URL;
  method: string;
  /** Body bytes received (decoded). */
  size: number;
  /** Milliseconds from the start of the transfer to its end. */
  elapsed: number;
  /** The final response's headers. */
  headers: Headers;
  redirects: number;
  exitCode: number;
  /** The error told for the transfer, or `""`. */
  error: string;
  /** The file the body was written to (`-o`, `-O`, `-J`), or `undefined` for stdout. */
  file: string | undefined;
}

/** The variables of `%{NAME}`. */
const VARIABLES = new Set([
  "content_type",
  "errormsg",
  "exitcode",
  "filename_effective",
  "http_code",
  "http_version",
  "method",
  "num_redirects",
  "redirect_url",
  "response_code",
  "size_download",
  "stderr",
  "stdout",
  "time_total",
  "url_effective",
]);

/** `%{name}`, `%header{name}`, `%%`, or an escape. */
const TOKEN = /%%|%\{([^}]*)\}|%header\{([^}]*)\}|\\[nrt\\]/g;

/**
 * The format of `-w`: the text, or the file after `@` (`@-`: stdin). Unknown variables are
 * told as warnings, as curl does, and print nothing.
 */
export async function writeOutFormat(value: string, warnings: string[]): Promise<string> {
  let format = value;
  if (value.startsWith("@")) {
    const path = value.slice(1);
    try {
      format = path === "-"
        ? new TextDecoder().decode(await readStdin())
        : await Deno.readTextFile(path);
    } catch (error) {
      // As curl 8 (curl 7 warned and went on without -w): exit 26.
      throw new Exit(
        EXIT_CODES.content,
        `Cannot read the --write-out file ${path}: ${(error as Error).message}`,
      );
    }
  }
  for (const [, name] of format.matchAll(TOKEN)) {
    if (name !== undefined && !VARIABLES.has(name)) {
      warnings.push(`-w: unknown variable %{${name}}, which prints nothing`);
    }
  }
  return format;
}

/** Whether `format` prints the HTTP version. */
export function usesHttpVersion(format: string): boolean {
  return format.includes("%{http_version}");
}

/**
 * The text of `format` for one transfer, in pieces for stdout and stderr (`%{stderr}` and
 * `%{stdout}` switch between them).
 */
export async function renderWriteOut(
  format: string,
  info: TransferInfo,
): Promise<{ to: "stdout" | "stderr"; text: string }[]> {
  const pieces: { to: "stdout" | "stderr"; text: string }[] = [];
  let to: "stdout" | "stderr" = "stdout";
  let text = "";
  let at = 0;
  const flush = () => {
    if (text !== "") pieces.push({ to, text });
    text = "";
  };
  for (const match of format.matchAll(TOKEN)) {
    text += format.slice(at, match.index);
    at = match.index + match[0].length;
    const [token, name, header] = match;
    if (token === "%%") text += "%";
    else if (token.startsWith("\\")) {
      text += { "\\n": "\n", "\\r": "\r", "\\t": "\t", "\\\\": "\\" }[token] ?? token;
    } else if (header !== undefined) {
      try {
        // As curl: a header sent several times prints its first value. `fetch` joins the lines
        // of one, but for Set-Cookie, by `, `, as a list's values. The name is matched as
        // written: a space in it matches no header, as in curl.
        text += /\s/.test(header)
          ? ""
          : header.toLowerCase() === "set-cookie"
          ? info.headers.getSetCookie()[0] ?? ""
          : info.headers.get(header) ?? "";
      } catch {
        // Not a header name: nothing, as an absent header.
      }
    } else if (name === "stderr" || name === "stdout") {
      flush();
      to = name;
    } else {
      text += await variable(name!, info);
    }
  }
  text += format.slice(at);
  flush();
  return pieces;
}

async function variable(name: string, info: TransferInfo): Promise<string> {
  switch (name) {
    case "http_code":
    case "response_code":
      return String(info.status).padStart(3, "0");
    case "http_version":
      return info.status === 0 ? "0" : await info.httpVersion();
    case "url_effective":
      return info.url.href;
    case "method":
      return info.method;
    case "size_download":
      return String(info.size);
    case "time_total":
      return (info.elapsed / 1000).toFixed(6);
    case "content_type":
      return info.headers.get("content-type") ?? "";
    case "num_redirects":
      return String(info.redirects);
    case "exitcode":
      return String(info.exitCode);
    case "errormsg":
      return info.error;
    case "filename_effective":
      return info.file ?? "";
    case "redirect_url":
      return redirectUrl(info);
  }
  return "";
}

/**
 * As curl's `%{redirect_url}`: where the final response redirects to (a redirect `-L` did not
 * follow), its `Location` resolved against the URL; empty when it redirects nowhere.
 */
function redirectUrl(info: TransferInfo): string {
  const location = info.headers.get("location");
  if (location === null || info.status < 300 || info.status > 399) return "";
  try {
    return new URL(location, info.url).href;
  } catch {
    return "";
  }
}
