/**
 * `netaccess`: a curl-like command line over {@linkcode NetworkAccessManager}, whose HTTP
 * cache, cookie jar and HSTS policies live in one Deno KV file that every run shares.
 *
 * ```sh
 * deno run -A --unstable-kv jsr:@netaccess/core/cli https://example.com/
 * deno run -A --unstable-kv jsr:@netaccess/core/cli -O https://example.com/big.bin
 * ```
 *
 * Options take curl's names where curl has one; `--help` lists them. Exit codes are in
 * {@linkcode EXIT_CODES}. Without Deno KV (`--unstable-kv`) the state lasts one run.
 *
 * @example Run it from a program
 * ```ts
 * import assert from "node:assert/strict";
 * import { EXIT_CODES, main } from "@netaccess/core/cli";
 *
 * assert.equal(await main(["--version"]), EXIT_CODES.ok);
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import denoJson from "../deno.json" with { type: "json" };
import {
  type CacheLoadControl,
  type CookieJar,
  type HstsStore,
  KvCache,
  KvCookieJar,
  KvHstsStore,
  type Layer,
  MemoryCache,
  MemoryCookieJar,
  MemoryHstsStore,
  NetworkAccessManager,
  type NetworkCache,
  NetworkError,
  type NetworkErrorCode,
  type NetworkProxy,
  type NetworkReply,
  NetworkReplyError,
  NetworkRequest,
  type RedirectPolicy,
  RequestBody,
} from "../mod.ts";
import { _ObservedCache } from "./cli/_observed_cache.ts";
import { _ProgressDisplay } from "./cli/_progress.ts";

/**
 * The exit codes of the command line, by class of failure ({@linkcode NetworkError} ranges).
 * HTTP error statuses (4xx, 5xx) are a success unless `--fail` is given.
 *
 * | code | meaning |
 * | --- | --- |
 * | 0 | success |
 * | 1 | another failure (a file that cannot be read or written) |
 * | 2 | bad arguments: a one-line error and the usage line |
 * | 3 | protocol: an invalid URL, an unknown scheme, a refused or endless redirect, a malformed response |
 * | 5 | proxy: refused, not found, closed, timed out, authentication required |
 * | 7 | connection: refused, host not found, closed early, network off or not permitted |
 * | 22 | HTTP error status (400 and up), with `--fail` only |
 * | 23 | output refused: a binary body to a terminal |
 * | 26 | content: not in the cache offline, a body that cannot be sent again |
 * | 28 | timeout: `--timeout`, `--transfer-timeout`, or the connection |
 * | 35 | TLS: the handshake failed (unknown issuer, expired, name mismatch, certificate required) |
 * | 130 | canceled (Ctrl-C) |
 *
 * @example Telling failures apart in a script
 * ```ts
 * import assert from "node:assert/strict";
 * import { EXIT_CODES } from "@netaccess/core/cli";
 *
 * assert.equal(EXIT_CODES.httpError, 22);
 * assert.equal(EXIT_CODES.timeout, 28);
 * ```
 */
export const EXIT_CODES: {
  readonly ok: 0;
  readonly failure: 1;
  readonly usage: 2;
  readonly protocol: 3;
  readonly proxy: 5;
  readonly connection: 7;
  readonly httpError: 22;
  readonly output: 23;
  readonly content: 26;
  readonly timeout: 28;
  readonly tls: 35;
  readonly canceled: 130;
} = Object.freeze({
  ok: 0,
  failure: 1,
  usage: 2,
  protocol: 3,
  proxy: 5,
  connection: 7,
  httpError: 22,
  output: 23,
  content: 26,
  timeout: 28,
  tls: 35,
  canceled: 130,
});

const USAGE = "usage: netaccess [options] URL... (netaccess --help for the options)";

const HELP =
  `netaccess ${denoJson.version}: fetch URLs with a persistent HTTP cache, cookie jar and HSTS

usage: netaccess [options] URL...

Request
  -X, --request METHOD      method (default GET, or POST with -d, --json, -F)
  -H, --header "N: V"       add a header (repeatable)
  -d, --data DATA           body: text, @file, or @- for stdin (repeatable, joined by &)
      --json DATA           JSON body (text, @file, @-), with JSON Content-Type and Accept
  -F, --form N=V            multipart field: N=value, N=@file[;type=T][;filename=F], N=<file
  -I, --head                send HEAD and print the response headers
  -u, --user USER[:PASS]    credentials (asks for the password on a terminal when missing)
Redirects
  -L, --location            follow redirects (the default)
      --max-redirs N        most redirects to follow (default 50)
      --redirect-policy P   manual, no-less-safe (default), same-origin, user-verified
Output
  -o, --output FILE         write the body to FILE
  -O, --remote-name         write the body to a file named after the URL
  -v, --verbose             headers, redirect hops, cache decisions, cookies stored (stderr)
  -s, --silent              no progress lines
      --progress            progress lines even when stderr is not a terminal
  -f, --fail                exit 22 on HTTP errors (400 and up), writing no body
State
      --state PATH          the Deno KV file of cookies, cache and HSTS
                            (default: ${_statePathHint()})
      --no-cache            neither read nor write the cache
      --no-cookies          neither send nor store cookies
      --offline             network off: served from the cache, or an error
Network
  -x, --proxy URL           proxy: http://, https://, socks5://, socks5h://
  -m, --timeout SECONDS     the whole transfer must end within SECONDS
      --transfer-timeout S  fail when no byte moves for S seconds
      --retry N             retry failed idempotent requests up to N times
      --parallel N          transfer up to N URLs at once (each to its own file, with -O)
TLS
      --cacert FILE         trust the CA certificates (PEM) in FILE
      --cert FILE           client certificate (PEM), with --key
      --key FILE            private key (PEM) of --cert
                            (no -k/--insecure: Deno has no per-client switch to skip
                            certificate checks; trust the server's CA with --cacert)
  -h, --help                this help
  -V, --version             the version

Exit codes: 0 ok, 2 bad arguments, 3 protocol, 5 proxy, 7 connection, 22 HTTP error (--fail),
23 binary to terminal, 26 content, 28 timeout, 35 TLS, 130 canceled, 1 other.`;

const OPTIONS = {
  request: { type: "string", short: "X" },
  header: { type: "string", short: "H", multiple: true },
  data: { type: "string", short: "d", multiple: true },
  json: { type: "string", multiple: true },
  form: { type: "string", short: "F", multiple: true },
  head: { type: "boolean", short: "I" },
  user: { type: "string", short: "u" },
  location: { type: "boolean", short: "L" },
  "max-redirs": { type: "string" },
  "redirect-policy": { type: "string" },
  output: { type: "string", short: "o" },
  "remote-name": { type: "boolean", short: "O" },
  verbose: { type: "boolean", short: "v" },
  silent: { type: "boolean", short: "s" },
  progress: { type: "boolean" },
  fail: { type: "boolean", short: "f" },
  state: { type: "string" },
  "no-cache": { type: "boolean" },
  "no-cookies": { type: "boolean" },
  offline: { type: "boolean" },
  proxy: { type: "string", short: "x" },
  timeout: { type: "string", short: "m" },
  "transfer-timeout": { type: "string" },
  retry: { type: "string" },
  parallel: { type: "string" },
  cacert: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  insecure: { type: "boolean", short: "k" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
} as const;

const REDIRECT_POLICIES = ["manual", "no-less-safe", "same-origin", "user-verified"];

const encoder = new TextEncoder();

/** A failure that ends the run with a code and a one-line message. */
class Exit extends Error {
  constructor(readonly code: number, message: string, readonly usage = false) {
    super(message);
  }
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * The default `--state` file: `netaccess/state.sqlite3` in the user's cache directory
 * (`$XDG_CACHE_HOME`, else `~/.cache`, on Linux and other Unix systems;
 * `~/Library/Caches` on macOS; `%LOCALAPPDATA%` on Windows).
 *
 * @param getEnv Reads an environment variable (default `Deno.env.get`, `undefined` without
 * the `env` permission).
 * @param os The operating system (default `Deno.build.os`).
 * @returns The path, or `null` when no home or cache directory is known.
 *
 * @example Where the state lives on Linux
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultStatePath } from "@netaccess/core/cli";
 *
 * const vars: Record<string, string> = { XDG_CACHE_HOME: "/var/cache/me", HOME: "/home/me" };
 * assert.equal(
 *   defaultStatePath((name) => vars[name], "linux"),
 *   "/var/cache/me/netaccess/state.sqlite3",
 * );
 * assert.equal(
 *   defaultStatePath((name) => name === "HOME" ? "/Users/me" : undefined, "darwin"),
 *   "/Users/me/Library/Caches/netaccess/state.sqlite3",
 * );
 * ```
 */
export function defaultStatePath(
  getEnv: (name: string) => string | undefined = env,
  os: typeof Deno.build.os = Deno.build.os,
): string | null {
  if (os === "windows") {
    const local = getEnv("LOCALAPPDATA") ||
      (getEnv("USERPROFILE") && `${getEnv("USERPROFILE")}\\AppData\\Local`);
    return local ? `${local}\\netaccess\\state.sqlite3` : null;
  }
  const home = getEnv("HOME");
  if (os === "darwin") return home ? `${home}/Library/Caches/netaccess/state.sqlite3` : null;
  const xdg = getEnv("XDG_CACHE_HOME");
  const base = xdg && xdg.startsWith("/") ? xdg : home ? `${home}/.cache` : null;
  return base ? `${base}/netaccess/state.sqlite3` : null;
}

function _statePathHint(): string {
  return Deno.build.os === "windows"
    ? "%LOCALAPPDATA%\\netaccess\\state.sqlite3"
    : Deno.build.os === "darwin"
    ? "~/Library/Caches/netaccess/state.sqlite3"
    : "$XDG_CACHE_HOME/netaccess/state.sqlite3, or ~/.cache/...";
}

function seconds(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || value.trim() === "") {
    throw new Exit(
      EXIT_CODES.usage,
      `--${name} takes a number of seconds above 0, got "${value}"`,
      true,
    );
  }
  return Math.max(1, Math.round(n * 1000));
}

function count(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || value.trim() === "") {
    throw new Exit(
      EXIT_CODES.usage,
      `--${name} takes a whole number of at least ${min}, got "${value}"`,
      true,
    );
  }
  return n;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new Exit(EXIT_CODES.failure, `Cannot read ${what} ${path}: ${(error as Error).message}`);
  }
}

async function readStdin(): Promise<Uint8Array> {
  return await new Response(Deno.stdin.readable).bytes();
}

/** The bytes of `-d`/`--json` DATA: text, `@file` or `@-`. */
async function dataBytes(value: string, option: string): Promise<Uint8Array> {
  if (!value.startsWith("@")) return encoder.encode(value);
  const path = value.slice(1);
  if (path === "-") return await readStdin();
  try {
    return await Deno.readFile(path);
  } catch (error) {
    throw new Exit(
      EXIT_CODES.failure,
      `Cannot read the ${option} file ${path}: ${(error as Error).message}`,
    );
  }
}

/**
 * A body sent as a stream of 64 KiB slices so that its upload progress can be shown. The
 * request carries the bytes (replayable for redirects and authentication); each send gets a
 * stream of its own.
 */
function sliced(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.byteLength) {
        controller.close();
        return;
      }
      const end = Math.min(bytes.byteLength, offset + 64 * 1024);
      controller.enqueue(bytes.slice(offset, end));
      offset = end;
    },
  }, { highWaterMark: 0 });
}

async function formBody(fields: string[]): Promise<{ bytes: Uint8Array; type: string }> {
  const form = new FormData();
  for (const field of fields) {
    const eq = field.indexOf("=");
    if (eq <= 0) {
      throw new Exit(
        EXIT_CODES.usage,
        `-F takes NAME=VALUE, NAME=@FILE or NAME=<FILE, got "${field}"`,
        true,
      );
    }
    const name = field.slice(0, eq);
    const value = field.slice(eq + 1);
    if (value.startsWith("@")) {
      const [path = "", ...params] = value.slice(1).split(";");
      let type = "application/octet-stream";
      let filename = path.split(/[\\/]/).pop() ?? path;
      for (const param of params) {
        const [key, ...rest] = param.split("=");
        if (key?.trim() === "type") type = rest.join("=");
        if (key?.trim() === "filename") filename = rest.join("=");
      }
      let bytes: Uint8Array<ArrayBuffer>;
      try {
        bytes = await Deno.readFile(path);
      } catch (error) {
        throw new Exit(
          EXIT_CODES.failure,
          `Cannot read the -F file ${path}: ${(error as Error).message}`,
        );
      }
      form.append(name, new Blob([bytes], { type }), filename);
    } else if (value.startsWith("<")) {
      form.append(name, await readText(value.slice(1), "the -F file"));
    } else {
      form.append(name, value);
    }
  }
  const response = new Response(form);
  return {
    bytes: await response.bytes(),
    type: response.headers.get("content-type") ?? "multipart/form-data",
  };
}

function parseProxy(value: string): NetworkProxy {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    throw new Exit(
      EXIT_CODES.usage,
      `-x takes a proxy URL such as http://host:3128, got "${value}"`,
      true,
    );
  }
  const type = url.protocol.slice(0, -1);
  if (!["http", "https", "socks5", "socks5h"].includes(type)) {
    throw new Exit(
      EXIT_CODES.usage,
      `-x: proxy scheme "${type}" is not supported (http, https, socks5, socks5h)`,
      true,
    );
  }
  const proxy: NetworkProxy = {
    type: type as NetworkProxy["type"],
    url: `${url.protocol}//${url.host}`,
  };
  if (url.username) {
    proxy.username = decodeURIComponent(url.username);
    proxy.password = decodeURIComponent(url.password);
  }
  return proxy;
}

/** Reads a password from the terminal without echoing it. */
async function askPassword(user: string): Promise<string> {
  if (!Deno.stdin.isTerminal()) {
    throw new Exit(
      EXIT_CODES.usage,
      `-u ${user} has no password and stdin is not a terminal to ask for it: give -u ${user}:PASSWORD`,
      true,
    );
  }
  // Raw before the prompt: whatever is typed once it shows is never echoed.
  Deno.stdin.setRaw(true);
  Deno.stderr.writeSync(encoder.encode(`Password for ${user}: `));
  const bytes: number[] = [];
  const buffer = new Uint8Array(64);
  try {
    read: for (;;) {
      const n = await Deno.stdin.read(buffer);
      if (n === null) break;
      for (const byte of buffer.subarray(0, n)) {
        if (byte === 0x0d || byte === 0x0a) break read;
        if (byte === 0x03) throw new Exit(EXIT_CODES.canceled, "Canceled");
        if (byte === 0x7f || byte === 0x08) bytes.pop();
        else bytes.push(byte);
      }
    }
  } finally {
    Deno.stdin.setRaw(false);
    Deno.stderr.writeSync(encoder.encode("\n"));
  }
  return new TextDecoder().decode(Uint8Array.from(bytes));
}

/** The exit code of a failed reply. */
function exitCode(error: NetworkErrorCode, status: number): number {
  if (error === NetworkError.OperationCanceledError) return EXIT_CODES.canceled;
  if (error === NetworkError.TimeoutError) return EXIT_CODES.timeout;
  if (error === NetworkError.SslHandshakeFailedError) return EXIT_CODES.tls;
  if (
    error === NetworkError.TooManyRedirectsError || error === NetworkError.InsecureRedirectError
  ) {
    return EXIT_CODES.protocol;
  }
  if (error < 100) return EXIT_CODES.connection;
  if (error < 200) return EXIT_CODES.proxy;
  if (error >= 301 && error < 400) return EXIT_CODES.protocol;
  if (status >= 400) return EXIT_CODES.httpError;
  return EXIT_CODES.content;
}

function hint(reply: NetworkReply, offline: boolean): string {
  const text = reply.errorString;
  switch (reply.error) {
    case NetworkError.SslHandshakeFailedError:
      if (/certificate required/.test(text)) {
        return " (give a client certificate with --cert and --key)";
      }
      if (/unknown issuer/.test(text)) return " (trust the server's CA with --cacert FILE)";
      return "";
    case NetworkError.ProxyNotFoundError:
      return " (check the proxy's host name in -x or in HTTP_PROXY/HTTPS_PROXY)";
    case NetworkError.ProxyAuthenticationRequiredError:
      return " (give the proxy's credentials in -x http://user:pass@host:port)";
    case NetworkError.AuthenticationRequiredError:
      return " (give credentials with -u USER[:PASSWORD])";
    case NetworkError.UnknownNetworkError:
      if (offline && /disabled/i.test(text)) {
        return ": not in the cache, and --offline keeps the network off";
      }
      return "";
    case NetworkError.TimeoutError:
      if (/\(timeout\)$/.test(text)) return " (allow more with --timeout SECONDS)";
      if (/^No data moved/.test(text)) return " (allow more with --transfer-timeout SECONDS)";
      return "";
    case NetworkError.ContentNotFoundError:
      if (offline && reply.status === 0) return ": not in the cache (--offline)";
      return "";
  }
  return "";
}

interface Plan {
  urls: URL[];
  method: string;
  headers: Headers;
  body: Uint8Array | null;
  output: string | undefined;
  remoteName: boolean;
  head: boolean;
  verbose: boolean;
  progress: boolean;
  fail: boolean;
  offline: boolean;
  noCache: boolean;
  noCookies: boolean;
  timeout: number | undefined;
  parallel: number | undefined;
}

type Values = ReturnType<typeof parse>["values"];

function parse(args: string[]) {
  return parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
}

async function plan(values: Values, positionals: string[]): Promise<Plan> {
  if (values.insecure) {
    throw new Exit(
      EXIT_CODES.usage,
      "-k/--insecure is not available: Deno has no per-client switch to skip certificate checks; " +
        "trust the server's CA with --cacert FILE (or run Deno with " +
        "--unsafely-ignore-certificate-errors=HOST)",
      true,
    );
  }
  if (positionals.length === 0) throw new Exit(EXIT_CODES.usage, "no URL given", true);
  const urls = positionals.map((text) => {
    try {
      return new URL(/^[a-z][a-z0-9+.-]*:/i.test(text) ? text : `http://${text}`);
    } catch {
      throw new Exit(EXIT_CODES.usage, `"${text}" is not a URL`, true);
    }
  });
  const bodies = [values.data, values.json, values.form].filter((v) => v !== undefined).length;
  if (bodies > 1) throw new Exit(EXIT_CODES.usage, "give one of -d, --json and -F", true);
  if (values.head && bodies > 0) {
    throw new Exit(EXIT_CODES.usage, "-I sends no body: drop -d, --json or -F", true);
  }
  if (values.output !== undefined && values["remote-name"]) {
    throw new Exit(EXIT_CODES.usage, "give either -o FILE or -O", true);
  }
  if (values.output !== undefined && urls.length > 1) {
    throw new Exit(EXIT_CODES.usage, "-o names one file: use -O for several URLs", true);
  }
  const parallel = count("parallel", values.parallel, 1);
  if (parallel !== undefined && urls.length > 1 && !values["remote-name"]) {
    throw new Exit(EXIT_CODES.usage, "--parallel writes each URL to its own file: add -O", true);
  }
  if ((values.cert === undefined) !== (values.key === undefined)) {
    throw new Exit(EXIT_CODES.usage, "--cert and --key go together", true);
  }
  if (values["no-cache"] && values.offline) {
    throw new Exit(EXIT_CODES.usage, "--offline serves from the cache: drop --no-cache", true);
  }
  const headers = new Headers();
  for (const line of values.header ?? []) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Exit(EXIT_CODES.usage, `-H takes "Name: value", got "${line}"`, true);
    try {
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    } catch {
      throw new Exit(EXIT_CODES.usage, `-H "${line}" is not a valid header`, true);
    }
  }
  let body: Plan["body"] = null;
  if (values.data !== undefined) {
    if (!headers.has("content-type")) {
      headers.set("content-type", "application/x-www-form-urlencoded");
    }
    const parts = [];
    for (const data of values.data) parts.push(await dataBytes(data, "--data"));
    body = parts.length === 1 ? parts[0]! : encoder.encode(
      parts.map((part) => new TextDecoder().decode(part)).join("&"),
    );
  } else if (values.json !== undefined) {
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
    if (!headers.has("accept")) headers.set("accept", "application/json");
    const parts = [];
    for (const json of values.json) parts.push(await dataBytes(json, "--json"));
    body = encoder.encode(parts.map((part) => new TextDecoder().decode(part)).join(""));
  } else if (values.form !== undefined) {
    const form = await formBody(values.form);
    if (!headers.has("content-type")) headers.set("content-type", form.type);
    body = form.bytes;
  }
  const method = values.request?.toUpperCase() ??
    (values.head ? "HEAD" : body !== null ? "POST" : "GET");
  if (values.request !== undefined && !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(values.request)) {
    throw new Exit(EXIT_CODES.usage, `-X takes an HTTP method, got "${values.request}"`, true);
  }
  if (values.user !== undefined) {
    const colon = values.user.indexOf(":");
    const user = colon < 0 ? values.user : values.user.slice(0, colon);
    const password = colon < 0 ? await askPassword(user) : values.user.slice(colon + 1);
    for (const url of urls) {
      url.username = encodeURIComponent(user);
      url.password = encodeURIComponent(password);
    }
  }
  const stderrTerminal = Deno.stderr.isTerminal();
  return {
    urls,
    method,
    headers,
    body,
    output: values.output,
    remoteName: values["remote-name"] ?? false,
    head: values.head ?? false,
    verbose: values.verbose ?? false,
    progress: !values.silent && (values.progress === true || stderrTerminal),
    fail: values.fail ?? false,
    offline: values.offline ?? false,
    noCache: values["no-cache"] ?? false,
    noCookies: values["no-cookies"] ?? false,
    timeout: seconds("timeout", values.timeout),
    parallel,
  };
}

interface State extends AsyncDisposable {
  cache: NetworkCache | null;
  cookieJar: CookieJar | null;
  hstsStore: HstsStore;
}

async function openState(
  path: string | null,
  plan: Plan,
  warn: (line: string) => void,
): Promise<State> {
  let kv: Deno.Kv | null = null;
  if (path !== null && typeof Deno.openKv !== "function") {
    warn(
      "Deno KV is not available (run with --unstable-kv): cookies, cache and HSTS last this run only",
    );
  } else if (path !== null) {
    if (path !== ":memory:") {
      const dir = path.replace(/[\\/][^\\/]*$/, "");
      if (dir && dir !== path) await Deno.mkdir(dir, { recursive: true }).catch(() => {});
    }
    try {
      kv = await Deno.openKv(path);
    } catch (error) {
      throw new Exit(
        EXIT_CODES.failure,
        `Cannot open the state file ${path}: ${
          (error as Error).message
        } (give another with --state PATH)`,
      );
    }
  }
  // The state file is one person's: a private cache, which may keep responses to requests
  // that carried their cookies or credentials.
  const cache = plan.noCache
    ? null
    : kv
    ? await KvCache.open({ kv, mode: "private" })
    : new MemoryCache();
  const cookieJar = plan.noCookies
    ? null
    : kv
    ? await KvCookieJar.open({ kv })
    : new MemoryCookieJar();
  const hstsStore = kv ? await KvHstsStore.open({ kv }) : new MemoryHstsStore();
  return {
    cache,
    cookieJar,
    hstsStore,
    async [Symbol.asyncDispose]() {
      await cache?.close();
      await (cookieJar as KvCookieJar | null)?.close?.();
      await (hstsStore as KvHstsStore).close?.();
      kv?.close();
    },
  };
}

/** Writes all of `bytes`. */
async function writeAll(writer: { write(p: Uint8Array): Promise<number> }, bytes: Uint8Array) {
  let offset = 0;
  while (offset < bytes.byteLength) offset += await writer.write(bytes.subarray(offset));
}

function redact(name: string, value: string): string {
  if (/^(proxy-)?authorization$/i.test(name)) return value.replace(/^(\S+)\s.*$/, "$1 ***");
  return value;
}

function remoteName(url: URL): string {
  const name = decodeURIComponent(url.pathname.split("/").pop() ?? "");
  if (!name || name === "." || name === "..") {
    throw new Exit(
      EXIT_CODES.usage,
      `-O takes the file name from the URL, and ${url.href} has none: use -o FILE`,
      true,
    );
  }
  return name;
}

/** Why a response was not stored, from its headers (RFC 9111 section 3). */
function whyNotStored(method: string, status: number, request: Headers, response: Headers): string {
  const cc = (response.get("cache-control") ?? "").toLowerCase();
  if (method !== "GET" && method !== "HEAD") return `the method is ${method}`;
  if (/no-store/.test(request.get("cache-control") ?? "")) return "the request said no-store";
  if (/no-store/.test(cc)) return "Cache-Control: no-store";
  if (response.get("vary")?.trim() === "*") return "Vary: *";
  const heuristic = [200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501].includes(status);
  const explicit = /max-age|s-maxage|public/.test(cc) || response.has("expires");
  const validator = response.has("etag") || response.has("last-modified");
  if (!heuristic && !explicit) {
    return `status ${status} is not cacheable without explicit freshness`;
  }
  if (!explicit && !validator) {
    return "no freshness lifetime (Cache-Control, Expires) and no validator (ETag, Last-Modified)";
  }
  return "the cache declined it";
}

/** Everything the network layer saw of one reply's hops. */
interface Hop {
  url: URL;
  method: string;
  requestHeaders: Headers;
  status: number;
  responseHeaders: Headers;
}

/**
 * Runs the command line with `args` (as `Deno.args`): writes bodies to stdout or files,
 * progress, verbose output and errors to stderr, and resolves with the exit code.
 *
 * @param args The arguments, without the program name.
 * @returns The exit code ({@linkcode EXIT_CODES}).
 *
 * @example Asking for the usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { EXIT_CODES, main } from "@netaccess/core/cli";
 *
 * assert.equal(await main(["--help"]), EXIT_CODES.ok);
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const stderr = (line: string) => Deno.stderr.writeSync(encoder.encode(line + "\n"));
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parse(args));
  } catch (error) {
    const message = (error as Error).message.split("\n")[0]!.replace(
      /\. To specify a positional.*$/,
      "",
    );
    stderr(`netaccess: ${message}`);
    stderr(USAGE);
    return EXIT_CODES.usage;
  }
  if (values.help) {
    await writeAll(Deno.stdout, encoder.encode(HELP + "\n"));
    return EXIT_CODES.ok;
  }
  if (values.version) {
    await writeAll(
      Deno.stdout,
      encoder.encode(`netaccess ${denoJson.version} (Deno ${Deno.version.deno})\n`),
    );
    return EXIT_CODES.ok;
  }
  try {
    return await run(values, positionals, stderr);
  } catch (error) {
    if (error instanceof Exit) {
      stderr(`netaccess: ${error.message}`);
      if (error.usage) stderr(USAGE);
      return error.code;
    }
    stderr(`netaccess: ${(error as Error)?.message ?? error}`);
    return EXIT_CODES.failure;
  }
}

async function run(
  values: Values,
  positionals: string[],
  stderr: (line: string) => void,
): Promise<number> {
  const settings = await plan(values, positionals);
  const maxRedirects = count("max-redirs", values["max-redirs"], 0);
  const transferTimeout = seconds("transfer-timeout", values["transfer-timeout"]);
  const retry = count("retry", values.retry, 0);
  const redirectPolicy = values["redirect-policy"];
  if (redirectPolicy !== undefined && !REDIRECT_POLICIES.includes(redirectPolicy)) {
    throw new Exit(
      EXIT_CODES.usage,
      `--redirect-policy takes ${REDIRECT_POLICIES.join(", ")}, got "${redirectPolicy}"`,
      true,
    );
  }
  const proxy = values.proxy === undefined ? undefined : parseProxy(values.proxy);
  const caCerts = values.cacert === undefined
    ? undefined
    : [await readText(values.cacert, "the --cacert file")];
  const clientCertificate = values.cert === undefined ? undefined : {
    cert: await readText(values.cert, "the --cert file"),
    key: await readText(values.key!, "the --key file"),
  };
  const statePath = values.state ?? defaultStatePath();
  await using state = await openState(statePath, settings, (line) => stderr(`netaccess: ${line}`));
  const cache = state.cache === null ? null : new _ObservedCache(state.cache);
  const hops = new Map<NetworkReply, Hop[]>();
  const progress = new _ProgressDisplay(settings.progress ? Deno.stderr : null);
  const verbose = (line: string) => {
    if (!settings.verbose) return;
    progress.clear();
    stderr(line);
    progress.changed();
  };
  let manager: NetworkAccessManager;
  try {
    manager = new NetworkAccessManager({
      cache,
      cookieJar: state.cookieJar,
      hstsStore: state.hstsStore,
      cacheLoadControl: settings.offline ? "prefer-cache" : "prefer-network",
      networkAccessible: settings.offline ? "not-accessible" : "accessible",
      ...(proxy ? { proxy } : {}),
      ...(caCerts ? { caCerts } : {}),
      ...(clientCertificate ? { clientCertificate } : {}),
      ...(maxRedirects !== undefined ? { maxRedirects } : {}),
      ...(transferTimeout !== undefined ? { transferTimeout } : {}),
      ...(settings.timeout !== undefined ? { timeout: settings.timeout } : {}),
      ...(retry !== undefined ? { retry: retry > 0 ? retry : false } : {}),
      ...(redirectPolicy ? { redirectPolicy: redirectPolicy as RedirectPolicy } : {}),
      ...(settings.parallel ? { maxConnectionsPerHost: settings.parallel } : {}),
    });
  } catch (error) {
    throw new Exit(EXIT_CODES.usage, (error as Error).message, true);
  }
  await using _closing = manager;
  const uploads = new WeakMap<NetworkRequest, Uint8Array>();
  const network: Layer = (next) => async (exchange) => {
    // This send gets a stream of the bytes (for upload progress); the layers above keep seeing
    // the replayable bytes, so a 307 or an authentication challenge can send them again.
    const upload = uploads.get(exchange.request);
    const replayable = exchange.body;
    if (upload !== undefined && replayable !== null) {
      exchange.body = RequestBody.from(sliced(upload));
    }
    const hop: Hop = {
      url: new URL(exchange.url.href),
      method: exchange.method,
      requestHeaders: new Headers(exchange.headers),
      status: 0,
      responseHeaders: new Headers(),
    };
    const list = hops.get(exchange.reply) ?? [];
    list.push(hop);
    hops.set(exchange.reply, list);
    if (settings.verbose) {
      const target = exchange.url;
      const lines = [`> ${exchange.method} ${target.pathname}${target.search} (${target.origin})`];
      for (const [name, value] of exchange.headers) lines.push(`> ${name}: ${redact(name, value)}`);
      verbose(lines.join("\n"));
    }
    let response: Response;
    try {
      response = await next(exchange);
    } finally {
      exchange.body = replayable;
    }
    hop.status = response.status;
    hop.responseHeaders = new Headers(response.headers);
    if (settings.verbose) {
      const lines = [`< ${response.status} ${response.statusText}`.trimEnd()];
      for (const [name, value] of response.headers) lines.push(`< ${name}: ${value}`);
      verbose(lines.join("\n"));
    }
    return response;
  };
  manager.use(network, "network");

  const controller = new AbortController();
  let interrupted = false;
  const onInterrupt = () => {
    interrupted = true;
    controller.abort();
  };
  try {
    Deno.addSignalListener("SIGINT", onInterrupt);
  } catch {
    // No signals on this platform.
  }
  try {
    const jobs = settings.urls.map((url) => () =>
      transfer(
        url,
        settings,
        manager,
        cache,
        state.cookieJar,
        hops,
        uploads,
        progress,
        controller.signal,
        verbose,
        stderr,
      )
    );
    let worst = EXIT_CODES.ok as number;
    if (settings.parallel !== undefined && settings.urls.length > 1) {
      const codes = await Promise.all(jobs.map((job) => job()));
      progress.end();
      worst = codes.find((code) => code !== 0) ?? 0;
    } else {
      for (const job of jobs) {
        const code = await job();
        progress.end();
        if (code !== 0 && worst === 0) worst = code;
      }
    }
    if (interrupted) return EXIT_CODES.canceled;
    return worst;
  } finally {
    try {
      Deno.removeSignalListener("SIGINT", onInterrupt);
    } catch {
      // No signals on this platform.
    }
  }
}

async function transfer(
  url: URL,
  settings: Plan,
  manager: NetworkAccessManager,
  cache: _ObservedCache | null,
  jar: CookieJar | null,
  hops: Map<NetworkReply, Hop[]>,
  uploads: WeakMap<NetworkRequest, Uint8Array>,
  progress: _ProgressDisplay,
  signal: AbortSignal,
  verbose: (line: string) => void,
  stderr: (line: string) => void,
): Promise<number> {
  const file = settings.output ?? (settings.remoteName ? remoteName(url) : undefined);
  const label = file?.split(/[\\/]/).pop() ?? (url.pathname.split("/").pop() || url.host);
  const loadControl: CacheLoadControl | undefined = settings.offline ? "prefer-cache" : undefined;
  const request = new NetworkRequest(url, {
    headers: settings.headers,
    signal,
    ...(loadControl ? { cacheLoadControl: loadControl } : {}),
  });
  const body = settings.body;
  if (body !== null) uploads.set(request, body);
  const reply = manager.sendCustomRequest(request, settings.method, body ?? undefined);
  if (body !== null && body.byteLength > 0) {
    const upload = progress.bar(`↑ ${label}`);
    reply.addEventListener("uploadprogress", (event) => {
      upload.update(event.loaded, body.byteLength);
      if (event.loaded >= body.byteLength) upload.finish();
    });
  }
  const download = progress.bar(settings.head ? `${label} (headers)` : label);
  reply.addEventListener("redirected", (event) => {
    verbose(`* redirect ${event.status} to ${event.url.href} (hop ${event.hop})`);
  });
  reply.addEventListener("downloadprogress", (event) => {
    download.update(event.loaded, event.total);
  });
  const failHttp = () => settings.fail && reply.status >= 400;
  type Sink = { write(p: Uint8Array): Promise<number>; close(): void };
  let out = null as Sink | null;
  let refused = false;
  let writeError: Error | null = null;
  const copy = async () => {
    for await (const chunk of reply) {
      if (failHttp() || settings.head) continue;
      if (out === null) {
        if (file !== undefined) {
          try {
            out = await Deno.open(file, { write: true, create: true, truncate: true });
          } catch (error) {
            writeError = error as Error;
            reply.abort();
            return;
          }
        } else {
          if (Deno.stdout.isTerminal() && chunk.includes(0)) {
            refused = true;
            reply.abort();
            return;
          }
          out = { write: (p) => Deno.stdout.write(p), close() {} };
        }
      }
      try {
        await writeAll(out, chunk);
      } catch (error) {
        writeError = error as Error;
        reply.abort();
        return;
      }
    }
  };
  try {
    try {
      await copy();
    } catch (error) {
      // A failed reply ends its iteration with its error; the reply says what it was.
      if (!(error instanceof NetworkReplyError)) throw error;
    }
    await reply.finished;
    if (
      out === null && file !== undefined && !settings.head && !failHttp() && writeError === null &&
      !refused && reply.error === NetworkError.NoError
    ) {
      // An empty body still makes the file.
      try {
        (await Deno.open(file, { write: true, create: true, truncate: true })).close();
      } catch (error) {
        writeError = error as Error;
      }
    }
  } finally {
    out?.close();
  }
  if (reply.error === NetworkError.NoError || reply.status > 0) download.finish();
  if (settings.head && reply.status > 0) {
    const lines = [`HTTP ${reply.status} ${reply.statusText}`.trimEnd()];
    for (const [name, value] of reply.headers) lines.push(`${name}: ${value}`);
    await writeAll(Deno.stdout, encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
  }
  if (settings.verbose) await explain(reply, settings, cache, jar, hops.get(reply) ?? [], verbose);
  if (refused) {
    progress.end();
    stderr(
      `netaccess: ${reply.url.href} is binary, and binary output can mess up a terminal: ` +
        `write it with -o FILE or -O, or pipe it (| cat) to see it anyway`,
    );
    return EXIT_CODES.output;
  }
  if (writeError !== null) {
    progress.end();
    stderr(`netaccess: cannot write ${file ?? "stdout"}: ${writeError.message}`);
    return EXIT_CODES.failure;
  }
  if (reply.error === NetworkError.NoError) return EXIT_CODES.ok;
  const code = exitCode(reply.error, reply.status);
  if (code === EXIT_CODES.httpError && !settings.fail) return EXIT_CODES.ok;
  if (code === EXIT_CODES.canceled && signal.aborted) return code;
  progress.end();
  const what = reply.status > 0
    ? `${settings.method} ${reply.url.href} returned HTTP ${reply.status} ${reply.statusText}`
      .trimEnd()
    : `${settings.method} ${reply.url.href} failed`;
  stderr(`netaccess: ${what}: ${reply.errorString}${hint(reply, settings.offline)}`);
  return code;
}

/** The verbose lines after a reply: what the cache decided, which cookies were stored. */
async function explain(
  reply: NetworkReply,
  settings: Plan,
  cache: _ObservedCache | null,
  jar: CookieJar | null,
  hops: Hop[],
  verbose: (line: string) => void,
): Promise<void> {
  const final = hops.at(-1);
  const key = reply.url.href;
  if (cache === null) verbose("* cache: off (--no-cache)");
  else {
    const writes = cache.writes.get(key) ?? [];
    if (reply.fromCache && hops.length === 0) {
      verbose(
        settings.offline
          ? "* cache: hit, served from the cache with the network off (--offline)"
          : "* cache: hit, fresh: served from the cache without asking the server",
      );
    } else if (final?.status === 304 && reply.status !== 304) {
      verbose(
        `* cache: revalidated: the server answered 304 Not Modified to ${
          final.requestHeaders.has("if-none-match") ? "If-None-Match" : "If-Modified-Since"
        }, served from the cache${writes.includes("refreshed") ? " (headers refreshed)" : ""}`,
      );
    } else if (writes.includes("stored")) {
      verbose("* cache: stored");
    } else if (final !== undefined && reply.error === NetworkError.NoError) {
      verbose(
        `* cache: not storable: ${
          whyNotStored(final.method, final.status, final.requestHeaders, final.responseHeaders)
        }`,
      );
    }
  }
  if (jar === null) return;
  for (const hop of hops) {
    const names = hop.responseHeaders.getSetCookie().map((line) => line.split("=")[0]!.trim());
    if (names.length === 0) continue;
    const stored = await jar.cookiesForUrl(hop.url);
    for (const name of names) {
      const cookie = stored.find((c) => c.name === name);
      verbose(
        cookie
          ? `* cookie stored: ${name} for ${cookie.domain}${cookie.path}${
            cookie.expires === null
              ? " (session)"
              : ` until ${new Date(cookie.expires).toISOString()}`
          }`
          : `* cookie not stored: ${name} (refused by the cookie rules)`,
      );
    }
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
