/**
 * The error of a body that is not JSON: where it stops being JSON (line, column, offset), why,
 * and the text around that place, the request's credentials masked.
 *
 * @module
 */

import { _REDACTED } from "../_redact.ts";
import { _jsonErrorPosition } from "../_json_position.ts";
import { InvalidJsonError } from "../network_error.ts";
import { requestSecrets } from "./_secrets.ts";

/** The most characters quoted before, and from, the place a body stops being JSON. */
const BEFORE = 40;
const AFTER = 20;

/**
 * The {@linkcode InvalidJsonError} of `text`, which `JSON.parse` refused with `error`: the
 * message starts with `what` and names the line, the column and the position, the reason
 * `JSON.parse` gave, and the text around the place. `error` (the `cause`) loses the text
 * `JSON.parse` quoted, which may hold a credential the body echoed.
 */
export function jsonSyntaxError(
  what: string,
  text: string,
  error: unknown,
  reply: NonNullable<InvalidJsonError["reply"]>,
): InvalidJsonError {
  const parseError = error instanceof Error ? error : new SyntaxError(String(error));
  const found = /position (\d+)/.exec(parseError.message)?.[1];
  const position = found === undefined ? _jsonErrorPosition(text) ?? undefined : Number(found);
  const reason = syntaxReason(parseError.message);
  parseError.message = reason;
  const where = position === undefined
    ? ""
    : ` at ${lineAndColumn(text, position)} (position ${position})`;
  // No text at all is a body of a byte order mark alone: a body of no bytes is parsed as none.
  const around = position === undefined
    ? ""
    : text === ""
    ? "; the body is a byte order mark alone"
    : `; ${excerpt(text, position, requestSecrets(reply.request))}`;
  return new InvalidJsonError(`${what} is not valid JSON${where}: ${reason}${around}`, {
    cause: parseError,
    reply,
    position,
  });
}

/**
 * The reason of a `JSON.parse` error without the text it quotes or the position it names
 * (the message tells both its own way), on one line.
 */
function syntaxReason(message: string): string {
  return withoutQuotedText(message)
    .replace(/(?: in JSON)? at position \d+(?: \(line \d+ column \d+\))?$/, "");
}

/**
 * The message of a `JSON.parse` error without the text of the body it quotes (`Unexpected token
 * 'o', "token=s3cr"... is not valid JSON`: part of a credential the body echoed, cut where no
 * mask finds it), its control characters escaped so that it stays on one line.
 */
export function withoutQuotedText(message: string): string {
  return message
    .replace(/, (?:\.\.\.)?"[\s\S]*"(?:\.\.\.)? is not valid JSON$/, "")
    .replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** The control characters, escaped in a message so that it stays on one line. */
// deno-lint-ignore no-control-regex -- those are the characters to find
const CONTROL = /[\u0000-\u001f\u007f]/g;

/** `line L, column C` of an offset: lines end with LF, CRLF or CR; columns count from 1. */
function lineAndColumn(text: string, position: number): string {
  let line = 1;
  let start = 0;
  for (let i = 0; i < position; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) {
      line++;
      start = i + 1;
    }
  }
  return `line ${line}, column ${position - start + 1}`;
}

/**
 * Up to 40 characters of `text` before `position` and 20 from it, quoted as JSON strings (so
 * line ends and control characters show), every one of `secrets` that overlaps them masked.
 */
function excerpt(text: string, position: number, secrets: string[]): string {
  const from = Math.max(0, position - BEFORE);
  const to = Math.min(text.length, position + AFTER);
  // A secret that overlaps the quoted text is masked whole, also where it starts before it.
  const widen = secrets[0]?.length ?? 0;
  const low = Math.max(0, from - widen);
  const wide = text.slice(low, Math.min(text.length, to + widen));
  const hidden: [start: number, end: number][] = [];
  for (const secret of secrets) {
    for (let at = wide.indexOf(secret); at >= 0; at = wide.indexOf(secret, at + 1)) {
      const start = low + at;
      const end = start + secret.length;
      if (end > from && start < to && !hidden.some(([s, e]) => start < e && s < end)) {
        hidden.push([start, end]);
      }
    }
  }
  hidden.sort((a, b) => a[0] - b[0]);
  // Where the quoted text starts and ends: a masked secret is left out whole, not cut.
  const start = Math.min(from, hidden[0]?.[0] ?? from);
  const stop = Math.max(to, ...hidden.map(([, end]) => end));
  const quote = (first: number, end: number): string => {
    let out = "";
    let i = first;
    for (const [s, e] of hidden) {
      if (e <= i || s >= end) continue;
      out += text.slice(i, Math.max(i, s)) + _REDACTED;
      i = e;
    }
    return JSON.stringify(out + text.slice(i, Math.max(i, end)));
  };
  const before = position === 0 ? "" : `${start > 0 ? "..." : ""}${quote(start, position)}`;
  if (position >= text.length) return `the text before it: ${before}, then the body ends`;
  const after = `${quote(position, stop)}${stop < text.length ? "..." : ""}`;
  return before === ""
    ? `the text from it: ${after}`
    : `the text before it: ${before}, from it: ${after}`;
}
