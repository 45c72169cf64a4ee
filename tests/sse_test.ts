import assert from "node:assert/strict";
import {
  NetworkAccessManager,
  NetworkError,
  NetworkReplyError,
  type ServerSentEvent,
} from "../mod.ts";
import { parseEventStream } from "../src/_sse_parser.ts";
import { serve } from "./_helpers/server.ts";

const encoder = new TextEncoder();

/** Parses `chunks` (strings or bytes) as one stream and returns the events. */
async function parse(chunks: (string | Uint8Array)[]): Promise<ServerSentEvent[]> {
  async function* source() {
    for (const chunk of chunks) yield typeof chunk === "string" ? encoder.encode(chunk) : chunk;
  }
  const events: ServerSentEvent[] = [];
  for await (const event of parseEventStream(source())) events.push(event);
  return events;
}

/** Serves `body` as an event stream, each piece written (and flushed) on its own. */
function eventServer(pieces: (string | Uint8Array)[]) {
  return serve(() =>
    new Response(
      new ReadableStream<Uint8Array>({
        async start(controller) {
          for (const piece of pieces) {
            controller.enqueue(typeof piece === "string" ? encoder.encode(piece) : piece);
            await new Promise((resolve) => setTimeout(resolve, 1));
          }
          controller.close();
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    )
  );
}

/**
 * The example streams of the HTML standard ("Event stream format") and the events they fire,
 * as `[type, data, lastEventId]`.
 */
const STANDARD_EXAMPLES: { name: string; stream: string; events: string[][] }[] = JSON.parse(
  await Deno.readTextFile(new URL("./testdata/sse_html_examples.json", import.meta.url)),
);

Deno.test("events() parses the HTML standard's example streams from a loopback server", async (t) => {
  await using manager = new NetworkAccessManager();
  for (const { name, stream, events: expected } of STANDARD_EXAMPLES) {
    await t.step(name, async () => {
      await using server = eventServer([stream]);
      const events: ServerSentEvent[] = [];
      for await (const event of manager.get(server.url).events()) events.push(event);
      assert.deepEqual(events.map((e) => [e.type, e.data, e.lastEventId]), expected);
    });
  }
});

Deno.test("events() parsing rules", async (t) => {
  await t.step("CR, LF and CRLF line ends, mixed", async () => {
    const events = await parse(["data: a\r\rdata: b\n\ndata: c\r\ndata: d\r\n\r\n"]);
    assert.deepEqual(events.map((e) => e.data), ["a", "b", "c\nd"]);
  });

  await t.step("a CRLF split across chunks is one line end", async () => {
    const events = await parse(["data: a\r", "\ndata: b\r", "\n\r", "\n"]);
    assert.deepEqual(events.map((e) => e.data), ["a\nb"]);
  });

  await t.step("lines and fields split across chunks", async () => {
    const events = await parse(["da", "ta: hel", "lo\n", "\n", "event: x\nda", "ta: 2\n\n"]);
    assert.deepEqual(events.map((e) => [e.type, e.data]), [["message", "hello"], ["x", "2"]]);
  });

  await t.step("a UTF-8 character split across chunks", async () => {
    const bytes = encoder.encode("data: caf\u00e9 \u{1F600}\n\n");
    const events = await parse([bytes.subarray(0, 10), bytes.subarray(10, 15), bytes.subarray(15)]);
    assert.deepEqual(events.map((e) => e.data), ["caf\u00e9 \u{1F600}"]);
  });

  await t.step("a leading BOM is skipped, once", async () => {
    const events = await parse([
      new Uint8Array([0xef, 0xbb, 0xbf]),
      "data: 1\n\n\ufeffdata: 2\n\n",
    ]);
    // The second BOM makes the field name "\ufeffdata", which is unknown: no second event.
    assert.deepEqual(events.map((e) => e.data), ["1"]);
  });

  await t.step("an id holding NULL is ignored; an empty id resets", async () => {
    const events = await parse([
      "id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\nid:\ndata: c\n\n",
    ]);
    assert.deepEqual(events.map((e) => [e.data, e.lastEventId]), [["a", "1"], ["b", "1"], [
      "c",
      "",
    ]]);
  });

  await t.step("retry: digits only; set on the event of its block", async () => {
    const events = await parse([
      "retry: 1500\ndata: a\n\nretry: 1.5\ndata: b\n\nretry: x\ndata: c\n\nretry:20\ndata: d\n\n",
    ]);
    assert.deepEqual(events.map((e) => [e.data, e.retry]), [
      ["a", 1500],
      ["b", undefined],
      ["c", undefined],
      ["d", 20],
    ]);
  });

  await t.step("unknown fields, and an event type without data, are ignored", async () => {
    const events = await parse(["foo: bar\nevent: lonely\n\ndata: x\n\n"]);
    assert.deepEqual(events.map((e) => [e.type, e.data]), [["message", "x"]]);
  });

  await t.step("a field without a colon; a colon with nothing after it", async () => {
    const events = await parse(["event\ndata\n\nevent:\ndata:\n\n"]);
    assert.deepEqual(events.map((e) => [e.type, e.data]), [["message", ""], ["message", ""]]);
  });

  await t.step("only the first space after the colon goes", async () => {
    const events = await parse(["data:   x  \n\n"]);
    assert.deepEqual(events.map((e) => e.data), ["  x  "]);
  });

  await t.step("a partial last event is dropped at the end of the stream", async () => {
    const events = await parse(["data: whole\n\ndata: partial\n"]);
    assert.deepEqual(events.map((e) => e.data), ["whole"]);
  });
});

Deno.test("events() is back-pressured and breaking out aborts the reply", async () => {
  let produced = 0;
  let cancelled = false;
  await using server = serve(() =>
    new Response(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          produced++;
          controller.enqueue(encoder.encode(`id: ${produced}\ndata: ${"x".repeat(64 * 1024)}\n\n`));
        },
        cancel() {
          cancelled = true;
        },
      }, { highWaterMark: 0 }),
      { headers: { "content-type": "text/event-stream" } },
    )
  );
  await using manager = new NetworkAccessManager();
  // Uncompressed, so that the count of events matches the bytes on the wire.
  const reply = manager.get(server.url, { headers: { "accept-encoding": "identity" } });
  let seen = 0;
  for await (const event of reply.events()) {
    seen++;
    if (seen === 3) {
      assert.equal(event.lastEventId, "3");
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await reply.finished;
  assert.equal(reply.error, NetworkError.OperationCanceledError);
  for (let i = 0; i < 500 && !cancelled; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cancelled, "the server's stream was cancelled");
  // Socket buffers hold some events the reader never took, but nowhere near an unbounded number.
  assert.ok(produced < 256, `the server produced ${produced} events of 64 KiB for 3 read`);
});

Deno.test("events() throws the reply's error when the transfer fails", async () => {
  await using manager = new NetworkAccessManager({ maxBodySize: 10 });
  const reply = manager.get("data:text/event-stream,data:%20more%20than%20ten%20bytes%0A%0A");
  await assert.rejects(async () => {
    for await (const _ of reply.events()) { /* none */ }
  }, (error: unknown) => error instanceof NetworkReplyError && error.code === 399);
});

Deno.test("events() stops a line that never ends at maxEventLength (1 MiB by default)", async () => {
  const chunk = encoder.encode("x".repeat(64 * 1024));
  let produced = 0;
  let cancelled = false;
  // 16 MiB without a line break, then the end of the body.
  await using server = serve(() =>
    new Response(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          if (++produced > 256) return controller.close();
          controller.enqueue(chunk);
        },
        cancel() {
          cancelled = true;
        },
      }, { highWaterMark: 0 }),
      { headers: { "content-type": "text/event-stream" } },
    )
  );
  await using manager = new NetworkAccessManager();
  const reply = manager.get(server.url, { headers: { "accept-encoding": "identity" } });
  await assert.rejects(
    async () => {
      for await (const _ of reply.events()) { /* none */ }
    },
    (error: unknown) =>
      error instanceof NetworkReplyError && error.code === NetworkError.ProtocolFailure &&
      error.reply === reply &&
      /sent a line longer than 1048576 characters .*'maxEventLength'/.test(error.message),
  );
  await reply.finished;
  assert.equal(reply.error, NetworkError.ProtocolFailure);
  assert.match(reply.errorString, /longer than 1048576 characters/);
  for (let i = 0; i < 500 && !cancelled; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cancelled, `the server's stream was cancelled after ${produced} chunks of 64 KiB`);
});

Deno.test("events() yields every event before a line past maxEventLength, then fails the reply", async (t) => {
  const long = `data: ${"a".repeat(2000)}\n\n`;
  // The whole body in one chunk, or the long line a chunk later (the reply still running).
  const bodies = {
    "one chunk": () => "data: ok\n\ndata: ok2\n\n" + long,
    "two chunks": () =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(encoder.encode("data: ok\n\ndata: ok2\n\n"));
          setTimeout(() => {
            controller.enqueue(encoder.encode(long));
            controller.close();
          }, 20);
        },
      }),
  };
  for (const [name, body] of Object.entries(bodies)) {
    await t.step(name, async () => {
      await using manager = new NetworkAccessManager({
        transport: () =>
          Promise.resolve(
            new Response(body(), { headers: { "content-type": "text/event-stream" } }),
          ),
      });
      const reply = manager.get("https://example.com/feed");
      const taken: string[] = [];
      const error = await (async () => {
        for await (const event of reply.events({ maxEventLength: 1000 })) taken.push(event.data);
      })().catch((e) => e);
      assert.deepEqual(taken, ["ok", "ok2"]);
      assert.ok(error instanceof NetworkReplyError, String(error));
      assert.match(error.message, /sent a line longer than 1000 characters/);
      await reply.finished;
      // The reply says what the loop threw, whether its body had all arrived or not.
      assert.equal(reply.error, NetworkError.ProtocolFailure);
      assert.equal(error.code, reply.error);
      assert.equal(error.message, reply.errorString);
      assert.equal(error.reply, reply);
    });
  }
});

Deno.test("events() bounds a line and an event's data by maxEventLength", async (t) => {
  await using manager = new NetworkAccessManager();
  const events = (body: string, maxEventLength?: number) =>
    manager.get(`data:text/event-stream,${encodeURIComponent(body)}`).events({ maxEventLength });
  const rejectsWith = (body: string, max: number, pattern: RegExp) =>
    assert.rejects(async () => {
      for await (const _ of events(body, max)) { /* none */ }
    }, (error: unknown) =>
      error instanceof NetworkReplyError && error.code === NetworkError.ProtocolFailure &&
      pattern.test(error.message));

  await t.step("a line up to the limit passes, one past it fails", async () => {
    const line = `data: ${"x".repeat(94)}`; // 100 characters
    const taken: string[] = [];
    for await (const event of events(`${line}\n\n`, 100)) taken.push(event.data);
    assert.deepEqual(taken, ["x".repeat(94)]);
    await rejectsWith(`${line}x\n\n`, 100, /sent a line longer than 100 characters/);
    // Also while the line is still open at the end of the body.
    await rejectsWith(line + "x", 100, /sent a line longer than 100 characters/);
  });
  await t.step("the data of one event, line by line", async () => {
    const line = `data: ${"x".repeat(60)}\n`;
    await rejectsWith(line + line + "\n", 100, /an event whose data is longer than 100 char/);
    // Two events of 60 each are fine.
    const taken: string[] = [];
    for await (const event of events(`${line}\n${line}\n`, 100)) taken.push(event.data);
    assert.equal(taken.length, 2);
  });
  await t.step("0 is no limit", async () => {
    const taken: string[] = [];
    for await (const event of events(`data: ${"x".repeat(2000)}\n\n`, 0)) {
      taken.push(event.data);
    }
    assert.equal(taken[0]!.length, 2000);
  });
  await t.step("a bad limit is refused at once", () => {
    const reply = manager.get("data:text/event-stream,");
    assert.throws(
      () => reply.events({ maxEventLength: -1 }),
      /Cannot read events: 'maxEventLength' must be a non-negative integer, got -1/,
    );
    reply.abort();
  });
  await t.step("a misspelt option is refused at once, as eventStream refuses it", () => {
    const reply = manager.get("data:text/event-stream,data:%20x%0A%0A");
    assert.throws(
      // @ts-expect-error: an option events() does not have
      () => reply.events({ maxEventLen: 5 }),
      new TypeError(
        "Cannot read events: unknown option 'maxEventLen'; did you mean 'maxEventLength'?",
      ),
    );
    assert.throws(
      // @ts-expect-error: an option events() does not have
      () => reply.events({ signal: AbortSignal.abort() }),
      new TypeError(
        "Cannot read events: unknown option 'signal'; the options are 'maxEventLength'",
      ),
    );
    reply.abort();
  });
});
