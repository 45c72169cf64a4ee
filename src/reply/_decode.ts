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
 * Parses the body `text` of the reply for `href` as JSON.
 *
 * @throws {InvalidJsonError} When it is not JSON: the message names the URL and the position
 * (or that the body is empty).
 */
export function parseJson(
  text: string,
  href: string,
  reply: NonNullable<InvalidJsonError["reply"]>,
): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const found = /position (\d+)/.exec((error as Error).message)?.[1];
    const position = found === undefined ? _jsonErrorPosition(text) ?? undefined : Number(found);
    const where = text === ""
      ? " (it is empty)"
      : position === undefined
      ? ""
      : ` (at position ${position})`;
    throw new InvalidJsonError(
      `The body of ${href} is not valid JSON${where}: ${(error as Error).message}`,
      { cause: error, reply, position },
    );
  }
}
