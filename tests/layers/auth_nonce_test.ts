import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { type Layer, NetworkAccessManager, NetworkRequest } from "../../mod.ts";
import { startAuthServer } from "../_helpers/auth_server.ts";

/**
 * A Digest server (MD5, qop=auth) that tracks the nonce count per nonce, as RFC 7616 section
 * 3.4 describes it: an answer whose count was seen before with its nonce is a replay, refused
 * with a new challenge (not `stale`). `sharedNonce` gives every challenge the same nonce, as
 * servers whose nonces are made from the time (Apache's mod_auth_digest) do within a second.
 * `busyOnce` answers the first accepted request to that path 503 (after counting its nc).
 * `nextNonce` makes each nonce good for one request, and gives the next one in
 * `Authentication-Info` (RFC 7616 section 3.5); an old one is answered `stale=true`. `proxy`
 * plays an http proxy: 407, `Proxy-Authenticate`, `Proxy-Authorization`,
 * `Proxy-Authentication-Info`. `refuseOnce` refuses the first answer to that path, right as it
 * is, with a new challenge that is not `stale` (as a server does that wants the counts of a nonce
 * to arrive in order, when another request's higher count came first). `redirect` answers an
 * accepted request to its first path with a 302 to the second.
 */
function startCountingServer(
  options: {
    sharedNonce?: boolean;
    busyOnce?: string;
    nextNonce?: boolean;
    proxy?: boolean;
    refuseOnce?: string;
    redirect?: [string, string];
  } = {},
) {
  const realm = "counted";
  const users: Record<string, string> = { alice: "wonderland" };
  const md5 = (text: string) => createHash("md5").update(text).digest("hex");
  const seen = new Map<string, Set<number>>();
  const shared = randomBytes(12).toString("hex");
  const log: { path: string; nc: number | undefined; outcome: string }[] = [];
  let busy = options.busyOnce;
  let refuse = options.refuseOnce;
  const used = new Set<string>();
  const newNonce = () => {
    const nonce = options.sharedNonce ? shared : randomBytes(12).toString("hex");
    if (!seen.has(nonce)) seen.set(nonce, new Set());
    return nonce;
  };
  const challenge = (stale: boolean) =>
    `Digest realm="${realm}", qop="auth", nonce="${newNonce()}", opaque="o"` +
    (stale ? ", stale=true" : "");
  const verify = (authorization: string | null, method: string, target: string) => {
    if (authorization === null) return { outcome: "missing" };
    const p = new Map<string, string>();
    for (const m of authorization.matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]*))/g)) {
      p.set(m[1]!.toLowerCase(), m[2] ?? m[3]!);
    }
    const nonce = p.get("nonce") ?? "";
    const counts = seen.get(nonce);
    const ncText = p.get("nc") ?? "";
    const nc = parseInt(ncText, 16);
    const password = users[p.get("username") ?? ""];
    if (counts === undefined || password === undefined || p.get("uri") !== target) {
      return { nc, outcome: "bad" };
    }
    const ha1 = md5(`${p.get("username")}:${realm}:${password}`);
    const ha2 = md5(`${method}:${target}`);
    const expected = md5(`${ha1}:${nonce}:${ncText}:${p.get("cnonce")}:auth:${ha2}`);
    if (p.get("response") !== expected) return { nc, outcome: "bad-response" };
    if (used.has(nonce)) return { nc, outcome: "stale" };
    if (counts.has(nc)) return { nc, outcome: "nc-replay" };
    counts.add(nc);
    if (options.nextNonce) used.add(nonce);
    return { nc, outcome: "ok" };
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    await request.body?.cancel();
    const url = new URL(request.url);
    const target = url.pathname + url.search;
    const proxy = options.proxy === true;
    const authorization = request.headers.get(proxy ? "proxy-authorization" : "authorization");
    let { nc, outcome } = verify(authorization, request.method, target);
    if (outcome === "ok" && refuse === target) {
      refuse = undefined;
      outcome = "nc-order";
    }
    log.push({ path: target, nc, outcome });
    if (outcome !== "ok") {
      return new Response(outcome, {
        status: proxy ? 407 : 401,
        headers: {
          [proxy ? "proxy-authenticate" : "www-authenticate"]: challenge(outcome === "stale"),
        },
      });
    }
    if (busy === target) {
      busy = undefined;
      return new Response("busy", { status: 503, headers: { "retry-after": "0" } });
    }
    if (options.redirect?.[0] === target) {
      return new Response(null, { status: 302, headers: { location: options.redirect[1] } });
    }
    const headers = new Headers();
    if (options.nextNonce) {
      headers.set(
        proxy ? "proxy-authentication-info" : "authentication-info",
        `qop=auth, nextnonce="${newNonce()}"`,
      );
    }
    return new Response(`hello ${target}`, { headers });
  });
  return {
    origin: `http://127.0.0.1:${server.addr.port}`,
    log,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** A network layer (each exchange as it goes to the transport) recording the nc it carries. */
function recordSent(sent: number[]): Layer {
  return (next) => (exchange) => {
    const nc = /\bnc=([0-9a-f]{8})/.exec(exchange.headers.get("authorization") ?? "")?.[1];
    if (nc !== undefined) sent.push(parseInt(nc, 16));
    return next(exchange);
  };
}

const increasing = (counts: number[]) => counts.every((nc, i) => i === 0 || nc > counts[i - 1]!);

Deno.test("Digest nonce counts never repeat and rise in the order requests are sent", async (t) => {
  const paths = Array.from({ length: 10 }, (_, i) => `/p${i}`);
  await t.step("10 concurrent requests of mixed priorities after the first challenge", async () => {
    await using server = startCountingServer();
    let asks = 0;
    const sent: number[] = [];
    await using manager = new NetworkAccessManager({
      authenticator: () => (asks++, { username: "alice", password: "wonderland" }),
    });
    // A request layer of one's own: requests wait for their queue slot inside the pipeline.
    manager.use((next) => (exchange) => next(exchange));
    manager.use(recordSent(sent), "network");
    assert.equal(await manager.get(`${server.origin}/first`).text(), "hello /first");
    const replies = paths.map((path, i) =>
      manager.get(new NetworkRequest(`${server.origin}${path}`), {
        priority: i % 2 === 0 ? "low" : "high",
      })
    );
    assert.deepEqual(
      await Promise.all(replies.map((reply) => reply.text())),
      paths.map((path) => `hello ${path}`),
    );
    assert.equal(asks, 1);
    assert.equal(sent.length, 11);
    assert.ok(increasing(sent), `sent out of order: ${sent}`);
    assert.deepEqual(server.log.filter((e) => e.outcome !== "ok").map((e) => e.outcome), [
      "missing",
    ]);
  });
  await t.step("a retried request sends a new count", async () => {
    await using server = startCountingServer({ busyOnce: "/busy" });
    let asks = 0;
    const sent: number[] = [];
    await using manager = new NetworkAccessManager({
      authenticator: () => (asks++, { username: "alice", password: "wonderland" }),
      retry: { limit: 1, delay: 0, jitter: false },
    });
    manager.use(recordSent(sent), "network");
    assert.equal(await manager.get(`${server.origin}/first`).text(), "hello /first");
    assert.equal(await manager.get(`${server.origin}/busy`).text(), "hello /busy");
    assert.equal(asks, 1);
    assert.deepEqual(sent, [1, 2, 3]);
    assert.deepEqual(server.log.map((e) => e.outcome), ["missing", "ok", "ok", "ok"]);
  });
  await t.step("concurrent requests with a URL's credentials and one nonce", async () => {
    await using server = startCountingServer({ sharedNonce: true });
    const sent: number[] = [];
    await using manager = new NetworkAccessManager();
    manager.use(recordSent(sent), "network");
    const url = new URL(server.origin);
    url.username = "alice";
    url.password = "wonderland";
    const replies = paths.map((path) => manager.get(new URL(path, url)));
    assert.deepEqual(
      await Promise.all(replies.map((reply) => reply.text())),
      paths.map((path) => `hello ${path}`),
    );
    assert.deepEqual(sent.toSorted((a, b) => a - b), paths.map((_, i) => i + 1));
    assert.ok(increasing(sent), `sent out of order: ${sent}`);
    assert.equal(server.log.filter((e) => e.outcome === "nc-replay").length, 0);
  });
});

Deno.test("Digest takes the nextnonce of Authentication-Info for the next request", async (t) => {
  for (const proxy of [false, true]) {
    await t.step(proxy ? "from an http proxy" : "from a server", async () => {
      await using server = startCountingServer({ nextNonce: true, proxy });
      let asks = 0;
      await using manager = new NetworkAccessManager({
        authenticator: () => (asks++, { username: "alice", password: "wonderland" }),
        ...(proxy ? { proxy: { type: "http", url: server.origin } } : {}),
      });
      const base = proxy ? "http://origin.test" : server.origin;
      for (const path of ["/a", "/b", "/c"]) {
        assert.equal(await manager.get(`${base}${path}`).text(), `hello ${path}`);
      }
      assert.equal(asks, 1);
      // Each request after the first uses the nonce the last one gave, from nc 1: none is
      // answered stale and sent again.
      assert.deepEqual(server.log.map((e) => [e.path, e.outcome, e.nc]), [
        ["/a", "missing", undefined],
        ["/a", "ok", 1],
        ["/b", "ok", 1],
        ["/c", "ok", 1],
      ]);
    });
  }
  await t.step("with a URL's credentials", async () => {
    await using server = startCountingServer({ nextNonce: true });
    await using manager = new NetworkAccessManager();
    const url = new URL(server.origin);
    url.username = "alice";
    url.password = "wonderland";
    assert.equal(await manager.get(new URL("/a", url)).text(), "hello /a");
    assert.equal(await manager.get(new URL("/b", url)).text(), "hello /b");
    assert.deepEqual(server.log.map((e) => e.outcome), ["missing", "ok", "ok"]);
  });
});

Deno.test("Digest credentials a nonce was accepted with are sent again with a new nonce when only the nonce is refused", async (t) => {
  await t.step("a refusal after the nonce worked: no asking, the cache kept", async () => {
    await using server = startCountingServer({ refuseOnce: "/b" });
    let asks = 0;
    await using manager = new NetworkAccessManager({
      authenticator: () => (asks++, { username: "alice", password: "wonderland" }),
    });
    for (const path of ["/a", "/b", "/c"]) {
      assert.equal(await manager.get(`${server.origin}${path}`).text(), `hello ${path}`);
    }
    assert.equal(asks, 1);
    assert.deepEqual(server.log.map((e) => [e.path, e.outcome]), [
      ["/a", "missing"],
      ["/a", "ok"],
      ["/b", "nc-order"],
      ["/b", "ok"],
      ["/c", "ok"],
    ]);
  });
  await t.step("wrong credentials are still asked for again", async () => {
    await using server = startCountingServer();
    const answers = [
      { username: "alice", password: "wrong" },
      { username: "alice", password: "wonderland" },
    ];
    let asks = 0;
    await using manager = new NetworkAccessManager({ authenticator: () => answers[asks++] });
    assert.equal(await manager.get(`${server.origin}/a`).text(), "hello /a");
    assert.equal(asks, 2);
  });
  await t.step(
    "10 concurrent requests to a server that refuses a count lower than one it saw",
    async () => {
      // This server refuses a count at or below the highest one it saw with the nonce; requests
      // sent at once over several connections may reach it in any order.
      await using auth = startAuthServer({ scheme: "digest", users: { alice: "wonderland" } });
      let asks = 0;
      await using manager = new NetworkAccessManager({
        authenticator: () => (asks++, { username: "alice", password: "wonderland" }),
      });
      assert.equal(await manager.get(`${auth.origin}/first`).text(), "hello alice");
      const replies = Array.from({ length: 10 }, (_, i) => manager.get(`${auth.origin}/p${i}`));
      const texts = await Promise.all(replies.map((reply) => reply.text()));
      assert.deepEqual(texts, replies.map(() => "hello alice"));
      assert.equal(asks, 1);
    },
  );
});

Deno.test("Digest answers each hop of a same-origin redirect afresh, with its own uri and count", async () => {
  await using server = startCountingServer({ redirect: ["/a", "/b"] });
  let asks = 0;
  await using manager = new NetworkAccessManager({
    authenticator: () => (asks++, { username: "alice", password: "wonderland" }),
  });
  // The second time, /a is answered up front from the cache; its hop to /b must not carry that.
  assert.equal(await manager.get(`${server.origin}/a`).text(), "hello /b");
  assert.equal(await manager.get(`${server.origin}/a`).text(), "hello /b");
  assert.equal(asks, 1);
  assert.deepEqual(server.log.map((e) => [e.path, e.outcome, e.nc]), [
    ["/a", "missing", undefined],
    ["/a", "ok", 1],
    ["/b", "ok", 2],
    ["/a", "ok", 3],
    ["/b", "ok", 4],
  ]);
});
