/**
 * The arguments of the command line: its options, usage and help text, and the plan of a run
 * checked from them.
 *
 * @module
 */

import { parseArgs } from "node:util";
import denoJson from "../../deno.json" with { type: "json" };
import type { NetworkProxy } from "../../mod.ts";
import { safeUrlText } from "../proxy/network_proxy.ts";
import { badValue, Exit, EXIT_CODES, type OptionValue } from "./exit_codes.ts";
import { requestOf, type RequestParts } from "./_request.ts";
import { DATA_OPTIONS, type DataArg } from "./_data.ts";
import type { FormArg } from "./_form.ts";
import { writeOutFormat } from "./_write_out.ts";
import { statePathHint } from "./state_path.ts";
import { type OptionTable, valueOptionAt } from "./_config.ts";
import { netrcAuthorizations, netrcUser, readNetrc } from "./_netrc.ts";
import { expandGlob, type Globbed, globName, MAX_GLOB_URLS } from "./_glob.ts";

/** The one-line usage, shown after a bad argument. */
export const USAGE = "usage: netaccess [options] URL... (netaccess --help for the options)";
/** The text of `--help`. */
export const HELP =
  `netaccess ${denoJson.version}: fetch URLs with a persistent HTTP cache, cookie jar and HSTS

usage: netaccess [options] URL...

Short options go together, as in curl: -sS, -sLo FILE, -sK FILE (one taking a value comes
last, its value in the next argument or joined: -oFILE, -sKFILE). As in curl, an option that
takes a value takes the next argument, whatever it starts with: -d -1 sends "-1".

Request
  -X, --request METHOD      method (default GET, POST with data or -F, PUT with -T),
                            sent as given (fetch upper-cases DELETE, GET, HEAD, OPTIONS,
                            POST, PUT); the body stays as the other options make it
  -H, --header "N: V"       add a header (repeatable); "N;" sends N empty, "N:" sends no N;
                            @FILE (@- for stdin) adds the lines of FILE
  -d, --data DATA           body: text, @file, or @- for stdin, as a form (POST); the
                            line breaks of a file or stdin are dropped, as in curl; the
                            data options are repeatable and joined by & in their order
      --data-ascii DATA     the same as -d
      --data-binary DATA    as -d, but a file or stdin is sent as it is
      --data-raw DATA       as -d, but a leading @ is sent as it is (no file)
      --data-urlencode D    as -d, the content URL-encoded: content, =content,
                            name=content, @file, name@file (a file as it is)
      --json DATA           as --data-binary, with JSON Content-Type and Accept (pieces
                            joined without &)
  -G, --get                 the data in the URL's query, sent with GET (HEAD with -I)
  -F, --form N=V            multipart field (POST): N=value, N=@file (a file upload),
                            N=<file (a text field from a file), - for stdin, N=@f1,f2
                            (files in one part); then ;type=T, ;filename=F (@ only),
                            ;headers="N: V" or ;headers=@FILE (one a line)
      --form-string N=V     multipart text field, its value taken as it is
  -T, --upload-file FILE    PUT FILE (read as it is sent; - for stdin; a pipe or device is
                            sent as it is read, once) to the URL (FILE's name added to a URL
                            ending in /); one -T for each URL, in order
  -I, --head                send HEAD and print the response headers
  -i, --include             the status line and headers before the body (of every
                            response with -L: redirects too)
  -u, --user USER[:PASS]    Basic credentials, sent with the first request to the URL's
                            origin (asks for a missing password on a terminal)
      --basic               -u sends Basic up front (the default)
      --digest              -u sends no credentials up front: they answer the server's
                            Digest challenge (401), never Basic
      --anyauth             -u sends no credentials up front: they answer the server's
                            challenge, Digest rather than Basic; as curl 7.88, --basic,
                            --digest and --anyauth add up (--basic --digest is --anyauth),
                            --no-basic and --no-digest take one away
      --netrc               the credentials of the URL's host from ~/.netrc (machine,
                            default, login, password; -u wins); no file: exit 26
      --netrc-optional      as --netrc, and no file is no credentials
      --netrc-file FILE     as --netrc, with FILE instead of ~/.netrc
  -A, --user-agent NAME     the User-Agent header (-H "User-Agent: ..." wins)
  -e, --referer URL         the Referer header (-H "Referer: ..." wins)
  -b, --cookie DATA|FILE    "N=V; N2=V2" sent as a Cookie header, or a cookie file
                            (Netscape format) the run's cookies start from; repeatable
  -c, --cookie-jar FILE     write the run's cookies to FILE at its end (- for stdout);
                            with -b FILE or -c, the cookies are the file's, not the
                            state's
      --compressed          ask for gzip or br (Accept-Encoding) and decode it
Redirects
  -L, --location            follow redirects (without it a 3xx is the answer, as in curl)
      --max-redirs N        most redirects to follow with -L (default 50), then exit 47;
                            -1: no limit (as curl)
      --location-trusted    as -L, and send -u credentials (and -H Authorization) to the
                            other hosts redirected to as well (by default only to the URL's)
      --redirect-policy P   the redirects followed, as -L: no-less-safe (the default of -L:
                            not from https to http), same-origin, user-verified, manual
                            (the method of -X goes to every hop, as curl's; the body is
                            dropped where a POST would become a GET)
      --post301, --post302, --post303
                            a POST stays a POST, with its body, after that redirect
                            (by default it becomes a GET, as in curl and browsers)
Output
  -o, --output FILE         write the body to FILE (- for stdout); one -o for each URL,
                            in order, the URLs after them to stdout
  -O, --remote-name         write the body to a file named after the URL; as -o, one -O
                            for each URL, in order
      --remote-name-all     -O for each URL without an -o or -O of its own
  -J, --remote-header-name  with -O, the file named by the response's
                            Content-Disposition (an existing file is not overwritten)
      --output-dir DIR      the files of -o and -O go in DIR
      --create-dirs         make the missing directories of the -o or -O file
  -D, --dump-header FILE    write the status lines and headers to FILE (- for stdout)
  -w, --write-out FORMAT    print FORMAT after each transfer (@file or @- reads it):
                            %{http_code} %{http_version} %{url_effective} %{method}
                            %{size_download} %{time_total} %{content_type}
                            %{num_redirects} %{redirect_url} %{filename_effective}
                            %{exitcode} %{errormsg} %header{NAME}
                            %{stderr} %{stdout} %%, and \\n \\r \\t \\\\ escapes
  -v, --verbose             the request headers that go out and the response headers,
                            redirect hops, cache decisions, cookies stored (stderr)
  -s, --silent              no progress lines, warnings or error messages (the exit code
                            tells a failure; bad arguments are still told)
  -S, --show-error          with -s, error messages all the same (-sS)
      --progress            progress lines even when stderr is not a terminal
  -f, --fail                exit 22 on HTTP errors (400 and up), writing no body
      --fail-with-body      exit 22 on HTTP errors, writing the body all the same
State
      --state PATH          the Deno KV file of cookies, cache and HSTS, :memory: for
                            none kept (default: ${statePathHint()})
      --no-cache            neither read nor write the cache
      --no-cookies          neither send nor store cookies
      --offline             network off: served from the cache, or an error
Network
  -x, --proxy URL           proxy: http://, https://, socks5://, socks5h://; "" for none
                            (a direct connection, whatever http_proxy and the like say);
                            socks5:// sends the target's name as socks5h:// does, the
                            proxy resolving it (curl resolves it itself for socks5://);
                            without -x, as curl: http_proxy (lower case only, never
                            HTTP_PROXY), https_proxy, all_proxy, no_proxy (either case)
      --socks5 H[:P]        as -x socks5://H[:P] (port 1080 by default)
      --socks5-hostname H[:P]
                            as -x socks5h://H[:P]; the last of -x, --socks5 and
                            --socks5-hostname wins
  -U, --proxy-user U:P      the credentials of the proxy (of -x or the environment), over
                            those of its URL
      --noproxy LIST        hosts that bypass the proxy (of -x or the environment), comma-
                            separated, * for all; it replaces NO_PROXY
  -m, --max-time SECONDS    the whole transfer must end within SECONDS (or --timeout;
                            0: no limit)
      --connect-timeout S   each request must have its response headers within S
                            seconds (connection, TLS and the server's first answer;
                            0: no limit)
      --transfer-timeout S  fail when no byte moves for S seconds (0: no limit)
      --retry N             retry failed idempotent requests up to N times
      --retry-delay S       wait S seconds before each retry (default, or 0: a backoff
                            from 0.3 s, doubled each time)
      --retry-max-time S    no retry starts more than S seconds after the request's
                            first attempt (each redirect hop's own; 0: no limit)
      --resolve H:P:ADDR    connect to ADDR (ADDR,ADDR: the next when one fails) for host
                            H (* for any), port P, keeping the name in Host (the request
                            line carries the whole URL); http: only: Deno's fetch cannot
                            check an https certificate on a connection to another address
      --parallel N          transfer up to N URLs at once (each to its own file: an -o or
                            -O for each, or --remote-name-all)
TLS
      --cacert FILE         trust the CA certificates (PEM) in FILE
      --cert FILE           client certificate (PEM), its private key in FILE too or in
                            the file of --key
      --key FILE            private key (PEM) of --cert
                            (no -k/--insecure: Deno has no per-client switch to skip
                            certificate checks; trust the server's CA with --cacert)
General
  -K, --config FILE         read options from FILE (- for stdin), where -K stands: lines
                            of "name = value", "name value", "--name value" or "-n value",
                            values in "quotes" with \\" \\\\ \\t \\n escapes, # comments,
                            url = URL; the options after -K override the file's
      --url URL             a URL, as one given without an option
                            URLs are globbed as curl's: {a,b,c}, [1-3], [a-z], [01-10]
                            (zero-padded), [1-10:2] (a step) give a URL for each value
                            (at most ${MAX_GLOB_URLS}), #1, #2... in the -o file name
                            being those of the patterns; \\[ \\] \\{ \\} are themselves
  -g, --globoff             no globbing: [ ] { } are sent as they are
      --no-OPTION           switch a boolean option off (one a -K file turned on)
  -q, --disable             taken for curl's sake, which then reads no ~/.curlrc: netaccess
                            reads none in any case (a curlrc holds curl's options)
  -h, --help                this help
  -V, --version             the version

Exit codes: 0 ok, 1 unsupported scheme (or another failure), 2 bad arguments, 3 malformed URL
or protocol, 5 proxy, 6 host not found, 7 connection, 22 HTTP error (--fail), 23 write error or
binary to terminal, 26 read error, 28 timeout, 35 TLS handshake, 47 too many redirects, 58 --cert
or --key, 60 server certificate not verified, 77 --cacert, 130 canceled.`;

const OPTIONS = {
  request: { type: "string", short: "X" },
  header: { type: "string", short: "H", multiple: true },
  data: { type: "string", short: "d", multiple: true },
  "data-ascii": { type: "string", multiple: true },
  "data-binary": { type: "string", multiple: true },
  "data-raw": { type: "string", multiple: true },
  "data-urlencode": { type: "string", multiple: true },
  json: { type: "string", multiple: true },
  get: { type: "boolean", short: "G" },
  form: { type: "string", short: "F", multiple: true },
  "form-string": { type: "string", multiple: true },
  "upload-file": { type: "string", short: "T", multiple: true },
  head: { type: "boolean", short: "I" },
  include: { type: "boolean", short: "i" },
  user: { type: "string", short: "u" },
  basic: { type: "boolean" },
  digest: { type: "boolean" },
  anyauth: { type: "boolean" },
  netrc: { type: "boolean" },
  "netrc-optional": { type: "boolean" },
  "netrc-file": { type: "string" },
  cookie: { type: "string", short: "b", multiple: true },
  "cookie-jar": { type: "string", short: "c" },
  "user-agent": { type: "string", short: "A" },
  referer: { type: "string", short: "e" },
  compressed: { type: "boolean" },
  location: { type: "boolean", short: "L" },
  "location-trusted": { type: "boolean" },
  "max-redirs": { type: "string" },
  "redirect-policy": { type: "string" },
  post301: { type: "boolean" },
  post302: { type: "boolean" },
  post303: { type: "boolean" },
  output: { type: "string", short: "o", multiple: true },
  "output-dir": { type: "string" },
  "create-dirs": { type: "boolean" },
  "remote-name": { type: "boolean", short: "O" },
  "remote-name-all": { type: "boolean" },
  "remote-header-name": { type: "boolean", short: "J" },
  "dump-header": { type: "string", short: "D" },
  "write-out": { type: "string", short: "w" },
  verbose: { type: "boolean", short: "v" },
  silent: { type: "boolean", short: "s" },
  "show-error": { type: "boolean", short: "S" },
  progress: { type: "boolean" },
  fail: { type: "boolean", short: "f" },
  "fail-with-body": { type: "boolean" },
  state: { type: "string" },
  "no-cache": { type: "boolean" },
  "no-cookies": { type: "boolean" },
  offline: { type: "boolean" },
  proxy: { type: "string", short: "x" },
  socks5: { type: "string" },
  "socks5-hostname": { type: "string" },
  "proxy-user": { type: "string", short: "U" },
  noproxy: { type: "string" },
  timeout: { type: "string", short: "m" },
  "max-time": { type: "string" },
  "connect-timeout": { type: "string" },
  "transfer-timeout": { type: "string" },
  retry: { type: "string" },
  "retry-delay": { type: "string" },
  "retry-max-time": { type: "string" },
  resolve: { type: "string", multiple: true },
  parallel: { type: "string" },
  cacert: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  insecure: { type: "boolean", short: "k" },
  disable: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
  url: { type: "string", multiple: true },
  globoff: { type: "boolean", short: "g" },
} as const;

/** The kinds of the options and the long names of the short ones, for `-K` files. */
export const OPTION_TABLE: OptionTable = {
  kinds: new Map(Object.entries(OPTIONS).map(([name, option]) => [name, option.type])),
  shorts: new Map(
    Object.entries(OPTIONS).flatMap(([name, option]) =>
      "short" in option ? [[option.short, name] as const] : []
    ),
  ),
};

export const REDIRECT_POLICIES = ["manual", "no-less-safe", "same-origin", "user-verified"];

/** The longest delay a timer takes, in milliseconds (2^31 - 1, about 24.8 days). */
const LONGEST_TIMER = 2 ** 31 - 1;

/**
 * A number of seconds, as milliseconds. `flag` names the option as it was written; `zero`, what
 * 0 means where it is taken (as `undefined`); `limit` is the most milliseconds taken, by
 * default the longest timer.
 */
export function seconds(
  name: string,
  value: string | undefined,
  { flag = `--${name}`, zero, limit = LONGEST_TIMER }: {
    flag?: string;
    zero?: string;
    limit?: number;
  } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (zero !== undefined && n === 0 && value.trim() !== "") return undefined;
  if (!Number.isFinite(n) || n <= 0 || value.trim() === "") {
    const range = zero === undefined ? "above 0" : `(0: ${zero})`;
    throw badValue(name, `${flag} takes a number of seconds ${range}, got "${value}"`);
  }
  const ms = Math.max(1, Math.round(n * 1000));
  if (ms > limit) {
    const why = limit === LONGEST_TIMER ? " (about 24.8 days, the longest timer)" : "";
    throw badValue(
      name,
      `${flag} takes at most ${Math.floor(limit / 1000)} seconds${why}, got "${value}"` +
        (zero === undefined ? "" : `; give 0 for ${zero}`),
    );
  }
  return ms;
}

/**
 * A whole number of at least `min` (and at most 2^53 - 1, the largest exact one); `other` tells,
 * in the message of a bad one, what else the option takes.
 */
export function count(
  name: string,
  value: string | undefined,
  min: number,
  other = "",
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || value.trim() === "") {
    throw badValue(
      name,
      `--${name} takes a whole number of at least ${min}${other}, got "${value}"`,
    );
  }
  if (!Number.isSafeInteger(n)) {
    throw badValue(
      name,
      `--${name} takes a whole number of at most ${Number.MAX_SAFE_INTEGER}, got "${value}"`,
    );
  }
  return n;
}

/** Whether the authority of a proxy string (`[scheme://][user:pass@]host[:port]`) names a port. */
function namesPort(value: string): boolean {
  const authority = value.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "").replace(/[/?#].*$/s, "");
  const host = authority.slice(authority.lastIndexOf("@") + 1);
  return /:\d+$/.test(host.startsWith("[") ? host.slice(host.indexOf("]") + 1) : host);
}

/**
 * The proxy of `-x` (or of `flag`, the option `option`: `--socks5` gives a URL of its own);
 * `""` is none, as in curl: a direct connection, whatever the environment.
 * A proxy without a port is on curl's default one: 443 for `https://`, 1080 for the others
 * (a bare host or `http://host` too, where the `proxy` option of the library takes a URL's own).
 */
export function parseProxy(value: string, flag = "-x", option = "proxy"): NetworkProxy {
  if (value === "") return { type: "none" };
  const shown = safeUrlText(value); // no password in messages
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    throw badValue(option, `${flag} takes a proxy URL such as http://host:3128, got "${shown}"`);
  }
  const type = url.protocol.slice(0, -1);
  if (!["http", "https", "socks5", "socks5h"].includes(type)) {
    throw badValue(
      option,
      `${flag}: proxy scheme "${type}" is not supported (http, https, socks5, socks5h)`,
    );
  }
  if (!namesPort(value)) url.port = type === "https" ? "443" : "1080";
  const proxy: NetworkProxy = {
    type: type as NetworkProxy["type"],
    url: `${url.protocol}//${url.host}`,
  };
  if (url.username) {
    try {
      proxy.username = decodeURIComponent(url.username);
      proxy.password = decodeURIComponent(url.password);
    } catch {
      throw badValue(
        option,
        `${flag}: the proxy's user name or password is not valid percent-encoding, got "${shown}"`,
      );
    }
  }
  return proxy;
}

/** What a run does, checked from its arguments. */
export interface Plan extends RequestParts {
  urls: URL[];
  /** `-o`: the file each URL's body goes to (`-` for stdout), one for each URL in order. */
  outputs: Map<URL, string>;
  /** `--output-dir`: the directory the files of `-o` and `-O` go in. */
  outputDir: string | undefined;
  /** `--create-dirs`: the directories of the output file are made when missing. */
  createDirs: boolean;
  /** `-O`, `--remote-name-all`: the URLs whose body goes to a file named after the URL. */
  remoteNames: Set<URL>;
  /** `-J`: with `-O`, the file is named by the response's `Content-Disposition`. */
  remoteHeaderName: boolean;
  /**
   * Where the credentials sent to the proxy of a request to a URL come from (`of -U`, `in the
   * URL of -x`, `in https_proxy`), or `undefined` when none go; set once the proxy is known.
   */
  proxyCredentials?: (url: URL) => string | undefined;
  head: boolean;
  include: boolean;
  verbose: boolean;
  progress: boolean;
  fail: boolean;
  /** `--fail-with-body`: exit 22 on an HTTP error, with the body written all the same. */
  failWithBody: boolean;
  offline: boolean;
  noCache: boolean;
  noCookies: boolean;
  /** `-b FILE`: the cookie files (Netscape format) the run's cookies start from. */
  cookieFiles: string[];
  /** `-c FILE`: where the run's cookies are written at its end (`-` for stdout). */
  cookieJarFile: string | undefined;
  timeout: number | undefined;
  /** The flag of `timeout` for messages: as written, else curl's `-m/--max-time`. */
  timeoutFlag: string;
  /** `--connect-timeout`: the most milliseconds each request waits for its response headers. */
  connectTimeout: number | undefined;
  parallel: number | undefined;
  /** `-D`: where the status lines and headers go (`-` for stdout). */
  dumpHeader: string | undefined;
  /** `-w`: the format printed after each transfer, escapes and `@file` read. */
  writeOut: string | undefined;
  /** `--location-trusted`: credentials go to every host redirected to. */
  locationTrusted: boolean;
  /** `--netrc`: the `Authorization` of each URL whose host the `.netrc` file has credentials for. */
  authorizations: Map<URL, string>;
  /** `--post301`, `--post302`, `--post303`: the redirects after which a POST stays a POST. */
  postRedirects: number[];
  /** `-X` with `-L`: every redirect hop is sent with the method of `-X`, as in curl. */
  keepRedirectMethod: boolean;
}

/**
 * As curl: `--no-NAME` switches the boolean option NAME off, for those whose `no-NAME` is no
 * option of its own (`--no-cache` is one).
 */
const NEGATIONS: ReadonlyMap<string, string> = new Map(
  Object.entries(OPTIONS).flatMap(([name, option]) =>
    option.type === "boolean" && !(`no-${name}` in OPTIONS) ? [[`no-${name}`, name] as const] : []
  ),
);
const PARSED_OPTIONS = {
  ...OPTIONS,
  ...Object.fromEntries([...NEGATIONS.keys()].map((name) => [name, { type: "boolean" }])),
} as typeof OPTIONS;

function parsed(args: string[]) {
  return parseArgs({
    args,
    options: PARSED_OPTIONS,
    allowPositionals: true,
    strict: true,
    tokens: true,
  });
}

/** The options that send data or form fields, whose order makes the body. */
const SENDS = new Set<string>([...DATA_OPTIONS, "form", "form-string"]);

/**
 * The values of the options, by long name, and `sends`: the data and form options in the order
 * given.
 */
export type Values = ReturnType<typeof parsed>["values"] & {
  sends?: (DataArg | FormArg)[];
  /** The flag of the whole transfer's time limit as written (`-m`, `--timeout`, `--max-time`). */
  timeoutFlag?: string;
  /**
   * The outputs of the URLs, one each in order: the file of an `-o`, `true` for an `-O`, `false`
   * for a `--no-remote-name` (stdout).
   */
  outputSlots?: (string | boolean)[];
  /** How `-u` authenticates: `--basic`, `--digest` and `--anyauth` together (Basic by default). */
  auth?: AuthScheme;
  /** The last of `-x`, `--socks5` and `--socks5-hostname` given, which wins, as in curl. */
  proxyArg?: { option: ProxyOption; value: string };
};

/** The options that name the proxy: the last one given wins. */
export type ProxyOption = "proxy" | "socks5" | "socks5-hostname";
const PROXY_OPTIONS: ReadonlySet<string> = new Set<ProxyOption>([
  "proxy",
  "socks5",
  "socks5-hostname",
]);

/** How `-u` authenticates, as curl's `--basic`, `--digest` and `--anyauth`. */
export type AuthScheme = "basic" | "digest" | "anyauth";
const AUTH_SCHEMES: ReadonlySet<string> = new Set<AuthScheme>(["basic", "digest", "anyauth"]);
/** The way of `-u` for the schemes asked for: both are `--anyauth`, none Basic (curl's default). */
const authOf = (schemes: ReadonlySet<string>): AuthScheme =>
  schemes.size === 2 ? "anyauth" : schemes.has("digest") ? "digest" : "basic";

/**
 * `args` with each option that takes a value joined to the next argument when that one starts
 * with `-` (`-d -1` as `-d-1`, `-sd -1` as `-sd-1`, `--json -1` as `--json=-1`): as in curl,
 * an option takes the next argument as its value whatever it starts with, where `parseArgs`
 * would call it ambiguous.
 */
function joinValues(args: string[]): { joined: string[]; from: number[] } {
  const joined: string[] = [];
  // The index in `args` of each joined argument.
  const from: number[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    from.push(i);
    if (arg === "--") {
      for (let rest = i + 1; rest < args.length; rest++) from.push(rest);
      return { joined: joined.concat(args.slice(i)), from };
    }
    const long = /^--[^=]+$/.test(arg) && OPTION_TABLE.kinds.get(arg.slice(2)) === "string";
    // An argument that is no option cluster (an empty one too) takes no value.
    const at = valueOptionAt(arg, OPTION_TABLE);
    if (next?.startsWith("-") && (long || (at > 0 && at === arg.length - 1))) {
      joined.push(long ? `${arg}=${next}` : arg + next);
      i++;
    } else {
      joined.push(arg);
    }
  }
  return { joined, from };
}

/**
 * Where an option's value was given: the `FILE:LINE` of a `-K` file, or `undefined` for the
 * command line's (the last value of the option, or the first that equals `value`).
 */
export type WhereGiven = (about: OptionValue) => string | undefined;

/**
 * Parses `args` (throws on an unknown option or a missing value); `origins` tells where each
 * argument was given (a `-K` file's line), for `where`.
 */
export function parse(
  args: string[],
  origins: readonly (string | undefined)[] = [],
): { values: Values; positionals: string[]; where: WhereGiven } {
  const { joined, from } = joinValues(args);
  const { values, positionals, tokens } = parsed(joined);
  const where: WhereGiven = ({ option, value }) => {
    const given = tokens.filter((token) => token.kind === "option" && token.name === option);
    const token = value === undefined
      ? given.at(-1)
      : given.find((token) => token.kind === "option" && token.value === value);
    return token === undefined ? undefined : origins[from[token.index]!];
  };
  const sends: (DataArg | FormArg)[] = [];
  const outputSlots: (string | boolean)[] = [];
  // The URLs in the order given, with those of --url (and of `url` in a -K file).
  const urls: string[] = [];
  const switches = values as Record<string, unknown>;
  let proxyArg: Values["proxyArg"];
  // As curl 7.88: --basic and --digest add their scheme, --anyauth both.
  const schemes = new Set<string>();
  for (const token of tokens) {
    if (token.kind === "option" && PROXY_OPTIONS.has(token.name) && token.value !== undefined) {
      proxyArg = { option: token.name as ProxyOption, value: token.value };
    }
    // The last of --NAME and --no-NAME wins.
    const negated = token.kind === "option" ? NEGATIONS.get(token.name) : undefined;
    if (negated !== undefined) {
      delete switches[(token as { name: string }).name];
      switches[negated] = false;
    } else if (token.kind === "option" && NEGATIONS.has(`no-${token.name}`)) {
      switches[token.name] = true;
    }
    if (token.kind === "option" && AUTH_SCHEMES.has(token.name)) {
      for (const scheme of token.name === "anyauth" ? ["basic", "digest"] : [token.name]) {
        schemes.add(scheme);
      }
    } else if (negated !== undefined && negated !== "anyauth") schemes.delete(negated);
    if (token.kind === "option" && SENDS.has(token.name) && token.value !== undefined) {
      sends.push({ option: token.name, value: token.value } as DataArg | FormArg);
    } else if (token.kind === "option" && token.name === "output" && token.value !== undefined) {
      outputSlots.push(token.value);
    } else if (token.kind === "option" && /^(no-)?remote-name$/.test(token.name)) {
      outputSlots.push(token.name === "remote-name");
    } else if (token.kind === "option" && token.name === "url" && token.value !== undefined) {
      urls.push(token.value);
    } else if (token.kind === "positional") {
      urls.push(token.value);
    }
  }
  // The flag whose value limits the whole transfer (--max-time wins), as the user wrote it.
  const limit = values["max-time"] !== undefined ? "max-time" : "timeout";
  const flag = tokens.findLast((token) => token.kind === "option" && token.name === limit);
  const timeoutFlag = flag?.kind === "option" ? flag.rawName : undefined;
  return {
    values: { ...values, sends, timeoutFlag, outputSlots, auth: authOf(schemes), proxyArg },
    positionals: values.url ? urls : positionals,
    where,
  };
}

/**
 * The text of an error of `parse` that is not an {@linkcode Exit}: every line of it (a hint on
 * the lines after the first is kept), without the advice on positional arguments after `--`
 * (no URL starts with `-`).
 */
export function parseErrorText(error: Error): string {
  return error.message.replace(/\. To specify a positional argument[^\n]*/, "");
}

/** Checks the arguments and makes the plan of a run. */
export async function plan(values: Values, positionals: string[]): Promise<Plan> {
  if (values.insecure) {
    throw badValue(
      "insecure",
      "-k/--insecure is not available: Deno has no per-client switch to skip certificate checks; " +
        "trust the server's CA with --cacert FILE (or run Deno with " +
        "--unsafely-ignore-certificate-errors=HOST)",
    );
  }
  if (positionals.length === 0) throw new Exit(EXIT_CODES.usage, "no URL given", true);
  // As curl: each URL given is globbed (but with -g), its URLs sharing its -o or -O.
  const globbed: Globbed[][] = positionals.map((text) =>
    values.globoff ? [{ text, values: [] }] : expandGlob(text)
  );
  const given = globbed.flatMap((list, i) => list.map((url) => ({ ...url, slot: i })));
  const urls = given.map(({ text }) => {
    try {
      return new URL(/^[a-z][a-z0-9+.-]*:/i.test(text) ? text : `http://${text}`);
    } catch {
      // As curl: a URL that cannot be parsed exits 3.
      throw new Exit(EXIT_CODES.protocol, `"${text}" is not a URL`);
    }
  });
  // As curl: each -o or -O names the output of one URL, in order; the URLs after them go to
  // stdout, or with --remote-name-all to a file named after the URL.
  const slots = values.outputSlots ?? [];
  const outputs = new Map<URL, string>();
  const remoteNames = new Set<URL>();
  urls.forEach((url, i) => {
    const slot = slots[given[i]!.slot] ?? (values["remote-name-all"] === true);
    if (typeof slot === "string") outputs.set(url, globName(slot, given[i]!.values));
    else if (slot) remoteNames.add(url);
  });
  if (values["remote-header-name"] && remoteNames.size === 0) {
    throw new Exit(EXIT_CODES.usage, "-J names the file of -O: add -O", true);
  }
  const parallel = count("parallel", values.parallel, 1);
  if (
    parallel !== undefined && urls.length > 1 &&
    urls.some((url) => !remoteNames.has(url) && (outputs.get(url) ?? "-") === "-")
  ) {
    throw new Exit(
      EXIT_CODES.usage,
      "--parallel writes each URL to its own file: give an -o or -O for each URL, or " +
        "--remote-name-all",
      true,
    );
  }
  // A --cert file without --key holds the key too, as in curl; a --key needs its certificate.
  if (values.key !== undefined && values.cert === undefined) {
    throw new Exit(
      EXIT_CODES.usage,
      "--key is the private key of the client certificate of --cert: give --cert FILE",
      true,
    );
  }
  if (values.fail && values["fail-with-body"]) {
    throw new Exit(
      EXIT_CODES.usage,
      "-f/--fail writes no body on an HTTP error, --fail-with-body writes it: give one of them",
      true,
    );
  }
  // As curl: -b NAME=VALUE is a Cookie header, -b FILE reads a cookie file; each -b counts.
  const cookieFiles = (values.cookie ?? []).filter((cookie) => !cookie.includes("="));
  if (values["no-cookies"] && (values.cookie !== undefined || values["cookie-jar"] !== undefined)) {
    throw new Exit(
      EXIT_CODES.usage,
      `--no-cookies sends and stores none: drop ${values.cookie !== undefined ? "-b" : "-c"}`,
      true,
    );
  }
  if (values["no-cache"] && values.offline) {
    throw new Exit(EXIT_CODES.usage, "--offline serves from the cache: drop --no-cache", true);
  }
  // As curl, -w @- reads stdin before -T - sends it.
  const formatWarnings: string[] = [];
  const writeOut = values["write-out"] === undefined
    ? undefined
    : await writeOutFormat(values["write-out"], formatWarnings);
  // As curl: -u wins over the .netrc file, which gives the password of a -u USER alone.
  const netrc = await readNetrc(values);
  const user = values.user === undefined ? undefined : netrcUser(netrc, values.user, urls[0]!);
  const { method, headers, body, uploads, uploadMethod, warnings } = await requestOf(
    { ...values, user },
    urls,
    given.map(({ slot }) => slot),
  );
  const authorizations = netrc === null || user !== undefined || headers.has("authorization")
    ? new Map<URL, string>()
    : netrcAuthorizations(netrc, urls, values["netrc-optional"] ?? false);
  // --digest, --anyauth: the .netrc credentials only answer a challenge, as those of -u.
  if ((values.auth ?? "basic") !== "basic") authorizations.clear();
  warnings.push(...formatWarnings);
  if (slots.length > positionals.length) {
    const flags = slots.every((slot) => typeof slot === "string") ? "-o" : "-o or -O";
    const unused = slots.slice(positionals.length).map((slot) =>
      typeof slot === "string" ? `-o ${slot}` : slot ? "-O" : "--no-remote-name"
    );
    const count = positionals.length;
    warnings.push(
      `${slots.length} ${flags} for ${count} URL${count === 1 ? "" : "s"}: ` +
        `${unused.join(", ")} not used (one ${flags} for each URL, in order)`,
    );
  }
  const stderrTerminal = Deno.stderr.isTerminal();
  // The flag of the whole transfer's time limit as written, for messages.
  const timeoutFlag = /^-[a-z]$|^--[a-z-]+$/.test(values.timeoutFlag ?? "")
    ? values.timeoutFlag
    : undefined;
  return {
    urls,
    method,
    headers,
    body,
    uploads,
    uploadMethod,
    warnings,
    outputs,
    outputDir: values["output-dir"],
    createDirs: values["create-dirs"] ?? false,
    remoteNames,
    remoteHeaderName: values["remote-header-name"] ?? false,
    head: values.head ?? false,
    include: values.include ?? false,
    verbose: values.verbose ?? false,
    progress: !values.silent && (values.progress === true || stderrTerminal),
    fail: values.fail ?? false,
    failWithBody: values["fail-with-body"] ?? false,
    offline: values.offline ?? false,
    noCache: values["no-cache"] ?? false,
    noCookies: values["no-cookies"] ?? false,
    cookieFiles,
    cookieJarFile: values["cookie-jar"],
    // As curl, -m is --max-time; --timeout is its other name; 0 is no limit.
    timeout: values["max-time"] !== undefined
      ? seconds("max-time", values["max-time"], { flag: timeoutFlag, zero: "no limit" })
      : seconds("timeout", values.timeout, { flag: timeoutFlag, zero: "no limit" }),
    timeoutFlag: timeoutFlag ?? "-m/--max-time",
    // As curl's, 0 is no limit.
    connectTimeout: seconds("connect-timeout", values["connect-timeout"], { zero: "no limit" }),
    parallel,
    dumpHeader: values["dump-header"],
    writeOut,
    locationTrusted: values["location-trusted"] ?? false,
    authorizations,
    postRedirects: ([301, 302, 303] as const).filter((status) => values[`post${status}`]),
    keepRedirectMethod: values.request !== undefined,
  };
}
