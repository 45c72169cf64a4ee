// Run by tests/proxy/network_proxy_test.ts with --allow-net=127.0.0.1 and --v8-flags=--expose-gc:
// makes managers that each send a request through a proxy (half with an HTTP client of their own,
// half sharing one) and are never closed, lets go of them, collects, and prints one JSON object:
// how many HTTP clients were made and how many were closed.
import { NetworkAccessManager } from "../../../mod.ts";

const COUNT = 20;
const [proxyPort, targetPort] = Deno.args.map(Number);
let made = 0;
let closed = 0;
const prototype = Deno.HttpClient.prototype;
const close = prototype.close;
prototype.close = function (this: Deno.HttpClient) {
  closed++;
  return close.call(this);
};
const create = Deno.createHttpClient;
Deno.createHttpClient = ((options: Deno.CreateHttpClientOptions) => {
  made++;
  return create(options);
}) as typeof Deno.createHttpClient;

async function useAndForget(username: string): Promise<void> {
  const manager = new NetworkAccessManager({
    proxy: { type: "http", url: `http://127.0.0.1:${proxyPort}`, username },
  });
  await manager.get(`http://127.0.0.1:${targetPort}/`).finished;
}

// Half with a proxy configuration of their own, half sharing one client.
for (let i = 0; i < COUNT / 2; i++) await useAndForget(`user${i}`);
for (let i = 0; i < COUNT / 2; i++) await useAndForget("shared");
const gc = (globalThis as { gc?: () => void }).gc!;
for (let round = 0; round < 20 && closed < made; round++) {
  gc();
  // Finalization callbacks run in a task of their own.
  await new Promise((resolve) => setTimeout(resolve, 20));
}
console.log(JSON.stringify({ made, closed }));
