// Run by tests/_permission_gate_test.ts with --deny-net flags. Prints one JSON array: the
// errorString of a request to each URL given, the last through the proxy given first.
import { NetworkAccessManager } from "../../../mod.ts";

const [proxyUrl, ...urls] = Deno.args;
const messages: string[] = [];
{
  await using manager = new NetworkAccessManager({ proxy: { type: "none" } });
  for (const url of urls) {
    const reply = manager.get(url);
    await reply.finished;
    messages.push(reply.errorString);
  }
}
{
  await using manager = new NetworkAccessManager({ proxy: { type: "http", url: proxyUrl! } });
  const reply = manager.get(urls[0]!);
  await reply.finished;
  messages.push(reply.errorString);
}
console.log(JSON.stringify(messages));
