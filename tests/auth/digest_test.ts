import assert from "node:assert/strict";
import { challengesFromHeaders, parseChallenges } from "../../src/auth/challenge.ts";
import { type AuthCredentials, CredentialCache } from "../../src/auth/credential_cache.ts";
import {
  digestAuthorization,
  digestResponse,
  formatNonceCount,
  isStale,
  loadDigest,
  newCnonce,
  parseDigestChallenge,
} from "../../src/auth/digest.ts";
import { type AuthServerOptions, startAuthServer } from "../_helpers/auth_server.ts";

await loadDigest(); // node:crypto is loaded on first use; these tests call the hashing directly

function digestOf(header: string) {
  const [challenge] = parseChallenges(header);
  assert.ok(challenge);
  const digest = parseDigestChallenge(challenge);
  assert.ok(digest, `not an answerable Digest challenge: ${header}`);
  return digest;
}

// RFC 7616 section 3.9.1.
const RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
const RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";
const RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
const MUFASA: AuthCredentials = { username: "Mufasa", password: "Circle of Life" };

Deno.test("Digest answers the RFC 7616 section 3.9.1 example", async (t) => {
  const cases: [string, string][] = [
    ["SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"],
    ["MD5", "8ca523f5e9506fed4657c9700eebdbec"],
  ];
  for (const [algorithm, response] of cases) {
    await t.step(algorithm, () => {
      const challenge = digestOf(
        `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=${algorithm}, ` +
          `nonce="${RFC7616_NONCE}", opaque="${RFC7616_OPAQUE}"`,
      );
      const input = {
        challenge,
        credentials: MUFASA,
        method: "GET",
        uri: "/dir/index.html",
        nc: 1,
        cnonce: RFC7616_CNONCE,
      };
      assert.equal(digestResponse(input), response);
      assert.equal(
        digestAuthorization(input),
        `Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", ` +
          `algorithm=${algorithm}, nonce="${RFC7616_NONCE}", nc=00000001, ` +
          `cnonce="${RFC7616_CNONCE}", qop=auth, response="${response}", ` +
          `opaque="${RFC7616_OPAQUE}"`,
      );
    });
  }
});

Deno.test("Digest SHA-512-256 is SHA-512/256, not the truncated SHA-512 of RFC 7616's 3.9.2 example", async () => {
  // RFC 7616 section 3.9.2 (userhash, SHA-512-256): its example values, username
  // 488869477bf257147b804c45308cd62ac4e25eb717b12b298c79e62dcea254ec and response
  // ae66e67d6b427bd3f120414a82e4acff38e8ecd9101d6c861229025f607a79dd, are those of SHA-512 cut to
  // 256 bits; the algorithm the RFC names (section 3.2, FIPS 180-4 SHA-512/256, other initial
  // values) gives the ones below, as OpenSSL (and curl through it) computes it.
  const { createHash } = await import("node:crypto");
  const truncated = (text: string) =>
    createHash("sha512").update(text, "utf8").digest("hex").slice(0, 64);
  const user = "J\u00e4s\u00f8n Doe";
  assert.equal(
    truncated(`${user}:api@example.org`),
    "488869477bf257147b804c45308cd62ac4e25eb717b12b298c79e62dcea254ec",
  );
  const challenge = digestOf(
    'Digest realm="api@example.org", qop="auth", algorithm=SHA-512-256, ' +
      'nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", ' +
      'opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS", charset=UTF-8, userhash=true',
  );
  assert.equal(
    digestAuthorization({
      challenge,
      credentials: { username: user, password: "Secret, or not?" },
      method: "GET",
      uri: "/doe.json",
      nc: 1,
      cnonce: "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v",
    }),
    'Digest username="793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b", ' +
      'realm="api@example.org", uri="/doe.json", algorithm=SHA-512-256, ' +
      'nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK", nc=00000001, ' +
      'cnonce="NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v", qop=auth, ' +
      'response="3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5", ' +
      'opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS", userhash=true',
  );
});

Deno.test("Digest qop=auth-int digests the body into A2", async () => {
  const { createHash } = await import("node:crypto");
  const md5 = (data: string) => createHash("md5").update(data).digest("hex");
  const challenge = digestOf('Digest realm="r", nonce="n", qop="auth-int"');
  const body = new TextEncoder().encode("entity body");
  const input = { challenge, credentials: MUFASA, method: "POST", uri: "/u", nc: 1, cnonce: "c" };
  const ha1 = md5("Mufasa:r:Circle of Life");
  const ha2 = md5(`POST:/u:${md5("entity body")}`);
  assert.equal(digestResponse({ ...input, body }), md5(`${ha1}:n:00000001:c:auth-int:${ha2}`));
  assert.match(digestAuthorization({ ...input, body }), /, qop=auth-int, /);
  assert.throws(() => digestAuthorization(input), {
    name: "TypeError",
    message: /qop=auth-int needs the 'body'/,
  });
});

Deno.test("Digest answers the RFC 2617 section 3.5 example (MD5, no algorithm named)", () => {
  const challenge = digestOf(
    'Digest realm="testrealm@host.com", qop="auth,auth-int", ' +
      'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
  );
  assert.equal(challenge.algorithm, "MD5");
  const header = digestAuthorization({
    challenge,
    credentials: { username: "Mufasa", password: "Circle Of Life" },
    method: "GET",
    uri: "/dir/index.html",
    nc: 1,
    cnonce: "0a4f113b",
  });
  assert.match(header, /response="6629fae49393a05397450978507c4ef1"/);
  assert.doesNotMatch(header, /algorithm=/);
});

Deno.test("parseDigestChallenge reads what it can answer and refuses the rest", async (t) => {
  await t.step("fields, algorithm names case-insensitive, stale and userhash", () => {
    const digest = digestOf(
      'Digest realm="r", nonce="n", algorithm=sha-256-SESS, qop="auth-int, auth", ' +
        'stale=TRUE, userhash=true, domain="/a/ https://other.example/b"',
    );
    assert.deepEqual(digest, {
      realm: "r",
      nonce: "n",
      opaque: undefined,
      algorithm: "SHA-256-sess",
      algorithmGiven: true,
      qop: "auth",
      stale: true,
      userhash: true,
      domain: ["/a/", "https://other.example/b"],
    });
  });
  await t.step("auth-int when it is the only qop offered, auth when both are", () => {
    assert.equal(digestOf('Digest realm="r", nonce="n", qop="auth-int"').qop, "auth-int");
    assert.equal(digestOf('Digest realm="r", nonce="n", qop="auth-int, auth"').qop, "auth");
  });
  await t.step("no qop means an RFC 2069 answer", () => {
    assert.equal(digestOf('Digest realm="r", nonce="n"').qop, undefined);
  });
  await t.step("unanswerable challenges", () => {
    for (
      const header of [
        'Digest realm="r"',
        'Digest nonce="n"',
        'Digest realm="r", nonce="n", algorithm=SHA-1',
        'Digest realm="r", nonce="n", qop="auth-conf"',
        'Digest realm="r", nonce="n", algorithm=MD5-sess',
        // Names an object has from its prototype are no algorithms.
        'Digest realm="r", nonce="n", algorithm=constructor',
        'Digest realm="r", nonce="n", algorithm=__proto__',
        'Basic realm="r", nonce="n"',
      ]
    ) {
      const [challenge] = parseChallenges(header);
      assert.equal(parseDigestChallenge(challenge!), null, header);
    }
  });
  await t.step("isStale", () => {
    assert.equal(isStale(parseChallenges('Digest realm="r", nonce="n", stale=true')[0]!), true);
    assert.equal(isStale(parseChallenges('Digest realm="r", nonce="n", stale=false')[0]!), false);
    assert.equal(isStale(parseChallenges('Basic realm="r", stale=true')[0]!), false);
  });
});

Deno.test("digestAuthorization encodes user names and counts", async (t) => {
  const challenge = digestOf('Digest realm="r", nonce="n", qop="auth", algorithm=SHA-256');
  const base = { challenge, method: "GET", uri: "/", cnonce: "c" };
  await t.step("quotes and backslashes are escaped", () => {
    const header = digestAuthorization({
      ...base,
      credentials: { username: 'a"b\\c', password: "p" },
      nc: 1,
    });
    assert.match(header, /^Digest username="a\\"b\\\\c", /);
  });
  await t.step("a non-ASCII user name goes in username* (RFC 8187)", () => {
    const header = digestAuthorization({
      ...base,
      credentials: { username: "Jäsøn Doe", password: "p" },
      nc: 1,
    });
    assert.match(header, /^Digest username\*=UTF-8''J%C3%A4s%C3%B8n%20Doe, /);
  });
  await t.step("nonce counts are 8 hex digits and validated", () => {
    assert.equal(formatNonceCount(1), "00000001");
    assert.equal(formatNonceCount(255), "000000ff");
    assert.match(
      digestAuthorization({ ...base, credentials: MUFASA, nc: 26 }),
      /nc=0000001a, cnonce="c"/,
    );
    assert.throws(() => digestAuthorization({ ...base, credentials: MUFASA, nc: 0 }), {
      name: "RangeError",
      message: /'nc' must be an integer from 1 to 2\^32 - 1, got 0/,
    });
  });
  await t.step("a fresh cnonce each time when none is given", () => {
    assert.match(newCnonce(), /^[0-9a-f]{32}$/);
    assert.notEqual(newCnonce(), newCnonce());
    const header = digestAuthorization({ ...base, cnonce: undefined, credentials: MUFASA, nc: 1 });
    assert.match(header, /cnonce="[0-9a-f]{32}"/);
  });
});

/**
 * A minimal client over fetch: answers a 401 Digest challenge, reuses a cached nonce with the
 * next nonce count, and retries once without asking when the server says stale=true.
 */
async function request(
  origin: string,
  path: string,
  credentials: AuthCredentials,
  cache: CredentialCache,
): Promise<{ status: number; body: string; rounds: number }> {
  const url = new URL(path, origin);
  const uri = url.pathname + url.search;
  let authorization: string | undefined;
  const cached = cache.forUrl(url);
  if (cached?.digest !== undefined) {
    const nc = cache.nextNonceCount(cached.space);
    authorization = digestAuthorization({
      challenge: cached.digest,
      credentials,
      method: "GET",
      uri,
      nc,
      cnonce: cache.sessionCnonce(cached.space),
    });
  }
  for (let rounds = 1;; rounds++) {
    const response = await fetch(url, {
      headers: authorization === undefined ? {} : { authorization },
    });
    const body = await response.text();
    if (response.status !== 401 || rounds === 3) return { status: response.status, body, rounds };
    const challenges = challengesFromHeaders(response.headers, false);
    const digest = challenges.map(parseDigestChallenge).find((d) => d !== null);
    if (digest === undefined) return { status: response.status, body, rounds };
    const space = { origin: url.origin, realm: digest.realm, proxy: false };
    if (authorization !== undefined && !digest.stale) return { status: 401, body, rounds };
    cache.store(space, { scheme: "digest", credentials, digest }, url);
    const nc = cache.nextNonceCount(space);
    authorization = digestAuthorization({
      challenge: digest,
      credentials,
      method: "GET",
      uri,
      nc,
      cnonce: cache.sessionCnonce(space),
    });
  }
}

const USERS = { Mufasa: "Circle of Life", "Jäsøn Doe": "Secret, or not?" };

Deno.test("Digest authenticates against a verifying server", async (t) => {
  const variants: [string, Partial<AuthServerOptions>][] = [
    ["MD5", { algorithm: "MD5" }],
    ["MD5-sess", { algorithm: "MD5-sess" }],
    ["SHA-256", { algorithm: "SHA-256" }],
    ["SHA-256-sess", { algorithm: "SHA-256-sess" }],
    ["SHA-512-256", { algorithm: "SHA-512-256" }],
    ["SHA-512-256-sess", { algorithm: "SHA-512-256-sess" }],
    ["MD5-sess, a server computing the key from each cnonce", {
      algorithm: "MD5-sess",
      sessionKey: "each",
    }],
    ["no algorithm named (MD5)", {}],
    ["RFC 2069 (no qop, no opaque)", { qop: null, opaque: null }],
    ["qop list with auth-int first", { algorithm: "SHA-256", qop: "auth-int,auth" }],
    ["userhash", { algorithm: "SHA-256", userhash: true }],
  ];
  for (const [name, options] of variants) {
    await t.step(name, async () => {
      await using server = startAuthServer({ scheme: "digest", users: USERS, ...options });
      const cache = new CredentialCache();
      const first = await request(server.origin, "/dir/index.html?x=1", MUFASA, cache);
      assert.deepEqual(first, { status: 200, body: "hello Mufasa", rounds: 2 });
      // The next request to the same space uses the cached nonce at once.
      const second = await request(server.origin, "/dir/other.html", MUFASA, cache);
      assert.deepEqual(second, { status: 200, body: "hello Mufasa", rounds: 1 });
      assert.deepEqual(server.log.map((e) => e.outcome), ["missing", "ok", "ok"]);
      if (options.qop !== null) assert.match(server.log[2]!.authorization!, /nc=00000002/);
    });
  }
});

Deno.test("The verifying server keeps a -sess session key from the nonce's first answer", async (t) => {
  for (const sessionKey of ["first", "each"] as const) {
    await t.step(`sessionKey: ${sessionKey}`, async () => {
      await using server = startAuthServer({
        scheme: "digest",
        users: USERS,
        algorithm: "MD5-sess",
        sessionKey,
      });
      const probe = await fetch(`${server.origin}/`);
      await probe.body?.cancel();
      const challenge = parseDigestChallenge(challengesFromHeaders(probe.headers, false)[0]!)!;
      const send = async (nc: number, cnonce: string) => {
        const authorization = digestAuthorization({
          challenge,
          credentials: MUFASA,
          method: "GET",
          uri: "/",
          nc,
          cnonce,
        });
        const response = await fetch(`${server.origin}/`, { headers: { authorization } });
        await response.body?.cancel();
        return response.status;
      };
      assert.equal(await send(1, "first"), 200);
      assert.equal(await send(2, "first"), 200);
      // A session key made again from another cnonce is not the nonce's session key.
      assert.equal(await send(3, "second"), sessionKey === "first" ? 401 : 200);
    });
  }
});

Deno.test("Digest sends a non-ASCII user name the server can read", async () => {
  await using server = startAuthServer({ scheme: "digest", users: USERS, algorithm: "SHA-256" });
  const result = await request(server.origin, "/", {
    username: "Jäsøn Doe",
    password: "Secret, or not?",
  }, new CredentialCache());
  assert.equal(result.status, 200);
  assert.equal(result.body, "hello Jäsøn Doe");
});

Deno.test("Digest retries a stale nonce without new credentials", async () => {
  await using server = startAuthServer({ scheme: "digest", users: USERS, algorithm: "SHA-256" });
  const cache = new CredentialCache();
  assert.equal((await request(server.origin, "/a", MUFASA, cache)).status, 200);
  server.expireNonces();
  const again = await request(server.origin, "/b", MUFASA, cache);
  assert.deepEqual(again, { status: 200, body: "hello Mufasa", rounds: 2 });
  assert.deepEqual(server.log.map((e) => e.outcome), ["missing", "ok", "stale", "ok"]);
  assert.equal(server.nonces().length, 2);
  // The new nonce starts counting at 1.
  assert.match(server.log[3]!.authorization!, /nc=00000001/);
});

Deno.test("Digest with a wrong password is refused by the server", async () => {
  await using server = startAuthServer({ scheme: "digest", users: USERS, algorithm: "SHA-256" });
  const result = await request(
    server.origin,
    "/",
    { username: "Mufasa", password: "nope" },
    new CredentialCache(),
  );
  assert.equal(result.status, 401);
  assert.deepEqual(server.log.map((e) => e.outcome), ["missing", "bad-response"]);
});

Deno.test("The verifying server refuses a replayed nonce count", async () => {
  await using server = startAuthServer({ scheme: "digest", users: USERS, algorithm: "MD5" });
  const probe = await fetch(`${server.origin}/`);
  await probe.body?.cancel();
  const challenge = parseDigestChallenge(challengesFromHeaders(probe.headers, false)[0]!)!;
  const authorization = digestAuthorization({
    challenge,
    credentials: MUFASA,
    method: "GET",
    uri: "/",
    nc: 1,
  });
  for (const expected of [200, 401]) {
    const response = await fetch(`${server.origin}/`, { headers: { authorization } });
    await response.body?.cancel();
    assert.equal(response.status, expected);
  }
  assert.deepEqual(server.log.map((e) => e.outcome), ["missing", "ok", "nc-replay"]);
});
