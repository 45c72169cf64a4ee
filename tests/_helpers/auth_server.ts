/**
 * A loopback HTTP server that demands Basic or Digest authentication and verifies the
 * client's answer with its own computation (node:crypto), so tests check a client against
 * an implementation it shares no code with.
 */

import { Buffer } from "node:buffer";
import { createHash, randomBytes } from "node:crypto";

/** Options of {@linkcode startAuthServer}. */
export interface AuthServerOptions {
  /** The scheme demanded. */
  scheme: "basic" | "digest";
  /** The realm. Default `"netaccess test"`. */
  realm?: string;
  /** Accepted users: name to password. */
  users: Record<string, string>;
  /** Digest algorithm named in the challenge; `undefined` names none (MD5 implied). */
  algorithm?: "MD5" | "MD5-sess" | "SHA-256" | "SHA-256-sess" | "SHA-512-256" | "SHA-512-256-sess";
  /**
   * The qop offered (`"auth"`, `"auth-int"` or a list); `null` offers none (an RFC 2069
   * server). Default `"auth"`.
   */
  qop?: string | null;
  /** Whether the challenge says `userhash=true`. Default false. */
  userhash?: boolean;
  /** The opaque value; `null` sends none. Default a random string. */
  opaque?: string | null;
  /** Answer 407 with `Proxy-Authenticate` and read `Proxy-Authorization`. Default false. */
  proxy?: boolean;
  /** Only paths starting with this prefix are protected. Default `"/"`. */
  protectedPrefix?: string;
  /**
   * How a `-sess` algorithm's session key `H(H(user:realm:password):nonce:cnonce)` is made:
   * `"first"` computes it once per nonce, with the cnonce of the first accepted answer, and
   * verifies every later answer with that nonce against it (RFC 7616 section 3.4.2, as Apache's
   * mod_auth_digest keeps it); `"each"` computes it from each answer's own cnonce. Default
   * `"first"`.
   */
  sessionKey?: "first" | "each";
  /** A nonce turns stale after this many accepted uses. Default unlimited. */
  nonceUses?: number;
  /** Challenges sent before the server's own one (e.g. `Bearer realm="x"`). */
  extraChallenges?: string[];
  /** The `charset` param of a Basic challenge. Default `"UTF-8"`; `null` sends none. */
  charset?: string | null;
  /**
   * An accepted Digest answer with a qop gets an `Authentication-Info` (or, as a proxy,
   * `Proxy-Authentication-Info`) with the `rspauth` of RFC 7616 section 3.5: `"right"`, or
   * `"wrong"` (made with another password). Default none.
   */
  rspauth?: "right" | "wrong";
}

/** One request the server saw. */
export interface AuthLogEntry {
  method: string;
  path: string;
  authorization: string | null;
  status: number;
  /** `"ok"`, `"unprotected"`, `"missing"`, `"stale"`, or why the answer was refused. */
  outcome: string;
}

/** A running {@linkcode startAuthServer} server. */
export interface AuthServer extends AsyncDisposable {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** Every request, in order. */
  log: AuthLogEntry[];
  /** Makes every issued nonce stale: the next answer using one gets `stale=true`. */
  expireNonces(): void;
  /** The nonces issued so far. */
  nonces(): string[];
  /** Stops the server. */
  close(): Promise<void>;
}

const HASHES: Record<string, string> = {
  "md5": "md5",
  "sha-256": "sha256",
  "sha-512-256": "sha512-256",
};

function parseParams(text: string): Map<string, string> {
  const params = new Map<string, string>();
  const re = /([A-Za-z0-9_-]+\*?)\s*=\s*("((?:[^"\\]|\\.)*)"|[^,\s]*)\s*(?:,|$)/g;
  for (const match of text.matchAll(re)) {
    const name = match[1]!.toLowerCase();
    const value = match[3] !== undefined ? match[3].replace(/\\(.)/g, "$1") : match[2]!;
    if (!params.has(name)) params.set(name, value);
  }
  return params;
}

function decodeExtValue(value: string): string | undefined {
  const match = /^UTF-8''(.*)$/i.exec(value);
  if (match === null) return undefined;
  try {
    return decodeURIComponent(match[1]!);
  } catch {
    return undefined;
  }
}

/**
 * Starts the server on 127.0.0.1 with a free port.
 *
 * @param options What to demand.
 * @returns The running server.
 */
export function startAuthServer(options: AuthServerOptions): AuthServer {
  const realm = options.realm ?? "netaccess test";
  const qop = options.qop === undefined ? "auth" : options.qop;
  const opaque = options.opaque === undefined ? randomBytes(12).toString("base64") : options.opaque;
  const prefix = options.protectedPrefix ?? "/";
  const proxy = options.proxy === true;
  const log: AuthLogEntry[] = [];
  const sessionKey = options.sessionKey ?? "first";
  /** nonce -> { uses, highest nc seen, stale, the session key made at its first accepted use } */
  const nonces = new Map<
    string,
    { uses: number; lastNc: number; stale: boolean; session?: { user: string; ha1: string } }
  >();

  const algorithm = options.algorithm ?? "MD5";
  const hashName = HASHES[algorithm.toLowerCase().replace(/-sess$/, "")]!;
  const H = (text: string) => createHash(hashName).update(Buffer.from(text, "utf8")).digest("hex");

  const challengeHeader = (stale: boolean): string => {
    if (options.scheme === "basic") {
      const charset = options.charset === undefined ? "UTF-8" : options.charset;
      return `Basic realm="${realm}"${charset === null ? "" : `, charset="${charset}"`}`;
    }
    const nonce = randomBytes(18).toString("base64");
    nonces.set(nonce, { uses: 0, lastNc: 0, stale: false });
    const parts = [`realm="${realm}"`];
    if (qop !== null) parts.push(`qop="${qop}"`);
    if (options.algorithm !== undefined) parts.push(`algorithm=${options.algorithm}`);
    parts.push(`nonce="${nonce}"`);
    if (opaque !== null) parts.push(`opaque="${opaque}"`);
    if (stale) parts.push("stale=true");
    if (options.userhash) parts.push("userhash=true");
    return `Digest ${parts.join(", ")}`;
  };

  const verifyBasic = (authorization: string): { user?: string; outcome: string } => {
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
    if (match === null) return { outcome: "not-basic" };
    const text = Buffer.from(match[1]!, "base64").toString("utf8");
    const colon = text.indexOf(":");
    if (colon < 0) return { outcome: "no-colon" };
    const user = text.slice(0, colon);
    if (!(user in options.users) || options.users[user] !== text.slice(colon + 1)) {
      return { outcome: "bad-credentials" };
    }
    return { user, outcome: "ok" };
  };

  const verifyDigest = (
    authorization: string,
    method: string,
    target: string,
    absolute: string,
    body: Uint8Array,
  ): { user?: string; outcome: string; info?: string } => {
    const match = /^Digest\s+(.*)$/is.exec(authorization);
    if (match === null) return { outcome: "not-digest" };
    const p = parseParams(match[1]!);
    if (p.get("realm") !== realm) return { outcome: "bad-realm" };
    const uri = p.get("uri");
    if (uri !== target && !(proxy && uri === absolute)) return { outcome: "bad-uri" };
    const nonce = p.get("nonce") ?? "";
    const state = nonces.get(nonce);
    if (state === undefined) return { outcome: "unknown-nonce" };
    if (options.algorithm === undefined) {
      if (p.has("algorithm") && p.get("algorithm")!.toUpperCase() !== "MD5") {
        return { outcome: "bad-algorithm" };
      }
    } else if (p.get("algorithm") !== options.algorithm) return { outcome: "bad-algorithm" };
    if (opaque !== null && p.get("opaque") !== opaque) return { outcome: "bad-opaque" };
    // Who is it?
    let user: string | undefined;
    if (options.userhash) {
      if (p.get("userhash") !== "true") return { outcome: "no-userhash" };
      user = Object.keys(options.users).find((name) => H(`${name}:${realm}`) === p.get("username"));
    } else if (p.has("username*")) {
      user = decodeExtValue(p.get("username*")!);
    } else {
      user = p.get("username");
    }
    if (user === undefined || !(user in options.users)) return { outcome: "unknown-user" };
    const password = options.users[user]!;
    const cnonce = p.get("cnonce") ?? "";
    const ncText = p.get("nc") ?? "";
    let ha1 = H(`${user}:${realm}:${password}`);
    const sess = algorithm.endsWith("-sess");
    if (sess) {
      const kept = sessionKey === "first" && state.session?.user === user
        ? state.session
        : undefined;
      ha1 = kept?.ha1 ?? H(`${ha1}:${nonce}:${cnonce}`);
    }
    const ha2 = H(`${method}:${uri}`);
    let expected: string;
    let nc = 0;
    if (qop === null) {
      if (p.has("qop") || p.has("nc") || p.has("cnonce")) return { outcome: "unexpected-qop" };
      expected = H(`${ha1}:${nonce}:${ha2}`);
    } else {
      const used = p.get("qop") ?? "";
      if (!qop.split(",").map((q) => q.trim()).includes(used)) return { outcome: "bad-qop" };
      if (!/^[0-9a-f]{8}$/.test(ncText) || cnonce === "") return { outcome: "bad-nc-or-cnonce" };
      nc = parseInt(ncText, 16);
      const ha2Used = used === "auth-int"
        ? H(`${method}:${uri}:${createHash(hashName).update(body).digest("hex")}`)
        : ha2;
      expected = H(`${ha1}:${nonce}:${ncText}:${cnonce}:${used}:${ha2Used}`);
    }
    if (p.get("response") !== expected) return { outcome: "bad-response" };
    if (state.stale) return { outcome: "stale" };
    if (qop !== null) {
      if (nc <= state.lastNc) return { outcome: "nc-replay" };
      state.lastNc = nc;
    }
    state.uses++;
    if (sess && sessionKey === "first") state.session ??= { user, ha1 };
    if (options.nonceUses !== undefined && state.uses >= options.nonceUses) state.stale = true;
    if (options.rspauth === undefined || qop === null) return { user, outcome: "ok" };
    // The response digest with an empty method: A2 is ":" uri.
    const key = options.rspauth === "right" ? ha1 : H(`${user}:${realm}:not-${password}`);
    const used = p.get("qop")!;
    const rspauth = H(`${key}:${nonce}:${ncText}:${cnonce}:${used}:${H(`:${uri}`)}`);
    const info = `rspauth="${rspauth}", cnonce="${cnonce}", nc=${ncText}, qop=${used}`;
    return { user, outcome: "ok", info };
  };

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      const body = await request.bytes();
      const url = new URL(request.url);
      const target = url.pathname + url.search;
      const authorization = request.headers.get(proxy ? "proxy-authorization" : "authorization");
      const record = (status: number, outcome: string) => {
        log.push({ method: request.method, path: target, authorization, status, outcome });
      };
      if (!url.pathname.startsWith(prefix)) {
        record(200, "unprotected");
        return new Response("open");
      }
      let result: { user?: string; outcome: string; info?: string } = { outcome: "missing" };
      if (authorization !== null) {
        result = options.scheme === "basic"
          ? verifyBasic(authorization)
          : verifyDigest(authorization, request.method, target, url.href, body);
      }
      if (result.outcome === "ok") {
        record(200, "ok");
        const headers = new Headers({ "x-auth-user": result.user! });
        if (result.info !== undefined) {
          headers.set(proxy ? "proxy-authentication-info" : "authentication-info", result.info);
        }
        return new Response(`hello ${result.user}`, { headers });
      }
      const status = proxy ? 407 : 401;
      record(status, result.outcome);
      const headers = new Headers({ "content-type": "text/plain" });
      const name = proxy ? "proxy-authenticate" : "www-authenticate";
      for (const extra of options.extraChallenges ?? []) headers.append(name, extra);
      headers.append(name, challengeHeader(result.outcome === "stale"));
      return new Response(`denied: ${result.outcome}`, { status, headers });
    },
  );

  let closed: Promise<void> | undefined;
  const close = () => (closed ??= server.shutdown());
  return {
    origin: `http://127.0.0.1:${server.addr.port}`,
    log,
    expireNonces() {
      for (const state of nonces.values()) state.stale = true;
    },
    nonces: () => [...nonces.keys()],
    close,
    [Symbol.asyncDispose]: close,
  };
}
