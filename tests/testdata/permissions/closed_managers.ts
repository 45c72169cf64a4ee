// Run by tests/_permission_gate_test.ts with --v8-flags=--expose-gc: makes and closes managers one
// at a time, a task apart (as a server that makes one per request), then runs minor collections
// only, and prints one JSON object: the heap each closed manager still takes, in bytes.
import { NetworkAccessManager } from "../../../mod.ts";

const gc = (globalThis as unknown as { gc: (options?: { type: string }) => void }).gc;
const COUNT = 1000;
for (let i = 0; i < 100; i++) await new NetworkAccessManager().close();
gc();
const before = Deno.memoryUsage().heapUsed;
for (let i = 0; i < COUNT; i++) {
  await new NetworkAccessManager().close();
  await new Promise((resolve) => setTimeout(resolve, 0));
}
gc({ type: "minor" });
gc({ type: "minor" });
console.log(JSON.stringify({ perManager: Math.round((Deno.memoryUsage().heapUsed - before) / COUNT) }));
