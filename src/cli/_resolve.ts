/**
 * `--resolve HOST:PORT:ADDR[,ADDR]`: the connections to HOST at PORT go to ADDR, while the
 * request keeps its URL (the `Host` header names HOST).
 *
 * Deno's `fetch` takes no resolver, but a `Deno.HttpClient` whose `proxy` is a `tcp`
 * transport sends its requests over a TCP connection to the address given, as they are: that
 * is `--resolve` for `http:`. That transport speaks no TLS, and no other way lets `fetch`
 * connect to one address while it checks a certificate for another name, so an `https:` URL
 * of a `--resolve` entry is refused rather than sent to the address DNS gives.
 *
 * @module
 */

import { type Layer, NetworkError, NetworkReplyError } from "../../mod.ts";
import { badValue, Exit, EXIT_CODES } from "./exit_codes.ts";

/** One `--resolve` entry. */
export interface Entry {
  /** The option as given. */
  text: string;
  /** Lower-case host name, or `*` for every host. */
  host: string;
  port: string;
  /** The addresses, in order, without brackets. */
  addresses: string[];
}

/** Parses the `--resolve` options; an entry `-HOST:PORT` (curl's removal) adds nothing. */
export function parseResolve(values: string[]): Entry[] {
  const entries: Entry[] = [];
  for (const text of values) {
    if (text.startsWith("-")) continue;
    const match = /^\+?(\[[^\]]+\]|[^:]+):(\d{1,5}):(.+)$/.exec(text);
    const addresses = match?.[3]?.split(",").map((a) => a.trim().replace(/^\[(.*)\]$/, "$1"));
    if (
      match === null || addresses === undefined || Number(match[2]) > 65535 ||
      addresses.some((address) => !isAddress(address))
    ) {
      throw badValue(
        "resolve",
        `--resolve takes HOST:PORT:ADDRESS[,ADDRESS] (an IPv4 or IPv6 address), got "${text}"`,
        text,
      );
    }
    entries.push({
      text,
      host: match[1]!.replace(/^\[(.*)\]$/, "$1").toLowerCase(),
      port: String(Number(match[2])),
      addresses,
    });
  }
  return entries;
}

function isAddress(text: string): boolean {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) return text.split(".").every((n) => Number(n) < 256);
  try {
    return text.includes(":") && new URL(`http://[${text}]/`).hostname !== "";
  } catch {
    return false;
  }
}

/** The port of `url`, its scheme's default when it names none. */
function portOf(url: URL): string {
  return url.port || (url.protocol === "https:" ? "443" : "80");
}

function entryFor(entries: Entry[], url: URL): Entry | undefined {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  const port = portOf(url);
  return entries.find((entry) =>
    entry.port === port && (entry.host === host || entry.host === "*")
  );
}

/** The refusal of an `https:` URL that a `--resolve` entry names. */
function httpsRefused(entry: Entry, url: URL): string {
  return `--resolve ${entry.text} cannot be used for ${url.protocol}//${url.host}: Deno's fetch ` +
    "cannot connect to another address while it checks the certificate of the URL's name " +
    "(--resolve works for http: URLs)";
}

/**
 * Checks that no URL given is an `https:` one a `--resolve` entry names.
 */
export function checkResolve(entries: Entry[], urls: URL[]): void {
  for (const url of urls) {
    const entry = entryFor(entries, url);
    if (entry !== undefined && url.protocol === "https:") {
      throw new Exit(EXIT_CODES.usage, httpsRefused(entry, url), true);
    }
  }
}

/** A network layer that connects the hosts of `--resolve` to their addresses. */
export interface Resolver extends Disposable {
  layer: Layer;
}

/**
 * The `--resolve` layer: each `http:` exchange to a HOST:PORT of `entries` is sent over a
 * connection to its first address (the next one when it fails before any response), unless a
 * proxy takes it (the proxy connects by name). A redirect to an `https:` URL of an entry fails.
 */
export function resolver(entries: Entry[]): Resolver {
  const clients = new Map<string, Deno.HttpClient>();
  const clientFor = (address: string, port: string) => {
    const key = `${address} ${port}`;
    let client = clients.get(key);
    if (client === undefined) {
      client = Deno.createHttpClient({
        // An IPv6 address in brackets, as Deno reads the host of the connection.
        proxy: {
          transport: "tcp",
          hostname: address.includes(":") ? `[${address}]` : address,
          port: Number(port),
        },
      });
      clients.set(key, client);
    }
    return client;
  };
  const layer: Layer = (next) => async (exchange) => {
    const entry = entryFor(entries, exchange.url);
    const proxied = exchange.proxy !== undefined && exchange.proxy.type !== "none";
    if (entry === undefined || proxied) return await next(exchange);
    if (exchange.url.protocol === "https:") {
      throw new NetworkReplyError(
        NetworkError.ProtocolUnknownError,
        httpsRefused(entry, exchange.url),
      );
    }
    if (exchange.url.protocol !== "http:") return await next(exchange);
    const port = portOf(exchange.url);
    for (let i = 0;; i++) {
      exchange.client = clientFor(entry.addresses[i]!, port);
      try {
        return await next(exchange);
      } catch (error) {
        const resend = exchange.body === null || exchange.body.replayable;
        if (i + 1 >= entry.addresses.length || exchange.signal.aborted || !resend) throw error;
      }
    }
  };
  return {
    layer,
    [Symbol.dispose]() {
      for (const client of clients.values()) client.close();
      clients.clear();
    },
  };
}
