/**
 * The proxy of a run: the last of `-x`, `--socks5` and `--socks5-hostname`, its credentials of
 * `-U`, the hosts of `--noproxy`, or the proxy variables of the environment, read as curl reads
 * them: `http_proxy` in lower case only (a CGI program's request can set `HTTP_PROXY` with its
 * `Proxy` header), `https_proxy`, `all_proxy` and `no_proxy` in either case.
 *
 * @module
 */

import { type NetworkProxy, type ProxyFactory, systemProxyFactory } from "../../mod.ts";
import { safeUrlText } from "../proxy/network_proxy.ts";
import { envGranted } from "../proxy/system_proxy.ts";
import { markSystemProxyFactory } from "../proxy/_system_factories.ts";
import { badValue } from "./exit_codes.ts";
import { parseProxy, type ProxyOption, type Values } from "./_args.ts";

/** The proxy variables curl reads, lower case first: never upper-case `HTTP_PROXY`. */
const PROXY_ENV = ["http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"];
/** The variables of the hosts that bypass the proxy, which `--noproxy` replaces. */
const NO_PROXY_ENV = ["no_proxy", "NO_PROXY"];

/** The proxy options of the manager, and where the credentials sent to a proxy come from. */
export interface ProxySetup {
  /** The manager's `proxy`: the one of `-x` (or `--socks5`), when no factory chooses. */
  proxy?: NetworkProxy;
  /** The manager's `proxyFactory`, where the command line chooses per request. */
  proxyFactory?: ProxyFactory;
  /** See `Plan.proxyCredentials`. */
  credentialsOf(url: URL): string | undefined;
}

/**
 * The proxy of `--socks5 HOST[:PORT]` (`socks5://`) or `--socks5-hostname HOST[:PORT]`
 * (`socks5h://`), as curl's: on port 1080 by default, `USER:PASSWORD@` taken.
 */
export function parseSocks(option: Exclude<ProxyOption, "proxy">, value: string): NetworkProxy {
  const type = option === "socks5" ? "socks5" : "socks5h";
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1]?.toLowerCase();
  if (value.trim() === "" || (scheme !== undefined && scheme !== type)) {
    throw badValue(
      option,
      `--${option} takes HOST[:PORT], the SOCKS5 proxy (port 1080 by default), got ` +
        `"${safeUrlText(value)}"`,
    );
  }
  return parseProxy(scheme === undefined ? `${type}://${value}` : value, `--${option}`, option);
}

/** The proxy options of the manager for the proxy options of the command line. */
export function proxySetup(values: Values): ProxySetup {
  const given = values.proxyArg ??
    (values.proxy === undefined ? undefined : { option: "proxy" as const, value: values.proxy });
  const proxy = given === undefined
    ? undefined
    : given.option === "proxy"
    ? parseProxy(given.value)
    : parseSocks(given.option, given.value);
  // As curl's -U USER:PASSWORD: the credentials of the proxy, over those of its URL.
  const userText = values["proxy-user"];
  const colon = userText?.indexOf(":") ?? -1;
  const user = userText === undefined ? undefined : {
    username: colon < 0 ? userText : userText.slice(0, colon),
    password: colon < 0 ? "" : userText.slice(colon + 1),
  };
  // As curl's -x "": a direct connection, whatever -U, --noproxy and the environment say.
  if (proxy?.type === "none") return { proxy, credentialsOf: () => undefined };
  if (proxy !== undefined) {
    if (user !== undefined) Object.assign(proxy, user);
    const flag = given!.option === "proxy" ? "-x" : `--${given!.option}`;
    const from = user !== undefined
      ? "of -U"
      : proxy.username !== undefined
      ? `in the URL of ${flag}`
      : undefined;
    const credentialsOf = () => from;
    if (values.noproxy === undefined) return { proxy, credentialsOf };
    // As curl's --noproxy LIST: the hosts of LIST (the rules of NO_PROXY) connect directly.
    const direct = systemProxyFactory({
      all_proxy: "http://proxy.invalid",
      no_proxy: values.noproxy,
    });
    return { proxyFactory: (query) => direct(query).length === 0 ? [] : [proxy], credentialsOf };
  }
  const env = readEnv(values.noproxy);
  const credentialsOf = (url: URL) => {
    const name = variableOf(env, url.protocol.slice(0, -1));
    if (name === undefined) return undefined;
    if (user !== undefined) return "of -U";
    return hasUserinfo(env[name]!) ? `in ${name}` : undefined;
  };
  // Where curl and the library's system proxy agree, the manager keeps the system's, whose
  // routes it knows (a factory alone knows them, one request at a time).
  const upperHttp = readVariable("HTTP_PROXY")?.trim();
  if (
    user === undefined && values.noproxy === undefined && (!upperHttp || env.http_proxy?.trim())
  ) {
    return { credentialsOf };
  }
  const system = systemProxyFactory(env);
  const proxyFactory: ProxyFactory = user === undefined
    ? system
    : (query) => system(query).map((proxy) => ({ ...proxy, ...user }));
  // Its errors name the variable at fault, as the system's do.
  markSystemProxyFactory(proxyFactory);
  return { proxyFactory, credentialsOf };
}

/** A variable of the environment, `undefined` when unset or not permitted (never prompted). */
function readVariable(name: string): string | undefined {
  try {
    return envGranted(name) ? Deno.env.get(name) : undefined;
  } catch {
    return undefined;
  }
}

/** The proxy variables curl reads; `noproxy`, when given, in place of `no_proxy`. */
function readEnv(noproxy: string | undefined): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const name of PROXY_ENV) env[name] = readVariable(name);
  if (noproxy !== undefined) env.no_proxy = noproxy;
  else for (const name of NO_PROXY_ENV) env[name] = readVariable(name);
  return env;
}

/** The variable whose proxy a request of `scheme` goes through (before `no_proxy`). */
function variableOf(env: Record<string, string | undefined>, scheme: string): string | undefined {
  const names = scheme === "https" || scheme === "wss"
    ? ["https_proxy", "HTTPS_PROXY"]
    : scheme === "http" || scheme === "ws"
    ? ["http_proxy"]
    : [];
  return [...names, "all_proxy", "ALL_PROXY"].find((name) => env[name]?.trim());
}

/** Whether a proxy variable's URL carries a user name. */
function hasUserinfo(value: string): boolean {
  const text = value.trim();
  try {
    return new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`).username !== "";
  } catch {
    return false;
  }
}
