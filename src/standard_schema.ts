/**
 * Validation of JSON bodies with any [Standard Schema v1](https://standardschema.dev) validator
 * (Zod, Valibot, ArkType and others implement its `~standard` property). The types are
 * written here from the specification: no validator library is a dependency.
 *
 * @module
 */

import type { NetworkReply } from "./reply.ts";
import { _redactUrls } from "./_redact.ts";

/**
 * A path segment of a {@linkcode StandardSchemaV1Issue} given as an object.
 *
 * @example A segment
 * ```ts
 * import assert from "node:assert/strict";
 * import type { StandardSchemaV1PathSegment } from "@netaccess/core";
 *
 * const segment: StandardSchemaV1PathSegment = { key: "items" };
 * assert.equal(segment.key, "items");
 * ```
 */
export interface StandardSchemaV1PathSegment {
  /** The key of the segment. */
  readonly key: PropertyKey;
}

/**
 * One problem a validator found: a message and, for a nested value, the path to it.
 *
 * @example An issue at `items[0].name`
 * ```ts
 * import assert from "node:assert/strict";
 * import type { StandardSchemaV1Issue } from "@netaccess/core";
 *
 * const issue: StandardSchemaV1Issue = { message: "Expected a string", path: ["items", 0, "name"] };
 * assert.equal(issue.path?.length, 3);
 * ```
 */
export interface StandardSchemaV1Issue {
  /** What is wrong. */
  readonly message: string;
  /** Where, from the root of the value; absent for the root itself. */
  readonly path?: ReadonlyArray<PropertyKey | StandardSchemaV1PathSegment> | undefined;
}

/**
 * The outcome of a validation: the value (possibly transformed) or the issues.
 *
 * @typeParam Output The type of a valid value.
 *
 * @example A success and a failure
 * ```ts
 * import assert from "node:assert/strict";
 * import type { StandardSchemaV1Result } from "@netaccess/core";
 *
 * const ok: StandardSchemaV1Result<number> = { value: 1 };
 * const bad: StandardSchemaV1Result<number> = { issues: [{ message: "Expected a number" }] };
 * assert.equal(ok.issues, undefined);
 * assert.equal(bad.issues?.length, 1);
 * ```
 */
export type StandardSchemaV1Result<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<StandardSchemaV1Issue> };

/**
 * The types a schema carries for inference only.
 *
 * @typeParam Input The type the schema accepts.
 * @typeParam Output The type it produces.
 *
 * @example Reading the output type of a schema
 * ```ts
 * import assert from "node:assert/strict";
 * import type { StandardSchemaV1Types } from "@netaccess/core";
 *
 * const types: StandardSchemaV1Types<string, number> = { input: "1", output: 1 };
 * assert.equal(types.output, 1);
 * ```
 */
export interface StandardSchemaV1Types<Input, Output> {
  /** The input type. */
  readonly input: Input;
  /** The output type. */
  readonly output: Output;
}

/**
 * The `~standard` property of a schema.
 *
 * @typeParam Input The type the schema accepts.
 * @typeParam Output The type it produces.
 *
 * @example The property of a hand-written schema
 * ```ts
 * import assert from "node:assert/strict";
 * import type { StandardSchemaV1Props } from "@netaccess/core";
 *
 * const props: StandardSchemaV1Props<unknown, string> = {
 *   version: 1,
 *   vendor: "example",
 *   validate: (value) =>
 *     typeof value === "string" ? { value } : { issues: [{ message: "Expected a string" }] },
 * };
 * assert.deepEqual(props.validate("a"), { value: "a" });
 * ```
 */
export interface StandardSchemaV1Props<Input = unknown, Output = Input> {
  /** The version of the specification: 1. */
  readonly version: 1;
  /** The library that made the schema. */
  readonly vendor: string;
  /** Validates a value, at once or asynchronously. */
  readonly validate: (
    value: unknown,
  ) => StandardSchemaV1Result<Output> | Promise<StandardSchemaV1Result<Output>>;
  /** The inferred types, for type checking only. */
  readonly types?: StandardSchemaV1Types<Input, Output> | undefined;
}

/**
 * A validator that implements Standard Schema v1: anything with a `~standard` property, such
 * as a Zod, Valibot or ArkType schema. {@linkcode NetworkReply.json} takes one.
 *
 * @typeParam Input The type the schema accepts.
 * @typeParam Output The type of a valid value.
 *
 * @example A schema written by hand
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, type StandardSchemaV1 } from "@netaccess/core";
 *
 * const Name: StandardSchemaV1<unknown, { name: string }> = {
 *   "~standard": {
 *     version: 1,
 *     vendor: "example",
 *     validate: (value) =>
 *       typeof (value as { name?: unknown })?.name === "string"
 *         ? { value: value as { name: string } }
 *         : { issues: [{ message: "Expected a string", path: ["name"] }] },
 *   },
 * };
 * await using manager = new NetworkAccessManager();
 * const user = await manager.get('data:application/json,{"name":"Ada"}').json(Name);
 * assert.equal(user.name, "Ada");
 * ```
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  /** The Standard Schema interface. */
  readonly "~standard": StandardSchemaV1Props<Input, Output>;
}

/**
 * The output type of a Standard Schema: what {@linkcode NetworkReply.json} resolves with.
 *
 * @typeParam Schema The schema.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { StandardSchemaV1, StandardSchemaV1InferOutput } from "@netaccess/core";
 *
 * type Count = StandardSchemaV1InferOutput<StandardSchemaV1<unknown, number>>;
 * const count: Count = 3;
 * assert.equal(count, 3);
 * ```
 */
export type StandardSchemaV1InferOutput<Schema extends StandardSchemaV1> = NonNullable<
  Schema["~standard"]["types"]
>["output"];

/**
 * Thrown by {@linkcode NetworkReply.json} when the body is JSON but the schema rejects it. The
 * message names the URL (and the status, for an HTTP error status) and lists each issue as
 * `path: message` (the first 20, then how many more; a line break in a message shows as `\n`);
 * `issues` holds them all as the validator gave them. Credentials in the URLs it names are shown as `[redacted]`, as in every message. Like `InvalidJsonError`
 * (a body that is not JSON) and unlike {@linkcode NetworkReplyError} (a failed transfer), it
 * leaves the reply's `error` as it was: the transfer succeeded.
 *
 * @example Catching a rejected body
 * ```ts
 * import assert from "node:assert/strict";
 * import { NetworkAccessManager, SchemaValidationError, type StandardSchemaV1 } from "@netaccess/core";
 *
 * const Numbers: StandardSchemaV1<unknown, number[]> = {
 *   "~standard": {
 *     version: 1,
 *     vendor: "example",
 *     validate: (value) =>
 *       Array.isArray(value) && value.every((n) => typeof n === "number")
 *         ? { value: value as number[] }
 *         : { issues: [{ message: "Expected numbers" }] },
 *   },
 * };
 * await using manager = new NetworkAccessManager();
 * const error = await manager.get('data:application/json,["a"]').json(Numbers).catch((e) => e);
 * assert.ok(error instanceof SchemaValidationError);
 * assert.equal(error.issues[0]?.message, "Expected numbers");
 * ```
 */
export class SchemaValidationError extends Error {
  /** The issues, as the validator reported them. */
  readonly issues: ReadonlyArray<StandardSchemaV1Issue>;
  /** The reply whose body was validated, when known. */
  readonly reply: NetworkReply | undefined;

  /**
   * Creates the error; the message lists every issue.
   *
   * @param what What was validated, such as `"The body of https://example.com/"`.
   * @param issues The issues.
   * @param reply The reply, when the body came from one.
   */
  constructor(
    what: string,
    issues: ReadonlyArray<StandardSchemaV1Issue>,
    reply?: NetworkReply,
  ) {
    // A body of many wrong items gives as many issues: the message lists the first ones.
    // One line per issue: a line break in a message shows as `\n`.
    const lines = issues.slice(0, MAX_LISTED).map((issue) =>
      `  - ${issuePath(issue)}: ${String(issue.message).replace(LINE_BREAK, escapeBreak)}`
    );
    if (issues.length > MAX_LISTED) {
      lines.push(`  ... and ${issues.length - MAX_LISTED} more (every one is in 'issues')`);
    }
    super(_redactUrls(
      issues.length === 0
        ? `${what} does not match the schema (the validator reported a failure without an issue)`
        : `${what} does not match the schema (${issues.length} ${
          issues.length === 1 ? "issue" : "issues"
        }):\n${lines.join("\n")}`,
    ));
    this.name = "SchemaValidationError";
    this.issues = issues;
    this.reply = reply;
  }
}

/** The most issues a {@linkcode SchemaValidationError}'s message lists. */
const MAX_LISTED = 20;

/** The line breaks an issue's message shows escaped, so that each issue keeps one line. */
const LINE_BREAK = /[\n\r\u2028\u2029]/g;

/** The escape of a line break: `\n`, `\r`, `\u2028` or `\u2029`. */
function escapeBreak(char: string): string {
  return char === "\n" ? "\\n" : char === "\r" ? "\\r" : `\\u${char.charCodeAt(0).toString(16)}`;
}

/** The path of an issue as `$`, `$.items[0].name` or `$["a b"]`. */
function issuePath(issue: StandardSchemaV1Issue): string {
  let out = "$";
  for (const part of issue.path ?? []) {
    const key = typeof part === "object" && part !== null ? part.key : part;
    if (typeof key === "number") out += `[${key}]`;
    else if (typeof key === "symbol") out += `[${key.toString()}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(key)) out += `.${key}`;
    else out += `[${JSON.stringify(key)}]`;
  }
  return out;
}
