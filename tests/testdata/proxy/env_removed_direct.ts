// Run by tests/proxy/network_proxy_test.ts with HTTP_PROXY naming a closed port in its
// environment from the start. The application's own plain fetch (which makes fetch's default
// client, with that proxy) fails; once HTTP_PROXY is removed, direct requests of managers made
// after go to the origin. Arg: the origin's URL. Prints one JSON object.
import { NetworkAccessManager } from "../../../mod.ts";

const [url] = Deno.args;
const results: Record<string, string> = {};
results.fetch = await fetch(url!).then((response) => response.text(), () => "failed");
Deno.env.delete("HTTP_PROXY");
for (const [step, options] of [["none", { proxy: { type: "none" } }], ["default", {}]] as const) {
  await using manager = new NetworkAccessManager(options);
  const reply = manager.get(url!);
  await reply.finished;
  results[step] = reply.error === 0 ? await reply.text() : `${reply.error} ${reply.errorString}`;
}
console.log(JSON.stringify(results));
