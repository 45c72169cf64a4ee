import { strict as assert } from "node:assert";
import { _byteRange, _sliceBody } from "../../src/cache/_range.ts";

Deno.test("byte ranges: one satisfiable range of a body, else null", () => {
  assert.deepEqual(_byteRange("bytes=0-1", 11), { first: 0, last: 1 });
  assert.deepEqual(_byteRange("bytes=1-", 11), { first: 1, last: 10 });
  assert.deepEqual(_byteRange("bytes=-1", 11), { first: 10, last: 10 });
  assert.deepEqual(_byteRange("bytes=-20", 11), { first: 0, last: 10 });
  assert.deepEqual(_byteRange("bytes=3-99", 11), { first: 3, last: 10 });
  assert.deepEqual(_byteRange(" Bytes = 2 - 3 ", 11), { first: 2, last: 3 });
  for (
    const value of [
      "bytes=0-1,3-4",
      "bytes=11-",
      "bytes=5-4",
      "bytes=-0",
      "bytes=-",
      "bytes=a-b",
      "items=0-1",
      "bytes=0x1-2",
      "bytes=99999999999999999999-",
      "",
    ]
  ) assert.equal(_byteRange(value, 11), null, value);
  assert.equal(_byteRange("bytes=0-", 0), null, "an empty body has no range");
});

Deno.test("byte ranges: the slice of a chunked body, and the source cancelled after it", async () => {
  let cancelled = false;
  const chunks = ["0123", "4567", "89AB", "CDEF"];
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks.shift();
      if (next === undefined) controller.close();
      else controller.enqueue(new TextEncoder().encode(next));
    },
    cancel() {
      cancelled = true;
    },
  }, { highWaterMark: 0 });
  const text = await new Response(_sliceBody(source, { first: 3, last: 9 })).text();
  assert.equal(text, "3456789");
  assert.equal(cancelled, true, "the rest of the body is not read");
  assert.deepEqual(chunks, ["CDEF"]);
});
