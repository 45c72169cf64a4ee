/**
 * The start of an error body quoted in an error's message: what an API says went wrong (a
 * problem document explaining a 401 or a 429), on one line, the request's credentials masked.
 *
 * @module
 */

import { _REDACTED } from "../_redact.ts";
import type { NetworkReply } from "../reply.ts";
import type { NetworkRequest } from "../request.ts";
import { decodeUtf8 } from "./_decode.ts";
import { requestSecrets } from "./_secrets.ts";

/** The most of a body a message quotes. */
const EXCERPT = 200;
/** The most of a body read to quote it, and how long it is waited for (ms). */
const READ_AT_MOST = 4096;
const WAIT_AT_MOST = 1000;

/**
 * `message` and the start of `text`, the body of the reply to `request`: on one line, up to 200
 * characters, the request's `Authorization`, `Proxy-Authorization`, `Cookie` and
 * `sensitiveHeaders` values masked (were the body to echo them). `cut` says `text` is only the
 * start of the body: its last characters, where a credential may be cut in two, are dropped.
 */
export function withBodyExcerpt(
  message: string,
  text: string,
  request: NetworkRequest,
  cut = false,
): string {
  const masked = requestSecrets(request);
  let body = text.replace(/\s+/g, " ").trim();
  for (const secret of masked) body = body.replaceAll(secret, _REDACTED);
  if (cut) body = body.slice(0, Math.max(0, body.length - (masked[0]?.length ?? 0)));
  if (body === "") return message;
  return cut || body.length > EXCERPT
    ? `${message}; its body begins: ${body.slice(0, EXCERPT)}...`
    : `${message}; its body: ${body}`;
}

/**
 * `message` and the start of the body of `reply`, which nothing read yet: read up to 4 KiB of
 * it, for up to a second (a body that does not end soon explains nothing), and quoted as
 * {@linkcode withBodyExcerpt} does. The reply is aborted when more of it would come.
 */
export async function withBodyStart(reply: NetworkReply, message: string): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let cut = false;
  const timer = setTimeout(() => {
    cut = true;
    reply.abort();
  }, WAIT_AT_MOST);
  try {
    for await (const chunk of reply) {
      chunks.push(chunk);
      size += chunk.byteLength;
      if (size >= READ_AT_MOST) {
        cut = true;
        break; // aborts the reply
      }
    }
  } catch {
    cut = true; // the body broke off: what arrived is quoted
  } finally {
    clearTimeout(timer);
  }
  const bytes = new Uint8Array(Math.min(size, READ_AT_MOST));
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk.subarray(0, bytes.length - at), at);
    at += chunk.byteLength;
    if (at >= bytes.length) break;
  }
  // As `json()` reads it: UTF-8, whatever the charset (an API's error document is JSON).
  return withBodyExcerpt(message, decodeUtf8(bytes), reply.request, cut);
}
