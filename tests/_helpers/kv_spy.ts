/** Deno KV databases whose operations a test counts, and scripts it runs in processes of their own. */

/** The operations counted on a database: reads (get, getMany, list) and writes. */
export interface KvOps {
  reads: number;
  writes: number;
}

/**
 * `kv` seen through a proxy that counts its reads and writes (atomic, set, delete); `onSet`,
 * when given, is told the key of every value an atomic operation sets.
 */
export function countedKv(
  kv: Deno.Kv,
  onSet?: (key: Deno.KvKey) => void,
): { kv: Deno.Kv; ops: KvOps } {
  const ops = { reads: 0, writes: 0 };
  const proxy = new Proxy(kv, {
    get(target, name) {
      const value = Reflect.get(target, name, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (name === "get" || name === "getMany" || name === "list") ops.reads++;
        if (name === "atomic" || name === "set" || name === "delete") ops.writes++;
        const result = value.apply(target, args);
        if (name === "atomic" && onSet !== undefined) {
          const atomic = result as Deno.AtomicOperation;
          const set = atomic.set.bind(atomic);
          atomic.set = (key, ...rest) => {
            onSet(key);
            return set(key, ...rest);
          };
        }
        return result;
      };
    },
  });
  return { kv: proxy, ops };
}

/** Starts `deno run -A --unstable-kv <script> ...args` with its output piped. */
export function spawnScript(script: string, ...args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-kv", script, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/**
 * Waits until `child` prints `marker`, waits `delay` ms more, then kills it with SIGKILL.
 *
 * @returns What it printed, and how it ended.
 */
export async function killAfter(
  child: Deno.ChildProcess,
  marker: string,
  delay = 0,
): Promise<{ output: string; status: Deno.CommandStatus }> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  while (!output.includes(marker)) {
    const { done, value } = await reader.read();
    if (done) break;
    output += value;
  }
  if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
  child.kill("SIGKILL");
  await reader.cancel();
  await child.stderr.cancel();
  return { output, status: await child.status };
}

/** Counts the KV reads of every database of this process while it is not disposed. */
export function countReads(): { reads: number } & Disposable {
  const proto = Deno.Kv.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const names = ["get", "getMany", "list"] as const;
  const originals = names.map((name) => proto[name]!);
  const counter = { reads: 0, [Symbol.dispose]: () => {} };
  names.forEach((name, i) => {
    proto[name] = function (this: Deno.Kv, ...args: unknown[]) {
      counter.reads++;
      return originals[i]!.apply(this, args);
    };
  });
  counter[Symbol.dispose] = () => names.forEach((name, i) => proto[name] = originals[i]!);
  return counter;
}

/** Runs `body` with `Deno.openKv` replaced by `openKv`. */
export async function withOpenKv(
  openKv: (path?: string) => Promise<Deno.Kv>,
  body: () => Promise<void>,
): Promise<void> {
  const own = Object.getOwnPropertyDescriptor(Deno, "openKv")!;
  Object.defineProperty(Deno, "openKv", { value: openKv, configurable: true, writable: true });
  try {
    await body();
  } finally {
    Object.defineProperty(Deno, "openKv", own);
  }
}

/**
 * A `Deno.openKv` that fails `times` times with SQLite's "database is locked", as when another
 * worker is setting up a new file, then opens; `paths` lists what each call was given. Make it
 * before {@linkcode withOpenKv} puts it in place.
 */
export function lockedThenOpen(
  times: number,
): { openKv: (path?: string) => Promise<Deno.Kv>; paths: (string | undefined)[] } {
  const real = Deno.openKv;
  const paths: (string | undefined)[] = [];
  const openKv = (path?: string) => {
    paths.push(path);
    return paths.length <= times ? Promise.reject(new Error("database is locked")) : real(path);
  };
  return { openKv, paths };
}

/**
 * `kv` seen through a proxy whose calls of `name` fail with SQLite's "database is locked" while
 * `state.failures` is above 0 (each failure counts it down), as when another process holds the
 * write lock; a `list` fails when first iterated, as a real one does. `state.calls` counts the
 * calls of `name`.
 */
export function lockedKv(
  kv: Deno.Kv,
  name: "get" | "getMany" | "list" | "set" | "delete",
  failures: number,
): { kv: Deno.Kv; state: { calls: number; failures: number } } {
  const state = { calls: 0, failures };
  const proxy = new Proxy(kv, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      if (property !== name) return value.bind(target);
      return (...args: unknown[]) => {
        state.calls++;
        if (state.failures <= 0) return value.apply(target, args);
        state.failures--;
        const error = new Error("database is locked");
        if (name !== "list") return Promise.reject(error);
        return {
          next: () => Promise.reject(error),
          [Symbol.asyncIterator]() {
            return this;
          },
        };
      };
    },
  });
  return { kv: proxy, state };
}
