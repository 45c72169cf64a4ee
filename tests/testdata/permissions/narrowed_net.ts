// Run by tests/_permission_gate_test.ts with --allow-net=127.0.0.1:<origin port> and nothing else.
// Prints one JSON object: what each request ended with, the accessibility events, and
// anything thrown or rejected unhandled.
import { NetworkAccessManager, type NetworkAccessibleChangedEvent } from "../../../mod.ts";

const [originPort, proxyPort, closedPort] = Deno.args.map(Number);
const origin = `http://127.0.0.1:${originPort}`;
const rejections: string[] = [];
globalThis.addEventListener("unhandledrejection", (event) => {
  rejections.push(String(event.reason));
  event.preventDefault();
});

const results: Record<string, unknown> = {};
const events: string[] = [];
await using manager = new NetworkAccessManager();
manager.addEventListener("networkaccessiblechanged", (e) => {
  events.push((e as NetworkAccessibleChangedEvent).networkAccessible);
});
results.accessibleAtStart = manager.networkAccessible;

async function outcome(reply: ReturnType<NetworkAccessManager["get"]>) {
  const body = await reply.text().catch(() => null);
  return { error: reply.error, errorString: reply.errorString, status: reply.status, body };
}

results.allowed = await outcome(manager.get(`${origin}/allowed`));
results.otherPort = await outcome(manager.get(`http://127.0.0.1:${closedPort}/`));
results.otherName = await outcome(manager.get(`http://localhost:${originPort}/`));
results.file = await outcome(manager.get(new URL(import.meta.url)));
{
  await using proxied = new NetworkAccessManager({
    proxy: { type: "http", url: `http://127.0.0.1:${proxyPort}`, username: "u", password: "pw-secret" },
  });
  results.proxy = await outcome(proxied.get(`${origin}/via-proxy`));
}
{
  await using asking = new NetworkAccessManager({ requestPermissions: true });
  results.requested = await outcome(asking.get(`http://127.0.0.1:${closedPort}/asked`));
}
results.allowedAgain = await outcome(manager.get(`${origin}/again`));
results.accessibleBeforeRevoke = manager.networkAccessible;
results.eventsBeforeRevoke = [...events];
await Deno.permissions.revoke({ name: "net", host: `127.0.0.1:${originPort}` });
results.revoked = await outcome(manager.get(`${origin}/revoked`));
results.accessibleAtEnd = manager.networkAccessible;
results.events = events;
results.rejections = rejections;
console.log(JSON.stringify(results));
