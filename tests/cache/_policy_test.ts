import { strict as assert } from "node:assert";
import {
  _mergeHeaders,
  _normalizeCacheControl,
  _responseRecord,
  _servedHeaders,
  _storableHeaders,
  _variantKey,
} from "../../src/cache/_policy.ts";
import { parseHttpDate } from "../../src/_http_date.ts";

const NOV_6_1994 = Date.UTC(1994, 10, 6, 8, 49, 37);

Deno.test("HTTP-date parsing accepts the three RFC 9110 forms and nothing else", async (t) => {
  await t.step("valid forms", () => {
    assert.equal(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), NOV_6_1994);
    assert.equal(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), NOV_6_1994);
    assert.equal(parseHttpDate("Sun Nov  6 08:49:37 1994"), NOV_6_1994);
  });
  await t.step("names in any case, as browsers read them", () => {
    assert.equal(parseHttpDate("sun, 06 Nov 1994 08:49:37 GMT"), NOV_6_1994);
    assert.equal(parseHttpDate("SUN, 06 NOV 1994 08:49:37 gmt"), NOV_6_1994);
    assert.equal(parseHttpDate("SUNDAY, 06-nov-94 08:49:37 Gmt"), NOV_6_1994);
    assert.equal(parseHttpDate("SUN NOV  6 08:49:37 1994"), NOV_6_1994);
  });
  await t.step("invalid forms", () => {
    for (
      const value of [
        "Thu, 18 Aug 2050 02:01:18 UTC",
        "Thu, 18 Aug 2050 2:01:18 GMT",
        "Thu 18 Aug 2050 02:01:18 GMT",
        "Thu, 31 Feb 2050 02:01:18 GMT",
        "Sun, 06 Nov 1994 08:49:37 Z",
        "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:38 GMT",
        "0",
      ]
    ) assert.ok(Number.isNaN(parseHttpDate(value)), value);
  });
});

Deno.test("response records mark an invalid Expires as expired and ignore a float Age", () => {
  const record = _responseRecord([
    ["Expires", "Thu, 18 Aug 2050 02:01:18 UTC"],
    ["Age", "7200.0"],
    ["Date", "Sunday, 06-Nov-94 08:49:37 GMT"],
    ["Cache-Control", "MAX-AGE=60"],
  ]);
  assert.equal(record.expires, "0");
  assert.equal(record.age, undefined);
  assert.equal(record.date, "Sun, 06 Nov 1994 08:49:37 GMT");
  assert.equal(record["cache-control"], "max-age=60");
});

Deno.test("Cache-Control normalization drops invalid max-age and stales conflicting ones", () => {
  assert.equal(_normalizeCacheControl('max-age="3600", public'), "public");
  assert.equal(_normalizeCacheControl("max-age=-1"), "");
  assert.equal(_normalizeCacheControl("max-age=60, max-age=3600"), "max-age=0");
  assert.equal(_normalizeCacheControl('private="a,b", max-age=5'), 'private="a,b", max-age=5');
});

Deno.test("variant keys follow the named request fields; Vary: * never matches", () => {
  const en = new Headers({ "accept-language": "en", "x-other": "1" });
  const fr = new Headers({ "accept-language": "fr" });
  assert.equal(_variantKey(null, en), "");
  assert.notEqual(_variantKey("Accept-Language", en), _variantKey("accept-language", fr));
  assert.equal(_variantKey("Accept-Language, X-B", en), _variantKey("x-b, accept-language", en));
  assert.equal(_variantKey("accept-language, *", en), null);
});

Deno.test("a 304 replaces stored fields but not those describing the body", () => {
  const merged = _mergeHeaders(
    [["content-length", "10"], ["x-a", "1"], ["etag", '"1"'], ["x-keep", "k"]],
    [["content-length", "0"], ["x-a", "2"], ["x-new", "n"]],
  );
  assert.deepEqual(merged, [
    ["content-length", "10"],
    ["etag", '"1"'],
    ["x-keep", "k"],
    ["x-a", "2"],
    ["x-new", "n"],
  ]);
});

Deno.test("Set-Cookie and Set-Cookie2 are never stored, merged by a 304, nor served, even from an older entry", () => {
  const response = new Headers([
    ["content-type", "text/plain"],
    ["set-cookie", "session=alice"],
    ["set-cookie", "theme=dark"],
    ["set-cookie2", "legacy=1"],
  ]);
  assert.deepEqual(_storableHeaders(response), [["content-type", "text/plain"]]);
  const older: [string, string][] = [["etag", '"v1"'], ["Set-Cookie", "session=alice"]];
  assert.deepEqual(_mergeHeaders(older, [["etag", '"v2"']]), [["etag", '"v2"']]);
  const served = _servedHeaders([...older, ["set-cookie2", "legacy=1"]], 5);
  assert.deepEqual([...served], [["age", "5"], ["etag", '"v1"']]);
});
