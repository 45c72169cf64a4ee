import assert from "node:assert/strict";
import { NetworkAccessManager, NetworkError, NetworkReplyError, NetworkRequest } from "../mod.ts";
import { serve } from "./_helpers/server.ts";

const encoder = new TextEncoder();
const SSE = { "content-type": "text/event-stream" };

/** A server whose streams send `first` and stay open; counts the streams cancelled. */
function quietServer(first = "data: one\n\n") {
  const state = { cancelled: 0, requests: [] as Headers[] };
  const server = serve((request) => {
    state.requests.push(new Headers(request.headers));
    return new Response(
      new ReadableStream({
        start: (controller) => controller.enqueue(encoder.encode(first)),
        cancel: () => void state.cancelled++,
      }),
      { headers: SSE },
    );
  });
  return { server, state };
}

/** What `promise` settles to, or "still waiting" after a second. */
async function within<T>(promise: Promise<T>): Promise<T | "still waiting"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"still waiting">((r) =>
    timer = setTimeout(() => r("still waiting"), 1000)
  );
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(check: () => boolean, ms = 2000): Promise<void> {
  const end = performance.now() + ms;
  while (!check() && performance.now() < end) await new Promise((r) => setTimeout(r, 10));
}

Deno.test("events(): return() while next() waits aborts the reply at once", async () => {
  const { server, state } = quietServer();
  await using _ = server;
  await using manager = new NetworkAccessManager();
  const reply = manager.get(server.url);
  const events = reply.events();
  assert.equal((await events.next()).value?.data, "one");
  const pending = events.next();
  const settled = pending.then(() => "resolved", (error) => error);
  await new Promise((r) => setTimeout(r, 50));
  const closed = await within(events.return().then(() => "returned"));
  assert.equal(closed, "returned");
  const error = await settled;
  assert.ok(error instanceof NetworkReplyError);
  assert.equal(error.code, NetworkError.OperationCanceledError);
  assert.equal(reply.error, NetworkError.OperationCanceledError);
  await until(() => state.cancelled === 1);
  assert.equal(state.cancelled, 1);
});

Deno.test("events(): cancelling ReadableStream.from(events()) closes a quiet stream", async () => {
  const { server, state } = quietServer();
  await using _ = server;
  await using manager = new NetworkAccessManager();
  const reply = manager.get(server.url);
  const reader = ReadableStream.from(reply.events()).getReader();
  assert.equal((await reader.read()).value?.data, "one");
  const read = reader.read().catch(() => {});
  await new Promise((r) => setTimeout(r, 50));
  const cancelled = await within(reader.cancel().then(() => "cancelled"));
  await read;
  assert.equal(cancelled, "cancelled");
  assert.equal(reply.error, NetworkError.OperationCanceledError);
  await until(() => state.cancelled === 1);
  assert.equal(state.cancelled, 1);
});

Deno.test("eventStream: return() while next() waits closes the connection quietly", async () => {
  const { server, state } = quietServer();
  await using _ = server;
  await using manager = new NetworkAccessManager();
  const stream = manager.eventStream(server.url);
  assert.equal((await stream.next()).value?.data, "one");
  const pending = stream.next();
  await new Promise((r) => setTimeout(r, 50));
  const closed = await within(stream.return().then(() => "returned"));
  assert.equal(closed, "returned");
  assert.deepEqual(await pending, { value: undefined, done: true });
  await until(() => state.cancelled === 1);
  assert.equal(state.cancelled, 1);
  assert.equal(state.requests.length, 1);
});

Deno.test("eventStream: an ID no header can carry is kept, and not sent", async () => {
  const bodies = ["id: a\x01b\ndata: 1\n\n", "data: 2\n\n"];
  const sent: (string | null)[] = [];
  const server = serve((request) => {
    sent.push(request.headers.get("last-event-id"));
    const body = bodies[sent.length - 1];
    return body === undefined
      ? new Response(null, { status: 204 })
      : new Response(body, { headers: SSE });
  });
  await using _ = server;
  await using manager = new NetworkAccessManager();
  const events = [];
  for await (const event of manager.eventStream(server.url, { reconnectionTime: 5 })) {
    events.push([event.data, event.lastEventId]);
  }
  assert.deepEqual(events, [["1", "a\x01b"], ["2", "a\x01b"]]);
  assert.deepEqual(sent, [null, null, null]);
});

Deno.test("eventStream: a lastEventId with a control character throws naming it", async () => {
  await using manager = new NetworkAccessManager();
  for (const id of ["a\x01b", "\x7f", "a\nb", "\0"]) {
    assert.throws(
      () => manager.eventStream("http://127.0.0.1:9/", { lastEventId: id }),
      (error: Error) => error instanceof TypeError && error.message.includes("'lastEventId'"),
    );
  }
  // TAB is a header value's own.
  manager.eventStream("http://127.0.0.1:9/", { lastEventId: "a\tb" });
});

Deno.test("eventStream: asks for text/event-stream whatever Accept the request has", async () => {
  const accepts: (string | null)[] = [];
  const server = serve((request) => {
    accepts.push(request.headers.get("accept"));
    return accepts.length === 1
      ? new Response("data: x\n\n", { headers: SSE })
      : new Response(null, { status: 204 });
  });
  await using _ = server;
  await using manager = new NetworkAccessManager();
  const request = new NetworkRequest(server.url, { headers: { accept: "application/json" } });
  const data = [];
  for await (const event of manager.eventStream(request, { reconnectionTime: 5 })) {
    data.push(event.data);
  }
  assert.deepEqual(data, ["x"]);
  assert.deepEqual(accepts, ["text/event-stream", "text/event-stream"]);
});
