import assert from "node:assert/strict";
import {
  KvCache,
  KvNetworkAccessManagerFactory,
  MemoryCache,
  MemoryCookieJar,
  NetworkAccessManager,
  type NetworkCache,
  NetworkRequest,
} from "../mod.ts";
import { sharedStateOrigin } from "./_helpers/shared_state_origin.ts";
import { guardUnhandledRejections, takeUnhandledRejections } from "./_helpers/server.ts";

guardUnhandledRejections();

const USER_SCRIPT = new URL("./_helpers/shared_state_user.ts", import.meta.url).pathname;

/** A temporary directory, removed on dispose. */
async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir();
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

function basic(user: string): Headers {
  return new Headers({ authorization: `Basic ${btoa(`${user}:pw`)}` });
}

async function fetchText(
  manager: NetworkAccessManager,
  url: string,
  headers?: Headers,
): Promise<{ body: string; fromCache: boolean; setCookie: string | null }> {
  const reply = manager.get(new NetworkRequest(url, { headers }));
  const body = await reply.text();
  return { body, fromCache: reply.fromCache, setCookie: reply.headers.get("set-cookie") };
}

/** The paths whose responses are one user's: a shared cache must keep none of them. */
const PERSONAL = [
  "/doc?cc=private,max-age=60", // private
  "auth:/basic?cc=max-age=60", // Authorization, nothing allows storing
  "/doc?cc=max-age=60", // the request carried the user's session cookie
  "creds:/basic?cc=max-age=60&creds", // URL credentials
];

Deno.test("two users, two managers from one factory over one KV file: no private or credentialed response crosses, no cookie crosses", async () => {
  await using origin = sharedStateOrigin();
  await using dir = await tempDir();
  await using factory = await KvNetworkAccessManagerFactory.open({ path: `${dir.path}/s.sqlite3` });
  assert.equal(factory.cache!.mode, "shared", "a KV cache is shared by default");
  const managers = {
    alice: factory.create({ partition: "alice" }),
    bob: factory.create({ partition: "bob" }),
  };
  await using _a = managers.alice;
  await using _b = managers.bob;
  for (const [user, manager] of Object.entries(managers)) {
    await manager.get(`${origin.url}/login?user=${user}`).text();
  }
  const get = (user: "alice" | "bob", entry: string) => {
    let url = `${origin.url}${entry.replace(/^(creds|auth):/, "")}`;
    if (entry.startsWith("creds:")) url = url.replace("://", `://${user}:pw@`);
    return fetchText(managers[user], url, entry.startsWith("auth:") ? basic(user) : undefined);
  };
  for (const entry of PERSONAL) {
    assert.equal((await get("alice", entry)).body, "for alice", entry);
    const bob = await get("bob", entry);
    assert.equal(bob.body, "for bob", `${entry} reaches bob from the network`);
    assert.equal(bob.fromCache, false, entry);
    const again = await get("alice", entry);
    assert.equal(again.body, "for alice", `${entry}: nor bob's to alice`);
  }
  // What the origin marked public is shared, as it asked; its cookies are not.
  assert.equal(
    (await get("alice", "/setter?cc=public,max-age=60")).setCookie,
    "tracking=1; Path=/",
  );
  const hit = await get("bob", "/setter?cc=public,max-age=60");
  assert.deepEqual(hit, { body: "set for alice", fromCache: true, setCookie: null });
  const cookies = async (user: "alice" | "bob") =>
    (await managers[user].cookieJar!.allCookies()).map((c) => `${c.name}=${c.value}`).sort();
  assert.deepEqual(await cookies("alice"), ["session=alice", "tracking=1"]);
  assert.deepEqual(await cookies("bob"), ["session=bob"], "no cookie crosses");
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("two users, two processes over one KV file: nothing personal crosses", async () => {
  await using origin = sharedStateOrigin();
  await using dir = await tempDir();
  const kvPath = `${dir.path}/s.sqlite3`;
  const paths = [...PERSONAL, "/setter?cc=public,max-age=60"];
  const run = async (user: string) => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-kv", USER_SCRIPT, kvPath, origin.url, user, ...paths],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(output.success, new TextDecoder().decode(output.stderr));
    return JSON.parse(new TextDecoder().decode(output.stdout)) as {
      out: { path: string; body: string; fromCache: boolean; setCookie: string | null }[];
      cookies: string[];
    };
  };
  const alice = await run("alice");
  const bob = await run("bob");
  for (const [i, entry] of PERSONAL.entries()) {
    assert.equal(alice.out[i]!.body, "for alice", entry);
    assert.deepEqual(
      bob.out[i],
      { path: entry, body: "for bob", fromCache: false, setCookie: null },
      `${entry} reaches bob from the network`,
    );
  }
  const last = PERSONAL.length;
  assert.equal(alice.out[last]!.setCookie, "tracking=1; Path=/");
  assert.deepEqual(bob.out[last], {
    path: paths[last],
    body: "set for alice",
    fromCache: true,
    setCookie: null,
  });
  assert.deepEqual(alice.cookies.sort(), ["session=alice", "tracking=1"]);
  assert.deepEqual(bob.cookies, ["session=bob"], "no cookie crosses");
});

const stores: [string, () => Promise<NetworkCache>][] = [
  ["a private MemoryCache", () => Promise.resolve(new MemoryCache())],
  ["a shared KvCache", () => KvCache.open({ path: ":memory:" })],
];

Deno.test("logout stays logged out after a 304, and a cache hit carries no Set-Cookie", async (t) => {
  for (const [name, makeCache] of stores) {
    await t.step(name, async () => {
      await using origin = sharedStateOrigin();
      await using cache = await makeCache();
      const jar = new MemoryCookieJar();
      await using manager = new NetworkAccessManager({ cache, cookieJar: jar });
      // The page is stored while nobody is logged in; then alice logs in.
      assert.equal((await fetchText(manager, `${origin.url}/page`)).body, "page for anonymous");
      await manager.get(`${origin.url}/login?user=alice`).text();
      const page = await fetchText(manager, `${origin.url}/page`);
      // A 304 revalidated it (the origin's hits say so below): the body came from the cache.
      assert.equal(page.fromCache, true, "the stored body, revalidated");
      assert.equal(page.body, "page for anonymous", "the stored body");
      assert.equal(page.setCookie, "session=alice; Path=/", "the 304's own cookie goes up");
      await manager.post(`${origin.url}/logout`, "").text();
      assert.deepEqual(await jar.allCookies(), []);
      const after = await fetchText(manager, `${origin.url}/page`);
      assert.equal(after.setCookie, null);
      assert.deepEqual(await jar.allCookies(), [], "the stored Set-Cookie never comes back");
      assert.equal(origin.hits.get("/page"), 3);

      const first = await fetchText(manager, `${origin.url}/setter?cc=max-age=60`);
      assert.equal(first.setCookie, "tracking=1; Path=/");
      await jar.clear();
      const hit = await fetchText(manager, `${origin.url}/setter?cc=max-age=60`);
      assert.deepEqual(hit, { body: "set for anonymous", fromCache: true, setCookie: null });
      assert.deepEqual(await jar.allCookies(), [], "nothing from the cache reaches the jar");
    });
  }
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("a second user's 304 never hands them the first user's stored Set-Cookie", async () => {
  await using origin = sharedStateOrigin();
  await using dir = await tempDir();
  await using factory = await KvNetworkAccessManagerFactory.open({ path: `${dir.path}/s.sqlite3` });
  await using alice = factory.create({ partition: "alice" });
  await using bob = factory.create({ partition: "bob" });
  await alice.get(`${origin.url}/login?user=alice`).text();
  // A public page that sets its user's session, stored from alice's visit.
  const url = `${origin.url}/page?cc=public,no-cache`;
  assert.equal((await fetchText(alice, url)).setCookie, "session=alice; Path=/");
  const page = await fetchText(bob, url);
  assert.deepEqual(page, { body: "page for alice", fromCache: true, setCookie: null });
  assert.equal(origin.hits.get("/page?cc=public,no-cache"), 2, "bob's request was revalidated");
  assert.deepEqual(await bob.cookieJar!.allCookies(), [], "bob never gets alice's session");
  assert.deepEqual(takeUnhandledRejections(), []);
});
