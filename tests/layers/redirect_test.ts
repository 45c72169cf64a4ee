import assert from "node:assert/strict";
import {
  type Layer,
  MemoryCache,
  NetworkAccessManager,
  NetworkError,
  type RedirectDetails,
  RedirectedEvent,
} from "../../mod.ts";
import {
  guardUnhandledRejections,
  readHead,
  serve,
  serveTcp,
  takeUnhandledRejections,
} from "../_helpers/server.ts";
import { makeTestCertificates } from "../_helpers/tls.ts";
import { createMockManager } from "../../testing.ts";

guardUnhandledRejections();

/** One request a test server saw. */
interface Seen {
  method: string;
  path: string;
  headers: Headers;
  body: string;
}

/** A loopback server that records every request and answers with `route`. */
function recordingServer(
  route: (request: Request, url: URL, body: string) => Response | Promise<Response>,
  options: { cert?: string; key?: string } = {},
) {
  const seen: Seen[] = [];
  const server = serve(async (request) => {
    const url = new URL(request.url);
    const body = await request.text();
    seen.push({ method: request.method, path: url.pathname, headers: request.headers, body });
    return await route(request, url, body);
  }, options);
  return Object.assign(server, { seen });
}

function redirect(status: number, location: string | null, headers: HeadersInit = {}): Response {
  const h = new Headers(headers);
  if (location !== null) h.set("location", location);
  return new Response(`redirecting to ${location}`, { status, headers: h });
}

function echo(request: Request, body: string): Response {
  return Response.json({
    method: request.method,
    body,
    contentType: request.headers.get("content-type"),
  });
}

Deno.test("redirect layer follows every redirect status and records the hops", async (t) => {
  for (const status of [301, 302, 303, 307, 308]) {
    await t.step(`${status}`, async () => {
      await using server = recordingServer((request, url, body) =>
        url.pathname === "/end" ? echo(request, body) : redirect(status, "/end")
      );
      await using manager = new NetworkAccessManager();
      const reply = manager.get(`${server.url}/start`);
      const events: RedirectedEvent[] = [];
      reply.addEventListener("redirected", (e) => events.push(e as RedirectedEvent));
      const json = await reply.json() as { method: string };
      assert.equal(reply.error, NetworkError.NoError);
      assert.equal(reply.status, 200);
      assert.equal(json.method, "GET");
      assert.equal(reply.url.href, `${server.url}/end`);
      assert.deepEqual(reply.redirects.map((u) => u.href), [`${server.url}/end`]);
      assert.equal(events.length, 1);
      assert.ok(events[0] instanceof RedirectedEvent);
      assert.equal(events[0]!.status, status);
      assert.equal(events[0]!.from.href, `${server.url}/start`);
      assert.equal(events[0]!.url.href, `${server.url}/end`);
      assert.equal(events[0]!.hop, 1);
      assert.deepEqual(server.seen.map((s) => s.path), ["/start", "/end"]);
    });
  }
});

Deno.test("redirect layer follows a chain across origins, relative and absolute", async () => {
  await using b = recordingServer((request, url, body) =>
    url.pathname === "/dir/b2" ? echo(request, body) : redirect(302, "b2")
  );
  await using a = recordingServer((_request, url) =>
    url.pathname === "/a1" ? redirect(301, "/a2") : redirect(307, `${b.url}/dir/b1`)
  );
  await using manager = new NetworkAccessManager();
  const reply = manager.get(`${a.url}/a1`);
  const hops: number[] = [];
  reply.addEventListener("redirected", (e) => hops.push((e as RedirectedEvent).hop));
  await reply.text();
  assert.equal(reply.error, NetworkError.NoError);
  assert.equal(reply.url.href, `${b.url}/dir/b2`);
  assert.deepEqual(reply.redirects.map((u) => u.href), [
    `${a.url}/a2`,
    `${b.url}/dir/b1`,
    `${b.url}/dir/b2`,
  ]);
  assert.deepEqual(hops, [1, 2, 3]);
});

Deno.test("redirect layer changes the method as RFC 9110 says", async (t) => {
  const cases: [number, string, string, boolean][] = [
    // status, method, expected method, body kept
    [301, "POST", "GET", false],
    [302, "POST", "GET", false],
    [303, "POST", "GET", false],
    [303, "PUT", "GET", false],
    [303, "DELETE", "GET", false],
    [301, "PUT", "PUT", true],
    [302, "PATCH", "PATCH", true],
    [307, "POST", "POST", true],
    [308, "PUT", "PUT", true],
  ];
  for (const [status, method, expected, kept] of cases) {
    await t.step(`${status} ${method} -> ${expected}`, async () => {
      await using server = recordingServer((request, url, body) =>
        url.pathname === "/end" ? echo(request, body) : redirect(status, "/end")
      );
      await using manager = new NetworkAccessManager();
      const reply = manager.sendCustomRequest(`${server.url}/start`, method, "payload", {
        headers: { "content-language": "en", "x-keep": "1" },
      });
      const json = await reply.json() as { method: string; body: string; contentType: string };
      assert.equal(reply.error, NetworkError.NoError);
      assert.equal(json.method, expected);
      assert.equal(json.body, kept ? "payload" : "");
      const last = server.seen.at(-1)!;
      assert.equal(last.headers.get("x-keep"), "1");
      assert.equal(last.headers.get("content-language"), kept ? "en" : null);
      assert.equal(last.headers.get("content-type"), kept ? "text/plain;charset=UTF-8" : null);
    });
  }
  await t.step("303 keeps HEAD", async () => {
    await using server = recordingServer((_request, url) =>
      url.pathname === "/end" ? new Response("x") : redirect(303, "/end")
    );
    await using manager = new NetworkAccessManager();
    const reply = manager.head(`${server.url}/start`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.NoError);
    assert.deepEqual(server.seen.map((s) => s.method), ["HEAD", "HEAD"]);
  });
});

Deno.test("redirect layer sends a replayable body again on 307 and 308", async (t) => {
  const bodies: [string, () => unknown, string][] = [
    ["string", () => "text body", "text body"],
    ["bytes", () => new TextEncoder().encode("byte body"), "byte body"],
    ["Blob", () => new Blob(["blob body"]), "blob body"],
    ["URLSearchParams", () => new URLSearchParams({ a: "1", b: "2" }), "a=1&b=2"],
  ];
  for (const status of [307, 308]) {
    for (const [name, make, expected] of bodies) {
      await t.step(`${status} ${name}`, async () => {
        await using server = recordingServer((request, url, body) =>
          url.pathname === "/end" ? echo(request, body) : redirect(status, "/end")
        );
        await using manager = new NetworkAccessManager();
        const reply = manager.post(`${server.url}/start`, make() as string);
        const json = await reply.json() as { method: string; body: string };
        assert.equal(json.method, "POST");
        assert.equal(json.body, expected);
        assert.equal(server.seen[0]!.body, expected);
      });
    }
    await t.step(`${status} FormData`, async () => {
      await using server = recordingServer((request, url, body) =>
        url.pathname === "/end" ? echo(request, body) : redirect(status, "/end")
      );
      await using manager = new NetworkAccessManager();
      const form = new FormData();
      form.set("field", "form value");
      const json = await manager.post(`${server.url}/start`, form).json() as { body: string };
      assert.match(json.body, /name="field"\r\n\r\nform value/);
      assert.match(server.seen[0]!.body, /form value/);
    });
  }
});

Deno.test("redirect layer fails a 307 with a one-shot stream body clearly", async () => {
  await using server = recordingServer((request, url, body) =>
    url.pathname === "/end" ? echo(request, body) : redirect(307, "/end")
  );
  await using manager = new NetworkAccessManager();
  const stream = ReadableStream.from([new TextEncoder().encode("streamed")]);
  const reply = manager.post(`${server.url}/upload`, stream);
  await reply.finished;
  assert.equal(reply.error, NetworkError.ContentReSendError);
  assert.match(reply.errorString, /307 redirect .*one-shot stream/);
  assert.match(reply.errorString, /string, bytes, Blob, FormData or URLSearchParams/);
  assert.deepEqual(server.seen.map((s) => s.path), ["/upload"]);
  assert.equal(server.seen[0]!.body, "streamed");
});

Deno.test("redirect layer drops a one-shot stream body when the redirect turns POST into GET", async () => {
  await using server = recordingServer((request, url, body) =>
    url.pathname === "/end" ? echo(request, body) : redirect(303, "/end")
  );
  await using manager = new NetworkAccessManager();
  const stream = ReadableStream.from([new TextEncoder().encode("streamed")]);
  const json = await manager.post(`${server.url}/upload`, stream).json() as { method: string };
  assert.equal(json.method, "GET");
});

Deno.test("redirect layer strips credentials and cookies when the origin changes", async (t) => {
  await using b = recordingServer(() => new Response("b"));
  await using a = recordingServer((_request, url) =>
    url.pathname === "/same" ? redirect(302, "/to-b") : redirect(302, `${b.url}/landing`)
  );
  const headers = {
    authorization: "Bearer secret-token",
    "proxy-authorization": "Basic cHJveHk6cHc=",
    cookie: "session=secret",
    "x-api-key": "k-123",
    "x-trace": "kept",
  };
  await t.step("same origin keeps them", async () => {
    await using manager = new NetworkAccessManager({ cookieJar: null });
    const reply = manager.get(`${a.url}/same`, { headers, sensitiveHeaders: ["X-Api-Key"] });
    await reply.text();
    const second = a.seen.at(-1)!;
    assert.equal(second.path, "/to-b");
    assert.equal(second.headers.get("authorization"), "Bearer secret-token");
    assert.equal(second.headers.get("cookie"), "session=secret");
    assert.equal(second.headers.get("x-api-key"), "k-123");
  });
  await t.step("another origin gets none of them", async () => {
    await using manager = new NetworkAccessManager({ cookieJar: null });
    const reply = manager.get(`${a.url}/same`, { headers, sensitiveHeaders: ["X-Api-Key"] });
    assert.equal(await reply.text(), "b");
    assert.equal(reply.url.href, `${b.url}/landing`);
    assert.equal(b.seen.length, 2);
    for (const seen of b.seen) {
      assert.equal(seen.headers.get("authorization"), null);
      assert.equal(seen.headers.get("proxy-authorization"), null);
      assert.equal(seen.headers.get("cookie"), null);
      assert.equal(seen.headers.get("x-api-key"), null);
      assert.equal(seen.headers.get("x-trace"), "kept");
    }
  });
});

Deno.test("redirect layer: userinfo in a Location answers that hop's challenge, as a request URL's does, and is shown nowhere", async (t) => {
  const basic = `Basic ${btoa("u@x:p:ss")}`;
  await using b = recordingServer((request) =>
    request.headers.get("authorization") === basic
      ? new Response("in", { headers: { "cache-control": "max-age=60" } })
      : new Response("who?", { status: 401, headers: { "www-authenticate": 'Basic realm="r"' } })
  );
  const plain = `http://localhost:${b.port}/dest?q=1`;
  const withUserinfo = `http://u%40x:p%3Ass@localhost:${b.port}/dest?q=1`;
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = closed.addr.port;
  closed.close();
  await using a = recordingServer((_request, url) =>
    url.pathname === "/start"
      ? redirect(302, withUserinfo)
      : redirect(302, `http://u:hop-secret@127.0.0.1:${closedPort}/gone`)
  );
  const leaks = (text: string) => /u%40x|p%3Ass|p:ss|hop-secret|u:/.test(text);

  await t.step("a request URL's userinfo answers a Basic challenge", async () => {
    await using manager = new NetworkAccessManager({ cookieJar: null });
    assert.equal(await manager.get(withUserinfo).text(), "in");
  });
  await t.step("so does a Location's, for its hop only", async () => {
    b.seen.length = a.seen.length = 0;
    const cache = new MemoryCache();
    await using manager = new NetworkAccessManager({ cookieJar: null, cache });
    const finished: string[] = [];
    manager.addEventListener("finished", (e) => finished.push(e.reply.url.href));
    const reply = manager.get(`${a.url}/start`);
    const events: RedirectDetails[] = [];
    reply.addEventListener("redirected", (e) => events.push(e as RedirectedEvent));
    assert.equal(await reply.text(), "in");
    assert.deepEqual(b.seen.map((seen) => seen.headers.get("authorization")), [null, basic]);
    assert.ok(b.seen.every((seen) => !leaks(`${seen.path} ${seen.headers.get("host")}`)));
    assert.ok(a.seen.every((seen) => seen.headers.get("authorization") === null));
    assert.equal(reply.url.href, plain);
    assert.deepEqual(reply.redirects.map(String), [plain]);
    assert.deepEqual(events.map((e) => [e.url.href, e.from.href]), [[plain, `${a.url}/start`]]);
    assert.deepEqual(finished, [plain]);
    assert.equal(leaks(Deno.inspect(reply, { depth: 4 })), false, Deno.inspect(reply));
    assert.equal((await cache.metaData(plain))?.url, plain, "cached under the URL without it");
  });
  await t.step("a hop that fails names its URL without userinfo", async () => {
    await using manager = new NetworkAccessManager({ cookieJar: null });
    const reply = manager.get(`${a.url}/away`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ConnectionRefusedError);
    assert.equal(reply.url.href, `http://127.0.0.1:${closedPort}/gone`);
    assert.equal(leaks(reply.errorString), false, reply.errorString);
  });
});

Deno.test("redirect layer never lets a cookie of one host reach another host", async () => {
  await using b = recordingServer(() => new Response("b"));
  const bUrl = `http://localhost:${b.port}`;
  await using a = recordingServer((_request, url) =>
    url.pathname === "/login"
      ? redirect(302, "/home", { "set-cookie": "sid=abc; Path=/" })
      : redirect(302, `${bUrl}/elsewhere`)
  );
  await using manager = new NetworkAccessManager();
  const reply = manager.get(`${a.url}/login`);
  await reply.text();
  assert.equal(reply.error, NetworkError.NoError);
  // The cookie set by the 302 was stored before the next hop went out.
  assert.equal(a.seen[1]!.path, "/home");
  assert.equal(a.seen[1]!.headers.get("cookie"), "sid=abc");
  assert.equal(b.seen.length, 1);
  assert.equal(b.seen[0]!.headers.get("cookie"), null);
});

Deno.test("redirect policy no-less-safe refuses https to http by default", async (t) => {
  const { caCert, cert, key } = await makeTestCertificates();
  await using plain = recordingServer(() => new Response("plain"));
  await using secure = recordingServer(
    (_request, url) =>
      url.pathname === "/down"
        ? redirect(302, `${plain.url}/insecure`)
        : url.pathname === "/secure-hop"
        ? redirect(302, "/end")
        : new Response("secure end"),
    { cert, key },
  );
  await t.step("https -> http fails", async () => {
    await using manager = new NetworkAccessManager({ caCerts: [caCert] });
    assert.equal(manager.redirectPolicy, "no-less-safe");
    const reply = manager.get(`${secure.url}/down`, { headers: { authorization: "Basic eDp5" } });
    await reply.finished;
    assert.equal(reply.error, NetworkError.InsecureRedirectError);
    assert.match(reply.errorString, /from https to http/);
    assert.equal(plain.seen.length, 0);
  });
  await t.step("https -> https is followed", async () => {
    await using manager = new NetworkAccessManager({ caCerts: [caCert] });
    assert.equal(await manager.get(`${secure.url}/secure-hop`).text(), "secure end");
  });
  await t.step("http -> https is followed", async () => {
    await using up = recordingServer(() => redirect(302, `${secure.url}/end`));
    await using manager = new NetworkAccessManager({ caCerts: [caCert] });
    const reply = manager.get(`${up.url}/`);
    assert.equal(await reply.text(), "secure end");
    assert.equal(reply.url.protocol, "https:");
  });
  await t.step("the request's policy wins over the manager's", async () => {
    await using manager = new NetworkAccessManager({ caCerts: [caCert] });
    const reply = manager.get(`${secure.url}/down`, {
      redirectPolicy: "user-verified",
    });
    manager.redirectVerifier = () => true;
    assert.equal(await reply.text(), "plain");
    assert.equal(plain.seen.length, 1);
  });
});

Deno.test("redirect policy same-origin follows only within the origin", async () => {
  await using other = recordingServer(() => new Response("other"));
  await using server = recordingServer((_request, url) =>
    url.pathname === "/inside"
      ? redirect(302, "/end")
      : url.pathname === "/outside"
      ? redirect(302, `${other.url}/x`)
      : new Response("end")
  );
  await using manager = new NetworkAccessManager({ redirectPolicy: "same-origin" });
  assert.equal(await manager.get(`${server.url}/inside`).text(), "end");
  const reply = manager.get(`${server.url}/outside`);
  await reply.finished;
  assert.equal(reply.error, NetworkError.InsecureRedirectError);
  assert.match(reply.errorString, /leaves the origin .*same-origin/);
  assert.equal(other.seen.length, 0);
});

Deno.test("redirect policy manual returns the redirect as the reply", async () => {
  await using server = recordingServer(() => redirect(302, "/next"));
  await using manager = new NetworkAccessManager({ redirectPolicy: "manual" });
  const reply = manager.get(`${server.url}/start`);
  const text = await reply.text();
  assert.equal(reply.error, NetworkError.NoError);
  assert.equal(reply.status, 302);
  assert.equal(reply.headers.get("location"), "/next");
  assert.equal(text, "redirecting to /next");
  assert.deepEqual(reply.redirects, []);
  assert.equal(server.seen.length, 1);
});

Deno.test("redirect policy user-verified asks the verifier asynchronously", async (t) => {
  await using server = recordingServer((_request, url) =>
    url.pathname === "/end" ? new Response("end") : redirect(302, "/end")
  );
  await t.step("allowed", async () => {
    const asked: RedirectDetails[] = [];
    await using manager = new NetworkAccessManager({
      redirectPolicy: "user-verified",
      redirectVerifier: async (_reply, redirect) => {
        asked.push(redirect);
        await new Promise((resolve) => setTimeout(resolve, 5));
        return true;
      },
    });
    const reply = manager.get(`${server.url}/start`);
    const events: string[] = [];
    reply.addEventListener("redirected", (e) => events.push((e as RedirectedEvent).url.href));
    assert.equal(await reply.text(), "end");
    assert.equal(asked.length, 1);
    assert.equal(asked[0]!.url.href, `${server.url}/end`);
    assert.equal(asked[0]!.status, 302);
    assert.deepEqual(events, [`${server.url}/end`]);
  });
  await t.step("refused", async () => {
    const before = server.seen.length;
    await using manager = new NetworkAccessManager({
      redirectPolicy: "user-verified",
      redirectVerifier: () => Promise.resolve(false),
    });
    const reply = manager.get(`${server.url}/start`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.InsecureRedirectError);
    assert.match(reply.errorString, /refused by the 'redirectVerifier'/);
    assert.equal(server.seen.length, before + 1);
  });
  await t.step("no verifier refuses", async () => {
    await using manager = new NetworkAccessManager({ redirectPolicy: "user-verified" });
    const reply = manager.get(`${server.url}/start`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.InsecureRedirectError);
    assert.match(reply.errorString, /no 'redirectVerifier'/);
  });
  await t.step("a redirected listener refuses with preventDefault()", async () => {
    await using manager = new NetworkAccessManager();
    const reply = manager.get(`${server.url}/start`);
    reply.addEventListener("redirected", (e) => e.preventDefault());
    await reply.finished;
    assert.equal(reply.error, NetworkError.InsecureRedirectError);
    assert.match(reply.errorString, /'redirected' event listener/);
  });
});

Deno.test("redirect layer stops after maxRedirects", async (t) => {
  await using server = recordingServer((_request, url) => {
    const n = Number(url.pathname.slice(1));
    return n >= 5 ? new Response("done") : redirect(302, `/${n + 1}`);
  });
  await using loop = recordingServer((_request, url) =>
    redirect(302, url.pathname === "/a" ? "/b" : "/a")
  );
  await t.step("a chain within the limit is followed", async () => {
    await using manager = new NetworkAccessManager({ maxRedirects: 5 });
    const reply = manager.get(`${server.url}/0`);
    assert.equal(await reply.text(), "done");
    assert.equal(reply.redirects.length, 5);
  });
  await t.step("the manager's limit", async () => {
    await using manager = new NetworkAccessManager({ maxRedirects: 4 });
    const reply = manager.get(`${server.url}/0`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.TooManyRedirectsError);
    assert.equal(
      reply.errorString,
      `Too many redirects: ${server.url}/4 redirected to ${server.url}/5 after 4 redirects ` +
        `(maxRedirects is 4)`,
    );
  });
  await t.step("the request's limit", async () => {
    await using manager = new NetworkAccessManager();
    const reply = manager.get(`${server.url}/0`, { maxRedirects: 0 });
    await reply.finished;
    assert.equal(reply.error, NetworkError.TooManyRedirectsError);
    assert.equal(
      reply.errorString,
      `Too many redirects: ${server.url}/0 redirected to ${server.url}/1, and maxRedirects is 0`,
    );
  });
  await t.step("a loop ends at the default of 50", async () => {
    await using manager = new NetworkAccessManager();
    assert.equal(manager.maxRedirects, 50);
    const reply = manager.get(`${loop.url}/a`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.TooManyRedirectsError);
    assert.equal(loop.seen.length, 51);
    assert.equal(
      reply.errorString,
      `Too many redirects: ${loop.url}/a redirected to ${loop.url}/b after 50 redirects ` +
        `(maxRedirects is 50); the redirects loop: that URL was visited before`,
    );
  });
  await t.step("the failed reply keeps the hops it followed and the last URL", async () => {
    await using manager = new NetworkAccessManager({ maxRedirects: 3 });
    const reply = manager.get(`${server.url}/0`);
    assert.equal(reply.url.href, `${server.url}/0`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.TooManyRedirectsError);
    assert.deepEqual(reply.redirects.map((u) => u.pathname), ["/1", "/2", "/3"]);
    assert.equal(reply.url.href, `${server.url}/3`);
  });
});

Deno.test("a reply that fails on a redirect keeps that redirect's status, status text and headers", async (t) => {
  const { caCert, cert, key } = await makeTestCertificates();
  await using plain = recordingServer(() => new Response("plain"));
  await using server = recordingServer((_request, url) => {
    const n = Number(url.pathname.slice(1));
    if (url.pathname === "/file") return redirect(301, "file:///etc/passwd", { "x-hop": "file" });
    if (url.pathname === "/start") return redirect(303, "/end", { "x-hop": "start" });
    return redirect(307, `/${(n + 1) % 3}`, { "x-hop": String(n) });
  });
  await using secure = recordingServer(
    () => redirect(308, `${plain.url}/insecure`, { "x-hop": "down" }),
    { cert, key },
  );
  /** The reply's status line and `x-hop` once it finished, and its error and events. */
  async function failed(manager: NetworkAccessManager, url: string) {
    const reply = manager.get(url);
    let metadata = 0;
    reply.addEventListener("metadatachanged", () => metadata++);
    await reply.finished;
    const body = await reply.text().then(() => "read", (e) => e.name);
    return {
      error: reply.error,
      status: `${reply.status} ${reply.statusText}`,
      hop: reply.headers.get("x-hop"),
      url: reply.url.href,
      metadata,
      body,
    };
  }
  await t.step(
    "TooManyRedirectsError: the last redirect, the one followed once too often",
    async () => {
      await using manager = new NetworkAccessManager({ maxRedirects: 4 });
      assert.deepEqual(await failed(manager, `${server.url}/0`), {
        error: NetworkError.TooManyRedirectsError,
        status: "307 Temporary Redirect",
        hop: "1",
        url: `${server.url}/1`,
        metadata: 0,
        body: "NetworkReplyError",
      });
    },
  );
  await t.step("a redirect to file: (ProtocolUnknownError)", async () => {
    await using manager = new NetworkAccessManager();
    const result = await failed(manager, `${server.url}/file`);
    assert.equal(result.error, NetworkError.ProtocolUnknownError);
    assert.deepEqual([result.status, result.hop], ["301 Moved Permanently", "file"]);
  });
  await t.step("refused by the redirectVerifier, or a redirected listener", async () => {
    await using manager = new NetworkAccessManager({
      redirectPolicy: "user-verified",
      redirectVerifier: () => false,
    });
    const result = await failed(manager, `${server.url}/start`);
    assert.equal(result.error, NetworkError.InsecureRedirectError);
    assert.deepEqual([result.status, result.hop], ["303 See Other", "start"]);
    const reply = manager.get(`${server.url}/start`, { redirectPolicy: "no-less-safe" });
    reply.addEventListener("redirected", (e) => e.preventDefault());
    await reply.finished;
    assert.equal(reply.error, NetworkError.InsecureRedirectError);
    assert.deepEqual([reply.status, reply.headers.get("x-hop")], [303, "start"]);
  });
  await t.step("https to http (InsecureRedirectError)", async () => {
    await using manager = new NetworkAccessManager({ caCerts: [caCert] });
    const result = await failed(manager, `${secure.url}/down`);
    assert.equal(result.error, NetworkError.InsecureRedirectError);
    assert.deepEqual([result.status, result.hop], ["308 Permanent Redirect", "down"]);
    assert.equal(plain.seen.length, 0);
  });
  await t.step("a hop that gets no response has none", async () => {
    await using manager = new NetworkAccessManager();
    const reply = manager.get(`${server.url}/start`, {
      redirectPolicy: "user-verified",
    });
    manager.redirectVerifier = () => {
      reply.abort();
      return true;
    };
    await reply.finished;
    assert.equal(reply.error, NetworkError.OperationCanceledError);
    assert.equal(reply.status, 0);
  });
});

Deno.test("redirect layer returns a redirect status without Location as the reply", async (t) => {
  for (const status of [301, 302, 303, 307, 308]) {
    await t.step(`${status}`, async () => {
      await using server = recordingServer(() =>
        new Response(`no place to go ${status}`, { status, headers: { "x-kept": "yes" } })
      );
      await using manager = new NetworkAccessManager();
      const reply = manager.get(`${server.url}/here`);
      assert.equal(await reply.text(), `no place to go ${status}`);
      assert.equal(reply.error, NetworkError.NoError);
      assert.equal(reply.status, status);
      assert.equal(reply.headers.get("x-kept"), "yes");
      assert.deepEqual(reply.redirects, []);
      assert.equal(reply.url.href, `${server.url}/here`);
    });
  }
  await t.step("an empty Location is no Location", async () => {
    await using server = serveTcp(async (conn) => {
      await readHead(conn);
      await conn.write(new TextEncoder().encode(
        "HTTP/1.1 302 Found\r\nLocation:\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody",
      ));
    });
    await using manager = new NetworkAccessManager();
    const reply = manager.get(`http://127.0.0.1:${server.port}/`);
    assert.equal(await reply.text(), "body");
    assert.equal(reply.status, 302);
    assert.equal(reply.error, NetworkError.NoError);
  });
});

Deno.test("redirect layer reads a Location of raw UTF-8 bytes as UTF-8", async (t) => {
  const cases: [string, number[], string][] = [
    ["a snowman in the query", [...new TextEncoder().encode("/end?\u2603")], "/end?%E2%98%83"],
    [
      "a path in Cyrillic",
      [...new TextEncoder().encode("/\u043f\u0443\u0442\u044c")],
      "/%D0%BF%D1%83%D1%82%D1%8C",
    ],
    ["bytes that are not UTF-8 are kept as bytes", [0x2f, 0x65, 0xe9], "/e%E9"],
  ];
  for (const [name, bytes, expected] of cases) {
    await t.step(name, async () => {
      const targets: string[] = [];
      await using server = serveTcp(async (conn) => {
        const head = await readHead(conn);
        const target = head.split(" ")[1]!;
        targets.push(target);
        const start = new TextEncoder().encode(
          target === "/start" ? "HTTP/1.1 302 Found\r\nLocation: " : "HTTP/1.1 200 OK\r\nX-A: ",
        );
        const end = new TextEncoder().encode(
          "\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
        );
        await conn.write(new Uint8Array([...start, ...bytes, ...end]));
      });
      await using manager = new NetworkAccessManager();
      const reply = manager.get(`http://127.0.0.1:${server.port}/start`);
      assert.equal(await reply.text(), "ok");
      const path = new URL(reply.url).pathname + new URL(reply.url).search;
      assert.equal(path, expected);
      assert.deepEqual(targets, ["/start", expected]);
    });
  }
});

Deno.test("redirect layer keeps a Location's fragment, else the one it came from", async (t) => {
  await using server = recordingServer((_request, url) => {
    const to = url.searchParams.get("to");
    return to === null ? new Response("end") : redirect(302, to);
  });
  const start = (to: string) => `${server.url}/s?to=${encodeURIComponent(to)}`;
  const cases: [string, string, string][] = [
    ["no fragment: the original's is inherited", `${start("/end")}#orig`, "/end#orig"],
    ["its own fragment wins", `${start("/end#own")}#orig`, "/end#own"],
    ["an empty fragment is a fragment", `${start("/end#")}#orig`, "/end#"],
    ["an original empty fragment is inherited", `${start("/end")}#`, "/end#"],
    ["along a chain", `${start(`/s?to=${encodeURIComponent("/end")}`)}#orig`, "/end#orig"],
  ];
  for (const [name, url, expected] of cases) {
    await t.step(name, async () => {
      await using manager = new NetworkAccessManager();
      const reply = manager.get(url);
      assert.equal(await reply.text(), "end");
      assert.equal(reply.url.href, `${server.url}${expected}`);
      assert.equal(reply.redirects.at(-1)!.href, `${server.url}${expected}`);
    });
  }
});

Deno.test("redirect layer rejects bad Location headers", async (t) => {
  const cases: [string, string | null, RegExp][] = [
    ["invalid", "http://[::1/", /not a valid URL/],
    ["ftp", "ftp://127.0.0.1/file", /only http and https/],
    ["data", "data:,hi", /only http and https/],
    ["file", "file:///etc/passwd", /only http and https/],
  ];
  for (const [name, location, message] of cases) {
    await t.step(name, async () => {
      await using server = recordingServer(() => redirect(301, location));
      await using manager = new NetworkAccessManager();
      const reply = manager.get(`${server.url}/`);
      await reply.finished;
      assert.equal(reply.error, NetworkError.ProtocolUnknownError);
      assert.match(reply.errorString, message);
    });
  }
});

Deno.test("redirect layer follows several Location fields only when they are equal", async (t) => {
  /** A server answering `/start` with `status` and one Location field per entry of `fields`. */
  const rawServer = (fields: string[], status = 302, extra = "") => {
    const targets: string[] = [];
    const server = serveTcp(async (conn) => {
      const target = (await readHead(conn)).split(" ")[1]!;
      targets.push(target);
      const head = target === "/start"
        ? `HTTP/1.1 ${status} Moved\r\n${extra}${fields.map((f) => `Location: ${f}\r\n`).join("")}`
        : "HTTP/1.1 200 OK\r\n";
      await conn.write(new TextEncoder().encode(
        `${head}Content-Length: 2\r\nConnection: close\r\n\r\nok`,
      ));
    });
    return Object.assign(server, { targets });
  };
  await t.step("different values fail the reply, naming them", async () => {
    await using server = rawServer(["/a", "/b,c"]);
    await using manager = new NetworkAccessManager();
    const reply = manager.get(`${server.url}/start`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolFailure, reply.errorString);
    assert.equal(
      reply.errorString,
      `Cannot follow the 302 redirect from ${server.url}/start: the response has 2 Location ` +
        `fields with different values ("/a", "/b,c")`,
    );
    assert.deepEqual(server.targets, ["/start"]);
    assert.deepEqual(reply.redirects, []);
  });
  await t.step("equal values are one Location", async () => {
    await using server = rawServer(["/end", "/end", "/end"]);
    await using manager = new NetworkAccessManager();
    const reply = manager.get(`${server.url}/start`);
    assert.equal(await reply.text(), "ok");
    assert.deepEqual(server.targets, ["/start", "/end"]);
  });
  await t.step("one Location with a comma and a space is one URL", async () => {
    await using server = rawServer(["/x?q=Paris, France"]);
    await using manager = new NetworkAccessManager();
    const reply = manager.get(`${server.url}/start`);
    assert.equal(await reply.text(), "ok");
    assert.deepEqual(server.targets, ["/start", "/x?q=Paris,%20France"]);
  });
  await t.step("the manual policy hands the response over as it came", async () => {
    await using server = rawServer(["/a", "/b"]);
    await using manager = new NetworkAccessManager({ redirectPolicy: "manual" });
    const reply = manager.get(`${server.url}/start`);
    assert.equal(await reply.text(), "ok");
    assert.equal(reply.error, NetworkError.NoError);
    assert.equal(reply.headers.get("location"), "/a, /b");
  });
  await t.step("from a mock transport, canned or as a Response", async () => {
    await using mocked = createMockManager();
    const twice = (a: string, b: string): [string, string][] => [["location", a], ["location", b]];
    mocked.mock
      .route("GET", "/canned", { status: 302, headers: twice("/a", "/b") })
      .route("GET", "/response", new Response(null, { status: 307, headers: twice("/a", "/c") }))
      .route("GET", "/equal", { status: 302, headers: twice("/end", "/end") })
      // Headers copied from Headers: only the joined value is left.
      .route(
        "GET",
        "/copied",
        new Response(null, { status: 302, headers: new Headers(twice("/end", "/end")) }),
      )
      .route("GET", "/end", { body: "end" });
    for (const [path, values] of [["canned", `"/a", "/b"`], ["response", `"/a", "/c"`]]) {
      const reply = mocked.manager.get(`https://example.com/${path}`);
      await reply.finished;
      assert.equal(reply.error, NetworkError.ProtocolFailure, path);
      assert.match(reply.errorString, new RegExp(`different values \\(${values}\\)$`));
    }
    assert.equal(await mocked.manager.get("https://example.com/equal").text(), "end");
    assert.equal(await mocked.manager.get("https://example.com/copied").text(), "end");
  });
  await t.step("a cached 301 is not stored to be followed joined later", async () => {
    await using server = rawServer(["/a", "/b"], 301, "Cache-Control: max-age=3600\r\n");
    await using manager = new NetworkAccessManager({ cache: new MemoryCache() });
    for (let i = 0; i < 2; i++) {
      const reply = manager.get(`${server.url}/start`);
      await reply.finished;
      assert.equal(reply.error, NetworkError.ProtocolFailure, `request ${i + 1}`);
      assert.equal(reply.fromCache, false);
    }
    assert.deepEqual(server.targets, ["/start", "/start"]);
  });
});

Deno.test("redirect layer sends every hop through the layers below", async () => {
  await using server = recordingServer((_request, url) =>
    url.pathname === "/end" ? new Response("end") : redirect(302, "/end")
  );
  await using manager = new NetworkAccessManager();
  const seen: [string, number][] = [];
  const network: Layer = (next) => async (exchange) => {
    seen.push([exchange.url.pathname, exchange.hop]);
    return await next(exchange);
  };
  manager.use(network, "network");
  await manager.get(`${server.url}/start`).text();
  assert.deepEqual(seen, [["/start", 0], ["/end", 1]]);
});

Deno.test("redirect layer sends each hop what was asked, not what a layer below wrote in place", async (t) => {
  await using server = recordingServer((_request, url) =>
    url.pathname === "/end" ? new Response("end") : redirect(302, "/end")
  );
  // A layer of the user's below the redirect layer, adding to the exchange's headers in place:
  // a hop that started with the last hop's headers would send both values.
  await using manager = new NetworkAccessManager();
  manager.use((next) => (exchange) => {
    exchange.headers.append("x-hop", exchange.url.pathname);
    return next(exchange);
  }, "network");
  const sent = () =>
    server.seen.slice(-2).map((s) => [s.path, s.headers.get("x-hop"), s.headers.get("x-asked")]);
  await t.step("a request without headers: the next hop starts with none", async () => {
    assert.equal(await manager.get(`${server.url}/start`).text(), "end");
    assert.deepEqual(sent(), [["/start", "/start", null], ["/end", "/end", null]]);
  });
  await t.step("a request with headers: the next hop starts with them as asked", async () => {
    const reply = manager.get(`${server.url}/start`, { headers: { "x-asked": "yes" } });
    assert.equal(await reply.text(), "end");
    assert.deepEqual(sent(), [["/start", "/start", "yes"], ["/end", "/end", "yes"]]);
  });
});

Deno.test("redirectVerifier is validated and settable", () => {
  assert.throws(
    () => new NetworkAccessManager({ redirectVerifier: 1 as unknown as () => boolean }),
    /Cannot create manager: 'redirectVerifier' must be a function, got 1$/,
  );
  const manager = new NetworkAccessManager();
  const verifier = () => true;
  manager.redirectVerifier = verifier;
  assert.equal(manager.redirectVerifier, verifier);
  manager.redirectVerifier = undefined;
  assert.equal(manager.redirectVerifier, undefined);
});

Deno.test("redirect tests leave no unhandled rejections", () => {
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("a layer that keeps an unread clone of each response does not hold up a redirect or a challenge", async (t) => {
  await using server = serve((request) => {
    const path = new URL(request.url).pathname;
    if (path === "/moved") {
      return new Response("moved", { status: 302, headers: { location: "/" } });
    }
    if (path === "/private" && request.headers.get("authorization") === null) {
      return new Response("who?", {
        status: 401,
        headers: { "www-authenticate": 'Basic realm="r"' },
      });
    }
    return new Response("here");
  });
  for (const path of ["/moved", "/private"]) {
    await t.step(path, async () => {
      const kept: Response[] = [];
      await using manager = new NetworkAccessManager({
        authenticator: () => ({ username: "u", password: "p" }),
      });
      // A logging layer's: a teed branch's cancel settles only once the other branch is cancelled.
      manager.use((next) => async (exchange) => {
        const response = await next(exchange);
        kept.push(response.clone());
        return response;
      }, "network");
      const reply = manager.get(`${server.url}${path}`);
      const guard = setTimeout(() => reply.abort(), 5_000);
      try {
        assert.equal(await reply.text(), "here");
      } finally {
        clearTimeout(guard);
        await Promise.all(kept.map((response) => response.body?.cancel()));
      }
    });
  }
  assert.deepEqual(takeUnhandledRejections(), []);
});
