import assert from "node:assert/strict";
import { basicAuthorization } from "../../src/auth/basic.ts";
import { challengesFromHeaders, selectChallenge } from "../../src/auth/challenge.ts";
import { startAuthServer } from "../_helpers/auth_server.ts";

Deno.test("basicAuthorization encodes the RFC 7617 examples", async (t) => {
  await t.step("section 2: Aladdin", () => {
    assert.equal(
      basicAuthorization({ username: "Aladdin", password: "open sesame" }),
      "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
    );
  });
  await t.step("section 2.1: UTF-8 with charset", () => {
    assert.equal(
      basicAuthorization({ username: "test", password: "123\u00A3" }),
      "Basic dGVzdDoxMjPCow==",
    );
  });
  await t.step("a colon in the password is allowed", () => {
    assert.equal(basicAuthorization({ username: "u", password: "a:b" }), `Basic ${btoa("u:a:b")}`);
  });
});

Deno.test("basicAuthorization refuses user names it cannot encode", () => {
  assert.throws(() => basicAuthorization({ username: "a:b", password: "p" }), {
    name: "TypeError",
    message: "Cannot use Basic authentication: 'username' must not contain ':' (RFC 7617 user-id)",
  });
  assert.throws(() => basicAuthorization({ username: "a", password: "p\r\n" }), {
    name: "TypeError",
    message: /must not contain control characters/,
  });
});

Deno.test("Basic authenticates against a verifying server, in UTF-8", async () => {
  await using server = startAuthServer({
    scheme: "basic",
    users: { "Zoë": "pässword", Aladdin: "open sesame" },
    realm: "WallyWorld",
    extraChallenges: ['Bearer realm="api"'],
  });
  const url = `${server.origin}/private/`;
  const first = await fetch(url);
  await first.body?.cancel();
  assert.equal(first.status, 401);
  const chosen = selectChallenge(challengesFromHeaders(first.headers, false));
  assert.equal(chosen?.scheme, "basic");
  assert.equal(chosen?.challenge.realm, "WallyWorld");
  assert.equal(chosen?.challenge.params.charset, "UTF-8");
  for (
    const [username, password, status] of [
      ["Zoë", "pässword", 200],
      ["Aladdin", "open sesame", 200],
      ["Aladdin", "wrong", 401],
    ] as const
  ) {
    const response = await fetch(url, {
      headers: { authorization: basicAuthorization({ username, password }) },
    });
    const body = await response.text();
    assert.equal(response.status, status, body);
    if (status === 200) assert.equal(body, `hello ${username}`);
  }
  assert.deepEqual(server.log.map((e) => e.outcome), ["missing", "ok", "ok", "bad-credentials"]);
});
