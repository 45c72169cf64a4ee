import assert from "node:assert/strict";
import { runDeno } from "./_helpers/deno_run.ts";

Deno.test("examples/json_api.ts runs: schema, pages, events, body limit", async () => {
  const script = new URL("../examples/json_api.ts", import.meta.url);
  const { code, stdout: out, stderr } = await runDeno(["run", "-A", script.pathname]);
  assert.equal(code, 0, stderr);
  assert.match(out, /user Ada/);
  assert.match(out, /does not match the schema \(2 issues\)/);
  assert.match(out, /users user 1, user 2, user 3, user 4, user 5, user 6/);
  assert.match(out, /price 10 1\nprice 11 2\nprice 12 \(resumed after 2\) 2/);
  assert.match(out, /over the limit of 65536 bytes/);
});
