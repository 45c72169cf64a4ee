import assert from "node:assert/strict";
import {
  NetworkAccessManager,
  type NetworkProgressEvent,
  type NetworkReply,
  type NetworkReplyEvent,
} from "../mod.ts";
import { listenedTypes, TypedEventTarget } from "../src/_typed_event_target.ts";

interface PingMap {
  ping: CustomEvent<number>;
}

class Pinger extends TypedEventTarget<PingMap, Pinger> {
  readonly listened = listenedTypes(this);
}

Deno.test("a typed event target records the types listened to, once a listener is added", () => {
  const target = new Pinger();
  assert.equal(target.listened.has("ping"), false);
  const seen: number[] = [];
  const listener = function (this: Pinger, event: CustomEvent<number>) {
    assert.equal(this, target);
    seen.push(event.detail);
  };
  target.addEventListener("ping", listener);
  target.addEventListener("other", null);
  assert.deepEqual([...target.listened], ["ping"]);
  target.dispatchEvent(new CustomEvent("ping", { detail: 1 }));
  target.removeEventListener("ping", listener);
  target.dispatchEvent(new CustomEvent("ping", { detail: 2 }));
  assert.deepEqual(seen, [1]);
});

Deno.test("the manager's and the reply's listeners are typed by their event maps", async () => {
  await using manager = new NetworkAccessManager();
  const finished: NetworkReply[] = [];
  // No casts: a listener's event has its map's type (this line fails type checking otherwise).
  manager.addEventListener("finished", (event: NetworkReplyEvent) => finished.push(event.reply));
  const reply = manager.get("data:text/plain,hello");
  const progress: number[] = [];
  reply.addEventListener("downloadprogress", function (event: NetworkProgressEvent) {
    assert.equal(this, reply);
    progress.push(event.loaded);
  });
  assert.equal(await reply.text(), "hello");
  await reply.finished;
  assert.deepEqual(finished, [reply]);
  assert.equal(progress.at(-1), 5);
});
