/**
 * One process of the multi-process KV stress test: a manager with a KvCache, a KvCookieJar
 * and a KvHstsStore on the shared database file, running seeded operations a few at a time.
 *
 * Usage: `deno run -A --unstable-kv kv_stress_worker.ts <kv path> <origin> <worker> <ops>
 * <max size>`. Prints, as JSON, every cookie and HSTS write with the times it started and
 * ended (`Date.now()`, one clock for every process), and the replies whose body did not match
 * their `x-body-id`.
 */

import {
  KvCache,
  KvCookieJar,
  KvHstsStore,
  NetworkAccessManager,
  NetworkRequest,
} from "../../mod.ts";
import { bodyFor } from "./kv_stress_origin.ts";
import { random } from "./seeded_random.ts";

const [path, origin, workerText, opsText, maxSizeText] = Deno.args;
const worker = Number(workerText);

/** A write of one cookie or HSTS host: `value` null for a deletion. */
export interface StressWrite {
  target: string;
  value: string | null;
  start: number;
  end: number;
}

/** What a worker prints. */
export interface StressReport {
  cookies: StressWrite[];
  hsts: StressWrite[];
  replies: number;
  fromCache: number;
  bad: string[];
}

const next = random(1000 + worker);
const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
const LANGS = ["en", "fr", "de"];
const COOKIES = ["a", "b", "c", "d", "e"];
const HOSTS = ["h0.example", "h1.example", "h2.example", "h3.example"];

type Op = () => Promise<void>;
const report: StressReport = { cookies: [], hsts: [], replies: 0, fromCache: 0, bad: [] };

await using cache = await KvCache.open({ path, maxSize: Number(maxSizeText) });
await using cookieJar = await KvCookieJar.open({ path });
await using hstsStore = await KvHstsStore.open({ path });
await using manager = new NetworkAccessManager({ cache, cookieJar, hstsStore });

async function fetchChecked(path: string, headers: Headers, network: boolean): Promise<void> {
  const request = new NetworkRequest(`${origin}${path}`, {
    headers,
    cacheLoadControl: network ? "always-network" : "prefer-network",
  });
  const reply = manager.get(request);
  const body = await reply.bytes();
  report.replies++;
  if (reply.fromCache) report.fromCache++;
  const id = reply.headers.get("x-body-id");
  const lang = headers.get("accept-language") ?? "";
  const expected = id === null ? null : bodyFor(id);
  if (
    reply.status !== 200 || id === null || !id.startsWith(`${path}|${lang}|`) ||
    expected!.length !== body.length || expected!.some((byte, i) => byte !== body[i])
  ) {
    report.bad.push(`${path} ${lang}: status ${reply.status}, id ${id}, ${body.length} bytes`);
  }
}

async function timed(into: StressWrite[], target: string, value: string | null, run: Op) {
  const start = Date.now();
  await run();
  into.push({ target, value, start, end: Date.now() });
}

function makeOp(k: number): Op {
  const roll = next();
  if (roll < 0.55) {
    const kind = pick(["fresh", "fresh", "reval", "vary"]);
    const i = Math.floor(next() * (kind === "vary" ? 3 : 6));
    const headers = new Headers();
    if (kind === "vary") headers.set("accept-language", pick(LANGS));
    const network = next() < 0.2;
    return () => fetchChecked(`/${kind}/${i}`, headers, network);
  }
  if (roll < 0.565) return async () => void await cache.expire();
  if (roll < 0.57) return async () => void await cache.clear();
  if (roll < 0.59) {
    const url = `${origin}/fresh/${Math.floor(next() * 6)}`;
    return async () => void await cache.remove(url);
  }
  if (roll < 0.8) {
    const name = pick(COOKIES);
    const value = next() < 0.25 ? null : `w${worker}-${k}`;
    const query = value === null ? `name=${name}&delete` : `name=${name}&value=${value}`;
    return () =>
      timed(report.cookies, name, value, async () => {
        const reply = manager.get(`${origin}/c/set?${query}`);
        await reply.text();
        if (reply.status !== 200) report.bad.push(`cookie ${name}: status ${reply.status}`);
      });
  }
  const host = pick(HOSTS);
  if (roll < 0.87) return async () => void await hstsStore.isKnownHost(host);
  // A deletion, a policy that expires while the others run (and that lookups then delete),
  // or a lasting one whose max-age names the write.
  const which = next();
  const maxAge = which < 0.2 ? 0 : which < 0.4 ? 1 : 100_000 + worker * 10_000 + k;
  return () =>
    timed(
      report.hsts,
      host,
      maxAge === 0 ? null : String(maxAge),
      async () => void await hstsStore.learn(host, `max-age=${maxAge}`),
    );
}

const ops = Array.from({ length: Number(opsText) }, (_, k) => makeOp(k));
let taken = 0;
const lane = async () => {
  while (taken < ops.length) await ops[taken++]!();
};
await Promise.all([lane(), lane(), lane(), lane()]);
console.log(JSON.stringify(report));
