/**
 * Streaming and HTTP/2 against plain `fetch`, in `deno bench`'s groups (the baseline first):
 * 64 MiB read through `for await (const chunk of reply)` against `response.body`, and 30
 * concurrent requests to a local HTTP/2 (TLS) origin that answers after 50 ms. `bench/report.ts`
 * measures the same in alternating rounds, with 256 MiB and the growth of the resident set.
 *
 * Run: `npx --yes deno@2.9.6 bench -A bench/stream_bench.ts`
 */

import { NetworkAccessManager } from "../mod.ts";
import { makeTestCertificates } from "../tests/_helpers/tls.ts";
import { serveStream } from "./_stream_server.ts";

const SIZE = 64 * 1024 * 1024;
const plain = serveStream(SIZE);
const streamUrl = `http://127.0.0.1:${plain.addr.port}/stream`;

const { caCert, cert, key } = await makeTestCertificates();
const tls = Deno.serve({ hostname: "127.0.0.1", port: 0, cert, key, onListen() {} }, async () => {
  await new Promise((resolve) => setTimeout(resolve, 50));
  return new Response("x".repeat(1024));
});
const h2Url = `https://127.0.0.1:${tls.addr.port}/h2`;
const client = Deno.createHttpClient({ caCerts: [caCert] });
const manager = new NetworkAccessManager({ caCerts: [caCert] });

Deno.bench("response.body 64 MiB", { group: "64 MiB stream", baseline: true }, async () => {
  const reader = (await fetch(streamUrl)).body!.getReader();
  let size = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.byteLength;
  }
  if (size !== SIZE) throw new Error(`read ${size} bytes`);
});
Deno.bench("reply iterator 64 MiB", { group: "64 MiB stream" }, async () => {
  let size = 0;
  for await (const chunk of manager.get(streamUrl)) size += chunk.byteLength;
  if (size !== SIZE) throw new Error(`read ${size} bytes`);
});

Deno.bench("fetch x30 HTTP/2", { group: "30 concurrent HTTP/2", baseline: true }, async () => {
  await Promise.all(
    Array.from({ length: 30 }, async () => await (await fetch(h2Url, { client })).bytes()),
  );
});
Deno.bench("manager.get x30 HTTP/2", { group: "30 concurrent HTTP/2" }, async () => {
  await Promise.all(Array.from({ length: 30 }, () => manager.get(h2Url).bytes()));
});

globalThis.addEventListener("unload", () => {
  manager.close();
  client.close();
  plain.shutdown();
  tls.shutdown();
});
