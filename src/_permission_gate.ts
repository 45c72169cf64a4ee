/**
 * Deno's permissions as a manager sees them: one `PermissionStatus` per descriptor (a
 * `host:port` for `net`, a path for `read`), queried once and then watched for changes.
 *
 * @module
 */

/** The descriptors the gate asks about. */
export type _GateDescriptor = Deno.NetPermissionDescriptor | Deno.ReadPermissionDescriptor;

interface Watched {
  descriptor: _GateDescriptor;
  status: Deno.PermissionStatus;
}

/** Statuses kept at most; the least recently used are let go beyond it. */
const LIMIT = 256;

/** The gates' callbacks for one status, and the one listener Deno calls for them all. */
interface Watchers {
  /** Each gate's callback, held weakly: a manager no one holds is collected all the same. */
  readonly callbacks: Set<WeakRef<() => void>>;
  readonly listener: () => void;
  /** The number of callbacks at which the ones of collected gates are swept out. */
  sweepAt: number;
}

/**
 * Every status some gate watches, with the gates' callbacks. Deno hands every query of one
 * descriptor the same status object for the life of the process: a listener per gate on it
 * would keep each manager never closed alive for as long, and make adding one cost as much as
 * the listeners before it (Deno compares a new listener with each). One listener per status
 * calls the gates still alive; the last gate to stop watching removes it.
 */
const watching = new Map<Deno.PermissionStatus, Watchers>();

/** The fewest callbacks of one status before the ones of collected gates are swept out. */
const SWEEP_AT = 64;

/** Calls `callback` (until `unwatch`) whenever `status` changes, holding it weakly. */
function watch(status: Deno.PermissionStatus, callback: WeakRef<() => void>): void {
  let watchers = watching.get(status);
  if (watchers === undefined) {
    const callbacks = new Set<WeakRef<() => void>>();
    const listener = (): void => {
      for (const ref of [...callbacks]) {
        const changed = ref.deref();
        if (changed === undefined) callbacks.delete(ref);
        else changed();
      }
      if (callbacks.size === 0) stopWatching(status);
    };
    watchers = { callbacks, listener, sweepAt: SWEEP_AT };
    watching.set(status, watchers);
    status.addEventListener("change", listener);
  }
  watchers.callbacks.add(callback);
  if (watchers.callbacks.size >= watchers.sweepAt) {
    for (const ref of watchers.callbacks) {
      if (ref.deref() === undefined) watchers.callbacks.delete(ref);
    }
    watchers.sweepAt = Math.max(SWEEP_AT, 2 * watchers.callbacks.size);
  }
}

/** Stops calling `callback` for `status`. */
function unwatch(status: Deno.PermissionStatus, callback: WeakRef<() => void>): void {
  const watchers = watching.get(status);
  if (watchers === undefined) return;
  watchers.callbacks.delete(callback);
  if (watchers.callbacks.size === 0) stopWatching(status);
}

/** How many callbacks are kept for `status`, the collected gates' not yet swept out included. */
export function _watcherCount(status: Deno.PermissionStatus): number {
  return watching.get(status)?.callbacks.size ?? 0;
}

function stopWatching(status: Deno.PermissionStatus): void {
  const watchers = watching.get(status);
  if (watchers === undefined) return;
  watching.delete(status);
  status.removeEventListener("change", watchers.listener);
}

function keyOf(descriptor: _GateDescriptor): string {
  if (descriptor.name === "net") return `net ${descriptor.host ?? ""}`;
  const path = descriptor.path;
  return `read ${path instanceof URL ? path.href : path ?? ""}`;
}

/**
 * Caches and watches permission statuses. `onChange` is called when any watched status
 * changes (a revoke, a grant, a denied prompt), including the `net` permission as a whole.
 * `close()` removes every listener.
 */
export class _PermissionGate {
  readonly #statuses = new Map<string, Watched>();
  readonly #pending = new Map<string, Promise<Deno.PermissionStatus>>();
  readonly #callback: () => void;
  #global: Deno.PermissionStatus | undefined;
  #closed = false;
  #refreshing = false;
  /** The key of the most recently used status (the last in `#statuses`), if any. */
  #last: string | undefined;
  #epoch = 0;

  /**
   * @param onChange Called after a watched status changed.
   */
  constructor(onChange: () => void) {
    this.#callback = onChange;
  }

  #onChange(): void {
    this.#epoch++;
    this.#callback();
  }

  /**
   * A number that changes whenever a status is learned, changes or is forgotten, and when the
   * gate closes: an answer of {@linkcode _PermissionGate.stateNow} holds while it stays the same.
   */
  get epoch(): number {
    return this.#epoch;
  }

  /** Number of statuses cached (the `net` permission as a whole not counted). */
  get size(): number {
    return this.#statuses.size;
  }

  /** The state of the `net` permission for every host at once, watched from the first call. */
  netState(): Deno.PermissionState {
    if (this.#global === undefined) {
      this.#global = Deno.permissions.querySync({ name: "net" });
      if (!this.#closed) watch(this.#global, this.#globalRef);
    }
    return this.#global.state;
  }

  /**
   * Whether the `net` permission is granted for every host (`--allow-net` with no `--deny-net`
   * entry): then no host's own status is queried. Deno keeps each status it hands out for the
   * life of the process, so querying every host a long-lived manager reaches would grow without
   * bound; the status of the permission as a whole is watched instead, and a revoke of it changes
   * the answer.
   */
  netGrantedForAll(): boolean {
    return this.netState() === "granted" && this.#global!.partial !== true;
  }

  /** Whether a `net` status the gate holds for one host is granted. */
  someNetGranted(): boolean {
    for (const { descriptor, status } of this.#statuses.values()) {
      if (descriptor.name === "net" && status.state === "granted") return true;
    }
    return false;
  }

  /**
   * The state of one permission: from the cache, or queried once (concurrent callers share
   * the query). With `request`, a permission in the `"prompt"` state is asked for with
   * `Deno.permissions.request`. A host's `net` permission is `"granted"` without a query of its
   * own while {@linkcode _PermissionGate.netGrantedForAll}.
   */
  async state(descriptor: _GateDescriptor, request = false): Promise<Deno.PermissionState> {
    if (descriptor.name === "net" && this.netGrantedForAll()) return "granted";
    const key = keyOf(descriptor);
    let status = this.#status(key, descriptor);
    if (status.state === "prompt" && request) {
      status = await this.#shared(`request ${key}`, () => Deno.permissions.request(descriptor));
      this.#remember(key, descriptor, status);
    }
    return status.state;
  }

  /**
   * The state of one permission, from the cache or queried at once (and watched from then on);
   * never asked for. A host's `net` permission is `"granted"` without a query of its own while
   * {@linkcode _PermissionGate.netGrantedForAll}.
   */
  stateNow(descriptor: _GateDescriptor): Deno.PermissionState {
    if (descriptor.name === "net" && this.netGrantedForAll()) return "granted";
    return this.#status(keyOf(descriptor), descriptor).state;
  }

  /**
   * The status of `key`, from the cache or queried with `querySync`: Deno answers a query from
   * the state it holds, so waiting on `query()` would only add a turn of the event loop.
   */
  #status(key: string, descriptor: _GateDescriptor): Deno.PermissionStatus {
    let status = this.#touch(key);
    if (status === undefined) {
      status = Deno.permissions.querySync(descriptor);
      this.#remember(key, descriptor, status);
    }
    return status;
  }

  /**
   * Calls `then` when the `net` permission for `host` is granted: at once when known, else once
   * queried (never asked for); not at all when it is not granted.
   */
  ifNetGranted(host: string, then: () => void): void {
    let state: Deno.PermissionState;
    try {
      state = this.stateNow({ name: "net", host });
    } catch {
      return;
    }
    if (state === "granted") then();
  }

  /** Removes every listener and forgets every status; safe to call twice. */
  close(): void {
    this.#closed = true;
    this.#epoch++;
    for (const { status } of this.#statuses.values()) {
      unwatch(status, this.#changedRef);
    }
    this.#statuses.clear();
    if (this.#global !== undefined) unwatch(this.#global, this.#globalRef);
  }

  #touch(key: string): Deno.PermissionStatus | undefined {
    const watched = this.#statuses.get(key);
    if (watched === undefined) return undefined;
    // Already the most recent (one host asked again and again): nothing to move.
    if (key === this.#last) return watched.status;
    this.#last = key;
    this.#statuses.delete(key);
    this.#statuses.set(key, watched);
    return watched.status;
  }

  async #shared(
    key: string,
    ask: () => Promise<Deno.PermissionStatus>,
  ): Promise<Deno.PermissionStatus> {
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      pending = ask().finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return await pending;
  }

  #remember(key: string, descriptor: _GateDescriptor, status: Deno.PermissionStatus): void {
    if (this.#closed) return;
    const known = this.#statuses.get(key);
    if (known?.status === status) return;
    if (known !== undefined) unwatch(known.status, this.#changedRef);
    this.#statuses.delete(key);
    this.#statuses.set(key, { descriptor, status });
    this.#last = key;
    watch(status, this.#changedRef);
    while (this.#statuses.size > LIMIT) {
      const [oldest, entry] = this.#statuses.entries().next().value!;
      unwatch(entry.status, this.#changedRef);
      this.#statuses.delete(oldest);
    }
    this.#onChange();
  }

  /** One status changed: the permission as a whole may have too. */
  #changed = (): void => {
    if (this.#closed) return;
    if (this.#global !== undefined) Deno.permissions.querySync({ name: "net" });
    this.#onChange();
  };

  /**
   * The `net` permission as a whole changed: a revoke of it leaves the statuses of single
   * hosts stale until they are queried again, so query them again.
   */
  #globalChanged = (): void => {
    if (this.#closed || this.#refreshing) return;
    this.#refreshing = true;
    try {
      for (const { descriptor } of [...this.#statuses.values()]) {
        if (descriptor.name === "net") Deno.permissions.querySync(descriptor);
      }
    } finally {
      this.#refreshing = false;
    }
    this.#onChange();
  };

  /**
   * The two callbacks as the statuses' listeners hold them: weakly (see `watch`). Declared after
   * them, as fields are made in order.
   */
  readonly #changedRef = new WeakRef(this.#changed);
  readonly #globalRef = new WeakRef(this.#globalChanged);
}
