import assert from "node:assert/strict";
import {
  type AuthChallenge,
  challengesFromHeaders,
  parseAuthParams,
  parseChallenges,
  selectChallenge,
} from "../../src/auth/challenge.ts";

/** Plain objects for deepEqual (params have a null prototype). */
function plain(challenges: AuthChallenge[]): unknown[] {
  return challenges.map((c) => ({ ...c, params: { ...c.params } }));
}

Deno.test("parseChallenges reads the RFC 9110 example with two challenges", () => {
  const value = 'Newauth realm="apps", type=1,\n title="Login to \\"apps\\"", Basic realm="simple"'
    .replace("\n", "");
  assert.deepEqual(plain(parseChallenges(value)), [
    {
      scheme: "newauth",
      realm: "apps",
      params: { realm: "apps", type: "1", title: 'Login to "apps"' },
    },
    { scheme: "basic", realm: "simple", params: { realm: "simple" } },
  ]);
});

Deno.test("parseChallenges reads a Digest challenge with a quoted comma list", () => {
  const value = 'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, ' +
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"';
  const [challenge, ...rest] = parseChallenges(value);
  assert.equal(rest.length, 0);
  assert.equal(challenge?.scheme, "digest");
  assert.equal(challenge?.realm, "http-auth@example.org");
  assert.deepEqual({ ...challenge?.params }, {
    realm: "http-auth@example.org",
    qop: "auth, auth-int",
    algorithm: "SHA-256",
    nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    opaque: "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
  });
});

Deno.test("parseChallenges handles token68, bare schemes and case", async (t) => {
  await t.step("token68 with padding, then another challenge", () => {
    assert.deepEqual(plain(parseChallenges("Negotiate YIIBhgYGKwYBBQUCoIIBejCC+/==, NTLM")), [
      {
        scheme: "negotiate",
        realm: undefined,
        params: {},
        token68: "YIIBhgYGKwYBBQUCoIIBejCC+/==",
      },
      { scheme: "ntlm", realm: undefined, params: {} },
    ]);
  });
  await t.step(
    "scheme names are lower-cased, realm keeps its case, param names lower-cased",
    () => {
      assert.deepEqual(plain(parseChallenges('BASIC REALM="My Realm", Charset="UTF-8"')), [
        { scheme: "basic", realm: "My Realm", params: { realm: "My Realm", charset: "UTF-8" } },
      ]);
    },
  );
  await t.step("whitespace around '=' (BWS) and empty list elements", () => {
    assert.deepEqual(plain(parseChallenges(' , Basic realm = "x" ,, Bearer  ,')), [
      { scheme: "basic", realm: "x", params: { realm: "x" } },
      { scheme: "bearer", realm: undefined, params: {} },
    ]);
  });
  await t.step("a parameter given twice keeps the first value", () => {
    assert.equal(parseChallenges('Basic realm="a", realm="b"')[0]?.realm, "a");
  });
  await t.step("a param named __proto__ is data, not a prototype", () => {
    const [challenge] = parseChallenges('Custom __proto__="x", realm=r');
    assert.equal(challenge?.params["__proto__"], "x");
    assert.equal(challenge?.realm, "r");
  });
  await t.step("the empty value has no challenges", () => {
    assert.deepEqual(parseChallenges(""), []);
    assert.deepEqual(parseChallenges("  ,  "), []);
  });
});

Deno.test("parseChallenges skips malformed parts and keeps the rest", async (t) => {
  await t.step("an unterminated quoted string", () => {
    // The stray quote pairs with the next one: nothing after it can be trusted as a param.
    assert.deepEqual(plain(parseChallenges('Basic realm="open, Digest realm="x", nonce="n"')), [
      { scheme: "basic", realm: undefined, params: {} },
    ]);
  });
  await t.step("a param without a value is dropped, later params kept", () => {
    assert.deepEqual(plain(parseChallenges('Digest realm="r", broken=, nonce="n"')), [
      { scheme: "digest", realm: "r", params: { realm: "r", nonce: "n" } },
    ]);
  });
  await t.step("garbage between challenges", () => {
    assert.deepEqual(plain(parseChallenges('@@@, Basic realm="ok", ===')), [
      { scheme: "basic", realm: "ok", params: { realm: "ok" } },
    ]);
  });
  await t.step("a scheme glued to a quote is not a challenge", () => {
    assert.deepEqual(plain(parseChallenges('Basic"realm", Basic realm=fine')), [
      { scheme: "basic", realm: "fine", params: { realm: "fine" } },
    ]);
  });
});

Deno.test("challengesFromHeaders reads challenges across several header fields", () => {
  const headers = new Headers();
  headers.append("WWW-Authenticate", 'Digest realm="a", nonce="1", qop="auth"');
  headers.append("WWW-Authenticate", 'Basic realm="b"');
  headers.append("Proxy-Authenticate", 'Basic realm="proxy"');
  assert.deepEqual(challengesFromHeaders(headers, false).map((c) => [c.scheme, c.realm]), [
    ["digest", "a"],
    ["basic", "b"],
  ]);
  assert.deepEqual(challengesFromHeaders(headers, true).map((c) => [c.scheme, c.realm]), [
    ["basic", "proxy"],
  ]);
  assert.deepEqual(challengesFromHeaders(new Headers(), false), []);
});

Deno.test("selectChallenge prefers the strongest Digest, then Basic, never unknown schemes", async (t) => {
  await t.step("SHA-256 over MD5 over Basic", () => {
    const challenges = parseChallenges(
      'Basic realm="r", Digest realm="r", nonce="a", algorithm=MD5, qop="auth", ' +
        'Digest realm="r", nonce="b", algorithm=SHA-256, qop="auth"',
    );
    const chosen = selectChallenge(challenges);
    assert.equal(chosen?.scheme, "digest");
    assert.equal(chosen?.scheme === "digest" ? chosen.digest.algorithm : "", "SHA-256");
  });
  await t.step("Basic when the Digest challenge cannot be answered", () => {
    const challenges = parseChallenges(
      'Digest realm="r", nonce="a", qop="auth-int", Digest realm="r", nonce="b", algorithm=SHA-1, ' +
        'Basic realm="fallback"',
    );
    // auth-int is answerable only when the request's body is known before it is sent.
    assert.equal(selectChallenge(challenges)?.scheme, "digest");
    const chosen = selectChallenge(challenges, false);
    assert.equal(chosen?.scheme, "basic");
    assert.equal(chosen?.challenge.realm, "fallback");
  });
  await t.step("null for schemes it does not know", () => {
    assert.equal(selectChallenge(parseChallenges('Bearer realm="api", Negotiate')), null);
    assert.equal(selectChallenge([]), null);
  });
});

Deno.test("parseAuthParams reads an Authentication-Info list", () => {
  assert.deepEqual(
    { ...parseAuthParams('qop=auth, rspauth="a,b", cnonce="c\\"d" , nc=00000001, nextnonce="n1"') },
    { qop: "auth", rspauth: "a,b", cnonce: 'c"d', nc: "00000001", nextnonce: "n1" },
  );
  // Malformed elements are skipped; the first of a repeated name counts.
  assert.deepEqual(
    { ...parseAuthParams('junk, NextNonce="x", nextnonce="y", bad="unterminated') },
    { nextnonce: "x" },
  );
  assert.deepEqual({ ...parseAuthParams("") }, {});
});
