import assert from "node:assert/strict";
import { NetworkAccessManager, NetworkError } from "../../mod.ts";
import { MockTransport, RequestRecorder } from "../../testing.ts";

/** A request body stream that sends one byte, then waits until it is cancelled. */
function stalledBody(): { body: ReadableStream<Uint8Array>; cancelled: Promise<unknown> } {
  let release = () => {};
  let cancelled!: (reason: unknown) => void;
  const done = new Promise<unknown>((resolve) => cancelled = resolve);
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(new Uint8Array([1]));
      return new Promise<void>((resolve) => release = resolve);
    },
    cancel(reason) {
      cancelled(reason);
      release();
    },
  });
  return { body, cancelled: done };
}

const answers = {
  "a route with a body matcher": (mock: MockTransport) =>
    mock.route("POST", "/up", "x", { body: "a" }),
  "a handler that reads the body": (mock: MockTransport) =>
    mock.route(
      "POST",
      "/up",
      async (request) => ({ body: String((await request.bytes()).length) }),
    ),
  "the request recorder": (mock: MockTransport) => mock.route("POST", "/up", "x"),
};

Deno.test("An aborted reply cancels its request body stream while the mock reads it", async (t) => {
  for (const [what, addRoute] of Object.entries(answers)) {
    await t.step(what, async () => {
      const mock = new MockTransport();
      addRoute(mock);
      await using manager = new NetworkAccessManager({ transport: mock.handler });
      if (what === "the request recorder") manager.use(new RequestRecorder().layer, "network");
      const { body, cancelled } = stalledBody();
      const reply = manager.post("https://a.test/up", body);
      await new Promise((resolve) => setTimeout(resolve, 20));
      reply.abort();
      await reply.finished;
      assert.equal(reply.error, NetworkError.OperationCanceledError);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const reason = await Promise.race([
        cancelled,
        new Promise((resolve) => timer = setTimeout(() => resolve("not cancelled"), 200)),
      ]);
      clearTimeout(timer);
      assert.equal((reason as Error).name, "AbortError", String(reason));
    });
  }
});
