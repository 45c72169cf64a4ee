/**
 * An origin for the shared-state tests. Every answer names whom the origin thought it served:
 * the Basic user of an `Authorization` header, else the `session` cookie, else the URL user
 * (sent as Basic after a challenge), else "anonymous". `?cc=` sets the `Cache-Control` of the
 * answer; `hits` counts the requests per path and query.
 *
 * - `/doc?cc=...`: the caller's identity.
 * - `/basic?cc=...`: 401 with a Basic challenge without `Authorization`, else the user.
 * - `/login?user=U`: sets `session=U`; `/logout` deletes it.
 * - `/page`: `ETag: "v1"`, `Cache-Control: no-cache` (or `?cc=`) and `Set-Cookie: session=<user>` when a
 *   user is known; answers a matching `If-None-Match` with a 304.
 * - `/setter?cc=...`: sets `tracking=<n>` on every answer.
 */

import { serve, type TestServer } from "./server.ts";

/** The test origin and its request counts. */
export interface SharedStateOrigin extends TestServer {
  /** Requests seen per path and query. */
  hits: Map<string, number>;
}

function identity(request: Request): string {
  const auth = request.headers.get("authorization");
  if (auth?.startsWith("Basic ")) return atob(auth.slice(6)).split(":")[0]!;
  const session = /(?:^|;\s*)session=([^;]*)/.exec(request.headers.get("cookie") ?? "")?.[1];
  return session ? session : "anonymous";
}

/** Starts the origin on a loopback port. */
export function sharedStateOrigin(): SharedStateOrigin {
  const hits = new Map<string, number>();
  const server = serve((request) => {
    const url = new URL(request.url);
    const key = url.pathname + url.search;
    hits.set(key, (hits.get(key) ?? 0) + 1);
    const cc = url.searchParams.get("cc");
    const headers = new Headers(cc ? { "cache-control": cc } : {});
    const who = identity(request);
    switch (url.pathname) {
      case "/login":
        headers.append("set-cookie", `session=${url.searchParams.get("user")}; Path=/`);
        return new Response("in", { headers });
      case "/logout":
        headers.append("set-cookie", "session=; Path=/; Max-Age=0");
        return new Response("out", { headers });
      case "/basic":
        if (!request.headers.has("authorization")) {
          headers.set("www-authenticate", 'Basic realm="r"');
          return new Response("who are you?", { status: 401, headers });
        }
        return new Response(`for ${who}`, { headers });
      case "/page":
        headers.set("etag", '"v1"');
        headers.set("cache-control", cc ?? "no-cache");
        if (who !== "anonymous") headers.append("set-cookie", `session=${who}; Path=/`);
        if (request.headers.get("if-none-match") === '"v1"') {
          return new Response(null, { status: 304, headers });
        }
        return new Response(`page for ${who}`, { headers });
      case "/setter":
        headers.append("set-cookie", `tracking=${hits.get(key)}; Path=/`);
        return new Response(`set for ${who}`, { headers });
      default:
        return new Response(`for ${who}`, { headers });
    }
  });
  return Object.assign(server, { hits });
}
