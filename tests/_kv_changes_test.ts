import { strict as assert } from "node:assert";
import { runWriter, tempDb } from "./_helpers/cookie_db.ts";
import { countReads } from "./_helpers/kv_spy.ts";
import { KvCookieJar } from "../src/cookies/kv_cookie_jar.ts";
import { KvNetworkAccessManagerFactory } from "../src/factory.ts";
import { cookieHeader } from "../src/cookies/network_cookie.ts";
import { _KvChanges } from "../src/_kv_changes.ts";

const START = Date.UTC(2026, 0, 1);

/** The Cookie header for each URL, and the KV reads each lookup made. */
async function lookups(
  jar: KvCookieJar,
  urls: string[],
): Promise<{ headers: (string | null)[]; reads: number[] }> {
  const headers = [];
  const reads = [];
  for (const url of urls) {
    using counter = countReads();
    headers.push(cookieHeader(await jar.cookiesForUrl(url)));
    reads.push(counter.reads);
  }
  return { headers, reads };
}

const URLS = [
  "https://www.example.com/",
  "https://example.com/",
  "https://other.org/",
  "https://a.b.other.org/",
];

Deno.test("KvCookieJar on a file: a host read since the last write, with cookies or without, costs no KV read", async () => {
  await using db = await tempDb();
  await using jar = await KvCookieJar.open({ path: db.path, clock: () => START });
  await jar.setCookiesFromUrl(["a=1; Domain=example.com", "b=2"], "https://www.example.com/");
  const first = await lookups(jar, URLS);
  assert.deepEqual(first, { headers: ["a=1; b=2", "a=1", null, null], reads: [1, 1, 1, 1] });
  const again = await lookups(jar, URLS);
  assert.deepEqual(again, { headers: first.headers, reads: [0, 0, 0, 0] });
  // A partition shares the database and its change detector, not the cookies.
  const part = jar.partition("user:1");
  assert.deepEqual(await lookups(part, URLS.slice(0, 1)), { headers: [null], reads: [1] });
  assert.deepEqual(await lookups(part, URLS.slice(0, 1)), { headers: [null], reads: [0] });
  // A write anywhere in the database makes every host read again, once.
  await jar.setCookiesFromUrl(["c=3"], "https://other.org/");
  assert.deepEqual(await lookups(jar, URLS), {
    headers: ["a=1; b=2", "a=1", "c=3", null],
    reads: [1, 1, 1, 1],
  });
  assert.deepEqual((await lookups(jar, URLS)).reads, [0, 0, 0, 0]);
});

Deno.test("KvCookieJar on a file: another process's new cookie is sent on the next lookup", async () => {
  await using db = await tempDb();
  await using jar = await KvCookieJar.open({ path: db.path });
  await jar.setCookiesFromUrl(["own=1; Max-Age=3600"], "https://www.site1.com/");
  const urls = ["https://www.site1.com/", "https://www.site2.com/", "https://www.site9.com/"];
  assert.deepEqual((await lookups(jar, urls)).headers, ["own=1", null, null]);
  assert.deepEqual((await lookups(jar, urls)).reads, [0, 0, 0]);
  // site1.com had cookies, site2.com had none: both were answered without a read before.
  assert.equal(await runWriter(db.path, "q", 3), 3);
  const next = await lookups(jar, urls);
  assert.deepEqual(next.headers, ["own=1; q-1=1", "q-2=2", null]);
  assert.deepEqual(next.reads, [1, 1, 1]);
  assert.equal(await runWriter(db.path, "r", 2), 2);
  assert.deepEqual((await lookups(jar, urls)).headers, ["own=1; q-1=1; r-1=1", "q-2=2", null]);
});

Deno.test("KvCookieJar on a file: a delete, an update and a clear through another connection, and expiry, show on the next lookup", async () => {
  await using db = await tempDb();
  let now = START;
  const clock = () => now;
  await using jar = await KvCookieJar.open({ path: db.path, clock });
  await using other = await KvCookieJar.open({ path: db.path, clock });
  await other.setCookiesFromUrl(
    ["a=1; Max-Age=3600", "b=2; Max-Age=60", "c=3; Max-Age=3600"],
    "https://example.com/",
  );
  const url = "https://example.com/";
  assert.equal(cookieHeader(await jar.cookiesForUrl(url)), "a=1; b=2; c=3");
  assert.equal(await other.deleteCookie({ name: "a", domain: "example.com", path: "/" }), true);
  assert.equal(cookieHeader(await jar.cookiesForUrl(url)), "b=2; c=3");
  const [c] = (await other.allCookies()).filter((cookie) => cookie.name === "c");
  assert.equal(await other.updateCookie({ ...c!, value: "33" }), true);
  assert.equal(cookieHeader(await jar.cookiesForUrl(url)), "b=2; c=33");
  // Expiry is by the clock on every lookup, with nothing written in between.
  now += 61_000;
  assert.equal(cookieHeader(await jar.cookiesForUrl(url)), "c=33");
  assert.deepEqual((await other.allCookies()).map((cookie) => cookie.name), ["c"]);
  await other.clear();
  assert.deepEqual(await jar.cookiesForUrl(url), []);
  await other.setCookiesFromUrl(["d=4"], url);
  assert.equal(cookieHeader(await jar.cookiesForUrl(url)), "d=4");
});

Deno.test("KvCookieJar of a manager factory opened with a path reads KV only after a write; a database passed in is read on every lookup", async () => {
  await using db = await tempDb();
  {
    await using factory = await KvNetworkAccessManagerFactory.open({ path: db.path });
    const jar = factory.cookieJar!;
    await jar.setCookiesFromUrl(["a=1"], "https://example.com/");
    const urls = ["https://example.com/", "https://other.org/"];
    assert.deepEqual(await lookups(jar, urls), { headers: ["a=1", null], reads: [1, 1] });
    assert.deepEqual(await lookups(jar, urls), { headers: ["a=1", null], reads: [0, 0] });
    assert.deepEqual(await lookups(jar.partition("p"), urls.slice(1)), {
      headers: [null],
      reads: [1],
    });
  }
  const kv = await Deno.openKv(db.path);
  try {
    await using jar = await KvCookieJar.open({ kv });
    const urls = ["https://example.com/", "https://example.com/"];
    assert.deepEqual(await lookups(jar, urls), { headers: ["a=1", "a=1"], reads: [1, 1] });
  } finally {
    kv.close();
  }
});

Deno.test("KvCookieJar with read and write granted on the database file alone: no prompt, and another process's cookie on the next lookup", async () => {
  await using db = await tempDb();
  assert.equal(await runWriter(db.path, "p", 5), 5);
  const reader = new URL("./testdata/cookies/kv_cookie_reader.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--unstable-kv",
      "--no-prompt",
      `--allow-read=${db.path},${reader},${new URL("../src/", import.meta.url).pathname}`,
      `--allow-write=${db.path}`,
      "--config",
      new URL("../deno.json", import.meta.url).pathname,
      reader,
      db.path,
      "1",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  while (!output.includes("\n")) {
    const { done, value } = await lines.read();
    if (done) break;
    output += value;
  }
  assert.equal(await runWriter(db.path, "q", 5), 5);
  const stdin = child.stdin.getWriter();
  await stdin.write(new TextEncoder().encode("go\n"));
  await stdin.close();
  while (true) {
    const { done, value } = await lines.read();
    if (done) break;
    output += value;
  }
  const status = await child.status;
  const stderr = await new Response(child.stderr).text();
  assert.equal(status.code, 0, stderr);
  assert.equal(output, "p-1=1\np-1=1; q-1=1\n");
});

Deno.test("KV change detector: only for a file database, and a new generation for every write", async () => {
  assert.equal(_KvChanges.open(":memory:"), null);
  assert.equal(_KvChanges.open("https://kv.example.com/database"), null);
  await using db = await tempDb();
  assert.equal(_KvChanges.open(db.path), null); // no database there yet
  const kv = await Deno.openKv(db.path);
  const other = await Deno.openKv(db.path);
  const changes = _KvChanges.open(db.path);
  try {
    assert.ok(changes !== null);
    const first = changes.generation();
    await kv.get(["k"]);
    assert.equal(changes.generation(), first, "a read is not a write");
    await other.set(["k"], 1);
    const second = changes.generation();
    assert.notEqual(second, first);
    assert.equal(changes.generation(), second);
    for (let i = 0; i < 3; i++) {
      const before = changes.generation();
      await other.atomic().set(["k"], i).commit();
      assert.notEqual(changes.generation(), before, `write ${i}`);
    }
    changes.close();
    assert.notEqual(changes.generation(), changes.generation(), "closed: always new");
    // A database reached through a symbolic link has its index beside the real file: a
    // stale index beside the link is not taken for it.
    const link = `${db.path}.link`;
    await Deno.symlink(db.path, link);
    await Deno.copyFile(`${db.path}-shm`, `${link}-shm`);
    assert.equal(_KvChanges.open(link), null);
  } finally {
    changes?.close();
    kv.close();
    other.close();
  }
});
