// Queues requests behind one busy slot, in a process of its own, and prints as JSON the JavaScript
// heap each waiting request holds (measured after full collections). The requests are made from a
// URL alone, or with a header of their own (`init`: `get(url, { headers })`; `request`:
// `get(new NetworkRequest(url, { headers }))`).
// Usage: deno run -A --v8-flags=--expose-gc queued_memory.ts <count> [url|init|request]
import { NetworkAccessManager, NetworkRequest } from "../../mod.ts";

const count = Number(Deno.args[0] ?? "20000");
const kind = Deno.args[1] ?? "url";
if (!["url", "init", "request"].includes(kind)) throw new Error(`unknown kind ${kind}`);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");
// A transport that never answers: the first request keeps the slot, every other one waits.
const hang = ({ signal }: { signal: AbortSignal }) =>
  new Promise<Response>((_, reject) => {
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
const manager = new NetworkAccessManager({ transport: hang, maxConnectionsPerHost: 1 });
const page = "http://queue.test/page";
const headers = { "x-a": "1" };
const get = kind === "url"
  ? () => manager.get(page)
  : kind === "init"
  ? () => manager.get(page, { headers })
  : () => manager.get(new NetworkRequest(page, { headers }));
const warm = Array.from({ length: 1000 }, get);
for (const reply of warm) reply.abort();
await Promise.all(warm.map((reply) => reply.finished));
const first = manager.get("http://queue.test/page");
const replies: { abort(): void }[] = new Array(count);
gc();
gc();
const before = Deno.memoryUsage().heapUsed;
for (let i = 0; i < count; i++) replies[i] = get();
gc();
gc();
const after = Deno.memoryUsage().heapUsed;
const waiting = manager.queue.waiting("http://queue.test");
for (const reply of replies) reply.abort();
first.abort();
await manager.close();
console.log(JSON.stringify({ waiting, bytesPerRequest: Math.round((after - before) / count) }));
