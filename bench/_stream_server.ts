/**
 * A loopback server whose every response is `size` bytes of 64 KiB chunks, produced only as the
 * client pulls them (no buffering ahead), for the streaming benchmarks.
 */
export function serveStream(size: number): Deno.HttpServer<Deno.NetAddr> {
  const chunk = new Uint8Array(64 * 1024).fill(7);
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    let sent = 0;
    return new Response(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= size) return controller.close();
          controller.enqueue(chunk);
          sent += chunk.byteLength;
        },
      }, { highWaterMark: 0 }),
    );
  });
}
