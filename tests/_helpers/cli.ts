/** Runs the command line (`src/cli.ts`) as a subprocess, as a person would. */

const CLI = new URL("../../src/cli.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

/** What a run of the command line produced. */
export interface CliResult {
  code: number;
  stdout: Uint8Array;
  /** stdout as text. */
  out: string;
  /** stderr as text. */
  err: string;
}

/** Options of {@linkcode runCli}. */
export interface CliOptions {
  /** Bytes or text on stdin (default: none). */
  stdin?: Uint8Array | string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** The working directory. */
  cwd?: string;
  /** The `--state` file; `null` adds no `--state` (the default path). Default `":memory:"`. */
  state?: string | null;
}

/** The `deno` arguments that run the command line with this repository's configuration. */
export function cliCommand(args: string[], state: string | null = ":memory:"): string[] {
  return [
    "run",
    "-A",
    "--quiet",
    "--config",
    CONFIG,
    CLI,
    ...(state === null ? [] : ["--state", state]),
    ...args,
  ];
}

/** Runs `netaccess ARGS` and collects its exit code and output. */
export async function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: cliCommand(args, options.state === undefined ? ":memory:" : options.state),
    cwd: options.cwd,
    // No release check: it would go out through a proxy the test names (dl.deno.land).
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...options.env },
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(
      typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin,
    );
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout, out: decoder.decode(stdout), err: decoder.decode(stderr) };
}

/**
 * Whether `script` (util-linux) can run a command under a pseudo-terminal; in CI it must (`.ci/run`
 * installs it), elsewhere `file` warns that its pseudo-terminal tests are skipped.
 */
export async function scriptAvailable(file: string): Promise<boolean> {
  let success = false;
  try {
    ({ success } = await new Deno.Command("script", {
      args: ["-q", "-e", "-c", "true", "/dev/null"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output());
  } catch {
    success = false;
  }
  if (!success && Deno.env.get("CI")) {
    throw new Error("script (util-linux) is missing: CI must install it (.ci/run does)");
  }
  if (!success) console.warn(`${file}: \`script\` is missing, skipping the pseudo-terminal tests`);
  return success;
}

/**
 * Runs the command line under a pseudo-terminal (`script`; stdout and stderr both): its exit code
 * and everything the terminal showed.
 */
export async function underTerminal(
  args: string[],
  cwd: string,
): Promise<{ code: number; screen: string }> {
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const command = [Deno.execPath(), ...cliCommand(args)].map(quote).join(" ");
  const { code, stdout } = await new Deno.Command("script", {
    args: ["-q", "-e", "-f", "-c", command, "/dev/null"],
    cwd,
    env: { NO_COLOR: "1", TERM: "xterm" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code, screen: new TextDecoder().decode(stdout) };
}
