/** Checking a Standard Schema v1 validator and running it. */

import type { NetworkReply } from "./reply.ts";
import {
  SchemaValidationError,
  type StandardSchemaV1,
  type StandardSchemaV1InferOutput,
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
 * {@linkcode SchemaValidationError} naming `what`.
 */
export async function validate<Schema extends StandardSchemaV1>(
  schema: Schema,
  value: unknown,
  what: string,
  reply?: NetworkReply,
): Promise<StandardSchemaV1InferOutput<Schema>> {
  let result = schema["~standard"].validate(value);
  if (result instanceof Promise) result = await result;
  if (result.issues) throw new SchemaValidationError(what, result.issues, reply);
  return result.value as StandardSchemaV1InferOutput<Schema>;
}
