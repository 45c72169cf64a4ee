import assert from "node:assert/strict";
import {
  type AuthCredentials,
  type AuthenticationChallenge,
  AuthenticationRequiredEvent,
  type Authenticator,
  MemoryCache,
  NetworkAccessManager,
  NetworkError,
  type NetworkReply,
  NetworkReplyError,
} from "../../mod.ts";
import { CredentialCache } from "../../src/auth/credential_cache.ts";
import { proxyChosen } from "../../src/exchange.ts";
import { authLayer } from "../../src/layers/auth.ts";
import { type AuthServerOptions, startAuthServer } from "../_helpers/auth_server.ts";
import { getExchange } from "../_helpers/exchange.ts";
import { startOrigin, startProxyServer } from "../_helpers/proxy_server.ts";
import {
  guardUnhandledRejections,
  readHead,
  serve,
  serveTcp,
  takeUnhandledRejections,
} from "../_helpers/server.ts";

guardUnhandledRejections();

const ALICE = { alice: "wonderland" };

/** An authenticator that records its calls and answers from a list (then gives up). */
function recorder(...answers: (AuthCredentials | undefined)[]) {
  const calls: AuthenticationChallenge[] = [];
  const authenticator: Authenticator = async (_reply, challenge) => {
    calls.push(challenge);
    await Promise.resolve();
    return answers.length > 1 ? answers.shift() : answers[0];
  };
  return { calls, authenticator };
}

function server(options: Partial<AuthServerOptions> = {}) {
  return startAuthServer({ scheme: "basic", users: ALICE, ...options });
}

Deno.test("auth layer answers a Basic challenge with the authenticator's credentials", async () => {
  await using auth = server({ realm: "the realm" });
  const { calls, authenticator } = recorder({ username: "alice", password: "wonderland" });
  await using manager = new NetworkAccessManager({ authenticator });
  const reply = manager.get(`${auth.origin}/private/data`);
  const events: AuthenticationChallenge[] = [];
  reply.addEventListener("authenticationrequired", (e) => {
    assert.ok(e instanceof AuthenticationRequiredEvent);
    assert.equal(calls.length, 0); // the event comes first
    events.push(e.challenge);
  });
  assert.equal(await reply.text(), "hello alice");
  assert.equal(reply.error, NetworkError.NoError);
  assert.equal(calls.length, 1);
  const challenge = calls[0]!;
  assert.equal(challenge.scheme, "basic");
  assert.equal(challenge.realm, "the realm");
  assert.equal(challenge.proxy, false);
  assert.equal(challenge.origin, auth.origin);
  assert.equal(challenge.url.href, `${auth.origin}/private/data`);
  assert.equal(challenge.attempt, 1);
  assert.equal(challenge.supported, true);
  assert.deepEqual(events, [challenge]);
  assert.deepEqual(auth.log.map((e) => e.outcome), ["missing", "ok"]);
});

Deno.test("auth layer encodes Basic credentials as UTF-8", async () => {
  await using auth = server({ users: { "Jürgen": "pässwörd€" } });
  await using manager = new NetworkAccessManager({
    authenticator: () => ({ username: "Jürgen", password: "pässwörd€" }),
  });
  assert.equal(await manager.get(`${auth.origin}/`).text(), "hello Jürgen");
});

Deno.test("auth layer gives up with AuthenticationRequiredError and keeps the 401", async (t) => {
  await t.step("the authenticator returns nothing", async () => {
    await using auth = server();
    const { calls, authenticator } = recorder(undefined);
    await using manager = new NetworkAccessManager({ authenticator });
    const reply = manager.get(`${auth.origin}/`);
    const body = await reply.text();
    assert.equal(calls.length, 1);
    assert.equal(reply.error, NetworkError.AuthenticationRequiredError);
    assert.equal(reply.error, 204);
    assert.equal(reply.status, 401);
    assert.match(reply.headers.get("www-authenticate") ?? "", /^Basic realm=/);
    assert.equal(body, "denied: missing");
  });
  await t.step("there is no authenticator, the event still fires", async () => {
    await using auth = server();
    await using manager = new NetworkAccessManager();
    const reply = manager.get(`${auth.origin}/`);
    let fired = 0;
    reply.addEventListener("authenticationrequired", () => fired++);
    assert.equal(await reply.text(), "denied: missing");
    assert.equal(fired, 1);
    assert.equal(reply.error, NetworkError.AuthenticationRequiredError);
    assert.equal(auth.log.length, 1);
  });
});

Deno.test("auth layer asks again after refused credentials, at most three times", async () => {
  await using auth = server();
  const { calls, authenticator } = recorder({ username: "alice", password: "wrong" });
  await using manager = new NetworkAccessManager({ authenticator });
  const reply = manager.get(`${auth.origin}/`);
  assert.equal(await reply.text(), "denied: bad-credentials");
  assert.equal(reply.error, NetworkError.AuthenticationRequiredError);
  assert.deepEqual(calls.map((c) => c.attempt), [1, 2, 3]);
  assert.deepEqual(auth.log.map((e) => e.outcome), [
    "missing",
    "bad-credentials",
    "bad-credentials",
    "bad-credentials",
  ]);
});

Deno.test("auth layer recovers when a later answer is right", async () => {
  await using auth = server();
  const { calls, authenticator } = recorder(
    { username: "alice", password: "typo" },
    { username: "alice", password: "wonderland" },
  );
  await using manager = new NetworkAccessManager({ authenticator });
  assert.equal(await manager.get(`${auth.origin}/`).text(), "hello alice");
  assert.equal(calls.length, 2);
});

Deno.test("auth layer computes Digest answers the server verifies", async (t) => {
  const algorithms = [
    undefined,
    "MD5",
    "MD5-sess",
    "SHA-256",
    "SHA-256-sess",
    "SHA-512-256",
  ] as const;
  for (const algorithm of algorithms) {
    await t.step(`${algorithm ?? "no algorithm (MD5)"}, qop=auth`, async () => {
      await using auth = server({ scheme: "digest", algorithm });
      const { calls, authenticator } = recorder({ username: "alice", password: "wonderland" });
      await using manager = new NetworkAccessManager({ authenticator });
      const reply = manager.get(`${auth.origin}/a/b?x=1`);
      assert.equal(await reply.text(), "hello alice");
      assert.equal(calls[0]!.scheme, "digest");
      assert.deepEqual(auth.log.map((e) => e.outcome), ["missing", "ok"]);
      if (algorithm?.startsWith("SHA-256")) {
        assert.match(auth.log[1]!.authorization!, new RegExp(`algorithm=${algorithm}\\b`));
      }
    });
  }
  await t.step("RFC 2069 server without qop", async () => {
    await using auth = server({ scheme: "digest", qop: null });
    await using manager = new NetworkAccessManager({
      authenticator: () => ({ username: "alice", password: "wonderland" }),
    });
    assert.equal(await manager.get(`${auth.origin}/`).text(), "hello alice");
  });
  await t.step("POST with a body is verified with the method", async () => {
    await using auth = server({ scheme: "digest", algorithm: "SHA-256" });
    await using manager = new NetworkAccessManager({
      authenticator: () => ({ username: "alice", password: "wonderland" }),
    });
    const reply = manager.post(`${auth.origin}/submit`, "payload");
    assert.equal(await reply.text(), "hello alice");
    assert.deepEqual(auth.log.map((e) => e.method), ["POST", "POST"]);
  });
  await t.step("wrong Digest password is refused", async () => {
    await using auth = server({ scheme: "digest", algorithm: "SHA-256" });
    const { calls, authenticator } = recorder({ username: "alice", password: "nope" });
    await using manager = new NetworkAccessManager({ authenticator });
    const reply = manager.get(`${auth.origin}/`);
    await reply.text();
    assert.equal(reply.error, NetworkError.AuthenticationRequiredError);
    assert.equal(calls.length, 3);
    assert.equal(auth.log.filter((e) => e.outcome === "bad-response").length, 3);
  });
});

Deno.test("auth layer prefers Digest over Basic and reports unknown schemes", async (t) => {
  await t.step("the strongest answerable challenge wins", async () => {
    await using auth = server({
      scheme: "digest",
      algorithm: "SHA-256",
      extraChallenges: ['Bearer realm="tokens"', 'Basic realm="netaccess test"'],
    });
    const { calls, authenticator } = recorder({ username: "alice", password: "wonderland" });
    await using manager = new NetworkAccessManager({ authenticator });
    assert.equal(await manager.get(`${auth.origin}/`).text(), "hello alice");
    assert.equal(calls[0]!.scheme, "digest");
    assert.match(auth.log[1]!.authorization!, /^Digest /);
  });
  await t.step("a Bearer-only challenge is reported, never answered", async () => {
    await using bearer = serve(() =>
      new Response("token required", {
        status: 401,
        headers: { "www-authenticate": 'Bearer realm="api", error="invalid_token"' },
      })
    );
    const { calls, authenticator } = recorder({ username: "alice", password: "wonderland" });
    await using manager = new NetworkAccessManager({ authenticator });
    const reply = manager.get(`${bearer.url}/`);
    const events: AuthenticationChallenge[] = [];
    reply.addEventListener("authenticationrequired", (e) => {
      events.push((e as AuthenticationRequiredEvent).challenge);
    });
    assert.equal(await reply.text(), "token required");
    assert.equal(reply.error, NetworkError.AuthenticationRequiredError);
    assert.equal(calls.length, 0);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.scheme, "bearer");
    assert.equal(events[0]!.realm, "api");
    assert.equal(events[0]!.supported, false);
  });
});

Deno.test("auth layer caches credentials per protection space", async (t) => {
  await t.step("Basic is sent pre-emptively below an authenticated directory", async () => {
    await using auth = server();
    const { calls, authenticator } = recorder({ username: "alice", password: "wonderland" });
    await using manager = new NetworkAccessManager({ authenticator });
    assert.equal(await manager.get(`${auth.origin}/docs/a`).text(), "hello alice");
    assert.equal(await manager.get(`${auth.origin}/docs/sub/b`).text(), "hello alice");
    assert.deepEqual(auth.log.map((e) => [e.path, e.outcome]), [
      ["/docs/a", "missing"],
      ["/docs/a", "ok"],
      ["/docs/sub/b", "ok"],
    ]);
    // Outside the directory: challenged, answered from the cache without asking.
    assert.equal(await manager.get(`${auth.origin}/other`).text(), "hello alice");
    assert.deepEqual(auth.log.slice(3).map((e) => e.outcome), ["missing", "ok"]);
    assert.equal(calls.length, 1);
  });
  await t.step("Digest reuses the cached nonce with the next nonce count", async () => {
    await using auth = server({ scheme: "digest", algorithm: "SHA-256" });
    const { calls, authenticator } = recorder({ username: "alice", password: "wonderland" });
    await using manager = new NetworkAccessManager({ authenticator });
    await manager.get(`${auth.origin}/one`).text();
    await manager.get(`${auth.origin}/two`).text();
    await manager.get(`${auth.origin}/three`).text();
    assert.deepEqual(auth.log.map((e) => e.outcome), ["missing", "ok", "ok", "ok"]);
    assert.deepEqual(auth.log.slice(1).map((e) => /nc=([0-9a-f]{8})/.exec(e.authorization!)?.[1]), [
      "00000001",
      "00000002",
      "00000003",
    ]);
    assert.equal(auth.nonces().length, 1);
    assert.equal(calls.length, 1);
  });
  await t.step("clearAccessCache() forgets every space", async () => {
    await using auth = server();
    const { calls, authenticator } = recorder({ username: "alice", password: "wonderland" });
    await using manager = new NetworkAccessManager({ authenticator });
    await manager.get(`${auth.origin}/a`).text();
    manager.clearAccessCache();
    await manager.get(`${auth.origin}/a`).text();
    assert.deepEqual(auth.log.map((e) => e.outcome), ["missing", "ok", "missing", "ok"]);
    assert.equal(calls.length, 2);
  });
  await t.step("refused cached credentials are dropped and asked for again", async () => {
    const users: Record<string, string> = { alice: "wonderland" };
    await using auth = server({ users });
    const { calls, authenticator } = recorder(
      { username: "alice", password: "wonderland" },
      { username: "alice", password: "changed" },
    );
    await using manager = new NetworkAccessManager({ authenticator });
    await manager.get(`${auth.origin}/a`).text();
    users.alice = "changed";
    const reply = manager.get(`${auth.origin}/a`);
    assert.equal(await reply.text(), "hello alice");
    assert.deepEqual(auth.log.map((e) => e.outcome), ["missing", "ok", "bad-credentials", "ok"]);
    assert.equal(calls.length, 2);
  });
});

Deno.test("auth layer retries a stale Digest nonce without asking again", async () => {
  await using auth = server({ scheme: "digest", algorithm: "MD5-sess" });
  const { calls, authenticator } = recorder({ username: "alice", password: "wonderland" });
  await using manager = new NetworkAccessManager({ authenticator });
  await manager.get(`${auth.origin}/a`).text();
  auth.expireNonces();
  const reply = manager.get(`${auth.origin}/a`);
  assert.equal(await reply.text(), "hello alice");
  assert.deepEqual(auth.log.map((e) => e.outcome), ["missing", "ok", "stale", "ok"]);
  assert.equal(auth.nonces().length, 2);
  assert.equal(calls.length, 1);
});

/** A Digest answer's parameter, e.g. its `cnonce` or `nc`. */
function param(authorization: string | null, name: string): string | undefined {
  return new RegExp(`\\b${name}="?([^",]*)"?`).exec(authorization ?? "")?.[1];
}

Deno.test("auth layer keeps a -sess session key for the requests that reuse its nonce", async (t) => {
  for (const algorithm of ["MD5-sess", "SHA-256-sess", "SHA-512-256-sess"] as const) {
    await t.step(`${algorithm}, a server that keeps the first session key`, async () => {
      await using auth = server({ scheme: "digest", algorithm });
      const { calls, authenticator } = recorder({ username: "alice", password: "wonderland" });
      await using manager = new NetworkAccessManager({ authenticator });
      for (const path of ["/a", "/b", "/c"]) {
        assert.equal(await manager.get(`${auth.origin}${path}`).text(), "hello alice");
      }
      // One challenge, then every request that reuses the nonce is taken at once.
      assert.deepEqual(auth.log.map((e) => e.outcome), ["missing", "ok", "ok", "ok"]);
      assert.equal(auth.nonces().length, 1);
      assert.equal(calls.length, 1);
      const answers = auth.log.slice(1).map((e) => e.authorization);
      assert.deepEqual(answers.map((a) => param(a, "nc")), ["00000001", "00000002", "00000003"]);
      // The session's client nonce is sent again: a server may compute the key from it.
      assert.equal(new Set(answers.map((a) => param(a, "cnonce"))).size, 1);
    });
  }
  await t.step("a new nonce starts a new session", async () => {
    await using auth = server({ scheme: "digest", algorithm: "SHA-256-sess" });
    const { calls, authenticator } = recorder({ username: "alice", password: "wonderland" });
    await using manager = new NetworkAccessManager({ authenticator });
    for (const path of ["/a", "/b"]) await manager.get(`${auth.origin}${path}`).text();
    auth.expireNonces();
    for (const path of ["/c", "/d"]) {
      assert.equal(await manager.get(`${auth.origin}${path}`).text(), "hello alice");
    }
    assert.deepEqual(auth.log.map((e) => e.outcome), ["missing", "ok", "ok", "stale", "ok", "ok"]);
    assert.equal(auth.nonces().length, 2);
    assert.equal(calls.length, 1);
    const [, first, , , renewed, reused] = auth.log.map((e) => e.authorization);
    assert.equal(param(renewed!, "nonce"), auth.nonces()[1]);
    assert.notEqual(param(renewed!, "cnonce"), param(first!, "cnonce"));
    assert.equal(param(reused!, "cnonce"), param(renewed!, "cnonce"));
    assert.deepEqual([param(renewed!, "nc"), param(reused!, "nc")], ["00000001", "00000002"]);
  });
  await t.step("URL credentials keep their session once cached", async () => {
    await using auth = server({ scheme: "digest", algorithm: "MD5-sess" });
    const { calls, authenticator } = recorder(undefined);
    await using manager = new NetworkAccessManager({ authenticator });
    const url = new URL(auth.origin);
    url.username = "alice";
    url.password = "wonderland";
    for (const path of ["/a", "/b"]) {
      url.pathname = path;
      assert.equal(await manager.get(url.href).text(), "hello alice");
    }
    assert.deepEqual(auth.log.map((e) => e.outcome), ["missing", "ok", "ok"]);
    assert.equal(calls.length, 0);
  });
  await t.step("an http proxy's session", async () => {
    await using digestProxy = startAuthServer({
      scheme: "digest",
      algorithm: "MD5-sess",
      users: ALICE,
      proxy: true,
    });
    const { calls, authenticator } = recorder({ username: "alice", password: "wonderland" });
    await using manager = new NetworkAccessManager({
      authenticator,
      proxy: { type: "http", url: digestProxy.origin },
    });
    assert.equal(await manager.get("http://origin.test/a").text(), "hello alice");
    assert.equal(await manager.get("http://origin.test/b").text(), "hello alice");
    assert.deepEqual(digestProxy.log.map((e) => e.outcome), ["missing", "ok", "ok"]);
    assert.equal(calls.length, 1);
  });
  await t.step("a server that computes the key from each cnonce", async () => {
    await using auth = server({ scheme: "digest", algorithm: "MD5-sess", sessionKey: "each" });
    await using manager = new NetworkAccessManager({
      authenticator: () => ({ username: "alice", password: "wonderland" }),
    });
    for (const path of ["/a", "/b"]) await manager.get(`${auth.origin}${path}`).text();
    assert.deepEqual(auth.log.map((e) => e.outcome), ["missing", "ok", "ok"]);
  });
});

Deno.test("auth layer uses URL credentials and never puts them on the wire", async () => {
  const heads: string[] = [];
  await using raw = serveTcp(async (conn) => {
    const head = await readHead(conn);
    heads.push(head);
    const authorized = /^authorization: Basic /im.test(head);
    const response = authorized
      ? "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
      : 'HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Basic realm="r"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n';
    await conn.write(new TextEncoder().encode(response));
  });
  const { calls, authenticator } = recorder(undefined);
  await using manager = new NetworkAccessManager({ authenticator });
  const reply = manager.get(`http://bob:s%40cret@127.0.0.1:${raw.port}/path`);
  assert.equal(await reply.text(), "ok");
  assert.equal(calls.length, 0);
  assert.equal(heads.length, 2);
  for (const head of heads) {
    assert.match(head, /^GET \/path HTTP\/1\.1\r\n/);
    assert.doesNotMatch(
      head.split("\r\n").filter((l) => !/^authorization:/i.test(l)).join("\n"),
      /bob|cret/,
    );
  }
  assert.match(heads[1]!, new RegExp(`authorization: Basic ${btoa("bob:s@cret")}`, "i"));
});

Deno.test("auth layer never sends credentials to another origin", async (t) => {
  await t.step("the cache of one origin stays there", async () => {
    await using a = server();
    await using b = server();
    const { calls, authenticator } = recorder({ username: "alice", password: "wonderland" });
    await using manager = new NetworkAccessManager({ authenticator });
    await manager.get(`${a.origin}/x`).text();
    const reply = manager.get(`${b.origin}/x`);
    await reply.text();
    assert.equal(b.log[0]!.authorization, null);
    assert.equal(calls.length, 2);
    assert.equal(calls[1]!.origin, b.origin);
  });
  await t.step("a redirect leaves URL credentials and Authorization behind", async () => {
    await using b = server();
    await using a = serve((request) =>
      request.headers.has("authorization")
        ? Response.redirect(`${b.origin}/landing`, 302)
        : new Response("", { status: 401, headers: { "www-authenticate": 'Basic realm="a"' } })
    );
    const { calls, authenticator } = recorder(undefined);
    await using manager = new NetworkAccessManager({ authenticator });
    const reply = manager.get(`http://alice:wonderland@127.0.0.1:${a.port}/start`);
    await reply.text();
    assert.equal(reply.status, 401);
    assert.equal(b.log.length, 1);
    assert.equal(b.log[0]!.authorization, null);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.origin, b.origin);
  });
});

Deno.test("auth layer resends replayable bodies and refuses one-shot streams", async (t) => {
  await t.step("a string body is sent again with the credentials", async () => {
    const bodies: string[] = [];
    await using target = serve(async (request) => {
      bodies.push(await request.text());
      return request.headers.has("authorization")
        ? new Response("stored")
        : new Response("", { status: 401, headers: { "www-authenticate": 'Basic realm="r"' } });
    });
    await using manager = new NetworkAccessManager({
      authenticator: () => ({ username: "u", password: "p" }),
    });
    assert.equal(await manager.put(`${target.url}/doc`, "document").text(), "stored");
    assert.deepEqual(bodies, ["document", "document"]);
  });
  await t.step("a stream body fails with ContentReSendError, without asking", async () => {
    await using auth = server();
    const { calls, authenticator } = recorder({ username: "alice", password: "wonderland" });
    await using manager = new NetworkAccessManager({ authenticator });
    const stream = ReadableStream.from([new TextEncoder().encode("once")]);
    const reply = manager.post(`${auth.origin}/upload`, stream);
    let events = 0;
    reply.addEventListener("authenticationrequired", () => events++);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ContentReSendError);
    assert.match(reply.errorString, /one-shot stream/);
    assert.equal(reply.status, 401);
    assert.equal(auth.log.length, 1);
    assert.equal(calls.length, 0, "credentials that could not be sent were asked for");
    assert.equal(events, 0);
  });
  await t.step("a stream body through a proxy that answers 407: the same", async () => {
    await using origin = startOrigin();
    await using proxy = startProxyServer({ auth: { username: "pu", password: "pp" } });
    const { calls, authenticator } = recorder({ username: "pu", password: "pp" });
    await using manager = new NetworkAccessManager({
      authenticator,
      proxy: { type: "http", url: proxy.url },
    });
    const stream = ReadableStream.from([new TextEncoder().encode("once")]);
    const reply = manager.post(origin.url("127.0.0.1", "/upload"), stream);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ContentReSendError);
    assert.match(reply.errorString, /one-shot stream/);
    assert.deepEqual(proxy.log.map((r) => r.outcome), [407]);
    assert.equal(calls.length, 0);
  });
  await t.step("a stream body with the URL's credentials: the 401 is kept", async () => {
    await using auth = server();
    await using manager = new NetworkAccessManager();
    const stream = ReadableStream.from([new TextEncoder().encode("once")]);
    const url = new URL(`${auth.origin}/upload`);
    url.username = "alice";
    url.password = "wonderland";
    const reply = manager.post(url, stream);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ContentReSendError);
    assert.equal(reply.status, 401);
    assert.match(reply.headers.get("www-authenticate") ?? "", /^Basic realm=/);
    assert.match(
      reply.errorString,
      /Cannot answer the authentication challenge of http:\/\/127\.0\.0\.1:\d+: .*one-shot stream that was already sent; pass a string, bytes, Blob/,
    );
    assert.equal(auth.log.length, 1);
  });
  await t.step("a stream body and a stale Digest nonce of a proxy: the 407 is kept", async () => {
    await using digestProxy = startAuthServer({ scheme: "digest", users: ALICE, proxy: true });
    const { calls, authenticator } = recorder({ username: "alice", password: "wonderland" });
    await using manager = new NetworkAccessManager({
      authenticator,
      proxy: { type: "http", url: digestProxy.origin },
    });
    assert.equal(await manager.get("http://origin.test/a").text(), "hello alice");
    digestProxy.expireNonces();
    const stream = ReadableStream.from([new TextEncoder().encode("once")]);
    const reply = manager.post("http://origin.test/upload", stream);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ContentReSendError);
    assert.equal(reply.status, 407);
    assert.match(reply.headers.get("proxy-authenticate") ?? "", /stale=true/);
    assert.match(reply.errorString, /authentication challenge of .*one-shot stream/);
    assert.deepEqual(digestProxy.log.map((e) => e.outcome), ["missing", "ok", "stale"]);
    assert.equal(calls.length, 1);
  });
  await t.step("a stream body and no authenticator: the 401 is the reply", async () => {
    await using auth = server();
    await using manager = new NetworkAccessManager();
    const stream = ReadableStream.from([new TextEncoder().encode("once")]);
    const reply = manager.post(`${auth.origin}/upload`, stream);
    await reply.text();
    assert.equal(reply.error, NetworkError.AuthenticationRequiredError);
    assert.equal(reply.status, 401);
  });
});

Deno.test("auth layer answers a 407 from an http proxy with Proxy-Authorization", async (t) => {
  await using origin = startOrigin();
  await t.step("Basic proxy credentials from the authenticator", async () => {
    await using proxy = startProxyServer({ auth: { username: "pu", password: "pp" } });
    const { calls, authenticator } = recorder({ username: "pu", password: "pp" });
    await using manager = new NetworkAccessManager({
      authenticator,
      proxy: { type: "http", url: proxy.url },
    });
    const reply = manager.get(origin.url("127.0.0.1", "/via-proxy"));
    assert.equal(await reply.text(), "origin GET /via-proxy");
    assert.equal(reply.headers.get("x-seen-proxy-authorization"), "");
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.proxy, true);
    assert.equal(calls[0]!.realm, "proxy");
    assert.equal(calls[0]!.origin, new URL(proxy.url).origin);
    assert.deepEqual(proxy.log.map((r) => r.outcome), [407, 200]);
    // The next request answers the proxy's challenge from the cache.
    assert.equal(await manager.get(origin.url("127.0.0.1", "/again")).text(), "origin GET /again");
    assert.equal(calls.length, 1);
  });
  await t.step("later requests send the cached proxy credentials up front", async () => {
    await using proxy = startProxyServer({ auth: { username: "pu", password: "pp" } });
    await using open = startProxyServer();
    const { calls, authenticator } = recorder({ username: "pu", password: "pp" });
    await using manager = new NetworkAccessManager({
      authenticator,
      // 127.0.0.1 through the proxy that asks for credentials, localhost through the other.
      proxyFactory: (query) => [
        { type: "http", url: query.url.hostname === "localhost" ? open.url : proxy.url },
      ],
    });
    assert.equal(await manager.get(origin.url("127.0.0.1", "/a")).text(), "origin GET /a");
    assert.equal(
      await manager.post(origin.url("127.0.0.1", "/b"), "text").text(),
      "origin POST /b",
    );
    const stream = ReadableStream.from([new TextEncoder().encode("once")]);
    const streamed = manager.post(origin.url("127.0.0.1", "/c"), stream);
    assert.equal(await streamed.text(), "origin POST /c");
    assert.deepEqual(proxy.log.map((r) => [r.url, r.outcome]), [
      [origin.url("127.0.0.1", "/a"), 407],
      [origin.url("127.0.0.1", "/a"), 200],
      [origin.url("127.0.0.1", "/b"), 200],
      [origin.url("127.0.0.1", "/c"), 200],
    ]);
    assert.equal(calls.length, 1);
    // Another proxy is never sent them.
    assert.equal(await manager.get(origin.url("localhost", "/d")).text(), "origin GET /d");
    assert.deepEqual(open.log.map((r) => r.proxyAuthorization), [null]);
  });
  await t.step("no credentials: ProxyAuthenticationRequiredError with the 407", async () => {
    await using proxy = startProxyServer({ auth: { username: "pu", password: "pp" } });
    await using manager = new NetworkAccessManager({ proxy: { type: "http", url: proxy.url } });
    const reply = manager.get(origin.url("127.0.0.1", "/"));
    await reply.text();
    assert.equal(reply.error, NetworkError.ProxyAuthenticationRequiredError);
    assert.equal(reply.error, 105);
    assert.equal(reply.status, 407);
  });
  await t.step("Digest proxy credentials, the uri the path as curl sends it", async () => {
    await using digestProxy = startAuthServer({
      scheme: "digest",
      algorithm: "SHA-256",
      users: ALICE,
      proxy: true,
    });
    const { calls, authenticator } = recorder({ username: "alice", password: "wonderland" });
    await using manager = new NetworkAccessManager({
      authenticator,
      proxy: { type: "http", url: digestProxy.origin },
    });
    const reply = manager.get("http://origin.test/through?q=1");
    assert.equal(await reply.text(), "hello alice");
    assert.equal(calls[0]!.proxy, true);
    assert.deepEqual(digestProxy.log.map((e) => e.outcome), ["missing", "ok"]);
    // The request line is in absolute-form; the uri is the path and query all the same.
    assert.equal(param(digestProxy.log[1]!.authorization, "uri"), "/through?q=1");
    // Up front on the next request, with the cached nonce and the next nonce count.
    assert.equal(await manager.get("http://origin.test/again").text(), "hello alice");
    assert.deepEqual(digestProxy.log.map((e) => e.outcome), ["missing", "ok", "ok"]);
    assert.match(digestProxy.log[2]!.authorization!, /nc=00000002/);
    assert.equal(param(digestProxy.log[2]!.authorization, "uri"), "/again");
    assert.equal(calls.length, 1);
  });
  await t.step("Digest to an origin behind a plain-http proxy", async () => {
    await using proxy = startProxyServer();
    await using auth = server({ scheme: "digest", algorithm: "SHA-256" });
    const { calls, authenticator } = recorder({ username: "alice", password: "wonderland" });
    await using manager = new NetworkAccessManager({
      authenticator,
      proxy: { type: "http", url: proxy.url },
    });
    assert.equal(await manager.get(`${auth.origin}/behind?q=1`).text(), "hello alice");
    assert.equal(await manager.get(`${auth.origin}/next`).text(), "hello alice");
    assert.deepEqual(proxy.log.map((r) => r.url), [
      `${auth.origin}/behind?q=1`,
      `${auth.origin}/behind?q=1`,
      `${auth.origin}/next`,
    ]);
    assert.deepEqual(auth.log.map((e) => [e.outcome, param(e.authorization, "uri")]), [
      ["missing", undefined],
      ["ok", "/behind?q=1"],
      ["ok", "/next"],
    ]);
    assert.equal(calls.length, 1);
  });
});

Deno.test("auth layer fails the reply when the authenticator misbehaves", async (t) => {
  await using auth = server();
  await t.step("it throws", async () => {
    await using manager = new NetworkAccessManager({
      authenticator: () => {
        throw new Error("keychain locked");
      },
    });
    const reply = manager.get(`${auth.origin}/`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.AuthenticationRequiredError);
    assert.match(reply.errorString, /'authenticator' threw \(keychain locked\)/);
    // The reply shows the challenge it failed on.
    assert.equal(reply.status, 401);
    assert.ok(reply.headers.has("www-authenticate"));
  });
  await t.step("it returns something that is not credentials", async () => {
    await using manager = new NetworkAccessManager({
      authenticator: () => "alice:wonderland" as unknown as AuthCredentials,
    });
    const reply = manager.get(`${auth.origin}/`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.AuthenticationRequiredError);
    assert.match(reply.errorString, /username, password/);
    assert.equal(reply.status, 401);
  });
  for (
    const [name, credentials, message] of [
      [
        "a Basic user name with a colon",
        { username: "a:b", password: "c" },
        /must not contain ':'/,
      ],
      [
        "a Basic password with a control character",
        { username: "a", password: "p\u0001" },
        /control characters/,
      ],
    ] as const
  ) {
    await t.step(name, async () => {
      await using manager = new NetworkAccessManager({ authenticator: () => credentials });
      const reply = manager.get(`${auth.origin}/`);
      await reply.finished;
      assert.equal(reply.error, NetworkError.AuthenticationRequiredError);
      assert.match(reply.errorString, message);
      // The reply shows the challenge the credentials could not answer.
      assert.equal(reply.status, 401);
      assert.equal(reply.statusText, "Unauthorized");
      assert.ok(reply.headers.has("www-authenticate"));
    });
  }
  await t.step(
    "credentials Basic cannot encode are not cached: the next request asks again",
    async () => {
      await using auth = server();
      const { calls, authenticator } = recorder(
        { username: "al:ice", password: "x" },
        { username: "alice", password: "wonderland" },
      );
      await using manager = new NetworkAccessManager({ authenticator });
      const first = manager.get(`${auth.origin}/dir/a`);
      await first.finished;
      assert.equal(first.error, NetworkError.AuthenticationRequiredError);
      assert.match(first.errorString, /'username' must not contain ':'/);
      assert.doesNotMatch(first.errorString, /al:ice/);
      const second = manager.get(`${auth.origin}/dir/b`);
      assert.equal(await second.text(), "hello alice");
      assert.equal(calls.length, 2);
      assert.deepEqual(auth.log.map((e) => [e.path, e.outcome]), [
        ["/dir/a", "missing"],
        ["/dir/b", "missing"],
        ["/dir/b", "ok"],
      ]);
    },
  );
  await t.step(
    "a URL's user name with a colon fails the reply and stays out of sight",
    async () => {
      await using auth = server();
      await using manager = new NetworkAccessManager();
      const reply = manager.get(`${auth.origin.replace("://", "://se%3Acret:pw@")}/`);
      await reply.finished;
      assert.equal(reply.error, NetworkError.AuthenticationRequiredError);
      assert.match(reply.errorString, /'username' must not contain ':'/);
      assert.doesNotMatch(reply.errorString, /se:cret|se%3Acret/i);
      assert.deepEqual(auth.log.map((e) => e.authorization), [null]);
    },
  );
  await t.step("the option is validated", () => {
    assert.throws(
      () => new NetworkAccessManager({ authenticator: "x" as unknown as Authenticator }),
      /'authenticator' must be a function, got "x"$/,
    );
  });
});

Deno.test("auth layer tests leave no unhandled rejections", () => {
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("auth layer tries a URL's or a proxy's own credentials once, whatever the realm", async (t) => {
  /** A server (or http proxy) that challenges with a new realm each time; 500 past 20 rounds. */
  const changing = (status: 401 | 407) => {
    let rounds = 0;
    const server = serve(() => {
      rounds++;
      if (rounds > 20) return new Response("looping", { status: 500 });
      const name = status === 401 ? "www-authenticate" : "proxy-authenticate";
      return new Response("", { status, headers: { [name]: `Basic realm="r${rounds}"` } });
    });
    return { server, rounds: () => rounds };
  };
  await t.step("the URL's credentials", async () => {
    const { server: target, rounds } = changing(401);
    await using _ = target;
    await using manager = new NetworkAccessManager();
    const reply = manager.get(`http://alice:wonderland@127.0.0.1:${target.port}/`);
    await reply.text();
    assert.equal(reply.error, NetworkError.AuthenticationRequiredError);
    assert.equal(rounds(), 2);
  });
  await t.step("the proxy's credentials", async () => {
    const { server: proxy, rounds } = changing(407);
    await using _ = proxy;
    await using manager = new NetworkAccessManager({
      proxy: { type: "http", url: proxy.url, username: "pu", password: "pp" },
    });
    const reply = manager.get("http://origin.test/");
    await reply.text();
    assert.equal(reply.error, NetworkError.ProxyAuthenticationRequiredError);
    // Sent with the first request already (Basic, by the transport): not sent again, as curl,
    // Go and undici do not.
    assert.equal(rounds(), 1);
  });
});

Deno.test("a proxy's own Basic credentials it refuses are not sent twice, and never for a Digest one", async (t) => {
  await t.step("Basic: one request, ProxyAuthenticationRequiredError (105)", async () => {
    await using origin = startOrigin();
    await using proxy = startProxyServer({ auth: { username: "pu", password: "pp" } });
    await using manager = new NetworkAccessManager({
      proxy: { type: "http", url: proxy.url, username: "pu", password: "wrong" },
    });
    const reply = manager.post(origin.url("127.0.0.1", "/once"), "body");
    await reply.text();
    assert.equal(reply.error, NetworkError.ProxyAuthenticationRequiredError);
    assert.equal(reply.status, 407);
    assert.deepEqual(proxy.log.map((r) => [r.proxyAuthorization, r.outcome]), [
      [`Basic ${btoa("pu:wrong")}`, 407],
    ]);
  });
  await t.step("Digest: the proxy's own credentials answer the challenge", async () => {
    await using digestProxy = startAuthServer({
      scheme: "digest",
      algorithm: "SHA-256",
      users: ALICE,
      proxy: true,
    });
    await using manager = new NetworkAccessManager({
      proxy: { type: "http", url: digestProxy.origin, username: "alice", password: "wonderland" },
    });
    const reply = manager.get("http://origin.test/digest");
    assert.equal(await reply.text(), "hello alice", reply.errorString);
    // Basic up front (the transport's), then the Digest answer, which Deno's Basic header of the
    // proxy's credentials does not replace; the next request answers from the cache up front.
    assert.equal(await manager.get("http://origin.test/again").text(), "hello alice");
    assert.deepEqual(digestProxy.log.map((e) => e.outcome), ["not-digest", "ok", "ok"]);
  });
});

Deno.test("auth layer's Digest uri is the request target as sent, an empty query included", async () => {
  const seen: { target: string; uri: string | undefined }[] = [];
  await using raw = serveTcp(async (conn) => {
    const head = await readHead(conn);
    const target = head.split(" ")[1]!;
    const authorization = /^authorization: (.*)$/im.exec(head)?.[1];
    const uri = authorization === undefined ? undefined : /uri="([^"]*)"/.exec(authorization)?.[1];
    seen.push({ target, uri });
    const response = uri === target
      ? "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
      : 'HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Digest realm="r", nonce="n1", qop="auth"\r\n' +
        "content-length: 0\r\nconnection: close\r\n\r\n";
    await conn.write(new TextEncoder().encode(response));
  });
  await using manager = new NetworkAccessManager({
    authenticator: () => ({ username: "alice", password: "wonderland" }),
  });
  const reply = manager.get(`http://127.0.0.1:${raw.port}/p?#top`);
  assert.equal(await reply.text(), "ok");
  assert.deepEqual(seen, [{ target: "/p?", uri: undefined }, { target: "/p?", uri: "/p?" }]);
});

Deno.test("auth layer passes a request on untouched when nothing is cached for its origin", async () => {
  const cache = new CredentialCache();
  const layer = authLayer({ authenticator: undefined, caCerts: [] }, cache);
  const hooked: boolean[] = [];
  const handler = layer((exchange) => {
    hooked.push(proxyChosen(exchange) !== undefined);
    return Promise.resolve(new Response("ok"));
  });
  await using manager = new NetworkAccessManager();
  const send = async (url: string) =>
    await (await handler(getExchange(url, manager.get("data:,")))).text();
  cache.store({ origin: "http://a.test", realm: "r", proxy: false }, {
    scheme: "basic",
    credentials: { username: "alice", password: "wonderland" },
  });
  await send("http://a.test/");
  await send("http://b.test/");
  cache.store({ origin: "http://proxy.test:3128", realm: "p", proxy: true }, {
    scheme: "basic",
    credentials: { username: "pu", password: "pp" },
  });
  await send("http://b.test/");
  await send("https://b.test/");
  // a.test's space may answer; b.test has none until a proxy's credentials may go with it.
  assert.deepEqual(hooked, [true, false, true, false]);
});

Deno.test("auth layer answers Digest qop=auth-int with the body's digest", async (t) => {
  const bodies: [string, () => string | Uint8Array | Blob | FormData | null][] = [
    ["GET, no body", () => null],
    ["a string body", () => "payload"],
    ["a bytes body", () => new Uint8Array([0, 1, 2, 255])],
    ["a Blob body", () => new Blob(["blob ", "payload"])],
    ["a FormData body, made into bytes with one boundary for every send", () => {
      const form = new FormData();
      form.set("field", "value");
      form.set("file", new File(["file payload"], "a.txt"));
      return form;
    }],
  ];
  for (const [name, body] of bodies) {
    await t.step(name, async () => {
      await using auth = server({ scheme: "digest", algorithm: "SHA-256", qop: "auth-int" });
      const { calls, authenticator } = recorder({ username: "alice", password: "wonderland" });
      await using manager = new NetworkAccessManager({ authenticator });
      const data = body();
      const url = `${auth.origin}/int/a?x=1`;
      const reply = data === null ? manager.get(url) : manager.post(url, data);
      assert.equal(await reply.text(), "hello alice");
      assert.equal(calls.length, 1);
      assert.deepEqual(auth.log.map((e) => e.outcome), ["missing", "ok"]);
      assert.match(auth.log[1]!.authorization!, /qop=auth-int/);
      // Up front on the next request, with its own body's digest.
      const next = manager.post(`${auth.origin}/int/b`, "another body");
      assert.equal(await next.text(), "hello alice");
      assert.deepEqual(auth.log.map((e) => e.outcome), ["missing", "ok", "ok"]);
    });
  }
  await t.step("auth is used when both are offered", async () => {
    await using auth = server({ scheme: "digest", qop: "auth-int, auth" });
    await using manager = new NetworkAccessManager({
      authenticator: () => ({ username: "alice", password: "wonderland" }),
    });
    assert.equal(await manager.post(`${auth.origin}/`, "x").text(), "hello alice");
    assert.match(auth.log[1]!.authorization!, /qop=auth,/);
  });
  await t.step("a stream body, unknown before it is sent: reported as unsupported", async () => {
    await using auth = server({ scheme: "digest", qop: "auth-int" });
    const { calls, authenticator } = recorder({ username: "alice", password: "wonderland" });
    await using manager = new NetworkAccessManager({ authenticator });
    const reply = manager.post(`${auth.origin}/`, new Blob(["value"]).stream());
    const events: AuthenticationChallenge[] = [];
    reply.addEventListener("authenticationrequired", (e) => events.push(e.challenge));
    await reply.text();
    assert.equal(reply.error, NetworkError.AuthenticationRequiredError);
    assert.equal(reply.status, 401);
    assert.equal(calls.length, 0);
    assert.deepEqual(events.map((e) => [e.scheme, e.params.qop, e.supported]), [
      ["digest", "auth-int", false],
    ]);
  });
});

/**
 * A server (or, with `proxy`, an http proxy answering itself) that accepts `users` with Basic,
 * challenges a request without credentials, and refuses wrong ones with a bare 401 (407): no
 * challenge header, as many APIs answer (with `challenge`, the challenge again). `hold` delays the
 * refusal of a request.
 */
function bareRefusals(
  users: Record<string, string>,
  options: {
    proxy?: boolean;
    challenge?: boolean;
    hold?: (path: string) => Promise<void> | undefined;
  } = {},
) {
  const log: { path: string; authorization: string | null; status: number }[] = [];
  const status = options.proxy ? 407 : 401;
  const server = serve(async (request) => {
    const path = new URL(request.url).pathname;
    const authorization = request.headers.get(
      options.proxy ? "proxy-authorization" : "authorization",
    );
    const entry = { path, authorization, status: 200 };
    log.push(entry);
    const name = options.proxy ? "proxy-authenticate" : "www-authenticate";
    const challenge = { [name]: 'Basic realm="r"' };
    if (authorization === null) {
      entry.status = status;
      return new Response("", { status, headers: challenge });
    }
    const [user = "", password] = atob(authorization.slice(6)).split(":");
    if (users[user] !== password) {
      await options.hold?.(path);
      entry.status = status;
      return new Response("", { status, headers: options.challenge ? challenge : {} });
    }
    return new Response(`hello ${user}`);
  });
  return { server, log };
}

const basic = (username: string, password: string) => `Basic ${btoa(`${username}:${password}`)}`;

Deno.test("auth layer drops cached credentials the server refuses", async (t) => {
  await t.step("a 401 without a challenge to cached credentials drops them", async () => {
    const users: Record<string, string> = { alice: "wonderland" };
    const { server: target, log } = bareRefusals(users);
    await using _ = target;
    const { calls, authenticator } = recorder(
      { username: "alice", password: "wonderland" },
      { username: "alice", password: "changed" },
    );
    await using manager = new NetworkAccessManager({ authenticator });
    assert.equal(await manager.get(`${target.url}/a`).text(), "hello alice");
    users.alice = "changed";
    const refused = manager.get(`${target.url}/a`);
    await refused.text();
    assert.equal(refused.error, NetworkError.AuthenticationRequiredError);
    // The next request starts without the refused credentials and is asked for new ones.
    assert.equal(await manager.get(`${target.url}/a`).text(), "hello alice");
    assert.deepEqual(log.map((e) => [e.authorization, e.status]), [
      [null, 401],
      [basic("alice", "wonderland"), 200],
      [basic("alice", "wonderland"), 401],
      [null, 401],
      [basic("alice", "changed"), 200],
    ]);
    assert.equal(calls.length, 2);
  });
  await t.step("a 407 without a challenge to cached proxy credentials drops them", async () => {
    const users: Record<string, string> = { pu: "pp" };
    const { server: proxy, log } = bareRefusals(users, { proxy: true });
    await using _ = proxy;
    const { calls, authenticator } = recorder(
      { username: "pu", password: "pp" },
      { username: "pu", password: "new" },
    );
    await using manager = new NetworkAccessManager({
      authenticator,
      proxy: { type: "http", url: proxy.url },
    });
    assert.equal(await manager.get("http://origin.test/a").text(), "hello pu");
    users.pu = "new";
    const refused = manager.get("http://origin.test/a");
    await refused.text();
    assert.equal(refused.error, NetworkError.ProxyAuthenticationRequiredError);
    assert.equal(await manager.get("http://origin.test/a").text(), "hello pu");
    assert.deepEqual(log.map((e) => [e.authorization, e.status]), [
      [null, 407],
      [basic("pu", "pp"), 200],
      [basic("pu", "pp"), 407],
      [null, 407],
      [basic("pu", "new"), 200],
    ]);
    assert.equal(calls.length, 2);
  });
  await t.step("credentials a request could not send stay cached", async () => {
    await using auth = server({ scheme: "digest", qop: "auth-int" });
    const { calls, authenticator } = recorder({ username: "alice", password: "wonderland" });
    await using manager = new NetworkAccessManager({ authenticator });
    assert.equal(await manager.get(`${auth.origin}/a`).text(), "hello alice");
    // A stream body is not known before it is sent: no qop=auth-int answer goes with it.
    const unanswered = manager.post(`${auth.origin}/a`, new Blob(["value"]).stream());
    await unanswered.text();
    assert.equal(unanswered.error, NetworkError.AuthenticationRequiredError);
    assert.equal(await manager.get(`${auth.origin}/b`).text(), "hello alice");
    assert.deepEqual(auth.log.map((e) => e.outcome), ["missing", "ok", "missing", "ok"]);
    assert.equal(calls.length, 1);
  });
  await t.step(
    "a late refusal keeps the credentials another request stored meanwhile",
    async () => {
      const users: Record<string, string> = { alice: "wonderland" };
      let release!: () => void;
      const released = new Promise<void>((resolve) => release = resolve);
      // The refusal of /late waits until /early has signed in with the new password.
      const { server: target, log } = bareRefusals(users, {
        challenge: true,
        hold: (path) => path === "/late" ? released : undefined,
      });
      await using _ = target;
      const { calls, authenticator } = recorder(
        { username: "alice", password: "wonderland" },
        { username: "alice", password: "changed" },
      );
      await using manager = new NetworkAccessManager({ authenticator });
      assert.equal(await manager.get(`${target.url}/early`).text(), "hello alice");
      users.alice = "changed";
      const late = manager.get(`${target.url}/late`);
      const early = manager.get(`${target.url}/early`);
      // /early is refused, asks and signs in with the new password.
      assert.equal(await early.text(), "hello alice");
      release();
      // /late's refusal drops nothing it did not send: it retries with the new credentials.
      assert.equal(await late.text(), "hello alice");
      assert.equal(await manager.get(`${target.url}/next`).text(), "hello alice");
      assert.deepEqual(log.slice(-2).map((e) => [e.path, e.authorization]), [
        ["/late", basic("alice", "changed")],
        ["/next", basic("alice", "changed")],
      ]);
      assert.equal(calls.length, 2);
    },
  );
});

Deno.test("auth layer drops cached proxy credentials a proxy refuses with 401, as tinyproxy does", async () => {
  await using origin = startOrigin();
  await using proxy = startProxyServer({
    auth: { username: "pu", password: "pp" },
    wrongCredentialsStatus: 401,
  });
  const answers = [{ username: "pu", password: "wrong" }, { username: "pu", password: "pp" }];
  const calls: AuthenticationChallenge[] = [];
  await using manager = new NetworkAccessManager({
    // The proxy's challenges get an answer; a 401 (the origin's, as far as it says) none.
    authenticator: (_reply, challenge) => {
      calls.push(challenge);
      return challenge.proxy ? answers.shift() : undefined;
    },
    proxy: { type: "http", url: proxy.url },
  });
  const refused = manager.get(origin.url("127.0.0.1", "/a"));
  await refused.finished;
  assert.equal(refused.error, NetworkError.ProxyAuthenticationRequiredError, refused.errorString);
  // The refused credentials are gone: the next request is challenged and asks again.
  assert.equal(await manager.get(origin.url("127.0.0.1", "/b")).text(), "origin GET /b");
  const forwarded = proxy.log.filter((r) => r.kind === "forward");
  assert.deepEqual(forwarded.map((r) => [r.url, r.outcome]), [
    [origin.url("127.0.0.1", "/a"), 407],
    [origin.url("127.0.0.1", "/a"), 401],
    [origin.url("127.0.0.1", "/b"), 407],
    [origin.url("127.0.0.1", "/b"), 200],
  ]);
  // The 401 to the answer of the proxy's 407 is the proxy's: the target is never asked about.
  assert.deepEqual(calls.map((c) => c.proxy), [true, true]);
});

Deno.test("auth layer asks once for concurrent challenges of one protection space", async (t) => {
  /**
   * An authenticator that answers `answer` once `expected` replies were challenged (their
   * `authenticationrequired` events), so that every challenge is in before the first answer.
   */
  const gated = (expected: number, answer: AuthCredentials | undefined) => {
    let challenged = 0;
    let open!: () => void;
    const opened = new Promise<void>((resolve) => open = resolve);
    const calls: AuthenticationChallenge[] = [];
    const authenticator: Authenticator = async (_reply, challenge) => {
      calls.push(challenge);
      await opened;
      return answer;
    };
    const watch = (reply: NetworkReply) =>
      reply.addEventListener("authenticationrequired", () => {
        if (++challenged === expected) open();
      });
    return { calls, authenticator, watch };
  };
  const paths = ["/a", "/b", "/c", "/d", "/e"];
  await t.step("five requests to a server share one answer", async () => {
    await using auth = server();
    const { calls, authenticator, watch } = gated(5, { username: "alice", password: "wonderland" });
    await using manager = new NetworkAccessManager({ authenticator });
    const replies = paths.map((path) => manager.get(`${auth.origin}${path}`));
    replies.forEach(watch);
    assert.deepEqual(
      await Promise.all(replies.map((r) => r.text())),
      paths.map(() => "hello alice"),
    );
    assert.equal(calls.length, 1);
  });
  await t.step("no credentials given: all of them fail", async () => {
    await using auth = server();
    const { calls, authenticator, watch } = gated(5, undefined);
    await using manager = new NetworkAccessManager({ authenticator });
    const replies = paths.map((path) => manager.get(`${auth.origin}${path}`));
    replies.forEach(watch);
    await Promise.all(replies.map((r) => r.text()));
    assert.deepEqual(
      replies.map((r) => [r.error, r.status]),
      paths.map(() => [NetworkError.AuthenticationRequiredError, 401]),
    );
    assert.equal(calls.length, 1);
  });
  await t.step("five requests through a proxy share one answer", async () => {
    await using origin = startOrigin();
    await using proxy = startProxyServer({ auth: { username: "pu", password: "pp" } });
    const { calls, authenticator, watch } = gated(5, { username: "pu", password: "pp" });
    await using manager = new NetworkAccessManager({
      authenticator,
      proxy: { type: "http", url: proxy.url },
    });
    const replies = paths.map((path) => manager.get(origin.url("127.0.0.1", path)));
    replies.forEach(watch);
    assert.deepEqual(
      await Promise.all(replies.map((r) => r.text())),
      paths.map((path) => `origin GET ${path}`),
    );
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.proxy, true);
  });
  await t.step("five requests whose cached credentials are refused ask once", async () => {
    const users: Record<string, string> = { alice: "wonderland" };
    await using auth = server({ users });
    const { calls, authenticator, watch } = gated(5, undefined);
    let seeded = false;
    await using manager = new NetworkAccessManager({
      authenticator: async (reply, challenge) => {
        if (seeded) {
          await authenticator(reply, challenge);
          return { username: "alice", password: "changed" };
        }
        seeded = true;
        return { username: "alice", password: "wonderland" };
      },
    });
    assert.equal(await manager.get(`${auth.origin}/first`).text(), "hello alice");
    users.alice = "changed";
    const replies = paths.map((path) => manager.get(`${auth.origin}${path}`));
    replies.forEach(watch);
    assert.deepEqual(
      await Promise.all(replies.map((r) => r.text())),
      paths.map(() => "hello alice"),
    );
    assert.equal(calls.length, 1);
    assert.deepEqual(
      auth.log.slice(2).map((e) => e.outcome).sort(),
      [
        ...paths.map(() => "bad-credentials"),
        ...paths.map(() => "ok"),
      ].sort(),
    );
  });
  await t.step("different realms are asked apart", async () => {
    await using one = server({ realm: "one" });
    await using two = server({ realm: "two" });
    const { calls, authenticator, watch } = gated(2, { username: "alice", password: "wonderland" });
    await using manager = new NetworkAccessManager({ authenticator });
    const replies = [manager.get(`${one.origin}/`), manager.get(`${two.origin}/`)];
    replies.forEach(watch);
    assert.deepEqual(await Promise.all(replies.map((r) => r.text())), [
      "hello alice",
      "hello alice",
    ]);
    assert.deepEqual(calls.map((c) => c.realm).sort(), ["one", "two"]);
  });
});

Deno.test("Digest checks the rspauth of Authentication-Info (RFC 7616 section 3.5)", async (t) => {
  const alice = () => ({ username: "alice", password: "wonderland" });
  for (const algorithm of ["MD5", "SHA-256-sess"] as const) {
    await t.step(`a matching rspauth (${algorithm}) is taken, and so is none`, async () => {
      for (const rspauth of ["right", undefined] as const) {
        await using auth = server({ scheme: "digest", algorithm, ...(rspauth && { rspauth }) });
        await using manager = new NetworkAccessManager({ authenticator: alice });
        for (const path of ["/a", "/b"]) {
          const reply = manager.get(`${auth.origin}${path}`);
          assert.equal(await reply.text(), "hello alice");
          assert.equal(reply.error, NetworkError.NoError, reply.errorString);
          assert.equal(reply.headers.has("authentication-info"), rspauth !== undefined);
        }
        assert.deepEqual(auth.log.map((e) => e.outcome), ["missing", "ok", "ok"]);
      }
    });
  }
  await t.step("a wrong rspauth fails the reply, which keeps the response's status", async () => {
    await using auth = server({ scheme: "digest", rspauth: "wrong" });
    await using manager = new NetworkAccessManager({ authenticator: alice });
    const reply = manager.get(`${auth.origin}/a`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.AuthenticationRequiredError);
    assert.equal(reply.status, 200);
    assert.match(reply.headers.get("authentication-info") ?? "", /^rspauth=/);
    assert.equal(
      reply.errorString,
      `Cannot authenticate ${auth.origin}: the rspauth of its Authentication-Info does not match ` +
        "the response digest of the credentials sent (RFC 7616 section 3.5); the response did " +
        "not come from one that knows them",
    );
    await assert.rejects(reply.text(), NetworkReplyError);
  });
  for (const rspauth of ["right", "wrong"] as const) {
    const asks = rspauth === "right" ? 1 : 2;
    await t.step(`the authenticator's credentials, ${rspauth} rspauth: ${asks} asks`, async () => {
      await using auth = server({ scheme: "digest", rspauth });
      const { calls, authenticator } = recorder({ username: "alice", password: "wonderland" });
      await using manager = new NetworkAccessManager({ authenticator });
      for (const path of ["/a", "/b"]) {
        const reply = manager.get(`${auth.origin}${path}`);
        await reply.finished;
        assert.equal(
          reply.error,
          rspauth === "right" ? NetworkError.NoError : NetworkError.AuthenticationRequiredError,
        );
      }
      assert.equal(calls.length, asks);
      assert.deepEqual(
        auth.log.map((e) => e.outcome),
        rspauth === "right" ? ["missing", "ok", "ok"] : ["missing", "ok", "missing", "ok"],
      );
    });
  }
  await t.step("a proxy's wrong rspauth: its next request asks again", async () => {
    await using digestProxy = server({ scheme: "digest", proxy: true, rspauth: "wrong" });
    const { calls, authenticator } = recorder({ username: "alice", password: "wonderland" });
    await using manager = new NetworkAccessManager({
      authenticator,
      proxy: { type: "http", url: digestProxy.origin },
    });
    for (const path of ["/a", "/b"]) {
      const reply = manager.get(`http://origin.test${path}`);
      await reply.finished;
      assert.equal(reply.error, NetworkError.ProxyAuthenticationRequiredError);
    }
    assert.deepEqual(calls.map((c) => c.proxy), [true, true]);
  });
  await t.step("credentials another request put in the cache meanwhile stay", async () => {
    // /slow answers alice only once /fast was answered with bob, with a wrong rspauth.
    const challenge = 'Digest realm="r", nonce="n1", qop="auth", algorithm=MD5';
    let fastDone!: () => void;
    const fastAnswered = new Promise<void>((resolve) => fastDone = resolve);
    let slowSent!: () => void;
    const slowArrived = new Promise<void>((resolve) => slowSent = resolve);
    const seen: string[] = [];
    await using origin = serve(async (request) => {
      const path = new URL(request.url).pathname;
      const user = /username="([^"]*)"/.exec(request.headers.get("authorization") ?? "")?.[1];
      seen.push(`${path} ${user ?? "-"}`);
      if (user === undefined || (path !== "/slow" && user !== "bob")) {
        return new Response("denied", { status: 401, headers: { "www-authenticate": challenge } });
      }
      if (path === "/slow") {
        slowSent();
        await fastAnswered;
        const info = 'rspauth="00000000000000000000000000000000", qop=auth, nc=00000001';
        return new Response("slow", { headers: { "authentication-info": info } });
      }
      return new Response(`hello ${user}`);
    });
    const { calls, authenticator } = recorder(
      { username: "alice", password: "wonderland" },
      { username: "bob", password: "builder" },
    );
    await using manager = new NetworkAccessManager({ authenticator });
    const slow = manager.get(`${origin.url}/slow`);
    await slowArrived;
    assert.equal(await manager.get(`${origin.url}/fast`).text(), "hello bob");
    fastDone();
    await slow.finished;
    assert.equal(slow.error, NetworkError.AuthenticationRequiredError);
    assert.match(slow.errorString, /rspauth of its Authentication-Info does not match/);
    assert.equal(await manager.get(`${origin.url}/later`).text(), "hello bob");
    assert.equal(calls.length, 2);
    assert.deepEqual(seen, [
      "/slow -",
      "/slow alice",
      "/fast alice",
      "/fast bob",
      "/later bob",
    ]);
  });
  await t.step("a URL's credentials a wrong rspauth answered are not cached", async () => {
    await using auth = server({ scheme: "digest", rspauth: "wrong" });
    await using manager = new NetworkAccessManager();
    const url = new URL(`${auth.origin}/a`);
    url.username = "alice";
    url.password = "wonderland";
    const reply = manager.get(url);
    await reply.finished;
    assert.equal(reply.error, NetworkError.AuthenticationRequiredError);
    const later = manager.get(`${auth.origin}/b`);
    await later.finished;
    assert.equal(later.status, 401);
    assert.equal(auth.log.at(-1)!.authorization, null);
  });
  for (const rspauth of ["right", "wrong"] as const) {
    await t.step(`from an http proxy: Proxy-Authentication-Info, ${rspauth}`, async () => {
      await using digestProxy = server({ scheme: "digest", proxy: true, rspauth });
      await using manager = new NetworkAccessManager({
        authenticator: alice,
        proxy: { type: "http", url: digestProxy.origin },
      });
      const reply = manager.get("http://origin.test/a");
      await reply.finished;
      assert.equal(reply.status, 200);
      if (rspauth === "right") assert.equal(reply.error, NetworkError.NoError, reply.errorString);
      else {
        assert.equal(reply.error, NetworkError.ProxyAuthenticationRequiredError);
        assert.match(reply.errorString, /rspauth of its Proxy-Authentication-Info does not match/);
      }
    });
  }
  await t.step("checked against the count and client nonce of the attempt sent last", async () => {
    await using auth = server({ scheme: "digest", rspauth: "right" });
    await using manager = new NetworkAccessManager({
      authenticator: alice,
      retry: { sleep: () => Promise.resolve() },
    });
    let answered = 0;
    manager.use(
      (next) => (exchange) =>
        exchange.headers.has("authorization") && answered++ === 0
          ? Promise.resolve(new Response("busy", { status: 503 }))
          : next(exchange),
      "network",
    );
    const reply = manager.get(`${auth.origin}/a`);
    assert.equal(await reply.text(), "hello alice");
    assert.equal(reply.error, NetworkError.NoError, reply.errorString);
    assert.equal(reply.retries, 1);
    assert.match(auth.log.at(-1)!.authorization!, /nc=00000002/);
  });
  await t.step("a response from the cache keeps the rspauth of its first request", async () => {
    await using auth = server({ scheme: "digest", rspauth: "right" });
    await using manager = new NetworkAccessManager({
      authenticator: alice,
      cache: new MemoryCache(),
    });
    manager.use((next) => async (exchange) => {
      const response = await next(exchange);
      const headers = new Headers(response.headers);
      headers.set("cache-control", "max-age=60");
      return new Response(response.body, { status: response.status, headers });
    }, "network");
    for (const fromCache of [false, true]) {
      const reply = manager.get(`${auth.origin}/a`);
      assert.equal(await reply.text(), "hello alice");
      assert.equal(reply.fromCache, fromCache);
      assert.equal(reply.error, NetworkError.NoError, reply.errorString);
    }
    assert.deepEqual(auth.log.map((e) => e.outcome), ["missing", "ok"]);
  });
});
