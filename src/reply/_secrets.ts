/**
 * The credentials of a request, as a body sent back may echo them: what error messages that
 * quote a body mask.
 *
 * @module
 */

import { _CREDENTIAL_HEADERS } from "../_redact.ts";
import type { NetworkRequest } from "../request.ts";

/**
 * The values of the request's `Authorization`, `Proxy-Authorization`, `Cookie` and
 * `sensitiveHeaders`, each credential alone too (`Bearer <token>`: the token; `a=1; b=2`: each
 * value), longest first; values under 4 characters are left out (they would mask ordinary text).
 */
export function requestSecrets(request: NetworkRequest): string[] {
  const found = new Set<string>();
  const { headers, sensitiveHeaders } = request;
  for (const name of [..._CREDENTIAL_HEADERS, ...sensitiveHeaders]) {
    const value = headers.get(name);
    if (value === null) continue;
    // `Bearer <token>` (not the scheme's name), `a=1; b=2`: each credential alone too.
    const credentials = name === "cookie" ? value : value.slice(value.indexOf(" ") + 1);
    found.add(value).add(credentials);
    for (const part of credentials.split(/[\s;,]+/)) found.add(part.slice(part.indexOf("=") + 1));
  }
  return [...found].filter((value) => value.length >= 4).sort((a, b) => b.length - a.length);
}
