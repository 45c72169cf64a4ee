/**
 * One URL of a command line run: its request sent, its body written to stdout or a file, its
 * failure told, and its exit code.
 *
 * @module
 */

import {
  type CacheLoadControl,
  type CookieJar,
  type HstsStore,
  type NetworkAccessManager,
  NetworkError,
  type NetworkReply,
  NetworkReplyError,
  NetworkRequest,
} from "../../mod.ts";
import { dirname } from "node:path";
import { _withoutUserinfo } from "../_redact.ts";
import { failedOnRedirect } from "../reply/_failure.ts";
import { coveringHost } from "../hsts/_upgrade.ts";
import {
  headerBlocks,
  type HeaderDump,
  type HttpVersions,
  UNKNOWN_VERSION,
} from "./_headers_out.ts";
import { _FileBlob } from "./_file_blob.ts";
import type { _ObservedCache } from "./_observed_cache.ts";
import { type _ProgressBar, _ProgressDisplay } from "./_progress.ts";
import type { Plan } from "./_args.ts";
import { explain, type Hop } from "./_verbose.ts";
import { renderWriteOut } from "./_write_out.ts";
import { Exit, EXIT_CODES, exitCode } from "./exit_codes.ts";

const encoder = new TextEncoder();

/** Writes all of `bytes`. */
export async function writeAll(
  writer: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) offset += await writer.write(bytes.subarray(offset));
}

/**
 * The line telling that a write to `name` (`stdout`, a file) failed with `error`, or `""` for a
 * pipe its reader closed (`| head`), which the exit code alone tells, as curl does.
 */
export function cannotWrite(name: string, error: unknown): string {
  return error instanceof Deno.errors.BrokenPipe
    ? ""
    : `cannot write ${name}: ${(error as Error)?.message ?? error}`;
}

/**
 * The file `-O` writes: the URL's last path segment, percent-decoded. A name that decodes to a
 * path (`..%2F`, `%5C`), to `.` or `..`, holds a control character or is not valid
 * percent-encoding is refused: a link's name never writes outside the current directory.
 */
function remoteName(url: URL): string {
  const segment = url.pathname.split("/").pop() ?? "";
  const refuse = (why: string): never => {
    // -u puts the credentials in the URL: they are not shown.
    throw new Exit(
      EXIT_CODES.usage,
      `-O takes the file name from the URL, and ${_withoutUserinfo(url).href} ${why}: use -o FILE`,
      true,
    );
  };
  let name = "";
  try {
    name = decodeURIComponent(segment);
  } catch {
    refuse(`has a file name that is not valid percent-encoding (${JSON.stringify(segment)})`);
  }
  if (!name || name === "." || name === "..") refuse("has none");
  // deno-lint-ignore no-control-regex
  if (/[/\\\x00-\x1F\x7F]/.test(name)) {
    refuse(`names ${JSON.stringify(name)}, which is not a plain file name`);
  }
  return name;
}

/**
 * The file the body of `url` goes to, or `undefined` for stdout: its `-o` (`-` is stdout,
 * as in curl) or `-O`, in the directory of `--output-dir` (put before it, as curl does).
 */
function outputFile(url: URL, settings: Plan): string | undefined {
  const file = settings.outputs.get(url) ??
    (settings.remoteNames.has(url) ? remoteName(url) : undefined);
  if (file === undefined || file === "-") return undefined;
  return settings.outputDir === undefined ? file : `${settings.outputDir}/${file}`;
}

/**
 * Opens `file` to write, first making its directories with `--create-dirs`; `createNew`
 * refuses a file that exists.
 */
async function openOutput(
  file: string,
  createDirs: boolean,
  createNew = false,
): Promise<Deno.FsFile> {
  if (createDirs) await Deno.mkdir(dirname(file), { recursive: true });
  return await Deno.open(
    file,
    createNew ? { write: true, createNew: true } : {
      write: true,
      create: true,
      truncate: true,
    },
  );
}

/**
 * `-J`: the file name a `Content-Disposition` header gives (`filename*` in UTF-8, else
 * `filename`), without its directories as in curl; `undefined` when it has no `filename`
 * parameter, `null` when the one it has names no file (empty, `.`, `..`, a directory, a
 * control character).
 */
function dispositionName(header: string | null): string | null | undefined {
  if (header === null || !/(?:^|;)\s*filename\*?\s*=/i.test(header)) return undefined;
  let name: string | undefined;
  const extended = /(?:^|;)\s*filename\*\s*=\s*utf-8'[^']*'([^;\s]+)/i.exec(header);
  if (extended) {
    try {
      name = decodeURIComponent(extended[1]!);
    } catch {
      name = undefined;
    }
  }
  if (name === undefined) {
    const plain = /(?:^|;)\s*filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(header);
    if (plain) name = plain[1] !== undefined ? plain[1].replace(/\\(.)/g, "$1") : plain[2];
  }
  name = name?.split(/[\\/]/).pop()?.trim();
  // deno-lint-ignore no-control-regex
  if (!name || name === "." || name === ".." || /[\x00-\x1F\x7F]/.test(name)) return null;
  return name;
}

/** How the command line reaches a host of its HSTS store over http. */
const HSTS_WAY = "the store is the state file's: a run with another one, such as " +
  "--state :memory: (no cookies, cache or HSTS kept), sends the http: URL as it is";

/** The host whose policy in `store` covers `host` (see {@linkcode coveringHost}). */
function coveredBy(store: HstsStore | null, host: string): Promise<string | undefined> {
  return store === null ? Promise.resolve(undefined) : coveringHost(host, store);
}

/** Why HSTS upgraded a request to `host`, whose policy is that of `cover`. */
function upgradeReason(host: string, cover: string | undefined): string {
  if (cover === host.replace(/\.$/, "")) return `as ${host} is in the HSTS store`;
  if (cover === undefined) return `as ${host} is covered by the HSTS store's policy`;
  return `as the HSTS store's policy for ${cover} covers its subdomains, ${host} among them`;
}

/**
 * `text` (a reply's `errorString`) with the library's option names in it replaced by the
 * flags of the command line: `(timeout)`, `(transferTimeout)`, the manager's 'proxy'; its
 * advice to set `caCerts` or `clientCertificate` left out, which the hint gives in flags; the
 * way to reach a host of the HSTS store over http; a refusal of `--resolve` for a URL that HSTS
 * upgraded says so, naming the host whose policy it was (`cover`, see {@link coveringHost}).
 */
function inCliWords(
  text: string,
  settings: Plan,
  reply: NetworkReply,
  cover: string | undefined,
): string {
  const url = reply.request.url;
  return text
    .replace(
      "(--resolve works for http: URLs)",
      hstsUpgraded(reply)
        ? `(--resolve works for http: URLs, and ${url.href} was upgraded to https: by HSTS ` +
          `policy, ${upgradeReason(url.hostname, cover)}; ${HSTS_WAY})`
        : "$&",
    )
    .replace(/remove (?:the host|that policy|\S+) from the store to reach it over http/, HSTS_WAY)
    .replace(/ \((trust its CA with caCerts|give one with clientCertificate)\)/, "")
    .replace(/ \(timeout\)$/, ` (${settings.timeoutFlag})`)
    .replace(" (transferTimeout)", " (--transfer-timeout)")
    .replace(
      "(to tunnel through a proxy, set the manager's 'proxy')",
      "(to go through a proxy, give -x)",
    )
    // The library's advice for a one-shot body: the hint gives the command line's.
    .replace(
      /; pass a string, bytes, Blob, FormData or URLSearchParams to allow resending(, or use redirectPolicy "manual")?/,
      "",
    );
}

/** Whether HSTS made the http: URL of `reply` https: (no redirect on the way). */
function hstsUpgraded(reply: NetworkReply): boolean {
  return reply.redirects.length === 0 && reply.request.url.protocol === "http:" &&
    reply.url.protocol === "https:";
}

function hint(reply: NetworkReply, settings: Plan): string {
  const text = reply.errorString;
  const offline = settings.offline;
  switch (reply.error) {
    case NetworkError.SslHandshakeFailedError:
      if (/certificate required/.test(text)) {
        return " (give a client certificate with --cert and --key)";
      }
      if (/unknown issuer/.test(text)) return " (trust the server's CA with --cacert FILE)";
      return "";
    case NetworkError.ContentReSendError:
      // Only stdin (-T -) and a pipe or device of -T are one-shot bodies on the command line.
      return " (-T - or a pipe is sent as it is read, once: save it to a file and give -T FILE)";
    case NetworkError.ProxyNotFoundError:
      return " (check the proxy's host name in -x or in http_proxy/HTTPS_PROXY/ALL_PROXY)";
    case NetworkError.ProxyAuthenticationRequiredError: {
      const from = settings.proxyCredentials?.(reply.url);
      if (from === undefined) return " (give the proxy's credentials with -U USER:PASSWORD)";
      return ` (the proxy refused the credentials ${from}: check them` +
        (from === "of -U" ? ")" : ", or give others with -U USER:PASSWORD)");
    }
    case NetworkError.AuthenticationRequiredError:
      return " (give credentials with -u USER[:PASSWORD])";
    case NetworkError.UnknownNetworkError:
      if (offline && /disabled/i.test(text)) {
        return ": not in the cache, and --offline keeps the network off";
      }
      return "";
    case NetworkError.TimeoutError:
      if (/\(timeout\)$/.test(text)) return ` (allow more with ${settings.timeoutFlag} SECONDS)`;
      if (/^No data moved/.test(text)) return " (allow more with --transfer-timeout SECONDS)";
      return "";
  }
  return "";
}

/** Sends the request of `url`, writes its body and resolves with its exit code. */
export async function transfer(
  url: URL,
  settings: Plan,
  manager: NetworkAccessManager,
  cache: _ObservedCache | null,
  jar: CookieJar | null,
  hops: Map<NetworkReply, Hop[]>,
  versions: HttpVersions,
  headerDump: HeaderDump | null,
  progress: _ProgressDisplay,
  signal: AbortSignal,
  verbose: (line: string) => void,
  stderr: (line: string) => void,
): Promise<number> {
  const started = performance.now();
  // -T: this URL's file, with its method.
  const upload = settings.uploads.get(url);
  if (upload !== undefined) settings = { ...settings, body: upload, method: settings.uploadMethod };
  const file = outputFile(url, settings);
  // As curl, the file of -D is emptied as the first transfer starts, whatever comes of it.
  headerDump?.open();
  // As curl: no progress for a body written to the terminal, where it would mix with the body.
  const meter = file === undefined && Deno.stdout.isTerminal()
    ? new _ProgressDisplay(null)
    : progress;
  const bars: _ProgressBar[] = [];
  const label = file?.split(/[\\/]/).pop() ?? (url.pathname.split("/").pop() || url.host);
  const loadControl: CacheLoadControl | undefined = settings.offline ? "prefer-cache" : undefined;
  const authorization = settings.authorizations.get(url);
  let headers = settings.headers;
  if (authorization !== undefined) {
    headers = new Headers(headers);
    headers.set("authorization", authorization);
  }
  const request = new NetworkRequest(url, {
    headers,
    ...(settings.keepRedirectMethod ? { keepRedirectMethod: true } : {}),
    ...(settings.postRedirects.length > 0 ? { postRedirects: settings.postRedirects } : {}),
    signal,
    ...(loadControl ? { cacheLoadControl: loadControl } : {}),
  });
  const body = settings.body;
  const reply = manager.sendCustomRequest(request, settings.method, body ?? undefined);
  if (body instanceof ReadableStream) {
    // Stdin (-T -): its size is known once it ends.
    const upload = meter.bar(`↑ ${label}`);
    bars.push(upload);
    reply.addEventListener("uploadprogress", (event) => upload.update(event.loaded, -1));
    void reply.finished.then(() => upload.finish());
  } else if (body !== null && (body instanceof Blob ? body.size : body.byteLength) > 0) {
    const upload = meter.bar(`↑ ${label}`);
    bars.push(upload);
    const size = body instanceof Blob ? body.size : body.byteLength;
    reply.addEventListener("uploadprogress", (event) => {
      upload.update(event.loaded, size);
      if (event.loaded >= size) upload.finish();
    });
  }
  const download = meter.bar(settings.head ? `${label} (headers)` : label);
  bars.push(download);
  reply.addEventListener("redirected", (event) => {
    verbose(`* redirect ${event.status} to ${event.url.href} (hop ${event.hop})`);
  });
  reply.addEventListener("downloadprogress", (event) => {
    download.update(event.loaded, event.total);
  });
  const failHttp = () => settings.fail && reply.status >= 400;
  /** Whether a response came whole: a success, or an HTTP error status (empty bodies too). */
  const answered = () =>
    reply.status > 0 &&
    (reply.error === NetworkError.NoError ||
      exitCode(reply.error, reply.status, reply.errorString) === EXIT_CODES.httpError);
  // -i: the status lines and headers go before the body, where the body goes.
  const headerBlock = () => headerBlocks(reply, hops.get(reply) ?? [], versions);
  type Sink = { write(p: Uint8Array): Promise<number>; close(): void };
  let out = null as Sink | null;
  let refused = false;
  let writeError: Error | null = null;
  /** What could not be written. */
  let unwritten = file ?? "stdout";
  /** Where the body goes: `file`, or with -J the name the response gives, never overwritten. */
  let target = file;
  let exclusive = false;
  const resolveTarget = () => {
    if (!settings.remoteHeaderName || !settings.remoteNames.has(url) || exclusive) return;
    const disposition = reply.headers.get("content-disposition");
    const name = dispositionName(disposition);
    if (name === undefined) return;
    if (name === null) {
      // As curl: no file is written, not even the URL's.
      unwritten = "the file of -J";
      throw new Error(
        `the response's Content-Disposition (${JSON.stringify(disposition)}) names no file ` +
          "that can be written",
      );
    }
    target = unwritten = settings.outputDir === undefined ? name : `${settings.outputDir}/${name}`;
    exclusive = true;
  };
  // -D: they go to a file, or to stdout before the body.
  let dumped = settings.dumpHeader === undefined;
  /** Writes the -D headers once; false when they cannot be written. */
  const dump = async () => {
    if (dumped || reply.status === 0) return true;
    dumped = true;
    const target = settings.dumpHeader!;
    try {
      const text = await headerBlock();
      if (target === "-") {
        // Progress on the terminal is cleared first, and drawn again below.
        meter.clear();
        try {
          await writeAll(Deno.stdout, text);
        } finally {
          meter.changed();
        }
      } else await headerDump!.write(text);
      return true;
    } catch (error) {
      writeError = error as Error;
      unwritten = target === "-" ? "stdout" : target;
      return false;
    }
  };
  const copy = async () => {
    for await (const chunk of reply) {
      if (failHttp() || settings.head) continue;
      if (out === null) {
        if (!(await dump())) {
          reply.abort();
          return;
        }
        if (file !== undefined) {
          try {
            resolveTarget();
            out = await openOutput(target!, settings.createDirs, exclusive);
          } catch (error) {
            writeError = error as Error;
            reply.abort();
            return;
          }
        } else {
          // As curl, -o - writes a binary body to the terminal all the same.
          if (settings.outputs.get(url) !== "-" && Deno.stdout.isTerminal() && chunk.includes(0)) {
            refused = true;
            reply.abort();
            return;
          }
          out = { write: (p) => Deno.stdout.write(p), close() {} };
        }
        if (settings.include) {
          try {
            await writeAll(out, await headerBlock());
          } catch (error) {
            writeError = error as Error;
            reply.abort();
            return;
          }
        }
      }
      try {
        await writeAll(out, chunk);
      } catch (error) {
        writeError = error as Error;
        reply.abort();
        return;
      }
    }
  };
  try {
    try {
      await copy();
    } catch (error) {
      // A failed reply ends its iteration with its error; the reply says what it was.
      if (!(error instanceof NetworkReplyError)) throw error;
    }
    await reply.finished;
    // As curl, -i writes the headers of an HTTP error that -f fails, without its body.
    if (
      out === null && file !== undefined && !settings.head &&
      (!failHttp() || settings.include) && writeError === null && !refused && answered()
    ) {
      // An empty body still makes the file.
      try {
        resolveTarget();
        using made = await openOutput(target!, settings.createDirs, exclusive);
        if (settings.include) await writeAll(made, await headerBlock());
      } catch (error) {
        writeError = error as Error;
      }
    } else if (
      out === null && file === undefined && settings.include && !settings.head && answered()
    ) {
      try {
        if (await dump()) await writeAll(Deno.stdout, await headerBlock());
      } catch (error) {
        writeError = error as Error;
        unwritten = "stdout";
      }
    }
    if (writeError === null) await dump();
  } finally {
    out?.close();
  }
  if (reply.error === NetworkError.NoError || reply.status > 0) download.finish();
  // -I: the headers are what is written, to the file of -o or -O as in curl (`-sI -o /dev/null`).
  if (settings.head && reply.status > 0 && writeError === null) {
    try {
      if (file === undefined) await writeAll(Deno.stdout, await headerBlock());
      else {
        resolveTarget();
        using made = await openOutput(target!, settings.createDirs, exclusive);
        await writeAll(made, await headerBlock());
      }
    } catch (error) {
      writeError = error as Error;
      unwritten = target ?? "stdout";
    }
  }
  if (settings.verbose) await explain(reply, settings, cache, jar, hops.get(reply) ?? [], verbose);
  const { code, message } = outcome(
    reply,
    settings,
    refused,
    writeError === null ? null : `cannot write ${unwritten}: ${(writeError as Error).message}`,
    signal,
    // A refusal of --resolve for a URL that HSTS upgraded names the policy's host.
    reply.error !== NetworkError.NoError && hstsUpgraded(reply)
      ? await coveredBy(manager.hstsStore, reply.request.url.hostname)
      : undefined,
  );
  // The transfer's progress lines end before what follows, on lines of their own.
  meter.settle(bars);
  try {
    if (message !== "") stderr(`netaccess: ${message}`);
    if (settings.writeOut !== undefined) {
      const pieces = await renderWriteOut(settings.writeOut, {
        status: reply.status,
        httpVersion: () =>
          versions.of(reply.url).then((version) => version === UNKNOWN_VERSION ? "0" : version),
        url: reply.url,
        // As curl: the method of the last request sent (a POST redirected by a 302 is a GET).
        method: hops.get(reply)?.at(-1)?.method ?? settings.method,
        size: reply.bytesReceived,
        elapsed: performance.now() - started,
        headers: reply.headers,
        redirects: reply.redirects.length,
        exitCode: code,
        error: message,
        file: target,
      });
      for (const { to, text } of pieces) {
        try {
          await writeAll(to === "stdout" ? Deno.stdout : Deno.stderr, encoder.encode(text));
        } catch (error) {
          // As the body's: exit 23 (or the transfer's own failure), told once.
          if (writeError === null) {
            const told = cannotWrite(to, error);
            if (told !== "") stderr(`netaccess: ${told}`);
          }
          return code === EXIT_CODES.ok ? EXIT_CODES.output : code;
        }
      }
    }
  } finally {
    meter.resume();
  }
  return code;
}

/** The exit code of a transfer, and the error told for it (`""` for none). */
function outcome(
  reply: NetworkReply,
  settings: Plan,
  refused: boolean,
  writeError: string | null,
  signal: AbortSignal,
  hstsHost: string | undefined,
): { code: number; message: string } {
  if (refused) {
    return {
      code: EXIT_CODES.output,
      message: `${reply.url.href} is binary, and binary output can mess up a terminal: ` +
        `write it with -o FILE or -O, or pipe it (| cat) or give -o - to see it anyway`,
    };
  }
  // As curl: what cannot be written exits 23.
  if (writeError !== null) return { code: EXIT_CODES.output, message: writeError };
  if (reply.error === NetworkError.NoError) return { code: EXIT_CODES.ok, message: "" };
  // As curl: a file of -T that cannot be read to its end is a read error.
  if (settings.body instanceof _FileBlob && settings.body.shorter !== undefined) {
    return {
      code: EXIT_CODES.content,
      message: `${settings.method} ${reply.url.href} failed: ${settings.body.shorter}`,
    };
  }
  const code = exitCode(reply.error, reply.status, reply.errorString);
  if (code === EXIT_CODES.httpError && !settings.fail && !settings.failWithBody) {
    return { code: EXIT_CODES.ok, message: "" };
  }
  if (code === EXIT_CODES.canceled && signal.aborted) return { code, message: "" };
  // A redirect the reply failed on (one too many, a refused one) was no answer.
  const what = reply.status > 0 && !failedOnRedirect(reply)
    ? `${settings.method} ${reply.url.href} returned HTTP ${reply.status} ${reply.statusText}`
      .trimEnd() +
      // A challenge that could not be answered (stdin already sent): its body is written when
      // the reply kept it, told missing when not.
      (code === EXIT_CODES.content && reply.bytesReceived === 0 ? ", its body not kept" : "")
    : `${settings.method} ${reply.url.href} failed`;
  // An HTTP error status: the status line tells it (as curl's "The requested URL returned
  // error: 404"), with why it was not sent again when a layer said so.
  const detail = code === EXIT_CODES.httpError
    ? /^Error transferring .* replied: [^;]*(; .*)?$/.exec(reply.errorString)?.[1] ?? ""
    : `: ${inCliWords(reply.errorString, settings, reply, hstsHost)}`;
  return { code, message: `${what}${detail}${hint(reply, settings)}` };
}
