/**
 * A command line run: the manager built from the arguments, the network layer that shows
 * headers, and the transfers of its URLs.
 *
 * @module
 */

import {
  type Authenticator,
  type CookieJar,
  type Layer,
  NetworkAccessManager,
  NetworkError,
  type NetworkReply,
  NetworkReplyError,
  type RedirectPolicy,
} from "../../mod.ts";
import { _ObservedCache } from "./_observed_cache.ts";
import { HeaderDump, HttpVersions, statusLine } from "./_headers_out.ts";
import { _ProgressDisplay } from "./_progress.ts";
import { count, plan, REDIRECT_POLICIES, seconds, type Values } from "./_args.ts";
import { readText } from "./_request.ts";
import { openState } from "./_state.ts";
import { transfer, writeAll } from "./_transfer.ts";
import { cookieFileText, readCookieFile } from "./_cookie_file.ts";
import { type Hop, outgoing, requestLines } from "./_verbose.ts";
import { _isRevalidation, _recordCacheServed } from "../layers/_cache_served.ts";
import { type AuthCredentials, credentialsFromUrl } from "../auth/credential_cache.ts";
import { usesHttpVersion } from "./_write_out.ts";
import { badValue, Exit, EXIT_CODES } from "./exit_codes.ts";
import { defaultStatePath } from "./state_path.ts";
import { checkResolve, parseResolve, resolver } from "./_resolve.ts";
import { proxyEnvSnapshot } from "../proxy/system_proxy.ts";
import { proxySetup } from "./_proxy.ts";
import { resolveProxy } from "../proxy/_resolve.ts";
import { proxyQuery } from "../proxy/network_proxy.ts";
import { backgroundDone, originHttp2 } from "../manager/_origin_http2.ts";
import { checkCaCerts, checkClientCertificate, type ClientCertificate } from "../tls.ts";

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
  // What -v tells of the cache's answers, and the background revalidations kept off the hops.
  _recordCacheServed();
  for (const warning of settings.warnings) report(`netaccess: warning: ${warning}`);
  // As curl, --max-redirs -1 is no limit: the largest number the manager takes.
  const maxRedirects = values["max-redirs"]?.trim() === "-1"
    ? Number.MAX_SAFE_INTEGER
    : count("max-redirs", values["max-redirs"], 0, " (or -1: no limit)");
  const transferTimeout = seconds("transfer-timeout", values["transfer-timeout"], {
    zero: "no limit",
  });
  const retry = count("retry", values.retry, 0);
  // As curl's --retry-delay: the same wait before each retry, no backoff (0: the backoff).
  const retryDelay = seconds("retry-delay", values["retry-delay"], { zero: "the backoff" });
  // As curl's --retry-max-time: no retry starts after that long (0: no limit), a time that no
  // timer waits for.
  const retryMaxTime = seconds("retry-max-time", values["retry-max-time"], {
    zero: "no limit",
    limit: Number.MAX_SAFE_INTEGER,
  });
  // As curl: redirects are followed with -L (or a --redirect-policy of one's choice) only.
  const redirectPolicy = values["redirect-policy"] ??
    (values.location || values["location-trusted"] ? undefined : "manual");
  if (redirectPolicy !== undefined && !REDIRECT_POLICIES.includes(redirectPolicy)) {
    throw badValue(
      "redirect-policy",
      `--redirect-policy takes ${REDIRECT_POLICIES.join(", ")}, got "${redirectPolicy}"`,
    );
  }
  const { proxy, proxyFactory, credentialsOf } = proxySetup(values);
  settings.proxyCredentials = credentialsOf;
  // As curl: a certificate file that cannot be read, or holds no PEM certificate (or key) that
  // Deno can use, exits 77 (--cacert) or 58 (--cert, --key).
  const caCerts = values.cacert === undefined ? undefined : await readCaCerts(values.cacert);
  const clientCertificate = values.cert === undefined
    ? undefined
    : await readClientCertificate(values.cert, values.key);
  const resolveEntries = parseResolve(values.resolve ?? []);
  checkResolve(resolveEntries, settings.urls);
  using resolving = resolveEntries.length > 0 ? resolver(resolveEntries) : null;
  const statePath = values.state ?? defaultStatePath();
  // As curl's warnings, those of the state are not told with -s.
  await using state = await openState(
    statePath,
    settings,
    (line) => report(`netaccess: ${line}`),
    values.state === undefined,
  );
  for (const file of state.cookieJar === null ? [] : settings.cookieFiles) {
    await readCookieFile(
      file,
      state.cookieJar!,
      (line) => report(`netaccess: warning: ${line}`),
      (line) => settings.verbose && stderr(line),
    );
  }
  const cache = state.cache === null ? null : new _ObservedCache(state.cache);
  const hops = new Map<NetworkReply, Hop[]>();
  const progress = new _ProgressDisplay(settings.progress ? Deno.stderr : null);
  const verbose = (line: string) => {
    if (!settings.verbose) return;
    progress.clear();
    stderr(line);
    progress.changed();
  };
  const authenticator = values.auth === "digest" ? digestOnly(settings.urls) : undefined;
  let manager: NetworkAccessManager;
  try {
    manager = new NetworkAccessManager({
      cache,
      ...(authenticator ? { authenticator } : {}),
      cookieJar: state.cookieJar,
      hstsStore: state.hstsStore,
      cacheLoadControl: settings.offline ? "prefer-cache" : "prefer-network",
      networkAccessible: settings.offline ? "not-accessible" : "accessible",
      ...(proxyFactory ? { proxyFactory } : proxy ? { proxy } : {}),
      ...(caCerts ? { caCerts } : {}),
      ...(clientCertificate ? { clientCertificate } : {}),
      ...(maxRedirects !== undefined ? { maxRedirects } : {}),
      ...(transferTimeout !== undefined ? { transferTimeout } : {}),
      ...(settings.timeout !== undefined ? { timeout: settings.timeout } : {}),
      ...(retry !== undefined
        ? {
          retry: retry === 0
            ? false
            : retryDelay === undefined && retryMaxTime === undefined
            ? retry
            : {
              limit: retry,
              ...(retryDelay !== undefined
                ? { delay: retryDelay, backoffLimit: retryDelay, jitter: false }
                : {}),
              ...(retryMaxTime !== undefined ? { maxRetryTime: retryMaxTime } : {}),
            },
        }
        : {}),
      ...(redirectPolicy ? { redirectPolicy: redirectPolicy as RedirectPolicy } : {}),
      ...(settings.parallel ? { maxConnectionsPerHost: settings.parallel } : {}),
    });
  } catch (error) {
    throw new Exit(EXIT_CODES.usage, (error as Error).message, true);
  }
  await using _closing = manager;
  // The versions of status lines (-i, -I, -D, -v, -w %{http_version}): an https origin is asked
  // on the route of its requests in the manager's handshake, only when one is printed.
  const printsVersion = settings.include || settings.head || settings.dumpHeader !== undefined ||
    settings.verbose ||
    (settings.writeOut !== undefined && usesHttpVersion(settings.writeOut));
  const versions = new HttpVersions({
    probe: printsVersion && !settings.offline,
    offline: settings.offline,
    http2: (url, proxy) => originHttp2(manager, url, proxy),
    route: (url) => {
      try {
        return resolveProxy(proxyQuery(url), {
          proxy: manager.proxy,
          proxyFactory: manager.proxyFactory,
          env: proxyEnvSnapshot().vars,
        });
      } catch {
        return undefined;
      }
    },
    ...(caCerts ? { caCerts } : {}),
  });
  const trustedAuthorization = settings.locationTrusted
    ? settings.headers.get("authorization")
    : null;
  // As curl: the body of -d, -F or --json makes a POST of the request whatever -X says, so
  // after a 301 or 302 (but with --post301, --post302) the next hops go without it, with the
  // method of -X; the redirect layer drops only a POST's body there.
  const postBody = settings.body !== null && settings.method !== "POST";
  const withoutBody = new WeakSet<NetworkReply>();
  const network: Layer = (next) => async (exchange) => {
    // --location-trusted: the credentials of -u (or -H Authorization) go to every host
    // redirected to, where the redirect layer leaves them out.
    if (
      trustedAuthorization !== null && exchange.hop > 0 && !exchange.headers.has("authorization")
    ) {
      exchange.headers.set("authorization", trustedAuthorization);
    }
    if (postBody && exchange.hop > 0 && exchange.body !== null) {
      const status = hops.get(exchange.reply)?.at(-1)?.status;
      if (
        withoutBody.has(exchange.reply) ||
        ((status === 301 || status === 302) && !settings.postRedirects.includes(status))
      ) {
        withoutBody.add(exchange.reply);
        exchange.body = null;
        for (const name of [...exchange.headers.keys()]) {
          if (name.startsWith("content-")) exchange.headers.delete(name);
        }
      }
    }
    // The cache's background revalidation of a stale response already served: nothing of the
    // reply's own, not counted as one of its hops; -v tells how it ended.
    if (_isRevalidation(exchange)) {
      if (!settings.verbose) return next(exchange);
      try {
        const response = await next(exchange);
        verbose(
          `* cache: revalidated in the background: ${response.status} ${response.statusText}`,
        );
        return response;
      } catch (error) {
        verbose(
          `* cache: the revalidation in the background failed: ${
            (error as Error)?.message ?? error
          }`,
        );
        throw error;
      }
    }
    const hop: Hop = {
      url: new URL(exchange.url.href),
      method: exchange.method,
      requestHeaders: new Headers(exchange.headers),
      status: 0,
      statusText: "",
      responseHeaders: new Headers(),
      proxy: exchange.proxy,
    };
    if (printsVersion) versions.took(hop.url, exchange.proxy);
    const list = hops.get(exchange.reply) ?? [];
    list.push(hop);
    hops.set(exchange.reply, list);
    // -v: the request's lines, as curl's, name the HTTP version spoken on the request's route,
    // which an https origin is asked while the request goes out.
    const version = settings.verbose ? versions.of(hop.url, hop.proxy) : undefined;
    // The body goes as its bytes, with a Content-Length as curl sends it (a stream would go
    // chunked, which servers such as object stores refuse with 411 Length Required); stdin of
    // -T - goes as it is read, chunked, as curl sends it.
    const sending = settings.connectTimeout === undefined
      ? next(exchange)
      : headersWithin(next(exchange), settings.connectTimeout, exchange.url);
    if (version !== undefined) {
      // Awaited below: a failure meanwhile is not unhandled.
      sending.catch(() => {});
      verbose(requestLines(hop, outgoing(exchange), await version));
    }
    const response = await sending;
    hop.status = response.status;
    hop.statusText = response.statusText;
    hop.responseHeaders = new Headers(response.headers);
    if (version !== undefined) {
      const lines = [`< ${statusLine(await version, response.status, response.statusText)}`];
      for (const [name, value] of response.headers) lines.push(`< ${name}: ${value}`);
      verbose([...lines, "<"].join("\n"));
    }
    return response;
  };
  manager.use(network, "network");
  if (resolving !== null) manager.use(resolving.layer, "network");

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
  // -D FILE: one file for the run's transfers, each one's headers after the last's.
  await using headerDump = settings.dumpHeader === undefined || settings.dumpHeader === "-"
    ? null
    : new HeaderDump(settings.dumpHeader);
  try {
    const jobs = settings.urls.map((url) => () =>
      transfer(
        url,
        settings,
        manager,
        cache,
        state.cookieJar,
        hops,
        versions,
        headerDump,
        progress,
        controller.signal,
        verbose,
        report,
      )
    );
    // As curl: the exit code is the last transfer's; with --parallel, that of the last
    // transfer to fail, as they end.
    let last = EXIT_CODES.ok as number;
    if (settings.parallel !== undefined && settings.urls.length > 1) {
      await Promise.all(jobs.map((job) =>
        job().then((code) => {
          if (code !== EXIT_CODES.ok) last = code;
        })
      ));
      progress.end();
    } else {
      for (const job of jobs) {
        last = await job();
        progress.end();
      }
    }
    // The cache's revalidations in the background of the stale responses it served end before
    // the manager closes (which would abort them), so that the next run finds what they store.
    if (!interrupted) {
      const done = await backgroundWithin(
        manager,
        settings.timeout ?? BACKGROUND_WAIT_MS,
        controller.signal,
      );
      if (!done) verbose("* cache: the revalidation in the background took too long: dropped");
    }
    if (settings.cookieJarFile !== undefined && state.cookieJar !== null) {
      await saveCookies(settings.cookieJarFile, state.cookieJar, report);
    }
    if (interrupted) return EXIT_CODES.canceled;
    return last;
  } finally {
    try {
      Deno.removeSignalListener("SIGINT", onInterrupt);
    } catch {
      // No signals on this platform.
    }
  }
}

/** How long a run waits for the cache's background revalidations at its end, without -m. */
const BACKGROUND_WAIT_MS = 30_000;

/**
 * Waits for the background work of `manager` for up to `ms`, or until `signal` aborts.
 *
 * @returns Whether it was done.
 */
async function backgroundWithin(
  manager: NetworkAccessManager,
  ms: number,
  signal: AbortSignal,
): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stop = () => {};
  const done = await Promise.race([
    backgroundDone(manager).then(() => true),
    new Promise<boolean>((resolve) => {
      stop = () => resolve(false);
      timer = setTimeout(stop, ms);
      signal.addEventListener("abort", stop, { once: true });
    }),
  ]);
  clearTimeout(timer);
  signal.removeEventListener("abort", stop);
  return done;
}

/** `--cacert FILE`: its text, checked as the manager would check it, or an exit 77 naming it. */
async function readCaCerts(path: string): Promise<string[]> {
  const text = await readText(path, "the --cacert file", EXIT_CODES.caCertificates);
  try {
    return [...checkCaCerts("--cacert", [text])];
  } catch (error) {
    const why = /-----BEGIN CERTIFICATE-----/.test(text)
      ? `Deno cannot read its certificates (${
        /Deno can read \((.*)\)$/s.exec((error as Error).message)?.[1] ?? (error as Error).message
      })`
      : `it holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`;
    throw new Exit(EXIT_CODES.caCertificates, `Cannot use the --cacert file ${path}: ${why}`);
  }
}

/** A PEM private key block: a key's label ends in `PRIVATE KEY` (PKCS #8, PKCS #1, SEC1). */
const PRIVATE_KEY = /-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----[\s\S]*?-----END \1-----\r?\n?/g;

/**
 * `--cert FILE [--key FILE]`: the certificate and its key, checked as the manager would and
 * tried in a client made and closed at once, or an exit 58 naming the file. As curl, a `--cert`
 * file may hold the key too, when no `--key` is given; without one, it is refused (exit 58).
 */
async function readClientCertificate(
  certPath: string,
  keyPath: string | undefined,
): Promise<ClientCertificate> {
  const text = await readText(certPath, "the --cert file", EXIT_CODES.clientCertificate);
  // The certificate goes without a key its file holds.
  const cert = text.replace(PRIVATE_KEY, "");
  let key: string;
  if (keyPath === undefined) {
    key = text.match(PRIVATE_KEY)?.[0] ?? "";
    if (key === "" && /-----BEGIN CERTIFICATE-----/.test(text)) {
      throw new Exit(
        EXIT_CODES.clientCertificate,
        `Cannot use the --cert file ${certPath}: it holds no private key; give its key with ` +
          `--key FILE (or a --cert file that holds the certificate and its key)`,
      );
    }
  } else key = await readText(keyPath, "the --key file", EXIT_CODES.clientCertificate);
  const keyFile = keyPath === undefined ? "--cert file" : "--key file";
  const keyFilePath = keyPath ?? certPath;
  let pair: ClientCertificate;
  try {
    pair = checkClientCertificate("", "pair", { cert, key });
  } catch (error) {
    const message = /'pair\.key'/.test((error as Error).message)
      ? `Cannot use the ${keyFile} ${keyFilePath}: it holds no PEM private key ` +
        `("-----BEGIN PRIVATE KEY-----")`
      : `Cannot use the --cert file ${certPath}: it holds no PEM certificate ` +
        `("-----BEGIN CERTIFICATE-----")`;
    throw new Exit(EXIT_CODES.clientCertificate, message);
  }
  // As curl, a certificate Deno cannot decode, or a key that is not its own, is told before any
  // request (at request time, it would fail each https one as a refused connection).
  if (typeof Deno.createHttpClient !== "function") return pair;
  try {
    Deno.createHttpClient(pair).close();
  } catch (error) {
    const why = (error as Error).message;
    const message = /KeyMismatch|not be consistent/i.test(why)
      ? `Cannot use the ${keyFile} ${keyFilePath}: its private key is not that of the ` +
        `certificate in the --cert file ${certPath} (${why})`
      : /private key|decode key/i.test(why)
      ? `Cannot use the ${keyFile} ${keyFilePath}: Deno cannot read its private key (${why})`
      : /certificate/i.test(why)
      ? `Cannot use the --cert file ${certPath}: Deno cannot read its certificate (${why})`
      : `Cannot use the --cert file ${certPath} with the ${keyFile} ${keyFilePath} (${why})`;
    throw new Exit(EXIT_CODES.clientCertificate, message);
  }
  return pair;
}

/**
 * `-c FILE`: writes the cookies of `jar` to `path` (`-` for stdout). As in curl, a file that
 * cannot be written is a warning, and the exit code stays that of the transfers.
 */
async function saveCookies(
  path: string,
  jar: CookieJar,
  report: (line: string) => void,
): Promise<void> {
  const text = await cookieFileText(jar, (line) => report(`netaccess: warning: ${line}`));
  const bytes = new TextEncoder().encode(text);
  try {
    if (path === "-") await writeAll(Deno.stdout, bytes);
    else await Deno.writeFile(path, bytes);
  } catch (error) {
    report(
      `netaccess: warning: cannot write the -c cookie file ${path}: ${(error as Error).message}`,
    );
  }
}

/**
 * `--connect-timeout`: `response`, or a `TimeoutError` when its headers take longer than `ms`.
 * Deno's `fetch` does not tell when a connection is up, so the time runs from the send of each
 * request (each redirect hop, each attempt) to its response headers: connection, TLS
 * handshake and the server's first answer, not the body.
 */
async function headersWithin(
  response: Promise<Response>,
  ms: number,
  url: URL,
): Promise<Response> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // The send is aborted with the reply, which this error fails; a response that comes
      // after all is let go.
      response.then((late) => late.body?.cancel(), () => {}).catch(() => {});
      reject(
        new NetworkReplyError(
          NetworkError.TimeoutError,
          `Connection to ${url.host} timed out after ${ms} ms: no response headers ` +
            "(--connect-timeout)",
        ),
      );
    }, ms);
  });
  try {
    return await Promise.race([response, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `--digest`: the credentials of `urls` (those of -u, .netrc or the URL itself) leave them for an
 * authenticator that answers a Digest challenge of their origin only, once a reply, as curl
 * answers: a Basic challenge ends the reply with its 401, never sent again.
 */
function digestOnly(urls: URL[]): Authenticator | undefined {
  const credentials = new Map<string, AuthCredentials>();
  for (const url of urls) {
    const given = credentialsFromUrl(url);
    if (given === undefined) continue;
    if (!credentials.has(url.origin)) credentials.set(url.origin, given);
    url.username = "";
    url.password = "";
  }
  if (credentials.size === 0) return undefined;
  const answered = new WeakMap<NetworkReply, Set<string>>();
  return (reply, challenge) => {
    const given = credentials.get(challenge.origin);
    const origins = answered.get(reply) ?? new Set<string>();
    if (
      challenge.proxy || challenge.scheme !== "digest" || given === undefined ||
      origins.has(challenge.origin)
    ) {
      return undefined;
    }
    answered.set(reply, origins.add(challenge.origin));
    return given;
  };
}
