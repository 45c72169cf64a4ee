import assert from "node:assert/strict";
import { NetworkAccessManager, NetworkRequest } from "../../mod.ts";
import { serve } from "../_helpers/server.ts";

/** A loopback server: /start redirects with `?status=` to /end; it records every request. */
function startServer() {
  const seen: string[] = [];
  const server = serve(async (request) => {
    const url = new URL(request.url);
    const body = await request.text();
    seen.push(`${request.method} ${url.pathname} ${body} ${request.headers.get("content-type")}`);
    if (url.pathname !== "/start") return new Response("end");
    return new Response(null, {
      status: Number(url.searchParams.get("status")),
      headers: { location: "/end" },
    });
  });
  return Object.assign(server, { seen });
}

Deno.test("postRedirects keeps a POST and its body after the redirects it names", async (t) => {
  await using server = startServer();
  await using manager = new NetworkAccessManager();
  const type = "text/plain;charset=UTF-8";
  for (const status of [301, 302, 303]) {
    await t.step(`${status}`, async () => {
      const url = `${server.url}/start?status=${status}`;
      const kept = manager.post(url, "a=1", { postRedirects: [status] });
      assert.equal(await kept.text(), "end");
      assert.deepEqual(server.seen.splice(0), [`POST /start a=1 ${type}`, `POST /end a=1 ${type}`]);
      const other = manager.post(url, "a=1", {
        postRedirects: [301, 302, 303].filter((s) => s !== status),
      });
      assert.equal(await other.text(), "end");
      assert.deepEqual(server.seen.splice(0), [`POST /start a=1 ${type}`, "GET /end  null"]);
    });
  }
  await t.step("a 303 of another method still becomes a GET", async () => {
    const reply = manager.put(`${server.url}/start?status=303`, "a=1", { postRedirects: [303] });
    await reply.finished;
    assert.deepEqual(server.seen.splice(0).map((s) => s.split(" ")[0]), ["PUT", "GET"]);
  });
});

Deno.test("keepRedirectMethod sends the method again on every hop, its body dropped where a GET would be", async (t) => {
  await using server = startServer();
  await using manager = new NetworkAccessManager();
  const cases: [number, string, string, string][] = [
    [301, "POST", "POST /end  null", "the method, not the body"],
    [302, "POST", "POST /end  null", "the method, not the body"],
    [303, "POST", "POST /end  null", "the method, not the body"],
    [303, "PUT", "PUT /end  null", "the method, not the body"],
    [307, "POST", "POST /end a=1 text/plain;charset=UTF-8", "both, as without it"],
  ];
  for (const [status, method, last, what] of cases) {
    await t.step(`${status} ${method}: ${what}`, async () => {
      const request = new NetworkRequest(`${server.url}/start?status=${status}`, {
        keepRedirectMethod: true,
      });
      const reply = manager.sendCustomRequest(request, method, "a=1");
      assert.equal(await reply.text(), "end");
      assert.deepEqual(server.seen.splice(0).at(-1), last);
    });
  }
  await t.step("with postRedirects, a POST keeps its body too", async () => {
    const reply = manager.post(`${server.url}/start?status=302`, "a=1", {
      keepRedirectMethod: true,
      postRedirects: [302],
    });
    await reply.finished;
    assert.equal(server.seen.splice(0).at(-1), "POST /end a=1 text/plain;charset=UTF-8");
  });
});

Deno.test("postRedirects and keepRedirectMethod are checked and cloned", () => {
  assert.throws(
    () => new NetworkRequest("https://example.com/", { postRedirects: 302 as never }),
    /^TypeError: Cannot create request: 'postRedirects' must be an array of 301, 302 and 303, got 302$/,
  );
  assert.throws(
    () => new NetworkRequest("https://example.com/", { postRedirects: [302, 307] }),
    /^RangeError: Cannot create request: 'postRedirects\[1\]' must be 301, 302 or 303, got 307$/,
  );
  assert.throws(
    // @ts-expect-error: not a boolean
    () => new NetworkRequest("https://example.com/", { keepRedirectMethod: "yes" }),
    /^TypeError: Cannot create request: 'keepRedirectMethod' must be a boolean, got /,
  );
  const request = new NetworkRequest("https://example.com/", {
    postRedirects: [301],
    keepRedirectMethod: true,
  });
  const copy = request.clone();
  assert.deepEqual(copy.postRedirects, [301]);
  assert.equal(copy.keepRedirectMethod, true);
  assert.equal(new NetworkRequest("https://example.com/").keepRedirectMethod, false);
});
