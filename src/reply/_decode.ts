/**
 * How a whole body is read as text and as JSON: the charset of `Content-Type`, and a parse
 * error that names the URL and the position.
 *
 * @module
 */

import { InvalidJsonError } from "../network_error.ts";
import { _jsonErrorPosition } from "../_json_position.ts";

/** Decodes a body with the charset of `contentType` (UTF-8 when none or unknown). */
export function decodeText(bytes: Uint8Array, contentType: string | null): string {
  const charset = /charset\s*=\s*"?([^";\s]+)/i.exec(contentType ?? "")?.[1];
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset ?? "utf-8");
  } catch {
    decoder = new TextDecoder();
  }
  return decoder.decode(bytes);
}

/**
 * Parses the body `text` of the reply for `href` as JSON. An empty body (a `204`, a `HEAD`, a
 * `Content-Length: 0`) is `undefined`, which no JSON text parses to.
 *
 * @throws {InvalidJsonError} When it is not JSON: the message names the URL, the status when it
 * is an HTTP error, a Content-Type that is not JSON, and the position.
 */
export function parseJson(
  text: string,
  href: string,
  reply: NonNullable<InvalidJsonError["reply"]>,
): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    const found = /position (\d+)/.exec((error as Error).message)?.[1];
    const position = found === undefined ? _jsonErrorPosition(text) ?? undefined : Number(found);
    const where = position === undefined ? "" : ` (at position ${position})`;
    throw new InvalidJsonError(
      `The body of ${href}${describeReply(reply)} is not valid JSON${where}: ${
        (error as Error).message
      }`,
      { cause: error, reply, position },
    );
  }
}

/**
 * What tells why a body is not JSON: ` (HTTP 502 Bad Gateway, Content-Type text/html)`, the
 * status when it is an error and a Content-Type that is not JSON; `""` when neither.
 */
function describeReply(reply: NonNullable<InvalidJsonError["reply"]>): string {
  const parts: string[] = [];
  if (reply.status >= 400) parts.push(`HTTP ${reply.status} ${reply.statusText}`.trimEnd());
  const type = reply.headers.get("content-type");
  if (type !== null && !/[/+]json\s*(;|$)/i.test(type)) {
    parts.push(`Content-Type ${JSON.stringify(type)}`);
  }
  return parts.length === 0 ? "" : ` (${parts.join(", ")})`;
}
