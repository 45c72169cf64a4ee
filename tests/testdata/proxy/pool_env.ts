// Run by tests/proxy/network_proxy_test.ts with HTTP_PROXY, ALL_PROXY and NO_PROXY set in its
// environment from the start. Args: an http proxy's URL, a URL to fetch through it (a host that
// NO_PROXY names), and a URL to fetch directly. Prints one JSON object.
import { _ProxyClientPool } from "../../../src/_proxy_client.ts";

const [proxyUrl, viaUrl, directUrl] = Deno.args;
const pool = new _ProxyClientPool();
try {
  const through = pool.get({ type: "http", url: proxyUrl! });
  const via = await (await fetch(viaUrl!, { client: through })).text();
  const direct = pool.get({ type: "none" });
  const straight = await (await fetch(directUrl!, { client: direct })).text();
  console.log(JSON.stringify({
    via,
    direct: straight,
    directClient: direct !== undefined,
    // The variables as they are once the clients are made.
    after: { HTTP_PROXY: Deno.env.get("HTTP_PROXY"), NO_PROXY: Deno.env.get("NO_PROXY") },
  }));
} finally {
  pool.clear();
}
