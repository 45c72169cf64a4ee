/**
 * A pool of `Deno.HttpClient`s, one per distinct proxy configuration.
 *
 * @module
 */

import { type NetworkProxy, validateProxy } from "./proxy/network_proxy.ts";
import { envGranted, namesProxy, PROXY_VARIABLES } from "./proxy/system_proxy.ts";
import type { ClientCertificate } from "./tls.ts";

/** Options of {@linkcode _ProxyClientPool.get}. */
export interface _ProxyClientOptions {
  /** Extra CA certificates (PEM) trusted for the target and for an `https` proxy. */
  caCerts?: readonly string[];
  /** The TLS client certificate presented to servers that ask for one. */
  clientCertificate?: ClientCertificate;
  /** Whether the environment names a proxy, as last read; read now when absent. */
  envHasProxy?: boolean;
}

const NO_PROXY_VARIABLES = ["NO_PROXY", "no_proxy"] as const;

/**
 * Whether the process environment names a proxy that Deno's own clients would use. False
 * when the variables cannot be read.
 */
export function _envHasProxy(env?: Record<string, string | undefined>): boolean {
  if (env !== undefined) return namesProxy(env);
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

/** How many clients a pool keeps for reuse, the least recently used closed first. */
export const _MAX_POOLED_CLIENTS = 16;

/** A pooled client and the requests using it. */
interface Entry {
  client: Deno.HttpClient;
  /** Requests sent with the client whose replies are not done yet. */
  users: number;
  /** Out of the pool: closed when its last request is done. */
  evicted: boolean;
  closed: boolean;
}

/** The clients of a pool, in least-recently-used order, and those evicted but still in use. */
interface Clients {
  pooled: Map<string, Entry>;
  evicted: Set<Entry>;
}

/** Clients of every pool that are open now. */
let openClients = 0;

/** How many clients of every pool are open now (for tests). */
export function _openClients(): number {
  return openClients;
}

function closeEntry(entry: Entry): void {
  if (entry.closed) return;
  entry.closed = true;
  openClients--;
  try {
    entry.client.close();
  } catch {
    // Already closed.
  }
}

/**
 * Closes the clients of a pool no one holds any more (a manager that was never closed): a
 * `Deno.HttpClient` is a resource of the process, which the collector does not free.
 */
const abandoned = new FinalizationRegistry<Clients>(closeClients);

function closeClients(clients: Clients): void {
  if (clients.pooled.size === 0 && clients.evicted.size === 0) return;
  const open = [...clients.pooled.values(), ...clients.evicted];
  clients.pooled.clear();
  clients.evicted.clear();
  for (const entry of open) closeEntry(entry);
}

const NOTHING_HELD = (): void => {};

/**
 * Keeps one `Deno.HttpClient` per distinct proxy configuration (type, address, credentials,
 * CA certificates and client certificate), created on first use, at most `max` of them in
 * least-recently-used order. A client pushed out by a new one is closed once no request uses it
 * (see {@linkcode _ProxyClientPool.hold}); every client is closed by
 * {@linkcode _ProxyClientPool.clear} (or, when no one holds the pool any more, once it is
 * collected).
 *
 * A direct connection (`{ type: "none" }`) needs no client of its own (`undefined`, the
 * default client) unless CA certificates are given or the environment names a proxy, which
 * Deno's default client would use; then a client is made with the proxy variables hidden.
 */
export class _ProxyClientPool {
  #clients: Clients = { pooled: new Map(), evicted: new Set() };
  #entries = new WeakMap<Deno.HttpClient, Entry>();
  /** The entry {@linkcode get} gave last: asked again, it is the most recent already. */
  #newest: Entry | undefined;
  #max: number;
  /**
   * Set by the first {@linkcode clear}: from then on direct connections get a client of the
   * pool's own, whose connections a later `clear()` can close (`fetch`'s shared client cannot be
   * closed, so its connections would outlive the promise of new ones).
   */
  #ownsDirect = false;

  /** @param max How many clients the pool keeps; more are closed, least recently used first. */
  constructor(max: number = _MAX_POOLED_CLIENTS) {
    this.#max = max;
  }

  /** Number of open clients: those in the pool and those evicted but still in use. */
  get size(): number {
    return this.#clients.pooled.size + this.#clients.evicted.size;
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
    const pooled = this.#clients.pooled;
    let entry = pooled.get(key);
    if (entry !== undefined) {
      if (entry !== this.#newest) {
        // Most recently used last: the first entry is the next to go.
        pooled.delete(key);
        pooled.set(key, entry);
        this.#newest = entry;
      }
      return entry.client;
    }
    const clientOptions: Deno.CreateHttpClientOptions & Partial<Deno.TlsCertifiedKeyPem> = identity
      ? { cert: identity.cert, key: identity.key }
      : {};
    if (caCerts.length > 0) clientOptions.caCerts = [...caCerts];
    if (!direct) clientOptions.proxy = _denoProxy(normalized);
    const client = withoutEnv(
      direct ? PROXY_VARIABLES : NO_PROXY_VARIABLES,
      () =>
        Deno.createHttpClient(
          clientOptions as Deno.CreateHttpClientOptions | Deno.TlsCertifiedKeyPem,
        ),
    );
    openClients++;
    // The clients, not the pool, are what the registry holds: the pool stays collectable.
    if (this.size === 0) abandoned.register(this, this.#clients, this);
    entry = { client, users: 0, evicted: false, closed: false };
    this.#entries.set(client, entry);
    pooled.set(key, entry);
    this.#newest = entry;
    if (pooled.size > this.#max) this.#evict();
    return client;
  }

  /**
   * Pushes one client out of the pool: the least recently used one no request is using, closed
   * now, else the least recently used one, closed when its last request is done.
   */
  #evict(): void {
    const pooled = this.#clients.pooled;
    let victim: [string, Entry] | undefined;
    for (const item of pooled) {
      if (item[1] === this.#newest) break; // the one just made
      victim ??= item;
      if (item[1].users === 0) {
        victim = item;
        break;
      }
    }
    if (victim === undefined) return;
    const [key, entry] = victim;
    pooled.delete(key);
    if (entry.users === 0) {
      closeEntry(entry);
    } else {
      entry.evicted = true;
      this.#clients.evicted.add(entry);
    }
  }

  /**
   * Counts one request using `client` until the returned function is called (once its reply's
   * body is done, or it failed): a client evicted meanwhile stays open until then.
   *
   * @param client A client {@linkcode get} gave.
   * @returns Releases the request's hold; calling it again does nothing.
   */
  hold(client: Deno.HttpClient): () => void {
    const entry = this.#entries.get(client);
    if (entry === undefined || entry.closed) return NOTHING_HELD;
    entry.users++;
    const evicted = this.#clients.evicted;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      if (--entry.users === 0 && entry.evicted) {
        evicted.delete(entry);
        closeEntry(entry);
      }
    };
  }

  /**
   * Closes every client; the next {@linkcode get} makes new ones, for plain direct connections
   * too (from then on in a client of the pool's own). Safe to call twice.
   */
  clear(): void {
    this.#ownsDirect = true;
    this.#newest = undefined;
    abandoned.unregister(this);
    closeClients(this.#clients);
  }
}
