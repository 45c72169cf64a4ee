/**
 * Loads the http-state cookie test vectors (parser cases and cookie dates) and the public
 * suffix list cases from `../shared/conformance/`, and describes how a parser case maps onto
 * a request, so every harness that runs them (through a jar, or through a whole manager)
 * reads them the same way.
 *
 * @module
 */

/** The folder of third-party test vectors, beside the project root. */
export const conformanceRoot: URL = new URL("../../../shared/conformance/", import.meta.url);

/** One `{ name, value }` pair the `Cookie` header must carry. */
export interface SentCookie {
  name: string;
  value: string;
}

/** One http-state parser case. */
export interface ParserCase {
  test: string;
  received: string[];
  "sent-to"?: string;
  sent: SentCookie[];
}

/** One cookie-date case: `expected` is `toUTCString()` or null for "does not parse". */
export interface DateCase {
  test: string;
  expected: string | null;
  /** The file the case came from, e.g. `examples.json`. */
  file: string;
}

/** One public suffix list case: the registrable domain of `input`, or null. */
export interface PslCase {
  input: string | null;
  expected: string | null;
}

/**
 * The cases whose expectations are RFC 6265 (2011) and which come out differently under RFC
 * 6265bis, as current browsers do, with the `Cookie` header 6265bis sends (section 5.6: a
 * pair without `=` is a cookie with an empty name, sent as its value alone; a control
 * character other than HTAB drops the whole line; an empty name and value drop it too).
 */
export const rfc6265bisExpected: ReadonlyMap<string, string | null> = new Map([
  ["0004", "foo"], // foo: a nameless cookie
  ["0021", "a=b; x; c=d"], // =x is nameless
  ["0023", "foo"], // an empty line sets nothing
  ["0024", "foo"], // "=": empty name and value
  ["0025", "foo"], // "; bar": empty name and value
  ["0026", "foo"], // whitespace only
  ["0027", "bar"], // a second nameless cookie replaces the first
  ["0028", "foo"], // HTAB only
  ["CHROMIUM0009", "BLAHHH"],
  ["CHROMIUM0010", '"BLA\\"HHH"'],
  ["CHROMIUM0012", "ABC"], // =ABC
  ["DISABLED_CHROMIUM0022", null], // NUL drops the line
  ["DISABLED_CHROMIUM0023", null], // CR drops the line
  ["MOZILLA0012", 'test="fubar! = foo; five'], // five is nameless; max-age=2.63, is ignored
  ["MOZILLA0014", "six"],
  ["MOZILLA0015", "seven"],
  ["MOZILLA0016", "eight"], // " =eight" is nameless too
  ["MOZILLA0017", "eight; test=six"], // the nameless cookie keeps its first creation time
  ["NAME0017", "a=bar"], // =a=bar: empty name, value "a=bar"
  ["NAME0023", "foo"], // foo;bar=baz
  ["NAME0025", "==a=bar"],
  ["NAME0028", "a"],
  ["NAME0031", '"foo'], // "foo;bar"=baz: the pair ends at the ;
  ["NAME0032", '"foo\\"bar'],
  ["NAME0033", "aaa"],
]);

/** The URL whose response carries a case's `Set-Cookie` headers. */
export function parserSetUrl(testCase: ParserCase): URL {
  return new URL(`http://home.example.org:8888/cookie-parser?${testCase.test}`);
}

/** The URL the case's redirect goes to, where the `Cookie` header is checked. */
export function parserSentUrl(testCase: ParserCase): URL {
  const base = "http://home.example.org:8888/";
  return new URL(testCase["sent-to"] ?? `/cookie-parser-result?${testCase.test}`, base);
}

/** The `Cookie` header value a case expects, or null when it expects none. */
export function expectedCookieHeader(testCase: ParserCase): string | null {
  if (testCase.sent.length === 0) return null;
  return testCase.sent.map((c) => `${c.name}=${c.value}`).join("; ");
}

async function readJson<T>(url: URL): Promise<T | null> {
  try {
    return JSON.parse(await Deno.readTextFile(url)) as T;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** The 222 parser cases, or null when the data is absent. */
export function loadParserCases(): Promise<ParserCase[] | null> {
  return readJson<ParserCase[]>(new URL("cookies-http-state/parser.json", conformanceRoot));
}

/** The cookie-date cases of every `dates/*.json` file, or null when the data is absent. */
export async function loadDateCases(): Promise<DateCase[] | null> {
  const folder = new URL("cookies-http-state/dates/", conformanceRoot);
  const files: string[] = [];
  try {
    for await (const entry of Deno.readDir(folder)) {
      if (entry.isFile && entry.name.endsWith(".json")) files.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  files.sort();
  const cases: DateCase[] = [];
  for (const file of files) {
    const list = await readJson<{ test: string; expected: string | null }[]>(
      new URL(file, folder),
    );
    for (const c of list ?? []) cases.push({ ...c, file });
  }
  return cases;
}

/** The public suffix list cases of `psl/tests.txt`, or null when the data is absent. */
export async function loadPslCases(): Promise<PslCase[] | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(new URL("psl/tests.txt", conformanceRoot));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  const cases: PslCase[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("//")) continue;
    const [input, expected] = line.split(/\s+/);
    if (input === undefined || expected === undefined) continue;
    cases.push({
      input: input === "null" ? null : input,
      expected: expected === "null" ? null : expected,
    });
  }
  return cases;
}
