// Run by tests/proxy/network_proxy_test.ts with HTTP_PROXY in its environment: the factory reads
// the proxy variables at its first query and keeps them, until the env permission changes.
import { systemProxyFactory } from "../../../mod.ts";

const factory = systemProxyFactory();
const query = { url: new URL("http://example.test/"), scheme: "http", host: "example.test", port: 80 };
const ask = () => factory(query).map((p) => p.url ?? p.type);
const first = ask();
Deno.env.set("HTTP_PROXY", "http://127.0.0.1:8888");
const later = ask();
const fresh = systemProxyFactory()(query).map((p) => p.url ?? p.type);
Deno.permissions.revokeSync({ name: "env" });
const revoked = ask();
console.log(JSON.stringify({ first, later, fresh, revoked }));
