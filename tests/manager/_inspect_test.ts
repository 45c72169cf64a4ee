import assert from "node:assert/strict";
import { NetworkAccessManager } from "../../mod.ts";

Deno.test("console.log(manager) shows its replies under way and its settings", async () => {
  await using manager = new NetworkAccessManager({
    transport: () => Promise.resolve(new Response("ok")),
    maxConnectionsPerHost: 2,
    transferTimeout: 500,
    proxy: { type: "http", url: "http://bob:secret@127.0.0.1:3128" },
  });
  const reply = manager.get("https://example.com/");
  const shown = Deno.inspect(manager);
  assert.match(shown, /^NetworkAccessManager \{\s+runningReplies: 1,/);
  for (
    const part of [
      "maxConnectionsPerHost: 2",
      'redirectPolicy: "no-less-safe"',
      "transferTimeout: 500",
      "cache: null",
      'cookieJar: "MemoryCookieJar"',
      'proxy: "http http://127.0.0.1:3128"',
    ]
  ) {
    assert.ok(shown.includes(part), `${part} in ${shown}`);
  }
  assert.ok(!shown.includes("secret"), shown);
  await reply.finished;
  assert.match(Deno.inspect(manager), /runningReplies: 0,/);
});
