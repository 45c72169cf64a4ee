/**
 * The error model of the body readers, row by row as the README's table states it: the
 * iterator, `text()`, `bytes()` and `json()` behave alike for each outcome of a reply.
 */

import assert from "node:assert/strict";
import { InvalidJsonError, NetworkError, type NetworkReply, NetworkReplyError } from "../mod.ts";
import { createMockManager } from "../testing.ts";
import { guardUnhandledRejections, takeUnhandledRejections } from "./_helpers/server.ts";

guardUnhandledRejections();

type Reader = "iterator" | "text" | "bytes" | "json";
const READERS: Reader[] = ["iterator", "text", "bytes", "json"];
const decoder = new TextDecoder();

/** Reads `reply` with `reader`; returns the body as text (json: re-serialised) or the error. */
async function read(
  reply: NetworkReply,
  reader: Reader,
): Promise<{ body?: string; chunks?: string; error?: unknown }> {
  let chunks = "";
  try {
    switch (reader) {
      case "iterator":
        for await (const chunk of reply) chunks += decoder.decode(chunk, { stream: true });
        return { body: chunks };
      case "text":
        return { body: await reply.text() };
      case "bytes":
        return { body: decoder.decode(await reply.bytes()) };
      case "json":
        return { body: JSON.stringify(await reply.json()) };
    }
  } catch (error) {
    return { chunks, error };
  }
}

function mocked() {
  const m = createMockManager();
  m.mock
    .route("GET", "/ok", { json: { ok: true } })
    .route("GET", "/missing", { status: 404, json: { error: "no such item" } })
    .route("GET", "/broken", { status: 500, body: "<h1>Internal error</h1>" })
    .route("GET", "/html", { body: "<html>hi</html>" })
    .fail("GET", "/refused", NetworkError.ConnectionRefusedError)
    .route("GET", "/cut", () => {
      let sent = false;
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent) {
              controller.error(new Error("connection reset by peer"));
              return;
            }
            sent = true;
            controller.enqueue(new TextEncoder().encode(`{"items": [1, 2`));
          },
        }),
        { headers: { "content-type": "application/json" } },
      );
    });
  return m;
}

Deno.test("error model (a): a complete body with an HTTP error status is delivered by every reader", async (t) => {
  await using m = mocked();
  for (const reader of READERS) {
    await t.step(reader, async () => {
      const missing = m.manager.get("https://api.test/missing");
      assert.deepEqual(await read(missing, reader), { body: `{"error":"no such item"}` });
      assert.equal(missing.error, NetworkError.ContentNotFoundError);
      assert.equal(missing.status, 404);
      assert.match(missing.errorString, /server replied: 404/);
    });
  }
  await t.step("a 500 with a body that is not JSON: json() throws InvalidJsonError", async () => {
    const broken = m.manager.get("https://api.test/broken");
    const { error } = await read(broken, "json");
    assert.ok(error instanceof InvalidJsonError);
    assert.equal(broken.error, NetworkError.InternalServerError, "the status's code stays");
    assert.match(
      error.message,
      /^The body of https:\/\/api\.test\/broken \(HTTP 500, Content-Type "text\/plain;charset=UTF-8"\) is not valid JSON at line 1, column 1 \(position 0\)/,
    );
  });
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("error model (b): a failed transfer makes every reader throw NetworkReplyError", async (t) => {
  await using m = mocked();
  for (const reader of READERS) {
    await t.step(`${reader}: no response at all`, async () => {
      const reply = m.manager.get("https://api.test/refused");
      const { error, chunks } = await read(reply, reader);
      assert.ok(error instanceof NetworkReplyError, String(error));
      assert.equal(error.code, NetworkError.ConnectionRefusedError);
      assert.equal(error.reply, reply);
      assert.equal(reply.error, NetworkError.ConnectionRefusedError);
      assert.equal(chunks, "");
    });
    await t.step(`${reader}: cut in the middle of the body`, async () => {
      const reply = m.manager.get("https://api.test/cut");
      const { error, chunks } = await read(reply, reader);
      assert.ok(error instanceof NetworkReplyError, String(error));
      assert.equal(error.code, NetworkError.RemoteHostClosedError);
      assert.equal(reply.error, NetworkError.RemoteHostClosedError);
      assert.match(error.message, /closed before the reply was complete/);
      // The iterator hands out what arrived before it throws; the others give nothing.
      assert.equal(chunks, reader === "iterator" ? `{"items": [1, 2` : "");
    });
    await t.step(`${reader}: aborted`, async () => {
      const reply = m.manager.get("https://api.test/ok");
      reply.abort();
      const { error } = await read(reply, reader);
      assert.ok(error instanceof NetworkReplyError);
      assert.equal(error.code, NetworkError.OperationCanceledError);
    });
  }
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("error model (c): a body that is not JSON fails json() alone, with InvalidJsonError", async (t) => {
  await using m = mocked();
  for (const reader of READERS) {
    await t.step(reader, async () => {
      const reply = m.manager.get("https://api.test/html");
      const { body, error } = await read(reply, reader);
      assert.equal(reply.error, NetworkError.NoError, "the transfer succeeded");
      if (reader !== "json") {
        assert.equal(body, "<html>hi</html>");
        return;
      }
      assert.ok(error instanceof InvalidJsonError);
      assert.ok(error instanceof SyntaxError);
      assert.ok(!(error instanceof NetworkReplyError));
      assert.equal(error.reply, reply);
      assert.equal(error.position, 0);
      assert.match(
        error.message,
        /^The body of https:\/\/api\.test\/html \(Content-Type "text\/plain;charset=UTF-8"\) is not valid JSON at line 1, column 1 \(position 0\)/,
      );
    });
  }
});

Deno.test("error model: a second read of a body throws a TypeError naming the URL and the first reader", async (t) => {
  await using m = mocked();
  const firstReader = {
    iterator: "an iterator (for await, events())",
    text: "bytes(), text() or json()",
    bytes: "bytes(), text() or json()",
    json: "bytes(), text() or json()",
  };
  for (const first of READERS) {
    for (const second of READERS) {
      await t.step(`${first} then ${second}`, async () => {
        const reply = m.manager.get("https://api.test/ok");
        assert.equal((await read(reply, first)).body, `{"ok":true}`);
        const { error } = await read(reply, second);
        assert.ok(error instanceof TypeError, String(error));
        assert.equal(
          (error as Error).message,
          `The body of the reply for https://api.test/ok was already read by ${
            firstReader[first]
          }; a body is read only once`,
        );
      });
    }
  }
  await t.step("a read that threw for a failed transfer was the one read", async () => {
    const reply = m.manager.get("https://api.test/refused");
    assert.ok((await read(reply, "text")).error instanceof NetworkReplyError);
    const { error } = await read(reply, "iterator");
    assert.ok(error instanceof TypeError, String(error));
    assert.match((error as Error).message, /already read by bytes\(\), text\(\) or json\(\);/);
  });
  await t.step("events() reads through the iterator", async () => {
    const reply = m.manager.get("https://api.test/ok");
    assert.equal((await read(reply, "iterator")).body, `{"ok":true}`);
    await assert.rejects(reply.events().next(), {
      name: "TypeError",
      message: /already read by an iterator \(for await, events\(\)\);/,
    });
  });
});

Deno.test("json() reads the body as UTF-8 whatever the charset, as Response.json(); text() heeds it", async (t) => {
  const utf8 = new TextEncoder().encode(`\uFEFF{"name":"café"}`);
  for (const type of ["application/json;charset=ISO-8859-1", "application/json; charset=utf-16"]) {
    await t.step(type, async () => {
      await using m = createMockManager();
      m.mock.route("GET", "/item", () => new Response(utf8, { headers: { "content-type": type } }));
      const expected = await new Response(utf8, { headers: { "content-type": type } }).json();
      assert.deepEqual(expected, { name: "café" });
      assert.deepEqual(await m.manager.get("https://api.test/item").json(), expected);
      // The byte order mark wins over the label, as the Encoding Standard's decode has it.
      assert.equal(await m.manager.get("https://api.test/item").text(), `{"name":"café"}`);
      // Without a mark, text() reads the body in the charset the label names.
      m.mock.route(
        "GET",
        "/plain",
        () => new Response(utf8.subarray(3), { headers: { "content-type": type } }),
      );
      assert.notEqual(await m.manager.get("https://api.test/plain").text(), `{"name":"café"}`);
    });
  }
});

Deno.test("text() reads a body that starts with a byte order mark in the encoding it names", async (t) => {
  const cases: [string, number[], string][] = [
    [
      "UTF-8 mark, labelled ISO-8859-1",
      [0xef, 0xbb, 0xbf, 0x63, 0x61, 0x66, 0xc3, 0xa9],
      "text/plain; charset=ISO-8859-1",
    ],
    [
      "UTF-16LE mark, labelled UTF-8",
      [0xff, 0xfe, 0x63, 0, 0x61, 0, 0x66, 0, 0xe9, 0],
      "text/plain; charset=utf-8",
    ],
    ["UTF-16BE mark, no label", [0xfe, 0xff, 0, 0x63, 0, 0x61, 0, 0x66, 0, 0xe9], "text/plain"],
  ];
  for (const [name, bytes, type] of cases) {
    await t.step(name, async () => {
      await using m = createMockManager();
      const body = new Uint8Array(bytes);
      m.mock.route("GET", "/t", () => new Response(body, { headers: { "content-type": type } }));
      assert.equal(await m.manager.get("https://api.test/t").text(), "café");
    });
  }
});

Deno.test("reply.bytes() is a Uint8Array on an ArrayBuffer, ready for new Response()", async () => {
  await using m = mocked();
  const bytes: Uint8Array<ArrayBuffer> = await m.manager.get("https://api.test/ok").bytes();
  assert.ok(bytes.buffer instanceof ArrayBuffer);
  assert.deepEqual(await new Response(bytes).json(), { ok: true });
});
