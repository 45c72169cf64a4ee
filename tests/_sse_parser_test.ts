import assert from "node:assert/strict";
import type { ServerSentEvent } from "../mod.ts";
import { EventStreamParser, parseEventStream } from "../src/_sse_parser.ts";

const encoder = new TextEncoder();

/** An event as `[type, data, lastEventId]`, or with the retry of its block as a fourth item. */
type Expected = [string, string, string] | [string, string, string, number];

/** One rule of the HTML standard's "Interpreting an event stream", as a stream and its events. */
interface Case {
  name: string;
  /** The body: text (sent as UTF-8) or the bytes themselves. */
  stream: string | Uint8Array;
  events: Expected[];
  /** The parser's last event ID at the end (what a reconnection sends); `""` unless given. */
  lastEventId?: string;
}

const bytes = (...parts: (string | number[])[]): Uint8Array =>
  Uint8Array.from(parts.flatMap((p) => typeof p === "string" ? [...encoder.encode(p)] : p));

const CASES: Case[] = [
  // Line ends.
  { name: "LF line ends", stream: "data: a\n\n", events: [["message", "a", ""]] },
  { name: "CR line ends", stream: "data: a\r\r", events: [["message", "a", ""]] },
  { name: "CRLF line ends", stream: "data: a\r\n\r\n", events: [["message", "a", ""]] },
  {
    name: "CR, LF and CRLF mixed in one event",
    stream: "data: a\r\ndata: b\rdata: c\n\r\n",
    events: [["message", "a\nb\nc", ""]],
  },
  {
    name: "CR CR LF is a line end and then a blank line",
    stream: "data: a\r\r\ndata: b\n\n",
    events: [["message", "a", ""], ["message", "b", ""]],
  },
  {
    name: "LF CR is a line end and then a blank line",
    stream: "data: a\n\rdata: b\n\n",
    events: [["message", "a", ""], ["message", "b", ""]],
  },
  {
    name: "a CR that ends the stream ends the blank line",
    stream: "data: a\n\r",
    events: [["message", "a", ""]],
  },
  // Decoding.
  { name: "a leading BOM is skipped", stream: "\ufeffdata: a\n\n", events: [["message", "a", ""]] },
  {
    name: "a second leading BOM is part of the first field name",
    stream: "\ufeff\ufeffdata: 1\n\ndata: 2\n\n",
    events: [["message", "2", ""]],
  },
  {
    name: "a BOM after the start is kept",
    stream: "data: 1\n\n\ufeffdata: 2\n\ndata: \ufeff3\n\n",
    events: [["message", "1", ""], ["message", "\ufeff3", ""]],
  },
  {
    name: "characters of two, three and four bytes",
    stream: "data: \u00e9\u65e5\u{1F600}\n\n",
    events: [["message", "\u00e9\u65e5\u{1F600}", ""]],
  },
  {
    name: "invalid UTF-8 becomes U+FFFD",
    stream: bytes("data: ", [0xff], "x", [0xe6, 0x97], "\ndata: ", [0xc0, 0xaf], "\n\n"),
    events: [["message", "\ufffdx\ufffd\n\ufffd\ufffd", ""]],
  },
  {
    name: "a truncated character at the end of the stream is dropped with its block",
    stream: bytes("data: a\n\ndata: ", [0xe6, 0x97]),
    events: [["message", "a", ""]],
  },
  // data.
  {
    name: "data lines are joined with LF",
    stream: "data: a\ndata: b\ndata\ndata: c\n\n",
    events: [["message", "a\nb\n\nc", ""]],
  },
  {
    name: "only the final LF is removed",
    stream: "data: a\ndata:\n\ndata\n\ndata\ndata\n\n",
    events: [["message", "a\n", ""], ["message", "", ""], ["message", "\n", ""]],
  },
  {
    name: "a block without data dispatches nothing",
    stream: "event: x\nid: 1\n\n\n\n: only a comment\n\ndata: y\n\n",
    events: [["message", "y", "1"]],
    lastEventId: "1",
  },
  { name: "a colon in the value", stream: "data: a: b:\n\n", events: [["message", "a: b:", ""]] },
  {
    name: "NULL and other controls in data are kept",
    stream: "data: a\0b\tc\n\n",
    events: [["message", "a\0b\tc", ""]],
  },
  // event.
  {
    name: "event defaults to message and is reset after each event",
    stream: "event: add\ndata: 1\n\ndata: 2\n\nevent: a\nevent: b\ndata: 3\n\n",
    events: [["add", "1", ""], ["message", "2", ""], ["b", "3", ""]],
  },
  {
    name: "an empty event name is message",
    stream: "event:\ndata: 1\n\nevent\ndata: 2\n\n",
    events: [["message", "1", ""], ["message", "2", ""]],
  },
  {
    name: "event is reset by a block without data",
    stream: "event: lost\n\ndata: 1\n\n",
    events: [["message", "1", ""]],
  },
  // id.
  {
    name: "the last event id carries over, changes, and resets",
    stream: "id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\nid\ndata: d\n\nid:\ndata: e\n\n",
    events: [
      ["message", "a", "1"],
      ["message", "b", "1"],
      ["message", "c", "2"],
      ["message", "d", ""],
      ["message", "e", ""],
    ],
  },
  {
    name: "an id holding NULL is ignored",
    stream: "id: 1\ndata: a\n\nid: 2\0\ndata: b\n\nid: \0\ndata: c\n\n",
    events: [["message", "a", "1"], ["message", "b", "1"], ["message", "c", "1"]],
    lastEventId: "1",
  },
  {
    name: "an id in a block without data still sets the last event id",
    stream: "id: 5\n\ndata: a\n\n",
    events: [["message", "a", "5"]],
    lastEventId: "5",
  },
  {
    name: "an id after the data of its block counts for it",
    stream: "data: a\nid: 7\n\n",
    events: [["message", "a", "7"]],
    lastEventId: "7",
  },
  {
    name: "an id keeps its spaces but the first",
    stream: "id:  x \ndata: a\n\n",
    events: [["message", "a", " x "]],
    lastEventId: " x ",
  },
  // retry.
  {
    name: "retry of ASCII digits",
    stream: "retry: 100\ndata: a\n\nretry:0\ndata: b\n\nretry: 007\ndata: c\n\n",
    events: [["message", "a", "", 100], ["message", "b", "", 0], ["message", "c", "", 7]],
  },
  {
    name: "retry longer than the longest timer is cut to it",
    stream: `retry: 2147483647\ndata: a\n\nretry: 2147483648\ndata: b\n\nretry: ${
      "9".repeat(400)
    }\ndata: c\n\n`,
    events: [
      ["message", "a", "", 2147483647],
      ["message", "b", "", 2147483647],
      ["message", "c", "", 2147483647],
    ],
  },
  {
    name: "retry that is not only ASCII digits is ignored",
    stream: [
      "retry: 1e3",
      "retry: -1",
      "retry: +1",
      "retry: 1.5",
      "retry: 10 ",
      "retry:  10",
      "retry: ",
      "retry",
      "retry: \u0661",
      "retry: 0x10",
    ].map((line) => `${line}\ndata: x\n\n`).join(""),
    events: Array.from({ length: 10 }, (): Expected => ["message", "x", ""]),
  },
  {
    name: "a bogus retry after a good one leaves the good one",
    stream: "retry: 2000\nretry: 1000x\ndata: x\n\n",
    events: [["message", "x", "", 2000]],
  },
  {
    name: "retry belongs to the block it is in",
    stream: "retry: 5\n\ndata: a\n\n",
    events: [["message", "a", ""]],
  },
  // Field syntax.
  {
    name: "fields without a colon have an empty value",
    stream: "data\n\nevent\ndata\n\nid\ndata\n\n",
    events: [["message", "", ""], ["message", "", ""], ["message", "", ""]],
  },
  {
    name: "one leading space after the colon is removed, only one",
    stream: "data:a\n\ndata: a\n\ndata:  a\n\ndata:   a  \n\ndata:\ta\n\n",
    events: [
      ["message", "a", ""],
      ["message", "a", ""],
      ["message", " a", ""],
      ["message", "  a  ", ""],
      ["message", "\ta", ""],
    ],
  },
  {
    name: "a space before the colon is part of the field name",
    stream: "data : a\n\n data: b\n\ndata: c\n\n",
    events: [["message", "c", ""]],
  },
  {
    name: "comments are ignored, also between data lines",
    stream: ": hello\ndata: a\n:\n: more\ndata: b\n\n:\n\n",
    events: [["message", "a\nb", ""]],
  },
  {
    name: "unknown fields and other cases of known names are ignored",
    stream: "foo: bar\nDATA: x\nData: y\nEvent: z\ndata: a\nid : 1\n\n",
    events: [["message", "a", ""]],
  },
  // The web-platform-tests' streams (eventsource/format-field-parsing, format-newlines).
  {
    name: "field parsing: NULL, case, names with extra characters, leading spaces",
    stream: "data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\r" +
      "data:\r\n data:32\ndata:4\n\n",
    events: [["message", "\0\n 2\n1\n3\n\n4", ""]],
  },
  {
    name: "newlines: an empty data line between CRLF and LF lines",
    stream: "data:test\r\ndata\ndata:test\r\n\r",
    events: [["message", "test\n\ntest", ""]],
  },
  // The end of the stream.
  {
    name: "an event without its blank line is not dispatched",
    stream: "data: a\n\ndata: b\n",
    events: [["message", "a", ""]],
  },
  {
    name: "a last line without its line end is not dispatched",
    stream: "data: a\n\ndata: b",
    events: [["message", "a", ""]],
  },
  {
    name: "the id of a block the stream never ended does not count",
    stream: "id: 1\ndata: a\n\nid: 2\ndata: b\n",
    events: [["message", "a", "1"]],
    lastEventId: "1",
  },
  { name: "an empty stream", stream: "", events: [] },
];

/** Yields `chunks` one by one, as a body does. */
async function* source(chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) yield chunk;
}

/** Parses `chunks` as one stream: its events and the parser's last event ID at the end. */
async function parse(chunks: Uint8Array[]): Promise<{ events: Expected[]; lastEventId: string }> {
  const parser = new EventStreamParser();
  const events: Expected[] = [];
  for await (const event of parseEventStream(source(chunks), parser)) events.push(shape(event));
  return { events, lastEventId: parser.lastEventId };
}

function shape(event: ServerSentEvent): Expected {
  const { type, data, lastEventId, retry } = event;
  return retry === undefined ? [type, data, lastEventId] : [type, data, lastEventId, retry];
}

/** Every way the test cuts a stream: whole, in two at each byte, a byte at a time. */
function splits(body: Uint8Array): [string, Uint8Array[]][] {
  const ways: [string, Uint8Array[]][] = [["whole", [body]]];
  for (let at = 1; at < body.length; at++) {
    ways.push([`cut at byte ${at}`, [body.subarray(0, at), body.subarray(at)]]);
  }
  const single = Array.from(body, (_, i) => body.subarray(i, i + 1));
  ways.push(["a byte at a time", single]);
  // Empty chunks between the bytes: a body may hand one over.
  ways.push(["a byte at a time, with empty chunks", single.flatMap((b) => [new Uint8Array(), b])]);
  return ways;
}

Deno.test("the event stream parser follows the HTML standard however the stream is cut", async (t) => {
  for (const { name, stream, events, lastEventId = "" } of CASES) {
    await t.step(name, async () => {
      const body = typeof stream === "string" ? encoder.encode(stream) : stream;
      for (const [how, chunks] of splits(body)) {
        const got = await parse(chunks);
        assert.deepEqual(got.events, events, `${how}: events`);
        assert.equal(got.lastEventId, lastEventId, `${how}: last event id`);
      }
    });
  }
});

Deno.test("the event stream parser reports each valid retry as it is read", () => {
  const retries: number[] = [];
  const parser = new EventStreamParser((ms) => retries.push(ms));
  // Set at once, also in a block without data or one the stream never ends.
  parser.feed("retry: 10\n\nretry: x\ndata: a\n\nretry: 20\ndata: b\nretry: 30\n");
  assert.deepEqual(retries, [10, 20, 30]);
  assert.deepEqual(parser.ready.map(shape), [["message", "a", ""]]);
});
