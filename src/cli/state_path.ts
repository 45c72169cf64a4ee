/**
 * Where the command line keeps its state (cookies, cache, HSTS) by default.
 *
 * @module
 */

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * The default `--state` file: `netaccess/state.sqlite3` in the user's cache directory
 * (`$XDG_CACHE_HOME`, else `~/.cache`, on Linux and other Unix systems;
 * `~/Library/Caches` on macOS; `%LOCALAPPDATA%` on Windows).
 *
 * @param getEnv Reads an environment variable (default `Deno.env.get`, `undefined` without
 * the `env` permission).
 * @param os The operating system (default `Deno.build.os`).
 * @returns The path, or `null` when no home or cache directory is known.
 *
 * @example Where the state lives on Linux
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultStatePath } from "@netaccess/core/cli";
 *
 * const vars: Record<string, string> = { XDG_CACHE_HOME: "/var/cache/me", HOME: "/home/me" };
 * assert.equal(
 *   defaultStatePath((name) => vars[name], "linux"),
 *   "/var/cache/me/netaccess/state.sqlite3",
 * );
 * assert.equal(
 *   defaultStatePath((name) => name === "HOME" ? "/Users/me" : undefined, "darwin"),
 *   "/Users/me/Library/Caches/netaccess/state.sqlite3",
 * );
 * ```
 */
export function defaultStatePath(
  getEnv: (name: string) => string | undefined = env,
  os: typeof Deno.build.os = Deno.build.os,
): string | null {
  if (os === "windows") {
    const local = getEnv("LOCALAPPDATA") ||
      (getEnv("USERPROFILE") && `${getEnv("USERPROFILE")}\\AppData\\Local`);
    return local ? `${local}\\netaccess\\state.sqlite3` : null;
  }
  const home = getEnv("HOME");
  if (os === "darwin") return home ? `${home}/Library/Caches/netaccess/state.sqlite3` : null;
  const xdg = getEnv("XDG_CACHE_HOME");
  const base = xdg && xdg.startsWith("/") ? xdg : home ? `${home}/.cache` : null;
  return base ? `${base}/netaccess/state.sqlite3` : null;
}

/** The default `--state` path as the help text shows it. */
export function statePathHint(): string {
  return Deno.build.os === "windows"
    ? "%LOCALAPPDATA%\\netaccess\\state.sqlite3"
    : Deno.build.os === "darwin"
    ? "~/Library/Caches/netaccess/state.sqlite3"
    : "$XDG_CACHE_HOME/netaccess/state.sqlite3, or ~/.cache/...";
}
