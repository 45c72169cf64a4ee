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
  readonly #onChange: () => void;
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
    this.#onChange = () => {
      this.#epoch++;
      onChange();
    };
  }

  /**
   * A number that changes whenever a status is learned, changes or is forgotten, and when the
   * gate closes: an answer of {@linkcode _PermissionGate.known} holds while it stays the same.
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
      if (!this.#closed) this.#global.addEventListener("change", this.#globalChanged);
    }
    return this.#global.state;
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
   * `Deno.permissions.request`.
   */
  async state(descriptor: _GateDescriptor, request = false): Promise<Deno.PermissionState> {
    const key = keyOf(descriptor);
    let status = this.#touch(key);
    if (status === undefined) {
      status = await this.#shared(key, () => Deno.permissions.query(descriptor));
      this.#remember(key, descriptor, status);
    }
    if (status.state === "prompt" && request) {
      status = await this.#shared(`request ${key}`, () => Deno.permissions.request(descriptor));
      this.#remember(key, descriptor, status);
    }
    return status.state;
  }

  /**
   * The state of one permission if it is known already (queried before and watched since), at
   * once; `undefined` when it has to be queried with {@linkcode _PermissionGate.state}.
   */
  known(descriptor: _GateDescriptor): Deno.PermissionState | undefined {
    return this.#touch(keyOf(descriptor))?.state;
  }

  /** Removes every listener and forgets every status; safe to call twice. */
  close(): void {
    this.#closed = true;
    this.#epoch++;
    for (const { status } of this.#statuses.values()) {
      status.removeEventListener("change", this.#changed);
    }
    this.#statuses.clear();
    this.#global?.removeEventListener("change", this.#globalChanged);
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
    known?.status.removeEventListener("change", this.#changed);
    this.#statuses.delete(key);
    this.#statuses.set(key, { descriptor, status });
    this.#last = key;
    status.addEventListener("change", this.#changed);
    while (this.#statuses.size > LIMIT) {
      const [oldest, entry] = this.#statuses.entries().next().value!;
      entry.status.removeEventListener("change", this.#changed);
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
}
