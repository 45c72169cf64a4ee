import assert from "node:assert/strict";
import {
  MemoryCache,
  NetworkAccessManager,
  NetworkError,
  NetworkReplyError,
  NetworkRequest,
  NetworkRequestFactory,
} from "../mod.ts";
import { serve } from "./_helpers/server.ts";

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** The items an iteration yields before it throws, and what it throws. */
async function collectUntilError<T>(iterable: AsyncIterable<T>) {
  const items: T[] = [];
  try {
    for await (const item of iterable) items.push(item);
  } catch (error) {
    return { items, error };
  }
  return { items, error: undefined };
}

/** A paginated API: `/items?page=N` for N in 1..pages, two items a page, linked by Link. */
/** A response whose body sends `text`, then breaks (at once, or `ms` later). */
function breaksAfter(text: string, ms: number): Response {
  return new Response(
    new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(text));
        if (ms === 0) controller.error(new Error("gone"));
        else setTimeout(() => controller.error(new Error("gone")), ms);
      },
    }),
  );
}

function pagedServer(pages: number, answer?: (page: number, request: Request) => Response | null) {
  const seen: { page: number; headers: Headers }[] = [];
  const server = serve((request) => {
    const url = new URL(request.url);
    const page = Number(url.searchParams.get("page") ?? "1");
    seen.push({ page, headers: request.headers });
    const custom = answer?.(page, request);
    if (custom) return custom;
    const links = [`</items?page=1>; rel="first"`];
    if (page > 1) links.push(`<${server.url}/items?page=${page - 1}>; rel=prev`);
    if (page < pages) {
      links.push(`</items?page=${page + 1}>; title="a, b; c"; rel="next last"`);
    }
    return Response.json([`${page}a`, `${page}b`], { headers: { link: links.join(", ") } });
  });
  return { server, seen };
}

Deno.test("paginate follows three pages linked by Link rel=next", async () => {
  const { server, seen } = pagedServer(3);
  await using _ = server;
  await using manager = new NetworkAccessManager();
  const request = new NetworkRequest(`${server.url}/items`, { headers: { "x-token": "t" } });
  const items = await collect(manager.paginate<string>(request));
  assert.deepEqual(items, ["1a", "1b", "2a", "2b", "3a", "3b"]);
  assert.deepEqual(seen.map((s) => s.page), [1, 2, 3]);
  assert.deepEqual(seen.map((s) => s.headers.get("x-token")), ["t", "t", "t"], "headers carried");
});

Deno.test("paginate follows a Link whose parameters end with a semicolon", async () => {
  await using server = serve((request) => {
    const page = Number(new URL(request.url).searchParams.get("page") ?? "1");
    const link = page < 3 ? `<?page=${page + 1}>; rel="next";, <?page=3>; rel="last";` : "";
    return Response.json([page], { headers: link === "" ? {} : { link } });
  });
  await using manager = new NetworkAccessManager();
  assert.deepEqual(await collect(manager.paginate<number>(`${server.url}/items`)), [1, 2, 3]);
});

Deno.test("paginate reads a page as UTF-8 JSON whatever its charset, as json() does", async () => {
  const body = new TextEncoder().encode(`["café"]`);
  await using server = serve(() =>
    new Response(body, { headers: { "content-type": "application/json;charset=ISO-8859-1" } })
  );
  await using manager = new NetworkAccessManager();
  assert.deepEqual(await collect(manager.paginate(server.url)), ["café"]);
});

Deno.test("paginate reads a page with no body (204) as no items, and follows its Link", async () => {
  const seen: string[] = [];
  await using server = serve((request) => {
    const path = new URL(request.url).pathname;
    seen.push(path);
    if (path === "/items") {
      return new Response(null, { status: 204, headers: { link: '</more>; rel="next"' } });
    }
    return Response.json(["last"]);
  });
  await using manager = new NetworkAccessManager();
  assert.deepEqual(await collect(manager.paginate<string>(`${server.url}/items`)), ["last"]);
  assert.deepEqual(seen, ["/items", "/more"]);
});

Deno.test("paginate fails a page that is a byte order mark alone: it is no JSON array", async () => {
  await using server = serve(() =>
    new Response(Uint8Array.of(0xef, 0xbb, 0xbf), {
      headers: { "content-type": "application/json" },
    })
  );
  await using manager = new NetworkAccessManager();
  await assert.rejects(collect(manager.paginate(server.url)), {
    name: "InvalidJsonError",
    message: /Unexpected end of JSON input/,
  });
});

Deno.test("paginate with custom items and next", async () => {
  await using server = serve((request) => {
    const cursor = new URL(request.url).searchParams.get("after");
    if (cursor === null) return Response.json({ data: [1, 2], more: "2" });
    if (cursor === "2") return Response.json({ data: [3], more: "3" });
    return Response.json({ data: [], more: null });
  });
  await using manager = new NetworkAccessManager();
  const bodies = new WeakMap<object, { data: number[]; more: string | null }>();
  const pages: number[] = [];
  const nextItems: number[][] = [];
  const items = await collect(manager.paginate<number>(`${server.url}/list`, {
    items: async (reply, page) => {
      pages.push(page);
      const body = await reply.json() as { data: number[]; more: string | null };
      bodies.set(reply, body);
      return body.data;
    },
    next: (reply, pageItems) => {
      nextItems.push(pageItems);
      const more = bodies.get(reply)!.more;
      return more === null ? undefined : `list?after=${more}`; // relative to the page's URL
    },
  }));
  assert.deepEqual(items, [1, 2, 3]);
  assert.deepEqual(pages, [1, 2, 3]);
  assert.deepEqual(nextItems, [[1, 2], [3], []]);
});

Deno.test("paginate ends with the reply's error when a middle page fails", async (t) => {
  await t.step("an HTTP error status", async () => {
    const { server, seen } = pagedServer(
      3,
      (page) => page === 2 ? Response.json({ error: "boom" }, { status: 500 }) : null,
    );
    await using _ = server;
    await using manager = new NetworkAccessManager();
    const { items, error } = await collectUntilError(manager.paginate(`${server.url}/items`));
    assert.deepEqual(items, ["1a", "1b"]);
    assert.ok(error instanceof NetworkReplyError, String(error));
    assert.equal(error.code, NetworkError.InternalServerError);
    assert.match(error.message, /500 Internal Server Error/);
    assert.equal(error.reply?.status, 500);
    assert.deepEqual(seen.map((s) => s.page), [1, 2], "the third page was not requested");
  });

  await t.step("a failed array page yields none of its items", async () => {
    const { server } = pagedServer(
      3,
      (page) => page === 2 ? Response.json(["bad"], { status: 404 }) : null,
    );
    await using _ = server;
    await using manager = new NetworkAccessManager();
    const { items, error } = await collectUntilError(manager.paginate(`${server.url}/items`));
    assert.deepEqual(items, ["1a", "1b"]);
    assert.ok(error instanceof NetworkReplyError);
    assert.equal(error.code, NetworkError.ContentNotFoundError);
  });

  for (
    const [name, items] of [
      ["an array", (_reply: unknown, page: number) => [`${page}x`]],
      [
        "a promise of an array, the body unread",
        (_reply: unknown, page: number) => Promise.resolve([`${page}x`]),
      ],
    ] as const
  ) {
    await t.step(`items returning ${name} yields none of a failed page's`, async () => {
      await using manager = new NetworkAccessManager({
        transport: ({ url }) =>
          Promise.resolve(
            url.pathname === "/p1"
              ? new Response("[1]", { headers: { link: "</p2>; rel=next" } })
              : Response.json({ error: "gone" }, { status: 404 }),
          ),
      });
      const { items: got, error } = await collectUntilError(
        manager.paginate("https://api.example.com/p1", { items }),
      );
      assert.deepEqual(got, ["1x"]);
      assert.ok(error instanceof NetworkReplyError, String(error));
      assert.equal(error.code, NetworkError.ContentNotFoundError);
    });
  }

  await t.step("a transfer that breaks", async () => {
    const { server } = pagedServer(3, (page) => page === 2 ? breaksAfter('["2a",', 0) : null);
    await using _ = server;
    await using manager = new NetworkAccessManager();
    const error = await collect(manager.paginate(`${server.url}/items`)).catch((e) => e);
    assert.ok(error instanceof NetworkReplyError, String(error));
    assert.equal(error.code, NetworkError.RemoteHostClosedError);
  });

  await t.step("a streamed page yields what it streamed, then throws", async () => {
    const { server } = pagedServer(3, (page) => page === 2 ? breaksAfter("2a\n2b\n", 20) : null);
    await using _ = server;
    await using manager = new NetworkAccessManager();
    async function* lines(reply: AsyncIterable<Uint8Array>) {
      const text = new TextDecoder();
      let buffered = "";
      for await (const chunk of reply) {
        buffered += text.decode(chunk, { stream: true });
        const parts = buffered.split("\n");
        buffered = parts.pop()!;
        yield* parts;
      }
    }
    const { items, error } = await collectUntilError(manager.paginate<string>(
      `${server.url}/items`,
      { items: (reply, page) => page === 2 ? lines(reply) : reply.json() as Promise<string[]> },
    ));
    assert.deepEqual(items, ["1a", "1b", "2a", "2b"]);
    assert.ok(error instanceof NetworkReplyError, String(error));
    assert.equal(error.code, NetworkError.RemoteHostClosedError);
  });

  await t.step("a page that is not an array says so", async () => {
    const { server } = pagedServer(3, (page) => page === 2 ? Response.json({ items: [] }) : null);
    await using _ = server;
    await using manager = new NetworkAccessManager();
    const error = await collect(manager.paginate(`${server.url}/items`)).catch((e) => e);
    assert.ok(error instanceof TypeError);
    assert.match(error.message, /page at .*page=2 is a JSON object, not an array: pass 'items'/);
  });
});

Deno.test("paginate's error for a page with an HTTP error status quotes the body the API sent", async (t) => {
  const token = "tok-4f9a2c";
  const reason = (request: Request) =>
    Response.json({
      message: "Bearer token rate limit exceeded",
      echo: request.headers.get("authorization"),
      token,
    }, {
      status: 403,
    });
  await t.step("its reason, with the request's credentials masked", async () => {
    const { server } = pagedServer(3, (page, request) => page === 2 ? reason(request) : null);
    await using _ = server;
    await using manager = new NetworkAccessManager();
    const api = new NetworkRequestFactory(server.url, { bearerToken: token });
    const { items, error } = await collectUntilError(manager.paginate(api.createRequest("items")));
    assert.deepEqual(items, ["1a", "1b"]);
    assert.ok(error instanceof NetworkReplyError, String(error));
    assert.equal(error.code, NetworkError.ContentAccessDenied);
    assert.equal(
      error.message,
      `${error.reply!.errorString}; its body: ` +
        `{"message":"Bearer token rate limit exceeded","echo":"[redacted]","token":"[redacted]"}`,
    );
    assert.ok(!error.message.includes(token));
  });
  await t.step("the start of a long body, on one line", async () => {
    const page = `<html>\n<body>${"x".repeat(500)}</body>\n</html>`;
    const { server } = pagedServer(1, () => new Response(page, { status: 502 }));
    await using _ = server;
    await using manager = new NetworkAccessManager();
    const error = await collect(manager.paginate(`${server.url}/items`)).catch((e) => e);
    assert.ok(error instanceof NetworkReplyError, String(error));
    assert.equal(error.code, NetworkError.UnknownServerError);
    assert.match(error.message, /502 Bad Gateway; its body begins: <html> <body>x{187}\.\.\.$/);
  });
});

Deno.test("paginate: break mid-page aborts the page in flight and requests no more", async (t) => {
  await t.step("a streamed page", async () => {
    let cancelled = false;
    let release!: () => void;
    const stalled = new Promise<void>((resolve) => (release = resolve));
    const { server, seen } = pagedServer(3, (page) => {
      if (page !== 2) return null;
      return new Response(
        new ReadableStream<Uint8Array>({
          async start(controller) {
            controller.enqueue(new TextEncoder().encode("2a\n2b\n"));
            await stalled; // the rest of the page never comes
            controller.close();
          },
          cancel() {
            cancelled = true;
            release();
          },
        }),
        { headers: { link: `</items?page=3>; rel="next"` } },
      );
    });
    await using _ = server;
    await using manager = new NetworkAccessManager();
    const replies: { isFinished: boolean; error: number }[] = [];
    async function* lines(
      reply: AsyncIterable<Uint8Array> & { isFinished: boolean; error: number },
    ) {
      replies.push(reply);
      const decoder = new TextDecoder();
      let pending = "";
      for await (const chunk of reply) {
        pending += decoder.decode(chunk, { stream: true });
        const parts = pending.split("\n");
        pending = parts.pop()!;
        yield* parts;
      }
    }
    const got: string[] = [];
    for await (
      const item of manager.paginate<string>(`${server.url}/items`, {
        items: (reply, page) => page === 1 ? reply.json() as Promise<string[]> : lines(reply),
      })
    ) {
      got.push(item);
      if (item === "2a") break;
    }
    assert.deepEqual(got, ["1a", "1b", "2a"]);
    const inFlight = replies[0]!;
    assert.equal(inFlight.isFinished, true);
    assert.equal(inFlight.error, NetworkError.OperationCanceledError);
    for (let i = 0; i < 500 && !cancelled; i++) await new Promise((r) => setTimeout(r, 10));
    release();
    assert.ok(cancelled, "the server saw the page's transfer end");
    assert.deepEqual(seen.map((s) => s.page), [1, 2]);
  });

  await t.step("a whole page", async () => {
    const { server, seen } = pagedServer(3);
    await using _ = server;
    await using manager = new NetworkAccessManager();
    for await (const item of manager.paginate(`${server.url}/items`)) {
      if (item === "2a") break;
    }
    assert.deepEqual(seen.map((s) => s.page), [1, 2]);
    assert.equal(manager.runningReplies.length, 0);
  });
});

Deno.test("paginate: limit and maxPages", async (t) => {
  const { server, seen } = pagedServer(5);
  await using _ = server;
  await using manager = new NetworkAccessManager();
  await t.step("limit stops mid-page and requests no further page", async () => {
    seen.length = 0;
    const items = await collect(manager.paginate(`${server.url}/items`, { limit: 3 }));
    assert.deepEqual(items, ["1a", "1b", "2a"]);
    assert.deepEqual(seen.map((s) => s.page), [1, 2]);
  });
  await t.step("limit at a page's end requests no further page", async () => {
    seen.length = 0;
    const items = await collect(manager.paginate(`${server.url}/items`, { limit: 4 }));
    assert.equal(items.length, 4);
    assert.deepEqual(seen.map((s) => s.page), [1, 2]);
  });
  await t.step("maxPages", async () => {
    seen.length = 0;
    const items = await collect(manager.paginate(`${server.url}/items`, { maxPages: 2 }));
    assert.deepEqual(items, ["1a", "1b", "2a", "2b"]);
    assert.deepEqual(seen.map((s) => s.page), [1, 2]);
  });
  await t.step("limit 0 sends nothing", async () => {
    seen.length = 0;
    assert.deepEqual(await collect(manager.paginate(`${server.url}/items`, { limit: 0 })), []);
    assert.equal(seen.length, 0);
  });
});

Deno.test("paginate sends every page through the pipeline: cookies, auth, retry, cache", async () => {
  let page2Attempts = 0;
  const { server, seen } = pagedServer(3, (page, request) => {
    if (page === 1) {
      return Response.json(["1a"], {
        headers: { link: `</items?page=2>; rel="next"`, "set-cookie": "session=s1" },
      });
    }
    if (page === 2 && request.headers.get("authorization") !== `Basic ${btoa("me:pw")}`) {
      return new Response(null, {
        status: 401,
        headers: { "www-authenticate": 'Basic realm="r"' },
      });
    }
    if (page === 2 && ++page2Attempts === 1) return new Response(null, { status: 503 });
    if (page === 3) {
      return Response.json([request.headers.get("cookie")], {
        headers: { "cache-control": "max-age=600" },
      });
    }
    return null;
  });
  await using _ = server;
  let challenges = 0;
  await using manager = new NetworkAccessManager({
    cache: new MemoryCache(),
    retry: { limit: 1, delay: 1 },
    authenticator: () => (challenges++, { username: "me", password: "pw" }),
  });
  const first = await collect(manager.paginate(`${server.url}/items`));
  assert.deepEqual(first, ["1a", "2a", "2b", "session=s1"]);
  assert.equal(challenges, 1, "page 2 was authenticated");
  assert.equal(page2Attempts, 2, "page 2 was retried");
  seen.length = 0;
  const again = await collect(manager.paginate(`${server.url}/items?page=3`));
  assert.deepEqual(again, ["session=s1"]);
  assert.equal(seen.length, 0, "page 3 came from the cache");
});

Deno.test("paginate stops at a Link that points to the same page", async () => {
  const { server, seen } = pagedServer(
    1,
    (_page, request) => Response.json(["x"], { headers: { link: `<${request.url}>; rel="next"` } }),
  );
  await using _ = server;
  await using manager = new NetworkAccessManager();
  assert.deepEqual(await collect(manager.paginate(`${server.url}/items`)), ["x"]);
  assert.equal(seen.length, 1);
});

Deno.test("paginate ends at a Link back to any page it walked, not only the same page", async (t) => {
  // /a -> /b -> /a: the second link to /a ends the walk, with or without a fragment.
  for (const [name, toB, toA] of [["plain", "/b", "/a"], ["with fragments", "/b#list", "/a#top"]]) {
    await t.step(name!, async () => {
      const asked: string[] = [];
      await using server = serve((request) => {
        const path = new URL(request.url).pathname;
        asked.push(path);
        const next = path === "/a" ? toB : toA;
        return Response.json([path], { headers: { link: `<${next}>; rel="next"` } });
      });
      await using manager = new NetworkAccessManager();
      assert.deepEqual(await collect(manager.paginate(`${server.url}/a`, { maxPages: 10 })), [
        "/a",
        "/b",
      ]);
      assert.deepEqual(asked, ["/a", "/b"]);
    });
  }
});

Deno.test("paginate fails at a Link rel=next to a file: or data: URL, reading nothing", async (t) => {
  const dir = await Deno.makeTempDir();
  const secret = `${dir}/secret.json`;
  await Deno.writeTextFile(secret, JSON.stringify(["from disk"]));
  try {
    for (
      const [scheme, target] of [
        ["file:", new URL(`file://${secret}`).href],
        ["data:", `data:application/json,["injected"]`],
      ] as const
    ) {
      await t.step(scheme, async () => {
        await using server = serve(() =>
          Response.json(["page 1"], { headers: { link: `<${target}>; rel="next"` } })
        );
        await using manager = new NetworkAccessManager();
        const { items, error } = await collectUntilError(manager.paginate(`${server.url}/list`));
        assert.deepEqual(items, ["page 1"], "nothing from the link's target");
        assert.ok(error instanceof NetworkReplyError, String(error));
        assert.equal(error.code, NetworkError.ProtocolUnknownError);
        assert.match(error.message, new RegExp(`points to a ${scheme} URL`));
        assert.match(error.message, /only http and https pages are followed/);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("paginate sends a next page on another origin without the credentials a redirect drops", async (t) => {
  /** What each request arrived with: path and the headers a cross-origin hop must not carry. */
  type Seen = {
    path: string;
    authorization: string | null;
    cookie: string | null;
    key: string | null;
  };
  const seenOn = (seen: Seen[]) => (request: Request) => {
    seen.push({
      path: new URL(request.url).pathname + new URL(request.url).search,
      authorization: request.headers.get("authorization"),
      cookie: request.headers.get("cookie"),
      key: request.headers.get("x-api-key"),
    });
  };
  const other: Seen[] = [];
  // Another port on 127.0.0.1 is another origin. Its page 2 links to its page 3.
  await using away = serve((request) => {
    seenOn(other)(request);
    const page = new URL(request.url).searchParams.get("page");
    return Response.json([`away${page}`], {
      headers: page === "2" ? { link: `</v1/items?page=3>; rel="next"` } : {},
    });
  });
  const home: Seen[] = [];
  await using server = serve((request) => {
    seenOn(home)(request);
    const url = new URL(request.url);
    if (url.pathname === "/v1/redirect") {
      return new Response(null, { status: 302, headers: { location: `${away.url}/v1/r` } });
    }
    const page = url.searchParams.get("page") ?? "1";
    const next = url.searchParams.get("next")!;
    return Response.json([`home${page}`], {
      headers: page === "1" ? { link: `<${next}>; rel="next"` } : {},
    });
  });
  const api = new NetworkRequestFactory(`${server.url}/v1/`, {
    bearerToken: "SECRET",
    headers: { cookie: "session=1", "x-api-key": "k" },
    requestInit: { sensitiveHeaders: ["X-Api-Key"] },
  });
  await using manager = new NetworkAccessManager();

  await t.step("a Link to another origin: none of them, on that page and the next", async () => {
    const next = `${away.url}/v1/items?page=2`;
    const items = await collect(manager.paginate(api.createRequest("items", { next })));
    assert.deepEqual(items, ["home1", "away2", "away3"]);
    assert.equal(home[0]!.authorization, "Bearer SECRET");
    assert.deepEqual(other.map((s) => [s.path, s.authorization, s.cookie, s.key]), [
      ["/v1/items?page=2", null, null, null],
      ["/v1/items?page=3", null, null, null],
    ]);
  });

  await t.step("the same headers as a redirect to that origin drops", async () => {
    other.length = 0;
    await manager.get(api.createRequest("redirect")).bytes();
    assert.deepEqual(other.map((s) => [s.path, s.authorization, s.cookie, s.key]), [
      ["/v1/r", null, null, null],
    ]);
  });

  await t.step("a next page on the same origin keeps them", async () => {
    home.length = 0;
    const next = `${server.url}/v1/items?page=2`;
    const items = await collect(manager.paginate(api.createRequest("items", { next })));
    assert.deepEqual(items, ["home1", "home2"]);
    assert.deepEqual(home.map((s) => [s.authorization, s.cookie, s.key]), [
      ["Bearer SECRET", "session=1", "k"],
      ["Bearer SECRET", "session=1", "k"],
    ]);
  });

  await t.step("a URL from the caller's next: the same rule", async () => {
    other.length = 0;
    const items = await collect(manager.paginate(api.createRequest("items", { next: "x" }), {
      next: (reply) => reply.url.origin === server.url ? `${away.url}/v1/items?page=3` : undefined,
    }));
    assert.deepEqual(items, ["home1", "away3"]);
    assert.deepEqual(other.map((s) => [s.authorization, s.cookie, s.key]), [[null, null, null]]);
  });
});

Deno.test("paginate: items that returns no iterable fails with a clear error", async () => {
  const { server } = pagedServer(1);
  await using _ = server;
  await using manager = new NetworkAccessManager();
  const error = await collect(
    manager.paginate(`${server.url}/items`, {
      items: async (reply) => await reply.json() as never,
    }),
  ).then(() => null, (e) => e);
  assert.equal(error, null, "an array is fine");
  const bad = await collect(
    manager.paginate(`${server.url}/items`, { items: () => ({ length: 2 }) as never }),
  ).catch((e) => e);
  assert.ok(bad instanceof TypeError);
  assert.match(bad.message, /'items' must return an iterable .* got an object for the page at/);
});

Deno.test("paginate checks its options at once", () => {
  const manager = new NetworkAccessManager();
  assert.throws(() => manager.paginate("https://example.com/", { limit: -1 }), RangeError);
  assert.throws(
    () => manager.paginate("https://example.com/", { maxPages: 1.5 }),
    /Cannot paginate: 'maxPages' must be a non-negative integer, got 1.5/,
  );
  assert.throws(
    () => manager.paginate("https://example.com/", { next: "x" as never }),
    /Cannot paginate: 'next' must be a function, got "x"$/,
  );
  for (const [options, shown] of [[[], "an array"], [null, "null"], ["all", '"all"']]) {
    assert.throws(() => manager.paginate("https://example.com/", options as never), {
      name: "TypeError",
      message: `Cannot paginate: 'options' must be an object, got ${shown}`,
    });
  }
  void manager.close();
});

Deno.test("paginate: an invalid first URL ends the iteration with the reply's error", async () => {
  await using manager = new NetworkAccessManager();
  const error = await collect(manager.paginate("not a url")).catch((e) => e);
  assert.ok(error instanceof NetworkReplyError, String(error));
  assert.equal(error.code, NetworkError.ProtocolUnknownError);
});
