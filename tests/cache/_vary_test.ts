import { strict as assert } from "node:assert";
import { _selectingValue } from "../../src/cache/_vary.ts";

Deno.test("selecting values: whitespace around list commas means nothing", () => {
  assert.equal(_selectingValue("foo", "1,2"), "1,2");
  assert.equal(_selectingValue("foo", "1, 2"), "1,2");
  assert.equal(_selectingValue("foo", " 1 ,\t 2 "), "1,2");
  assert.equal(_selectingValue("foo", "a b, c"), "a b,c", "space inside a member is kept");
  assert.equal(
    _selectingValue("accept", "text/html ; q=0.9, */* ;q=0.1"),
    "text/html;q=0.9,*/*;q=0.1",
  );
  assert.equal(
    _selectingValue("foo", "a ; b"),
    "a ; b",
    "semicolons are separators of Accept fields only",
  );
  assert.equal(_selectingValue("foo", null), null);
  assert.equal(_selectingValue("foo", ""), "");
});

Deno.test("selecting values: quoted strings, comments and one-value fields are kept as sent", () => {
  assert.equal(_selectingValue("foo", '"a, b" , c'), '"a, b",c');
  assert.equal(_selectingValue("foo", '"a \\" , b", c'), '"a \\" , b",c');
  assert.equal(_selectingValue("via", "1.1 a (x, y) , 1.1 b"), "1.1 a (x, y),1.1 b");
  assert.equal(_selectingValue("foo", '"open , quote'), '"open , quote');
  for (const name of ["cookie", "user-agent", "if-modified-since", "referer"]) {
    assert.equal(_selectingValue(name, "a=1, b"), "a=1, b", name);
  }
});

Deno.test("selecting values: case is ignored only where the field's syntax makes it meaningless", () => {
  assert.equal(_selectingValue("accept-language", "eN, De;Q=0.5"), "en,de;q=0.5");
  assert.equal(_selectingValue("accept-language", " en ,   de"), "en,de");
  assert.equal(_selectingValue("accept-encoding", "GZip, BR"), "gzip,br");
  assert.equal(_selectingValue("accept-charset", "UTF-8"), "utf-8");
  assert.equal(_selectingValue("accept-language", 'en, "X"'), 'en,"X"', "not the field's syntax");
  assert.equal(
    _selectingValue("accept", "Text/HTML"),
    "Text/HTML",
    "parameter values may be case-sensitive",
  );
  assert.equal(_selectingValue("foo", "A"), "A");
});

Deno.test("selecting values: order is kept (it can state a preference)", () => {
  assert.notEqual(
    _selectingValue("accept-language", "en, de"),
    _selectingValue("accept-language", "de, en"),
  );
  assert.notEqual(_selectingValue("foo", "1, 2"), _selectingValue("foo", "2, 1"));
});
