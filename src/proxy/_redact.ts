/** Proxy credentials kept out of messages and logs. */

import { decodeUserInfo, type NetworkProxy } from "./network_proxy.ts";

export function base64(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/**
 * The shortest password removed from a text where it stands on its own (outside the forms
 * {@linkcode redactProxy} removes whatever their length). Messages hold short words and numbers
 * of their own ("e", "o", "1", "error", ports of up to five digits, `os error` numbers): a shorter
 * password would match them by chance, and the gaps left in their place would spell it out. What
 * a message says (a URL, a `Proxy-Authorization` value, a `user:password` pair) is cleaned by its
 * form, so a short password on its own is left where it stands.
 */
const MIN_LONE_PASSWORD = 6;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/**
 * `text` with each occurrence of `secret` that is a whole token (neither a letter, a digit nor
 * `_` right before or after it: not a piece of a longer word or number) replaced by `by`.
 */
function replaceTokens(text: string, secret: string, by: string): string {
  if (secret === "" || !text.includes(secret)) return text;
  const token = new RegExp(`(?<![\\p{L}\\p{N}_])${escapeRegExp(secret)}(?![\\p{L}\\p{N}_])`, "gu");
  return text.replace(token, () => by);
}

/**
 * Removes proxy credentials from a text (a message, a log line): the user info of any URL,
 * `Proxy-Authorization` header values, the proxy's Basic token and `username:password` (raw and
 * percent-encoded) wherever they stand as whole tokens, and the password on its own (raw or
 * percent-encoded) where it is a whole token of at least six characters. A user name on its own,
 * and a shorter password on its own, are left alone, as they may be ordinary words or numbers.
 * Run it on the message as shown, after what the text says was read from the raw one.
 *
 * @param text The text to clean.
 * @param proxy The proxy (or proxies) whose credentials to remove.
 * @returns The text with every credential replaced by `***`.
 */
export function redactProxy(
  text: string,
  proxy?: NetworkProxy | readonly NetworkProxy[],
): string {
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s"'<>@]*(?:@[^\s"'<>@/]*)*@/gi, "$1***@");
  out = out.replace(/(proxy-authorization\s*[:=]\s*"?)[^\r\n"]*/gi, "$1***");
  const proxies = proxy === undefined ? [] : Array.isArray(proxy) ? proxy : [proxy];
  for (const entry of proxies as NetworkProxy[]) {
    let username = entry.username;
    let password = entry.password;
    if (entry.url !== undefined && (username === undefined || password === undefined)) {
      const match = /^[a-z][a-z0-9+.-]*:\/\/([^/@]*)@/i.exec(entry.url.trim());
      if (match) {
        const [user = "", pass = ""] = match[1]!.split(/:(.*)/s);
        username ??= decodeUserInfo(user);
        password ??= decodeUserInfo(pass);
      }
    }
    if (username === undefined && password === undefined) continue;
    const user = username ?? "";
    const pass = password ?? "";
    out = replaceTokens(out, base64(`${user}:${pass}`), "***");
    // Without a user name the pair is the password after a colon, as in any `host:port`; without
    // a password it is the user name, which is no secret.
    if (user !== "" && pass !== "") {
      out = replaceTokens(out, `${user}:${pass}`, "***");
      out = replaceTokens(out, `${encodeURIComponent(user)}:${encodeURIComponent(pass)}`, "***");
    }
    if (pass.length >= MIN_LONE_PASSWORD) {
      out = replaceTokens(out, pass, "***");
      out = replaceTokens(out, encodeURIComponent(pass), "***");
    }
  }
  return out;
}
