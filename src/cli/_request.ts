/**
 * The request of a command line: method, headers and body (`-X`, `-H`, `-d`, `--json`, `-F`,
 * `-u`), and the files and streams its options read.
 *
 * @module
 */

import { basicAuthorization } from "../auth/basic.ts";
import { Exit, EXIT_CODES } from "./exit_codes.ts";

const encoder = new TextEncoder();

export async function readText(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new Exit(EXIT_CODES.failure, `Cannot read ${what} ${path}: ${(error as Error).message}`);
  }
}

async function readStdin(): Promise<Uint8Array> {
  return await new Response(Deno.stdin.readable).bytes();
}

/** The bytes of `-d`/`--json` DATA: text, `@file` or `@-`. */
async function dataBytes(value: string, option: string): Promise<Uint8Array> {
  if (!value.startsWith("@")) return encoder.encode(value);
  const path = value.slice(1);
  if (path === "-") return await readStdin();
  try {
    return await Deno.readFile(path);
  } catch (error) {
    throw new Exit(
      EXIT_CODES.failure,
      `Cannot read the ${option} file ${path}: ${(error as Error).message}`,
    );
  }
}

/** `bytes` without their CR and LF bytes. */
function withoutLineBreaks(bytes: Uint8Array): Uint8Array {
  if (!bytes.includes(0x0a) && !bytes.includes(0x0d)) return bytes;
  return bytes.filter((byte) => byte !== 0x0a && byte !== 0x0d);
}

/**
 * A body sent as a stream of 64 KiB slices so that its upload progress can be shown. The
 * request carries the bytes (replayable for redirects and authentication); each send gets a
 * stream of its own.
 */
export function sliced(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.byteLength) {
        controller.close();
        return;
      }
      const end = Math.min(bytes.byteLength, offset + 64 * 1024);
      controller.enqueue(bytes.slice(offset, end));
      offset = end;
    },
  }, { highWaterMark: 0 });
}

async function formBody(fields: string[]): Promise<{ bytes: Uint8Array; type: string }> {
  const form = new FormData();
  for (const field of fields) {
    const eq = field.indexOf("=");
    if (eq <= 0) {
      throw new Exit(
        EXIT_CODES.usage,
        `-F takes NAME=VALUE, NAME=@FILE or NAME=<FILE, got "${field}"`,
        true,
      );
    }
    const name = field.slice(0, eq);
    const value = field.slice(eq + 1);
    if (value.startsWith("@")) {
      const [path = "", ...params] = value.slice(1).split(";");
      let type = "application/octet-stream";
      let filename = path.split(/[\\/]/).pop() ?? path;
      for (const param of params) {
        const [key, ...rest] = param.split("=");
        if (key?.trim() === "type") type = rest.join("=");
        if (key?.trim() === "filename") filename = rest.join("=");
      }
      let bytes: Uint8Array<ArrayBuffer>;
      try {
        bytes = await Deno.readFile(path);
      } catch (error) {
        throw new Exit(
          EXIT_CODES.failure,
          `Cannot read the -F file ${path}: ${(error as Error).message}`,
        );
      }
      form.append(name, new Blob([bytes], { type }), filename);
    } else if (value.startsWith("<")) {
      form.append(name, await readText(value.slice(1), "the -F file"));
    } else {
      form.append(name, value);
    }
  }
  const response = new Response(form);
  return {
    bytes: await response.bytes(),
    type: response.headers.get("content-type") ?? "multipart/form-data",
  };
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

/** The options that make the request. */
export interface RequestOptions {
  request?: string;
  header?: string[];
  data?: string[];
  "data-binary"?: string[];
  json?: string[];
  form?: string[];
  head?: boolean;
  user?: string;
  "user-agent"?: string;
  compressed?: boolean;
}

/**
 * The method, headers and body that `values` ask for; `-u` credentials go into each of
 * `urls`.
 */
export async function requestOf(
  values: RequestOptions,
  urls: URL[],
): Promise<{ method: string; headers: Headers; body: Uint8Array | null; warnings: string[] }> {
  const headers = new Headers();
  // The names given as `-H "Name:"`: not sent, not even the value the command line would set.
  const removed = new Set<string>();
  const warnings: string[] = [];
  for (const line of values.header ?? []) {
    const colon = line.indexOf(":");
    // As curl: `-H "Name;"` sends the header with an empty value.
    const empty = colon < 0 && line.trimEnd().endsWith(";");
    if (colon <= 0 && !empty) {
      throw new Exit(
        EXIT_CODES.usage,
        `-H takes "Name: value" ("Name;" for an empty value, "Name:" to send none), got "${line}"`,
        true,
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
      } else {
        headers.append(name, value);
        removed.delete(name.toLowerCase());
      }
    } catch {
      throw new Exit(EXIT_CODES.usage, `-H "${line}" is not a valid header`, true);
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
        throw new Exit(EXIT_CODES.usage, `-A "${agent}" is not a valid User-Agent value`, true);
      }
    }
  }
  // As curl: --compressed asks for the codings it decodes (a -H Accept-Encoding wins). A
  // request with its own Accept-Encoding is decoded by Deno's fetch, which decodes gzip and br
  // (not deflate, which curl asks for too).
  if (values.compressed && mayAdd("accept-encoding")) headers.set("accept-encoding", "gzip, br");
  let body: Uint8Array | null = null;
  const binary = values["data-binary"] !== undefined;
  const data = values.data ?? values["data-binary"];
  if (data !== undefined) {
    if (mayAdd("content-type")) {
      headers.set("content-type", "application/x-www-form-urlencoded");
    }
    const option = binary ? "--data-binary" : "--data";
    const parts = [];
    for (const value of data) {
      const bytes = await dataBytes(value, option);
      // As curl's -d: the carriage returns and newlines of a file or stdin are not sent.
      parts.push(!binary && value.startsWith("@") ? withoutLineBreaks(bytes) : bytes);
    }
    body = parts.length === 1 ? parts[0]! : encoder.encode(
      parts.map((part) => new TextDecoder().decode(part)).join("&"),
    );
  } else if (values.json !== undefined) {
    if (mayAdd("content-type")) headers.set("content-type", "application/json");
    if (mayAdd("accept")) headers.set("accept", "application/json");
    const parts = [];
    for (const json of values.json) parts.push(await dataBytes(json, "--json"));
    body = encoder.encode(parts.map((part) => new TextDecoder().decode(part)).join(""));
  } else if (values.form !== undefined) {
    const form = await formBody(values.form);
    if (mayAdd("content-type")) headers.set("content-type", form.type);
    body = form.bytes;
  }
  const method = values.request?.toUpperCase() ??
    (values.head ? "HEAD" : body !== null ? "POST" : "GET");
  if (values.request !== undefined && !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(values.request)) {
    throw new Exit(EXIT_CODES.usage, `-X takes an HTTP method, got "${values.request}"`, true);
  }
  if (values.user !== undefined) {
    const colon = values.user.indexOf(":");
    const user = colon < 0 ? values.user : values.user.slice(0, colon);
    const password = colon < 0 ? await askPassword(user) : values.user.slice(colon + 1);
    // As curl: Basic goes with the first request. The header is the request's own, so a
    // redirect to another origin drops it; the URL's userinfo answers a Digest challenge.
    if (mayAdd("authorization")) {
      try {
        headers.set("authorization", basicAuthorization({ username: user, password }));
      } catch {
        throw new Exit(
          EXIT_CODES.usage,
          "-u: the user name and password must not contain control characters",
          true,
        );
      }
    }
    for (const url of urls) {
      url.username = encodeURIComponent(user);
      url.password = encodeURIComponent(password);
    }
  }
  return { method, headers, body, warnings };
}
