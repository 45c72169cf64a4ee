/**
 * A seeded, deterministic fuzz test of the reply lifecycle: for each seed a loopback server
 * answers each request as its path says (at once, slowly, short, cut off, gzip, 204, 304, a
 * redirect, a 404, never), and a manager drives a mix of readers, aborts, listeners and a
 * close chosen by a small PRNG. Every reply must keep the lifecycle's invariants; a failure
 * names the seed and the reply.
 */

import assert from "node:assert/strict";
import {
  NetworkAccessManager,
  NetworkError,
  type NetworkProgressEvent,
  type NetworkReply,
  NetworkReplyError,
} from "../../mod.ts";
import {
  chunk,
  guardUnhandledRejections,
  serveTcp,
  takeUnhandledRejections,
  type TestServer,
  tick,
} from "../_helpers/server.ts";

guardUnhandledRejections();

/** The seeds: a failure names its seed; put that one alone here to replay it. */
const SEEDS: readonly number[] = Array.from(
  { length: 36 },
  (_, i) => (0x9e3779b9 ^ Math.imul(i, 2654435761)) >>> 0,
);

/** mulberry32: a small PRNG with a 32-bit state. */
function prng(seed: number) {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const chance = (p: number): boolean => next() < p;
  return { int, pick, chance };
}
type Rng = ReturnType<typeof prng>;

// ---------------------------------------------------------------------------------------------
// The server: `/<tag>/<kind>/<size>/<a>/<b>` says how to answer, so that the PRNG chooses it.

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/** The body of `size` bytes for `tag`: a pattern the client checks byte for byte. */
function body(tag: number, size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + tag * 7) & 0xff;
  return bytes;
}

async function gzip(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function writeAll(conn: Deno.Conn, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  for (let offset = 0; offset < bytes.byteLength;) {
    offset += await conn.write(bytes.subarray(offset));
  }
}

/** Reads request heads one after the other from a keep-alive connection. */
class Heads {
  #pending = "";
  readonly #buffer = new Uint8Array(16384);
  constructor(readonly conn: Deno.Conn) {}

  async next(): Promise<string | null> {
    for (;;) {
      const end = this.#pending.indexOf("\r\n\r\n");
      if (end >= 0) {
        const head = this.#pending.slice(0, end);
        this.#pending = this.#pending.slice(end + 4);
        return head;
      }
      const n = await this.conn.read(this.#buffer);
      if (n === null) return null;
      this.#pending += latin1.decode(this.#buffer.subarray(0, n));
    }
  }
}

/** Answers one request; returns whether the connection may serve another. */
async function answer(conn: Deno.Conn, method: string, path: string): Promise<boolean> {
  const [, tagText, kind, sizeText, aText, bText] = path.split("/");
  const tag = Number(tagText);
  const size = Number(sizeText);
  const a = Number(aText);
  const b = Number(bText);
  const head = method === "HEAD";
  switch (kind) {
    case "ok": {
      const framing = a === 0 ? `Content-Length: ${size}` : "Transfer-Encoding: chunked";
      await writeAll(conn, `HTTP/1.1 200 OK\r\n${framing}\r\n\r\n`);
      if (head) return true;
      const bytes = body(tag, size);
      if (a === 0) await writeAll(conn, bytes);
      else {
        if (size > 0) await writeAll(conn, chunk(bytes));
        await writeAll(conn, "0\r\n\r\n");
      }
      return true;
    }
    case "slow": {
      // `a` chunks, `b` ms apart; Content-Length when the size is even, else chunked.
      const counted = size % 2 === 0;
      const framing = counted ? `Content-Length: ${size}` : "Transfer-Encoding: chunked";
      await writeAll(conn, `HTTP/1.1 200 OK\r\n${framing}\r\n\r\n`);
      if (head) return true;
      const bytes = body(tag, size);
      const step = Math.ceil(size / Math.max(1, a));
      for (let offset = 0; offset < size; offset += step) {
        await tick(b);
        const part = bytes.subarray(offset, Math.min(size, offset + step));
        await writeAll(conn, counted ? part : chunk(part));
      }
      if (!counted) await writeAll(conn, "0\r\n\r\n");
      return true;
    }
    case "short": {
      // Declares `size` bytes, sends `a`, and closes.
      await writeAll(conn, `HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`);
      if (head) return true;
      await writeAll(conn, body(tag, size).subarray(0, a));
      await tick(b);
      return false;
    }
    case "cut": {
      // Chunked: sends `a` bytes and closes without the last chunk.
      await writeAll(conn, `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n`);
      if (head) return true;
      if (a > 0) await writeAll(conn, chunk(body(tag, size).subarray(0, a)));
      await tick(b);
      return false;
    }
    case "gzip": {
      const compressed = await gzip(body(tag, size));
      const framing = a === 0
        ? `Content-Length: ${compressed.byteLength}`
        : "Transfer-Encoding: chunked";
      await writeAll(conn, `HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n${framing}\r\n\r\n`);
      if (head) return true;
      if (a === 0) await writeAll(conn, compressed);
      else {
        await writeAll(conn, chunk(compressed));
        await writeAll(conn, "0\r\n\r\n");
      }
      return true;
    }
    case "none":
      await writeAll(conn, "HTTP/1.1 204 No Content\r\n\r\n");
      return true;
    case "same":
      // A 304 may tell the length of the representation it stands for (RFC 9110, 8.6).
      await writeAll(
        conn,
        `HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n${
          a === 0 ? "" : `Content-Length: ${size}\r\n`
        }\r\n`,
      );
      return true;
    case "missing": {
      await writeAll(conn, `HTTP/1.1 404 Not Found\r\nContent-Length: ${size}\r\n\r\n`);
      if (!head) await writeAll(conn, body(tag, size));
      return true;
    }
    case "redirect": {
      const target = `/${path.split("/").slice(3).join("/")}`;
      await writeAll(
        conn,
        `HTTP/1.1 302 Found\r\nLocation: ${target}\r\nContent-Length: 0\r\n\r\n`,
      );
      return true;
    }
    case "hang": {
      // Never answers: waits for the client (or the server) to close the connection.
      const sink = new Uint8Array(1024);
      while (await conn.read(sink) !== null) { /* drain */ }
      return false;
    }
  }
  await writeAll(conn, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  return true;
}

function startServer(): TestServer {
  return serveTcp(async (conn) => {
    const heads = new Heads(conn);
    for (;;) {
      const head = await heads.next();
      if (head === null) return;
      const [method = "GET", path = "/"] = head.split("\r\n", 1)[0]!.split(" ");
      if (!await answer(conn, method, path)) return;
    }
  });
}

// ---------------------------------------------------------------------------------------------
// The client's plan for one reply.

type Kind = "ok" | "slow" | "short" | "cut" | "gzip" | "none" | "same" | "missing" | "hang";
type Consumer = "bytes" | "text" | "iterate" | "break" | "race" | "none";
type AbortAt =
  | "never"
  | "sync"
  | "microtask"
  | "tick"
  | "delay"
  | "metadata"
  | "readyread"
  | "chunk"
  | "finished";
const LISTENED = [
  "finished",
  "error",
  "readyread",
  "downloadprogress",
  "metadatachanged",
  "redirected",
] as const;
type Listened = typeof LISTENED[number];

interface Plan {
  index: number;
  method: "GET" | "HEAD";
  kind: Kind;
  redirect: boolean;
  size: number;
  path: string;
  consumer: Consumer;
  /** Start reading after a timer rather than at once. */
  lateRead: boolean;
  breakAfter: number;
  abortAt: AbortAt;
  abortParam: number;
  listeners: Partial<Record<Listened, "before" | "after">>;
  priority: "high" | "normal" | "low";
  /** The request's own signal: none, one aborted later, or one aborted before the request. */
  signal: "none" | "later" | "aborted";
  /** The request's own read buffer, or `undefined` for the manager's. */
  readBufferSize: number | undefined;
  /** A request made from this reply's `finished` listener, as a crawler chains them. */
  then: Plan | undefined;
}

interface Settings {
  maxConnectionsPerHost: number;
  timeout: number;
  transferTimeout: number;
  readBufferSize: number;
  maxBodySize: number;
  closeMidFlight: boolean;
  closeAfter: number;
  /** Close from a reply's own event listener (which reply, and on which event) too. */
  closeIn: { index: number; type: "readyread" | "metadatachanged" | "finished" } | undefined;
}

function chooseSettings(rng: Rng): Settings {
  return {
    maxConnectionsPerHost: rng.pick([1, 2, 6]),
    timeout: rng.chance(0.2) ? rng.int(40, 200) : 0,
    transferTimeout: rng.chance(0.2) ? rng.int(30, 120) : 0,
    readBufferSize: rng.pick([0, 0, 1, 4096, 65536]),
    maxBodySize: rng.chance(0.15) ? rng.int(500, 100_000) : 0,
    closeMidFlight: rng.chance(0.3),
    closeAfter: rng.int(0, 40),
    closeIn: rng.chance(0.5)
      ? { index: rng.int(0, 3), type: rng.pick(["readyread", "metadatachanged", "finished"]) }
      : undefined,
  };
}

function choosePlan(rng: Rng, index: number, settings: Settings): Plan {
  const kind = rng.pick<Kind>(
    ["ok", "ok", "slow", "short", "cut", "gzip", "none", "same", "missing", "hang"],
  );
  const size = rng.pick([0, 1, rng.int(2, 200), rng.int(1000, 20_000), rng.int(70_000, 200_000)]);
  let a = 0;
  let b = 0;
  if (kind === "ok" || kind === "gzip" || kind === "same") a = rng.int(0, 1);
  if (kind === "slow") {
    a = rng.int(1, 6);
    b = rng.int(0, 8);
  }
  if (kind === "short" || kind === "cut") {
    a = Math.min(size, rng.int(0, Math.max(0, size - 1)));
    b = rng.int(0, 5);
  }
  const tag = index + 1;
  const redirect = rng.chance(0.15);
  const target = `${kind}/${kind === "short" ? Math.max(1, size) : size}/${a}/${b}`;
  const path = redirect ? `/${tag}/redirect/${tag}/${target}` : `/${tag}/${target}`;
  const method = rng.chance(0.15) ? "HEAD" : "GET";
  const consumer = rng.pick<Consumer>(["bytes", "text", "iterate", "break", "race", "none"]);
  let abortAt: AbortAt = rng.chance(0.4)
    ? rng.pick<AbortAt>(
      ["sync", "microtask", "tick", "delay", "metadata", "readyread", "chunk", "finished"],
    )
    : "never";
  const listeners: Plan["listeners"] = {};
  for (const type of LISTENED) {
    if (rng.chance(0.5)) listeners[type] = rng.chance(0.7) ? "before" : "after";
  }
  const plan: Plan = {
    index,
    method,
    kind,
    redirect,
    size: kind === "short" ? Math.max(1, size) : size,
    path,
    consumer,
    lateRead: rng.chance(0.3),
    breakAfter: rng.int(1, 3),
    abortAt,
    abortParam: rng.int(1, 30),
    listeners,
    priority: rng.pick(["high", "normal", "low"] as const),
    signal: rng.chance(0.8) ? "none" : rng.chance(0.7) ? "later" : "aborted",
    readBufferSize: rng.chance(0.8) ? undefined : rng.pick([0, 1, 1024]),
    then: index < 100 && rng.chance(0.15) ? choosePlan(rng, index + 100, settings) : undefined,
  };
  // A reply that may never finish by itself (no answer, or a body nobody reads past the read
  // buffer) is ended by an abort, a timeout or the manager's close.
  const stalls = kind === "hang" ||
    (consumer === "none" && (plan.readBufferSize ?? settings.readBufferSize) > 0 &&
      method === "GET");
  const ends = settings.closeMidFlight || settings.timeout > 0 ||
    (kind === "hang" && settings.transferTimeout > 0);
  const unconditional = ["sync", "microtask", "tick", "delay"].includes(abortAt) ||
    plan.signal !== "none";
  if (stalls && !ends && !unconditional) {
    abortAt = rng.pick<AbortAt>(["tick", "delay"]);
    plan.abortAt = abortAt;
  }
  return plan;
}

// ---------------------------------------------------------------------------------------------
// What happened to one reply.

interface ReplyLog {
  plan: Plan;
  reply: NetworkReply;
  events: Record<Listened, number>;
  /** Listener types added after the reply had finished: they hear nothing. */
  lateListeners: Set<Listened>;
  samples: number[];
  progress: [number, number][];
  metadataAfterFinish: boolean;
  readyreadAfterFinish: boolean;
  errorAfterFinish: boolean;
  finishedState: { isFinished: boolean; isRunning: boolean; error: number; errorString: string }[];
  errorEventCodes: number[];
  managerFinished: number;
  read:
    | { ok: true; bytes: Uint8Array | string | null; chunks: number }
    | { ok: false; error: unknown }
    | undefined;
  problems: string[];
}

/** Aborts the reply: a running one finishes at once as canceled, a finished one stays as it is. */
function abort(record: ReplyLog): void {
  const { reply } = record;
  const finished = reply.isFinished;
  const error = reply.error;
  reply.abort();
  if (finished && reply.error !== error) record.problems.push("abort() after finish changed error");
  if (!finished && (!reply.isFinished || reply.error !== NetworkError.OperationCanceledError)) {
    record.problems.push(`abort() left isFinished ${reply.isFinished}, error ${reply.error}`);
  }
}

function watch(record: ReplyLog, type: Listened): void {
  const { reply } = record;
  if (reply.isFinished) record.lateListeners.add(type);
  reply.addEventListener(type, (event: Event) => {
    record.events[type]++;
    record.samples.push(reply.bytesReceived);
    switch (type) {
      case "finished":
        record.finishedState.push({
          isFinished: reply.isFinished,
          isRunning: reply.isRunning,
          error: reply.error,
          errorString: reply.errorString,
        });
        break;
      case "error":
        record.errorEventCodes.push((event as unknown as { code: number }).code);
        if (record.events.finished > 0) record.errorAfterFinish = true;
        break;
      case "metadatachanged":
        if (reply.isFinished) record.metadataAfterFinish = true;
        if (reply.status === 0) record.problems.push("metadatachanged with status 0");
        if (record.plan.abortAt === "metadata") abort(record);
        break;
      case "readyread":
        if (reply.isFinished) record.readyreadAfterFinish = true;
        if (record.plan.abortAt === "readyread" && record.events.readyread >= 1) abort(record);
        break;
      case "downloadprogress": {
        const progress = event as NetworkProgressEvent;
        record.progress.push([progress.loaded, progress.total]);
        if (progress.loaded !== reply.bytesReceived) {
          record.problems.push(
            `downloadprogress ${progress.loaded}, bytesReceived ${reply.bytesReceived}`,
          );
        }
        break;
      }
    }
  });
}

function concat(parts: Uint8Array[]): Uint8Array {
  const whole = new Uint8Array(parts.reduce((n, part) => n + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    whole.set(part, offset);
    offset += part.byteLength;
  }
  return whole;
}

async function read(record: ReplyLog): Promise<void> {
  const { reply, plan } = record;
  if (plan.lateRead) await tick(plan.abortParam % 10);
  try {
    switch (plan.consumer) {
      case "none":
        return;
      case "bytes":
        record.read = { ok: true, bytes: await reply.bytes(), chunks: 1 };
        return;
      case "text":
        record.read = { ok: true, bytes: await reply.text(), chunks: 1 };
        return;
      case "race": {
        // Two pulls at a time, as a reader that prefetches does.
        const iterator = reply[Symbol.asyncIterator]();
        const parts: Uint8Array[] = [];
        let count = 0;
        for (;;) {
          const results = await Promise.all([iterator.next(), iterator.next()]);
          for (const result of results) {
            if (!result.done) parts.push(result.value);
          }
          count += results.filter((result) => !result.done).length;
          record.samples.push(reply.bytesReceived);
          if (results.some((result) => result.done)) break;
        }
        record.read = { ok: true, bytes: concat(parts), chunks: count };
        return;
      }
      case "iterate":
      case "break": {
        const parts: Uint8Array[] = [];
        let count = 0;
        for await (const part of reply) {
          record.samples.push(reply.bytesReceived);
          parts.push(part);
          count++;
          if (plan.abortAt === "chunk" && count === 1) abort(record);
          if (plan.consumer === "break" && count >= plan.breakAfter) break;
        }
        record.read = {
          ok: true,
          bytes: plan.consumer === "break" ? null : concat(parts),
          chunks: count,
        };
        return;
      }
    }
  } catch (error) {
    record.read = { ok: false, error };
  }
}

/** The codes a reply may end with under its plan and the manager's settings. */
function allowedCodes(plan: Plan, settings: Settings): Set<number> {
  const codes = new Set<number>();
  const body = plan.method === "GET" &&
    !["none", "same", "hang"].includes(plan.kind);
  const failsAlone = plan.method === "GET" && (plan.kind === "short" || plan.kind === "cut");
  if (!failsAlone && plan.kind !== "hang") codes.add(NetworkError.NoError);
  if (plan.kind === "missing") {
    codes.delete(NetworkError.NoError);
    codes.add(NetworkError.ContentNotFoundError);
  }
  if (failsAlone) {
    codes.add(NetworkError.RemoteHostClosedError);
    codes.add(NetworkError.ProtocolFailure);
  }
  if (
    plan.abortAt !== "never" || plan.consumer === "break" || settings.closeMidFlight ||
    plan.signal !== "none"
  ) codes.add(NetworkError.OperationCanceledError);
  if (settings.timeout > 0 || settings.transferTimeout > 0) codes.add(NetworkError.TimeoutError);
  if (settings.maxBodySize > 0 && body && plan.size > settings.maxBodySize) {
    codes.add(NetworkError.ProtocolFailure);
  }
  return codes;
}

function check(record: ReplyLog, settings: Settings): void {
  const { reply, plan, problems } = record;
  const fail = (what: string) => problems.push(what);
  if (!reply.isFinished) fail("isFinished is false after finished resolved");
  if (reply.isRunning) fail("isRunning is true after finished resolved");
  if ((reply.error === NetworkError.NoError) !== (reply.errorString === "")) {
    fail(`error ${reply.error} and errorString ${JSON.stringify(reply.errorString)} disagree`);
  }
  if (!allowedCodes(plan, settings).has(reply.error)) {
    fail(`unexpected error ${reply.error}: ${reply.errorString}`);
  }
  if (record.managerFinished !== 1) {
    fail(`the manager's finished event came ${record.managerFinished} times`);
  }
  for (const type of ["finished", "error", "metadatachanged", "redirected"] as const) {
    if (record.events[type] > 1) fail(`${type} came ${record.events[type]} times`);
  }
  if (plan.listeners.finished !== undefined && !record.lateListeners.has("finished")) {
    if (record.events.finished !== 1) fail(`finished came ${record.events.finished} times`);
  }
  for (const state of record.finishedState) {
    if (!state.isFinished || state.isRunning) {
      fail(`in the finished event isFinished ${state.isFinished}, isRunning ${state.isRunning}`);
    }
    if (state.error !== reply.error || state.errorString !== reply.errorString) {
      fail("the error changed after the finished event");
    }
  }
  if (plan.listeners.error !== undefined && !record.lateListeners.has("error")) {
    const expected = reply.error === NetworkError.NoError ? 0 : 1;
    if (record.events.error !== expected) {
      fail(`error came ${record.events.error} times for error ${reply.error}`);
    }
  }
  for (const code of record.errorEventCodes) {
    if (code !== reply.error) fail(`the error event said ${code}, the reply ${reply.error}`);
  }
  if (record.errorAfterFinish) fail("an error event came after finished");
  if (record.metadataAfterFinish) fail("metadatachanged came after the reply finished");
  if (record.readyreadAfterFinish) fail("readyread came after the reply finished");
  if (record.events.redirected > 0 && !plan.redirect) fail("redirected without a redirect");
  // Bytes received never go down, and never past a known total on success.
  const samples = [...record.samples, reply.bytesReceived];
  for (let i = 1; i < samples.length; i++) {
    if (samples[i]! < samples[i - 1]!) fail(`bytesReceived went down: ${samples.join(",")}`);
  }
  const succeeded = reply.error === NetworkError.NoError;
  if (succeeded && reply.bytesTotal >= 0 && reply.bytesReceived > reply.bytesTotal) {
    fail(`bytesReceived ${reply.bytesReceived} > bytesTotal ${reply.bytesTotal}`);
  }
  if (succeeded && plan.method === "GET" && ["ok", "slow", "gzip"].includes(plan.kind)) {
    if (reply.bytesReceived !== plan.size) {
      fail(`received ${reply.bytesReceived} bytes of ${plan.size}`);
    }
  }
  // Progress: monotonic, and the last one the final count of a successful reply.
  for (let i = 1; i < record.progress.length; i++) {
    if (record.progress[i]![0] < record.progress[i - 1]![0]) {
      fail(`downloadprogress went down: ${JSON.stringify(record.progress)}`);
    }
  }
  const heardProgress = plan.listeners.downloadprogress !== undefined &&
    !record.lateListeners.has("downloadprogress");
  if (succeeded && heardProgress) {
    const last = record.progress.at(-1);
    if (last === undefined) fail("no downloadprogress event for a successful reply");
    else if (last[0] !== reply.bytesReceived) {
      fail(`the last downloadprogress said ${last[0]}, bytesReceived is ${reply.bytesReceived}`);
    } else if (reply.bytesTotal >= 0 && last[1] !== reply.bytesTotal) {
      fail(`the last downloadprogress total ${last[1]}, bytesTotal ${reply.bytesTotal}`);
    }
  }
  // The body read: the whole body on success, a NetworkReplyError with the reply's code else.
  const result = record.read;
  if (result !== undefined && !result.ok) {
    const error = result.error;
    if (!(error instanceof NetworkReplyError)) {
      fail(`the body read threw ${error}, not a NetworkReplyError`);
    } else if (error.code !== reply.error) {
      fail(`the body read threw code ${error.code}, the reply has ${reply.error}`);
    } else if (reply.error === NetworkError.NoError) {
      fail("the body read threw for a successful reply");
    }
  }
  if (result?.ok && result.bytes !== null && plan.abortAt !== "chunk") {
    const expected = plan.method === "HEAD" || ["none", "same"].includes(plan.kind)
      ? new Uint8Array(0)
      : body(Number(plan.path.split("/")[1]), plan.size);
    const got = typeof result.bytes === "string" ? null : result.bytes;
    if (!succeeded && reply.error !== NetworkError.ContentNotFoundError) {
      fail(`the body read resolved for a failed reply (error ${reply.error})`);
    } else if (
      got !== null && (got.byteLength !== expected.byteLength ||
        !got.every((v, i) => v === expected[i]))
    ) {
      fail(`the body read gave ${got.byteLength} bytes, not the ${expected.byteLength} sent`);
    }
  }
  if (
    result === undefined && plan.consumer !== "none" && plan.abortAt !== "chunk"
  ) fail("the body read never settled");
}

// ---------------------------------------------------------------------------------------------

async function runSeed(seed: number): Promise<void> {
  const rng = prng(seed);
  const settings = chooseSettings(rng);
  const server = startServer();
  const manager = new NetworkAccessManager({
    maxConnectionsPerHost: settings.maxConnectionsPerHost,
    timeout: settings.timeout,
    transferTimeout: settings.transferTimeout,
    readBufferSize: settings.readBufferSize,
    maxBodySize: settings.maxBodySize,
  });
  const records: ReplyLog[] = [];
  const byReply = new Map<NetworkReply, ReplyLog>();
  manager.addEventListener("finished", (event) => {
    const record = byReply.get(event.reply);
    if (record) record.managerFinished++;
  });
  const tasks: Promise<unknown>[] = [];
  const count = rng.int(4, 14);
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  let stuck = false;
  try {
    const launch = (plan: Plan): void => {
      const url = `${server.url}${plan.path}`;
      const controller = plan.signal === "none" ? undefined : new AbortController();
      if (plan.signal === "aborted") controller!.abort();
      const init = {
        priority: plan.priority,
        signal: controller?.signal,
        readBufferSize: plan.readBufferSize,
      };
      const reply = plan.method === "HEAD" ? manager.head(url, init) : manager.get(url, init);
      if (plan.signal === "later") {
        tasks.push(tick(plan.abortParam % 13).then(() => controller!.abort()));
      }
      const record: ReplyLog = {
        plan,
        reply,
        events: Object.fromEntries(LISTENED.map((type) => [type, 0])) as ReplyLog["events"],
        lateListeners: new Set(),
        samples: [],
        progress: [],
        metadataAfterFinish: false,
        readyreadAfterFinish: false,
        errorAfterFinish: false,
        finishedState: [],
        errorEventCodes: [],
        managerFinished: 0,
        read: undefined,
        problems: [],
      };
      records.push(record);
      byReply.set(reply, record);
      for (const type of LISTENED) if (plan.listeners[type] === "before") watch(record, type);
      const late = LISTENED.filter((type) => plan.listeners[type] === "after");
      if (late.length > 0) {
        tasks.push(tick(plan.abortParam % 7).then(() => late.forEach((t) => watch(record, t))));
      }
      switch (plan.abortAt) {
        case "sync":
          abort(record);
          break;
        case "microtask":
          queueMicrotask(() => abort(record));
          break;
        case "tick":
          tasks.push(tick().then(() => abort(record)));
          break;
        case "delay":
          tasks.push(tick(plan.abortParam).then(() => abort(record)));
          break;
        case "metadata":
          if (plan.listeners.metadatachanged === undefined) watch(record, "metadatachanged");
          plan.listeners.metadatachanged ??= "before";
          break;
        case "readyread":
          if (plan.listeners.readyread === undefined) watch(record, "readyread");
          plan.listeners.readyread ??= "before";
          break;
        case "finished":
          tasks.push(reply.finished.then(() => abort(record)));
          break;
      }
      tasks.push(read(record));
      if (plan.then !== undefined) {
        const next = plan.then;
        reply.addEventListener("finished", () => launch(next));
      }
      const closeIn = settings.closeIn;
      if (settings.closeMidFlight && closeIn !== undefined && closeIn.index === plan.index) {
        reply.addEventListener(closeIn.type, () => void manager.close());
      }
    };
    for (let i = 0; i < count; i++) {
      launch(choosePlan(rng, i, settings));
      if (rng.chance(0.3)) await tick(rng.int(0, 3));
    }
    if (settings.closeMidFlight) {
      tasks.push(tick(settings.closeAfter).then(() => manager.close()));
    }
    const all = (async () => {
      // Chained requests join the records while the others finish.
      for (let seen = 0; seen < records.length;) {
        const known = records.length;
        await Promise.all(records.map((record) => record.reply.finished));
        await Promise.all(tasks);
        seen = known;
      }
    })();
    const stalled = new Promise<"stalled">((resolve) => {
      watchdog = setTimeout(() => resolve("stalled"), 8000);
    });
    if (await Promise.race([all, stalled]) === "stalled") {
      stuck = true;
      const open = records.filter((record) =>
        !record.reply.isFinished || (record.read === undefined && record.plan.consumer !== "none")
      );
      assert.fail(
        `seed ${seed}: ${open.length} replies never finished or their reads never settled: ${
          JSON.stringify(open.map((record) => record.plan))
        } with ${JSON.stringify(settings)}`,
      );
    }
    const key = new URL(server.url).origin;
    const running = manager.runningReplies.length;
    const waiting = manager.queue.waiting(key);
    await manager.close();
    // A slot goes back when the exchange sent in it settles, which may be an event-loop turn
    // after its reply finished: a few turns, then whatever is still held has leaked.
    for (let turn = 0; turn < 20 && manager.queue.active(key) !== 0; turn++) await tick();
    const active = manager.queue.active(key);
    for (const record of records) check(record, settings);
    const failures = records.filter((record) => record.problems.length > 0).map((record) =>
      `reply ${record.plan.index} ${JSON.stringify(record.plan)}: ${record.problems.join("; ")}`
    );
    if (running !== 0) failures.push(`${running} finished replies are still listed as running`);
    if (waiting !== 0) failures.push(`the queue holds ${waiting} waiting requests`);
    if (active !== 0) failures.push(`the queue holds ${active} slots after close()`);
    const rejections = takeUnhandledRejections();
    if (rejections.length > 0) failures.push(`unhandled rejections: ${rejections.join("; ")}`);
    if (failures.length > 0) {
      assert.fail(`seed ${seed} (${JSON.stringify(settings)}):\n${failures.join("\n")}`);
    }
  } finally {
    clearTimeout(watchdog);
    await manager.close();
    if (!stuck) await Promise.allSettled(tasks);
    await server.close();
  }
}

Deno.test("NetworkReply keeps its lifecycle invariants under seeded random traffic", async (t) => {
  for (const seed of SEEDS) {
    await t.step(`seed ${seed}`, () => runSeed(seed));
  }
});
