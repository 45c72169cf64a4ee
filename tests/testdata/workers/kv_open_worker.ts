/// <reference lib="deno.worker" />
/**
 * A worker that opens a `KvCache` on the file it is sent, writes through it and closes it.
 * Messages: a path in, `"ok"` or the error's message out.
 */
import { KvCache } from "../../../mod.ts";

self.onmessage = async (event: MessageEvent<string>) => {
  try {
    await using cache = await KvCache.open({ path: event.data });
    await cache.clear();
    self.postMessage("ok");
  } catch (error) {
    self.postMessage((error as Error).message);
  }
};
