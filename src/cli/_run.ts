/**
 * A command line run: the manager built from the arguments, the network layer that shows
 * headers and upload progress, and the transfers of its URLs.
 *
 * @module
 */

import {
  type Layer,
  NetworkAccessManager,
  type NetworkReply,
  type NetworkRequest,
  type RedirectPolicy,
  RequestBody,
} from "../../mod.ts";
import { _ObservedCache } from "./_observed_cache.ts";
import { _ProgressDisplay } from "./_progress.ts";
import { count, parseProxy, plan, REDIRECT_POLICIES, seconds, type Values } from "./_args.ts";
import { readText, sliced } from "./_request.ts";
import { openState } from "./_state.ts";
import { transfer } from "./_transfer.ts";
import { type Hop, redact } from "./_verbose.ts";
import { Exit, EXIT_CODES } from "./exit_codes.ts";
import { defaultStatePath } from "./state_path.ts";

/**
 * Runs the command line with parsed arguments and resolves with the exit code. `stderr` takes
 * verbose lines, `report` failures and warnings.
 */
export async function run(
  values: Values,
  positionals: string[],
  stderr: (line: string) => void,
  report: (line: string) => void = stderr,
): Promise<number> {
  const settings = await plan(values, positionals);
  for (const warning of settings.warnings) report(`netaccess: warning: ${warning}`);
  const maxRedirects = count("max-redirs", values["max-redirs"], 0);
  const transferTimeout = seconds("transfer-timeout", values["transfer-timeout"]);
  const retry = count("retry", values.retry, 0);
  // As curl: redirects are followed with -L (or a --redirect-policy of one's choice) only.
  const redirectPolicy = values["redirect-policy"] ??
    (values.location ? undefined : "manual");
  if (redirectPolicy !== undefined && !REDIRECT_POLICIES.includes(redirectPolicy)) {
    throw new Exit(
      EXIT_CODES.usage,
      `--redirect-policy takes ${REDIRECT_POLICIES.join(", ")}, got "${redirectPolicy}"`,
      true,
    );
  }
  const proxy = values.proxy === undefined ? undefined : parseProxy(values.proxy);
  const caCerts = values.cacert === undefined
    ? undefined
    : [await readText(values.cacert, "the --cacert file")];
  const clientCertificate = values.cert === undefined ? undefined : {
    cert: await readText(values.cert, "the --cert file"),
    key: await readText(values.key!, "the --key file"),
  };
  const statePath = values.state ?? defaultStatePath();
  await using state = await openState(statePath, settings, (line) => stderr(`netaccess: ${line}`));
  const cache = state.cache === null ? null : new _ObservedCache(state.cache);
  const hops = new Map<NetworkReply, Hop[]>();
  const progress = new _ProgressDisplay(settings.progress ? Deno.stderr : null);
  const verbose = (line: string) => {
    if (!settings.verbose) return;
    progress.clear();
    stderr(line);
    progress.changed();
  };
  let manager: NetworkAccessManager;
  try {
    manager = new NetworkAccessManager({
      cache,
      cookieJar: state.cookieJar,
      hstsStore: state.hstsStore,
      cacheLoadControl: settings.offline ? "prefer-cache" : "prefer-network",
      networkAccessible: settings.offline ? "not-accessible" : "accessible",
      ...(proxy ? { proxy } : {}),
      ...(caCerts ? { caCerts } : {}),
      ...(clientCertificate ? { clientCertificate } : {}),
      ...(maxRedirects !== undefined ? { maxRedirects } : {}),
      ...(transferTimeout !== undefined ? { transferTimeout } : {}),
      ...(settings.timeout !== undefined ? { timeout: settings.timeout } : {}),
      ...(retry !== undefined ? { retry: retry > 0 ? retry : false } : {}),
      ...(redirectPolicy ? { redirectPolicy: redirectPolicy as RedirectPolicy } : {}),
      ...(settings.parallel ? { maxConnectionsPerHost: settings.parallel } : {}),
    });
  } catch (error) {
    throw new Exit(EXIT_CODES.usage, (error as Error).message, true);
  }
  await using _closing = manager;
  const uploads = new WeakMap<NetworkRequest, Uint8Array>();
  const network: Layer = (next) => async (exchange) => {
    // This send gets a stream of the bytes (for upload progress); the layers above keep seeing
    // the replayable bytes, so a 307 or an authentication challenge can send them again.
    const upload = uploads.get(exchange.request);
    const replayable = exchange.body;
    if (upload !== undefined && replayable !== null) {
      exchange.body = RequestBody.from(sliced(upload));
    }
    const hop: Hop = {
      url: new URL(exchange.url.href),
      method: exchange.method,
      requestHeaders: new Headers(exchange.headers),
      status: 0,
      responseHeaders: new Headers(),
    };
    const list = hops.get(exchange.reply) ?? [];
    list.push(hop);
    hops.set(exchange.reply, list);
    if (settings.verbose) {
      const target = exchange.url;
      const lines = [`> ${exchange.method} ${target.pathname}${target.search} (${target.origin})`];
      for (const [name, value] of exchange.headers) lines.push(`> ${name}: ${redact(name, value)}`);
      verbose(lines.join("\n"));
    }
    let response: Response;
    try {
      response = await next(exchange);
    } finally {
      exchange.body = replayable;
    }
    hop.status = response.status;
    hop.responseHeaders = new Headers(response.headers);
    if (settings.verbose) {
      const lines = [`< ${response.status} ${response.statusText}`.trimEnd()];
      for (const [name, value] of response.headers) lines.push(`< ${name}: ${value}`);
      verbose(lines.join("\n"));
    }
    return response;
  };
  manager.use(network, "network");

  const controller = new AbortController();
  let interrupted = false;
  const onInterrupt = () => {
    interrupted = true;
    controller.abort();
  };
  try {
    Deno.addSignalListener("SIGINT", onInterrupt);
  } catch {
    // No signals on this platform.
  }
  try {
    const jobs = settings.urls.map((url) => () =>
      transfer(
        url,
        settings,
        manager,
        cache,
        state.cookieJar,
        hops,
        uploads,
        progress,
        controller.signal,
        verbose,
        report,
      )
    );
    let worst = EXIT_CODES.ok as number;
    if (settings.parallel !== undefined && settings.urls.length > 1) {
      const codes = await Promise.all(jobs.map((job) => job()));
      progress.end();
      worst = codes.find((code) => code !== 0) ?? 0;
    } else {
      for (const job of jobs) {
        const code = await job();
        progress.end();
        if (code !== 0 && worst === 0) worst = code;
      }
    }
    if (interrupted) return EXIT_CODES.canceled;
    return worst;
  } finally {
    try {
      Deno.removeSignalListener("SIGINT", onInterrupt);
    } catch {
      // No signals on this platform.
    }
  }
}
