/**
 * Redaction of URL credentials: no URL or message the library exposes carries the user name
 * and password of a URL's userinfo (`http://user:pass@host/`).
 */

/** A URL written out in text, up to and including the `@` of its userinfo. */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]*@/gi;

/** `text` with the userinfo of every URL in it removed. */
export function _redactUserinfo(text: string): string {
  return text.includes("@") ? text.replace(USERINFO, "$1") : text;
}

/** `url` without user name and password: `url` itself when it has none, else a copy. */
export function _withoutUserinfo(url: URL): URL {
  // Userinfo is always followed by "@": a URL without one has none (a quicker test).
  if (!url.href.includes("@") || (url.username === "" && url.password === "")) return url;
  const copy = new URL(url.href);
  copy.username = "";
  copy.password = "";
  return copy;
}

/**
 * The headers whose values are credentials (lower case): never shown, and never sent to another
 * origin than their request's.
 */
export const _CREDENTIAL_HEADERS: readonly string[] = [
  "authorization",
  "proxy-authorization",
  "cookie",
];

/** What is shown in place of a credential. */
export const _REDACTED = "[redacted]";

/**
 * `headers` fit to show: the values of the credential headers and of the names in `sensitive`
 * replaced by `[redacted]`, their names kept. `headers` itself when it has none of them, else a
 * copy.
 */
export function _redactHeaders(headers: Headers, sensitive: Iterable<string>): Headers {
  const hidden = new Set(_CREDENTIAL_HEADERS);
  for (const name of sensitive) hidden.add(String(name).toLowerCase());
  let shown: Headers | undefined;
  for (const [name] of headers) {
    if (hidden.has(name)) (shown ??= new Headers(headers)).set(name, _REDACTED);
  }
  return shown ?? headers;
}

/** `url` fit to show: its password replaced by `***`, its user name kept; `url` itself without. */
export function _withoutPassword(url: URL): URL {
  if (url.password === "") return url;
  const copy = new URL(url.href);
  copy.password = "***";
  return copy;
}
