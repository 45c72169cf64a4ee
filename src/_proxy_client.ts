/**
 * A pool of `Deno.HttpClient`s, one per distinct proxy configuration, shared in the process by
 * the pools that ask for the same one.
 *
 * @module
 */

import { type NetworkProxy, validateProxy } from "./proxy/network_proxy.ts";
import {
  defaultClientDirect,
  envGranted,
  namesProxy,
  PROXY_VARIABLES,
} from "./proxy/system_proxy.ts";
import type { ClientCertificate } from "./tls.ts";
import { type ConnectRelay, needsRelay, startConnectRelay } from "./proxy/_relay.ts";

/** Options of {@linkcode _ProxyClientPool.get}. */
export interface _ProxyClientOptions {
  /** Extra CA certificates (PEM) trusted for the target and for an `https` proxy. */
  caCerts?: readonly string[];
  /** The TLS client certificate presented to servers that ask for one. */
  clientCertificate?: ClientCertificate;
  /** Whether the environment names a proxy, as last read; read now when absent. */
  envHasProxy?: boolean;
  /**
   * Whether the target is `https:`. Through an `http` proxy with credentials, such a target gets
   * a client of its own whose tunnels go through a loopback relay that adds the credentials to
   * CONNECT (Deno's client would send them into the tunnel, to the origin, too).
   */
  secureTarget?: boolean;
  /** The https target's `host[:port]`, the one authority its relay (if any) may tunnel to for it. */
  targetAuthority?: string;
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

/**
 * A client of the process, shared by every pool that asks for the same configuration, and how
 * many pool entries hold it: closed when the last one lets go.
 */
interface SharedClient {
  client: Deno.HttpClient;
  key: string;
  refs: number;
  /** The keepers holding it, if any. */
  keptBy?: Set<_ClientKeeper>;
  /** When it was made, in clients made in the process ({@linkcode madeClients}). */
  made: number;
  /**
   * The relay its tunnels go through: closed with it, or once the last reply still reading a
   * body through it is done (Deno's client, closed, lets such a reply finish).
   */
  relay?: ConnectRelay | undefined;
  /** Requests of every pool sent with it whose replies are not done yet. */
  busy: number;
}

/** How many shared clients the process made. */
let madeClients = 0;

/** The shared clients that a pool asking for a configuration gets, by configuration. */
const sharedClients = new Map<string, SharedClient>();

/** Clients of every pool that are open now. */
let openClients = 0;

/** How many clients of every pool are open now (for tests). */
export function _openClients(): number {
  return openClients;
}

/**
 * The shared client of a configuration, made when there is none (or only one made before
 * `since` clients, which is retired); one more holder counted.
 */
function acquireClient(
  key: string,
  make: () => { client: Deno.HttpClient; relay?: ConnectRelay | undefined },
  since: number,
): SharedClient {
  let shared = sharedClients.get(key);
  if (shared !== undefined && shared.made < since) {
    retireClient(shared);
    shared = undefined;
  }
  if (shared === undefined) {
    shared = { ...make(), key, refs: 0, made: madeClients++, busy: 0 };
    openClients++;
    sharedClients.set(key, shared);
  }
  shared.refs++;
  return shared;
}

/** One holder lets go of a shared client: the last closes it. */
function releaseClient(shared: SharedClient): void {
  if (--shared.refs !== 0) return;
  if (sharedClients.get(shared.key) === shared) sharedClients.delete(shared.key);
  openClients--;
  try {
    shared.client.close();
  } catch {
    // Already closed.
  }
  if (shared.busy === 0) shared.relay?.close();
}

/**
 * Takes a client out of the process's list (`clearConnectionCache()`): a pool asking for its
 * configuration gets a new one, and keepers let go of it. The pools holding it keep it.
 */
function retireClient(shared: SharedClient): void {
  if (sharedClients.get(shared.key) === shared) sharedClients.delete(shared.key);
  if (shared.keptBy === undefined) return;
  const keepers = [...shared.keptBy];
  shared.keptBy = undefined;
  for (const keeper of keepers) keeper.drop(shared);
}

/**
 * Holds the clients its pools take (one hold each) until it closes, at most `max` of them, the
 * least recently taken let go of first: a manager factory, whose managers made and closed one
 * per request find their client, and its open connections, still there.
 */
export class _ClientKeeper {
  readonly #kept = new Map<string, SharedClient>();
  readonly #max: number;
  #closed = false;

  /** @param max How many clients it holds at most. */
  constructor(max: number = _MAX_POOLED_CLIENTS) {
    this.#max = max;
  }

  /** How many clients it holds. */
  get size(): number {
    return this.#kept.size;
  }

  /** Holds a client a pool took (called once per pool and configuration, not per request). */
  keep(shared: SharedClient): void {
    if (this.#closed) return;
    const kept = this.#kept;
    const old = kept.get(shared.key);
    if (old !== undefined) kept.delete(shared.key);
    if (old === shared) {
      kept.set(shared.key, shared); // the most recent last
      return;
    }
    if (old !== undefined) this.#letGo(old);
    shared.refs++;
    (shared.keptBy ??= new Set()).add(this);
    kept.set(shared.key, shared);
    if (kept.size > this.#max) {
      const [key, oldest] = kept.entries().next().value!;
      kept.delete(key);
      this.#letGo(oldest);
    }
  }

  /** Lets go of a client it holds (taken out of the process's list). */
  drop(shared: SharedClient): void {
    if (this.#kept.get(shared.key) !== shared) return;
    this.#kept.delete(shared.key);
    this.#letGo(shared);
  }

  #letGo(shared: SharedClient): void {
    shared.keptBy?.delete(this);
    releaseClient(shared);
  }

  /** Lets go of every client; it holds none from then on. Safe to call twice. */
  close(): void {
    this.#closed = true;
    const kept = [...this.#kept.values()];
    this.#kept.clear();
    for (const shared of kept) this.#letGo(shared);
  }
}

/** The options key of a manager's {@linkcode _ClientKeeper} (given by a manager factory). */
export const _CLIENT_KEEPER: unique symbol = Symbol("netaccess.clientKeeper");

/** A pooled client and the requests using it. */
interface Entry {
  shared: SharedClient;
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

/** Lets go of the pool's hold on its client (closed when no other pool holds it). */
function closeEntry(entry: Entry): void {
  if (entry.closed) return;
  entry.closed = true;
  releaseClient(entry.shared);
}

/**
 * Closes the clients of a pool no one holds any more (a manager that was never closed): a
 * `Deno.HttpClient` is a resource of the process, which the collector does not free.
 */
const abandoned = new FinalizationRegistry<Clients>((clients) => closeClients(clients, false));

/**
 * Lets go of every client of a pool; `retire`: a pool asking for the same configuration later
 * gets a new client, not one of these (which stay open while another pool holds them).
 */
function closeClients(clients: Clients, retire: boolean): void {
  if (clients.pooled.size === 0 && clients.evicted.size === 0) return;
  const open = [...clients.pooled.values(), ...clients.evicted];
  clients.pooled.clear();
  clients.evicted.clear();
  for (const entry of open) {
    const shared = entry.shared;
    if (retire) retireClient(shared);
    closeEntry(entry);
  }
}

const NOTHING_HELD = (): void => {};

/**
 * Keeps one `Deno.HttpClient` per distinct proxy configuration (type, address, credentials,
 * CA certificates and client certificate), taken on first use, at most `max` of them in
 * least-recently-used order. Pools share clients: a configuration another pool has a client for
 * gets that client (and its open connections), which is closed when the last pool holding it
 * lets go. A client pushed out by a new one is let go of once no request uses it
 * (see {@linkcode _ProxyClientPool.hold}); every client is let go of by
 * {@linkcode _ProxyClientPool.clear} and {@linkcode _ProxyClientPool.close} (or, when no one
 * holds the pool any more, once it is collected).
 *
 * A direct connection (`{ type: "none" }`) needs no client of its own (`undefined`, the
 * default client) unless CA certificates are given or the environment names a proxy, or did
 * before the default client was known to be made without one (Deno's default client reads the
 * variables at the process's first `fetch`); then a client is made with the proxy variables
 * hidden.
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
  /** How many clients the process had made at the last {@linkcode clear}: older ones are not taken. */
  #clearedAt = 0;

  #keeper: _ClientKeeper | undefined;

  /**
   * @param max How many clients the pool keeps; more are closed, least recently used first.
   * @param keeper Holds the clients the pool takes, past the pool's own close.
   */
  constructor(max: number = _MAX_POOLED_CLIENTS, keeper?: _ClientKeeper) {
    this.#max = max;
    this.#keeper = keeper;
  }

  /** Number of open clients: those in the pool and those evicted but still in use. */
  get size(): number {
    return this.#clients.pooled.size + this.#clients.evicted.size;
  }

  /**
   * Whether a direct connection goes through `fetch`'s default client (no client of the pool's
   * own): no CA certificates, no client certificate, no proxy named by the environment (now, or
   * before that client was known to be made without one), and no {@linkcode clear} yet.
   *
   * @param caCerts How many extra CA certificates are given.
   * @param certificate Whether a client certificate is given.
   * @param envHasProxy Whether the environment names a proxy, as last read; read now when absent.
   * @returns `true` when {@linkcode get} gives `undefined` for a direct connection.
   */
  takesDefaultClient(caCerts: number, certificate: boolean, envHasProxy?: boolean): boolean {
    return caCerts === 0 && !certificate && !this.#ownsDirect &&
      defaultClientDirect(envHasProxy ?? _envHasProxy());
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
    const relayed = options.secureTarget === true && needsRelay(normalized);
    const key = JSON.stringify([
      relayed,
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
      if (relayed && options.targetAuthority) entry.shared.relay?.allow(options.targetAuthority);
      return entry.client;
    }
    const clientOptions: Deno.CreateHttpClientOptions & Partial<Deno.TlsCertifiedKeyPem> = identity
      ? { cert: identity.cert, key: identity.key }
      : {};
    if (caCerts.length > 0) clientOptions.caCerts = [...caCerts];
    // Made once per configuration in the process: another pool's client of it is taken (one
    // made since this pool's last clear()).
    const shared = acquireClient(key, () => {
      // Without the permissions a relay needs, Deno's client sends the credentials itself.
      const relay = relayed ? startConnectRelay(normalized) : undefined;
      if (!direct) {
        clientOptions.proxy = relay === undefined
          ? _denoProxy(normalized)
          : { transport: "http", url: relay.url, basicAuth: relay.basicAuth };
      }
      try {
        const client = withoutEnv(
          direct ? PROXY_VARIABLES : NO_PROXY_VARIABLES,
          () =>
            Deno.createHttpClient(
              clientOptions as Deno.CreateHttpClientOptions | Deno.TlsCertifiedKeyPem,
            ),
        );
        return { client, relay };
      } catch (error) {
        relay?.close();
        throw error;
      }
    }, this.#clearedAt);
    this.#keeper?.keep(shared);
    if (relayed && options.targetAuthority) shared.relay?.allow(options.targetAuthority);
    const client = shared.client;
    // The clients, not the pool, are what the registry holds: the pool stays collectable.
    if (this.size === 0) abandoned.register(this, this.#clients, this);
    entry = { shared, client, users: 0, evicted: false, closed: false };
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
    pooled.delete(victim[0]);
    this.#letGo(victim[1]);
  }

  /** Lets go of an entry out of the pool: now, or once no request uses it. */
  #letGo(entry: Entry): void {
    if (entry.users === 0) {
      closeEntry(entry);
    } else {
      entry.evicted = true;
      this.#clients.evicted.add(entry);
    }
  }

  /**
   * Lets go of every client (the settings they were made for changed): each is closed once no
   * request of this pool uses it and no other pool holds it. The next {@linkcode get} takes the
   * process's client of its configuration again, or makes one.
   */
  release(): void {
    const pooled = this.#clients.pooled;
    if (pooled.size === 0) return;
    this.#newest = undefined;
    const entries = [...pooled.values()];
    pooled.clear();
    for (const entry of entries) this.#letGo(entry);
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
    const shared = entry.shared;
    shared.busy++;
    const evicted = this.#clients.evicted;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      if (--shared.busy === 0 && shared.refs === 0) shared.relay?.close();
      if (--entry.users === 0 && entry.evicted) {
        evicted.delete(entry);
        closeEntry(entry);
      }
    };
  }

  /**
   * Lets go of every client, in use or not, and makes new ones for the next {@linkcode get}, for
   * plain direct connections too (from then on in a client of the pool's own): a client another
   * pool holds stays open for it, and no pool gets it again (nor any client made before). Safe to
   * call twice.
   */
  clear(): void {
    this.#ownsDirect = true;
    this.#clearedAt = madeClients;
    this.#newest = undefined;
    abandoned.unregister(this);
    closeClients(this.#clients, true);
  }

  /**
   * Lets go of every client, in use or not (the manager closes): each is closed unless another
   * pool holds it, which keeps using it. Safe to call twice.
   */
  close(): void {
    this.#newest = undefined;
    abandoned.unregister(this);
    closeClients(this.#clients, false);
  }
}
