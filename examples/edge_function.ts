/**
 * An edge function (Deno Deploy, Supabase Edge Functions, or `deno run` locally) that answers
 * `GET /weather?city=...` by calling an upstream API through a manager from a
 * {@linkcode KvNetworkAccessManagerFactory}. The HTTP cache and the cookie jar live in Deno
 * KV, so every instance of the function shares them: an upstream answer cached by one instance
 * is served by all the others until it goes stale.
 *
 * The function serves many end users, so nothing of one user may reach another. The KV cache
 * is a shared cache (its default mode): it stores no `private` response, nor one to a request
 * that carried credentials or cookies unless the upstream marks it `public` or `s-maxage`, and
 * never a `Set-Cookie`. The cookies the upstream sets are kept per end user: each manager is
 * created with the user's key as its cookie partition, so a session cookie the upstream gives
 * one user is never sent with another user's request. A request with no known user gets a
 * manager whose cookies live and die with it.
 *
 * Run locally:
 *
 * ```sh
 * UPSTREAM_URL=https://api.example.com KV_PATH=edge.sqlite3 deno run -A examples/edge_function.ts
 * ```
 *
 * On Deno Deploy leave `KV_PATH` unset: `Deno.openKv()` with no path opens the hosted KV.
 *
 * @module
 */

import { KvNetworkAccessManagerFactory, NetworkError, NetworkRequestFactory } from "../mod.ts";

/** What the edge function needs. */
export interface EdgeFunctionOptions {
  /** The upstream API's base URL. */
  upstream: string;
  /** A KV file for the cache and cookie jar; none on Deno Deploy (the hosted KV). */
  kvPath?: string;
  /**
   * Who the end user of an incoming request is: the key of their cookie partition, or `null`
   * for an anonymous request. Put your authentication here (a verified session or token); the
   * default reads `X-User-Id`, a header that only a trusted gateway in front of the function
   * may set.
   */
  userOf?: (request: Request) => string | null;
}

/** The request handler, and what releases the stores. */
export interface EdgeFunction extends AsyncDisposable {
  /** The `Deno.serve` handler. */
  handler: (request: Request) => Promise<Response>;
  /** Closes the shared stores. */
  close(): Promise<void>;
}

function defaultUserOf(request: Request): string | null {
  return request.headers.get("x-user-id");
}

/**
 * Builds the edge function: one factory per instance (its stores opened once), one manager per
 * incoming request.
 *
 * @param options The upstream and the KV file.
 * @returns The handler and its disposer.
 */
export async function createEdgeFunction(options: EdgeFunctionOptions): Promise<EdgeFunction> {
  const factory = await KvNetworkAccessManagerFactory.open({
    path: options.kvPath,
    manager: { transferTimeout: 10_000, retry: { limit: 2, maxRetryAfter: 2_000 } },
  });
  const api = new NetworkRequestFactory(options.upstream, {
    headers: { accept: "application/json" },
  });

  async function handler(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (request.method !== "GET" || url.pathname !== "/weather") {
      return new Response("Not found", { status: 404 });
    }
    const city = url.searchParams.get("city") ?? "";
    const user = (options.userOf ?? defaultUserOf)(request);
    // The user's own cookies, in every instance; none of anyone else's.
    await using manager = factory.create(user === null ? {} : { partition: `user:${user}` });
    const reply = manager.get(api.createRequest("/forecast", { city }), {
      signal: request.signal,
    });
    const body = await reply.bytes().catch(() => null);
    if (body === null || reply.error !== NetworkError.NoError) {
      return Response.json(
        { error: reply.errorString, code: reply.error },
        { status: reply.status >= 400 ? reply.status : 502 },
      );
    }
    return new Response(body as Uint8Array<ArrayBuffer>, {
      headers: {
        "content-type": reply.headers.get("content-type") ?? "application/json",
        "x-cache": reply.fromCache ? "HIT" : "MISS",
      },
    });
  }

  const close = () => factory.close();
  return { handler, close, [Symbol.asyncDispose]: close };
}

if (import.meta.main) {
  const edge = await createEdgeFunction({
    upstream: Deno.env.get("UPSTREAM_URL") ?? "http://127.0.0.1:8001/",
    kvPath: Deno.env.get("KV_PATH"),
  });
  Deno.serve(edge.handler);
}
