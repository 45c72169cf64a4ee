/**
 * The request of a command line: method, headers and body (`-X`, `-H`, `-d` and the other
 * data options, `-G`, `-F`, `-T`, `-u`), and the files and streams its options read.
 *
 * @module
 */

import { basicAuthorization } from "../auth/basic.ts";
import {
  DATA_OPTIONS,
  type DataArg,
  dataBody,
  readBytes,
  type Upload,
  uploads,
  withQuery,
} from "./_data.ts";
import { type FormArg, formBody } from "./_form.ts";
import { badValue, Exit, EXIT_CODES } from "./exit_codes.ts";

const encoder = new TextEncoder();

/** The text of `path`, or an error naming `what` it is and the file, with exit `code`. */
export async function readText(path: string, what: string, code: number): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new Exit(code, `Cannot read ${what} ${path}: ${(error as Error).message}`);
  }
}

/** Reads a password from the terminal without echoing it. */
async function askPassword(user: string): Promise<string> {
  if (!Deno.stdin.isTerminal()) {
    throw new Exit(
      EXIT_CODES.usage,
      `-u ${user} has no password and stdin is not a terminal to ask for it: give -u ${user}:PASSWORD`,
      true,
    );
  }
  // Raw before the prompt: whatever is typed once it shows is never echoed.
  Deno.stdin.setRaw(true);
  Deno.stderr.writeSync(encoder.encode(`Password for ${user}: `));
  const bytes: number[] = [];
  const buffer = new Uint8Array(64);
  try {
    read: for (;;) {
      const n = await Deno.stdin.read(buffer);
      if (n === null) break;
      for (const byte of buffer.subarray(0, n)) {
        if (byte === 0x0d || byte === 0x0a) break read;
        if (byte === 0x03) throw new Exit(EXIT_CODES.canceled, "Canceled");
        if (byte === 0x7f || byte === 0x08) bytes.pop();
        else bytes.push(byte);
      }
    }
  } finally {
    Deno.stdin.setRaw(false);
    Deno.stderr.writeSync(encoder.encode("\n"));
  }
  return new TextDecoder().decode(Uint8Array.from(bytes));
}

/** The headers that get a default value (from Deno's `fetch`) when a request has none. */
const FETCH_DEFAULTS = new Set(["accept", "accept-language", "accept-encoding", "user-agent"]);

/** The methods fetch upper-cases, in whatever case they are given. */
const NORMALIZED_METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);

/** The method `-X METHOD` puts on the wire: as given, but for those fetch upper-cases. */
function wireMethod(method: string): string {
  const upper = method.toUpperCase();
  return NORMALIZED_METHODS.has(upper) ? upper : method;
}

/** The options that make the request. */
export interface RequestOptions {
  request?: string;
  header?: string[];
  /** The data and form options, in the order given. */
  sends?: (DataArg | FormArg)[];
  get?: boolean;
  "upload-file"?: string[];
  head?: boolean;
  user?: string;
  "user-agent"?: string;
  /** How `-u` authenticates: Basic up front (the default), or only when challenged. */
  auth?: "basic" | "digest" | "anyauth";
  referer?: string;
  compressed?: boolean;
  cookie?: string[];
}

/** A line of `-H`, and the `FILE:LINE` it was read from when it came from `-H @FILE`. */
interface HeaderLine {
  line: string;
  where?: string;
}

/** The lines of `-H`: as curl, `-H @FILE` (`@-` for stdin) gives the lines of FILE. */
async function headerLines(args: string[]): Promise<HeaderLine[]> {
  const lines: HeaderLine[] = [];
  for (const arg of args) {
    if (!arg.startsWith("@")) {
      lines.push({ line: arg });
      continue;
    }
    const file = arg.slice(1);
    const bytes = await readBytes(file, "-H");
    for (const [n, line] of new TextDecoder().decode(bytes).split(/\r?\n/).entries()) {
      if (line.trim() !== "") {
        lines.push({ line, where: `${file === "-" ? "stdin" : file}:${n + 1}` });
      }
    }
  }
  return lines;
}

/** What a run sends: the method, headers and body of its requests, and its uploads. */
export interface RequestParts {
  method: string;
  headers: Headers;
  body: Upload | null;
  /**
   * `-T`: what each of its URLs is sent, a file's bytes or stdin as it comes, with
   * `uploadMethod` (PUT, or that of `-X`).
   */
  uploads: Map<URL, Upload>;
  uploadMethod: string;
  /** What the command line could not do as asked, told on stderr before the transfers. */
  warnings: string[];
}

/**
 * The method, headers and body that `values` ask for; `-u` credentials go into each of
 * `urls`. `given[i]` is the index of the URL given that `urls[i]` is globbed from (its `-T`).
 */
export async function requestOf(
  values: RequestOptions,
  urls: URL[],
  given?: readonly number[],
): Promise<RequestParts> {
  const headers = new Headers();
  // The names given as `-H "Name:"`: not sent, not even the value the command line would set.
  const removed = new Set<string>();
  const warnings: string[] = [];
  for (const { line, where } of await headerLines(values.header ?? [])) {
    // A line of `-H @FILE` is told by its FILE:LINE, as the lines of a -K file are.
    const bad = (message: string) =>
      where === undefined
        ? badValue("header", message, line)
        : new Exit(EXIT_CODES.usage, `${where}: ${message}`, true);
    const colon = line.indexOf(":");
    // As curl: `-H "Name;"` sends the header with an empty value.
    const empty = colon < 0 && line.trimEnd().endsWith(";");
    if (colon <= 0 && !empty) {
      throw bad(
        `-H takes "Name: value" ("Name;" for an empty value, "Name:" to send none), got "${line}"`,
      );
    }
    const name = (empty ? line.trimEnd().slice(0, -1) : line.slice(0, colon)).trim();
    const value = empty ? "" : line.slice(colon + 1).trim();
    try {
      if (!empty && value === "") {
        // As curl: `-H "Name:"` sends no such header.
        headers.delete(name);
        removed.add(name.toLowerCase());
        if (FETCH_DEFAULTS.has(name.toLowerCase())) {
          warnings.push(
            `-H "${line}": ${name} cannot be left out, a request without one gets a default ` +
              `value from Deno's fetch (give -H "${name}: VALUE" to choose it)`,
          );
        }
      } else if (name.toLowerCase() === "host") {
        // curl sends it (a virtual host on another address); fetch sends the URL's.
        warnings.push(
          `-H "${line}" is not sent: Deno's fetch sends the URL's host in Host ` +
            `(put the host name in the URL instead)`,
        );
      } else {
        headers.append(name, value);
        removed.delete(name.toLowerCase());
      }
    } catch {
      throw bad(`-H "${line}" is not a valid header`);
    }
  }
  /** Whether the command line sets `name` itself: not given, and not removed, with -H. */
  const mayAdd = (name: string) => !headers.has(name) && !removed.has(name);
  const agent = values["user-agent"];
  if (agent !== undefined && mayAdd("user-agent")) {
    if (agent.trim() === "") {
      // As curl's -A "": no User-Agent of its own, but fetch sends its default.
      warnings.push(
        `-A "": User-Agent cannot be left out, a request without one gets a default value ` +
          `from Deno's fetch (give -A NAME to choose it)`,
      );
    } else {
      try {
        headers.set("user-agent", agent);
      } catch {
        throw badValue("user-agent", `-A "${agent}" is not a valid User-Agent value`);
      }
    }
  }
  // As curl: each -b NAME=VALUE is sent as it is, joined by ";" in one Cookie header (a -H
  // Cookie wins).
  const pairs = (values.cookie ?? []).filter((cookie) => cookie.includes("="));
  if (pairs.length > 0 && mayAdd("cookie")) {
    try {
      headers.set("cookie", pairs.join(";"));
    } catch {
      throw badValue("cookie", `-b "${pairs.join(";")}" is not a valid Cookie value`);
    }
  }
  // As curl's -e: the Referer header (a -H Referer wins); ";auto" is curl's, on redirects.
  const referer = values.referer?.replace(/;auto$/, "");
  if (values.referer?.endsWith(";auto")) {
    warnings.push(
      `-e "${values.referer}": ";auto" (a Referer on each redirect followed) is not supported; ` +
        "the Referer goes with the first request",
    );
  }
  if (referer !== undefined && referer !== "" && mayAdd("referer")) {
    try {
      headers.set("referer", referer);
    } catch {
      throw badValue("referer", `-e "${referer}" is not a valid Referer value`);
    }
  }
  // As curl: --compressed asks for the codings it decodes (a -H Accept-Encoding wins). A
  // request with its own Accept-Encoding is decoded by Deno's fetch, which decodes gzip and br
  // (not deflate, which curl asks for too).
  if (values.compressed && mayAdd("accept-encoding")) headers.set("accept-encoding", "gzip, br");
  const sends = values.sends ?? [];
  const data = sends.filter((arg): arg is DataArg =>
    (DATA_OPTIONS as readonly string[]).includes(arg.option)
  );
  const form = sends.filter((arg): arg is FormArg => !data.includes(arg as DataArg));
  const files = values["upload-file"] ?? [];
  // As curl: one way of sending a body at a time.
  const ways = [
    data.length > 0 && !values.get ? "-d" : "",
    form.length > 0 ? "-F" : "",
    files.length > 0 ? "-T" : "",
    values.head ? "-I" : "",
  ].filter((way) => way !== "");
  if (ways.length > 1) {
    throw new Exit(
      EXIT_CODES.usage,
      `${ways.join(" and ")} each choose the request's method and body: give one of them` +
        (ways.includes("-d") ? " (-G puts the data of -d in the URL instead)" : ""),
      true,
    );
  }
  if (values.get && form.length > 0) {
    throw new Exit(EXIT_CODES.usage, "-G puts the data of -d in the URL: -F sends a body", true);
  }
  let body: Uint8Array | null = null;
  const json = data.some((arg) => arg.option === "json");
  if (data.length > 0) {
    const bytes = await dataBody(data);
    if (values.get) {
      for (const url of urls) withQuery(url, bytes);
    } else {
      body = bytes;
      if (mayAdd("content-type")) {
        headers.set(
          "content-type",
          json ? "application/json" : "application/x-www-form-urlencoded",
        );
      }
    }
    // As curl's --json (7.82): JSON is asked for in return.
    if (json && mayAdd("accept")) headers.set("accept", "application/json");
  } else if (form.length > 0) {
    const multipart = await formBody(form, warnings, headers.get("content-type") ?? undefined);
    if (!removed.has("content-type")) headers.set("content-type", multipart.type);
    body = multipart.bytes;
  }
  const sent = await uploads(files, urls, given);
  // As curl, -X sends the method as given (methods are case-sensitive), but for the six that
  // fetch upper-cases whatever their case (the Fetch standard's normalization).
  const custom = values.request === undefined ? undefined : wireMethod(values.request);
  const method = custom ?? (values.head ? "HEAD" : body !== null ? "POST" : "GET");
  const uploadMethod = custom ?? "PUT";
  const bodied = body !== null ? method : sent.size > 0 ? uploadMethod : "";
  if (bodied === "GET" || bodied === "HEAD") {
    // curl sends it; Deno's fetch sends no body with GET or HEAD.
    throw new Exit(
      EXIT_CODES.usage,
      `-X ${values.request} cannot carry a body: Deno's fetch sends none with GET or HEAD` +
        (body !== null && form.length === 0 ? " (-G puts the data in the URL)" : ""),
      true,
    );
  }
  if (values.request !== undefined && !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(values.request)) {
    throw badValue("request", `-X takes an HTTP method, got "${values.request}"`);
  }
  if (values.user !== undefined) {
    const colon = values.user.indexOf(":");
    const user = colon < 0 ? values.user : values.user.slice(0, colon);
    const password = colon < 0 ? await askPassword(user) : values.user.slice(colon + 1);
    // As curl: Basic goes with the first request (but with --digest or --anyauth). The header
    // is the request's own, so a redirect to another origin drops it; the URL's userinfo
    // answers a challenge.
    if ((values.auth ?? "basic") === "basic" && mayAdd("authorization")) {
      try {
        headers.set("authorization", basicAuthorization({ username: user, password }));
      } catch {
        throw badValue(
          "user",
          "-u: the user name and password must not contain control characters",
        );
      }
    }
    for (const url of urls) {
      url.username = encodeURIComponent(user);
      url.password = encodeURIComponent(password);
    }
  }
  return {
    method,
    headers,
    body,
    uploads: sent,
    uploadMethod,
    warnings,
  };
}
