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
