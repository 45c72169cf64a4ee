import assert from "node:assert/strict";
import { conformanceRoot } from "./_cookies_data.ts";

// Outside CI the conformance tests skip, saying so, when ../shared/conformance is absent (a
// clone of the project alone). In CI the data must be there, so that they cannot skip unseen.
const inCi = Boolean(Deno.env.get("CI"));

Deno.test({
  name: "conformance data is present in CI",
  ignore: !inCi,
  async fn() {
    const needed = [
      "cache-tests/tests.json",
      "cookies-http-state/parser.json",
      "cookies-http-state/dates/examples.json",
      "cookies-http-state/dates/bsd-examples.json",
      "psl/tests.txt",
    ];
    const missing: string[] = [];
    for (const file of needed) {
      try {
        await Deno.stat(new URL(file, conformanceRoot));
      } catch {
        missing.push(file);
      }
    }
    assert.deepEqual(missing, [], `missing under ${conformanceRoot.pathname}`);
  },
});
