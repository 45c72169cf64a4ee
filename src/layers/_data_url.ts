/**
 * Words for why `fetch` refused a `data:` URL: it tells only the name of the parser's error
 * (`NoComma`, `InvalidBase64(UnexpectedSymbol(33))`).
 *
 * @module
 */

/** What each base64 failure of the parser's means. */
const BASE64_FAILURES: Readonly<Record<string, string>> = {
  LoneAlphabetSymbol: "its length leaves one character over, which encodes no byte",
  AlphabetSymbolAfterPadding: 'a character follows its "=" padding',
  Padding: 'its "=" padding is not where base64 allows it',
};

/**
 * Why `url` is not a valid `data:` URL, from the message of the error `fetch` threw for it.
 *
 * @param url The `data:` URL.
 * @param message The message `fetch` gave.
 * @returns The reason, to follow "Invalid data: URL".
 */
export function _dataUrlProblem(url: URL, message: string): string {
  if (message === "NoComma") {
    return ": it has no comma before its data (data:[<media type>][;base64],<data>)";
  }
  const base64 = /^InvalidBase64\((\w+)(?:\((\d+)\))?\)$/.exec(message);
  if (base64 === null) return ` (${message})`;
  const [, kind, symbol] = base64;
  const why = symbol === undefined ? BASE64_FAILURES[kind!] : unexpected(url, Number(symbol));
  return why === undefined ? ` (${message})` : `: its data is not valid base64 (${why})`;
}

/** Where the byte `symbol`, outside the base64 alphabet, first stands in the URL's data. */
function unexpected(url: URL, symbol: number): string {
  const href = url.href;
  const data = percentDecoded(href.slice(href.indexOf(",") + 1));
  const at = data.indexOf(symbol);
  const shown = symbol >= 0x21 && symbol < 0x7f
    ? `"${String.fromCharCode(symbol)}"`
    : `byte 0x${symbol.toString(16).toUpperCase().padStart(2, "0")}`;
  return `${shown}${at === -1 ? "" : ` at character ${at} of the data`} is not in its alphabet`;
}

/** The bytes of URL text, `%XX` escapes decoded as the data: URL parser decodes them. */
function percentDecoded(text: string): number[] {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const escape = text[i] === "%" ? text.slice(i + 1, i + 3) : "";
    if (/^[0-9A-Fa-f]{2}$/.test(escape)) {
      bytes.push(Number.parseInt(escape, 16));
      i += 2;
    } else {
      bytes.push(text.charCodeAt(i));
    }
  }
  return bytes;
}
