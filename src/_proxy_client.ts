/**
 * A pool of `Deno.HttpClient`s, one per distinct proxy configuration.
 *
 * @module
 */

import { type NetworkProxy, validateProxy } from "./proxy/network_proxy.ts";
import { envGranted } from "./proxy/system_proxy.ts";
import type { ClientCertificate } from "./tls.ts";

/** Options of {@linkcode _ProxyClientPool.get}. */
export interface _ProxyClientOptions {
  /** Extra CA certificates (PEM) trusted for the target and for an `https` proxy. */
  caCerts?: string[];
  /** The TLS client certificate presented to servers that ask for one. */
  clientCertificate?: ClientCertificate;
  /** Whether the environment names a proxy, as last read; read now when absent. */
  envHasProxy?: boolean;
}

const PROXY_VARIABLES = [
  "ALL_PROXY",
  "all_proxy",
  "HTTPS_PROXY",
  "https_proxy",
  "HTTP_PROXY",
  "http_proxy",
] as const;
const NO_PROXY_VARIABLES = ["NO_PROXY", "no_proxy"] as const;

/**
 * Whether the process environment names a proxy that Deno's own clients would use. False
 * when the variables cannot be read.
 */
export function _envHasProxy(env?: Record<string, string | undefined>): boolean {
  if (env !== undefined) return PROXY_VARIABLES.some((name) => !!env[name]);
  return PROXY_VARIABLES.some((name) => envGranted(name) && !!Deno.env.get(name));
}

/**
 * Runs `create` with the given variables removed from the process environment, then puts
 * them back. `Deno.createHttpClient` reads the proxy variables once, when the client is
 * made: without this, `NO_PROXY` would bypass an explicit proxy and `HTTP_PROXY` would
 * proxy a direct connection. Variables without `env` permission are left as they are.
 */
function withoutEnv<T>(names: readonly string[], create: () => T): T {
  const saved = new Map<string, string>();
  for (const name of names) {
    if (!envGranted(name)) continue;
    const value = Deno.env.get(name);
    if (value === undefined) continue;
    saved.set(name, value);
    Deno.env.delete(name);
  }
  try {
    return create();
  } finally {
    for (const [name, value] of saved) Deno.env.set(name, value);
  }
}

/** Deno's `proxy` option for a normalized proxy; credentials go in `basicAuth`. */
export function _denoProxy(proxy: NetworkProxy): Deno.Proxy {
  const url = proxy.url!;
  const transport = proxy.type === "https" ? "https" : proxy.type === "http" ? "http" : "socks5";
  const out: Deno.Proxy = { transport, url };
  if (proxy.username !== undefined) {
    out.basicAuth = { username: proxy.username, password: proxy.password ?? "" };
  }
  return out;
}

/**
 * Closes the clients of a pool no one holds any more (a manager that was never closed): a
 * `Deno.HttpClient` is a resource of the process, which the collector does not free.
 */
const abandoned = new FinalizationRegistry<Map<string, Deno.HttpClient>>(closeClients);

function closeClients(clients: Map<string, Deno.HttpClient>): void {
  const open = [...clients.values()];
  clients.clear();
  for (const client of open) {
    try {
      client.close();
    } catch {
      // Already closed.
    }
  }
}

/**
 * Keeps one `Deno.HttpClient` per distinct proxy configuration (type, address, credentials,
 * CA certificates and client certificate), created on first use and closed by {@linkcode _ProxyClientPool.clear}
 * (or, when no one holds the pool any more, once it is collected).
 *
 * A direct connection (`{ type: "none" }`) needs no client of its own (`undefined`, the
 * default client) unless CA certificates are given or the environment names a proxy, which
 * Deno's default client would use; then a client is made with the proxy variables hidden.
 */
export class _ProxyClientPool {
  #clients = new Map<string, Deno.HttpClient>();
  /**
   * Set by the first {@linkcode clear}: from then on direct connections get a client of the
   * pool's own, whose connections a later `clear()` can close (`fetch`'s shared client cannot be
   * closed, so its connections would outlive the promise of new ones).
   */
  #ownsDirect = false;

  /** Number of open clients. */
  get size(): number {
    return this.#clients.size;
  }

  /**
   * Whether a direct connection goes through `fetch`'s default client (no client of the pool's
   * own): no CA certificates, no client certificate, no proxy named by the environment, and no
   * {@linkcode clear} yet.
   *
   * @param caCerts How many extra CA certificates are given.
   * @param certificate Whether a client certificate is given.
   * @param envHasProxy Whether the environment names a proxy, as last read; read now when absent.
   * @returns `true` when {@linkcode get} gives `undefined` for a direct connection.
   */
  takesDefaultClient(caCerts: number, certificate: boolean, envHasProxy?: boolean): boolean {
    return caCerts === 0 && !certificate && !this.#ownsDirect &&
      !(envHasProxy ?? _envHasProxy());
  }

  /**
   * The client for a proxy; `undefined` means `fetch`'s default client.
   *
   * @param proxy A proxy of any type but `"system"` (resolve that first).
   * @param options Extra CA certificates and the client certificate.
   * @returns The pooled client, or `undefined` for a plain direct connection (until the first
   * {@linkcode clear}).
   * @throws {TypeError} For an invalid proxy or a `"system"` proxy.
   */
  get(proxy: NetworkProxy, options: _ProxyClientOptions = {}): Deno.HttpClient | undefined {
    const normalized = validateProxy(proxy, "Cannot create HTTP client");
    if (normalized.type === "system") {
      throw new TypeError(
        `Cannot create HTTP client: 'proxy.type' "system" must be resolved to a proxy first`,
      );
    }
    const caCerts = options.caCerts ?? [];
    const identity = options.clientCertificate;
    const direct = normalized.type === "none";
    if (direct && this.takesDefaultClient(caCerts.length, !!identity, options.envHasProxy)) {
      return undefined;
    }
    const key = JSON.stringify([
      normalized.type,
      normalized.url ?? "",
      normalized.username ?? null,
      normalized.password ?? null,
      caCerts,
      identity?.cert ?? null,
      identity?.key ?? null,
    ]);
    let client = this.#clients.get(key);
    if (client === undefined) {
      const clientOptions: Deno.CreateHttpClientOptions & Partial<Deno.TlsCertifiedKeyPem> =
        identity ? { cert: identity.cert, key: identity.key } : {};
      if (caCerts.length > 0) clientOptions.caCerts = [...caCerts];
      if (!direct) clientOptions.proxy = _denoProxy(normalized);
      client = withoutEnv(
        direct ? PROXY_VARIABLES : NO_PROXY_VARIABLES,
        () =>
          Deno.createHttpClient(
            clientOptions as Deno.CreateHttpClientOptions | Deno.TlsCertifiedKeyPem,
          ),
      );
      // The map, not the pool, is what the registry holds: the pool stays collectable.
      if (this.#clients.size === 0) abandoned.register(this, this.#clients, this);
      this.#clients.set(key, client);
    }
    return client;
  }

  /**
   * Closes every client; the next {@linkcode get} makes new ones, for plain direct connections
   * too (from then on in a client of the pool's own). Safe to call twice.
   */
  clear(): void {
    this.#ownsDirect = true;
    abandoned.unregister(this);
    closeClients(this.#clients);
  }
}
