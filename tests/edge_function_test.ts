import assert from "node:assert/strict";
import { createEdgeFunction } from "../examples/edge_function.ts";
import {
  closedPort,
  guardUnhandledRejections,
  serve,
  takeUnhandledRejections,
} from "./_helpers/server.ts";

guardUnhandledRejections();

Deno.test("the edge function answers the second call from the shared KV cache, across instances, and keeps cookies per end user", async () => {
  const seen: { city: string | null; cookie: string | null }[] = [];
  await using upstream = serve((request) => {
    const url = new URL(request.url);
    seen.push({ city: url.searchParams.get("city"), cookie: request.headers.get("cookie") });
    return Response.json({ city: url.searchParams.get("city"), forecast: "sun", n: seen.length }, {
      headers: { "cache-control": "max-age=60", "set-cookie": "region=eu; Max-Age=3600" },
    });
  });
  const dir = await Deno.makeTempDir();
  try {
    const kvPath = `${dir}/edge.sqlite3`;
    // Two instances of the function, as two isolates on the edge, on the same KV.
    await using first = await createEdgeFunction({ upstream: upstream.url, kvPath });
    await using second = await createEdgeFunction({ upstream: upstream.url, kvPath });
    await using edgeA = serve(first.handler);
    await using edgeB = serve(second.handler);

    const miss = await fetch(`${edgeA.url}/weather?city=Oslo`);
    assert.equal(miss.headers.get("x-cache"), "MISS");
    assert.deepEqual(await miss.json(), { city: "Oslo", forecast: "sun", n: 1 });

    const hit = await fetch(`${edgeB.url}/weather?city=Oslo`);
    assert.equal(hit.headers.get("x-cache"), "HIT");
    assert.deepEqual(await hit.json(), { city: "Oslo", forecast: "sun", n: 1 });
    assert.equal(seen.length, 1, "the upstream was called once");

    // Cookies are per end user, in every instance.
    const alice = { "x-user-id": "alice" };
    const bob = { "x-user-id": "bob" };
    await (await fetch(`${edgeA.url}/weather?city=Rome`, { headers: alice })).body?.cancel();
    assert.deepEqual(seen[1], { city: "Rome", cookie: null });
    await (await fetch(`${edgeB.url}/weather?city=Paris`, { headers: alice })).body?.cancel();
    assert.deepEqual(seen[2], { city: "Paris", cookie: "region=eu" }, "alice's cookie follows her");
    await (await fetch(`${edgeB.url}/weather?city=Lima`, { headers: bob })).body?.cancel();
    assert.deepEqual(seen[3], { city: "Lima", cookie: null }, "bob never gets alice's cookie");
    await (await fetch(`${edgeA.url}/weather?city=Kyiv`)).body?.cancel();
    assert.deepEqual(seen[4], { city: "Kyiv", cookie: null }, "nor does an anonymous request");

    const notFound = await fetch(`${edgeA.url}/other`);
    assert.equal(notFound.status, 404);
    await notFound.body?.cancel();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("the edge function reports an unreachable upstream as a 502 with the error code", async () => {
  await using edge = await createEdgeFunction({
    upstream: `http://127.0.0.1:${closedPort()}/`,
    kvPath: ":memory:",
  });
  await using server = serve(edge.handler);
  const response = await fetch(`${server.url}/weather?city=Oslo`);
  assert.equal(response.status, 502);
  const body = await response.json() as { code: number; error: string };
  assert.equal(body.code, 1);
  assert.match(body.error, /Connection refused/);
});
