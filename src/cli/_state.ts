/**
 * The state of a command line run (HTTP cache, cookie jar, HSTS) opened from its Deno KV file.
 *
 * @module
 */

import {
  type CookieJar,
  type HstsStore,
  KvCache,
  KvCookieJar,
  KvHstsStore,
  MemoryCache,
  MemoryCookieJar,
  MemoryHstsStore,
  type NetworkCache,
} from "../../mod.ts";
import { _openKvDatabase } from "../_kv.ts";
import type { Plan } from "./_args.ts";

/** The stores of a run, closed together. */
export interface State extends AsyncDisposable {
  cache: NetworkCache | null;
  cookieJar: CookieJar | null;
  hstsStore: HstsStore;
}

/**
 * Opens the state file at `path` (`null`: in memory), or warns and keeps the state in memory
 * when Deno KV is missing or the file cannot be opened. The missing folders of the path are
 * made only with `createFolders` (the default location); as curl's `-o` without
 * `--create-dirs`, a path the user gave is opened where it is, or not at all.
 */
export async function openState(
  path: string | null,
  plan: Plan,
  warn: (line: string) => void,
  createFolders = false,
): Promise<State> {
  let kv: Deno.Kv | null = null;
  if (path !== null && typeof Deno.openKv !== "function") {
    warn(
      "Deno KV is not available (run with --unstable-kv): cookies, cache and HSTS last this run only",
    );
  } else if (path !== null) {
    if (createFolders && path !== ":memory:") {
      const dir = path.replace(/[\\/][^\\/]*$/, "");
      if (dir && dir !== path) await Deno.mkdir(dir, { recursive: true }).catch(() => {});
    }
    try {
      // Tried again while SQLite reports the file locked: runs started at once on a new file.
      kv = await _openKvDatabase(path, "the state file");
    } catch (error) {
      // As curl with the files of its state (-c, --hsts): the run goes on without them.
      warn(
        `warning: ${(error as Error).message}; cookies, cache and HSTS last this run only ` +
          "(give another file with --state PATH)",
      );
    }
  }
  // The state file is one person's: a private cache, which may keep responses to requests
  // that carried their cookies or credentials.
  const cache = plan.noCache
    ? null
    : kv
    ? await KvCache.open({ kv, mode: "private" })
    : new MemoryCache();
  // As curl's -b FILE and -c FILE: the run's cookies are those of the files, not the state's.
  const cookieJar = plan.noCookies
    ? null
    : plan.cookieFiles.length > 0 || plan.cookieJarFile !== undefined
    ? new MemoryCookieJar()
    : kv
    ? await KvCookieJar.open({ kv })
    : new MemoryCookieJar();
  const hstsStore = kv ? await KvHstsStore.open({ kv }) : new MemoryHstsStore();
  return {
    cache,
    cookieJar,
    hstsStore,
    async [Symbol.asyncDispose]() {
      await cache?.close();
      await (cookieJar as KvCookieJar | null)?.close?.();
      await (hstsStore as KvHstsStore).close?.();
      kv?.close();
    },
  };
}
