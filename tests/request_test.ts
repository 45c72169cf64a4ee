import assert from "node:assert/strict";
import { NetworkAccessManager, NetworkError, NetworkRequest } from "../mod.ts";

Deno.test("A request's sensitive headers and attributes are its own, empty unless given, and writable", () => {
  const first = new NetworkRequest("https://example.com/");
  const second = new NetworkRequest("https://example.com/");
  assert.equal(first.sensitiveHeaders.size, 0);
  assert.deepEqual(first.attributes, {});
  first.sensitiveHeaders.add("x-api-key");
  first.attributes.trace = "abc";
  assert.equal(second.sensitiveHeaders.size, 0);
  assert.deepEqual(second.attributes, {});
  second.sensitiveHeaders = new Set(["x-token"]);
  second.attributes = { tag: 1 };
  const copy = second.clone();
  assert.deepEqual([...copy.sensitiveHeaders], ["x-token"]);
  assert.deepEqual(copy.attributes, { tag: 1 });
  assert.notEqual(copy.attributes, second.attributes);
  const given = new NetworkRequest("https://example.com/", {
    sensitiveHeaders: ["X-Secret"],
    attributes: { id: 7 },
  });
  assert.deepEqual([...given.sensitiveHeaders], ["x-secret"]);
  assert.deepEqual(given.attributes, { id: 7 });
});

Deno.test("NetworkRequest names what is wrong with its init and its headers", () => {
  assert.throws(() => new NetworkRequest("https://example.com/", 5 as never), {
    name: "TypeError",
    message: "Cannot create request: 'init' must be an object, got 5",
  });
  assert.throws(() => new NetworkRequest("https://example.com/", null as never), {
    name: "TypeError",
    message: "Cannot create request: 'init' must be an object, got null",
  });
  assert.throws(
    () => new NetworkRequest("https://example.com/", { headers: { accept: "*/*", "x-€": "a" } }),
    { name: "TypeError", message: /^Cannot create request: invalid header name "x-€": .*Latin-1/ },
  );
  // Other invalid headers keep the reason Headers gives, after the header's name.
  assert.throws(
    () => new NetworkRequest("https://example.com/", { headers: { "x-b": "b", "x-a": "a\nb" } }),
    {
      name: "TypeError",
      message: 'Cannot create request: invalid header "x-a" (Invalid header value: "a\nb")',
    },
  );
  // A name Headers refuses is in its own reason.
  assert.throws(
    () => new NetworkRequest("https://example.com/", { headers: { "x a": "1", "x-c": "c\nd" } }),
    {
      name: "TypeError",
      message: /^Cannot create request: invalid header \(Invalid header name: "x a"\)/,
    },
  );
});

Deno.test("A request option of the wrong shape is named, by the constructor and on the reply", async () => {
  const cases: [string, unknown, string][] = [
    ["an array as init", [], "'init' must be an object, got an array"],
    ...[["a string", "accept: */*", '"accept: */*"'], ["null", null, "null"], ["a number", 5, "5"]]
      .map(([what, headers, shown]): [string, unknown, string] => [
        `${what} as headers`,
        { headers },
        "'headers' must be a Headers, a record or an array of [name, value] pairs, got " + shown,
      ]),
    ...[["a string", "trace", '"trace"'], ["null", null, "null"], ["an array", [1], "an array"]]
      .map(([what, attributes, shown]): [string, unknown, string] => [
        `${what} as attributes`,
        { attributes },
        `'attributes' must be an object, got ${shown}`,
      ]),
    ...[["a string", "x-api-key", '"x-api-key"'], ["null", null, "null"]]
      .map(([what, sensitiveHeaders, shown]): [string, unknown, string] => [
        `${what} as sensitiveHeaders`,
        { sensitiveHeaders },
        "'sensitiveHeaders' must be an array (or other iterable) of header names, got " + shown,
      ]),
    [
      "a name that is no header name in sensitiveHeaders",
      { sensitiveHeaders: ["x-api-key", "x key"] },
      `'sensitiveHeaders[1]' must be a header name, got "x key"`,
    ],
    [
      "a number in sensitiveHeaders",
      { sensitiveHeaders: [7] },
      "'sensitiveHeaders[0]' must be a header name, got 7",
    ],
  ];
  await using manager = new NetworkAccessManager({
    transport: () => Promise.resolve(new Response("sent")),
  });
  for (const [what, init, message] of cases) {
    assert.throws(() => new NetworkRequest("https://example.com/", init as never), {
      name: "TypeError",
      message: `Cannot create request: ${message}`,
    }, what);
    const reply = manager.get("https://example.com/", init as never);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError, what);
    assert.equal(reply.errorString, `Cannot create request: ${message}`, what);
  }
  // Any iterable of names does, and they are kept in lower case.
  const request = new NetworkRequest("https://example.com/", {
    sensitiveHeaders: new Set(["X-Api-Key"]),
    attributes: { trace: "abc" },
  });
  assert.deepEqual([...request.sensitiveHeaders], ["x-api-key"]);
  assert.deepEqual(request.attributes, { trace: "abc" });
});

Deno.test("The URL of a request the manager made is the reply's own to change: what is sent does not move", async () => {
  const seen: string[] = [];
  await using manager = new NetworkAccessManager({
    transport: async (exchange) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      seen.push(exchange.url.pathname);
      return new Response(null, { status: exchange.url.pathname === "/from" ? 302 : 200 });
    },
    layers: [(next) => async (exchange) => {
      // Redirect by hand, from the request's own URL: it must be the one asked for.
      const response = await next(exchange);
      if (response.status !== 302) return response;
      return await next(exchange.next({ url: new URL("/to", exchange.request.url) }));
    }],
  });
  const reply = manager.get("https://example.com/from");
  assert.equal(reply.request.url.href, "https://example.com/from");
  reply.request.url.pathname = "/changed";
  await reply.finished;
  assert.deepEqual(seen, ["/from", "/to"]);
  assert.equal(reply.request.url.pathname, "/changed");
});

Deno.test("console.log shows every field of a request and an exchange, made yet or not", async () => {
  const request = new NetworkRequest("https://example.com/a", {
    headers: { accept: "text/plain" },
  });
  const shown = Deno.inspect(request);
  for (
    const part of [
      'href: "https://example.com/a"',
      'headers: Headers { accept: "text/plain" }',
      'priority: "normal"',
      "sensitiveHeaders: Set(0) {}",
      "attributes: {}",
    ]
  ) {
    assert.ok(shown.includes(part), `${part} in ${shown}`);
  }
  // A request the manager made, whose URL went to its first exchange, shows it too; an exchange
  // made without headers shows them empty.
  let inspected = "";
  await using manager = new NetworkAccessManager({
    transport: (exchange) => {
      inspected = Deno.inspect(exchange, { depth: 1 });
      return Promise.resolve(new Response("ok"));
    },
  });
  const reply = manager.get("https://example.com/b");
  assert.ok(Deno.inspect(reply.request).includes('href: "https://example.com/b"'));
  await reply.finished;
  assert.match(inspected, /^Exchange \{/);
  assert.ok(inspected.includes('method: "GET"') && inspected.includes("headers: Headers {}"));
});

Deno.test("console.log of a request or an exchange shows no credentials, only their names", async () => {
  const request = new NetworkRequest("https://alice:s3cret@example.com/a", {
    headers: {
      authorization: "Bearer t0ken-abc",
      "proxy-authorization": "Basic cHJveHk6cHc=",
      cookie: "sid=c00kie",
      "x-api-key": "k3y-123",
      accept: "text/plain",
    },
    sensitiveHeaders: ["X-Api-Key"],
  });
  const secrets = /s3cret|t0ken-abc|cHJveHk6cHc=|c00kie|k3y-123/;
  const shown = Deno.inspect(request);
  assert.doesNotMatch(shown, secrets, shown);
  for (
    const part of [
      'href: "https://alice:***@example.com/a"',
      'authorization: "[redacted]"',
      '"proxy-authorization": "[redacted]"',
      'cookie: "[redacted]"',
      '"x-api-key": "[redacted]"',
      'accept: "text/plain"',
      'sensitiveHeaders: Set(1) { "x-api-key" }',
    ]
  ) {
    assert.ok(shown.includes(part), `${part} in ${shown}`);
  }
  // The request itself keeps them.
  assert.equal(request.headers.get("authorization"), "Bearer t0ken-abc");
  assert.equal(request.url.password, "s3cret");
  // So does an exchange a layer of the user's sees, with the cookies and credentials it carries.
  let inspected = "";
  await using manager = new NetworkAccessManager({
    transport: (exchange) => {
      inspected = Deno.inspect(exchange, { depth: 2 });
      return Promise.resolve(new Response("ok"));
    },
  });
  await manager.get(request).finished;
  assert.match(inspected, /^Exchange \{/);
  assert.doesNotMatch(inspected, secrets, inspected);
  assert.ok(inspected.includes('authorization: "[redacted]"'), inspected);
  assert.ok(inspected.includes('accept: "text/plain"'), inspected);
});
