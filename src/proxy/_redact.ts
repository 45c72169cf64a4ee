/** Proxy credentials kept out of messages and logs. */

import { decodeUserInfo, type NetworkProxy } from "./network_proxy.ts";

export function base64(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function replaceAll(text: string, secret: string, by: string): string {
  return secret === "" ? text : text.split(secret).join(by);
}

/**
 * Removes proxy credentials from a text (a message, a log line): the user info of any URL,
 * `Proxy-Authorization` header values, the proxy's Basic token, `username:password`, and
 * the password wherever it appears (raw or percent-encoded). A user name on its own is
 * left alone, as it may be an ordinary word.
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
    out = replaceAll(out, base64(`${user}:${pass}`), "***");
    out = replaceAll(out, `${user}:${pass}`, "***");
    out = replaceAll(out, `${encodeURIComponent(user)}:${encodeURIComponent(pass)}`, "***");
    out = replaceAll(out, pass, "***");
    out = replaceAll(out, encodeURIComponent(pass), "***");
  }
  return out;
}
