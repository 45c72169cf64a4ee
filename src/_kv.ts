/** Shared helpers for the Deno KV backed stores (cache, cookie jar, HSTS). */

import { describe } from "./_validation.ts";

/** Options shared by the `open()` functions of the KV-backed stores. */
export interface _KvSource {
  /** A SQLite file (or `":memory:"`) to open; opened and closed by the store. */
  path?: string;
  /** A database the application opened; shared, never closed by the store. */
  kv?: Deno.Kv;
}

/**
 * Opens a Deno KV database for `what`, failing with an error that names the flag when Deno KV is
 * not available (it is unstable in Deno 2: `--unstable-kv`, or `"unstable": ["kv"]` in
 * deno.json). Opening is retried while SQLite reports the file locked: workers or processes
 * that open one new file at the same moment race to set it up, and the losers are told
 * `database is locked` at once.
 */
export function _openKvDatabase(path: string | undefined, what: string): Promise<Deno.Kv> {
  if (typeof Deno.openKv !== "function") {
    return Promise.reject(
      new TypeError(
        `Cannot open ${what}: Deno KV is not available; run with --unstable-kv ` +
          `or add "unstable": ["kv"] to deno.json`,
      ),
    );
  }
  return _retryLocked(() => Deno.openKv(path), OPEN_ATTEMPTS).then((kv) => {
    if (path !== undefined) kvPaths.set(kv, path);
    return kv;
  }, async (error) => {
    throw await openFailure(error, path, what);
  });
}

/**
 * The error of a database that would not open: one naming the path and, where the file system
 * tells, why (SQLite says only "unable to open database file"). A missing permission
 * (`NotCapable`, whose message names the flag) and a lock that stayed pass as they are.
 */
async function openFailure(
  error: unknown,
  path: string | undefined,
  what: string,
): Promise<unknown> {
  if (error instanceof Deno.errors.NotCapable || isLocked(error)) return error;
  const where = path === undefined
    ? "Deno's default KV database"
    : `the KV database ${JSON.stringify(path)}`;
  let why = "";
  if (path !== undefined && path !== ":memory:") {
    const stat = (at: string) => Deno.stat(at).catch((failure: unknown) => failure);
    const found = await stat(path);
    if (found instanceof Deno.errors.NotFound) {
      const folder = path.replace(/[\\/][^\\/]*$/, "") || (path.startsWith("/") ? "/" : ".");
      const parent = folder === path ? undefined : await stat(folder);
      if (parent instanceof Deno.errors.NotFound) {
        why = `: its folder ${JSON.stringify(folder)} does not exist`;
      }
    } else if (!(found instanceof Error) && (found as Deno.FileInfo).isDirectory) {
      why = ": it is a folder, not a file";
    }
  }
  return new TypeError(
    `Cannot open ${what}: ${where} cannot be opened${why} (${(error as Error)?.message ?? error})`,
    { cause: error },
  );
}

/** How often opening a locked database is tried: between 1.1 and 2.3 s of waiting in all. */
const OPEN_ATTEMPTS = 9;

/** The path each database opened by {@linkcode _openKvDatabase} was opened at. */
const kvPaths = new WeakMap<Deno.Kv, string>();

/** The path `kv` was opened at, when {@linkcode _openKvDatabase} opened it. */
export function _kvPath(kv: Deno.Kv): string | undefined {
  return kvPaths.get(kv);
}

/**
 * Checks that `kv` is a `Deno.Kv` (from `Deno.openKv()`), before any store uses it; `what`
 * starts the message, such as "Cannot open cache".
 */
export function _checkKv(what: string, kv: unknown): asserts kv is Deno.Kv {
  const Kv = (Deno as { Kv?: unknown }).Kv;
  if (typeof Kv !== "function" || !(kv instanceof Kv)) {
    throw new TypeError(`${what}: 'kv' must be a Deno.Kv from Deno.openKv(), got ${describe(kv)}`);
  }
}

/** Opens the database a store uses; `owned` tells whether the store must close it. */
export async function _openKv(
  source: _KvSource,
  what: string,
): Promise<{ kv: Deno.Kv; owned: boolean }> {
  if (source.kv !== undefined && source.path !== undefined) {
    throw new TypeError(`Cannot open ${what}: give either 'kv' or 'path', not both`);
  }
  if (source.kv !== undefined) {
    _checkKv(`Cannot open ${what}`, source.kv);
    return { kv: source.kv, owned: false };
  }
  if (source.path !== undefined && typeof source.path !== "string") {
    throw new TypeError(
      `Cannot open ${what}: 'path' must be a string, got ${describe(source.path)}`,
    );
  }
  return { kv: await _openKvDatabase(source.path, what), owned: true };
}

/** The longest key prefix a store takes, in bytes, leaving room for its own key parts. */
const MAX_PREFIX_BYTES = 512;
const ENCODER = new TextEncoder();

/**
 * Checks the `prefix` option of a KV-backed store and returns a copy, or `fallback` when it is
 * `undefined`: a non-empty array of KV key parts, at most 512 bytes long.
 *
 * @param what What failed, for the message (`Cannot open cache`).
 * @param prefix The option's value.
 * @param fallback The store's default prefix.
 * @throws {TypeError} When `prefix` is not a non-empty array of key parts.
 * @throws {RangeError} When its key parts take more than 512 bytes.
 */
export function checkPrefix(what: string, prefix: unknown, fallback: Deno.KvKey): Deno.KvKey {
  const fail = (field: string, why: string, got: string) =>
    new TypeError(`${what}: '${field}' must be ${why}, got ${got}`);
  if (prefix === undefined) return [...fallback];
  if (!Array.isArray(prefix) || prefix.length === 0) {
    const got = Array.isArray(prefix) ? "an empty array" : describe(prefix);
    throw fail("prefix", "a non-empty array of key parts", got);
  }
  let bytes = 0;
  for (const [i, part] of prefix.entries()) {
    if (typeof part === "string") bytes += ENCODER.encode(part).length;
    else if (part instanceof Uint8Array) bytes += part.length;
    else if (typeof part === "number" || typeof part === "bigint" || typeof part === "boolean") {
      bytes += 9;
    } else {
      const kinds = "a string, number, bigint, boolean or Uint8Array";
      throw fail(`prefix[${i}]`, `a KV key part (${kinds})`, describe(part));
    }
  }
  if (bytes > MAX_PREFIX_BYTES) {
    // A length over the limit is a value out of range: a RangeError, as a partition's.
    throw new RangeError(
      `${what}: 'prefix' must be at most ${MAX_PREFIX_BYTES} bytes, got ${bytes}`,
    );
  }
  return [...prefix];
}

/** Whether two key parts are equal. */
export function _samePart(a: Deno.KvKeyPart | undefined, b: Deno.KvKeyPart): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    return a.length === b.length && a.every((byte, i) => byte === b[i]);
  }
  return a === b;
}

/**
 * How the prefix `inner` lies under the prefix `outer`: `"is"` when they are equal,
 * `"starts with"` when `outer` is a proper prefix of it, `undefined` when the keys of `inner`
 * are not under `outer`.
 */
export function _prefixNesting(
  inner: Deno.KvKey,
  outer: Deno.KvKey,
): "is" | "starts with" | undefined {
  if (outer.length > inner.length || !outer.every((part, i) => _samePart(inner[i], part))) {
    return undefined;
  }
  return outer.length === inner.length ? "is" : "starts with";
}

/** Why stores whose prefixes nest are refused, and what to do: the end of the message. */
export const _NESTED_PREFIXES =
  "so clearing one store would remove the other's entries; give each store a prefix that does " +
  "not start with another's";

/** A store open on a database: its kind (`cache`) and its prefix. */
interface OpenStore {
  readonly kind: string;
  readonly prefix: Deno.KvKey;
}

/** The stores open on each database object, for {@linkcode _claimPrefix}. */
const openStores = new WeakMap<Deno.Kv, Set<OpenStore>>();

/**
 * Records that a store of `kind` (`cache`, `cookie jar`, `HSTS store`) is open on `kv` under
 * `prefix`, and returns the function that forgets it (the store's `close()`). Refuses, with a
 * `RangeError` naming both prefixes, a prefix that nests with that of another store open on
 * the same `kv` object: one that starts with the other's, or is the other's for a store of
 * another kind (stores of one kind under one prefix share their state, as they are meant to).
 * Stores on other `Deno.Kv` objects, or in other processes, are not seen.
 */
export function _claimPrefix(kv: Deno.Kv, kind: string, prefix: Deno.KvKey): () => void {
  let stores = openStores.get(kv);
  for (const other of stores ?? []) {
    const mine = `its prefix ${Deno.inspect(prefix)}`;
    const article = /^[aeiouH]/.test(other.kind) ? "an" : "a";
    const theirs = `the prefix ${Deno.inspect(other.prefix)} of ${article} ${other.kind} open on ` +
      "the same Deno.Kv";
    const inside = _prefixNesting(prefix, other.prefix);
    const outside = inside === undefined ? _prefixNesting(other.prefix, prefix) : undefined;
    if ((inside ?? outside) === undefined || (inside === "is" && other.kind === kind)) continue;
    throw new RangeError(
      inside === undefined
        ? `Cannot open ${kind}: ${theirs} ${outside} ${mine}, ${_NESTED_PREFIXES}`
        : `Cannot open ${kind}: ${mine} ${inside} ${theirs}, ${_NESTED_PREFIXES}`,
    );
  }
  if (stores === undefined) openStores.set(kv, stores = new Set());
  const store: OpenStore = { kind, prefix };
  stores.add(store);
  return () => void stores.delete(store);
}

/** The longest key Deno KV stores or reads, in bytes as it encodes keys. */
export const MAX_KEY_BYTES = 2048;

/**
 * The bytes `key` takes in Deno KV's encoding (at most; exact for strings, bytes and
 * numbers): a string or bytes part is its bytes (NUL doubled) and two more, a number nine, a
 * boolean one.
 */
export function _keyBytes(key: Deno.KvKey): number {
  let bytes = 0;
  for (const part of key) {
    if (typeof part === "string") {
      bytes += 2 + ENCODER.encode(part).length + part.split("\0").length - 1;
    } else if (part instanceof Uint8Array) {
      bytes += 2 + part.length + part.filter((b) => b === 0).length;
    } else if (typeof part === "number") bytes += 9;
    else if (typeof part === "bigint") bytes += 3 + Math.ceil(part.toString(16).length / 2);
    else bytes += 1;
  }
  return bytes;
}

function isLocked(error: unknown): boolean {
  return error instanceof Error && /database is locked|busy/i.test(error.message);
}

/**
 * Runs `operation`, retrying with exponential backoff and jitter while SQLite reports
 * `database is locked` (another process holds the write lock). Other errors pass through.
 */
export async function _retryLocked<T>(operation: () => Promise<T>, attempts = 12): Promise<T> {
  let delay = 5;
  for (let attempt = 1;; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (!isLocked(error) || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay + Math.random() * delay));
      delay = Math.min(delay * 2, 500);
    }
  }
}

/**
 * Commits the atomic operation `build` makes, retried while the database is locked. A `sum`
 * that meets a value other than a `Deno.KvU64` (a foreign or corrupt counter) makes `repair`
 * run (it rewrites the counters), then the operation is tried once more. KV applies the
 * mutations before a failing `sum` without rolling them back, so callers put every `sum`
 * before any other mutation.
 */
export async function commitCounted(
  kv: Deno.Kv,
  build: (atomic: Deno.AtomicOperation) => void,
  repair: () => Promise<unknown>,
): Promise<Deno.KvCommitResult | Deno.KvCommitError> {
  const attempt = () =>
    _retryLocked(() => {
      const atomic = kv.atomic();
      build(atomic);
      return atomic.commit();
    });
  try {
    return await attempt();
  } catch (error) {
    if (!(error instanceof TypeError && /non-U64/.test(error.message))) throw error;
    await repair();
    return await attempt();
  }
}
