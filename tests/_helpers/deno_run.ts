/** Runs Deno in a process of its own and gives back what it printed. */

/** How a `deno` child process ended: its exit code, and standard output and error as text. */
export interface DenoOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno <args>` (the same executable as this test's) to its end.
 *
 * @param args The arguments after `deno`.
 * @param options Where to run it and with what environment (`clearEnv` drops this process's).
 * @returns The exit code, and standard output and error as text.
 */
export async function runDeno(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; clearEnv?: boolean } = {},
): Promise<DenoOutput> {
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    ...options,
    // No release check: it would go out through a proxy the test names (dl.deno.land).
    env: { DENO_NO_UPDATE_CHECK: "1", ...options.env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    code: output.code,
    stdout: text.decode(output.stdout),
    stderr: text.decode(output.stderr),
  };
}
