import assert from "node:assert/strict";
import { NetworkAccessManager, NetworkReply, NetworkRequest } from "../../mod.ts";
import { RunningReplies } from "../../src/reply/_running.ts";

const reply = (path: string) =>
  new NetworkReply(new NetworkRequest(`https://example.com/${path}`), "get", "GET");

Deno.test("RunningReplies keeps replies in the order they were added, and removes any of them", () => {
  const list = new RunningReplies();
  const [a, b, c, d] = ["a", "b", "c", "d"].map(reply);
  for (const r of [a, b, c, d]) list.add(r!);
  const paths = () => list.toArray().map((r) => r.request.url.pathname);
  assert.deepEqual(paths(), ["/a", "/b", "/c", "/d"]);
  list.delete(b!); // from the middle
  assert.deepEqual(paths(), ["/a", "/c", "/d"]);
  list.delete(a!); // the first
  list.delete(d!); // the last
  assert.deepEqual(paths(), ["/c"]);
  list.delete(d!); // not in the list any more: nothing happens
  const other = new RunningReplies();
  other.delete(c!); // in another list: nothing happens
  assert.deepEqual(paths(), ["/c"]);
  list.delete(c!);
  assert.deepEqual(paths(), []);
  list.add(a!); // added again after it left
  assert.deepEqual(paths(), ["/a"]);
});

Deno.test("A manager's runningReplies lists the replies under way in the order they started", async () => {
  const waiting: (() => void)[] = [];
  await using manager = new NetworkAccessManager({
    transport: () =>
      new Promise<Response>((resolve) => waiting.push(() => resolve(new Response("done")))),
  });
  const replies = ["/1", "/2", "/3"].map((path) => manager.get(`https://example.com${path}`));
  assert.deepEqual(manager.runningReplies, replies);
  while (waiting.length < 3) await new Promise((resolve) => setTimeout(resolve, 1));
  waiting[1]!();
  await replies[1]!.finished;
  assert.deepEqual(manager.runningReplies, [replies[0], replies[2]]);
  waiting[0]!();
  waiting[2]!();
  await Promise.all(replies.map((r) => r.finished));
  assert.deepEqual(manager.runningReplies, []);
});
