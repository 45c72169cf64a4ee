/**
 * One end user's process for the shared-state tests: opens a manager factory on a KV file,
 * logs in as the user (a cookie in the user's partition), fetches the URLs given, and prints
 * what it got as JSON.
 *
 * Usage: `deno run -A --unstable-kv shared_state_user.ts <kv path> <origin> <user> <path>...`;
 * a path may start with `creds:` for a request with the user's credentials in its URL, or
 * `auth:` for one with the user's `Authorization` header.
 */

import { KvNetworkAccessManagerFactory, NetworkRequest } from "../../mod.ts";

const [path, origin, user, ...paths] = Deno.args;
await using factory = await KvNetworkAccessManagerFactory.open({ path });
await using manager = factory.create({ partition: user });
await manager.get(`${origin}/login?user=${user}`).text();
const out: { path: string; body: string; fromCache: boolean; setCookie: string | null }[] = [];
for (const entry of paths) {
  let url = `${origin}${entry.replace(/^(creds|auth):/, "")}`;
  const headers = new Headers();
  if (entry.startsWith("creds:")) url = url.replace("://", `://${user}:pw@`);
  if (entry.startsWith("auth:")) headers.set("authorization", `Basic ${btoa(`${user}:pw`)}`);
  const reply = manager.get(new NetworkRequest(url, { headers }));
  const body = await reply.text();
  out.push({
    path: entry,
    body,
    fromCache: reply.fromCache,
    setCookie: reply.headers.get("set-cookie"),
  });
}
const cookies = (await manager.cookieJar!.allCookies()).map((c) => `${c.name}=${c.value}`);
console.log(JSON.stringify({ out, cookies }));
