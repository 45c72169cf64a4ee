import assert from "node:assert/strict";
import {
  type AuthenticationChallenge,
  type Authenticator,
  NetworkAccessManager,
  NetworkError,
} from "../../mod.ts";
import { guardUnhandledRejections, serve, takeUnhandledRejections } from "../_helpers/server.ts";

guardUnhandledRejections();

const basic = (username: string, password: string) => `Basic ${btoa(`${username}:${password}`)}`;

/**
 * A server (or, with `proxy`, an http proxy) whose challenge and accepted answer change as a test
 * sets `state`: Basic checks the password, Digest takes any `Digest` answer (what the client sends
 * is what these tests look at). Logs each request's path and credentials.
 */
function switchingServer(
  state: { scheme: "basic" | "digest"; realm: string; password: string },
  proxy = false,
) {
  const log: { path: string; authorization: string | null }[] = [];
  const status = proxy ? 407 : 401;
  const server = serve((request) => {
    const authorization = request.headers.get(proxy ? "proxy-authorization" : "authorization");
    log.push({ path: new URL(request.url).pathname, authorization });
    const accepted = state.scheme === "basic"
      ? authorization === basic("u", state.password)
      : authorization?.startsWith("Digest ") === true;
    if (accepted) return new Response("ok");
    const challenge = state.scheme === "basic"
      ? `Basic realm="${state.realm}"`
      : `Digest realm="${state.realm}", nonce="n1", qop="auth", algorithm=SHA-256`;
    return new Response("denied", {
      status,
      headers: { [proxy ? "proxy-authenticate" : "www-authenticate"]: challenge },
    });
  });
  /** The credentials of each request since the `from`th, in order. */
  const sent = (from: number) => log.slice(from).map((e) => e.authorization);
  return { server, log, sent };
}

/** A Basic server (realm "old") and a manager whose authenticator always gives u:secret. */
function basicThenDigest() {
  const state = { scheme: "basic" as "basic" | "digest", realm: "old", password: "secret" };
  const manager = new NetworkAccessManager({
    authenticator: () => ({ username: "u", password: "secret" }),
  });
  return { state, manager, ...switchingServer(state) };
}

async function fetchText(manager: NetworkAccessManager, url: string): Promise<string> {
  const reply = manager.get(url);
  const text = await reply.text();
  assert.equal(reply.error, NetworkError.NoError, reply.errorString);
  return text;
}

/**
 * A server whose paths belong to protection spaces of their own (`spaceOf` gives the realm and
 * scheme of a path): it takes the credentials `user:p<user>`, the user being the realm unless
 * `spaceOf` names one (Basic checks the password, Digest the user name and realm), else
 * challenges. Logs each request's path and credentials.
 */
function realmServer(
  spaceOf: (path: string) => { realm: string; scheme: "basic" | "digest"; user?: string },
) {
  const log: { path: string; authorization: string | null }[] = [];
  const server = serve((request) => {
    const path = new URL(request.url).pathname;
    const authorization = request.headers.get("authorization");
    log.push({ path, authorization });
    const { realm, scheme, user = realm } = spaceOf(path);
    const accepted = scheme === "basic"
      ? authorization === basic(user, `p${user}`)
      : authorization?.startsWith("Digest ") === true &&
        authorization.includes(`username="${user}"`) && authorization.includes(`realm="${realm}"`);
    if (accepted) return new Response(`ok ${realm}`);
    const challenge = scheme === "basic"
      ? `Basic realm="${realm}"`
      : `Digest realm="${realm}", nonce="n-${realm}", qop="auth", algorithm=SHA-256`;
    return new Response("denied", { status: 401, headers: { "www-authenticate": challenge } });
  });
  /** The credentials of each request since the `from`th, in order. */
  const sent = (from: number) => log.slice(from).map((e) => e.authorization);
  return { server, log, sent };
}

/** A manager whose authenticator answers realm R with `R:pR`, logging each call's realm. */
function realmManager() {
  const calls: string[] = [];
  const manager = new NetworkAccessManager({
    authenticator: (_reply, challenge) => {
      calls.push(`${challenge.realm}${challenge.downgrade ? " (downgrade)" : ""}`);
      return { username: challenge.realm!, password: `p${challenge.realm}` };
    },
  });
  return { calls, manager };
}

Deno.test("a 401 of another realm does not refuse the credentials of the space sent", async (t) => {
  await t.step("a renamed realm: later requests send only the new credentials", async () => {
    const state = { scheme: "basic" as const, realm: "old", password: "p1" };
    const { server, log, sent } = switchingServer(state);
    await using _ = server;
    const calls: AuthenticationChallenge[] = [];
    await using manager = new NetworkAccessManager({
      authenticator: (_reply, challenge) => {
        calls.push(challenge);
        return { username: "u", password: challenge.realm === "old" ? "p1" : "p2" };
      },
    });
    await fetchText(manager, `${server.url}/a/x`); // realm "old" holds /a/
    await fetchText(manager, `${server.url}/x`); // and /
    state.realm = "new";
    state.password = "p2";
    // "old" goes up front and is refused; "new" answers and, stored last, wins the tie at /.
    let from = log.length;
    await fetchText(manager, `${server.url}/b`);
    assert.deepEqual(sent(from), [basic("u", "p1"), basic("u", "p2")]);
    for (const path of ["/c", "/d"]) {
      from = log.length;
      await fetchText(manager, `${server.url}${path}`);
      assert.deepEqual(sent(from), [basic("u", "p2")], `the old credentials went to ${path}`);
    }
    // /a/ is deeper in "old" than in "new": its credentials go first, once.
    from = log.length;
    await fetchText(manager, `${server.url}/a/y`);
    assert.deepEqual(sent(from), [basic("u", "p1"), basic("u", "p2")]);
    from = log.length;
    await fetchText(manager, `${server.url}/a/z`);
    assert.deepEqual(sent(from), [basic("u", "p2")], "the old credentials went to /a/z");
    assert.deepEqual(calls.map((c) => c.realm), ["old", "new"]);
  });

  await t.step("a server that turned to Digest under a new realm: Digest goes next", async () => {
    const { state, server, log, sent, manager } = basicThenDigest();
    await using _ = server;
    await using __ = manager;
    await fetchText(manager, `${server.url}/a`);
    state.scheme = "digest";
    state.realm = "new";
    let from = log.length;
    await fetchText(manager, `${server.url}/b`);
    assert.equal(sent(from)[0], basic("u", "secret")); // not known to use Digest yet
    for (const path of ["/c", "/d"]) {
      from = log.length;
      await fetchText(manager, `${server.url}${path}`);
      assert.deepEqual(sent(from).map((value) => value?.split(" ")[0]), ["Digest"], path);
    }
  });

  for (const scheme of ["basic", "digest"] as const) {
    await t.step(
      `alternating ${scheme} realms of one directory: the authenticator asked once per realm`,
      async () => {
        const { server } = realmServer((path) => ({
          realm: path.startsWith("/x") ? "A" : "B",
          scheme,
        }));
        await using _ = server;
        const { calls, manager } = realmManager();
        await using __ = manager;
        for (let i = 0; i < 4; i++) {
          assert.equal(await fetchText(manager, `${server.url}/x`), "ok A");
          assert.equal(await fetchText(manager, `${server.url}/y`), "ok B");
        }
        assert.deepEqual(calls, ["A", "B"]);
      },
    );
  }

  await t.step(
    "alternating realms, concurrently: the authenticator asked once per realm",
    async () => {
      const { server } = realmServer((path) => ({
        realm: path.startsWith("/x") ? "A" : "B",
        scheme: "basic",
      }));
      await using _ = server;
      const { calls, manager } = realmManager();
      await using __ = manager;
      for (let round = 0; round < 3; round++) {
        const texts = await Promise.all(
          Array.from(
            { length: 6 },
            (_, i) => fetchText(manager, `${server.url}/${"xy"[i % 2]}${i}`),
          ),
        );
        assert.deepEqual(texts, ["ok A", "ok B", "ok A", "ok B", "ok A", "ok B"]);
      }
      assert.deepEqual(calls.sort(), ["A", "B"]);
    },
  );

  await t.step("a nested realm's 401 keeps the outer realm's credentials", async () => {
    const { server, log, sent } = realmServer((path) => ({
      realm: path.startsWith("/docs/private/") ? "B" : "A",
      scheme: "basic",
    }));
    await using _ = server;
    const { calls, manager } = realmManager();
    await using __ = manager;
    await fetchText(manager, `${server.url}/docs/1`);
    let from = log.length;
    await fetchText(manager, `${server.url}/docs/private/1`);
    assert.deepEqual(sent(from), [basic("A", "pA"), basic("B", "pB")]);
    for (const [path, credentials] of [["/docs/2", "A"], ["/docs/private/2", "B"]] as const) {
      from = log.length;
      await fetchText(manager, `${server.url}${path}`);
      assert.deepEqual(sent(from), [basic(credentials, `p${credentials}`)], path);
    }
    assert.deepEqual(calls, ["A", "B"]);
  });
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("a protection space that challenged with Digest is sent no cached Basic credentials up front", async (t) => {
  await t.step(
    "a server: a downgrade the authenticator accepted is asked for each time",
    async () => {
      const state = { scheme: "digest" as "basic" | "digest", realm: "r", password: "secret" };
      const { server, log, sent } = switchingServer(state);
      await using _ = server;
      const downgrades: (boolean | undefined)[] = [];
      await using manager = new NetworkAccessManager({
        authenticator: (_reply, challenge) => {
          downgrades.push(challenge.downgrade);
          return { username: "u", password: "secret" };
        },
      });
      await fetchText(manager, `${server.url}/a`);
      state.scheme = "basic"; // the same realm
      await fetchText(manager, `${server.url}/b`); // a downgrade, accepted
      const from = log.length;
      await fetchText(manager, `${server.url}/c`);
      assert.deepEqual(sent(from), [null, basic("u", "secret")]);
      assert.deepEqual(downgrades, [undefined, true, true]);
    },
  );

  await t.step(
    "a proxy: a downgrade the authenticator accepted is asked for each time",
    async () => {
      const state = { scheme: "digest" as "basic" | "digest", realm: "r", password: "secret" };
      const { server: proxy, log, sent } = switchingServer(state, true);
      await using _ = proxy;
      const downgrades: (boolean | undefined)[] = [];
      const authenticator: Authenticator = (_reply, challenge) => {
        downgrades.push(challenge.downgrade);
        return { username: "u", password: "secret" };
      };
      await using manager = new NetworkAccessManager({
        authenticator,
        proxy: { type: "http", url: proxy.url },
      });
      await fetchText(manager, "http://origin.test/a");
      state.scheme = "basic"; // the same realm
      await fetchText(manager, "http://origin.test/b"); // a downgrade, accepted
      const from = log.length;
      await fetchText(manager, "http://origin.test/c");
      assert.deepEqual(sent(from), [null, basic("u", "secret")]);
      assert.deepEqual(downgrades, [undefined, true, true]);
    },
  );

  const basicPubDigestAdm = (path: string) =>
    path.startsWith("/adm/")
      ? { realm: "adm", scheme: "digest" as const }
      : { realm: "pub", scheme: "basic" as const };

  await t.step("a realm of the origin that always used Basic is no downgrade", async () => {
    const { server, log, sent } = realmServer(basicPubDigestAdm);
    await using _ = server;
    const { calls, manager } = realmManager();
    await using __ = manager;
    await fetchText(manager, `${server.url}/pub/a`);
    await fetchText(manager, `${server.url}/adm/a`);
    for (const path of ["/pub/b", "/pub/c"]) {
      const from = log.length;
      await fetchText(manager, `${server.url}${path}`);
      assert.deepEqual(sent(from), [basic("pub", "ppub")], path);
    }
    assert.deepEqual(calls, ["pub", "adm"]);
  });

  await t.step(
    "a realm of the origin that always used Basic takes the URL's credentials",
    async () => {
      // Both realms take the URL's credentials.
      const { server } = realmServer((path) => ({ ...basicPubDigestAdm(path), user: "u" }));
      await using _ = server;
      await using manager = new NetworkAccessManager();
      const url = new URL(server.url);
      url.username = "u";
      url.password = "pu";
      for (const path of ["/pub/a", "/adm/a", "/pub/b"]) {
        url.pathname = path;
        assert.match(await fetchText(manager, url.href), /^ok/, path);
      }
    },
  );
  assert.deepEqual(takeUnhandledRejections(), []);
});
