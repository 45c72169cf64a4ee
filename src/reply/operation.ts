/**
 * {@linkcode Operation}: what a reply's request does.
 *
 * @module
 */

/**
 * The operation of a reply (Qt's `QNetworkAccessManager::Operation`).
 *
 * @example The operation of each reply
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, type Operation } from "@netaccess/core";
 *
 * await using manager = new NetworkAccessManager({ transport: async () => new Response("ok") });
 * const replies = [
 *   manager.get("https://example.com/"),
 *   manager.sendCustomRequest("https://example.com/", "PATCH", { done: true }),
 * ];
 * const seen: [Operation, string][] = [];
 * for (const reply of replies) {
 *   await reply.finished;
 *   seen.push([reply.operation, reply.method]);
 * }
 * assert.deepEqual(seen, [["get", "GET"], ["custom", "PATCH"]]);
 * ```
 */
export type Operation = "head" | "get" | "put" | "post" | "delete" | "custom";
