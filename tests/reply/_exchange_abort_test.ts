import assert from "node:assert/strict";
import { ExchangeAbort } from "../../src/reply/_exchange_abort.ts";
import { HostQueue } from "../../mod.ts";
import { countAbortControllers } from "../_helpers/abort_controllers.ts";

Deno.test("ExchangeAbort makes its signal on first read, aborted at once when it aborted before", async () => {
  const abort = new ExchangeAbort();
  const made = await countAbortControllers(() => {
    abort.abort(undefined, "Operation canceled");
  });
  assert.equal(made, 0);
  assert.equal(abort.aborted, true);
  const reason = abort.reason as DOMException;
  assert.ok(reason instanceof DOMException);
  assert.equal(reason.name, "AbortError");
  assert.equal(reason.message, "Operation canceled");
  assert.equal(abort.reason, reason, "one reason, made once");
  const signal = abort.signal;
  assert.equal(signal.aborted, true);
  assert.equal(signal.reason, reason);
  assert.equal(abort.signal, signal, "one signal");
});

Deno.test("ExchangeAbort aborts a signal already made, once, with the reason given", () => {
  const abort = new ExchangeAbort();
  const signal = abort.signal;
  const seen: unknown[] = [];
  signal.addEventListener("abort", () => seen.push(signal.reason));
  const given = new DOMException("timed out", "TimeoutError");
  abort.abort(given);
  abort.abort(undefined, "again");
  assert.deepEqual(seen, [given]);
  assert.equal(abort.reason, given);
});

Deno.test("ExchangeAbort calls each abort listener object once; a removed one is not called", () => {
  const abort = new ExchangeAbort();
  const calls: string[] = [];
  const listener = (name: string): EventListenerObject => ({
    handleEvent: (event) => calls.push(`${name} ${event.type}`),
  });
  const a = listener("a"), b = listener("b"), c = listener("c");
  abort.addEventListener("abort", a);
  abort.addEventListener("abort", b);
  abort.addEventListener("abort", c);
  abort.removeEventListener("abort", a);
  abort.removeEventListener("abort", c);
  abort.abort(undefined, "gone");
  abort.abort(undefined, "gone");
  assert.deepEqual(calls, ["b abort"]);
});

Deno.test("A HostQueue waiter on an ExchangeAbort leaves the queue when it aborts, with its reason", async () => {
  const queue = new HostQueue(() => 1);
  const release = await queue.acquire("http://a.test", "normal", new ExchangeAbort());
  const abort = new ExchangeAbort();
  const waiting = queue.acquire("http://a.test", "normal", abort);
  const after = queue.acquire("http://a.test", "normal", new ExchangeAbort());
  assert.equal(queue.waiting("http://a.test"), 2);
  abort.abort(undefined, "Operation canceled");
  await assert.rejects(waiting, (error: DOMException) => error.message === "Operation canceled");
  assert.equal(queue.waiting("http://a.test"), 1);
  release();
  (await after)();
  assert.equal(queue.active("http://a.test"), 0);
});
