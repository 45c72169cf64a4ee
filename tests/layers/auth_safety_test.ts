import assert from "node:assert/strict";
import { type AuthenticationChallenge, NetworkAccessManager, NetworkError } from "../../mod.ts";
import { CredentialCache } from "../../src/auth/credential_cache.ts";
import { authLayer } from "../../src/layers/auth.ts";
import { type AuthServerOptions, startAuthServer } from "../_helpers/auth_server.ts";
import { getExchange } from "../_helpers/exchange.ts";
import { guardUnhandledRejections, takeUnhandledRejections } from "../_helpers/server.ts";

guardUnhandledRejections();

const USERS = { alice: "A-pass", bob: "B-pass" };

function basicUser(authorization: string | null): string | null {
  if (!authorization?.startsWith("Basic ")) return null;
  return atob(authorization.slice(6));
}

function withUser(origin: string, userinfo: string, path: string): string {
  return `${origin.replace("://", `://${userinfo}@`)}${path}`;
}

Deno.test("userinfo in a request URL wins over cached credentials and is never merged with another user's", async (t) => {
  await using server = startAuthServer({ scheme: "basic", users: USERS });
  await using manager = new NetworkAccessManager({
    authenticator: () => ({ username: "alice", password: "A-pass" }),
  });
  // alice's credentials are cached for the protection space.
  const first = manager.get(`${server.origin}/doc`);
  await first.text();
  assert.equal(first.error, NetworkError.NoError);
  const sent = () => basicUser(server.log.at(-1)!.authorization);
  assert.equal(sent(), "alice:A-pass");

  await t.step("another user's URL credentials are sent, not the cached ones", async () => {
    const reply = manager.get(withUser(server.origin, "bob:B-pass", "/doc"));
    await reply.text();
    assert.equal(reply.error, NetworkError.NoError);
    const seen = server.log.filter((e) => e.authorization !== null).map((e) =>
      basicUser(e.authorization)
    );
    assert.ok(!seen.slice(1).includes("alice:A-pass"), `alice's credentials were sent: ${seen}`);
    assert.equal(sent(), "bob:B-pass");
  });

  await t.step("the same user's cached credentials are still sent pre-emptively", async () => {
    const before = server.log.length;
    const reply = manager.get(withUser(server.origin, "bob:B-pass", "/doc"));
    await reply.text();
    assert.equal(reply.error, NetworkError.NoError);
    assert.equal(server.log.length - before, 1, "one request: no challenge round-trip");
    assert.equal(sent(), "bob:B-pass");
  });
  await t.step("a user name alone never takes another user's cached password", async () => {
    const before = server.log.length;
    const reply = manager.get(withUser(server.origin, "carol", "/doc"));
    await reply.finished;
    const sentNow = server.log.slice(before).map((e) => basicUser(e.authorization));
    assert.equal(sentNow[0], null, "nothing pre-emptively: the cache holds another user's");
    assert.equal(sentNow[1], "carol:", "then the URL's own credentials");
  });

  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("credentials in a request URL join the cache only once they work", async (t) => {
  for (const scheme of ["basic", "digest"] as const) {
    await t.step(
      `${scheme}: a wrong password in a URL neither replaces nor drops what worked`,
      async () => {
        await using server = startAuthServer({ scheme, users: USERS });
        await using manager = new NetworkAccessManager();
        const get = async (url: string) => {
          const before = server.log.length;
          const reply = manager.get(url);
          await reply.text();
          return { error: reply.error, outcomes: server.log.slice(before).map((e) => e.outcome) };
        };
        assert.deepEqual(await get(withUser(server.origin, "alice:A-pass", "/d/1")), {
          error: NetworkError.NoError,
          outcomes: ["missing", "ok"],
        });
        // Cached once they worked: sent up front (for Digest with the next nonce count).
        assert.deepEqual(await get(`${server.origin}/d/2`), {
          error: NetworkError.NoError,
          outcomes: ["ok"],
        });
        assert.deepEqual(await get(withUser(server.origin, "alice:wrong", "/d/3")), {
          error: NetworkError.AuthenticationRequiredError,
          outcomes: ["missing", scheme === "basic" ? "bad-credentials" : "bad-response"],
        });
        assert.deepEqual(await get(`${server.origin}/d/4`), {
          error: NetworkError.NoError,
          outcomes: ["ok"],
        });
      },
    );
  }
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("a server that answered Digest never gets Basic credentials unless the authenticator accepts the downgrade", async (t) => {
  for (const accept of [false, true]) {
    await t.step(accept ? "the authenticator accepts" : "the authenticator refuses", async () => {
      const options: AuthServerOptions = { scheme: "digest", users: USERS };
      await using server = startAuthServer(options);
      const challenges: AuthenticationChallenge[] = [];
      await using manager = new NetworkAccessManager({
        authenticator: (_reply, challenge) => {
          challenges.push(challenge);
          if (challenge.downgrade && !accept) return undefined;
          return { username: "alice", password: "A-pass" };
        },
      });
      const digest = manager.get(withUser(server.origin, "alice:A-pass", "/doc"));
      await digest.text();
      assert.equal(digest.error, NetworkError.NoError);
      assert.equal(challenges.length, 0, "the URL's credentials answered the Digest challenge");
      assert.match(server.log.at(-1)!.authorization ?? "", /^Digest /);

      // Now the same origin (a man in the middle, say) offers only Basic.
      options.scheme = "basic";
      const before = server.log.length;
      const basic = manager.get(withUser(server.origin, "alice:A-pass", "/other"));
      await basic.finished;
      const sent = server.log.slice(before).map((e) => e.authorization ?? "");
      assert.equal(challenges.length, 1, "the authenticator is asked");
      assert.equal(challenges[0]!.scheme, "basic");
      assert.equal(challenges[0]!.downgrade, true);
      if (accept) {
        assert.equal(basic.error, NetworkError.NoError);
        assert.ok(sent.some((value) => basicUser(value) === "alice:A-pass"));
      } else {
        assert.equal(basic.error, NetworkError.AuthenticationRequiredError);
        assert.equal(basic.status, 401);
        assert.ok(sent.every((value) => !value.startsWith("Basic ")), `sent ${sent}`);
      }
    });
  }
  await t.step("a server that never used Digest gets Basic as before, not flagged", async () => {
    await using server = startAuthServer({ scheme: "basic", users: USERS });
    const challenges: AuthenticationChallenge[] = [];
    await using manager = new NetworkAccessManager({
      authenticator: (_reply, challenge) => {
        challenges.push(challenge);
        return { username: "alice", password: "A-pass" };
      },
    });
    const reply = manager.get(`${server.origin}/doc`);
    await reply.text();
    assert.equal(reply.error, NetworkError.NoError);
    assert.equal(challenges[0]!.downgrade, undefined);
  });
});

Deno.test("the protection spaces known to use Digest are bounded, and the ones with cached credentials stay known", async () => {
  const cache = new CredentialCache(4);
  const downgrades: (boolean | undefined)[] = [];
  const layer = authLayer({
    authenticator: (_reply, challenge) => {
      downgrades.push(challenge.downgrade);
      return challenge.downgrade ? { username: "alice", password: "A-pass" } : undefined;
    },
    caCerts: [],
  }, cache);
  // What each request's first attempt carried, and the challenge each response makes.
  const firstSent: (string | null)[] = [];
  let challenge = "";
  let realms = 0;
  const handler = layer((exchange) => {
    const authorization = exchange.headers.get("authorization");
    if (authorization === null) firstSent.push(null);
    else if (authorization.startsWith("Basic ")) return Promise.resolve(new Response("in"));
    return Promise.resolve(
      new Response("no", {
        status: 401,
        headers: {
          "www-authenticate": challenge === "fresh"
            ? `Digest realm="realm-${++realms}", nonce="n${realms}", qop="auth"`
            : challenge,
        },
      }),
    );
  });
  await using manager = new NetworkAccessManager();
  const send = async (url: string) =>
    (await handler(getExchange(url, manager.get("data:,")))).status;
  // A space that challenged with Digest, then with Basic: the downgrade accepted, its Basic
  // credentials are cached.
  challenge = 'Digest realm="kept", nonce="k", qop="auth"';
  assert.equal(await send("http://kept.test/doc"), 401);
  challenge = 'Basic realm="kept"';
  assert.equal(await send("http://kept.test/doc"), 200);
  assert.deepEqual(downgrades, [undefined, true]);
  assert.equal(cache.size, 1);
  // A server that names a new Digest realm with each challenge.
  challenge = "fresh";
  for (let i = 0; i < 50; i++) assert.equal(await send("http://fresh.test/"), 401);
  assert.equal(realms, 50);
  assert.equal(cache.digestSpaces, 5, "the cached space's mark and the 4 latest of the others");
  // The cached Basic credentials still do not go up front to the space that used Digest.
  firstSent.length = 0;
  challenge = 'Basic realm="kept"';
  assert.equal(await send("http://kept.test/doc"), 200);
  assert.deepEqual(firstSent, [null]);
  assert.equal(downgrades.at(-1), true);
  cache.clear();
  assert.equal(cache.digestSpaces, 0);
});

Deno.test("clearAccessCache() forgets which protection spaces used Digest", async () => {
  const options: AuthServerOptions = { scheme: "digest", users: USERS };
  await using server = startAuthServer(options);
  const asked: [string, boolean | undefined][] = [];
  await using manager = new NetworkAccessManager({
    authenticator: (_reply, { scheme, downgrade }) => void asked.push([scheme, downgrade]),
  });
  const digest = manager.get(`${server.origin}/doc`);
  await digest.finished;
  assert.equal(digest.error, NetworkError.AuthenticationRequiredError);
  options.scheme = "basic";
  manager.clearAccessCache();
  await manager.get(`${server.origin}/doc`).finished;
  assert.deepEqual(asked, [["digest", undefined], ["basic", undefined]]);
});
