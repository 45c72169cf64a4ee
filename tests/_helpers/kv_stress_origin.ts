/**
 * The origin and the expected bodies of the multi-process KV stress test
 * (`tests/kv_stress_process_test.ts`, its processes in `kv_stress_worker.ts`).
 *
 * Every body the origin sends is named by its `x-body-id` header, `<path>|<lang>|<version>`,
 * and is `bodyFor(id)`: bytes that depend on the whole id, so a cached body that is torn, or
 * another URL's, variant's or version's, is told apart.
 *
 * - `/fresh/<i>`: `max-age=3600`; its version moves on every third request of the path.
 * - `/reval/<i>`: `no-cache` with an `ETag` of its version; a matching `If-None-Match` gets a
 *   304; the version moves on every fourth request of the path.
 * - `/vary/<i>`: `Vary: Accept-Language`, `max-age=3600`, one body per language.
 * - `/c/set?name=N&value=V`: sets cookie `N=V; Path=/c`; `&delete` deletes it instead.
 */

import { serve, type TestServer } from "./server.ts";

/** Bytes of the body of `/<kind>/<i>`: inline records and chunked bodies both. */
const SIZES = [200, 3_000, 40_000, 63_000, 70_000, 150_000, 260_000, 330_000];

/** The size of the body of path `/<kind>/<i>`. */
export function sizeOf(path: string): number {
  const i = Number(path.split("/")[2]);
  const kind = path.split("/")[1]!;
  return SIZES[(i * 3 + kind.length) % SIZES.length]!;
}

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** The body of the response the origin names `id`. */
export function bodyFor(id: string): Uint8Array<ArrayBuffer> {
  const [path] = id.split("|");
  const size = sizeOf(path!);
  const seed = hash(id);
  const bytes = new Uint8Array(size);
  let x = seed || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 255;
  }
  return bytes;
}

/** Starts the origin on a loopback port. */
export function stressOrigin(): TestServer {
  const hits = new Map<string, number>();
  return serve((request) => {
    const url = new URL(request.url);
    const path = url.pathname;
    const count = hits.get(path) ?? 0;
    hits.set(path, count + 1);
    const kind = path.split("/")[1];
    if (kind === "c") {
      const name = url.searchParams.get("name")!;
      const cookie = url.searchParams.has("delete")
        ? `${name}=; Path=/c; Max-Age=0`
        : `${name}=${url.searchParams.get("value")}; Path=/c; Max-Age=3600`;
      return new Response("ok", { headers: { "set-cookie": cookie } });
    }
    const lang = kind === "vary" ? request.headers.get("accept-language") ?? "" : "";
    const version = kind === "reval" ? Math.floor(count / 4) : Math.floor(count / 3);
    const id = `${path}|${lang}|${version}`;
    const headers = new Headers({ "x-body-id": id });
    if (kind === "reval") {
      headers.set("cache-control", "no-cache");
      headers.set("etag", `"${version}"`);
      if (request.headers.get("if-none-match") === `"${version}"`) {
        return new Response(null, { status: 304, headers });
      }
    } else {
      headers.set("cache-control", "max-age=3600");
      if (kind === "vary") headers.set("vary", "Accept-Language");
    }
    return new Response(bodyFor(id), { headers });
  });
}
