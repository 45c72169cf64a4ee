/**
 * {@linkcode systemProxyFactory}: the proxy settings of the environment (HTTP_PROXY,
 * HTTPS_PROXY, ALL_PROXY, NO_PROXY), read under Deno's `env` permission.
 *
 * @module
 */

import { parseIp } from "../_ip.ts";
import { describe } from "../_validation.ts";
import { markSystemProxyFactory } from "./_system_factories.ts";
import {
  type NetworkProxy,
  type ProxyFactory,
  type ProxyQuery,
  safeUrlText,
  validateProxy,
} from "./network_proxy.ts";

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
let epoch = 0;

/**
 * Whether the `env` permission is granted for `name`, without a prompt. Each variable's status
 * is queried once and kept, as a query per request costs more than the proxy lookup itself;
 * the cache is emptied when the `env` permission, or the variable's, changes (a revoke, a
 * grant).
 */
export function envGranted(name: string): boolean {
  if (!envWatched) {
    envWatched = true;
    Deno.permissions.querySync({ name: "env" }).addEventListener("change", () => {
      envStatuses.clear();
      epoch++;
    });
  }
  let status = envStatuses.get(name);
  if (status === undefined) {
    status = Deno.permissions.querySync({ name: "env", variable: name });
    status.addEventListener("change", () => {
      envStatuses.delete(name);
      epoch++;
    });
    envStatuses.set(name, status);
  }
  return status.state === "granted";
}

/**
 * A number that changes whenever the `env` permission (or a proxy variable's) changes: a
 * snapshot of {@linkcode proxyEnvSnapshot} taken under another number is out of date.
 */
export function envEpoch(): number {
  // Once the `env` permission is watched, a change to it moves the number: nothing to query.
  if (!envWatched) envGranted(ENV_NAMES[0]);
  return epoch;
}

/** The proxy variables as read under one {@linkcode envEpoch}. */
export interface ProxyEnvSnapshot {
  /** The epoch of the read: out of date once {@linkcode envEpoch} moves on. */
  readonly epoch: number;
  /** The variables that could be read. */
  readonly vars: Record<string, string | undefined>;
  /** Whether a variable names a proxy that Deno's own clients would use. */
  readonly hasProxy: boolean;
}

/**
 * The proxy variables: `previous` while it is up to date, else read again. A manager keeps
 * the snapshot of its first request and passes it back each time, so each manager reads the
 * environment once (a manager made after `Deno.env.set()` sees the new value), and again when
 * the `env` permission changes (or after {@linkcode forgetProxyEnv}).
 *
 * @param previous The snapshot the caller took last, if any.
 * @returns `previous`, or a new snapshot when it is out of date or absent.
 */
export function proxyEnvSnapshot(previous?: ProxyEnvSnapshot): ProxyEnvSnapshot {
  const epoch = envEpoch();
  if (previous?.epoch === epoch) return previous;
  const vars = readProcessEnv();
  const hasProxy = namesProxy(vars);
  if (hasProxy) sawProxy();
  return { epoch, vars, hasProxy };
}

/** The variables that name a proxy Deno's own clients would use. */
export const PROXY_VARIABLES = [
  "ALL_PROXY",
  "all_proxy",
  "HTTPS_PROXY",
  "https_proxy",
  "HTTP_PROXY",
  "http_proxy",
] as const;

/**
 * Whether `fetch`'s default client may send through a proxy: Deno makes it at the process's first
 * `fetch` (anyone's), reading the proxy variables then, and keeps it. Set when a proxy variable is
 * seen (when this module is loaded, and at each read of the environment since) before the library
 * first sent with that client; from then on a direct connection needs a client of its own.
 */
let defaultMayProxy = false;
/**
 * Whether the library sent with `fetch`'s default client while no proxy variable had been seen:
 * the client was made by then, without a proxy, and a variable set later does not change it.
 */
let defaultMade = false;

/** A proxy variable was seen in the process environment. */
function sawProxy(): void {
  if (!defaultMade) defaultMayProxy = true;
}

/**
 * Whether a direct connection may go through `fetch`'s default client: the environment names no
 * proxy now, and the client is known to use none (no proxy variable seen since this module was
 * loaded, or none until the library first sent with it). `true` counts the caller as sending
 * with it now.
 *
 * @param hasProxy Whether the environment names a proxy now, as the caller read it.
 */
export function defaultClientDirect(hasProxy: boolean): boolean {
  if (hasProxy) {
    sawProxy();
    return false;
  }
  if (defaultMayProxy) return false;
  defaultMade = true;
  return true;
}

// The variables as they are when the library is loaded, before the application's code runs
// (unless it loads the library later): read only where the `env` permission is granted.
try {
  if (PROXY_VARIABLES.some((name) => envGranted(name) && !!Deno.env.get(name))) sawProxy();
} catch {
  // No permission API here: the variables act unseen, as without permission.
}

/**
 * The variables Deno's HTTP client would send a request of `protocol` through (its scheme's
 * and `ALL_PROXY`, upper and lower case) that this process may not read: they act unseen. Asked
 * of the `env` permission, never prompted for.
 */
export function unreadProxyVariables(protocol: string): string[] {
  const names = protocol === "https:" ? ["HTTPS_PROXY", "ALL_PROXY"] : ["HTTP_PROXY", "ALL_PROXY"];
  return names.flatMap((name) => [name, name.toLowerCase()]).filter((name) => !envGranted(name));
}

/** Whether `env` names a proxy that Deno's own clients would use. */
export function namesProxy(env: Record<string, string | undefined>): boolean {
  return PROXY_VARIABLES.some((name) => !!env[name]);
}

/**
 * Makes every snapshot out of date, as a change of the `env` permission does: the next
 * {@linkcode proxyEnvSnapshot} reads the variables again.
 */
export function forgetProxyEnv(): void {
  epoch++;
}

/**
 * Variables read from the process without permission for `REQUEST_METHOD`: whether this is a
 * CGI program is unknown, and upper-case `HTTP_PROXY` is not to be trusted.
 */
const cgiUnknown = new WeakSet<Record<string, string | undefined>>();

function readProcessEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  if (!envGranted("REQUEST_METHOD")) cgiUnknown.add(env);
  for (const name of ENV_NAMES) {
    if (!envGranted(name)) continue;
    try {
      env[name] = Deno.env.get(name);
    } catch {
      envStatuses.delete(name); // the permission went away in a way no event told
    }
  }
  return env;
}

/** Checks the `env` given: an object whose variables read are strings or `undefined`. */
function checkEnv(env: unknown): asserts env is Record<string, string | undefined> {
  const what = "Cannot read the proxy environment";
  if (typeof env !== "object" || env === null || Array.isArray(env)) {
    throw new TypeError(
      `${what}: 'env' must be an object of environment variables, got ${describe(env)}`,
    );
  }
  for (const name of ENV_NAMES) {
    const value = (env as Record<string, unknown>)[name];
    if (value !== undefined && typeof value !== "string") {
      throw new TypeError(`${what}: 'env.${name}' must be a string, got ${describe(value)}`);
    }
  }
}

/**
 * The variable's name and value, lower case first, then upper case; an empty value counts as
 * unset.
 */
function lookup(
  env: Record<string, string | undefined>,
  lower: string,
): [name: string, value: string] | undefined {
  const small = env[lower]?.trim();
  if (small) return [lower, small];
  const upper = lower.toUpperCase();
  if (upper === "HTTP_PROXY" && env.REQUEST_METHOD !== undefined) return undefined;
  const big = env[upper]?.trim();
  return big ? [upper, big] : undefined;
}

/**
 * The proxy a variable names. A value that names none fails: the requests it was meant for
 * must not go direct unnoticed.
 */
function proxyFromEnv(name: string, value: string): NetworkProxy {
  const match = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value);
  const scheme = match ? match[1]!.toLowerCase() : "http";
  let problem = "the scheme must be http, https, socks5 or socks5h";
  if (scheme === "http" || scheme === "https" || scheme === "socks5" || scheme === "socks5h") {
    try {
      return validateProxy({ type: scheme, url: value }, "proxy");
    } catch (error) {
      // The check's own words, without its prefix and the value it quotes (shown below).
      problem = (error as Error).message.replace(/^proxy: 'proxy\.url' /, "").replace(
        /, got [^]*$/,
        "",
      );
    }
  }
  throw new TypeError(
    `Cannot use proxy: the environment variable ${name} is not a usable proxy URL (${problem}), ` +
      `got ${describe(safeUrlText(value))}`,
  );
}

function prefixMatches(address: number[], network: number[], bits: number): boolean {
  if (address.length !== network.length) return false;
  for (let i = 0; i < address.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((address[i]! & mask) !== (network[i]! & mask)) return false;
  }
  return true;
}

/**
 * A host name as a URL has it: a name with characters past ASCII in its ASCII (punycode) form,
 * `bücher.example` as `xn--bcher-kva.example`, so that it matches the host of a request. Other
 * text is kept as it is.
 */
function asciiHost(host: string): string {
  // deno-lint-ignore no-control-regex
  if (/^[\x00-\x7f]*$/.test(host) || /[/?#@\\%\[\]]/.test(host)) return host;
  try {
    return new URL(`http://${host}`).hostname;
  } catch {
    return host;
  }
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
    host = asciiHost(host);
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
  const name = asciiHost(host.toLowerCase().replace(/^\[(.*)\]$/, "$1")).replace(/\.$/, "");
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
 *   program, where a request's `Proxy:` header would become `HTTP_PROXY`); reading the process
 *   environment without permission for `REQUEST_METHOD`, a query that would use it throws
 *   instead, as the factory cannot tell whether it is safe.
 * - A value is a URL with the scheme `http`, `https`, `socks5` or `socks5h` (none means
 *   `http`), with optional `user:password@`. A request whose variable (after `no_proxy`)
 *   holds anything else is not sent direct: the factory throws, naming the variable and its
 *   value with the user info hidden.
 * - `no_proxy` / `NO_PROXY` is a list separated by commas or spaces, case-insensitive. `*`
 *   alone bypasses the proxy for every host. A name matches itself and its subdomains
 *   (`example.com` matches `example.com` and `a.example.com`, not `badexample.com`); a
 *   leading `.` or `*.` changes nothing; a name past ASCII matches its punycode form
 *   (`bücher.example` matches `xn--bcher-kva.example`). IP literals (`127.0.0.1`, `::1`, `[::1]`) match that
 *   address and CIDR ranges (`10.0.0.0/8`, `fe80::/10`) match any address inside; an IP entry
 *   never matches a host name, and names are not resolved. `host:port` or `[v6]:port`
 *   matches that port only. Nothing is bypassed implicitly, not even `localhost`.
 *
 * @param env The variables to read; when absent, the process environment is read at the
 * factory's first query, and again once the `env` permission changes (or after any manager's
 * `clearConnectionCache()`), not on every query. Reading it needs the `env` permission for those names
 * (`--allow-env=http_proxy,HTTP_PROXY,https_proxy,HTTPS_PROXY,all_proxy,ALL_PROXY,no_proxy,NO_PROXY,REQUEST_METHOD`
 * or `--allow-env`); a variable without permission reads as unset, without a prompt. (Deno's
 * own HTTP client still applies it: see the README, "Proxies".)
 * @throws {TypeError} When `env` is given and is not an object, or one of the variables above
 * in it is neither a string nor `undefined`.
 * @returns A factory answering `[proxy]`, or `[]` for a direct connection. It throws a
 * `TypeError` when the variable a query would use is not a usable proxy URL, or is upper-case
 * `HTTP_PROXY` read without permission for `REQUEST_METHOD`.
 *
 * @example Which proxy a URL would use
 * ```ts
 * import assert from "node:assert/strict";
 * import { systemProxyFactory } from "@netaccess/core";
 *
 * const factory = systemProxyFactory({
 *   HTTPS_PROXY: "http://proxy.example.com:3128",
 *   NO_PROXY: "localhost,.internal.example,10.0.0.0/8",
 * });
 * const proxiesOf = (href: string) => {
 *   const url = new URL(href);
 *   return factory({ url, scheme: url.protocol.slice(0, -1), host: url.hostname, port: 443 });
 * };
 * assert.deepEqual(proxiesOf("https://api.example.com/"), [
 *   { type: "http", url: "http://proxy.example.com:3128" },
 * ]);
 * assert.deepEqual(proxiesOf("https://db.internal.example/"), []); // NO_PROXY: direct
 * assert.deepEqual(proxiesOf("http://api.example.com/"), []); // no HTTP_PROXY: direct
 * ```
 */
export function systemProxyFactory(env?: Record<string, string | undefined>): ProxyFactory {
  if (env !== undefined) checkEnv(env);
  const fixed = env === undefined ? undefined : { ...env };
  if (env !== undefined && cgiUnknown.has(env)) cgiUnknown.add(fixed!);
  let read: ProxyEnvSnapshot | undefined;
  const factory = (query: ProxyQuery): NetworkProxy[] => {
    const vars = fixed ?? (read = proxyEnvSnapshot(read)).vars;
    const scheme = query.scheme.toLowerCase();
    const specific = scheme === "https" || scheme === "wss"
      ? lookup(vars, "https_proxy")
      : scheme === "http" || scheme === "ws"
      ? lookup(vars, "http_proxy")
      : undefined;
    const variable = specific ?? lookup(vars, "all_proxy");
    if (variable === undefined) return [];
    const noProxy = lookup(vars, "no_proxy");
    if (noProxy !== undefined && bypasses(parseNoProxy(noProxy[1]), query.host, query.port)) {
      return [];
    }
    if (variable[0] === "HTTP_PROXY" && cgiUnknown.has(vars)) {
      throw new TypeError(
        "Cannot use proxy: the environment variable HTTP_PROXY is set, but REQUEST_METHOD may " +
          "not be read, so it is unknown whether this is a CGI program (where a request's " +
          "'Proxy' header becomes HTTP_PROXY); add REQUEST_METHOD to --allow-env, or name the " +
          "proxy in http_proxy",
      );
    }
    return [proxyFromEnv(...variable)];
  };
  markSystemProxyFactory(factory);
  return factory;
}
