import assert from "node:assert/strict";
import { NetworkAccessManager } from "../../mod.ts";
import { createMockManager, MockTransport, RequestRecorder } from "../../testing.ts";

const TO_FINAL = { status: 307, headers: { location: "/final" } };

Deno.test("A body sent on by a 307 or 308 keeps its content type through the recorder", async (t) => {
  for (const status of [307, 308]) {
    await t.step(`${status}`, async () => {
      await using mocked = createMockManager();
      mocked.mock
        .route("POST", "/r", { status, headers: { location: "/final" } })
        .route("POST", "/final", (request) => ({
          json: { type: request.headers.get("content-type") },
        }));
      const reply = mocked.manager.post("https://a.test/r", { a: 1 });
      assert.deepEqual(await reply.json(), { type: "application/json" });
      assert.deepEqual(
        mocked.recorder.requests.map((sent) => [sent.hop, sent.headers.get("content-type")]),
        [[0, "application/json"], [1, "application/json"]],
      );
    });
  }
  await t.step("a route that matches the content type answers the second hop", async () => {
    await using mocked = createMockManager();
    mocked.mock
      .route("POST", "/r", TO_FINAL)
      .route("POST", "/final", "typed", { headers: { "content-type": "application/json" } });
    assert.equal(await mocked.manager.post("https://a.test/r", { a: 1 }).text(), "typed");
  });
  await t.step("a FormData body keeps its multipart type and boundary", async () => {
    await using mocked = createMockManager();
    mocked.mock
      .route("POST", "/r", TO_FINAL)
      .route("POST", "/final", async (request) => ({
        json: { field: (await request.formData()).get("field") },
      }));
    const form = new FormData();
    form.set("field", "value");
    assert.deepEqual(await mocked.manager.post("https://a.test/r", form).json(), {
      field: "value",
    });
    const [first, second] = mocked.recorder.requests.map((sent) =>
      sent.headers.get("content-type")
    );
    assert.match(first!, /^multipart\/form-data; boundary=/);
    assert.equal(second, first);
  });
});

Deno.test("A body a route's body matcher read keeps its content type on a 307", async () => {
  const mock = new MockTransport()
    .route("POST", "/r", TO_FINAL, { json: { a: 1 } })
    .route("POST", "/final", (request) => ({ body: request.headers.get("content-type") ?? "" }));
  await using manager = new NetworkAccessManager({ transport: mock.handler });
  assert.equal(await manager.post("https://a.test/r", { a: 1 }).text(), "application/json");
});

Deno.test("The recorder still sends a one-shot body as the bytes it read", async () => {
  const recorder = new RequestRecorder();
  const mock = new MockTransport().route("POST", "/up", async (request) => ({
    body: await request.text(),
  }));
  await using manager = new NetworkAccessManager({ transport: mock.handler });
  manager.use(recorder.layer, "network");
  const stream = ReadableStream.from([
    new TextEncoder().encode("one "),
    new TextEncoder().encode("shot"),
  ]);
  assert.equal(await manager.post("https://a.test/up", stream).text(), "one shot");
  assert.equal(recorder.last?.text(), "one shot");
});
