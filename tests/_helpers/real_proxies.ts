/**
 * The real proxies `.ci/proxies.sh` starts on loopback (tinyproxy for HTTP, dante for SOCKS5),
 * read from the environment (`NETACCESS_TINYPROXY_URL`, `NETACCESS_TINYPROXY_USER`,
 * `NETACCESS_TINYPROXY_PASSWORD`, and the same with `DANTE`) or, failing that, from the file the
 * script writes (`$NETACCESS_PROXIES_FILE`, default `/tmp/netaccess-proxies.env`).
 *
 * @module
 */

/** One real proxy: its URL (without credentials) and the credentials it accepts. */
export interface RealProxy {
  url: string;
  username: string;
  password: string;
}

/** What was found: each proxy, or why it is absent. */
export interface RealProxies {
  tinyproxy: RealProxy | undefined;
  dante: RealProxy | undefined;
  /** Why a proxy is absent, one line each. */
  problems: string[];
}

/** The default location of the file `.ci/proxies.sh` writes. */
export const DEFAULT_PROXIES_FILE = "/tmp/netaccess-proxies.env";

function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = /^\s*([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (match) out[match[1]!] = match[2]!.trim();
  }
  return out;
}

async function accepts(url: string): Promise<boolean> {
  const parsed = new URL(url);
  try {
    const conn = await Deno.connect({
      hostname: parsed.hostname,
      port: Number(parsed.port),
      signal: AbortSignal.timeout(2000),
    });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds the real proxies and checks that each accepts connections.
 *
 * @returns Each proxy, or a line in `problems` saying why it is absent.
 */
export async function loadRealProxies(): Promise<RealProxies> {
  const file = Deno.env.get("NETACCESS_PROXIES_FILE") ?? DEFAULT_PROXIES_FILE;
  let values: Record<string, string> = {};
  try {
    values = parseEnvFile(await Deno.readTextFile(file));
  } catch {
    // No file: the environment alone may have them.
  }
  const problems: string[] = [];
  const pick = async (name: "TINYPROXY" | "DANTE"): Promise<RealProxy | undefined> => {
    const get = (key: string) =>
      Deno.env.get(`NETACCESS_${name}_${key}`) ?? values[`NETACCESS_${name}_${key}`];
    const url = get("URL");
    const username = get("USER");
    const password = get("PASSWORD");
    if (!url || !username || password === undefined) {
      problems.push(
        `${name.toLowerCase()}: not configured (no NETACCESS_${name}_URL/_USER/_PASSWORD in the environment or in ${file}; run .ci/proxies.sh)`,
      );
      return undefined;
    }
    if (!await accepts(url)) {
      problems.push(`${name.toLowerCase()}: ${url} does not accept connections`);
      return undefined;
    }
    return { url, username, password };
  };
  return { tinyproxy: await pick("TINYPROXY"), dante: await pick("DANTE"), problems };
}
