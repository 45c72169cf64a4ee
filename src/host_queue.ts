/**
 * The per-host request queue: at most N requests in flight per scheme, host and port, the rest
 * waiting by priority.
 *
 * @module
 */

import type { Priority } from "./request.ts";

/** What a waiter leaves the queue on: an `AbortSignal`, or a reply's lighter stand-in. */
type QueueSignal = Parameters<HostQueue["acquire"]>[2];

/**
 * Waits for a slot of `key` without a promise, when none is free: `granted` gets the release
 * function and `data` when the slot is handed out, `refused` the reason and `data` when the
 * signal aborts or the queue closes first (so one pair of functions serves every waiter).
 * Returns `false`, and waits for nothing, when a slot is free now (or the queue is closed, or
 * the signal aborted): the caller then goes on as if it had not asked.
 */
export let parkInQueue: (
  queue: HostQueue,
  key: string,
  priority: Priority,
  signal: QueueSignal,
  granted: (release: () => void, data: unknown) => void,
  refused: (reason: unknown, data: unknown) => void,
  data: unknown,
) => boolean;

/**
 * One waiting request: a node of its priority's doubly linked list, and the listener of its
 * signal's `abort` event (an object with `handleEvent`: no closure per waiter).
 */
class Waiter {
  list: WaiterList | undefined = undefined;
  prev: Waiter | undefined = undefined;
  next: Waiter | undefined = undefined;

  constructor(
    /** Called with the release function and `data`. */
    readonly resolve: (release: () => void, data: unknown) => void,
    /** Called with the reason and `data`. */
    readonly reject: (reason: unknown, data: unknown) => void,
    readonly signal: QueueSignal,
    readonly host: HostState,
    /** Lets the host go when the last waiter left (the queue's, shared by its waiters). */
    readonly left: (host: HostState) => void,
    /** What `resolve` and `reject` are called with besides, so that they need not be closures. */
    readonly data: unknown,
  ) {}

  /** The signal aborted: leaves the queue and rejects with the signal's reason. */
  handleEvent(): void {
    if (this.list === undefined) return;
    this.list.remove(this);
    this.host.waiting--;
    this.left(this.host);
    this.reject(this.signal.reason, this.data);
  }
}

/** The options of every waiter's `abort` listener. */
const ONCE: AddEventListenerOptions = Object.freeze({ once: true });

/** First come first served; removing any waiter is O(1). */
class WaiterList {
  head: Waiter | undefined;
  tail: Waiter | undefined;
  size = 0;

  push(waiter: Waiter): void {
    waiter.list = this;
    waiter.prev = this.tail;
    waiter.next = undefined;
    if (this.tail) this.tail.next = waiter;
    else this.head = waiter;
    this.tail = waiter;
    this.size++;
  }

  remove(waiter: Waiter): void {
    if (waiter.list !== this) return;
    if (waiter.prev) waiter.prev.next = waiter.next;
    else this.head = waiter.next;
    if (waiter.next) waiter.next.prev = waiter.prev;
    else this.tail = waiter.prev;
    waiter.list = waiter.prev = waiter.next = undefined;
    this.size--;
  }
}

interface HostState {
  active: number;
  waiting: number;
  /** Made when a request first has to wait for this origin. */
  lists: Record<Priority, WaiterList> | undefined;
}

const ORDER: readonly Priority[] = ["high", "normal", "low"];

/** Origins known before idle ones are let go. */
const IDLE_ORIGINS = 64;

/**
 * Slots per origin, handed out in priority order (high, normal, low), first come first
 * served within one priority. Deno's `fetch` opens a connection per concurrent HTTP/1.1
 * request; this is what bounds them. Leaving the queue (an aborted waiter) and closing it
 * cost the same whatever the number of waiters.
 *
 * @example Two slots for one origin
 * ```ts
 * import assert from "node:assert/strict";
 * import { HostQueue } from "@netaccess/core";
 *
 * const queue = new HostQueue(() => 2);
 * const signal = new AbortController().signal;
 * const release = await queue.acquire("http://127.0.0.1:8000", "normal", signal);
 * assert.equal(queue.active("http://127.0.0.1:8000"), 1);
 * release();
 * assert.equal(queue.active("http://127.0.0.1:8000"), 0);
 * ```
 */
export class HostQueue {
  readonly #limit: (key: string, active: number) => number;
  readonly #hosts = new Map<string, HostState>();
  #sweepAt = IDLE_ORIGINS;
  readonly #left = (host: HostState): void => this.#forget(host);
  #closed: { reason: unknown } | undefined;

  static {
    parkInQueue = (queue, key, priority, signal, granted, refused, data) => {
      if (queue.#closed || signal.aborted) return false;
      const host = queue.#host(key);
      if (host.waiting === 0 && host.active < queue.#limit(key, host.active)) {
        queue.#forget(host);
        return false;
      }
      queue.#wait(host, priority, signal, granted, refused, data);
      return true;
    };
  }

  /**
   * Creates a queue.
   *
   * @param limit Returns the number of slots of an origin (given as its first argument, with
   * how many of its slots are taken); read each time a request arrives or a slot frees, so a
   * changed setting applies at once.
   */
  constructor(limit: (key: string, active: number) => number) {
    this.#limit = limit;
  }

  /**
   * Waits for a slot for `key` (an origin such as `https://example.com:8443`).
   *
   * @param key The origin.
   * @param priority The request's priority.
   * @param signal Aborting it while waiting leaves the queue at once: an `AbortSignal`, or
   * anything with its `aborted` and `reason` that calls the `abort` listener object it is given.
   * @returns A function that releases the slot; calling it again does nothing.
   * @throws The signal's reason when aborted while waiting, or the reason given to
   * {@linkcode HostQueue.close}.
   */
  acquire(
    key: string,
    priority: Priority,
    signal: {
      readonly aborted: boolean;
      readonly reason: unknown;
      addEventListener(
        type: "abort",
        listener: EventListenerObject,
        options: AddEventListenerOptions,
      ): void;
      removeEventListener(type: "abort", listener: EventListenerObject): void;
    },
  ): Promise<() => void> {
    if (this.#closed) return Promise.reject(this.#closed.reason);
    if (signal.aborted) return Promise.reject(signal.reason);
    const host = this.#host(key);
    if (host.waiting === 0 && host.active < this.#limit(key, host.active)) {
      host.active++;
      return Promise.resolve(this.#releaser(key, host));
    }
    return new Promise((resolve, reject) =>
      this.#wait(host, priority, signal, resolve, reject, undefined)
    );
  }

  /** Puts a waiter at the end of its priority's list. */
  #wait(
    host: HostState,
    priority: Priority,
    signal: QueueSignal,
    resolve: (release: () => void, data: unknown) => void,
    reject: (reason: unknown, data: unknown) => void,
    data: unknown,
  ): void {
    host.lists ??= { high: new WaiterList(), normal: new WaiterList(), low: new WaiterList() };
    const waiter = new Waiter(resolve, reject, signal, host, this.#left, data);
    signal.addEventListener("abort", waiter, ONCE);
    host.lists[priority].push(waiter);
    host.waiting++;
  }

  /**
   * Takes a slot for `key` at once when one is free and nobody waits, without a promise.
   *
   * @param key The origin.
   * @returns A function that releases the slot, or `undefined` when the request has to wait
   * ({@linkcode HostQueue.acquire}).
   *
   * @example Taking a free slot
   * ```ts
   * import assert from "node:assert/strict";
   * import { HostQueue } from "@netaccess/core";
   *
   * const queue = new HostQueue(() => 1);
   * const release = queue.tryAcquire("https://example.com");
   * assert.ok(release);
   * assert.equal(queue.tryAcquire("https://example.com"), undefined);
   * release();
   * ```
   */
  tryAcquire(key: string): (() => void) | undefined {
    if (this.#closed) return undefined;
    const host = this.#host(key);
    if (host.waiting === 0 && host.active < this.#limit(key, host.active)) {
      host.active++;
      return this.#releaser(key, host);
    }
    this.#forget(host);
    return undefined;
  }

  /**
   * The number of requests in flight for an origin.
   *
   * @param key The origin.
   * @returns How many slots are taken.
   */
  active(key: string): number {
    return this.#hosts.get(key)?.active ?? 0;
  }

  /**
   * The number of requests waiting for an origin.
   *
   * @param key The origin.
   * @returns How many requests wait.
   */
  waiting(key: string): number {
    return this.#hosts.get(key)?.waiting ?? 0;
  }

  /**
   * Hands out the free slots of an origin to its waiters: call it when the origin's limit
   * grew (the queue also does this whenever a slot is released).
   *
   * @param key The origin; without it, every origin with requests waiting (call it so when
   * the limit of every origin grew).
   */
  wake(key?: string): void {
    if (key !== undefined) {
      const host = this.#hosts.get(key);
      if (host) this.#dispatch(key, host);
      return;
    }
    for (const [known, host] of this.#hosts) {
      if (host.waiting > 0) this.#dispatch(known, host);
    }
  }

  /**
   * Rejects every waiting request with `reason` in one pass, and every later
   * {@linkcode HostQueue.acquire}; slots already handed out stay valid until released.
   * Safe to call twice.
   *
   * @param reason Why the queue closed.
   *
   * @example Closing a queue with a waiter
   * ```ts
   * import assert from "node:assert/strict";
   * import { HostQueue } from "@netaccess/core";
   *
   * const queue = new HostQueue(() => 1);
   * const signal = new AbortController().signal;
   * const release = await queue.acquire("https://example.com", "normal", signal);
   * const waiting = queue.acquire("https://example.com", "normal", signal);
   * queue.close(new Error("closed"));
   * await assert.rejects(waiting, /closed/);
   * release();
   * ```
   */
  close(reason?: unknown): void {
    if (this.#closed) return;
    this.#closed = { reason };
    for (const host of this.#hosts.values()) {
      for (const priority of ORDER) {
        const list = host.lists?.[priority];
        if (list === undefined) continue;
        // Taken out of the list first, then rejected: a rejection does much (the manager ends
        // the request's reply), and a link read after it made each step wait for the memory of
        // the one before, one cache miss after another once the waiters outgrow the caches.
        const waiters: Waiter[] = [];
        for (let waiter = list.head; waiter !== undefined;) {
          const next = waiter.next;
          waiter.list = waiter.prev = waiter.next = undefined;
          waiters.push(waiter);
          waiter = next;
        }
        list.head = list.tail = undefined;
        list.size = 0;
        for (const waiter of waiters) {
          waiter.signal.removeEventListener("abort", waiter);
          waiter.reject(reason, waiter.data);
        }
      }
      host.waiting = 0;
    }
    for (const [key, host] of this.#hosts) {
      if (host.active === 0 && host.waiting === 0) this.#hosts.delete(key);
    }
  }

  /**
   * Closes the queue at the end of a `using` block: every waiting request, and every later
   * {@linkcode HostQueue.acquire}, is rejected with an `AbortError` `DOMException`; slots
   * already handed out stay valid until released. Safe after {@linkcode HostQueue.close}.
   *
   * @example A queue that lives for one block
   * ```ts
   * import assert from "node:assert/strict";
   * import { HostQueue } from "@netaccess/core";
   *
   * let waiting: Promise<() => void>;
   * {
   *   using queue = new HostQueue(() => 1);
   *   const signal = new AbortController().signal;
   *   await queue.acquire("https://example.com", "normal", signal);
   *   waiting = queue.acquire("https://example.com", "normal", signal);
   * }
   * await assert.rejects(waiting, { name: "AbortError" });
   * ```
   */
  [Symbol.dispose](): void {
    this.close(new DOMException("The host queue was closed", "AbortError"));
  }

  #host(key: string): HostState {
    let host = this.#hosts.get(key);
    if (!host) {
      host = { active: 0, waiting: 0, lists: undefined };
      this.#hosts.set(key, host);
    }
    return host;
  }

  #releaser(key: string, host: HostState): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      host.active--;
      this.#dispatch(key, host);
    };
  }

  #dispatch(key: string, host: HostState): void {
    while (host.waiting > 0 && host.active < this.#limit(key, host.active)) {
      const lists = host.lists!;
      const list = lists.high.size > 0
        ? lists.high
        : lists.normal.size > 0
        ? lists.normal
        : lists.low;
      const waiter = list.head!;
      list.remove(waiter);
      host.waiting--;
      waiter.signal.removeEventListener("abort", waiter);
      host.active++;
      waiter.resolve(this.#releaser(key, host), waiter.data);
    }
    this.#forget(host);
  }

  /**
   * Lets an idle origin go, in batches: its state stays for the next request to it (no entry
   * made and dropped per request) until more than `#sweepAt` origins are known, then every idle
   * one goes at once, and the bar is set to twice the busy ones (amortised constant time).
   */
  #forget(host: HostState): void {
    if (host.active !== 0 || host.waiting !== 0 || this.#hosts.size <= this.#sweepAt) return;
    for (const [key, known] of this.#hosts) {
      if (known.active === 0 && known.waiting === 0) this.#hosts.delete(key);
    }
    this.#sweepAt = Math.max(IDLE_ORIGINS, 2 * this.#hosts.size);
  }
}
