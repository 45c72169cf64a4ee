/** Checking a Standard Schema v1 validator and running it. */

import type { NetworkReply } from "./reply.ts";
import { describe } from "./_validation.ts";
import { _redactUrls } from "./_redact.ts";
import { parseJson } from "./reply/_decode.ts";
import {
  SchemaValidationError,
  type StandardSchemaV1,
  type StandardSchemaV1InferOutput,
  type StandardSchemaV1Issue,
} from "./standard_schema.ts";

/** Checks that `schema` is a Standard Schema v1; the message starts with `what`. */
export function checkSchema(what: string, schema: unknown): asserts schema is StandardSchemaV1 {
  const props = (schema as { "~standard"?: { version?: unknown; validate?: unknown } } | null)
    ?.["~standard"];
  if (
    (typeof schema !== "object" && typeof schema !== "function") || schema === null ||
    typeof props !== "object" || props === null || props.version !== 1 ||
    typeof props.validate !== "function"
  ) {
    throw new TypeError(
      `${what}: 'schema' must be a Standard Schema v1 validator (an object with a '~standard' ` +
        `property of version 1 and a validate function, as Zod, Valibot and ArkType schemas have)`,
    );
  }
}

/**
 * Validates `value` with `schema`; resolves with the validator's output or rejects with a
 * {@linkcode SchemaValidationError} naming `what`, or with a `TypeError` when the validator
 * returns something that is not a result.
 */
export async function validate<Schema extends StandardSchemaV1>(
  schema: Schema,
  value: unknown,
  what: string,
  reply?: NetworkReply,
): Promise<StandardSchemaV1InferOutput<Schema>> {
  let result: unknown = schema["~standard"].validate(value);
  if (result instanceof Promise) result = await result;
  const issues = (result as { issues?: unknown } | null)?.issues;
  const malformed = (returned: string) => {
    const vendor = describe(schema["~standard"].vendor);
    return new TypeError(_redactUrls(
      `Cannot validate ${what[0]!.toLowerCase()}${what.slice(1)}: the schema's validate() ` +
        `(vendor ${vendor}) returned ${returned}`,
    ));
  };
  if (
    typeof result !== "object" || result === null ||
    (issues ? !Array.isArray(issues) : !("value" in result))
  ) {
    throw malformed(`${describe(result)}, not a result ({ value } or { issues: [...] })`);
  }
  if (issues) {
    const list = issues as unknown[];
    for (const [at, issue] of list.entries()) {
      const fault = issueFault(issue);
      if (fault !== null) {
        throw malformed(
          `${describe(issue)} as issue ${at}, not an issue ({ message: string, path?: [...] })` +
            fault,
        );
      }
    }
    throw new SchemaValidationError(what, list as StandardSchemaV1Issue[], reply);
  }
  return (result as { value: unknown }).value as StandardSchemaV1InferOutput<Schema>;
}

/**
 * What keeps `issue` from being a Standard Schema issue (a message, and a path if any as an
 * array): `""` when it is no object, `: its path is null, not an array` when a field is wrong,
 * `null` when it is one.
 */
function issueFault(issue: unknown): string | null {
  if (typeof issue !== "object" || issue === null) return "";
  const { message, path } = issue as { message?: unknown; path?: unknown };
  if (typeof message !== "string") {
    return message === undefined && !("message" in issue)
      ? ": it has no message"
      : `: its message is ${describe(message)}, not a string`;
  }
  return path === undefined || Array.isArray(path)
    ? null
    : `: its path is ${describe(path)}, not an array`;
}

/**
 * A reply's whole body read as JSON (in UTF-8 whatever the charset, as RFC 8259 has it), and
 * validated with `schema` when one is given; the messages name the URL, and an error status.
 */
export async function readJson(
  reply: NetworkReply,
  bytes: Uint8Array,
  schema: StandardSchemaV1 | undefined,
): Promise<unknown> {
  const value = parseJson(bytes, reply.url.href, reply);
  if (schema === undefined) return value;
  const status = reply.error === 0 ? "" : ` (HTTP ${reply.status} ${reply.statusText})`;
  return await validate(
    schema,
    value,
    `The body of ${reply.url.href}${status.replace(" )", ")")}`,
    reply,
  );
}
