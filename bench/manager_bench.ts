/**
 * The manager's overhead over plain `fetch` on loopback: one request of 1 KiB and of 1 MiB,
 * and 24 concurrent requests to one origin. Each group reports the manager against `fetch`
 * (the baseline) in the same process.
 *
 * Run: `npx --yes deno@2.9.6 bench -A bench/manager_bench.ts`
 */

import { NetworkAccessManager } from "../mod.ts";

const KIB = new Uint8Array(1024).fill(1);
const MIB = new Uint8Array(1024 * 1024).fill(2);
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
  return new Response(new URL(request.url).pathname === "/mib" ? MIB : KIB);
});
const base = `http://127.0.0.1:${server.addr.port}`;
const manager = new NetworkAccessManager();

for (const [name, path] of [["1 KiB", "/kib"], ["1 MiB", "/mib"]] as const) {
  Deno.bench(`fetch ${name}`, { group: name, baseline: true }, async () => {
    await (await fetch(base + path)).bytes();
  });
  Deno.bench(`manager.get ${name}`, { group: name }, async () => {
    await manager.get(base + path).bytes();
  });
}

Deno.bench("fetch x24 concurrent", { group: "24 concurrent 1 KiB", baseline: true }, async () => {
  await Promise.all(Array.from({ length: 24 }, async () => (await fetch(base + "/kib")).bytes()));
});
Deno.bench(
  "manager.get x24 concurrent (6 per host)",
  { group: "24 concurrent 1 KiB" },
  async () => {
    await Promise.all(Array.from({ length: 24 }, () => manager.get(base + "/kib").bytes()));
  },
);

globalThis.addEventListener("unload", () => {
  manager.close();
  server.shutdown();
});
