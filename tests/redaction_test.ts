import assert from "node:assert/strict";
import { _redactUrls, _SECRET_QUERY_PARAMS, _shownUrl, _withoutUserinfo } from "../src/_redact.ts";
import {
  type Layer,
  NetworkAccessManager,
  NetworkError,
  type NetworkErrorEvent,
  NetworkReplyError,
  type NetworkReplyEvent,
  NetworkRequest,
  NetworkRequestFactory,
  type NetworkRetryEvent,
  SchemaValidationError,
  type StandardSchemaV1,
} from "../mod.ts";
import {
  closedPort,
  guardUnhandledRejections,
  serve,
  takeUnhandledRejections,
} from "./_helpers/server.ts";

guardUnhandledRejections();

const SECRET = /alice|s3cret|bob|hunter2/;

/** Fails when `value`, written out, names a user or a password of the test's URLs. */
function assertClean(what: string, value: unknown): void {
  const text = value instanceof URL ? value.href : String(value);
  assert.doesNotMatch(text, SECRET, `${what} shows credentials: ${text}`);
}

function withUser(base: string, path: string): string {
  return `${base.replace("://", "://alice:s3cret@")}${path}`;
}

Deno.test("URL userinfo is redacted from every URL and message a reply exposes", async (t) => {
  let attempts = 0;
  await using server = serve((request) => {
    const url = new URL(request.url);
    if (url.pathname === "/hop") {
      // The server puts credentials in Location; they must not reach reply.url.
      const location = `http://bob:hunter2@127.0.0.1:${url.port}/final`;
      return new Response(null, { status: 302, headers: { location } });
    }
    if (url.pathname === "/final") return new Response("final");
    if (url.pathname === "/flaky" && ++attempts === 1) {
      return new Response("busy", { status: 503, headers: { "retry-after": "0" } });
    }
    if (url.pathname === "/missing") return new Response("no", { status: 404 });
    return new Response("ok");
  });
  await using manager = new NetworkAccessManager({ cookieJar: null });
  const finished: NetworkReplyEvent[] = [];
  manager.addEventListener("finished", (e) => finished.push(e as NetworkReplyEvent));

  await t.step("reply.url, and the manager's finished event", async () => {
    const reply = manager.get(withUser(server.url, "/ok"));
    assertClean("reply.url before it starts", reply.url);
    assert.equal(await reply.text(), "ok");
    assertClean("reply.url", reply.url);
    assert.equal(reply.url.href, `${server.url}/ok`);
    assertClean("finished event's reply.url", finished.at(-1)!.reply.url);
  });

  await t.step("redirects, the redirected event and credentials in Location", async () => {
    const reply = manager.get(withUser(server.url, "/hop"));
    const events: string[] = [];
    reply.addEventListener("redirected", (e) => events.push(JSON.stringify(e)));
    reply.addEventListener(
      "redirected",
      (e) => events.push(String((e as Event & { url: URL }).url)),
    );
    assert.equal(await reply.text(), "final");
    assertClean("reply.url after a redirect", reply.url);
    assert.equal(reply.url.href, `${server.url}/final`);
    for (const url of reply.redirects) assertClean("reply.redirects", url);
    assert.equal(reply.redirects.length, 1);
    for (const event of events) assertClean("redirected event", event);
  });

  await t.step("errorString, the error event and the thrown error of an HTTP error", async () => {
    const reply = manager.get(withUser(server.url, "/missing"));
    const errors: NetworkErrorEvent[] = [];
    reply.addEventListener("error", (e) => errors.push(e as NetworkErrorEvent));
    await reply.finished;
    assert.equal(reply.error, NetworkError.ContentNotFoundError);
    assert.match(reply.errorString, /127\.0\.0\.1/);
    assertClean("errorString", reply.errorString);
    assertClean("error event", errors[0]!.message);
    assertClean("finished event's errorString", finished.at(-1)!.reply.errorString);
  });

  await t.step(
    "errorString, the error event and the thrown error of a refused connection",
    async () => {
      const url = `http://alice:s3cret@127.0.0.1:${closedPort()}/x`;
      const reply = manager.get(url);
      const errors: NetworkErrorEvent[] = [];
      reply.addEventListener("error", (e) => errors.push(e as NetworkErrorEvent));
      const thrown = await reply.text().then(() => null, (error) => error);
      assert.equal(reply.error, NetworkError.ConnectionRefusedError);
      assert.ok(thrown instanceof NetworkReplyError);
      assert.match(thrown.message, /127\.0\.0\.1/);
      assertClean("thrown error", thrown.message);
      assertClean("thrown error, written out", Deno.inspect(thrown));
      assertClean("errorString", reply.errorString);
      assertClean("error event", errors[0]!.message);
    },
  );

  await t.step("thrown errors that name the URL", async () => {
    const reply = manager.get(withUser(server.url, "/ok"));
    const thrown = await reply.json().then(() => null, (error) => error);
    assert.ok(thrown instanceof Error);
    assert.match(thrown.message, /127\.0\.0\.1/);
    assertClean("a body that is not JSON", thrown.message);
    const made = new NetworkReplyError(
      NetworkError.UnknownNetworkError,
      "GET http://alice:s3cret@example.com/a and https://bob@example.com/b failed",
    );
    assert.equal(made.message, "GET http://example.com/a and https://example.com/b failed");
  });

  await t.step("retry events", async () => {
    const reply = manager.get(withUser(server.url, "/flaky"), { retry: { limit: 1, delay: 1 } });
    const retries: NetworkRetryEvent[] = [];
    reply.addEventListener("retry", (e) => retries.push(e as NetworkRetryEvent));
    assert.equal(await reply.text(), "ok");
    assert.equal(retries.length, 1);
    assert.match(retries[0]!.reason, /503/);
    assertClean("retry event", retries[0]!.reason);
  });

  await t.step("a URL that cannot be requested", async () => {
    const reply = manager.get("ftp://alice:s3cret@127.0.0.1/file");
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolUnknownError);
    assertClean("errorString", reply.errorString);
    assertClean("reply.url", reply.url);
  });
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("_withoutUserinfo copies only a URL with userinfo, an '@' elsewhere or not", () => {
  const plain = new URL("https://example.com/a@b?c=@");
  assert.equal(_withoutUserinfo(plain), plain);
  const bare = new URL("https://example.com/");
  assert.equal(_withoutUserinfo(bare), bare);
  for (
    const href of [
      "https://me:pw@example.com/a@b",
      "https://me@example.com/",
      "https://:pw@example.com/",
    ]
  ) {
    const url = new URL(href);
    const stripped = _withoutUserinfo(url);
    assert.notEqual(stripped, url);
    assert.equal(stripped.username, "");
    assert.equal(stripped.password, "");
    assert.equal(url.href, href, "the URL given is left as it was");
  }
  assert.equal(
    _withoutUserinfo(new URL("https://me:pw@example.com/a@b")).href,
    "https://example.com/a@b",
  );
});

Deno.test("an invalid Authorization, Proxy-Authorization or Cookie header is named, never its value", async (t) => {
  await using manager = new NetworkAccessManager({
    transport: () => Promise.resolve(new Response("ok")),
  });
  const cases: [string, string][] = [
    ["authorization", "Bearer s3cret\nhunter2"],
    ["Proxy-Authorization", "Basic s3cret€"],
    ["cookie", "sid=s3cret\r\nx=hunter2"],
  ];
  for (const [name, value] of cases) {
    await t.step(`${name}: on the reply`, async () => {
      const reply = manager.get("https://api.test/", { headers: [[name, value]] });
      await reply.finished;
      assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError);
      assert.match(reply.errorString, new RegExp(`invalid header "${name}": .*not shown`));
      assertClean("errorString", reply.errorString);
      const error = await reply.text().catch((e) => e);
      assertClean("thrown error, written out", Deno.inspect(error));
    });
    await t.step(`${name}: in a request factory's headers`, () => {
      const error = (() => {
        try {
          new NetworkRequestFactory("https://api.test/", { headers: { [name]: value } });
        } catch (error) {
          return error;
        }
      })();
      assert.ok(error instanceof TypeError);
      assertClean("factory error", Deno.inspect(error));
    });
  }
  await t.step("a bearer token with a line break or a character above U+00FF", () => {
    for (const bearerToken of ["s3cret\nhunter2", "s3cret€"]) {
      assert.throws(() => new NetworkRequestFactory("https://api.test/", { bearerToken }), (e) => {
        assert.ok(e instanceof TypeError);
        assert.match(e.message, /'bearerToken' must be .*\(not shown\)$/);
        assertClean("bearerToken error", Deno.inspect(e));
        return true;
      });
    }
  });
  await t.step("another header's value is still shown", async () => {
    const reply = manager.get("https://api.test/", { headers: { "x-note": "a\nb" } });
    await reply.finished;
    assert.match(reply.errorString, /invalid header .*"a\nb"/s);
  });
});

Deno.test("_redactUrls and _shownUrl hide the values of credential query parameters, any case", () => {
  assert.equal(_SECRET_QUERY_PARAMS.length, 13);
  for (const name of _SECRET_QUERY_PARAMS) {
    for (const written of [name, name.toUpperCase()]) {
      const href = `https://example.com/p?a=1&${written}=v4lue&b=2`;
      const shown = `https://example.com/p?a=1&${written}=[redacted]&b=2`;
      assert.equal(_redactUrls(`GET ${href} failed`), `GET ${shown} failed`);
      assert.equal(_shownUrl(new URL(href)).href, shown);
    }
  }
  const cases: [string, string][] = [
    // A URL in a sentence keeps the punctuation after it; its fragment is no query.
    ["(https://e.x/?token=abc).", "(https://e.x/?token=[redacted])."],
    ["'https://e.x/?code=abc#key=x': bad", "'https://e.x/?code=[redacted]#key=x': bad"],
    // Names percent-encoded; names that only contain a secret's name; empty values.
    [
      "https://e.x/?api%5Fkey=abc&keys=1&monkey=2&key=",
      "https://e.x/?api%5Fkey=[redacted]&keys=1&monkey=2&key=",
    ],
    ["https://e.x/a=b?sig=abc", "https://e.x/a=b?sig=[redacted]"],
    // Userinfo goes too; a query-less URL, or text without one, is left as it is.
    [
      "http://u:pw@e.x/?password=p1 and http://e.x/token=1",
      "http://e.x/?password=[redacted] and http://e.x/token=1",
    ],
    ["token=abc, not in a URL?", "token=abc, not in a URL?"],
  ];
  for (const [text, shown] of cases) {
    assert.equal(_redactUrls(text), shown);
    assert.equal(_redactUrls(shown), shown, "redacting twice changes nothing");
  }
  const plain = new URL("https://e.x/?q=1");
  assert.equal(_shownUrl(plain), plain, "a URL without a secret is not copied");
  const signed = new URL("https://me:pw@e.x/?X-Amz-Credential=AK%2F1&X-Amz-Signature=ff");
  assert.equal(
    _shownUrl(signed).href,
    "https://me:***@e.x/?X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted]",
  );
  assert.equal(signed.search, "?X-Amz-Credential=AK%2F1&X-Amz-Signature=ff", "left as it was");
});

Deno.test("inspect output and error messages hide query tokens; the request sends them", async () => {
  const sent: string[] = [];
  await using server = serve((request) => {
    const url = new URL(request.url);
    sent.push(url.search);
    return url.pathname === "/hop"
      ? new Response(null, { status: 302, headers: { location: "/gone?token=t0ken" } })
      : new Response("no", { status: 404 });
  });
  await using manager = new NetworkAccessManager({ cookieJar: null });
  const exchanges: string[] = [];
  const logging: Layer = (next) => (exchange) => {
    exchanges.push(Deno.inspect(exchange));
    return next(exchange);
  };
  manager.use(logging, "network");
  const errors: string[] = [];
  const url = `${server.url}/hop?access_token=t0ken&X-Amz-Signature=t0ken&page=2`;
  const request = new NetworkRequest(url);
  const reply = manager.get(request);
  reply.addEventListener("error", (e) => errors.push((e as NetworkErrorEvent).message));
  await reply.finished;
  assert.equal(reply.error, NetworkError.ContentNotFoundError);
  assert.deepEqual(sent, ["?access_token=t0ken&X-Amz-Signature=t0ken&page=2", "?token=t0ken"]);
  assert.equal(reply.url.href, `${server.url}/gone?token=t0ken`, "the reply's URL is data");
  assert.equal(request.url.href, url);
  const shown = [
    Deno.inspect(request),
    Deno.inspect(reply),
    ...exchanges,
    reply.errorString,
    ...errors,
  ];
  assert.equal(shown.length, 6);
  for (const text of shown) assert.doesNotMatch(text, /t0ken/, text);
  assert.match(
    Deno.inspect(request),
    /access_token=\[redacted\]&X-Amz-Signature=\[redacted\]&page=2/,
  );
  assert.match(reply.errorString, /gone\?token=\[redacted\]/);
});

Deno.test("the errors of json(schema), a second read and paginate hide the URL's credentials", async (t) => {
  await using server = serve(() => Response.json({ id: 1 }));
  await using manager = new NetworkAccessManager();
  const url = `${withUser(server.url, "/items")}?access_token=t0ken&page=2`;
  const schema = (result: unknown): StandardSchemaV1 => ({
    "~standard": { version: 1, vendor: "test", validate: () => result as never },
  });
  await t.step("a body the schema rejects", async () => {
    const error = await manager.get(url).json(schema({ issues: [{ message: "no" }] }))
      .catch((e: Error) => e);
    assert.ok(error instanceof SchemaValidationError);
    assert.match(error.message, /\/items\?access_token=\[redacted\]&page=2 does not match/);
    assert.doesNotMatch(error.message, /t0ken/);
    assertClean("the message", error.message);
  });
  await t.step("a second read of the body", async () => {
    const reply = manager.get(url);
    await reply.json();
    const error = await reply.json().catch((e: Error) => e);
    assert.ok(error instanceof TypeError);
    assert.match(error.message, /\/items\?access_token=\[redacted\]&page=2 was already read/);
    assertClean("the message", error.message);
  });
  await t.step("paginate on a page that is not an array, or items that gives none", async () => {
    for (const options of [{}, { items: () => 5 as never }]) {
      const error = await Array.fromAsync(manager.paginate(url, options)).catch((e: Error) => e);
      assert.ok(error instanceof TypeError);
      assert.match(error.message, /\/items\?access_token=\[redacted\]&page=2/);
      assert.doesNotMatch(error.message, /t0ken/);
      assertClean("the message", error.message);
    }
  });
  await t.step("a validate() that returns no result", async () => {
    const error = await manager.get(url).json(schema(5)).catch((e) => e);
    assert.ok(error instanceof TypeError);
    assert.match(error.message, /\/items\?access_token=\[redacted\]&page=2: the schema's/);
    assert.doesNotMatch(error.message, /t0ken/);
    assertClean("the message", error.message);
  });
});
