/**
 * Deno's `net` permission as the network gate and the transport tell it: the `host:port` a URL
 * needs, and the message of a reply refused for want of it.
 *
 * @module
 */

import { NetworkError, NetworkReplyError } from "../network_error.ts";
import type { NetworkProxy } from "../proxy/network_proxy.ts";

/** The `host:port` Deno's `net` permission names for a URL (the scheme's port when none). */
export function netHost(url: URL): string {
  const port = url.port !== ""
    ? url.port
    : url.protocol === "https:" || url.protocol === "socks5:" || url.protocol === "socks5h:"
    ? (url.protocol === "https:" ? "443" : "1080")
    : "80";
  return `${url.hostname}:${port}`;
}

/**
 * Why a host may not be reached: `"prompt"` not granted (nor asked), `"refused"` denied when the
 * manager asked, `"denied"` denied before it asked (a `--deny-net` flag, or an earlier prompt).
 */
export type Refusal = "prompt" | "refused" | "denied";

/** A `host:port` a send needs and does not have: the target's (`"host"`) or the proxy's. */
export interface MissingNet {
  host: string;
  what: string;
  why: Refusal;
}

/**
 * The message of a reply refused for want of the `net` permission: who was refused, why, and
 * the flag that grants it (or the `--deny-net` entry to remove; `allDenied` when `--deny-net`
 * covers every host).
 */
export function netMessage(missing: MissingNet[], allDenied: boolean): string {
  const names = missing.map((m) => `${m.what} ${m.host}`).join(" and ");
  const reasons: string[] = [];
  for (const why of ["denied", "refused", "prompt"] as const) {
    const hosts = missing.filter((m) => m.why === why).map((m) => m.host);
    if (hosts.length === 0) continue;
    const forWhom = hosts.length < missing.length ? ` for ${hosts.join(" and ")}` : "";
    reasons.push(
      why === "denied"
        // --allow-net does not lift a --deny-net entry: naming it would not help.
        ? `is denied${forWhom}, by --deny-net or at an earlier prompt (remove ${
          allDenied ? "--deny-net" : `the --deny-net entry that covers ${hosts.join(" and ")}`
        }: --allow-net does not override it)`
        : `${why === "refused" ? "was denied" : "is not granted"}${forWhom} (grant it with ` +
          `--allow-net=${hosts.join(",")})`,
    );
  }
  return `Network access to ${names} is not permitted: Deno's net permission ${
    reasons.join(" and ")
  }`;
}

/** The `host:port`s a send to `url` through `proxy` needs: the target's, and the proxy's. */
export function neededHosts(
  url: URL,
  proxy: NetworkProxy | undefined,
): { host: string; what: string }[] {
  const needed = [{ host: netHost(url), what: "host" }];
  if (proxy?.url !== undefined && proxy.type !== "none" && proxy.type !== "system") {
    needed.push({ host: netHost(new URL(proxy.url)), what: "proxy" });
  }
  return needed;
}

/**
 * The failure of a send Deno refused for want of a `net` permission (`NotCapable` from `fetch`
 * or `Deno.createHttpClient`), as the network gate words it; `undefined` for any other error.
 * The gate let the send go because it held the host as granted: a revoke since then that named
 * no host of its (the `net` permission as a whole, or a host without the port) tells no status
 * of a host it watches. The statuses are queried again, which updates them for every gate
 * watching them, so the next send is refused by the gate itself.
 */
export function notPermitted(
  error: unknown,
  url: URL,
  proxy: NetworkProxy | undefined,
): NetworkReplyError | undefined {
  if (!(error instanceof Deno.errors.NotCapable)) return undefined;
  const needed = neededHosts(url, proxy);
  const missing: MissingNet[] = [];
  for (const { host, what } of needed) {
    let state: Deno.PermissionState;
    try {
      state = Deno.permissions.querySync({ name: "net", host }).state;
    } catch {
      continue;
    }
    if (state !== "granted") {
      missing.push({ host, what, why: state === "prompt" ? state : "denied" });
    }
  }
  const message = missing.length > 0
    ? netMessage(missing, Deno.permissions.querySync({ name: "net" }).state === "denied")
    : `Network access to host ${needed[0]!.host} is not permitted: ${error.message}`;
  return new NetworkReplyError(NetworkError.UnknownNetworkError, message, { cause: error });
}
