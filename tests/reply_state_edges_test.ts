import assert from "node:assert/strict";
import { NetworkAccessManager, NetworkError } from "../mod.ts";
import { serve } from "./_helpers/server.ts";

Deno.test("a header value with a control character fails with 302 naming the header", async () => {
  const server = serve(() => new Response("ok"));
  await using _ = server;
  await using manager = new NetworkAccessManager();
  for (const [value, code] of [["a\x01b", "U+0001"], ["a\x7fb", "U+007F"]] as const) {
    const reply = manager.get(server.url, { headers: { "x-tag": value } });
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolInvalidOperationError);
    assert.match(reply.errorString, /invalid header "x-tag"/);
    assert.ok(reply.errorString.includes(code), reply.errorString);
  }
  const secret = manager.get(server.url, { headers: { authorization: "Bearer a\x01b" } });
  await secret.finished;
  assert.equal(secret.error, NetworkError.ProtocolInvalidOperationError);
  assert.match(secret.errorString, /"authorization".*not shown/);
  assert.ok(!secret.errorString.includes("Bearer"));
  // TAB is allowed.
  assert.equal(await manager.get(server.url, { headers: { "x-tag": "a\tb" } }).text(), "ok");
});

Deno.test("the reply is finished from its finished event on, not in error or the last downloadprogress", async () => {
  const server = serve((request) => {
    const path = new URL(request.url).pathname;
    if (path === "/known") return new Response("abcd");
    if (path === "/404") return new Response("no", { status: 404 });
    return new Response(ReadableStream.from([new TextEncoder().encode("abcd")]));
  });
  await using _ = server;
  await using manager = new NetworkAccessManager();
  for (const path of ["/known", "/unknown", "/404"]) {
    const reply = manager.get(new URL(path, server.url));
    const seen: string[] = [];
    const state = () => `${reply.isFinished}/${reply.isRunning}`;
    reply.addEventListener("error", () => seen.push(`error ${state()}`));
    reply.addEventListener(
      "downloadprogress",
      (e) => seen.push(`${e.loaded}/${e.total} ${state()}`),
    );
    reply.addEventListener("finished", () => seen.push(`finished ${state()}`));
    await reply.bytes();
    const length = path === "/404" ? 2 : 4;
    // Every framing: the last progress and the error see it running, `finished` finished.
    assert.equal(seen.at(-1), "finished true/false", path);
    assert.ok(seen.includes(`${length}/${length} false/true`), `${path}: ${seen}`);
    assert.ok(seen.slice(0, -1).every((s) => s.endsWith(" false/true")), `${path}: ${seen}`);
    if (path === "/404") assert.ok(seen.includes("error false/true"), `${path}: ${seen}`);
  }
});
