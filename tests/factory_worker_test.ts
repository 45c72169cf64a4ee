import assert from "node:assert/strict";
import type { KvNetworkAccessManagerFactoryOptions } from "../mod.ts";
import { guardUnhandledRejections, serve, takeUnhandledRejections } from "./_helpers/server.ts";

guardUnhandledRejections();

const WORKERS = 4;
const MANAGERS = 3;

/** A worker running tests/testdata/workers/factory_worker.ts, called like a function. */
function startWorker(): { call(message: Record<string, unknown>): Promise<unknown> } & Disposable {
  const worker = new Worker(new URL("./testdata/workers/factory_worker.ts", import.meta.url), {
    type: "module",
  });
  const pending = new Map<number, PromiseWithResolvers<unknown>>();
  let next = 0;
  worker.onmessage = (event: MessageEvent<{ id: number; value?: unknown; error?: string }>) => {
    const waiter = pending.get(event.data.id)!;
    pending.delete(event.data.id);
    if (event.data.error !== undefined) waiter.reject(new Error(event.data.error));
    else waiter.resolve(event.data.value);
  };
  worker.onerror = (event) => {
    event.preventDefault();
    for (const waiter of pending.values()) waiter.reject(new Error(event.message));
    pending.clear();
  };
  return {
    call(message) {
      const id = next++;
      const waiter = Promise.withResolvers<unknown>();
      pending.set(id, waiter);
      worker.postMessage({ ...message, id });
      return waiter.promise;
    },
    [Symbol.dispose]: () => worker.terminate(),
  };
}

/** An origin: /login?key=K sets cookie K, /whoami echoes Cookie, /doc/K is cacheable and
 * counted. */
function origin() {
  const docHits = new Map<string, number>();
  const server = serve((request) => {
    const url = new URL(request.url);
    if (url.pathname === "/login") {
      const key = url.searchParams.get("key");
      return new Response("in", { headers: { "set-cookie": `${key}=1; Max-Age=3600` } });
    }
    if (url.pathname === "/whoami") return new Response(request.headers.get("cookie") ?? "");
    const key = url.pathname.slice("/doc/".length);
    docHits.set(key, (docHits.get(key) ?? 0) + 1);
    return new Response(`document ${key}`, {
      headers: { "cache-control": "public, max-age=3600" },
    });
  });
  return Object.assign(server, { docHits });
}

Deno.test("KvNetworkAccessManagerFactory in Web Workers: each worker's managers see every cookie and cache entry", async () => {
  await using server = origin();
  const dir = await Deno.makeTempDir();
  try {
    // The configuration crosses to the workers by structured clone: plain data only.
    const config: KvNetworkAccessManagerFactoryOptions = {
      path: `${dir}/shared.sqlite3`,
      cache: { maxSize: 8 * 1024 * 1024 },
      cookieJar: { shared: true },
      manager: { maxRedirects: 5, maxConnectionsPerHost: 4, retry: { limit: 1 } },
    };
    const workers = Array.from({ length: WORKERS }, startWorker);
    using _ = { [Symbol.dispose]: () => workers.forEach((w) => w[Symbol.dispose]()) };
    await Promise.all(workers.map((w) => w.call({ op: "open", config })));

    // Every worker, with several managers each, writes at the same time.
    await Promise.all(
      workers.map((w, i) =>
        w.call({ op: "write", base: server.url, worker: i, managers: MANAGERS })
      ),
    );
    const keys = workers.flatMap((_, i) =>
      Array.from({ length: MANAGERS }, (_, k) => `w${i}m${k}`)
    );
    assert.equal(server.docHits.size, WORKERS * MANAGERS);
    assert.ok([...server.docHits.values()].every((n) => n === 1));

    // Then every worker reads what all of them stored: nothing is lost.
    const reads = await Promise.all(
      workers.map((w) => w.call({ op: "read", base: server.url, keys })),
    ) as { cookies: string; docs: { key: string; body: string; fromCache: boolean }[] }[];
    for (const [i, read] of reads.entries()) {
      const names = read.cookies.split("; ").map((c) => c.split("=")[0]).sort();
      assert.deepEqual(names, [...keys].sort(), `worker ${i} sees every cookie`);
      for (const doc of read.docs) {
        assert.equal(doc.body, `document ${doc.key}`);
        assert.equal(doc.fromCache, true, `worker ${i} reads ${doc.key} from the shared cache`);
      }
    }
    assert.ok(
      [...server.docHits.values()].every((n) => n === 1),
      "no document was fetched twice",
    );
    await Promise.all(workers.map((w) => w.call({ op: "close" })));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.deepEqual(takeUnhandledRejections(), []);
});
