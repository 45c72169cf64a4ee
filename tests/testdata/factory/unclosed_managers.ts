// Run by tests/factory_test.ts with --v8-flags=--expose-gc: makes managers from one factory that
// each send a request and are never closed, lets go of them, collects, and prints one JSON
// object: how many were made, how many the collector freed, how many the factory still counts
// as open, and whether closing the factory then went well.
import { KvNetworkAccessManagerFactory } from "../../../mod.ts";

const COUNT = 50;
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response("ok"));
const url = `http://127.0.0.1:${server.addr.port}/`;
const factory = await KvNetworkAccessManagerFactory.open({ path: ":memory:", hsts: true });
let collected = 0;
const registry = new FinalizationRegistry(() => collected++);

async function useAndForget(partition: string): Promise<void> {
  const manager = factory.create({ partition });
  registry.register(manager, undefined);
  if ((await manager.get(url).text()) !== "ok") throw new Error("unexpected body");
}

for (let i = 0; i < COUNT; i++) await useAndForget(`user:${i}`);
const gc = (globalThis as { gc?: () => void }).gc!;
for (let round = 0; round < 10 && collected < COUNT; round++) {
  gc();
  // Finalization callbacks run in a task of their own.
  await new Promise((resolve) => setTimeout(resolve, 20));
}
const open = factory.openManagers;
// One still held is closed with the factory.
const held = factory.create();
await factory.close();
const late = held.get(url);
await late.finished;
const heldClosed = late.error !== 0;
await server.shutdown();
console.log(JSON.stringify({ made: COUNT, collected, open, heldClosed }));
