import assert from "node:assert/strict";
import { parseChallenges } from "../../src/auth/challenge.ts";
import {
  CredentialCache,
  credentialsFromUrl,
  directoryOf,
  withoutCredentials,
} from "../../src/auth/credential_cache.ts";
import { type DigestChallenge, parseDigestChallenge } from "../../src/auth/digest.ts";

const ALICE = { username: "alice", password: "secret" };
const BOB = { username: "bob", password: "hunter2" };

function digest(header: string): DigestChallenge {
  const parsed = parseDigestChallenge(parseChallenges(header)[0]!);
  assert.ok(parsed);
  return parsed;
}

Deno.test("CredentialCache finds credentials for the same or a deeper path of the origin", () => {
  const cache = new CredentialCache();
  const origin = "http://example.com:8080";
  cache.store(
    { origin, realm: "docs", proxy: false },
    { scheme: "basic", credentials: ALICE },
    new URL("/docs/a/page.html", origin),
  );
  const hit = (path: string) => cache.forUrl(new URL(path, origin))?.credentials;
  assert.deepEqual(hit("/docs/a/page.html"), ALICE);
  assert.deepEqual(hit("/docs/a/other?q=1"), ALICE);
  assert.deepEqual(hit("/docs/a/b/c/deeper"), ALICE);
  assert.equal(hit("/docs/"), undefined);
  assert.equal(hit("/docs/b/page.html"), undefined);
  assert.equal(hit("/"), undefined);
});

Deno.test("CredentialCache never gives credentials to another origin", () => {
  const cache = new CredentialCache();
  cache.store(
    { origin: "http://example.com", realm: "r", proxy: false },
    { scheme: "basic", credentials: ALICE },
    new URL("http://example.com/"),
  );
  for (
    const other of [
      "https://example.com/",
      "http://example.com:8080/",
      "http://www.example.com/",
      "http://example.org/",
    ]
  ) {
    assert.equal(cache.forUrl(new URL(other)), undefined, other);
  }
  // A URL of another origin does not add a path to the space.
  cache.store(
    { origin: "http://example.com", realm: "r2", proxy: false },
    { scheme: "basic", credentials: BOB },
    new URL("http://evil.example/"),
  );
  assert.deepEqual(cache.forUrl(new URL("http://example.com/x"))?.credentials, ALICE);
});

Deno.test("CredentialCache prefers the longest matching path and keeps realms apart", () => {
  const cache = new CredentialCache();
  const origin = "https://example.com";
  cache.store(
    { origin, realm: "root", proxy: false },
    { scheme: "basic", credentials: ALICE },
    new URL("/x", origin),
  );
  cache.store(
    { origin, realm: "Admin", proxy: false },
    { scheme: "basic", credentials: BOB },
    new URL("/admin/x", origin),
  );
  assert.deepEqual(cache.forUrl(new URL("/admin/panel", origin))?.credentials, BOB);
  assert.deepEqual(cache.forUrl(new URL("/public", origin))?.credentials, ALICE);
  // Realms are case-sensitive.
  assert.equal(cache.get({ origin, realm: "admin", proxy: false }), undefined);
  assert.deepEqual(cache.get({ origin, realm: "Admin", proxy: false })?.credentials, BOB);
});

Deno.test("CredentialCache gives a tie of path lengths to the space stored last", () => {
  const cache = new CredentialCache();
  const origin = "https://example.com";
  const old = { origin, realm: "old", proxy: false };
  cache.store(old, { scheme: "basic", credentials: ALICE }, new URL("/a", origin));
  cache.store(
    { origin, realm: "new", proxy: false },
    { scheme: "basic", credentials: BOB },
    new URL("/b", origin),
  );
  assert.deepEqual(cache.forUrl(new URL("/c", origin))?.credentials, BOB);
  // Stored again, the old space is the newer one.
  cache.store(old, { scheme: "basic", credentials: ALICE }, new URL("/a", origin));
  assert.deepEqual(cache.forUrl(new URL("/c", origin))?.credentials, ALICE);
});

Deno.test("CredentialCache keeps proxy spaces apart from server spaces", () => {
  const cache = new CredentialCache();
  const proxyOrigin = "http://proxy.example:3128";
  cache.store(
    { origin: proxyOrigin, realm: "r", proxy: true },
    { scheme: "basic", credentials: BOB },
    new URL("/", proxyOrigin),
  );
  assert.equal(cache.forUrl(new URL("/", proxyOrigin)), undefined);
  assert.equal(cache.get({ origin: proxyOrigin, realm: "r", proxy: false }), undefined);
  assert.deepEqual(cache.forProxy(proxyOrigin)?.credentials, BOB);
  assert.equal(cache.forProxy("http://other-proxy:3128"), undefined);
  cache.store({ origin: proxyOrigin, realm: "r", proxy: false }, {
    scheme: "basic",
    credentials: ALICE,
  });
  assert.equal(cache.size, 2);
  assert.deepEqual(cache.forProxy(proxyOrigin)?.credentials, BOB);
});

Deno.test("CredentialCache counts Digest nonce uses per nonce", () => {
  const cache = new CredentialCache();
  const space = { origin: "http://example.com", realm: "r", proxy: false };
  const first = digest('Digest realm="r", nonce="one", qop="auth"');
  cache.store(space, { scheme: "digest", credentials: ALICE, digest: first });
  assert.equal(cache.nextNonceCount(space), 1);
  assert.equal(cache.nextNonceCount(space), 2);
  // Storing the same nonce again keeps counting.
  cache.store(space, { scheme: "digest", credentials: ALICE, digest: first });
  assert.equal(cache.nextNonceCount(space), 3);
  assert.equal(cache.get(space)?.nc, 3);
  // A new nonce (after stale=true) starts again at 1.
  assert.equal(
    cache.updateDigest(space, digest('Digest realm="r", nonce="two", qop="auth", stale=true')),
    true,
  );
  assert.equal(cache.get(space)?.digest?.nonce, "two");
  assert.equal(cache.nextNonceCount(space), 1);
  assert.equal(cache.updateDigest({ ...space, realm: "other" }, first), false);
  const basicSpace = { ...space, realm: "basic" };
  cache.store(basicSpace, { scheme: "basic", credentials: BOB });
  assert.throws(() => cache.nextNonceCount(basicSpace), {
    name: "RangeError",
    message:
      "Cannot count nonce: no Digest challenge cached for realm 'basic' of http://example.com",
  });
});

Deno.test("CredentialCache continues the nonce count a stored answer already used", () => {
  const cache = new CredentialCache();
  const space = { origin: "http://example.com", realm: "r", proxy: false };
  const challenge = digest('Digest realm="r", nonce="one", qop="auth"');
  cache.store(space, { scheme: "digest", credentials: ALICE, digest: challenge, nc: 2 });
  assert.equal(cache.nextNonceCount(space), 3);
  // The same nonce keeps the higher count, a new one starts from the count given.
  cache.store(space, { scheme: "digest", credentials: BOB, digest: challenge, nc: 1 });
  assert.equal(cache.nextNonceCount(space), 4);
  const next = digest('Digest realm="r", nonce="two", qop="auth"');
  cache.store(space, { scheme: "digest", credentials: BOB, digest: next, nc: 1 });
  assert.equal(cache.nextNonceCount(space), 2);
});

Deno.test("CredentialCache keeps one -sess client nonce per Digest nonce", () => {
  const cache = new CredentialCache();
  const space = { origin: "http://example.com", realm: "r", proxy: false };
  const first = digest('Digest realm="r", nonce="one", qop="auth", algorithm=MD5-sess');
  cache.store(space, { scheme: "digest", credentials: ALICE, digest: first });
  assert.equal(cache.get(space)?.cnonce, undefined);
  const session = cache.sessionCnonce(space);
  assert.match(session!, /^[0-9a-f]{32}$/);
  assert.equal(cache.sessionCnonce(space), session);
  assert.equal(cache.get(space)?.cnonce, session);
  // Storing the same nonce again keeps the session.
  cache.store(space, { scheme: "digest", credentials: ALICE, digest: first });
  assert.equal(cache.sessionCnonce(space), session);
  // A new nonce starts a new session, whether it comes by updateDigest or store.
  cache.updateDigest(
    space,
    digest('Digest realm="r", nonce="two", qop="auth", algorithm=MD5-sess, stale=true'),
  );
  const second = cache.sessionCnonce(space);
  assert.notEqual(second, session);
  assert.equal(cache.sessionCnonce(space), second);
  cache.store(space, {
    scheme: "digest",
    credentials: ALICE,
    digest: digest('Digest realm="r", nonce="three", qop="auth", algorithm=MD5-sess'),
  });
  assert.equal(cache.get(space)?.cnonce, undefined);
  assert.notEqual(cache.sessionCnonce(space), second);
  // An answer that made its session before it was stored brings its client nonce along.
  const four = digest('Digest realm="r", nonce="four", qop="auth", algorithm=SHA-256-sess');
  cache.store(space, { scheme: "digest", credentials: BOB, digest: four, nc: 1, cnonce: "c4" });
  assert.equal(cache.sessionCnonce(space), "c4");
  // Algorithms without a session draw a fresh client nonce per request.
  const plain = { ...space, realm: "plain" };
  cache.store(plain, {
    scheme: "digest",
    credentials: ALICE,
    digest: digest('Digest realm="plain", nonce="one", qop="auth", algorithm=SHA-256'),
  });
  assert.equal(cache.sessionCnonce(plain), undefined);
  const basicSpace = { ...space, realm: "basic" };
  cache.store(basicSpace, { scheme: "basic", credentials: BOB });
  assert.throws(() => cache.sessionCnonce(basicSpace), {
    name: "RangeError",
    message: "Cannot make Digest session: no Digest challenge cached for realm 'basic' of " +
      "http://example.com",
  });
});

Deno.test("CredentialCache adds a Digest domain's same-origin URIs to the space", () => {
  const cache = new CredentialCache();
  const origin = "http://example.com";
  cache.store(
    { origin, realm: "r", proxy: false },
    {
      scheme: "digest",
      credentials: ALICE,
      digest: digest(
        'Digest realm="r", nonce="n", domain="/api/ http://example.com/files/x https://example.com/tls/"',
      ),
    },
  );
  assert.deepEqual(cache.forUrl(new URL("/api/v1", origin))?.credentials, ALICE);
  assert.deepEqual(cache.forUrl(new URL("/files/y", origin))?.credentials, ALICE);
  assert.equal(cache.forUrl(new URL("/tls/", origin)), undefined);
  assert.equal(cache.forUrl(new URL("/", origin)), undefined);
});

Deno.test("CredentialCache forgets spaces on delete, clear and past its bound", () => {
  const cache = new CredentialCache(2);
  const space = (realm: string) => ({ origin: "http://example.com", realm, proxy: false });
  cache.store(space("a"), { scheme: "basic", credentials: ALICE });
  cache.store(space("b"), { scheme: "basic", credentials: ALICE });
  cache.store(space("a"), { scheme: "basic", credentials: BOB }); // a is now the newest
  cache.store(space("c"), { scheme: "basic", credentials: ALICE });
  assert.equal(cache.size, 2);
  assert.equal(cache.get(space("b")), undefined);
  assert.deepEqual(cache.get(space("a"))?.credentials, BOB);
  assert.equal(cache.delete(space("a")), true);
  assert.equal(cache.delete(space("a")), false);
  cache.clear();
  assert.equal(cache.size, 0);
  assert.throws(() => new CredentialCache(0), {
    name: "RangeError",
    message: "Cannot create credential cache: 'maxEntries' must be a positive integer, got 0",
  });
});

Deno.test("CredentialCache returns copies that do not change the cache", () => {
  const cache = new CredentialCache();
  const space = { origin: "http://example.com", realm: "r", proxy: false };
  const credentials = { ...ALICE };
  cache.store(space, { scheme: "basic", credentials });
  credentials.password = "changed";
  const got = cache.get(space)!;
  (got.credentials as { password: string }).password = "changed too";
  assert.equal(cache.get(space)?.credentials.password, "secret");
});

Deno.test("URL userinfo helpers decode credentials and strip them", () => {
  const url = new URL("http://us%40er:p%C3%A4ss%3Aword@example.com:8080/a?b#c");
  assert.deepEqual(credentialsFromUrl(url), { username: "us@er", password: "päss:word" });
  assert.deepEqual(credentialsFromUrl(new URL("http://user@example.com/")), {
    username: "user",
    password: "",
  });
  assert.equal(credentialsFromUrl(new URL("http://example.com/")), undefined);
  assert.deepEqual(credentialsFromUrl(new URL("http://%E0%A4%A@example.com/")), {
    username: "%E0%A4%A",
    password: "",
  });
  assert.equal(withoutCredentials(url).href, "http://example.com:8080/a?b#c");
  assert.equal(url.username, "us%40er");
});

Deno.test("directoryOf keeps the path up to the last slash", () => {
  assert.equal(directoryOf("/docs/a/page.html"), "/docs/a/");
  assert.equal(directoryOf("/docs/a/"), "/docs/a/");
  assert.equal(directoryOf("/"), "/");
  assert.equal(directoryOf(""), "/");
});

Deno.test("CredentialCache.mayAnswer: only an origin with a space, or plain http with a proxy's", () => {
  const cache = new CredentialCache(2);
  const a = { origin: "http://a.test", realm: "r", proxy: false };
  const url = (href: string) => new URL(href);
  assert.equal(cache.mayAnswer(url("http://a.test/")), false);
  cache.store(a, { scheme: "basic", credentials: ALICE });
  cache.store(a, { scheme: "basic", credentials: BOB }); // the same space again
  assert.equal(cache.mayAnswer(url("http://a.test/x")), true);
  assert.equal(cache.mayAnswer(url("http://b.test/x")), false);
  assert.equal(cache.mayAnswer(url("https://a.test/x")), false);
  const proxy = { origin: "http://proxy.test:3128", realm: "p", proxy: true };
  cache.store(proxy, { scheme: "basic", credentials: ALICE });
  // A plain-http request may go through that proxy; an https one sends it nothing.
  assert.equal(cache.mayAnswer(url("http://b.test/x")), true);
  assert.equal(cache.mayAnswer(url("https://b.test/x")), false);
  cache.delete(proxy);
  assert.equal(cache.mayAnswer(url("http://b.test/x")), false);
  assert.equal(cache.mayAnswer(url("http://a.test/x")), true);
  // Evicted past the bound, and cleared.
  cache.store({ ...a, origin: "http://c.test" }, { scheme: "basic", credentials: ALICE });
  cache.store({ ...a, origin: "http://d.test" }, { scheme: "basic", credentials: ALICE });
  assert.equal(cache.mayAnswer(url("http://a.test/x")), false);
  assert.equal(cache.mayAnswer(url("http://d.test/x")), true);
  cache.clear();
  assert.equal(cache.mayAnswer(url("http://d.test/x")), false);
});

Deno.test("CredentialCache shares a nonce's state and forgets its credentials with the space", () => {
  const cache = new CredentialCache();
  const space = { origin: "http://example.com", realm: "r", proxy: false };
  const challenge = digest('Digest realm="r", nonce="one", qop="auth"');
  // A URL's credentials count in the same state as cached ones: one count per nonce.
  const state = cache.nonceState(space, challenge);
  state.nc = 2;
  state.accepted = ALICE;
  cache.store(space, { scheme: "digest", credentials: ALICE, digest: challenge });
  assert.equal(cache.nextNonceCount(space), 3);
  assert.equal(cache.nonceState({ ...space, realm: "other" }, challenge).nc, 0);
  // Forgotten credentials leave no password behind; the count goes on (the server knows it).
  cache.delete(space);
  assert.equal(state.accepted, undefined);
  assert.equal(cache.nonceState(space, challenge), state);
  assert.equal(state.nc, 3);
  cache.clear();
  assert.notEqual(cache.nonceState(space, challenge), state);
});
