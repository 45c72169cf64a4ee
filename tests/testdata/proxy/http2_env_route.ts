// An HTTP/2 origin's answer learned directly, then the environment names a proxy (as when the
// `env` permission is granted later): the proxy takes the origin's name to an HTTP/1.1 server on
// 127.0.0.2. Prints the peaks of both servers, before and after.
import { NetworkAccessManager, NetworkError } from "../../../mod.ts";
import { forgetProxyEnv } from "../../../src/proxy/system_proxy.ts";
import { startProxyServer } from "../../_helpers/proxy_server.ts";
import { certs, holdingServer, http1Server } from "../../_helpers/h2_servers.ts";

await using h2 = holdingServer(8, 300);
await using h1 = http1Server(Number(new URL(h2.url).port), 200, "127.0.0.2");
await using proxy = startProxyServer({ hosts: { "127.0.0.1": "127.0.0.2" } });
await using manager = new NetworkAccessManager({ caCerts: [certs.caCert], maxConnectionsPerHost: 2 });
const getAll = async () => {
  const replies = Array.from({ length: 8 }, () => manager.get(h2.url));
  await Promise.all(replies.map((reply) => reply.finished));
  return replies.every((reply) => reply.error === NetworkError.NoError);
};
const direct = { ok: await getAll(), h2: h2.peak, h1: h1.peak };
Deno.env.set("HTTPS_PROXY", proxy.url);
forgetProxyEnv();
const proxied = { ok: await getAll(), h2: h2.peak, h1: h1.peak, tunnels: proxy.log.length };
console.log(JSON.stringify({ direct, proxied }));
