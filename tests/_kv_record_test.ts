import assert from "node:assert/strict";
import {
  decodeRecord,
  encodeRecord,
  isNewerRecord,
  newerRecordMeta,
  RECORD_FORMAT,
} from "../src/_kv_record.ts";

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

Deno.test("isNewerRecord tells a later format's record from a corrupt or older value", () => {
  const record = encodeRecord({ text: "ab" });
  assert.equal(isNewerRecord(record), false);
  for (const format of [RECORD_FORMAT + 1, 255]) {
    const newer = record.slice();
    newer[0] = format;
    assert.equal(isNewerRecord(newer), true, `format ${format}`);
    assert.equal(isNewerRecord(newer.subarray(0, 1)), true, "whatever follows its format byte");
  }
  for (const other of [new Uint8Array([1, 0, 0, 0, 0]), new Uint8Array(0), { v: 1 }, "x", null]) {
    assert.equal(isNewerRecord(other), false, String(other));
  }
});

Deno.test("newerRecordMeta reads a later format's metadata by the header every format keeps", () => {
  const newer = encodeRecord({ size: 42 }, new Uint8Array([1, 2]));
  newer[0] = RECORD_FORMAT + 1;
  assert.deepEqual(newerRecordMeta(newer), { size: 42 });
  assert.equal(newerRecordMeta(encodeRecord({ size: 42 })), null, "this format's is not newer");
  assert.equal(newerRecordMeta(new Uint8Array([RECORD_FORMAT + 1, 0xff, 0, 0, 0])), null);
  assert.equal(newerRecordMeta("text"), null);
});
