// Run by tests/layers/access_test.ts with --deny-read flags. Prints one JSON array: the error
// code and errorString of a request to each file: URL given.
import { NetworkAccessManager } from "../../../mod.ts";

const outcomes: [number, string][] = [];
await using manager = new NetworkAccessManager();
for (const url of Deno.args) {
  const reply = manager.get(url);
  await reply.finished;
  outcomes.push([reply.error, reply.errorString]);
}
console.log(JSON.stringify(outcomes));
