// Run by tests/_permission_gate_test.ts with --v8-flags=--expose-gc: makes managers that each
// send a request and are never closed, lets go of them, collects, and prints one JSON object:
// how many were made, how many the collector freed, and how many callbacks the net permission's
// status keeps after 1,000 more such managers, made 100 at a time with collections between.
import { NetworkAccessManager } from "../../../mod.ts";
import { _watcherCount } from "../../../src/_permission_gate.ts";

const COUNT = 50;
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response("ok"));
const url = `http://127.0.0.1:${server.addr.port}/`;
let collected = 0;
const registry = new FinalizationRegistry(() => collected++);

async function useAndForget(): Promise<void> {
  const manager = new NetworkAccessManager();
  registry.register(manager, undefined);
  // Reading it watches the net permission as a whole; the request, the host's own status.
  void manager.networkAccessible;
  if ((await manager.get(url).text()) !== "ok") throw new Error("unexpected body");
}

for (let i = 0; i < COUNT; i++) await useAndForget();
const gc = (globalThis as { gc?: () => void }).gc!;
for (let round = 0; round < 10 && collected < COUNT; round++) {
  gc();
  // Finalization callbacks run in a task of their own.
  await new Promise((resolve) => setTimeout(resolve, 20));
}
for (let batch = 0; batch < 10; batch++) {
  for (let i = 0; i < 100; i++) void new NetworkAccessManager().networkAccessible;
  gc();
  await new Promise((resolve) => setTimeout(resolve, 0));
}
const kept = _watcherCount(Deno.permissions.querySync({ name: "net" }));
await server.shutdown();
console.log(JSON.stringify({ made: COUNT, collected, kept }));
