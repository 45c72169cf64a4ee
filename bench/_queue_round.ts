/**
 * One round of `bench/report.ts`'s queue figures, in a process of its own so that no round
 * inherits the garbage of another: queues `count` requests behind one busy slot, then ends
 * them with `abort()` one by one or with the manager's `close()`, after warm-up rounds.
 *
 * With `least`, the same rounds run a least queue instead of the manager, the baseline of the
 * queue rows: a reply object (an `EventTarget` with its parsed URL and a promise) in a linked
 * list that an abort leaves in constant time. What its cost per request does from 1,000 to
 * 10,000 is what the machine and the collector do to objects that stay alive, whoever makes them.
 *
 * Run: `deno run -A --v8-flags=--expose-gc bench/_queue_round.ts <count> <abort|close> [least]`;
 * prints `{"queued": µs, "ended": µs}`, the cost per request of each phase (the median of the
 * measured rounds).
 *
 * @module
 */

import { NetworkAccessManager } from "../mod.ts";
import { median } from "./_rounds.ts";

const count = Number(Deno.args[0]);
const end = Deno.args[1];
const least = Deno.args[2] === "least";
if (!(count > 0) || (end !== "abort" && end !== "close")) {
  throw new TypeError("usage: _queue_round.ts <count> <abort|close> [least]");
}
// A transport that never answers: every request beyond the one slot waits in the queue.
const hang = (exchange: { signal: AbortSignal }) =>
  new Promise<Response>((_, reject) => {
    exchange.signal.addEventListener("abort", () => reject(exchange.signal.reason), {
      once: true,
    });
  });

const options = { transport: hang, maxConnectionsPerHost: 1, cookieJar: null };

/** The baseline's reply: its URL, a promise settled when it ends, and its links in the queue. */
class LeastReply extends EventTarget {
  readonly url: URL;
  readonly finished: Promise<void>;
  error = 0;
  prev: LeastReply | undefined;
  next: LeastReply | undefined;
  #settle!: () => void;
  constructor(readonly queue: LeastQueue, input: string) {
    super();
    this.url = new URL(input);
    this.finished = new Promise((resolve) => (this.#settle = resolve));
    queue.push(this);
  }
  abort(): void {
    this.queue.remove(this);
    this.end();
  }
  end(): void {
    this.error = 5;
    this.#settle();
  }
}

/**
 * The baseline's queue: one slot; the rest wait in a linked list, and the first of them takes
 * the slot when its holder ends.
 */
class LeastQueue {
  current: LeastReply | undefined;
  head: LeastReply | undefined;
  tail: LeastReply | undefined;
  waiting = 0;
  get(input: string): LeastReply {
    return new LeastReply(this, input);
  }
  push(reply: LeastReply): void {
    if (this.current === undefined) {
      this.current = reply;
      return;
    }
    reply.prev = this.tail;
    if (this.tail) this.tail.next = reply;
    else this.head = reply;
    this.tail = reply;
    this.waiting++;
  }
  remove(reply: LeastReply): void {
    if (reply === this.current) {
      const next = this.head;
      this.current = undefined;
      if (next !== undefined) this.remove(next);
      this.current = next;
      return;
    }
    if (reply.prev === undefined && this.head !== reply) return;
    if (reply.prev) reply.prev.next = reply.next;
    else this.head = reply.next;
    if (reply.next) reply.next.prev = reply.prev;
    else this.tail = reply.prev;
    reply.prev = reply.next = undefined;
    this.waiting--;
  }
  close(): Promise<void> {
    this.current?.end();
    this.current = undefined;
    for (let reply = this.head; reply !== undefined;) {
      const next = reply.next;
      reply.prev = reply.next = undefined;
      reply.end();
      reply = next;
    }
    this.head = this.tail = undefined;
    this.waiting = 0;
    return Promise.resolve();
  }
}

/** The manager, or the baseline, behind one interface. */
interface Subject {
  get(input: string): { abort(): void; readonly finished: Promise<void> };
  waiting(): number;
  close(): Promise<void>;
}

function subject(): Subject {
  if (least) {
    const queue = new LeastQueue();
    return {
      get: (input) => queue.get(input),
      waiting: () => queue.waiting,
      close: () => queue.close(),
    };
  }
  const manager = new NetworkAccessManager(options);
  return {
    get: (input) => manager.get(input),
    waiting: () => manager.queue.waiting("http://queue.test"),
    close: () => manager.close(),
  };
}

async function round(): Promise<{ queued: number; ended: number }> {
  const manager = subject();
  const t0 = performance.now();
  const replies = Array.from({ length: count }, () => manager.get("http://queue.test/"));
  // Every request waits in the queue as soon as it is made (the manager queues it before its
  // pipeline); the loop waits for any that reach the queue later. No timer: a `setTimeout(0)`
  // takes about 2 ms here, most of a round of 1,000, and made the 1,000 figures look dearer.
  while (manager.waiting() < count - 1) await null;
  const t1 = performance.now();
  if (end === "abort") { for (const reply of replies) reply.abort(); }
  else await manager.close();
  await Promise.all(replies.map((reply) => reply.finished));
  const t2 = performance.now();
  await manager.close();
  return { queued: ((t1 - t0) * 1000) / count, ended: ((t2 - t1) * 1000) / count };
}

// A manager with a request in its slot and one queued, alive from first to last: a full
// collection frees the shapes (maps) of the objects no one holds any more, and with them the
// compiled code that was made for those shapes. Without a queued request alive across the
// collections below, every measured round would start on code thrown away (V8 marks compiled
// code for deoptimization some 190 times over the thirty rounds of 1,000) and cost about 2.5
// times as much.
const keeper = subject();
const kept = [keeper.get("http://queue.test/"), keeper.get("http://queue.test/")];
// Rounds of 30,000 requests in all warm the code up (so that every size runs compiled code).
// Then rounds of 30,000 requests in all are measured, each after a full collection (with
// `--v8-flags=--expose-gc`) so that none pays for another's garbage: one round of 30,000, three
// of 10,000, thirty of 1,000, whose median is printed. A single round of 1,000 lasts about a
// millisecond, where a timer tick or a collection weighs as much as the requests.
const gc = (globalThis as { gc?: () => void }).gc;
for (let done = 0; done < 30_000; done += count) await round();
const measured: { queued: number; ended: number }[] = [];
for (let done = 0; done < 30_000; done += count) {
  gc?.();
  measured.push(await round());
}
for (const reply of kept) reply.abort();
await keeper.close();
console.log(JSON.stringify({
  queued: median(measured.map((m) => m.queued)),
  ended: median(measured.map((m) => m.ended)),
}));
