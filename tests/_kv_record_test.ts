import assert from "node:assert/strict";
import { decodeRecord, encodeRecord, RECORD_FORMAT } from "../src/_kv_record.ts";

Deno.test("decodeRecord reads back what encodeRecord wrote, U+FFFD and other text included", () => {
  const meta = { text: "caf\u00e9 \uFFFD \u{1F36A}", n: [1, 2] };
  const decoded = decodeRecord(encodeRecord(meta, new Uint8Array([7, 8])));
  assert.deepEqual(decoded?.meta, meta);
  assert.deepEqual(decoded?.rest, new Uint8Array([7, 8]));
});

Deno.test("decodeRecord refuses invalid UTF-8, a foreign format and a length past the end", () => {
  const record = encodeRecord({ text: "ab" });
  const invalid = record.slice();
  invalid[record.indexOf(0x61)] = 0xff; // "a" becomes a byte no UTF-8 text holds
  assert.equal(decodeRecord(invalid), null);
  const foreign = record.slice();
  foreign[0] = RECORD_FORMAT + 1;
  assert.equal(decodeRecord(foreign), null);
  for (const length of [record.length, 0x80000000, 0xffffffff]) {
    const long = record.slice();
    new DataView(long.buffer).setUint32(1, length);
    assert.equal(decodeRecord(long), null, `length ${length}`);
  }
  assert.equal(decodeRecord(record.subarray(0, 4)), null);
  assert.equal(decodeRecord({ text: "ab" }), null);
});
