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

Deno.test("cached credentials a 401 refuses leave the cache whatever realm it names", async (t) => {
  await t.step("a renamed realm: the old credentials are not sent again", async () => {
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
    state.realm = "new";
    state.password = "p2";
    await fetchText(manager, `${server.url}/b`); // realm "new" holds /
    // /a/ is deeper in "old" than in "new": its credentials go first, and are refused.
    let from = log.length;
    await fetchText(manager, `${server.url}/a/y`);
    assert.deepEqual(sent(from), [basic("u", "p1"), basic("u", "p2")]);
    from = log.length;
    await fetchText(manager, `${server.url}/a/z`);
    assert.deepEqual(sent(from), [basic("u", "p2")], "the refused credentials went again");
    assert.deepEqual(calls.map((c) => c.realm), ["old", "new"]);
  });

  await t.step("a server that turned to Digest: the cached Basic ones are dropped", async () => {
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
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("an origin that challenged with Digest is sent no cached Basic credentials up front", async (t) => {
  await t.step("a server: Basic cached for a deeper path stays home", async () => {
    const { state, server, log, sent, manager } = basicThenDigest();
    await using _ = server;
    await using __ = manager;
    await fetchText(manager, `${server.url}/a/x`); // Basic realm "old" holds /a/
    state.scheme = "digest";
    state.realm = "new";
    await fetchText(manager, `${server.url}/d/x`); // nothing up front; Digest answers
    let from = log.length;
    await fetchText(manager, `${server.url}/a/y`);
    assert.deepEqual(sent(from).map((value) => value?.split(" ")[0] ?? null), [null, "Digest"]);
    // Digest now holds /a/ too, and, stored last, goes up front.
    from = log.length;
    await fetchText(manager, `${server.url}/a/z`);
    assert.deepEqual(sent(from).map((value) => value?.split(" ")[0]), ["Digest"]);
  });

  await t.step(
    "a proxy: a downgrade the authenticator accepted is asked for each time",
    async () => {
      const state = { scheme: "digest" as "basic" | "digest", realm: "new", password: "secret" };
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
      state.scheme = "basic";
      state.realm = "old";
      await fetchText(manager, "http://origin.test/b"); // a downgrade, accepted
      const from = log.length;
      await fetchText(manager, "http://origin.test/c");
      assert.deepEqual(sent(from), [null, basic("u", "secret")]);
      assert.deepEqual(downgrades, [undefined, true, true]);
    },
  );
  assert.deepEqual(takeUnhandledRejections(), []);
});
