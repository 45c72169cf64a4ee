import assert from "node:assert/strict";
import { NetworkAccessManager, NetworkError } from "../../mod.ts";
import { createMockManager, type MockManager, MockTransport } from "../../testing.ts";

/** The error code and text a GET of `url` through the mocked manager finishes with. */
async function outcome(mocked: MockManager, url: string): Promise<[number, string]> {
  const reply = mocked.manager.get(url);
  await reply.finished;
  return [reply.error, reply.errorString];
}

Deno.test("A mock handler that returns a Response read before fails the reply, naming its route", async (t) => {
  await t.step("the same Response twice", async () => {
    await using mocked = createMockManager();
    const answer = new Response("once");
    mocked.mock.route("GET", "/r", () => answer);
    assert.equal(await mocked.manager.get("https://api.test/r").text(), "once");
    assert.deepEqual(await outcome(mocked, "https://api.test/r"), [
      NetworkError.UnknownNetworkError,
      "The handler of mock route GET /r returned a Response whose body was already read for " +
      "GET https://api.test/r; a body can be read once: return a new Response each time",
    ]);
  });
  await t.step("a locked one", async () => {
    await using mocked = createMockManager();
    const answer = new Response("held");
    answer.body!.getReader();
    mocked.mock.route("GET", "/r", () => answer);
    const [code, text] = await outcome(mocked, "https://api.test/r");
    assert.equal(code, NetworkError.UnknownNetworkError);
    assert.match(
      text,
      /^The handler of mock route GET \/r returned a Response whose body is locked/,
    );
  });
});

Deno.test("A transport of one's own that answers a Response read before fails the reply, naming it", async () => {
  const answer = new Response("once");
  await answer.text();
  await using manager = new NetworkAccessManager({ transport: () => Promise.resolve(answer) });
  const reply = manager.get("https://api.test/r");
  await reply.finished;
  assert.equal(reply.error, NetworkError.UnknownNetworkError);
  assert.equal(
    reply.errorString,
    "The transport (the 'transport' option) answered a Response whose body was already read for " +
      "GET https://api.test/r; a body can be read once: answer a new Response each time",
  );
});

Deno.test("A canned status outside 200-599 is refused when the route is added, 101 too", () => {
  for (const status of [101, 100, 199]) {
    assert.throws(
      () => new MockTransport().route("GET", "/s", { status }),
      new RangeError(
        `Cannot add mock route: 'status' must be an HTTP status from 200 to 599, got ${status}`,
      ),
    );
  }
});

Deno.test("fail() refuses NoError, which is no failure", () => {
  assert.throws(
    () => new MockTransport().fail("GET", "/ok", NetworkError.NoError),
    new RangeError(
      "Cannot add mock route: 'failure' must be a NetworkError code other than NoError, got 0; " +
        "NoError is no failure: route() answers",
    ),
  );
});

Deno.test("A canned body is checked when the route is added", () => {
  const add = (answer: object) => () => new MockTransport().route("GET", "/b", answer as never);
  assert.throws(
    add({ body: { a: 1 } }),
    new TypeError(
      "Cannot add mock route: 'body' must be a string, bytes, a Blob, URLSearchParams or " +
        "FormData (or, from a handler, a ReadableStream), got an object; give a value to send " +
        "as JSON as 'json'",
    ),
  );
  assert.throws(
    add({ body: new Blob(["st"]).stream() }),
    new TypeError(
      "Cannot add mock route: 'body' is a ReadableStream, which can be read once, and a canned " +
        "answer serves every request; give 'chunks', or a handler that makes a new stream each time",
    ),
  );
  assert.throws(
    add({ body: "text", json: { j: 1 } }),
    new TypeError(
      "Cannot add mock route: give one of 'body', 'json' and 'chunks', got 'body' and 'json'",
    ),
  );
  assert.throws(
    add({ chunks: ["a"], body: "b" }),
    new TypeError(
      "Cannot add mock route: give one of 'body', 'json' and 'chunks', got 'body' and 'chunks'",
    ),
  );
});

Deno.test("A canned body may be any body a Response takes but a stream", async () => {
  const form = new FormData();
  form.set("a", "1");
  const bodies = [
    ["a Blob", new Blob(["x"]), "x"],
    ["URLSearchParams", new URLSearchParams("a=1"), "a=1"],
    ["an ArrayBuffer", new TextEncoder().encode("ab").buffer, "ab"],
    ["a DataView", new DataView(new TextEncoder().encode("dv").buffer), "dv"],
  ] as const;
  await using mocked = createMockManager();
  for (const [what, body] of bodies) mocked.mock.route("GET", `/${what}`, { body });
  mocked.mock.route("GET", "/form", { body: form });
  mocked.mock.route("GET", "/stream", () => ({ body: new Blob(["st"]).stream() }));
  for (const [what, , text] of bodies) {
    assert.equal(await mocked.manager.get(`https://api.test/${what}`).text(), text, what);
  }
  assert.match(await mocked.manager.get("https://api.test/form").text(), /name="a"\r\n\r\n1\r\n/);
  assert.equal(await mocked.manager.get("https://api.test/stream").text(), "st");
});

Deno.test("Mock chunks cut short of their Content-Length name the route", async () => {
  await using mocked = createMockManager();
  mocked.mock.route("GET", "/a", { chunks: ["abc"], headers: { "content-length": "10" } });
  assert.deepEqual(await outcome(mocked, "https://api.test/a"), [
    NetworkError.RemoteHostClosedError,
    "Mock route GET /a answered a body for https://api.test/a that ended before the reply was " +
    "complete: 3 of the 10 bytes (Content-Length) arrived",
  ]);
});

Deno.test("A mock route, its handler and the recorder see the URL without userinfo or fragment", async () => {
  await using mocked = createMockManager();
  let seen = "";
  mocked.mock.route("GET", "/h", (request) => {
    seen = request.url;
    return { status: 200 };
  });
  await mocked.manager.get("https://user:s3cret@api.test/h#frag").finished;
  assert.equal(seen, "https://api.test/h");
  assert.equal(mocked.recorder.last?.url.href, "https://api.test/h");
  await mocked.manager.get("https://user:s3cret@api.test/nomatch#frag").finished;
  assert.deepEqual(mocked.mock.unmatchedRequests, ["GET https://api.test/nomatch"]);
});
