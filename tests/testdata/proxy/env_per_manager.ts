// Run by tests/manager_proxy_test.ts with no proxy variable in its environment. A manager reads
// the proxy variables once: one made before HTTP_PROXY is set stays direct, one made after it
// goes through the proxy, and a revoked `env` permission makes both read them again (unset).
// Prints the body of each request, by the name of its step.
import { NetworkAccessManager } from "../../../mod.ts";

const [base, proxyUrl] = Deno.args;
const results: Record<string, string | null> = {};
const get = async (manager: NetworkAccessManager, step: string) => {
  results[step] = await manager.get(`${base}/${step}`).text().catch(() => null);
};
await using before = new NetworkAccessManager();
await get(before, "before");
Deno.env.set("HTTP_PROXY", proxyUrl!);
await using after = new NetworkAccessManager();
await get(after, "after");
await get(before, "before-again");
Deno.permissions.revokeSync({ name: "env" });
await get(after, "after-revoked");
console.log(JSON.stringify(results));
