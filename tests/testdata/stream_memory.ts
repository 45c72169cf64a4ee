// Streams a large body through a NetworkReply in a process of its own and prints, as JSON,
// how much the resident set grew. Usage: deno run -A stream_memory.ts <MiB> [reply|fetch]
import { NetworkAccessManager } from "../../mod.ts";

const MIB = 1024 * 1024;
const total = Number(Deno.args[0] ?? "64") * MIB;
const block = new Uint8Array(256 * 1024).fill(7);
const controller = new AbortController();
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen() {} }, () => {
  let sent = 0;
  return new Response(
    new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent >= total) return c.close();
        sent += block.byteLength;
        c.enqueue(block);
      },
    }, { highWaterMark: 0 }),
    { headers: { "content-length": String(total) } },
  );
});
const manager = new NetworkAccessManager();
const before = Deno.memoryUsage().rss;
let peak = before;
let size = 0;
let chunks = 0;
// "fetch" reads the same body from `response.body`, the baseline.
const url = `http://127.0.0.1:${server.addr.port}/big`;
const body = Deno.args[1] === "fetch" ? (await fetch(url)).body! : manager.get(url);
for await (const chunk of body) {
  size += chunk.byteLength;
  if (++chunks % 16 === 0) peak = Math.max(peak, Deno.memoryUsage().rss);
}
await manager.close();
controller.abort();
await server.finished;
console.log(JSON.stringify({ size, grownMiB: (peak - before) / MIB }));
