/**
 * Talking to a JSON API: a body validated by a schema, a paginated list, a Server-Sent Events
 * feed that reconnects, and a cap on what the server may send. The API is a small server on
 * 127.0.0.1 started by the example itself, so it runs anywhere:
 *
 * ```sh
 * deno run -A examples/json_api.ts
 * ```
 *
 * The schema is written by hand with the Standard Schema v1 interface; a Zod, Valibot or
 * ArkType schema goes in the same place.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  NetworkAccessManager,
  NetworkError,
  NetworkRequestFactory,
  SchemaValidationError,
  type StandardSchemaV1,
} from "../mod.ts";

/** A user of the API. */
export interface User {
  /** The id. */
  id: number;
  /** The name. */
  name: string;
}

/** A Standard Schema v1 validator for {@linkcode User}, written without a library. */
export const UserSchema: StandardSchemaV1<unknown, User> = {
  "~standard": {
    version: 1,
    vendor: "example",
    validate(value) {
      const user = value as Partial<User> | null;
      const issues = [];
      if (typeof user?.id !== "number") issues.push({ message: "Expected a number", path: ["id"] });
      if (typeof user?.name !== "string") {
        issues.push({ message: "Expected a string", path: ["name"] });
      }
      return issues.length > 0 ? { issues } : { value: value as User };
    },
  },
};

/** Starts the example API: users, a paginated list, an event feed, a large file. */
export function startApi(): Deno.HttpServer<Deno.NetAddr> {
  let feedConnections = 0;
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const url = new URL(request.url);
    if (url.pathname === "/users/1") return Response.json({ id: 1, name: "Ada" });
    if (url.pathname === "/users/2") return Response.json({ id: "2" });
    if (url.pathname === "/users") {
      const page = Number(url.searchParams.get("page") ?? "1");
      const users = [{ id: page * 2 - 1, name: `user ${page * 2 - 1}` }, {
        id: page * 2,
        name: `user ${page * 2}`,
      }];
      const link = page < 3 ? `</users?page=${page + 1}>; rel="next"` : "";
      return Response.json(users, { headers: link ? { link } : {} });
    }
    if (url.pathname === "/feed") {
      feedConnections++;
      if (feedConnections > 2) return new Response(null, { status: 204 }); // the feed is over
      const body = feedConnections === 1
        ? "retry: 100\nid: 1\nevent: price\ndata: 10\n\nid: 2\nevent: price\ndata: 11\n\n"
        : `event: price\ndata: 12 (resumed after ${request.headers.get("last-event-id")})\n\n`;
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    }
    if (url.pathname === "/big") return new Response(new Uint8Array(1024 * 1024));
    return new Response("not found", { status: 404 });
  });
}

if (import.meta.main) {
  await using server = startApi();
  const api = new NetworkRequestFactory(`http://127.0.0.1:${server.addr.port}/`);
  await using manager = new NetworkAccessManager({ maxBodySize: 64 * 1024 });

  // A body validated by a schema: typed as User.
  const user = await manager.get(api.createRequest("/users/1")).json(UserSchema);
  console.log("user", user.name);
  const invalid = await manager.get(api.createRequest("/users/2")).json(UserSchema)
    .catch((error) => error);
  assert.ok(invalid instanceof SchemaValidationError);
  console.log(invalid.message); // ... does not match the schema (2 issues): $.id ..., $.name ...

  // Every user of every page, following Link: <...>; rel="next".
  const names: string[] = [];
  for await (const each of manager.paginate<User>(api.createRequest("/users"))) {
    names.push(each.name);
  }
  assert.equal(names.length, 6);
  console.log("users", names.join(", "));

  // An event feed that reconnects with Last-Event-ID, until the server answers 204.
  for await (const event of manager.eventStream<"price">(api.createRequest("/feed"))) {
    console.log(event.type, event.data, event.lastEventId);
  }

  // A body over maxBodySize fails the reply instead of filling memory.
  const big = manager.get(api.createRequest("/big"));
  await big.finished;
  assert.equal(big.error, NetworkError.ProtocolFailure);
  console.log(big.errorString);
}
