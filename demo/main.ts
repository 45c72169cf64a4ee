/**
 * The netaccess demo: starts a loopback server, downloads a few MiB through the manager with a
 * live progress line on stderr, uploads a streamed body with upload progress, then shows a
 * cache hit, cookies kept across requests, offline mode answered from the cache, and errors as
 * data. It prints what happened.
 *
 * Run: `npx --yes deno@2.9.6 task demo`
 *
 * @module
 */

import {
  MemoryCache,
  NetworkAccessManager,
  NetworkError,
  type NetworkProgressEvent,
  type NetworkReply,
} from "../mod.ts";

const MIB = 1024 * 1024;
const DOWNLOAD = 8 * MIB;
const UPLOAD = 4 * MIB;
const encoder = new TextEncoder();

const served = { news: 0 };

function origin(): { url: string; close: () => Promise<void> } {
  const controller = new AbortController();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    onListen() {},
  }, async (request) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/big.bin") {
      const block = new Uint8Array(256 * 1024).fill(42);
      let sent = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          async pull(stream) {
            if (sent >= DOWNLOAD) return stream.close();
            await new Promise((resolve) => setTimeout(resolve, 15)); // a visible pace
            sent += block.byteLength;
            stream.enqueue(block);
          },
        }, { highWaterMark: 0 }),
        {
          headers: {
            "content-length": String(DOWNLOAD),
            "content-type": "application/octet-stream",
          },
        },
      );
    }
    if (pathname === "/news") {
      served.news++;
      return new Response(`headlines #${served.news}`, {
        headers: { "cache-control": "max-age=60", "content-type": "text/plain" },
      });
    }
    if (pathname === "/login") {
      return new Response("welcome", {
        headers: { "set-cookie": "session=s3cr3t; Path=/; HttpOnly" },
      });
    }
    if (pathname === "/me") {
      return new Response(`you sent: ${request.headers.get("cookie") ?? "no cookie"}`);
    }
    if (pathname === "/upload") {
      let size = 0;
      for await (const chunk of request.body ?? []) size += chunk.byteLength;
      return Response.json({ received: size });
    }
    return new Response("not found", { status: 404 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    close: async () => {
      controller.abort();
      await server.finished;
    },
  };
}

function progressLine(label: string): (event: Event) => void {
  return (event) => {
    const { loaded, total } = event as NetworkProgressEvent;
    const percent = total > 0 ? ` ${((loaded / total) * 100).toFixed(0).padStart(3)}%` : "";
    const bar = total > 0 ? `[${"#".repeat(Math.round((loaded / total) * 30)).padEnd(30)}]` : "";
    Deno.stderr.writeSync(
      encoder.encode(`\r${label} ${bar}${percent} ${(loaded / MIB).toFixed(2)} MiB`),
    );
  };
}

function outcome(reply: NetworkReply): string {
  return reply.error === NetworkError.NoError
    ? `HTTP ${reply.status}`
    : `error ${reply.error}: ${reply.errorString}`;
}

/** A request body produced piece by piece, sent as it is produced. */
async function* body() {
  for (let sent = 0; sent < UPLOAD; sent += 256 * 1024) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    yield new Uint8Array(256 * 1024);
  }
}

const server = origin();
await using manager = new NetworkAccessManager({
  transferTimeout: 10_000,
  cache: new MemoryCache(), // or: await KvCache.open({ path: "state.sqlite3" })
});
try {
  // 1. A download, streamed through the async iterator, with a live progress line.
  const started = performance.now();
  const download = manager.get(`${server.url}/big.bin`);
  download.addEventListener("downloadprogress", progressLine("download"));
  let received = 0;
  for await (const chunk of download) received += chunk.byteLength;
  await download.finished;
  const seconds = (performance.now() - started) / 1000;
  Deno.stderr.writeSync(encoder.encode("\n"));
  console.log(
    `GET  ${download.url.pathname}: ${outcome(download)}, ${(received / MIB).toFixed(1)} MiB in ` +
      `${seconds.toFixed(2)} s (${(received / MIB / seconds).toFixed(1)} MiB/s)`,
  );

  // 2. An upload of a streamed body, with upload progress.
  const upload = manager.post(`${server.url}/upload`, body());
  upload.addEventListener("uploadprogress", progressLine("upload  "));
  const echoed = await upload.json() as { received: number };
  Deno.stderr.writeSync(encoder.encode("\n"));
  console.log(
    `POST ${upload.url.pathname}: ${outcome(upload)}, the server received ${
      (echoed.received / MIB).toFixed(1)
    } MiB`,
  );

  // 3. The HTTP cache: the second request is answered without the network.
  const first = manager.get(`${server.url}/news`);
  const firstText = await first.text();
  const second = manager.get(`${server.url}/news`);
  const secondText = await second.text();
  console.log(
    `GET  /news twice: "${firstText}" (fromCache ${first.fromCache}), "${secondText}" ` +
      `(fromCache ${second.fromCache}); the server answered ${served.news} time(s)`,
  );

  // 4. Cookies: the jar keeps what /login set and sends it to /me.
  await manager.get(`${server.url}/login`).finished;
  console.log(`GET  /me after /login: ${await manager.get(`${server.url}/me`).text()}`);

  // 5. Offline: with network access off, the cache still answers and the rest fails at once.
  manager.networkAccessible = "not-accessible";
  const cached = manager.get(`${server.url}/news`, { cacheLoadControl: "prefer-cache" });
  const offlineText = await cached.text();
  console.log(`GET  /news offline: "${offlineText}" (fromCache ${cached.fromCache})`);
  const uncached = manager.get(`${server.url}/big.bin`);
  await uncached.finished;
  console.log(`GET  /big.bin offline: error ${uncached.error}: ${uncached.errorString}`);
  manager.networkAccessible = "accessible";

  // 6. Errors are data on the reply, never exceptions.
  const missing = manager.get(`${server.url}/missing`);
  await missing.finished;
  console.log(
    `GET  /missing: error ${missing.error} (${
      Object.entries(NetworkError).find(([, v]) => v === missing.error)?.[0]
    })`,
  );
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const refused = manager.get(`http://127.0.0.1:${closedPort}/`);
  await refused.finished;
  console.log(`GET  a closed port: error ${refused.error}: ${refused.errorString}`);
} finally {
  await manager.close();
  await server.close();
}
