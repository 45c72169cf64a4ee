/**
 * Redaction of credentials in what the library shows: no URL or message it exposes carries the
 * user name and password of a URL's userinfo (`http://user:pass@host/`), and no URL or message it
 * shows (inspect output, error messages) carries the value of a query parameter that is a
 * credential ({@linkcode _SECRET_QUERY_PARAMS}). What is sent is never changed.
 */

/** A URL written out in text, up to and including the `@` of its userinfo. */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]*@/gi;
/** A URL written out in text, from its scheme to its query's end (before any fragment). */
const URL_WITH_QUERY = /\b[a-z][a-z0-9+.-]*:\/\/[^\s?#"'<>]*\?[^\s#"'<>]*/gi;
/** A `name=value` pair of a query (from its `?`), `$1` its separator. */
const QUERY_PAIR = /([?&])([^&=]+)=([^&]*)/g;
/** Punctuation that ends a sentence around a URL in text, not part of its last value. */
const TRAILING = /[.,:;!)\]]+$/;

/**
 * The query parameters whose values are credentials, compared without regard to case: OAuth
 * 2.0's `access_token`, `code` and `client_secret`, the usual API key and token names,
 * `password` and `secret`, and the signatures of signed URLs (`sig`, `signature`, and S3's
 * `X-Amz-Signature` and `X-Amz-Credential`). Their values are shown as `[redacted]`.
 */
export const _SECRET_QUERY_PARAMS: readonly string[] = [
  "access_token",
  "token",
  "api_key",
  "apikey",
  "key",
  "sig",
  "signature",
  "x-amz-signature",
  "x-amz-credential",
  "password",
  "secret",
  "client_secret",
  "code",
];
const SECRET_PARAMS = new Set(_SECRET_QUERY_PARAMS);

/** What is shown in place of a credential. */
export const _REDACTED = "[redacted]";

function isSecretParam(name: string): boolean {
  let decoded = name;
  try {
    decoded = decodeURIComponent(name.replaceAll("+", " "));
  } catch {
    // shown as written
  }
  return SECRET_PARAMS.has(decoded.toLowerCase());
}

/** A query (with its `?`) with the values of {@linkcode _SECRET_QUERY_PARAMS} redacted. */
function redactQuery(query: string): string {
  return query.replace(QUERY_PAIR, (pair, separator: string, name: string, value: string) => {
    // In text, a URL may end a sentence or a parenthesis: that punctuation is kept.
    const tail = TRAILING.exec(value)?.[0] ?? "";
    const bare = value.slice(0, value.length - tail.length);
    if (bare === "" || value.startsWith(_REDACTED) || !isSecretParam(name)) return pair;
    return `${separator}${name}=${_REDACTED}${tail}`;
  });
}

/**
 * `text` fit to show: the userinfo of every URL in it removed, and the values of the query
 * parameters that are credentials ({@linkcode _SECRET_QUERY_PARAMS}) replaced by `[redacted]`.
 */
export function _redactUrls(text: string): string {
  if (text.includes("@")) text = text.replace(USERINFO, "$1");
  return text.includes("?") ? text.replace(URL_WITH_QUERY, redactQuery) : text;
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

/**
 * `url` fit to show: its password replaced by `***` (its user name kept) and the values of the
 * query parameters that are credentials by `[redacted]`; `url` itself when it has none of them.
 */
export function _shownUrl(url: URL): URL {
  const search = url.search === "" ? "" : redactQuery(url.search);
  if (url.password === "" && search === url.search) return url;
  const copy = new URL(url.href);
  if (copy.password !== "") copy.password = "***";
  copy.search = search;
  return copy;
}
