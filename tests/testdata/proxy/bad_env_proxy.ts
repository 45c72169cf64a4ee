// Run by tests/manager_proxy_test.ts with a malformed HTTP_PROXY in its environment.
// Prints one JSON object: the outcome of one request, by how the manager's proxy was set.
import { NetworkAccessManager, type NetworkAccessManagerOptions } from "../../../mod.ts";

const [url] = Deno.args;
const results: Record<string, unknown> = {};
const settings: [string, NetworkAccessManagerOptions][] = [
  ["default", {}],
  ["none", { proxy: { type: "none" } }],
];
for (const [name, options] of settings) {
  await using manager = new NetworkAccessManager(options);
  const reply = manager.get(url!);
  const body = await reply.text().catch(() => null);
  results[name] = { body, error: reply.error, errorString: reply.errorString };
}
console.log(JSON.stringify(results));
