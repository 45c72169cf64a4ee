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

/** A field of the form. */
interface Part {
  name: string;
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

/**
 * A word of a field's value, from `text[at]`: up to the next `;`, or a `"quoted"` one (with
 * `\"` and `\\` escapes), as curl reads it. Returns the word and where its `;` (or the end) is.
 */
function word(text: string, at: number): { word: string; end: number } {
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
      if (end >= text.length || text[end] === ";") return { word: value, end };
    }
    // No closing quote, or more after it: the word is as it is written.
  }
  const end = text.indexOf(";", at);
  const stop = end < 0 ? text.length : end;
  return { word: text.slice(at, stop).trimEnd(), end: stop };
}

/** Reads one `-F NAME=CONTENT` into a part. */
async function formPart(value: string, warnings: string[]): Promise<Part> {
  const eq = value.indexOf("=");
  if (eq <= 0) {
    throw badValue("form", `-F takes NAME=VALUE, NAME=@FILE or NAME=<FILE, got "${value}"`, value);
  }
  const name = value.slice(0, eq);
  const content = value.slice(eq + 1);
  const from = content[0] === "@" ? "@" : content[0] === "<" ? "<" : "";
  const first = word(content, from === "" ? 0 : 1);
  const part: Part = { name, bytes: new Uint8Array(), headers: [] };
  let filename: string | undefined;
  // The parameters after the value: type=, filename= (files), headers=; others are skipped
  // with a warning, as curl skips them.
  for (let at = first.end; at < content.length;) {
    let start = at + 1;
    while (content[start] === " " || content[start] === "\t") start++;
    const param = content.slice(start);
    const key = /^(type|filename|headers)=/i.exec(param)?.[1]?.toLowerCase();
    const next = word(content, key === undefined ? start : start + key.length + 1);
    if (key === "type") part.type = next.word;
    else if (key === "filename" && from === "@") filename = next.word;
    else if (key === "headers") part.headers.push(next.word);
    else if (next.word !== "" || key !== undefined) {
      warnings.push(`-F "${value}": skipped the unknown field parameter "${param}"`);
    }
    at = next.end;
  }
  if (from === "") {
    part.bytes = encoder.encode(first.word);
    return part;
  }
  part.bytes = await readBytes(first.word, "-F");
  if (from === "@") {
    // As curl: a file is sent with its name ("-" for stdin) and a type from its extension.
    const base = first.word.split(/[\\/]/).pop()!;
    part.filename = filename ?? base;
    part.type ??= TYPES[/\.([^.]+)$/.exec(base)?.[1]?.toLowerCase() ?? ""] ??
      "application/octet-stream";
  }
  return part;
}

/** The multipart/form-data body of `args`, with its Content-Type (naming the boundary). */
export async function formBody(
  args: FormArg[],
  warnings: string[],
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
  const random = crypto.getRandomValues(new Uint8Array(12));
  const boundary = "-".repeat(22) +
    Array.from(random, (byte) => byte.toString(16).padStart(2, "0")).join("");
  const pieces = multipartPieces(
    boundary,
    parts.map((part) => ({ ...part, body: part.bytes as Uint8Array<ArrayBuffer> })),
  );
  const bytes = new Uint8Array(await new Blob(pieces).arrayBuffer());
  return { bytes, type: `multipart/form-data; boundary=${boundary}` };
}
