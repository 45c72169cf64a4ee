// Run by tests/manager_proxy_test.ts with http_proxy and no_proxy set in its environment.
// Prints one JSON object: the body of each request, by how the manager's proxy was set.
import { NetworkAccessManager, type NetworkAccessManagerOptions } from "../../../mod.ts";

const [proxied, bypassed] = Deno.args;
const results: Record<string, unknown> = {};
const settings: [string, NetworkAccessManagerOptions][] = [
  ["default", {}],
  ["system", { proxy: { type: "system" } }],
  ["none", { proxy: { type: "none" } }],
];
for (const [name, options] of settings) {
  await using manager = new NetworkAccessManager(options);
  const reply = manager.get(proxied!);
  const body = await reply.text().catch(() => null);
  results[name] = { body, error: reply.error, bypassed: await manager.get(bypassed!).text() };
}
console.log(JSON.stringify(results));
