/**
 * The soak run, in a process of its own (`--v8-flags=--expose-gc`, so memory is measured after
 * a collection): REQUESTS requests from a seeded random mix (bodies read whole or streamed,
 * aborts at every stage, server errors, broken bodies, silent servers and transfer timeouts,
 * invalid requests), at most CONCURRENCY at a time, against one loopback server. Prints one
 * line of JSON with what the test checks.
 *
 * Usage: deno run -A --v8-flags=--expose-gc tests/faults/_soak.ts <seed> <requests>
 */

import { NetworkAccessManager, NetworkError, type NetworkReply } from "../../mod.ts";
import { random } from "../_helpers/seeded_random.ts";

const seed = Number(Deno.args[0] ?? 1);
const REQUESTS = Number(Deno.args[1] ?? 20_000);
const CONCURRENCY = 48;
const MAX_PER_HOST = 8;
const gc = (globalThis as { gc?: () => void }).gc;

const next = random(seed);
const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;

const SMALL = new Uint8Array(1024).fill(1);
const CHUNK = new Uint8Array(16 * 1024).fill(2);

const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
  const path = new URL(request.url).pathname;
  switch (path) {
    case "/small":
      return new Response(SMALL);
    case "/stream": {
      let sent = 0;
      return new Response(
        new ReadableStream({
          pull(controller) {
            if (sent++ >= 8) controller.close();
            else controller.enqueue(CHUNK);
          },
        }, { highWaterMark: 0 }),
      );
    }
    case "/error":
      return new Response("failed", { status: 500 });
    case "/broken":
      return new Response(
        new ReadableStream({
          pull(controller) {
            controller.enqueue(CHUNK);
            controller.error(new Error("broken on purpose"));
          },
        }),
      );
    case "/silent":
      // Headers, then nothing until the client goes.
      return new Response(
        new ReadableStream({
          start(controller) {
            controller.enqueue(SMALL);
            request.signal.addEventListener("abort", () => controller.close(), { once: true });
          },
        }),
      );
    default:
      return new Response("not found", { status: 404 });
  }
});
const base = `http://127.0.0.1:${server.addr.port}`;
const key = `http://127.0.0.1:${server.addr.port}`;

type Action =
  | "text"
  | "stream"
  | "abort-at-once"
  | "abort-later"
  | "abort-mid-body"
  | "break-loop"
  | "server-error"
  | "broken-body"
  | "timeout"
  | "invalid";

/** The codes each action may end with (an abort can race a reply that already finished). */
const EXPECTED: Record<Action, readonly number[]> = {
  text: [NetworkError.NoError],
  stream: [NetworkError.NoError],
  "abort-at-once": [NetworkError.OperationCanceledError],
  "abort-later": [NetworkError.OperationCanceledError, NetworkError.NoError],
  "abort-mid-body": [NetworkError.OperationCanceledError, NetworkError.NoError],
  "break-loop": [NetworkError.OperationCanceledError],
  "server-error": [NetworkError.InternalServerError],
  "broken-body": [NetworkError.RemoteHostClosedError],
  timeout: [NetworkError.TimeoutError],
  invalid: [NetworkError.ProtocolUnknownError],
};
const ACTIONS = Object.keys(EXPECTED) as Action[];

const manager = new NetworkAccessManager({ maxConnectionsPerHost: MAX_PER_HOST, cookieJar: null });
let managerFinished = 0;
manager.addEventListener("finished", () => managerFinished++);

const counts: Record<string, number> = {};
const problems: string[] = [];
let maxActive = 0;
const heap: number[] = [];

async function one(index: number): Promise<void> {
  const action = pick(ACTIONS);
  counts[action] = (counts[action] ?? 0) + 1;
  let reply: NetworkReply;
  switch (action) {
    case "text":
    case "abort-later":
      reply = manager.get(`${base}/small`);
      break;
    case "stream":
    case "abort-mid-body":
    case "break-loop":
    case "abort-at-once":
      reply = manager.get(`${base}/stream`);
      break;
    case "server-error":
      reply = manager.get(`${base}/error`);
      break;
    case "broken-body":
      reply = manager.get(`${base}/broken`);
      break;
    case "timeout":
      reply = manager.get(`${base}/silent`, { transferTimeout: 20 + Math.floor(next() * 30) });
      break;
    case "invalid":
      reply = manager.get("http://[::1/");
      break;
  }
  let finishedEvents = 0;
  reply.addEventListener("finished", () => finishedEvents++);
  const delay = Math.floor(next() * 5);
  try {
    if (action === "abort-at-once") reply.abort();
    if (action === "abort-later") setTimeout(() => reply.abort(), delay);
    if (action === "stream" || action === "abort-mid-body" || action === "break-loop") {
      let chunks = 0;
      for await (const _ of reply) {
        chunks++;
        if (action === "abort-mid-body" && chunks === 2) reply.abort();
        if (action === "break-loop" && chunks === 1) break;
      }
    } else {
      await reply.text();
    }
  } catch { /* the outcome is on the reply */ }
  await reply.finished;
  const active = manager.queue.active(key);
  if (active > maxActive) maxActive = active;
  if (!EXPECTED[action].includes(reply.error)) {
    problems.push(`#${index} ${action}: code ${reply.error} (${reply.errorString})`);
  }
  if (!reply.isFinished) problems.push(`#${index} ${action}: not finished`);
  // Events dispatched after `finished` resolved would show up here a turn later.
  await Promise.resolve();
  if (finishedEvents !== 1) problems.push(`#${index} ${action}: ${finishedEvents} finished events`);
}

const started = performance.now();
let issued = 0;
async function lane(): Promise<void> {
  while (issued < REQUESTS) {
    const index = issued++;
    await one(index);
    if (index > 0 && index % 2000 === 0) {
      gc?.();
      heap.push(Deno.memoryUsage().heapUsed);
    }
  }
}
await Promise.all(Array.from({ length: CONCURRENCY }, lane));
const elapsed = performance.now() - started;
await new Promise((resolve) => setTimeout(resolve, 50));
gc?.();
heap.push(Deno.memoryUsage().heapUsed);

const result = {
  seed,
  requests: REQUESTS,
  elapsedMs: Math.round(elapsed),
  counts,
  problems: problems.slice(0, 20),
  problemCount: problems.length,
  managerFinished,
  running: manager.runningReplies.length,
  active: manager.queue.active(key),
  waiting: manager.queue.waiting(key),
  maxActive,
  maxPerHost: MAX_PER_HOST,
  heap,
  gc: gc !== undefined,
};
await manager.close();
await server.shutdown();
console.log(JSON.stringify(result));
