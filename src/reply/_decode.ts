/**
 * How a whole body is read as text and as JSON: the charset of `Content-Type`, and a parse
 * error that names the URL and the position.
 *
 * @module
 */

import type { InvalidJsonError } from "../network_error.ts";
import { jsonSyntaxError } from "./_json_error.ts";

/**
 * Decodes a body with the charset of `contentType` (UTF-8 when none or unknown). A byte order
 * mark wins over the label, as the Encoding Standard's `decode` has it: a body that starts with
 * the UTF-8, UTF-16LE or UTF-16BE mark is read in that encoding, without the mark.
 */
export function decodeText(bytes: Uint8Array, contentType: string | null): string {
  const bom = byteOrderMark(bytes);
  if (bom !== undefined) return new TextDecoder(bom).decode(bytes);
  const charset = charsetOf(contentType ?? "");
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset ?? "utf-8");
  } catch {
    decoder = new TextDecoder();
  }
  return decoder.decode(bytes);
}

/**
 * Decodes a body as UTF-8 whatever its labels say, as `Response.json()` reads one: a UTF-8 byte
 * order mark is dropped, any other mark is text (JSON is UTF-8, RFC 8259).
 */
export function decodeUtf8(bytes: Uint8Array): string {
  return UTF8.decode(bytes);
}

const UTF8 = new TextDecoder();

/** The `charset` parameter of a Content-Type, or `undefined` when it names none. */
function charsetOf(contentType: string): string | undefined {
  return /charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1];
}

/** The encoding a body's byte order mark names, or `undefined` when it starts with none. */
function byteOrderMark(bytes: Uint8Array): string | undefined {
  const first = bytes[0];
  if (first === 0xef) return bytes[1] === 0xbb && bytes[2] === 0xbf ? "utf-8" : undefined;
  if (first === 0xff) return bytes[1] === 0xfe ? "utf-16le" : undefined;
  if (first === 0xfe) return bytes[1] === 0xff ? "utf-16be" : undefined;
  return undefined;
}

/**
 * Parses the body `bytes` of the reply for `href` as JSON, read as UTF-8 ({@linkcode decodeUtf8}).
 * A body of no bytes (a `204`, a `HEAD`, a `Content-Length: 0`) is `undefined`, which no JSON
 * text parses to; a byte order mark alone is not JSON.
 *
 * @throws {InvalidJsonError} When it is not JSON: the message names the URL, the status when it
 * is an HTTP error, a Content-Type that is not JSON, the line, column and position, and quotes
 * the text around that place (the request's credentials masked).
 */
export function parseJson(
  bytes: Uint8Array,
  href: string,
  reply: NonNullable<InvalidJsonError["reply"]>,
): unknown {
  if (bytes.byteLength === 0) return undefined;
  const text = decodeUtf8(bytes);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw jsonSyntaxError(`The body of ${href}${describeReply(reply)}`, text, error, reply);
  }
}

/**
 * What tells why a body is not JSON: ` (HTTP 502 Bad Gateway, Content-Type text/html)`, the
 * status when it is an error and a Content-Type that is not JSON or names a charset other than
 * UTF-8; `""` when neither.
 */
function describeReply(reply: NonNullable<InvalidJsonError["reply"]>): string {
  const parts: string[] = [];
  if (reply.status >= 400) parts.push(`HTTP ${reply.status} ${reply.statusText}`.trimEnd());
  const type = reply.headers.get("content-type") ?? "";
  // A charset other than UTF-8 is named, even on a JSON type: the body was read as UTF-8.
  const charset = charsetOf(type);
  const other = charset !== undefined && !/^utf-?8$/i.test(charset);
  if (type !== "" && (other || !/[/+]json\s*(;|$)/i.test(type))) {
    parts.push(`Content-Type ${JSON.stringify(type)}`);
  }
  if (other) parts.push("read as UTF-8, as JSON is");
  return parts.length === 0 ? "" : ` (${parts.join(", ")})`;
}
