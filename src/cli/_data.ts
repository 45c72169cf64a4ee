/**
 * The request bodies of a command line, as curl makes them: `-d`, `--data-binary`,
 * `--data-raw`, `--data-urlencode` and `--json` joined in the order given, `-G` putting them in
 * the URL, and `-T` files.
 *
 * @module
 */

import { Exit, EXIT_CODES } from "./exit_codes.ts";
import { _FileBlob } from "./_file_blob.ts";

const encoder = new TextEncoder();

/** The options whose pieces make one body, joined by `&` (`--json` adds its piece as it is). */
export const DATA_OPTIONS = [
  "data",
  "data-ascii",
  "data-binary",
  "data-raw",
  "data-urlencode",
  "json",
] as const;

/** One data option as given: its long name and its argument. */
export interface DataArg {
  option: typeof DATA_OPTIONS[number];
  value: string;
}

/** Whether an option has taken stdin: another that reads it finds it at its end. */
let stdinTaken = false;

/**
 * Stdin, for the first option that reads it; as in curl, the next ones find it at its end
 * (`null`), where a second reader of the stream would fail.
 */
function takeStdin(): ReadableStream<Uint8Array> | null {
  if (stdinTaken) return null;
  stdinTaken = true;
  return Deno.stdin.readable;
}

/** Reads stdin to its end (nothing when another option read it first). */
export async function readStdin(): Promise<Uint8Array> {
  const stdin = takeStdin();
  return stdin === null ? new Uint8Array() : await new Response(stdin).bytes();
}

/**
 * The bytes of `path` (`-` for stdin), or an error naming `option` and the file, exit 26 as in
 * curl (from 8.3 on, for `-d @FILE` and `-H @FILE` too, which older curl sent empty).
 */
export async function readBytes(path: string, option: string): Promise<Uint8Array> {
  if (path === "-") return await readStdin();
  try {
    return await Deno.readFile(path);
  } catch (error) {
    throw new Exit(
      EXIT_CODES.content,
      `Cannot read the ${option} file ${path}: ${(error as Error).message}`,
    );
  }
}

/** `bytes` without their CR and LF bytes. */
function withoutLineBreaks(bytes: Uint8Array): Uint8Array {
  if (!bytes.includes(0x0a) && !bytes.includes(0x0d)) return bytes;
  return bytes.filter((byte) => byte !== 0x0a && byte !== 0x0d);
}

/** The bytes of `parts` one after the other. */
function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const joined = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    at += part.byteLength;
  }
  return joined;
}

/**
 * `bytes` percent-encoded as curl's `--data-urlencode` does: every byte but the unreserved
 * `A-Z a-z 0-9 - . _ ~` as `%XX`, a space as `+`.
 */
function urlEncoded(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) {
    if (
      (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) ||
      (byte >= 0x61 && byte <= 0x7a) || byte === 0x2d || byte === 0x2e || byte === 0x5f ||
      byte === 0x7e
    ) {
      text += String.fromCharCode(byte);
    } else if (byte === 0x20) {
      text += "+";
    } else {
      text += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    }
  }
  return text;
}

/**
 * `--data-urlencode`, as curl reads it: `content`, `=content`, `name=content` (the first `=`
 * wins), `@file` and `name@file` (the file's bytes, line breaks kept); the content is encoded,
 * the name is sent as it is.
 */
async function urlEncodedPiece(value: string): Promise<Uint8Array> {
  let at = value.indexOf("=");
  if (at < 0) at = value.indexOf("@");
  const name = at < 0 ? "" : value.slice(0, at);
  const content = at >= 0 && value[at] === "@"
    ? await readBytes(value.slice(at + 1), "--data-urlencode")
    : encoder.encode(at < 0 ? value : value.slice(at + 1));
  return encoder.encode(name === "" ? urlEncoded(content) : `${name}=${urlEncoded(content)}`);
}

/** The bytes one data option adds. */
async function piece({ option, value }: DataArg): Promise<Uint8Array> {
  switch (option) {
    case "data-raw":
      return encoder.encode(value);
    case "data-urlencode":
      return await urlEncodedPiece(value);
    case "data":
    case "data-ascii":
      // As curl's -d: the carriage returns and newlines of a file or stdin are not sent.
      return value.startsWith("@")
        ? withoutLineBreaks(await readBytes(value.slice(1), `--${option}`))
        : encoder.encode(value);
    default:
      return value.startsWith("@")
        ? await readBytes(value.slice(1), `--${option}`)
        : encoder.encode(value);
  }
}

/**
 * The body of the data options, in the order given: as curl, each piece after the first is
 * joined by `&`, but for a `--json` piece, which goes on as it is.
 */
export async function dataBody(args: DataArg[]): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (const arg of args) {
    const bytes = await piece(arg);
    if (parts.length > 0 && arg.option !== "json") parts.push(encoder.encode("&"));
    parts.push(bytes);
  }
  return parts.length === 0 ? new Uint8Array() : concat(parts);
}

/** `-G`: `url` with `data` added to its query, after a `&` when it has one. */
export function withQuery(url: URL, data: Uint8Array): void {
  if (data.byteLength === 0) return;
  const text = new TextDecoder().decode(data);
  url.search = url.search.length > 1 ? `${url.search.slice(1)}&${text}` : text;
}

/** What `-T` sends: a file, read as it is sent, or stdin as it comes (or other bytes). */
export type Upload = Uint8Array | _FileBlob | ReadableStream<Uint8Array>;

/**
 * `-T FILE`: the file, read as it is sent (with its size as the Content-Length); a pipe or a
 * device (`<(cmd)`, `/dev/stdin`) is sent as it is read, chunked, once, as stdin of `-T -` is, as
 * curl sends it. A directory or a file that cannot be read exits 26.
 */
async function fileUpload(path: string): Promise<_FileBlob | ReadableStream<Uint8Array>> {
  try {
    const info = await Deno.stat(path);
    if (info.isDirectory) throw new Error("it is a directory, not a file");
    if (!info.isFile) return (await Deno.open(path)).readable;
    return await _FileBlob.open(path, "-T");
  } catch (error) {
    throw new Exit(
      EXIT_CODES.content,
      `Cannot read the -T file ${path}: ${(error as Error).message}`,
    );
  }
}

/**
 * `-T`: the file each URL gets (`-` or `.` for stdin), and the URL with the file's name added
 * where it ends in `/`, as curl does. As curl's, the Nth `-T` goes with the Nth URL given, and
 * with every URL its glob gives: `given[i]` is the index of the URL given that `urls[i]` comes
 * from. Stdin, a pipe or a device is sent as it is read, as curl sends it (chunked: its size is
 * not known), so it is given once.
 */
export async function uploads(
  files: string[],
  urls: URL[],
  given: readonly number[] = urls.map((_, i) => i),
): Promise<Map<URL, Upload>> {
  const count = given.length === 0 ? 0 : given[given.length - 1]! + 1;
  if (files.length > count) {
    throw new Exit(
      EXIT_CODES.usage,
      `-T goes with one URL each: ${files.length} files, ${count} URL${count === 1 ? "" : "s"}`,
      true,
    );
  }
  const stdins = files.filter((file) => file === "-" || file === ".").length;
  if (stdins > 1) {
    throw new Exit(
      EXIT_CODES.usage,
      `-T - (or .) sends stdin as it is read, to one URL: it is given ${stdins} times`,
      true,
    );
  }
  const sent = new Map<URL, Upload>();
  for (const [i, url] of urls.entries()) {
    const file = files[given[i]!];
    if (file === undefined) continue;
    const stdin = file === "-" || file === ".";
    sent.set(url, stdin ? takeStdin() ?? new Uint8Array() : await fileUpload(file));
    if (!stdin && url.pathname.endsWith("/")) {
      url.pathname += encodeURIComponent(file.split(/[\\/]/).pop()!);
    }
  }
  return sent;
}
