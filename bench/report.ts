/**
 * The request path against raw `fetch`, measured side by side in one process: alternating
 * rounds of the manager and its baseline, the median ratio of the rounds reported (a ratio
 * above 1 means the manager was faster). What it measures:
 *
 * - 1 KiB GET over loopback, 6 requests at a time and one at a time (the default manager), the
 *   floor (`fetch` with the options the manager must pass), the least wrapper (that `fetch` in a
 *   reply object that counts its origin's slot) and the manager without a cookie jar and
 *   decompression guard, each against a bare `fetch(url)`; the floor against the floor
 *   without the decompression guard's `accept-encoding` header; and a manager made, used for
 *   one GET and closed for each request, one at a time;
 * - 256 MiB streamed through `for await (const chunk of reply)` against reading
 *   `response.body` with its reader and with `for await`, with the growth of the resident set
 *   while streaming;
 * - the cost per request of queuing, aborting and closing 1,000, 10,000 and 30,000 queued
 *   requests, each round in a process of its own (the ratio of the per-request cost at 10,000
 *   to that at 1,000: 1 is flat), each phase and both together; the same for a least queue of
 *   reply objects, the baseline (what the machine does to as many objects that stay alive), run
 *   in turn with the manager's rounds; and the manager's growth over the least queue's;
 * - 30 concurrent requests to a local HTTP/2 (TLS) server that answers after 50 ms, against
 *   `fetch` (held to 6 per host, the manager would take 5 times as long);
 * - a manager with `caCerts` made for each https request, one at a time: alone, while another
 *   manager with the same `caCerts` is open, and from a `KvNetworkAccessManagerFactory`: time per
 *   request and connections opened (managers of equal settings share their HTTP client while
 *   one of them, or the factory, holds it).
 *
 * Run: `npx --yes deno@2.9.6 run -A bench/report.ts [rounds]` (default 5 rounds; the GET and
 * stream rows take at least 11, the queue rows at least 9).
 * `--only=get,stream,queue,h2,tls` runs a subset.
 *
 * @module
 */

import { KvNetworkAccessManagerFactory, NetworkAccessManager } from "../mod.ts";
import { makeTestCertificates } from "../tests/_helpers/tls.ts";
import { serveStream } from "./_stream_server.ts";
import { serveTls } from "./_tls_server.ts";
import { median, pair, type PairResult } from "./_rounds.ts";

const rounds = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 5);
const only = Deno.args.find((a) => a.startsWith("--only="))?.slice(7).split(",");
const wanted = (name: string) => only === undefined || only.includes(name);

const fmt = (n: number, digits = 2) => n.toFixed(digits);
const MIB = 1024 * 1024;

/**
 * Runs `baseline` and `subject` (each a whole batch) once per round, alternating which goes
 * first; the median ratio baseline/subject and the median times in milliseconds.
 */
async function compare(
  baseline: () => Promise<unknown>,
  subject: () => Promise<unknown>,
  atLeast = 1,
): Promise<PairResult> {
  const r = await pair(
    "",
    { n: 1, rounds: Math.max(rounds, atLeast), quiet: true },
    baseline,
    subject,
  );
  return { ratio: r.ratio, baseline: r.baseline / 1000, subject: r.subject / 1000 };
}

const lines: string[] = [];
function report(line: string): void {
  lines.push(line);
  console.log(line);
}

// ---------------------------------------------------------------------------------------------
// 1 KiB GET over loopback.

if (wanted("get")) {
  const KIB = new Uint8Array(1024).fill(1);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    return new Response(KIB);
  });
  const url = `http://127.0.0.1:${server.addr.port}/kib`;
  const manager = new NetworkAccessManager();
  const run = (concurrency: number, requests: number, one: () => Promise<unknown>) => () =>
    Promise.all(Array.from({ length: concurrency }, async () => {
      for (let i = 0; i < requests / concurrency; i++) await one();
    }));
  const viaFetch = async () => await (await fetch(url)).bytes();
  const viaManager = async () => await manager.get(url).bytes();
  // The floor: `fetch` called as the manager has to call it (an abort signal, manual redirects,
  // and `accept-encoding: identity` so that the decompression guard can count compressed bytes).
  const asManagerCalls = async () =>
    await (await fetch(url, {
      headers: { "accept-encoding": "identity" },
      redirect: "manual",
      signal: new AbortController().signal,
    })).bytes();
  // The floor less the guard's header (what a manager with the decompression guard off sends).
  const withoutGuardHeader = async () =>
    await (await fetch(url, { redirect: "manual", signal: new AbortController().signal }))
      .bytes();
  // The least a manager can do with that floor: parse the URL, count the origin's slot, send as
  // above, keep status and headers, read the body, and settle a reply object (an `EventTarget`
  // that sends no event). What
  // the manager adds to it (queue order, permissions, proxies, redirect, auth and cookie policy,
  // timeouts, progress) must fit between this line and the target.
  const slots = new Map<string, number>();
  class LeastReply extends EventTarget {
    status = 0;
    headers: Headers | undefined;
    readonly #body: Promise<Uint8Array>;
    constructor(target: URL) {
      super();
      this.#body = this.#run(target);
    }
    async #run(target: URL): Promise<Uint8Array> {
      await null;
      const host = target.host;
      slots.set(host, (slots.get(host) ?? 0) + 1);
      try {
        const response = await fetch(target, {
          headers: { "accept-encoding": "identity" },
          redirect: "manual",
          signal: new AbortController().signal,
        });
        this.status = response.status;
        this.headers = response.headers;
        return await response.bytes();
      } finally {
        slots.set(host, slots.get(host)! - 1);
      }
    }
    bytes(): Promise<Uint8Array> {
      return this.#body;
    }
  }
  const viaLeast = async () => await new LeastReply(new URL(url)).bytes();
  // The manager with the two features a plain GET meets turned off: no cookie jar, and no
  // decompression guard (so no `accept-encoding: identity` on the wire, and no decoder).
  const lean = new NetworkAccessManager({ cookieJar: null, decompressionGuard: -1 });
  const viaLean = async () => await lean.get(url).bytes();
  // At least 11 rounds: a round of 3,000 requests moves a few percent with the machine, and with
  // 5 the median moves with it (5-round reports of one build: 0.76x-0.80x; 21 rounds: 0.83x).
  const compare11 = (baseline: () => Promise<unknown>, subject: () => Promise<unknown>) =>
    compare(baseline, subject, 11);
  for (const concurrency of [6, 1]) {
    const requests = concurrency === 6 ? 3000 : 1500;
    const r = await compare11(
      run(concurrency, requests, viaFetch),
      run(concurrency, requests, viaManager),
    );
    report(
      `1 KiB GET, concurrency ${concurrency}: manager ${fmt(r.ratio)}x fetch ` +
        `(fetch ${fmt((r.baseline * 1000) / requests, 1)} µs/request, manager ${
          fmt((r.subject * 1000) / requests, 1)
        } µs/request)`,
    );
    const floor = await compare11(
      run(concurrency, requests, viaFetch),
      run(concurrency, requests, asManagerCalls),
    );
    report(
      `  floor, concurrency ${concurrency}: fetch with the manager's options ${
        fmt(floor.ratio)
      }x bare fetch`,
    );
    const header = await compare11(
      run(concurrency, requests, withoutGuardHeader),
      run(concurrency, requests, asManagerCalls),
    );
    report(
      `  the guard's accept-encoding header, concurrency ${concurrency}: the floor ${
        fmt(header.ratio)
      }x the floor without it`,
    );
    const least = await compare11(
      run(concurrency, requests, viaFetch),
      run(concurrency, requests, viaLeast),
    );
    report(
      `  least wrapper, concurrency ${concurrency}: ${fmt(least.ratio)}x bare fetch`,
    );
    const off = await compare11(
      run(concurrency, requests, viaFetch),
      run(concurrency, requests, viaLean),
    );
    report(
      `  no cookie jar, no decompression guard, concurrency ${concurrency}: ${
        fmt(off.ratio)
      }x bare fetch`,
    );
  }
  // A manager per request, as a server that makes one for each request it handles: made, used
  // for one GET and closed (`await using`), one at a time.
  const viaFresh = async () => {
    await using fresh = new NetworkAccessManager();
    await fresh.get(url).bytes();
  };
  const perRequest = await compare11(run(1, 1500, viaFetch), run(1, 1500, viaFresh));
  report(
    `a manager per request (made, one 1 KiB GET, closed), one at a time: ${
      fmt(perRequest.ratio)
    }x fetch (fetch ${fmt(perRequest.baseline * 1000 / 1500, 1)} µs/request, manager ${
      fmt(perRequest.subject * 1000 / 1500, 1)
    } µs/request)`,
  );
  await manager.close();
  await lean.close();
  await server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// 256 MiB streamed.

if (wanted("stream")) {
  const SIZE = 256 * MIB;
  const server = serveStream(SIZE);
  const url = `http://127.0.0.1:${server.addr.port}/stream`;
  const manager = new NetworkAccessManager();
  let peak = 0;
  const sample = (n: number) => {
    if ((n & 63) === 0) peak = Math.max(peak, Deno.memoryUsage().rss);
  };
  const viaFetch = async () => {
    const reader = (await fetch(url)).body!.getReader();
    let size = 0;
    let n = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      size += value.byteLength;
      sample(n++);
    }
    if (size !== SIZE) throw new Error(`fetch read ${size} bytes`);
  };
  // The same loop as the reply's: `for await` over `response.body`.
  const viaBodyIterator = async () => {
    let size = 0;
    let n = 0;
    for await (const chunk of (await fetch(url)).body!) {
      size += chunk.byteLength;
      sample(n++);
    }
    if (size !== SIZE) throw new Error(`fetch read ${size} bytes`);
  };
  const viaManager = async () => {
    const reply = manager.get(url);
    let size = 0;
    let n = 0;
    for await (const chunk of reply) {
      size += chunk.byteLength;
      sample(n++);
    }
    if (size !== SIZE) throw new Error(`manager read ${size} bytes: ${reply.errorString}`);
  };
  // At least 11 rounds, as for the GET rows: 5-round reports gave 0.91x-1.00x against the reader.
  const r = await compare(viaFetch, viaManager, 11);
  const loop = await compare(viaBodyIterator, viaManager, 11);
  const growth: number[] = [];
  for (let i = 0; i < 3; i++) {
    const before = Deno.memoryUsage().rss;
    peak = before;
    await viaManager();
    growth.push(peak - before);
  }
  report(
    `256 MiB stream: reply iterator ${fmt(r.ratio)}x response.body ` +
      `(response.body ${fmt(SIZE / MIB / (r.baseline / 1000), 0)} MiB/s, iterator ${
        fmt(SIZE / MIB / (r.subject / 1000), 0)
      } MiB/s); RSS growth ${fmt(median(growth) / MIB, 1)} MiB`,
  );
  report(
    `  the same against \`for await\` over response.body: ${fmt(loop.ratio)}x ` +
      `(${fmt(SIZE / MIB / (loop.baseline / 1000), 0)} MiB/s against ${
        fmt(SIZE / MIB / (loop.subject / 1000), 0)
      } MiB/s)`,
  );
  await manager.close();
  await server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// Queued, aborted and closed requests.

if (wanted("queue")) {
  // Each round in a fresh process (`_queue_round.ts`), warmed up and collected first: in one
  // process, a round would pay for the collection of the garbage the round before left.
  const round = async (count: number, end: "abort" | "close", least: boolean) => {
    // As a URL: `deno run` takes one, and a path with spaces stays whole.
    const script = new URL("./_queue_round.ts", import.meta.url).href;
    const args = ["run", "-A", "--v8-flags=--expose-gc", script, String(count), end];
    if (least) args.push("least");
    const { stdout, success } = await new Deno.Command(Deno.execPath(), {
      args,
      stderr: "inherit",
    }).output();
    if (!success) throw new Error(`${script} ${count} ${end} failed`);
    return JSON.parse(new TextDecoder().decode(stdout)) as { queued: number; ended: number };
  };
  const SIZES = [1000, 10_000, 30_000];
  type Runs = { queued: number; ended: number }[][];
  /** Medians per size: queued, ended, and both phases of each round together. */
  const medians = (runs: Runs) => ({
    queued: runs.map((r) => median(r.map((s) => s.queued))),
    ended: runs.map((r) => median(r.map((s) => s.ended))),
    // The collector's work moves from one phase to the other as the heap's sizes change, and
    // the sum shows what a queued request costs in all.
    whole: runs.map((r) => median(r.map((s) => s.queued + s.ended))),
  });
  /** Per request at 10,000 against at 1,000. */
  const growth = (perSize: number[]) => perSize[1]! / perSize[0]!;
  for (const end of ["abort", "close"] as const) {
    // The manager and the baseline, a least queue of reply objects (`_queue_round.ts`), one
    // round each in turn at every size: what the machine does meanwhile weighs on both alike.
    const runs = { manager: SIZES.map(() => []) as Runs, least: SIZES.map(() => []) as Runs };
    // The garbage collector makes single rounds vary a lot: at least 9.
    for (let i = 0; i < Math.max(rounds, 9); i++) {
      for (const [k, size] of SIZES.entries()) {
        runs.manager[k]!.push(await round(size, end, false));
        runs.least[k]!.push(await round(size, end, true));
      }
    }
    const verb = end === "abort" ? "aborted" : "closed";
    const manager = medians(runs.manager);
    const least = medians(runs.least);
    for (const [name, m] of [["queue", manager], ["  least queue", least]] as const) {
      report(
        `${name} then ${end}: per request at 10,000 / at 1,000 = ` +
          `queued ${fmt(growth(m.queued))}x, ${verb} ${fmt(growth(m.ended))}x, ` +
          `both ${fmt(growth(m.whole))}x (µs at 1,000 / 10,000 / 30,000: queued ${
            m.queued.map((q) => fmt(q, 2)).join(" / ")
          }, ${verb} ${m.ended.map((e) => fmt(e, 2)).join(" / ")}, both ${
            m.whole.map((w) => fmt(w, 2)).join(" / ")
          })`,
      );
    }
    // What the manager's queue adds to the growth of the least queue: 1 when the growth is the
    // machine's alone (the same objects alive, the same caches missed).
    report(
      `  queue's growth / least queue's growth: queued ${
        fmt(growth(manager.queued) / growth(least.queued))
      }x, ${verb} ${fmt(growth(manager.ended) / growth(least.ended))}x, both ${
        fmt(growth(manager.whole) / growth(least.whole))
      }x`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP/2: 30 concurrent requests to one TLS origin.

if (wanted("h2")) {
  const { caCert, cert, key } = await makeTestCertificates();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
    async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      return new Response("x".repeat(1024));
    },
  );
  const url = `https://127.0.0.1:${server.addr.port}/h2`;
  const client = Deno.createHttpClient({ caCerts: [caCert] });
  const manager = new NetworkAccessManager({ caCerts: [caCert] });
  const viaFetch = () =>
    Promise.all(
      Array.from({ length: 30 }, async () => await (await fetch(url, { client })).bytes()),
    );
  const viaManager = () => Promise.all(Array.from({ length: 30 }, () => manager.get(url).bytes()));
  const r = await compare(viaFetch, viaManager);
  report(
    `30 concurrent HTTP/2 requests: manager takes ${fmt(1 / r.ratio)}x fetch's time ` +
      `(fetch ${fmt(r.baseline, 0)} ms, manager ${fmt(r.subject, 0)} ms)`,
  );
  client.close();
  await manager.close();
  await server.shutdown();
}

// ---------------------------------------------------------------------------------------------
// A manager per request with caCerts over https: its HTTP client is the process's for those
// settings while another manager (or the factory that made it) holds it.

if (wanted("tls")) {
  const { caCert, cert, key } = await makeTestCertificates();
  await using server = serveTls(cert, key);
  const url = server.url;
  const caCerts = [caCert];
  const N = 1000;
  const fresh = async () => {
    await using manager = new NetworkAccessManager({ caCerts });
    await manager.get(url).bytes();
  };
  await using factory = await KvNetworkAccessManagerFactory.open({
    path: ":memory:",
    cache: false,
    cookieJar: false,
    manager: { caCerts },
  });
  const made = async () => {
    await using manager = factory.create();
    await manager.get(url).bytes();
  };
  const cases: [string, () => Promise<unknown>][] = [
    ["one at a time", async () => {
      for (let i = 0; i < N; i++) await fresh();
    }],
    ["one at a time, another manager of the same caCerts open", async () => {
      await using other = new NetworkAccessManager({ caCerts });
      await other.get(url).bytes();
      for (let i = 0; i < N; i++) await fresh();
    }],
    ["one at a time, from a KvNetworkAccessManagerFactory", async () => {
      for (let i = 0; i < N; i++) await made();
    }],
  ];
  for (const [name, run] of cases) {
    const times: number[] = [];
    let connections = 0;
    for (let round = 0; round < rounds; round++) {
      const before = server.connections;
      const start = performance.now();
      await run();
      times.push(performance.now() - start);
      connections = server.connections - before;
    }
    report(
      `a manager per request with caCerts over https (made, one 1 KiB GET, closed), ${name}: ` +
        `${fmt(median(times) * 1000 / N, 0)} µs/request, ${connections} connection${
          connections === 1 ? "" : "s"
        } per ${N}`,
    );
  }
}

console.log(`\n${rounds} rounds (GET and stream at least 11, queue at least 9), medians.`);
