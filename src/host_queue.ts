/**
 * The per-host request queue: at most N requests in flight per scheme, host and port, the rest
 * waiting by priority.
 *
 * @module
 */

import type { Priority } from "./request.ts";

interface Waiter {
  resolve: (release: () => void) => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal;
  onAbort: () => void;
}

interface HostState {
  active: number;
  waiting: Record<Priority, Waiter[]>;
}

const ORDER: readonly Priority[] = ["high", "normal", "low"];

/**
 * Slots per origin, handed out in priority order (high, normal, low), first come first
 * served within one priority. Deno's `fetch` opens as many connections as there are
 * concurrent requests; this is what bounds them.
 *
 * @example Two slots for one origin
 * ```ts
 * import { HostQueue } from "@netaccess/core";
 *
 * const queue = new HostQueue(() => 2);
 * const signal = new AbortController().signal;
 * const release = await queue.acquire("http://127.0.0.1:8000", "normal", signal);
 * console.log(queue.active("http://127.0.0.1:8000")); // 1
 * release();
 * ```
 */
export class HostQueue {
  readonly #limit: () => number;
  readonly #hosts = new Map<string, HostState>();

  /**
   * Creates a queue.
   *
   * @param limit Returns the number of slots per origin; read each time a slot frees, so a
   * changed setting applies at once.
   */
  constructor(limit: () => number) {
    this.#limit = limit;
  }

  /**
   * Waits for a slot for `key` (an origin such as `https://example.com:8443`).
   *
   * @param key The origin.
   * @param priority The request's priority.
   * @param signal Aborting it while waiting leaves the queue at once.
   * @returns A function that releases the slot; calling it again does nothing.
   * @throws The signal's reason when aborted while waiting.
   */
  acquire(key: string, priority: Priority, signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const host = this.#host(key);
    if (host.active < this.#limit() && ORDER.every((p) => host.waiting[p].length === 0)) {
      host.active++;
      return Promise.resolve(this.#releaser(key));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const list = host.waiting[priority];
          const index = list.indexOf(waiter);
          if (index >= 0) list.splice(index, 1);
          this.#forget(key);
          reject(signal.reason);
        },
      };
      signal.addEventListener("abort", waiter.onAbort, { once: true });
      host.waiting[priority].push(waiter);
    });
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
    const host = this.#hosts.get(key);
    return host ? ORDER.reduce((n, p) => n + host.waiting[p].length, 0) : 0;
  }

  #host(key: string): HostState {
    let host = this.#hosts.get(key);
    if (!host) {
      host = { active: 0, waiting: { high: [], normal: [], low: [] } };
      this.#hosts.set(key, host);
    }
    return host;
  }

  #releaser(key: string): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const host = this.#hosts.get(key);
      if (!host) return;
      host.active--;
      this.#dispatch(key, host);
    };
  }

  #dispatch(key: string, host: HostState): void {
    while (host.active < this.#limit()) {
      const priority = ORDER.find((p) => host.waiting[p].length > 0);
      if (priority === undefined) break;
      const waiter = host.waiting[priority].shift()!;
      waiter.signal.removeEventListener("abort", waiter.onAbort);
      host.active++;
      waiter.resolve(this.#releaser(key));
    }
    this.#forget(key);
  }

  #forget(key: string): void {
    const host = this.#hosts.get(key);
    if (host && host.active === 0 && ORDER.every((p) => host.waiting[p].length === 0)) {
      this.#hosts.delete(key);
    }
  }
}
