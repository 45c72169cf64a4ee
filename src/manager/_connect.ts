/**
 * Connection warm-up: a `HEAD /` to an origin that opens the connection (and its TLS
 * session) for the requests that follow.
 *
 * @module
 */

import { NetworkRequest } from "../request.ts";
import { withoutPrompt } from "../layers/auth.ts";
import { checkKeys, checkObject, checkTimerRange, numberError } from "../_validation.ts";

/** A reply as the warm-up needs it. */
interface Abortable {
  abort(): void;
  readonly finished: Promise<unknown>;
}

/**
 * Sends `HEAD /` to the origin of `url` with `head`, past the cache and cookies, with no
 * redirect, no retry and no authenticator asked, and resolves when it finishes or after
 * `timeout` ms (aborting it). URLs that are not `http:` or `https:` are ignored.
 *
 * @throws {TypeError} When `options` is not an object or has a key other than `timeout`, or
 * `timeout` is not a number.
 * @throws {RangeError} When `timeout` is a number that is not positive, or longer than a timer
 * can wait.
 */
export async function warmConnection(
  head: (request: NetworkRequest) => Abortable,
  url: string | URL,
  options: { timeout?: number | undefined },
): Promise<void> {
  checkObject("Cannot connect to host", "options", options);
  checkKeys("Cannot connect to host", options, ["timeout"]);
  // `undefined` alone takes the default: `null` is no number, refused below.
  const timeout = options.timeout === undefined ? 30_000 : options.timeout;
  if (typeof timeout !== "number" || !(timeout > 0)) {
    throw numberError("Cannot connect to host", "timeout", timeout, "a positive number of ms");
  }
  // 0 is refused above, so the message says what to do instead of "use 0 to turn it off".
  checkTimerRange(
    "Cannot connect to host",
    "timeout",
    timeout,
    "leave it out for the default of 30000 ms",
  );
  let origin: URL;
  try {
    origin = new URL("/", url);
  } catch {
    return;
  }
  if (origin.protocol !== "http:" && origin.protocol !== "https:") return;
  const reply = head(withoutPrompt(
    new NetworkRequest(origin, {
      cacheLoadControl: "always-network",
      cacheSaveControl: false,
      cookieLoadControl: "manual",
      cookieSaveControl: "manual",
      redirectPolicy: "manual",
      retry: false,
    }),
  ));
  const timer = setTimeout(() => reply.abort(), timeout);
  try {
    await reply.finished;
  } finally {
    clearTimeout(timer);
  }
}
