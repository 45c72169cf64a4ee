// Run by tests/_permission_gate_test.ts with --allow-net=<origin>,<proxy> and --no-prompt.
// Sends to the origin directly and through the proxy, revokes the `net` permission as a whole
// (which tells no status of a single host), and sends again. Prints one JSON object: each
// reply's error and message, and anything rejected unhandled.
import { NetworkAccessManager } from "../../../mod.ts";

const [origin, proxyUrl] = Deno.args as [string, string];
const rejections: string[] = [];
globalThis.addEventListener("unhandledrejection", (event) => {
  rejections.push(String(event.reason));
  event.preventDefault();
});
const results: Record<string, unknown> = {};
async function outcome(reply: ReturnType<NetworkAccessManager["get"]>) {
  const body = await reply.text().catch(() => null);
  return { error: reply.error, errorString: reply.errorString, body };
}
await using direct = new NetworkAccessManager();
await using proxied = new NetworkAccessManager({ proxy: { type: "http", url: proxyUrl } });
results.direct = await outcome(direct.get(`${origin}/a`));
results.proxied = await outcome(proxied.get(`${origin}/b`));
await Deno.permissions.revoke({ name: "net" });
results.proxiedRevoked = await outcome(proxied.get(`${origin}/c`));
results.directRevoked = await outcome(direct.get(`${origin}/d`));
results.directAgain = await outcome(direct.get(`${origin}/e`));
results.rejections = rejections;
console.log(JSON.stringify(results));
