/**
 * Proxies: {@linkcode NetworkProxy}, the {@linkcode ProxyFactory} that chooses them per
 * request and the {@linkcode ProxyQuery} it gets, with their validation.
 *
 * @module
 */

import { describe } from "../_validation.ts";

/**
 * The kinds of {@linkcode NetworkProxy}.
 *
 * @example A SOCKS5 proxy that resolves host names
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, type NetworkProxyType } from "@netaccess/core";
 *
 * const type: NetworkProxyType = "socks5h";
 * await using manager = new NetworkAccessManager({ proxy: { type, url: "localhost:1080" } });
 * assert.deepEqual(manager.proxy, { type: "socks5h", url: "socks5h://localhost:1080" });
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
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, type NetworkProxy } from "@netaccess/core";
 *
 * // A stand-in HTTP proxy on loopback that answers with what it was sent.
 * await using proxyServer = Deno.serve(
 *   { hostname: "127.0.0.1", port: 0, onListen() {} },
 *   (request) => new Response(`${request.headers.get("proxy-authorization")} ${request.url}`),
 * );
 * const proxy: NetworkProxy = {
 *   type: "http",
 *   url: `http://127.0.0.1:${proxyServer.addr.port}`,
 *   username: "alice",
 *   password: "secret",
 * };
 * await using manager = new NetworkAccessManager({ proxy });
 * const text = await manager.get("http://app.example/path").text();
 * assert.equal(text, "Basic YWxpY2U6c2VjcmV0 http://app.example/path"); // alice:secret
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
  /**
   * The user name to authenticate with; without `:` for an `http` or `https` proxy (Basic
   * authentication cannot carry one); 1 to 255 bytes (UTF-8) for a SOCKS5 proxy, as its
   * password (RFC 1929).
   */
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
 * import assert from "node:assert/strict";
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
 * assert.deepEqual(queries.map(({ scheme, host, port }) => [scheme, host, port]), [
 *   ["https", "api.example.com", 443],
 * ]);
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
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, type ProxyFactory } from "@netaccess/core";
 *
 * const proxyFactory: ProxyFactory = ({ host }) =>
 *   host.endsWith(".corp.example") ? [] : [{ type: "http", url: "http://proxy.corp.example:3128" }];
 * await using manager = new NetworkAccessManager({ proxyFactory });
 * const query = (host: string) => ({
 *   url: new URL(`https://${host}/`),
 *   scheme: "https",
 *   host,
 *   port: 443,
 * });
 * assert.deepEqual(manager.proxyFactory?.(query("wiki.corp.example")), []);
 * assert.deepEqual(manager.proxyFactory?.(query("example.com")), [
 *   { type: "http", url: "http://proxy.corp.example:3128" },
 * ]);
 * ```
 */
export type ProxyFactory = (query: ProxyQuery) => readonly NetworkProxy[];

const PROXY_TYPES: readonly NetworkProxyType[] = [
  "http",
  "https",
  "socks5",
  "socks5h",
  "none",
  "system",
];
export const DEFAULT_PORTS: Record<string, number> = {
  "http:": 80,
  "https:": 443,
  "socks5:": 1080,
  "socks5h:": 1080,
};
const QUERY_PORTS: ReadonlyMap<string, number> = new Map([
  ["http", 80],
  ["https", 443],
  ["ws", 80],
  ["wss", 443],
  ["ftp", 21],
]);

/**
 * A URL for messages: whatever stands between the scheme and the last `@` replaced by `***`,
 * as it may hold a password (even one with spaces, or in a URL that does not parse).
 */
export function safeUrlText(text: string): string {
  const at = text.lastIndexOf("@");
  if (at < 0) return text;
  return `${/^[a-z][a-z0-9+.-]*:\/\//i.exec(text)?.[0] ?? ""}***${text.slice(at)}`;
}

export function decodeUserInfo(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Checks one SOCKS5 credential: RFC 1929 sends the user name and the password with a length
 * byte each, from 1 to 255 bytes (UTF-8), and Deno sends no other (an empty password included).
 */
function checkSocksCredential(
  value: string,
  name: "username" | "password",
  where: string,
  field: string,
  type: string,
): void {
  const bytes = new TextEncoder().encode(value).length;
  if (bytes >= 1 && bytes <= 255) return;
  const got = bytes === 0
    ? "got an empty one (a proxy that needs no credentials is given none)"
    : `got ${bytes} bytes`;
  throw new TypeError(
    `${where}: '${field}.${name}' must be 1 to 255 bytes for a "${type}" proxy ` +
      `(RFC 1929 username/password authentication), ${got}`,
  );
}

/**
 * Checks a {@linkcode NetworkProxy} and returns it normalized: `url` as `scheme://host:port`
 * without user info, credentials in `username` and `password`.
 *
 * @param proxy The value to check.
 * @param where The start of the message, e.g. `"Cannot create manager"`.
 * @param field The option's name in the message (`proxy`, or `manager.proxy` in a factory's).
 * @returns The normalized proxy.
 * @throws {TypeError} When a field has the wrong type, the URL does not parse (a port out of
 * range included) or does not fit the type, the user name of an http or https proxy
 * contains `:`, or a SOCKS5 proxy's user name or password is not 1 to 255 bytes (RFC 1929).
 */
export function validateProxy(proxy: unknown, where: string, field = "proxy"): NetworkProxy {
  if (typeof proxy !== "object" || proxy === null || Array.isArray(proxy)) {
    throw new TypeError(`${where}: '${field}' must be an object, got ${describe(proxy)}`);
  }
  const { type, url, username, password } = proxy as Record<string, unknown>;
  if (typeof type !== "string" || !PROXY_TYPES.includes(type as NetworkProxyType)) {
    throw new TypeError(
      `${where}: '${field}.type' must be one of ${
        PROXY_TYPES.map((t) => `"${t}"`).join(", ")
      }, got ${describe(type)}`,
    );
  }
  if (type === "none" || type === "system") return { type };
  if (typeof url !== "string" || url.trim() === "") {
    throw new TypeError(
      `${where}: '${field}.url' must be a non-empty string for a "${type}" proxy, got ${
        describe(url)
      }`,
    );
  }
  if (username !== undefined && typeof username !== "string") {
    throw new TypeError(
      `${where}: '${field}.username' must be a string, got ${describe(username)}`,
    );
  }
  if (password !== undefined && typeof password !== "string") {
    // A password is not shown, only its type; an object or `null` holds none.
    const got = typeof password === "object" ? describe(password) : `a ${typeof password}`;
    throw new TypeError(`${where}: '${field}.password' must be a string, got ${got}`);
  }
  const scheme = `${type}:`;
  const text = url.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `${type}://${text}`;
  // The URL as messages show it: a password it holds is not.
  const shown = describe(safeUrlText(text));
  let parsed: URL;
  try {
    parsed = new URL(withScheme);
  } catch {
    throw new TypeError(`${where}: '${field}.url' must be a URL or host:port, got ${shown}`);
  }
  if (parsed.protocol !== scheme) {
    throw new TypeError(
      `${where}: '${field}.url' must use the scheme "${scheme}" of a "${type}" proxy, got ${
        describe(parsed.protocol)
      }`,
    );
  }
  if (parsed.hostname === "") {
    throw new TypeError(`${where}: '${field}.url' has no host, got ${shown}`);
  }
  if ((parsed.pathname !== "" && parsed.pathname !== "/") || parsed.search || parsed.hash) {
    throw new TypeError(
      `${where}: '${field}.url' must not have a path, query or fragment, got ${shown}`,
    );
  }
  // The URL parser takes port 0, which no proxy listens on. A string that does not give a
  // usable URL is a TypeError, whatever part of it is wrong (a port past 65535 does not parse).
  const port = parsed.port === "" ? DEFAULT_PORTS[scheme]! : Number(parsed.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TypeError(`${where}: '${field}.url' must have a port from 1 to 65535, got ${shown}`);
  }
  // A non-special scheme (socks5:) keeps the host as written, a name past ASCII
  // percent-encoded: the host an http: URL would have is the one to connect to (punycode,
  // IPv4 in dotted decimal).
  let hostname = parsed.hostname.toLowerCase();
  if (type === "socks5" || type === "socks5h") {
    try {
      hostname = new URL(`http://${parsed.hostname}`).hostname;
    } catch {
      throw new TypeError(`${where}: '${field}.url' has an invalid host name, got ${shown}`);
    }
  }
  // User info with only a password (`http://:token@host`) has an empty user name.
  const inUrl = parsed.username !== "" || parsed.password !== "";
  const user = username ?? (inUrl ? decodeUserInfo(parsed.username) : undefined);
  const pass = password ?? (inUrl ? decodeUserInfo(parsed.password) : undefined);
  if (user === undefined && pass !== undefined) {
    throw new TypeError(`${where}: '${field}.password' is given without '${field}.username'`);
  }
  // Basic credentials (RFC 7617) cannot carry a user-id with a colon; SOCKS5 ones can.
  if ((type === "http" || type === "https") && user?.includes(":")) {
    throw new TypeError(
      `${where}: '${field}.username' must not contain ':' for a "${type}" proxy (Basic authentication)`,
    );
  }
  if ((type === "socks5" || type === "socks5h") && user !== undefined) {
    checkSocksCredential(user, "username", where, field, type);
    checkSocksCredential(pass ?? "", "password", where, field, type);
  }
  const normalized: NetworkProxy = {
    type: type as NetworkProxyType,
    url: `${parsed.protocol}//${hostname}:${port}`,
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
export function proxyLabel(proxy: NetworkProxy): string {
  if (proxy.type === "none") return "no proxy";
  if (proxy.type === "system") return "the system proxy";
  if (proxy.url === undefined) return `a ${proxy.type} proxy`;
  return safeUrlText(proxy.url).replace(/\/$/, "");
}

/** Whether two proxies (normalized, or `undefined`) are the same route. */
export function sameProxy(a: NetworkProxy | undefined, b: NetworkProxy | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.type === b.type &&
    a.url === b.url && a.username === b.username && a.password === b.password);
}

/** The parts of a URL a {@linkcode ProxyFactory} is asked about. */
export function proxyQuery(url: URL): ProxyQuery {
  const scheme = url.protocol.replace(/:$/, "");
  const host = url.hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  const port = url.port === "" ? (QUERY_PORTS.get(scheme) ?? -1) : Number(url.port);
  return { url, scheme, host, port };
}
