/**
 * Several processes on one KV file, as several workers on one machine run: each runs a seeded
 * list of requests through a shared KvCache (fresh, revalidated and Vary responses, chunked
 * and inline bodies, removals, expire() and clear() under a small maxSize), Set-Cookie updates
 * and deletions of the same cookies through a KvCookieJar, and HSTS policies learnt, removed
 * and expiring in a KvHstsStore. The parent then checks what a serial run would leave: whole
 * cached bodies, each its URL's and variant's, a size counter equal to a recount, no body chunk
 * left behind; per cookie and per host, the state of its last write in some serial order.
 */

import assert from "node:assert/strict";
import { KvCache, KvCookieJar, KvHstsStore } from "../mod.ts";
import {
  _chunkCount,
  _countedSize,
  _decodeEntry,
  _decodeGeneration,
} from "../src/cache/_kv_cache_schema.ts";
import { bodyFor, stressOrigin } from "./_helpers/kv_stress_origin.ts";
import type { StressReport, StressWrite } from "./_helpers/kv_stress_worker.ts";
import { spawnScript } from "./_helpers/kv_spy.ts";

const WORKER = new URL("./_helpers/kv_stress_worker.ts", import.meta.url).pathname;
const PROCESSES = 4;
const OPS = 250;
const MAX_SIZE = 1_500_000;
const CACHE = ["netaccess", "cache"];
const COOKIES = ["netaccess", "cookies"];

async function list(kv: Deno.Kv, prefix: Deno.KvKey): Promise<Deno.KvEntry<unknown>[]> {
  return await Array.fromAsync(kv.list({ prefix }));
}

/**
 * The writes to `target` that may have been the last in some serial order of all of them:
 * those no other write started after (by the one clock every process reads).
 */
function lastCandidates(writes: StressWrite[], target: string): StressWrite[] {
  const mine = writes.filter((w) => w.target === target);
  return mine.filter((w) => !mine.some((other) => other.start > w.end));
}

/** Every cached entry is whole, and is the body the origin sent for its URL and variant. */
async function checkEntries(kv: Deno.Kv, cache: KvCache): Promise<Set<string>> {
  const generations = new Set<string>();
  for (const item of await list(kv, [...CACHE, "e"])) {
    const url = item.key[CACHE.length + 1] as string;
    const variant = item.key[CACHE.length + 2] as string;
    const entry = await cache.metaData(url, variant);
    assert.ok(entry !== null, `${url} [${variant}] reads back`);
    const id = new Headers(entry.headers as [string, string][]).get("x-body-id");
    const [path, lang] = (id ?? "").split("|");
    assert.equal(path, new URL(url).pathname, `${url}: the body of another URL (${id})`);
    assert.ok(variant.includes(lang!), `${url} [${variant}]: another variant's body (${id})`);
    const body = new Uint8Array(await new Response(await cache.body(entry)).arrayBuffer());
    const expected = bodyFor(id!);
    assert.equal(body.length, expected.length, `${url}: ${body.length} bytes of ${id}`);
    assert.ok(body.every((byte, i) => byte === expected[i]), `${url}: a torn body of ${id}`);
    const decoded = _decodeEntry(item.value)!;
    if (!decoded.inline) generations.add(decoded.entry.generation);
  }
  return generations;
}

/** After expiry, every generation and chunk left belongs to a stored entry, and no marker. */
async function checkNoOrphans(kv: Deno.Kv): Promise<void> {
  const later = () => Date.now() + 30 * 60 * 1000;
  await using cache = await KvCache.open({ kv, maxSize: MAX_SIZE, clock: later });
  await cache.expire();
  const referenced = new Map<string, number>();
  for (const item of await list(kv, [...CACHE, "e"])) {
    const { entry, inline } = _decodeEntry(item.value)!;
    if (!inline) referenced.set(entry.generation, _chunkCount(entry));
  }
  for (const item of await list(kv, [...CACHE, "g"])) {
    const generation = item.key[CACHE.length + 1] as string;
    const record = _decodeGeneration(item.value);
    assert.ok(referenced.has(generation), `generation ${record?.state} left unreferenced`);
    assert.equal(record?.state, "published");
  }
  for (const item of await list(kv, [...CACHE, "c"])) {
    const [generation, index] = item.key.slice(CACHE.length + 1) as [string, number];
    assert.ok(index < (referenced.get(generation) ?? 0), `orphaned chunk ${generation}/${index}`);
  }
  assert.deepEqual(await list(kv, [...CACHE, "r"]), [], "no retired body left");
}

Deno.test("KvCache, KvCookieJar and KvHstsStore stay consistent under four processes sharing one file", async () => {
  await using origin = stressOrigin();
  const dir = await Deno.makeTempDir({ prefix: "kv_stress_" });
  try {
    const path = `${dir}/state.sqlite3`;
    const children = Array.from(
      { length: PROCESSES },
      (_, i) => spawnScript(WORKER, path, origin.url, String(i), String(OPS), String(MAX_SIZE)),
    );
    const reports: StressReport[] = [];
    const decoder = new TextDecoder();
    for (const output of await Promise.all(children.map((child) => child.output()))) {
      assert.equal(output.code, 0, decoder.decode(output.stderr));
      reports.push(JSON.parse(decoder.decode(output.stdout)));
    }
    for (const report of reports) assert.deepEqual(report.bad, [], "every reply was whole");
    assert.ok(reports.some((report) => report.fromCache > 0), "some replies came from the cache");

    await using kv = await Deno.openKv(path);

    // The cache: whole bodies, each its own; the counter equals a recount.
    {
      await using cache = await KvCache.open({ kv, maxSize: MAX_SIZE });
      const recount = (await list(kv, [...CACHE, "e"]))
        .reduce((sum, item) => sum + _countedSize(item.value), 0);
      const counted = await cache.cacheSize();
      assert.equal(counted, recount, "the size counter equals a recount of the entries");
      assert.ok(counted <= MAX_SIZE, `the cache stays within maxSize: ${counted}`);
      const generations = await checkEntries(kv, cache);
      assert.ok(generations.size > 0, "some bodies are stored in chunks");
    }
    await checkNoOrphans(kv);

    // The cookie jar: one cookie per name, each the last write of some serial order.
    {
      await using jar = await KvCookieJar.open({ kv });
      const cookies = await jar.allCookies();
      const writes = reports.flatMap((report) => report.cookies);
      const ids = cookies.map((c) => `${c.name};${c.domain};${c.path}`);
      assert.equal(new Set(ids).size, ids.length, `no duplicate cookie: ${ids}`);
      for (const name of new Set(writes.map((w) => w.target))) {
        const cookie = cookies.find((c) => c.name === name);
        const value = cookie?.value ?? null;
        const candidates = lastCandidates(writes, name);
        assert.ok(
          candidates.some((w) => w.value === value),
          `cookie ${name}=${value}: the last write was one of ${JSON.stringify(candidates)}`,
        );
        if (cookie === undefined) continue;
        // Created by a write that no deletion of the cookie came wholly after: the one that
        // set it anew after the last deletion in some serial order.
        const mine = writes.filter((w) => w.target === name);
        const creators = mine.filter((w) =>
          w.value !== null && w.start <= cookie.creationTime && cookie.creationTime <= w.end &&
          !mine.some((d) => d.value === null && d.start > w.end)
        );
        assert.ok(creators.length > 0, `cookie ${name}: created at ${cookie.creationTime}`);
      }
      const total = (await kv.get<Deno.KvU64>([...COOKIES, "count"])).value?.value;
      assert.equal(total, BigInt(cookies.length), "the cookie count equals the cookies");
      const sites = await list(kv, [...COOKIES, "n"]);
      const bySite = sites.reduce((sum, item) => sum + (item.value as Deno.KvU64).value, 0n);
      assert.equal(bySite, BigInt(cookies.length), "the site counts add up to the cookies");
    }

    // HSTS: each host holds what its last write of some serial order left.
    {
      await using store = await KvHstsStore.open({ kv });
      const writes = reports.flatMap((report) => report.hsts);
      for (const host of new Set(writes.map((w) => w.target))) {
        const policy = await store.get(host);
        // Taken after the read: a policy may expire between an earlier clock reading and it.
        const now = Date.now();
        const candidates = lastCandidates(writes, host);
        const fits = (w: StressWrite) => {
          if (w.value === null) return policy === undefined;
          const ms = Number(w.value) * 1000;
          if (policy === undefined) return w.end + ms <= now; // expired since
          return policy.expires >= w.start + ms && policy.expires <= w.end + ms;
        };
        assert.ok(
          candidates.some(fits),
          `${host}: ${JSON.stringify(policy)} is no last write of ${JSON.stringify(candidates)}`,
        );
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
