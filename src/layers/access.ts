/**
 * The access layer and the network gate.
 *
 * The access layer sits at the top of the pipeline and sees each request once. When network
 * access is switched off it fails `http:` and `https:` requests that no cache can answer
 * (`UnknownNetworkError`, "Network access is disabled", as Qt does), and lets the others go
 * down marked offline so that only the cache may answer them. `file:` URLs are checked
 * against Deno's `read` permission; `data:` URLs pass.
 *
 * The network gate runs for every exchange about to be sent (each redirect hop and retry),
 * once its proxy is known: offline exchanges stop there, before any socket, and the `net`
 * permission is checked for the target's `host:port` and the proxy's. Deno needs both when
 * a proxy is used: `Deno.createHttpClient` checks the proxy's address, and `fetch` checks the
 * target's although it connects to the proxy. A permission not granted fails the reply with
 * `UnknownNetworkError` and a message naming the flag that grants it (or, for a host a
 * `--deny-net` flag covers, the entry to remove), instead of a thrown `NotCapable`.
 *
 * @module
 */

import type { Exchange, Layer } from "../exchange.ts";
import type { NetworkAccessibility } from "../network_accessibility.ts";
import { NetworkError, NetworkReplyError } from "../network_error.ts";
import type { NetworkCache } from "../cache/network_cache.ts";
import type { NetworkProxy } from "../proxy/network_proxy.ts";
import type { CacheLoadControl } from "../request.ts";
import type { _PermissionGate } from "../_permission_gate.ts";
import { type MissingNet, neededHosts, netHost, netMessage } from "./_net_permission.ts";

export { netHost };

/** The message of a request refused because network access is off (Qt's words). */
export const DISABLED_MESSAGE = "Network access is disabled";

/** What the access layer and the gate read, for each request. */
export interface AccessSettings {
  /** The cache, which may answer while offline; `null` for none. */
  readonly cache: NetworkCache | null;
  /** Where replies come from for requests that set no `cacheLoadControl`. */
  readonly cacheLoadControl: CacheLoadControl;
  /** The switch as set (not what permissions make of it). */
  accessible(): NetworkAccessibility;
  /** The permission cache, or `null` when permissions are not checked (a custom transport). */
  permissions(): _PermissionGate | null;
  /** Whether a permission in the `"prompt"` state is asked for. */
  requestPermissions(): boolean;
}

function disabled(): NetworkReplyError {
  return new NetworkReplyError(NetworkError.UnknownNetworkError, DISABLED_MESSAGE);
}

/**
 * What `manager.networkAccessible` reports: the switch, unless Deno's `net` permission says
 * otherwise. Not granted for every host: `"unknown"` while it may be asked for or some host
 * the manager has used is still granted, `"not-accessible"` when it is denied and no such
 * host is left.
 */
export function effectiveAccessibility(
  switched: NetworkAccessibility,
  netState: Deno.PermissionState | undefined,
  someHostGranted = false,
): NetworkAccessibility {
  if (switched === "not-accessible") return "not-accessible";
  if (netState === undefined || netState === "granted") return switched;
  return netState === "denied" && !someHostGranted ? "not-accessible" : "unknown";
}

/**
 * Whether the `net` permission for `url`'s host is granted, without waiting (queried at once the
 * first time and watched since); `false` for a host Deno cannot name in a descriptor (the gate's
 * full check says why).
 */
export function knownGranted(
  permissions: NonNullable<ReturnType<AccessSettings["permissions"]>>,
  url: URL,
): boolean {
  try {
    return permissions.stateNow({ name: "net", host: netHost(url) }) === "granted";
  } catch {
    return false;
  }
}

async function checkRead(exchange: Exchange, settings: AccessSettings): Promise<void> {
  const permissions = settings.permissions();
  if (permissions === null) return;
  const descriptor = { name: "read", path: exchange.url } as const;
  let state: Deno.PermissionState;
  let asked = false;
  try {
    state = await permissions.state(descriptor);
    if (state === "prompt" && settings.requestPermissions()) {
      asked = true;
      state = await permissions.state(descriptor, true);
    }
  } catch {
    // A path Deno cannot name in a descriptor: the transport reports it.
    return;
  }
  if (state === "granted") return;
  let path = exchange.url.pathname;
  try {
    path = decodeURIComponent(path);
  } catch {
    // The transport reports a malformed path.
    return;
  }
  // Denied before the manager asked: a --deny-read entry (or an earlier prompt), which
  // --allow-read does not lift, so naming it would not help.
  const why = state === "prompt"
    ? `is not granted (grant it with --allow-read=${path})`
    : asked
    ? `was denied (grant it with --allow-read=${path})`
    : `is denied, by --deny-read or at an earlier prompt (remove the --deny-read entry that ` +
      `covers ${path}: --allow-read does not override it)`;
  throw new NetworkReplyError(
    NetworkError.UnknownNetworkError,
    `Cannot read ${path}: Deno's read permission ${why}`,
  );
}

/**
 * Creates the access layer.
 *
 * @param settings The switch and the permissions; the cache and the cache load control decide
 * what may be answered while offline.
 * @returns The layer.
 */
export function accessLayer(settings: AccessSettings): Layer {
  // No promise of its own: an allowed request goes on at once.
  return (next) => (exchange) => {
    const { protocol } = exchange.url;
    if (protocol === "file:") return checkRead(exchange, settings).then(() => next(exchange));
    if (protocol !== "http:" && protocol !== "https:") return next(exchange);
    if (settings.accessible() === "not-accessible") {
      const load = exchange.request.cacheLoadControl ?? settings.cacheLoadControl;
      if (settings.cache === null || load === "always-network") return Promise.reject(disabled());
      exchange.offline = true;
    }
    return next(exchange);
  };
}

/**
 * Creates the network gate: checked for each exchange about to be sent, with its proxy.
 *
 * @param settings The switch and the permissions.
 * @returns A check that resolves when the exchange may be sent.
 * @throws {NetworkReplyError} `UnknownNetworkError` when network access is off or a `net`
 * permission is missing.
 */
export function networkGate(
  settings: AccessSettings,
): (exchange: Exchange, proxy: NetworkProxy) => Promise<void> | undefined {
  return (exchange, proxy) => {
    if (exchange.offline || settings.accessible() === "not-accessible") {
      return Promise.reject(disabled());
    }
    const permissions = settings.permissions();
    if (permissions === null) return undefined;
    // A direct request to a host already granted (and watched for a change): nothing to wait for.
    if (
      (proxy.type === "none" || proxy.url === undefined) && knownGranted(permissions, exchange.url)
    ) {
      return undefined;
    }
    return check(exchange, proxy, permissions);
  };

  async function check(
    exchange: Exchange,
    proxy: NetworkProxy,
    permissions: NonNullable<ReturnType<AccessSettings["permissions"]>>,
  ): Promise<void> {
    const request = settings.requestPermissions();
    const missing: MissingNet[] = [];
    for (const { host, what } of neededHosts(exchange.url, proxy)) {
      let state: Deno.PermissionState;
      let asked = false;
      try {
        state = await permissions.state({ name: "net", host });
        if (state === "prompt" && request) {
          asked = true;
          state = await permissions.state({ name: "net", host }, true);
        }
      } catch {
        // A host Deno cannot name in a descriptor: fetch reports it.
        continue;
      }
      if (state === "granted") continue;
      missing.push({
        host,
        what,
        why: state === "prompt" ? "prompt" : asked ? "refused" : "denied",
      });
    }
    if (missing.length > 0) {
      throw new NetworkReplyError(
        NetworkError.UnknownNetworkError,
        netMessage(missing, permissions.netState() === "denied"),
      );
    }
  }
}
