/**
 * The multipart body of `-F` and `--form-string`, made as curl makes it: text fields, files
 * (`@file`), text from files (`<file`), `;type=`, `;filename=` and `;headers=`.
 *
 * @module
 */

import { readBytes } from "./_data.ts";
import { badValue } from "./exit_codes.ts";
import { multipartPieces } from "../_multipart.ts";

const encoder = new TextEncoder();

/** One form option as given: `-F` (read as curl reads it) or `--form-string` (literal). */
export interface FormArg {
  option: "form" | "form-string";
  value: string;
}

/** A field of the form, or a file of a field of several. */
interface Part {
  name?: string;
  disposition?: "attachment";
  bytes: Uint8Array;
  filename?: string;
  type?: string;
  headers: string[];
}

/** The types curl gives a file by its extension; other files are `application/octet-stream`. */
const TYPES: Record<string, string> = {
  gif: "image/gif",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  png: "image/png",
  svg: "image/svg+xml",
  txt: "text/plain",
  htm: "text/html",
  html: "text/html",
  pdf: "application/pdf",
  xml: "application/xml",
};

/** The blanks curl skips around a word (its `ISSPACE`). */
const BLANK = /[ \t\n\v\f\r]/;

/**
 * A word of a field's value, from `text[at]`: up to the next `;` (or `stop`, the `,` between
 * the files of `@FILE1,FILE2`), or a `"quoted"` one (with `\"` and `\\` escapes), as curl reads
 * it. Returns the word and where its `;` (or `stop`, or the end) is.
 */
function word(text: string, at: number, stop = ";"): { word: string; end: number } {
  if (text[at] === '"') {
    let value = "";
    let i = at + 1;
    for (; i < text.length && text[i] !== '"'; i++) {
      if (text[i] === "\\" && (text[i + 1] === '"' || text[i + 1] === "\\")) i++;
      value += text[i];
    }
    if (i < text.length) {
      let end = i + 1;
      while (text[end] === " " || text[end] === "\t") end++;
      if (end >= text.length || text[end] === ";" || text[end] === stop) {
        return { word: value, end };
      }
    }
    // No closing quote, or more after it: the word is as it is written.
  }
  const end = separator(text, at, stop);
  return { word: text.slice(at, end).trimEnd(), end };
}

/** Where the next `;` or `stop` from `text[at]` is, or the end. */
function separator(text: string, at: number, stop: string): number {
  let end = at;
  while (end < text.length && text[end] !== ";" && text[end] !== stop) end++;
  return end;
}

/**
 * The header lines of a `;headers=@FILE` file, as curl reads them: one a line, a line starting
 * with a blank continuing the one before (folded), `#` lines comments, CRs and blank lines
 * dropped, trailing blanks trimmed.
 */
function headerFileLines(text: string): string[] {
  const lines: string[] = [];
  let current = "";
  const flush = () => {
    const line = current.replace(/[ \t\n\v\f\r]+$/, "");
    if (line !== "") lines.push(line);
    current = "";
  };
  for (const line of text.replaceAll("\r", "").split("\n")) {
    if (line === "") continue;
    if (BLANK.test(line[0]!)) {
      current += line;
      continue;
    }
    flush();
    if (!line.startsWith("#")) current = line;
  }
  flush();
  return lines;
}

/** The value of a field as written (text or a file name), and its parameters. */
interface Field {
  word: string;
  /** Where its `;` or `stop` ended it. */
  end: number;
  type?: string;
  filename?: string;
  headers: string[];
}

/**
 * Reads the value and parameters of one field, or of one file of `@FILE1,FILE2` (`stop` then
 * `,`), from `content[at]`: `type=` (as curl, the parameters after it that are none of
 * `filename=`, `headers=` and `encoder=` are the type's own: `type=text/plain;charset=utf-8`),
 * `filename=`, `headers=` (`headers=@FILE` or `<FILE` reads them from FILE); others are skipped
 * with a warning, as curl skips them. Returns where its `;` or `stop` ended it.
 */
async function fieldParams(
  value: string,
  content: string,
  at: number,
  stop: string,
  warnings: string[],
): Promise<Field> {
  const first = word(content, at, stop);
  const field: Field = { word: first.word, end: first.end, headers: [] };
  /** Where the type starts, while parameters may still add to it. */
  let typeFrom: number | undefined;
  let at2 = first.end;
  while (content[at2] === ";") {
    let start = at2 + 1;
    while (start < content.length && BLANK.test(content[start]!)) start++;
    const param = content.slice(start);
    const key = /^(type|filename|headers|encoder)=/i.exec(param)?.[1]?.toLowerCase();
    if (typeFrom !== undefined && (key === undefined || key === "type")) {
      // As curl: a parameter after type= that is no other of its own is part of the type.
      at2 = separator(content, start, stop);
      field.type = content.slice(typeFrom, at2).trimEnd();
      continue;
    }
    typeFrom = undefined;
    let from = start + (key === undefined ? 0 : key.length + 1);
    while (key !== undefined && from < content.length && BLANK.test(content[from]!)) from++;
    if (key === "type" && content[from] !== '"') {
      typeFrom = from;
      at2 = separator(content, from, stop);
      field.type = content.slice(from, at2).trimEnd();
      continue;
    }
    const fromFile = key === "headers" && (content[from] === "@" || content[from] === "<");
    if (fromFile) {
      from++;
      while (from < content.length && BLANK.test(content[from]!)) from++;
    }
    const next = word(content, from, stop);
    if (key === "type") field.type = next.word;
    else if (key === "filename") field.filename = next.word;
    else if (fromFile) {
      const text = new TextDecoder().decode(await readBytes(next.word, "-F headers=@"));
      field.headers.push(...headerFileLines(text));
    } else if (key === "headers") field.headers.push(next.word);
    else if (next.word !== "" || key !== undefined) {
      warnings.push(`-F "${value}": skipped the unknown field parameter "${param}"`);
    }
    at2 = next.end;
  }
  field.end = at2;
  return field;
}

/** Reads one `-F NAME=CONTENT` into a part. */
async function formPart(value: string, warnings: string[]): Promise<Part> {
  const eq = value.indexOf("=");
  if (eq <= 0) {
    throw badValue("form", `-F takes NAME=VALUE, NAME=@FILE or NAME=<FILE, got "${value}"`, value);
  }
  const name = value.slice(0, eq);
  const content = value.slice(eq + 1);
  if (content[0] === "@") {
    // As curl: NAME=@FILE1,FILE2 sends the files in one part, a multipart/mixed of them.
    const files: Part[] = [];
    for (let at = 1;;) {
      while (at < content.length && BLANK.test(content[at]!)) at++;
      const field = await fieldParams(value, content, at, ",", warnings);
      files.push(await filePart(field));
      if (content[field.end] !== ",") break;
      at = field.end + 1;
    }
    if (files.length === 1) return { ...files[0]!, name };
    const boundary = newBoundary();
    const mixed = files.map((file) => ({ ...file, disposition: "attachment" as const }));
    return {
      name,
      bytes: await multipartBytes(boundary, mixed),
      type: `multipart/mixed; boundary=${boundary}`,
      headers: [],
    };
  }
  const from = content[0] === "<" ? "<" : "";
  const field = await fieldParams(value, content, from === "" ? 0 : 1, ";", warnings);
  if (field.filename !== undefined) {
    warnings.push(`-F "${value}": skipped "filename=${field.filename}", which names a file of @`);
  }
  const bytes = from === "" ? encoder.encode(field.word) : await readBytes(field.word, "-F");
  return { name, bytes, headers: field.headers, type: field.type };
}

/**
 * The part of a file of `@`: as curl, sent with its name (`-` for stdin) and a type from its
 * extension, or application/octet-stream; stdin has none.
 */
async function filePart(field: Field): Promise<Part> {
  const base = field.word.split(/[\\/]/).pop()!;
  const type = field.type ??
    (field.word === "-" ? undefined : TYPES[/\.([^.]+)$/.exec(base)?.[1]?.toLowerCase() ?? ""] ??
      "application/octet-stream");
  return {
    bytes: await readBytes(field.word, "-F"),
    filename: field.filename ?? base,
    type,
    headers: field.headers,
  };
}

/** A new random boundary, as curl makes them. */
function newBoundary(): string {
  const random = crypto.getRandomValues(new Uint8Array(12));
  return "-".repeat(22) +
    Array.from(random, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The bytes of a multipart body of `parts` under `boundary`. */
async function multipartBytes(boundary: string, parts: Part[]): Promise<Uint8Array> {
  const pieces = multipartPieces(
    boundary,
    parts.map((part) => ({ ...part, body: part.bytes as Uint8Array<ArrayBuffer> })),
  );
  return new Uint8Array(await new Blob(pieces).arrayBuffer());
}

/**
 * The multipart/form-data body of `args`, with its Content-Type (naming the boundary). As curl,
 * a Content-Type of the user's (`-H`), `given`, gets `; boundary=` added; one that already
 * names a boundary keeps it, and the body uses it.
 */
export async function formBody(
  args: FormArg[],
  warnings: string[],
  given?: string,
): Promise<{ bytes: Uint8Array; type: string }> {
  const parts: Part[] = [];
  for (const arg of args) {
    if (arg.option === "form") {
      parts.push(await formPart(arg.value, warnings));
      continue;
    }
    const eq = arg.value.indexOf("=");
    if (eq <= 0) {
      throw badValue(
        "form-string",
        `--form-string takes NAME=VALUE, got "${arg.value}"`,
        arg.value,
      );
    }
    parts.push({
      name: arg.value.slice(0, eq),
      bytes: encoder.encode(arg.value.slice(eq + 1)),
      headers: [],
    });
  }
  const own = given === undefined ? undefined : /;\s*boundary=("?)([^";\s]+)\1/i.exec(given)?.[2];
  const boundary = own ?? newBoundary();
  // As curl: the parts of a body of another type than multipart/form-data are attachments.
  const formData = given === undefined || /^\s*multipart\/form-data\s*(;|$)/i.test(given);
  const bytes = await multipartBytes(
    boundary,
    formData ? parts : parts.map((part) => ({ ...part, disposition: "attachment" })),
  );
  const type = own !== undefined
    ? given!
    : `${given ?? "multipart/form-data"}; boundary=${boundary}`;
  return { bytes, type };
}
