/**
 * Proxies: the {@linkcode NetworkProxy} description, the per-request {@linkcode ProxyFactory},
 * and {@linkcode systemProxyFactory}, which reads `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and
 * `NO_PROXY` with documented rules.
 *
 * @module
 */

import {
  _causeChain,
  _classifyError,
  NetworkError,
  type NetworkErrorCode,
  NetworkReplyError,
} from "./network_error.ts";
import { parseIp } from "./_ip.ts";
import { describe } from "./_validation.ts";

/**
 * The kinds of {@linkcode NetworkProxy}.
 *
 * @example A SOCKS5 proxy that resolves host names
 * ```ts
 * import { NetworkAccessManager, type NetworkProxyType } from "@netaccess/core";
 *
 * const type: NetworkProxyType = "socks5h";
 * await using manager = new NetworkAccessManager({ proxy: { type, url: "localhost:1080" } });
 * console.log(manager.proxy); // { type: "socks5h", url: "socks5h://localhost:1080" }
 * ```
 */
export type NetworkProxyType = "http" | "https" | "socks5" | "socks5h" | "none" | "system";

/**
 * A proxy to send requests through, or the absence of one.
 *
 * - `"http"`: an HTTP proxy (`http://host:port`); plain `http:` requests are forwarded in
 *   absolute form, `https:` requests are tunnelled with `CONNECT`.
 * - `"https"`: the same, spoken over TLS to the proxy (`https://host:port`).
 * - `"socks5"`, `"socks5h"`: a SOCKS5 proxy (`socks5://host:port`, `socks5h://host:port`).
 *   Deno hands the target's host name to the proxy in both cases, so the proxy resolves it
 *   (as Qt's `Socks5Proxy` does); the two types behave the same.
 * - `"none"`: a direct connection, ignoring the proxy environment variables.
 * - `"system"`: whatever {@linkcode systemProxyFactory} finds in the environment, per request.
 *
 * Credentials are sent with Basic authentication to HTTP proxies (on every forwarded request
 * and on `CONNECT`) and with the username/password method to SOCKS5 proxies. They may also be
 * given as the URL's user info (`http://user:pass@host:3128`); `username` and `password` win.
 * They never appear in a reply's `errorString`, in events or in messages.
 *
 * @example A proxy with credentials
 * ```ts
 * import { NetworkAccessManager, type NetworkProxy } from "@netaccess/core";
 *
 * const proxy: NetworkProxy = {
 *   type: "http",
 *   url: "http://proxy.example.com:3128",
 *   username: "alice",
 *   password: "secret",
 * };
 * await using manager = new NetworkAccessManager({ proxy });
 * ```
 */
export interface NetworkProxy {
  /** The kind of proxy. */
  type: NetworkProxyType;
  /**
   * The proxy's address: a URL whose scheme matches `type` (`http:`, `https:`, `socks5:`,
   * `socks5h:`), or `host:port`. Without a port: 80 for `http`, 443 for `https`, 1080 for
   * SOCKS5. Required for the proxy types, ignored for `"none"` and `"system"`.
   */
  url?: string;
  /** The user name to authenticate with. */
  username?: string;
  /**
   * The password to authenticate with.
   *
   * @default {""} when a `username` is given
   */
  password?: string;
}

/**
 * What a {@linkcode ProxyFactory} is asked about: the request's URL and its parts.
 *
 * @example The query a manager makes for a request
 * ```ts
 * import { NetworkAccessManager, type ProxyQuery } from "@netaccess/core";
 *
 * const queries: ProxyQuery[] = [];
 * await using manager = new NetworkAccessManager({
 *   proxyFactory: (query) => {
 *     queries.push(query);
 *     return []; // connect directly
 *   },
 *   transport: async () => new Response("ok"),
 * });
 * await manager.get("https://API.example.com/v1/items").finished;
 * for (const { scheme, host, port } of queries) console.log(scheme, host, port);
 * // "https" "api.example.com" 443
 * ```
 */
export interface ProxyQuery {
  /** The URL of the request. */
  url: URL;
  /** The URL scheme without the colon, such as `"https"`. */
  scheme: string;
  /** The host name or IP address, lower case, without the brackets of an IPv6 literal. */
  host: string;
  /** The port, the scheme's default when the URL has none, or -1 for an unknown scheme. */
  port: number;
}

/**
 * Chooses the proxies of one request: an ordered list, of which the first usable entry is
 * used. An empty list means a direct connection. The factory is consulted for every request
 * (and every redirect hop), so it may look at the scheme, host and port.
 *
 * @param query The request's URL and its parts.
 * @returns The proxies to use, best first; `[]` for a direct connection.
 *
 * @example Internal hosts direct, the rest through a proxy
 * ```ts
 * import { NetworkAccessManager, type ProxyFactory } from "@netaccess/core";
 *
 * const proxyFactory: ProxyFactory = ({ host }) =>
 *   host.endsWith(".corp.example") ? [] : [{ type: "http", url: "http://proxy.corp.example:3128" }];
 * await using manager = new NetworkAccessManager({ proxyFactory });
 * ```
 */
export type ProxyFactory = (query: ProxyQuery) => NetworkProxy[];

const PROXY_TYPES: readonly NetworkProxyType[] = [
  "http",
  "https",
  "socks5",
  "socks5h",
  "none",
  "system",
];
const DEFAULT_PORTS: Record<string, number> = {
  "http:": 80,
  "https:": 443,
  "socks5:": 1080,
  "socks5h:": 1080,
};
const QUERY_PORTS: Record<string, number> = {
  http: 80,
  https: 443,
  ws: 80,
  wss: 443,
  ftp: 21,
};

/** A URL for messages: user info replaced by `***`. */
function safeUrlText(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/)?\S*@/i, (_m, scheme = "") => `${scheme}***@`);
}

function decodeUserInfo(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Checks a {@linkcode NetworkProxy} and returns it normalized: `url` as `scheme://host:port`
 * without user info, credentials in `username` and `password`.
 *
 * @param proxy The value to check.
 * @param where The start of the message, e.g. `"Cannot create manager"`.
 * @returns The normalized proxy.
 * @throws {TypeError} When a field has the wrong type or the URL does not fit the type.
 * @throws {RangeError} When the port is out of range.
 */
export function _validateProxy(proxy: unknown, where: string): NetworkProxy {
  if (typeof proxy !== "object" || proxy === null || Array.isArray(proxy)) {
    throw new TypeError(`${where}: 'proxy' must be an object, got ${describe(proxy)}`);
  }
  const { type, url, username, password } = proxy as Record<string, unknown>;
  if (typeof type !== "string" || !PROXY_TYPES.includes(type as NetworkProxyType)) {
    throw new TypeError(
      `${where}: 'proxy.type' must be one of ${PROXY_TYPES.map((t) => `"${t}"`).join(", ")}, got ${
        describe(type)
      }`,
    );
  }
  if (type === "none" || type === "system") return { type };
  if (typeof url !== "string" || url.trim() === "") {
    throw new TypeError(
      `${where}: 'proxy.url' must be a non-empty string for a "${type}" proxy, got ${
        typeof url === "string" ? '""' : describe(url)
      }`,
    );
  }
  if (username !== undefined && typeof username !== "string") {
    throw new TypeError(`${where}: 'proxy.username' must be a string, got ${describe(username)}`);
  }
  if (password !== undefined && typeof password !== "string") {
    throw new TypeError(`${where}: 'proxy.password' must be a string, got a ${typeof password}`);
  }
  const scheme = `${type}:`;
  const text = url.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `${type}://${text}`;
  let parsed: URL;
  try {
    parsed = new URL(withScheme);
  } catch {
    throw new TypeError(
      `${where}: 'proxy.url' must be a URL or host:port, got "${safeUrlText(text)}"`,
    );
  }
  if (parsed.protocol !== scheme) {
    throw new TypeError(
      `${where}: 'proxy.url' must use the scheme "${scheme}" of a "${type}" proxy, got "${parsed.protocol}"`,
    );
  }
  if (parsed.hostname === "") {
    throw new TypeError(`${where}: 'proxy.url' has no host, got "${safeUrlText(text)}"`);
  }
  if ((parsed.pathname !== "" && parsed.pathname !== "/") || parsed.search || parsed.hash) {
    throw new TypeError(
      `${where}: 'proxy.url' must not have a path, query or fragment, got "${safeUrlText(text)}"`,
    );
  }
  // Non-special schemes (socks5:) keep the port as written; check the range ourselves.
  const port = parsed.port === "" ? DEFAULT_PORTS[scheme]! : Number(parsed.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(
      `${where}: 'proxy.url' port must be an integer from 1 to 65535, got ${parsed.port}`,
    );
  }
  const user = username ?? (parsed.username ? decodeUserInfo(parsed.username) : undefined);
  const pass = password ??
    (parsed.username || parsed.password ? decodeUserInfo(parsed.password) : undefined);
  if (user === undefined && pass !== undefined) {
    throw new TypeError(`${where}: 'proxy.password' is given without 'proxy.username'`);
  }
  const normalized: NetworkProxy = {
    type: type as NetworkProxyType,
    url: `${parsed.protocol}//${parsed.hostname.toLowerCase()}:${port}`,
  };
  if (user !== undefined) {
    normalized.username = user;
    normalized.password = pass ?? "";
  }
  return normalized;
}

/**
 * The proxy's address for messages and logs, without credentials, e.g.
 * `http://127.0.0.1:3128`; `"no proxy"` for a direct connection.
 */
export function _proxyLabel(proxy: NetworkProxy): string {
  if (proxy.type === "none") return "no proxy";
  if (proxy.type === "system") return "the system proxy";
  if (proxy.url === undefined) return `a ${proxy.type} proxy`;
  return safeUrlText(proxy.url).replace(/\/$/, "");
}

/** The parts of a URL a {@linkcode ProxyFactory} is asked about. */
export function _proxyQuery(url: URL): ProxyQuery {
  const scheme = url.protocol.replace(/:$/, "");
  const host = url.hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  const port = url.port === "" ? (QUERY_PORTS[scheme] ?? -1) : Number(url.port);
  return { url, scheme, host, port };
}

// ---------------------------------------------------------------------------------------------
// The environment

/** The variables {@linkcode systemProxyFactory} reads. */
const ENV_NAMES = [
  "http_proxy",
  "HTTP_PROXY",
  "https_proxy",
  "HTTPS_PROXY",
  "all_proxy",
  "ALL_PROXY",
  "no_proxy",
  "NO_PROXY",
  "REQUEST_METHOD",
] as const;

const envStatuses = new Map<string, Deno.PermissionStatus>();
let envWatched = false;
let envEpoch = 0;

/**
 * Whether the `env` permission is granted for `name`, without a prompt. Each variable's status
 * is queried once and kept, as a query per request costs more than the proxy lookup itself;
 * the cache is emptied when the `env` permission, or the variable's, changes (a revoke, a
 * grant).
 */
export function _envGranted(name: string): boolean {
  if (!envWatched) {
    envWatched = true;
    Deno.permissions.querySync({ name: "env" }).addEventListener("change", () => {
      envStatuses.clear();
      envEpoch++;
    });
  }
  let status = envStatuses.get(name);
  if (status === undefined) {
    status = Deno.permissions.querySync({ name: "env", variable: name });
    status.addEventListener("change", () => {
      envStatuses.delete(name);
      envEpoch++;
    });
    envStatuses.set(name, status);
  }
  return status.state === "granted";
}

/**
 * A number that changes whenever the `env` permission (or a proxy variable's) changes: a
 * snapshot of {@linkcode _processProxyEnv} taken under another number is out of date.
 */
export function _envEpoch(): number {
  _envGranted(ENV_NAMES[0]);
  return envEpoch;
}

/** The proxy variables of the process environment that may be read, now. */
export function _processProxyEnv(): Record<string, string | undefined> {
  return readProcessEnv();
}

function readProcessEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const name of ENV_NAMES) {
    if (!_envGranted(name)) continue;
    try {
      env[name] = Deno.env.get(name);
    } catch {
      envStatuses.delete(name); // the permission went away in a way no event told
    }
  }
  return env;
}

/** Lower case first, then upper case; an empty value counts as unset. */
function lookup(env: Record<string, string | undefined>, lower: string): string | undefined {
  const small = env[lower]?.trim();
  if (small) return small;
  const upper = lower.toUpperCase();
  if (upper === "HTTP_PROXY" && env.REQUEST_METHOD !== undefined) return undefined;
  const big = env[upper]?.trim();
  return big ? big : undefined;
}

function proxyFromEnv(value: string): NetworkProxy | undefined {
  const match = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value);
  const scheme = match ? match[1]!.toLowerCase() : "http";
  if (scheme !== "http" && scheme !== "https" && scheme !== "socks5" && scheme !== "socks5h") {
    return undefined;
  }
  try {
    return _validateProxy({ type: scheme, url: value }, "proxy");
  } catch {
    return undefined;
  }
}

function prefixMatches(address: number[], network: number[], bits: number): boolean {
  if (address.length !== network.length) return false;
  for (let i = 0; i < address.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((address[i]! & mask) !== (network[i]! & mask)) return false;
  }
  return true;
}

type NoProxyRule =
  | { kind: "all" }
  | { kind: "domain"; domain: string; port?: number }
  | { kind: "ip"; bytes: number[]; bits: number; port?: number };

function parseNoProxy(value: string): NoProxyRule[] {
  const rules: NoProxyRule[] = [];
  for (const raw of value.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (entry === "") continue;
    if (entry === "*") {
      rules.push({ kind: "all" });
      continue;
    }
    let host = entry;
    let port: number | undefined;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    if (bracketed) {
      host = bracketed[1]!;
      port = bracketed[2] === undefined ? undefined : Number(bracketed[2]);
    } else if ((entry.match(/:/g) ?? []).length === 1) {
      const at = entry.lastIndexOf(":");
      if (!/^\d+$/.test(entry.slice(at + 1))) continue;
      host = entry.slice(0, at);
      port = Number(entry.slice(at + 1));
    }
    const slash = host.indexOf("/");
    if (slash >= 0) {
      const bytes = parseIp(host.slice(0, slash));
      const bits = Number(host.slice(slash + 1));
      if (!bytes || !/^\d+$/.test(host.slice(slash + 1)) || bits > bytes.length * 8) continue;
      rules.push({ kind: "ip", bytes, bits, port });
      continue;
    }
    const bytes = parseIp(host);
    if (bytes) {
      rules.push({ kind: "ip", bytes, bits: bytes.length * 8, port });
      continue;
    }
    const domain = host.replace(/^\*?\./, "").replace(/\.$/, "");
    if (domain !== "") rules.push({ kind: "domain", domain, port });
  }
  return rules;
}

function bypasses(rules: NoProxyRule[], host: string, port: number): boolean {
  const name = host.toLowerCase().replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "");
  const address = parseIp(name);
  for (const rule of rules) {
    if (rule.kind === "all") return true;
    if (rule.port !== undefined && rule.port !== port) continue;
    if (rule.kind === "ip") {
      if (address && prefixMatches(address, rule.bytes, rule.bits)) return true;
    } else if (!address && (name === rule.domain || name.endsWith(`.${rule.domain}`))) {
      return true;
    }
  }
  return false;
}

/**
 * A {@linkcode ProxyFactory} that follows the proxy environment variables, computed by this
 * library (not left to Deno) with these rules:
 *
 * - `https:` and `wss:` requests use `https_proxy`, other `http:` and `ws:` requests use
 *   `http_proxy`; either falls back to `all_proxy`, which also serves every other scheme.
 * - Each name is read in lower case first, then in upper case (curl's order); an empty value
 *   counts as unset. `HTTP_PROXY` in upper case is ignored when `REQUEST_METHOD` is set (a CGI
 *   program, where a request's `Proxy:` header would become `HTTP_PROXY`).
 * - A value is a URL with the scheme `http`, `https`, `socks5` or `socks5h` (none means
 *   `http`), with optional `user:password@`. Other schemes and unparsable values are ignored.
 * - `no_proxy` / `NO_PROXY` is a list separated by commas or spaces, case-insensitive. `*`
 *   alone bypasses the proxy for every host. A name matches itself and its subdomains
 *   (`example.com` matches `example.com` and `a.example.com`, not `badexample.com`); a
 *   leading `.` or `*.` changes nothing. IP literals (`127.0.0.1`, `::1`, `[::1]`) match that
 *   address and CIDR ranges (`10.0.0.0/8`, `fe80::/10`) match any address inside; an IP entry
 *   never matches a host name, and names are not resolved. `host:port` or `[v6]:port`
 *   matches that port only. Nothing is bypassed implicitly, not even `localhost`.
 *
 * @param env The variables to read; when absent, the process environment is read on every
 * query. Reading it needs the `env` permission for those names
 * (`--allow-env=http_proxy,HTTP_PROXY,https_proxy,HTTPS_PROXY,all_proxy,ALL_PROXY,no_proxy,NO_PROXY,REQUEST_METHOD`
 * or `--allow-env`); a variable without permission reads as unset, without a prompt.
 * @returns A factory answering `[proxy]`, or `[]` for a direct connection.
 *
 * @example Which proxy a URL would use
 * ```ts
 * import { systemProxyFactory } from "@netaccess/core";
 *
 * const factory = systemProxyFactory({
 *   HTTPS_PROXY: "http://proxy.example.com:3128",
 *   NO_PROXY: "localhost,.internal.example,10.0.0.0/8",
 * });
 * const url = new URL("https://api.example.com/");
 * console.log(factory({ url, scheme: "https", host: url.hostname, port: 443 }));
 * // [{ type: "http", url: "http://proxy.example.com:3128" }]
 * ```
 */
export function systemProxyFactory(env?: Record<string, string | undefined>): ProxyFactory {
  const fixed = env === undefined ? undefined : { ...env };
  return (query: ProxyQuery): NetworkProxy[] => {
    const vars = fixed ?? readProcessEnv();
    const scheme = query.scheme.toLowerCase();
    const specific = scheme === "https" || scheme === "wss"
      ? lookup(vars, "https_proxy")
      : scheme === "http" || scheme === "ws"
      ? lookup(vars, "http_proxy")
      : undefined;
    const value = specific ?? lookup(vars, "all_proxy");
    if (value === undefined) return [];
    const noProxy = lookup(vars, "no_proxy");
    if (noProxy !== undefined && bypasses(parseNoProxy(noProxy), query.host, query.port)) {
      return [];
    }
    const proxy = proxyFromEnv(value);
    return proxy ? [proxy] : [];
  };
}

/** Options of {@linkcode _resolveProxy}. */
export interface _ResolveProxyOptions {
  /** An explicit proxy; wins over `proxyFactory`. */
  proxy?: NetworkProxy;
  /** Consulted when there is no explicit proxy; the system factory when absent too. */
  proxyFactory?: ProxyFactory;
  /** The environment the `"system"` proxy reads; the process environment when absent. */
  env?: Record<string, string | undefined>;
}

/**
 * The proxy one request goes through: the explicit `proxy` when there is one (Qt's rule),
 * else the first usable entry of `proxyFactory(query)`, else the system proxy. `"system"`
 * expands to {@linkcode systemProxyFactory}; an empty list means `{ type: "none" }`.
 * Unusable entries of a factory's list are skipped; when none is usable, the first one's
 * validation error is thrown.
 *
 * @returns A normalized proxy, never of type `"system"`.
 * @throws {TypeError} When the explicit proxy, or every listed proxy, is invalid, or the
 * factory does not return an array.
 */
export function _resolveProxy(query: ProxyQuery, options: _ResolveProxyOptions = {}): NetworkProxy {
  const system = (): NetworkProxy => systemProxyFactory(options.env)(query)[0] ?? { type: "none" };
  if (options.proxy !== undefined) {
    const proxy = _validateProxy(options.proxy, "Cannot use proxy");
    return proxy.type === "system" ? system() : proxy;
  }
  if (options.proxyFactory === undefined) return system();
  const list: unknown = options.proxyFactory(query);
  if (!Array.isArray(list)) {
    throw new TypeError(
      `Cannot use proxy: 'proxyFactory' must return an array, got ${describe(list)}`,
    );
  }
  let firstError: unknown;
  for (const entry of list) {
    try {
      const proxy = _validateProxy(entry, "Cannot use proxy");
      return proxy.type === "system" ? system() : proxy;
    } catch (error) {
      firstError ??= error;
    }
  }
  if (firstError !== undefined) throw firstError;
  return { type: "none" };
}

// ---------------------------------------------------------------------------------------------
// Redaction

function base64(text: string): string {
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
export function _redactProxy(
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

// ---------------------------------------------------------------------------------------------
// Errors

/** What a probe of a proxy's address found. */
export type _ProbeResult = "refused" | "not-found" | "timeout" | "alive" | "unknown";

/** Options of {@linkcode _probeProxy} and {@linkcode _classifyProxyError}. */
export interface _ProbeOptions {
  /**
   * How long the probe waits for the proxy to accept and answer, in milliseconds.
   *
   * @default {1000}
   */
  probeTimeout?: number;
  /** Extra CA certificates (PEM) to trust when probing an `https` proxy. */
  caCerts?: string[];
}

const DNS_FAILURE =
  /dns error|failed to lookup address|name or service not known|no such host|nodename nor servname|temporary failure in name resolution|no address associated/;

type Reached<T> = { value: T } | { failure: Exclude<_ProbeResult, "alive"> };

/**
 * Opens a connection to the proxy (TLS for an `https` proxy) and runs `talk` on it, all
 * within the probe's time limit; the connection is closed afterwards whatever happens.
 */
async function reachProxy<T>(
  proxy: NetworkProxy,
  options: _ProbeOptions,
  talk: (conn: Deno.Conn) => Promise<T>,
): Promise<Reached<T>> {
  if (proxy.url === undefined || proxy.type === "none" || proxy.type === "system") {
    return { failure: "unknown" };
  }
  const url = new URL(proxy.url);
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(url.port || DEFAULT_PORTS[url.protocol]);
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.probeTimeout ?? 1000);
  let conn: Deno.Conn | undefined;
  try {
    const tcp = await Deno.connect({ hostname, port, signal: controller.signal });
    conn = tcp;
    let open: Deno.Conn = tcp;
    if (proxy.type === "https") {
      open = conn = await Deno.startTls(tcp, { hostname, caCerts: options.caCerts });
    }
    const talking = talk(open).then(
      (value) => ({ value }),
      () => ({ failure: "unknown" as const }),
    );
    return await raceAbort(talking, controller.signal, () => open.close()) ??
      { failure: "timeout" };
  } catch (error) {
    if (timedOut) return { failure: "timeout" };
    if (error instanceof Deno.errors.ConnectionRefused) return { failure: "refused" };
    if (error instanceof Deno.errors.TimedOut) return { failure: "timeout" };
    const text = error instanceof Error ? error.message.toLowerCase() : String(error);
    if (DNS_FAILURE.test(text)) return { failure: "not-found" };
    if (/refused/.test(text)) return { failure: "refused" };
    return { failure: "unknown" };
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch {
      // Closed by the race.
    }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

/**
 * Checks a proxy's address: can a TCP (or TLS) connection be opened, and does the proxy say
 * anything back within the time limit? SOCKS5 proxies get a greeting, HTTP proxies an
 * `OPTIONS *` request; for an `https` proxy any answer to the TLS handshake counts.
 *
 * @returns `"refused"`, `"not-found"`, `"timeout"` (no connection, or no answer), `"alive"`,
 * or `"unknown"` (another failure, or no permission to connect).
 */
export async function _probeProxy(
  proxy: NetworkProxy,
  options: _ProbeOptions = {},
): Promise<_ProbeResult> {
  const reached = await reachProxy(proxy, options, async (conn) => {
    if (proxy.type === "https") {
      // A certificate the probe does not trust is still an answer.
      await (conn as Deno.TlsConn).handshake().catch(() => {});
      return "alive" as const;
    }
    const greeting = proxy.type === "http"
      ? new TextEncoder().encode(`OPTIONS * HTTP/1.1\r\nHost: ${new URL(proxy.url!).host}\r\n\r\n`)
      : new Uint8Array([5, 1, 0]);
    await writeAll(conn, greeting);
    const n = await conn.read(new Uint8Array(64));
    return n === null ? "unknown" as const : "alive" as const;
  });
  return "value" in reached ? reached.value : reached.failure;
}

/**
 * Asks an HTTP proxy to open a tunnel to `authority` (`host:port`), with the proxy's
 * credentials, and returns the status it answers with (then closes the connection), or
 * undefined when there is no answer. Used to learn why Deno's tunnel failed.
 */
export async function _probeConnect(
  proxy: NetworkProxy,
  authority: string,
  options: _ProbeOptions = {},
): Promise<number | undefined> {
  if (proxy.type !== "http" && proxy.type !== "https") return undefined;
  const reached = await reachProxy(proxy, options, async (conn) => {
    const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
    if (proxy.username !== undefined) {
      lines.push(
        `Proxy-Authorization: Basic ${base64(`${proxy.username}:${proxy.password ?? ""}`)}`,
      );
    }
    await writeAll(conn, new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n"));
    let head = "";
    const buffer = new Uint8Array(1024);
    while (!head.includes("\r\n") && head.length < 4096) {
      const n = await conn.read(buffer);
      if (n === null) break;
      head += new TextDecoder("latin1").decode(buffer.subarray(0, n));
    }
    const match = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(head);
    return match ? Number(match[1]) : undefined;
  });
  return "value" in reached ? reached.value : undefined;
}

/** Resolves with the promise's value, or undefined when the signal aborts first. */
async function raceAbort<T>(
  promise: Promise<T>,
  signal: AbortSignal,
  onAbort: () => void,
): Promise<T | undefined> {
  if (signal.aborted) {
    onAbort();
    await promise.catch(() => {});
    return undefined;
  }
  let listener: (() => void) | undefined;
  const aborted = new Promise<undefined>((resolve) => {
    listener = () => resolve(undefined);
    signal.addEventListener("abort", listener, { once: true });
  });
  try {
    const winner = await Promise.race([promise, aborted]);
    if (signal.aborted && winner === undefined) {
      try {
        onAbort();
      } catch {
        // Already closed.
      }
      await promise.catch(() => {});
    }
    return winner;
  } finally {
    signal.removeEventListener("abort", listener!);
  }
}

function isTimeout(error: unknown, lower: string): boolean {
  if (error instanceof DOMException && error.name === "TimeoutError") return true;
  if (error instanceof Deno.errors.TimedOut) return true;
  return /timed out|timeout/.test(lower);
}

/**
 * Classifies an error thrown by `fetch` through a proxy (before any response arrived):
 * proxy failures become `ProxyConnectionRefusedError` (101), `ProxyConnectionClosedError`
 * (102), `ProxyNotFoundError` (103), `ProxyTimeoutError` (104),
 * `ProxyAuthenticationRequiredError` (105) or `UnknownProxyError` (199); failures of the
 * target reported through the proxy keep their target codes. Deno reports a dead proxy with
 * the same words as a dead target, so where the words do not settle it the proxy's address
 * is probed (see {@linkcode _probeProxy}). Messages name the proxy without credentials.
 *
 * @param error What `fetch` threw.
 * @param proxy The proxy the request went through (normalized, or `{ type: "none" }`).
 * @param url The request's URL.
 * @param options The probe's time limit and CA certificates.
 * @returns The error with its code; never throws.
 */
export async function _classifyProxyError(
  error: unknown,
  proxy: NetworkProxy,
  url: URL | string,
  options: _ProbeOptions = {},
): Promise<NetworkReplyError> {
  if (error instanceof NetworkReplyError) return error;
  const redacted = (e: NetworkReplyError): NetworkReplyError =>
    new NetworkReplyError(e.code, _redactProxy(e.message, proxy), { cause: e.cause });
  if (proxy.type === "none" || proxy.type === "system" || proxy.url === undefined) {
    return redacted(_classifyError(error, url, "connect"));
  }
  const target = typeof url === "string" ? new URL(url) : url;
  const label = _proxyLabel(proxy);
  const text = _redactProxy(_causeChain(error), proxy);
  const lower = text.toLowerCase();
  const socks = proxy.type === "socks5" || proxy.type === "socks5h";
  const make = (code: NetworkErrorCode, message: string) =>
    new NetworkReplyError(code, _redactProxy(message, proxy), { cause: error });
  const fromProbe = async (): Promise<NetworkReplyError | undefined> => {
    const found = await _probeProxy(proxy, options);
    if (found === "refused") {
      return make(
        NetworkError.ProxyConnectionRefusedError,
        `Proxy ${label} refused the connection: is it running and listening there? (${text})`,
      );
    }
    if (found === "not-found") {
      return make(NetworkError.ProxyNotFoundError, `Proxy host of ${label} not found (${text})`);
    }
    if (found === "timeout") {
      return make(
        NetworkError.ProxyTimeoutError,
        `Proxy ${label} did not answer in time (${text})`,
      );
    }
    return undefined;
  };

  if (error instanceof DOMException && error.name === "AbortError") {
    return redacted(_classifyError(error, target, "connect"));
  }
  if (
    /proxy authentication required|no acceptable auth methods|password auth failure/.test(lower)
  ) {
    return make(
      NetworkError.ProxyAuthenticationRequiredError,
      `Proxy ${label} requires authentication, and the credentials were missing or refused (${text})`,
    );
  }
  if (/unsuccessful tunnel/.test(lower)) {
    // Deno does not say what the proxy answered to CONNECT: ask again. An answer to CONNECT
    // comes from the proxy itself, so 401 (which tinyproxy sends for wrong credentials) is as
    // much a demand for proxy credentials as 407.
    const status = await _probeConnect(
      proxy,
      `${target.hostname}:${_proxyQuery(target).port}`,
      options,
    );
    if (status === 401 || status === 407) {
      return make(
        NetworkError.ProxyAuthenticationRequiredError,
        `Proxy ${label} refused the credentials (HTTP ${status} to CONNECT) (${text})`,
      );
    }
    return make(
      NetworkError.UnknownProxyError,
      `Proxy ${label} could not open a tunnel to ${target.host}${
        status === undefined ? "" : ` (HTTP ${status} to CONNECT)`
      } (${text})`,
    );
  }
  if (DNS_FAILURE.test(lower)) {
    // With a proxy Deno resolves only the proxy's host: the target's is sent to the proxy.
    return make(NetworkError.ProxyNotFoundError, `Proxy host of ${label} not found (${text})`);
  }
  if (socks && /host unreachable|network unreachable/.test(lower)) {
    return make(
      NetworkError.HostNotFoundError,
      `Host ${target.host} not found or unreachable, says proxy ${label} (${text})`,
    );
  }
  if (/proxy server unreachable/.test(lower)) {
    return await fromProbe() ??
      make(
        NetworkError.ProxyConnectionRefusedError,
        `Proxy ${label} refused the connection: is it running and listening there? (${text})`,
      );
  }
  if (/connection refused|os error 111|econnrefused/.test(lower)) {
    if (!socks && /tcp connect error/.test(lower)) {
      return make(
        NetworkError.ProxyConnectionRefusedError,
        `Proxy ${label} refused the connection: is it running and listening there? (${text})`,
      );
    }
    return await fromProbe() ??
      make(
        NetworkError.ConnectionRefusedError,
        `Connection refused by ${target.host}, says proxy ${label} (${text})`,
      );
  }
  if (isTimeout(error, lower)) {
    return await fromProbe() ?? redacted(_classifyError(error, target, "connect"));
  }
  const handshakeEof = /unexpected eof while tunneling/.test(lower) ||
    (socks && /\(connect\)/.test(lower) && /unexpected end of file/.test(lower));
  const forwardedClose = !socks && target.protocol === "http:" &&
    /connection closed before message completed|connection reset|broken pipe|incomplete message/
      .test(lower);
  if (handshakeEof || forwardedClose) {
    return make(
      NetworkError.ProxyConnectionClosedError,
      `Proxy ${label} closed the connection before the reply began (${text})`,
    );
  }
  return redacted(_classifyError(error, target, "connect"));
}
