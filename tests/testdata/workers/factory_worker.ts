/// <reference lib="deno.worker" />
/**
 * A worker that builds a KvNetworkAccessManagerFactory from a configuration sent by the test
 * and runs requests on its managers. Messages: `{ id, op, ... }` in, `{ id, value }` or
 * `{ id, error }` out.
 */
import {
  KvNetworkAccessManagerFactory,
  type KvNetworkAccessManagerFactoryOptions,
} from "../../../mod.ts";

let factory: KvNetworkAccessManagerFactory | undefined;

type Message =
  | { id: number; op: "open"; config: KvNetworkAccessManagerFactoryOptions }
  | { id: number; op: "write"; base: string; worker: number; managers: number }
  | { id: number; op: "read"; base: string; keys: string[] }
  | { id: number; op: "close" };

async function write(base: string, worker: number, managers: number): Promise<void> {
  // Several managers of one factory at once, each logging in and fetching its own document.
  await Promise.all(Array.from({ length: managers }, async (_, k) => {
    await using manager = factory!.create();
    const key = `w${worker}m${k}`;
    const login = manager.get(`${base}/login?key=${key}`);
    await login.text();
    const doc = manager.get(`${base}/doc/${key}`);
    await doc.text();
    if (login.error !== 0 || doc.error !== 0) {
      throw new Error(`${key}: ${login.errorString || doc.errorString}`);
    }
  }));
}

async function read(base: string, keys: string[]) {
  await using manager = await factory!.createAsync();
  const cookies = await manager.get(`${base}/whoami`).text();
  const docs: { key: string; body: string; fromCache: boolean }[] = [];
  for (const key of keys) {
    const reply = manager.get(`${base}/doc/${key}`);
    docs.push({ key, body: await reply.text(), fromCache: reply.fromCache });
  }
  return { cookies, docs };
}

self.onmessage = async (event: MessageEvent<Message>) => {
  const message = event.data;
  try {
    let value: unknown = null;
    if (message.op === "open") factory = await KvNetworkAccessManagerFactory.open(message.config);
    else if (message.op === "write") await write(message.base, message.worker, message.managers);
    else if (message.op === "read") value = await read(message.base, message.keys);
    else await factory?.close();
    self.postMessage({ id: message.id, value });
  } catch (error) {
    self.postMessage({ id: message.id, error: String((error as Error)?.stack ?? error) });
  }
};
