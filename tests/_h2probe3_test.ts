import http2 from "node:http2";
import { NetworkAccessManager } from "../mod.ts";
import { certs } from "./_helpers/h2_servers.ts";

Deno.test("P3b max concurrent streams 1 with transferTimeout", async () => {
  let inFlight = 0, peak = 0, count = 0;
  const server = http2.createSecureServer({ cert: certs.cert, key: certs.key, settings: { maxConcurrentStreams: 1 } });
  server.on("stream", (stream) => {
    stream.on("error", () => {});
    inFlight++; count++; peak = Math.max(peak, inFlight);
    setTimeout(() => { inFlight--; stream.respond({ ":status": 200 }); stream.end("ok"); }, 100);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  try {
    await using manager = new NetworkAccessManager({ caCerts: [certs.caCert], maxConnectionsPerHost: 2, transferTimeout: 500 });
    const rs = Array.from({ length: 20 }, () => manager.get(`https://127.0.0.1:${port}/`));
    await Promise.all(rs.map((r) => r.finished));
    console.log("P3b", rs.map((r) => r.error).join(","), "peak", peak, "count", count, rs.find((r) => r.error)?.errorString);
  } finally {
    await new Promise((r) => server.close(r));
  }
});
