/**
 * The public types as a user's code meets them: `deno check` checks this file, so a type that
 * refuses valid use (a readonly array, an `as const` value, a body chunk handed on to a web API)
 * fails the check, and each case also runs.
 */

import assert from "node:assert/strict";
import {
  HostQueue,
  type Layer,
  MemoryCache,
  NetworkAccessManager,
  NetworkError,
  type NetworkProxy,
  NetworkRequest,
  NetworkRequestFactory,
  type ProxyFactory,
  responseInfo,
  setResponseInfo,
} from "../mod.ts";
import { createMockManager } from "../testing.ts";

/** `true` when `A` and `B` are the same type (`any` is the same as nothing else). */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;
/** Compiles only for `true`: a check `deno check` makes. */
function sameType<_Check extends true>(): void {}

Deno.test("the options take readonly arrays and `as const` values", async () => {
  const seen: string[] = [];
  const LAYERS: readonly Layer[] = [(next) => (exchange) => {
    seen.push(exchange.url.href);
    return next(exchange);
  }];
  const CA_CERTS = [] as const;
  const RETRY = {
    limit: 2,
    methods: ["GET", "PUT"],
    statusCodes: [503],
    errorCodes: [NetworkError.TimeoutError],
  } as const;
  const DIRECT: readonly NetworkProxy[] = [{ type: "none" }];
  const proxyFactory: ProxyFactory = () => DIRECT;
  await using manager = new NetworkAccessManager({
    layers: LAYERS,
    caCerts: CA_CERTS,
    retry: RETRY,
    proxyFactory,
    transport: () => Promise.resolve(new Response("ok")),
  });
  // What a getter returns goes back in as an option.
  await using other = new NetworkAccessManager({ caCerts: manager.caCerts });
  assert.deepEqual(other.caCerts, []);
  const ITEMS: readonly unknown[] = ["pen", "ink"];
  const reply = manager.post("https://api.example/items", ITEMS);
  assert.equal(await reply.text(), "ok");
  assert.deepEqual(seen, ["https://api.example/items"]);
  assert.deepEqual(manager.retry, RETRY);
  const info = setResponseInfo(new Response(), { redirects: reply.redirects });
  assert.deepEqual(responseInfo(info).redirects, []);
  const TAGS: readonly (readonly [string, string])[] = [["tag", "a"], ["tag", "b"]];
  const api = new NetworkRequestFactory("https://api.example/", { query: TAGS });
  assert.equal(api.createRequest("items").url.search, "?tag=a&tag=b");
});

Deno.test("body chunks and recorded bodies are Uint8Array<ArrayBuffer>, as fetch's are", async () => {
  await using manager = new NetworkAccessManager();
  const parts: BlobPart[] = [];
  for await (const chunk of manager.get("data:,hello")) {
    sameType<Same<typeof chunk, Uint8Array<ArrayBuffer>>>();
    parts.push(chunk);
    await crypto.subtle.digest("SHA-256", chunk);
    assert.equal(await new Response(chunk).text(), "hello");
  }
  assert.equal(await new Blob(parts).text(), "hello");
  await using mocked = createMockManager();
  mocked.mock.route("POST", "/a", { body: "a" });
  await mocked.manager.post("https://api.example/a", "sent").text();
  const body = mocked.recorder.requests[0]!.body;
  sameType<Same<typeof body, Uint8Array<ArrayBuffer> | null>>();
  assert.equal(await new Blob([body!]).text(), "sent");
  const cache = new MemoryCache();
  const stored = await cache.variants("https://api.example/").then((all) => all[0]);
  const stream = stored === undefined ? null : await cache.body(stored);
  sameType<Same<typeof stream, ReadableStream<Uint8Array<ArrayBuffer>> | null>>();
});

Deno.test("a chunk a layer gives over a SharedArrayBuffer is read over an ArrayBuffer", async () => {
  const shared = new Uint8Array(new SharedArrayBuffer(3));
  shared.set([1, 2, 3]);
  await using manager = new NetworkAccessManager({
    transport: () =>
      Promise.resolve(
        new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(shared);
              controller.close();
            },
          }),
        ),
      ),
  });
  const buffers: string[] = [];
  for await (const chunk of manager.get("https://api.example/")) {
    buffers.push(`${Object.prototype.toString.call(chunk.buffer)} ${chunk.join(",")}`);
  }
  assert.deepEqual(buffers, ["[object ArrayBuffer] 1,2,3"]);
});

Deno.test("a layer's changed headers may be a record or a list of pairs", async () => {
  const sent: string[] = [];
  await using manager = new NetworkAccessManager({
    transport: ({ headers }) => {
      sent.push([...headers].map(([name, value]) => `${name}: ${value}`).join(", "));
      return Promise.resolve(new Response(null, { status: 204 }));
    },
  });
  manager.use((next) => (exchange) =>
    next(exchange.next({ headers: { "x-one": "1" } })).then(() =>
      next(exchange.again({ headers: [["x-two", "2"]] }))
    )
  );
  await manager.get("https://api.example/").finished;
  assert.deepEqual(sent, ["x-one: 1", "x-two: 2"]);
});

Deno.test("a HostQueue is disposable: `using` closes it", async () => {
  let waiting: Promise<() => void>;
  {
    using queue = new HostQueue(() => 1);
    const signal = new AbortController().signal;
    await queue.acquire("https://example.com", "normal", signal);
    waiting = queue.acquire("https://example.com", "normal", signal);
  }
  await assert.rejects(waiting, { name: "AbortError", message: "The host queue was closed" });
});

Deno.test("a NetworkRequest shows no internal member", () => {
  const request = new NetworkRequest("https://example.com/");
  // @ts-expect-error: the check the manager makes of a request is not part of it
  assert.equal(request._problem, undefined);
});
