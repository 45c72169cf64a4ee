import assert from "node:assert/strict";
import {
  InvalidJsonError,
  NetworkAccessManager,
  NetworkError,
  SchemaValidationError,
  type StandardSchemaV1,
  type StandardSchemaV1Issue,
} from "../mod.ts";
import { serve } from "./_helpers/server.ts";

interface User {
  id: number;
  name: string;
  tags: string[];
}

/** A Standard Schema v1 validator written by hand, as a library would make one. */
const UserSchema: StandardSchemaV1<unknown, User> = {
  "~standard": {
    version: 1,
    vendor: "test",
    validate(value) {
      const issues: StandardSchemaV1Issue[] = [];
      const user = value as Record<string, unknown>;
      if (typeof value !== "object" || value === null) {
        return { issues: [{ message: "Expected an object" }] };
      }
      if (typeof user.id !== "number") issues.push({ message: "Expected a number", path: ["id"] });
      if (typeof user.name !== "string") {
        issues.push({ message: "Expected a string", path: [{ key: "name" }] });
      }
      if (!Array.isArray(user.tags)) issues.push({ message: "Expected an array", path: ["tags"] });
      else {
        user.tags.forEach((tag, i) => {
          if (typeof tag !== "string") {
            issues.push({ message: "Expected a string", path: ["tags", { key: i }] });
          }
        });
      }
      return issues.length > 0 ? { issues } : { value: value as User };
    },
  },
};

/** An asynchronous validator that transforms its input. */
const AsyncUpper: StandardSchemaV1<unknown, string> = {
  "~standard": {
    version: 1,
    vendor: "test",
    validate: (value) =>
      Promise.resolve(
        typeof value === "string"
          ? { value: value.toUpperCase() }
          : { issues: [{ message: "Expected a string", path: ["weird key", Symbol.for("s")] }] },
      ),
  },
};

Deno.test("json(schema) returns the typed value a Standard Schema validator accepts", async () => {
  await using server = serve(() => Response.json({ id: 7, name: "Ada", tags: ["a", "b"] }));
  await using manager = new NetworkAccessManager();
  const user: User = await manager.get(server.url).json(UserSchema);
  assert.deepEqual(user, { id: 7, name: "Ada", tags: ["a", "b"] });
  assert.equal(await manager.get(`data:application/json,"shout"`).json(AsyncUpper), "SHOUT");
});

Deno.test("json(schema) rejects with every issue's path and message", async () => {
  await using server = serve(() => Response.json({ id: "7", tags: ["a", 2, "c", false] }));
  await using manager = new NetworkAccessManager();
  const reply = manager.get(`${server.url}/users/7`);
  const error = await reply.json(UserSchema).then(() => null, (e: unknown) => e);
  assert.ok(error instanceof SchemaValidationError, String(error));
  assert.equal(error.name, "SchemaValidationError");
  assert.equal(error.reply, reply);
  assert.equal(error.issues.length, 4);
  assert.match(error.message, new RegExp(`The body of ${server.url}/users/7 does not match`));
  assert.match(error.message, /4 issues/);
  assert.match(error.message, /\$\.id: Expected a number/);
  assert.match(error.message, /\$\.name: Expected a string/);
  assert.match(error.message, /\$\.tags\[1\]: Expected a string/);
  assert.match(error.message, /\$\.tags\[3\]: Expected a string/);

  const odd = await manager.get("data:application/json,1").json(AsyncUpper).catch((e) => e);
  assert.ok(odd instanceof SchemaValidationError);
  assert.match(odd.message, /1 issue\)/);
  assert.match(odd.message, /\$\["weird key"\]\[Symbol\(s\)\]: Expected a string/);
});

Deno.test("json(schema) lists the first 20 issues in its message, and every one in issues", async () => {
  const Strings: StandardSchemaV1<unknown, string[]> = {
    "~standard": {
      version: 1,
      vendor: "test",
      validate: (value) => ({
        issues: (value as unknown[]).map((_, i) => ({ message: "Expected a string", path: [i] })),
      }),
    },
  };
  const body = encodeURIComponent(JSON.stringify(Array.from({ length: 5000 }, (_, i) => i)));
  await using manager = new NetworkAccessManager();
  const error = await manager.get(`data:application/json,${body}`).json(Strings).catch((e) => e);
  assert.ok(error instanceof SchemaValidationError, String(error));
  assert.equal(error.issues.length, 5000);
  const lines = error.message.split("\n");
  assert.equal(lines.length, 22);
  assert.match(lines[0]!, /\(5000 issues\):$/);
  assert.equal(lines[20], "  - $[19]: Expected a string");
  assert.equal(lines[21], "  ... and 4980 more (every one is in 'issues')");
});

Deno.test("json(schema) reports a body that is not JSON as json() does, without validating", async () => {
  let validated = false;
  const spy: StandardSchemaV1 = {
    "~standard": { version: 1, vendor: "test", validate: (value) => (validated = true, { value }) },
  };
  await using manager = new NetworkAccessManager();
  const error = await manager.get("data:application/json,{oops").json(spy).catch((e) => e);
  assert.ok(error instanceof InvalidJsonError, String(error));
  assert.match(error.message, /not valid JSON at line 1, column 2 \(position 1\)/);
  assert.equal(validated, false);
});

Deno.test("json(schema) on an HTTP error status names the status when the body does not match", async () => {
  await using server = serve(() => Response.json({ error: "no such user" }, { status: 404 }));
  await using manager = new NetworkAccessManager();
  const reply = manager.get(`${server.url}/users/8`);
  const error = await reply.json(UserSchema).catch((e) => e);
  assert.ok(error instanceof SchemaValidationError, String(error));
  assert.match(error.message, /\/users\/8 \(HTTP 404 Not Found\) does not match the schema/);
  assert.equal(reply.error, NetworkError.ContentNotFoundError);
});

Deno.test("json(schema) refuses something that is not a Standard Schema, leaving the body", async () => {
  await using manager = new NetworkAccessManager();
  const reply = manager.get("data:application/json,[1]");
  for (const bad of [{}, null, { "~standard": { version: 2, validate() {} } }, () => {}]) {
    await assert.rejects(
      reply.json(bad as unknown as StandardSchemaV1),
      (e: unknown) =>
        e instanceof TypeError && /'schema' must be a Standard Schema v1 validator/.test(e.message),
    );
  }
  assert.deepEqual(await reply.json(), [1]);
});

Deno.test("json(schema) names a validator that returns something that is not a result", async (t) => {
  await using manager = new NetworkAccessManager();
  const results: [unknown, string][] = [
    [undefined, "undefined"],
    [null, "null"],
    [Promise.resolve(7), "7"],
    [{ issues: "bad" }, "an object"],
    [{}, "an object"],
  ];
  for (const [result, shown] of results) {
    await t.step(`validate() returning ${shown}`, async () => {
      const schema = { "~standard": { version: 1, vendor: "mine", validate: () => result } };
      await assert.rejects(manager.get("data:application/json,[1]").json(schema as never), {
        name: "TypeError",
        message: "Cannot validate the body of data:application/json,[1]: the schema's validate() " +
          `(vendor "mine") returned ${shown}, not a result ({ value } or { issues: [...] })`,
      });
    });
  }
});

Deno.test("json(schema) names a validator whose issues are not issues, and what is wrong in one", async () => {
  await using manager = new NetworkAccessManager();
  const notIssue = "not an issue ({ message: string, path?: [...] })";
  const wrong = (at: number, why: string) => `an object as issue ${at}, ${notIssue}: ${why}`;
  const results: [unknown[], string][] = [
    [[null], `null as issue 0, ${notIssue}`],
    [[{ message: "fine" }, "bad"], `"bad" as issue 1, ${notIssue}`],
    [[{ message: 5 }], wrong(0, "its message is 5, not a string")],
    [[{ message: "fine" }, { path: [] }], wrong(1, "it has no message")],
    [
      [{ message: new String("x") }],
      wrong(0, "its message is an instance of String, not a string"),
    ],
    [[{ message: "x", path: "a.b" }], wrong(0, 'its path is "a.b", not an array')],
    [[{ message: "x", path: null }], wrong(0, "its path is null, not an array")],
  ];
  for (const [issues, shown] of results) {
    const schema = { "~standard": { version: 1, vendor: "mine", validate: () => ({ issues }) } };
    await assert.rejects(manager.get("data:application/json,[1]").json(schema as never), {
      name: "TypeError",
      message: "Cannot validate the body of data:application/json,[1]: the schema's validate() " +
        `(vendor "mine") returned ${shown}`,
    });
  }
});

Deno.test("json(schema) keeps one line per issue, and says when a failure has no issue", async () => {
  await using manager = new NetworkAccessManager();
  const failing = (issues: StandardSchemaV1Issue[]) => ({
    "~standard": { version: 1 as const, vendor: "mine", validate: () => ({ issues }) },
  });
  const multiline = await manager.get("data:application/json,[1]").json(
    failing([{ message: "line one\nline two\r\nthree", path: ["a"] }, { message: "next" }]),
  ).catch((error) => error);
  assert.ok(multiline instanceof SchemaValidationError);
  assert.equal(
    multiline.message,
    "The body of data:application/json,[1] does not match the schema (2 issues):\n" +
      "  - $.a: line one\\nline two\\r\\nthree\n  - $: next",
  );
  assert.equal(multiline.issues[0]?.message, "line one\nline two\r\nthree");
  const none = await manager.get("data:application/json,[1]").json(failing([]))
    .catch((error) => error);
  assert.ok(none instanceof SchemaValidationError);
  assert.equal(
    none.message,
    "The body of data:application/json,[1] does not match the schema (the validator reported " +
      "a failure without an issue)",
  );
  assert.deepEqual(none.issues, []);
});

/** `true` when `A` and `B` are the same type (`any` is the same as nothing else). */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;
/** Compiles only for `true`: a check `deno check` makes. */
function sameType<_Check extends true>(): void {}

Deno.test("json(schema) is typed with the schema's output type, and json() with unknown", async () => {
  await using manager = new NetworkAccessManager();
  const body = 'data:application/json,{"id":7,"name":"Ada","tags":[]}';
  const user = manager.get(body).json(UserSchema);
  sameType<Same<typeof user, Promise<User>>>();
  const plain = manager.get(body).json();
  sameType<Same<typeof plain, Promise<unknown>>>();
  // A schema whose type is inferred from an object literal, as a library's may be.
  const Id = {
    "~standard": {
      version: 1 as const,
      vendor: "test",
      validate: (value: unknown) => ({ value: (value as { id: number }).id }),
      types: undefined as undefined | { input: unknown; output: number },
    },
  };
  const id = manager.get(body).json(Id);
  sameType<Same<typeof id, Promise<number>>>();
  const shouted = manager.get('data:application/json,"a"').json(AsyncUpper);
  sameType<Same<typeof shouted, Promise<string>>>();
  // @ts-expect-error: something that is not a Standard Schema is refused by the type too
  const refused = manager.get(body).json({ validate: () => ({ value: 1 }) });
  assert.deepEqual(await user, { id: 7, name: "Ada", tags: [] });
  assert.equal(await plain.then(() => id), 7);
  assert.equal(await shouted, "A");
  await assert.rejects(refused, TypeError);
});

Deno.test("json(schema) rejects with the error a validator throws or rejects with, naming nothing else", async (t) => {
  await using manager = new NetworkAccessManager();
  const failure = new RangeError("validator broke");
  const schemas: [string, () => unknown][] = [
    ["throws", () => {
      throw failure;
    }],
    ["rejects", () => Promise.reject(failure)],
  ];
  for (const [name, validate] of schemas) {
    await t.step(`a validate() that ${name}`, async () => {
      const schema = { "~standard": { version: 1 as const, vendor: "test", validate } };
      const reply = manager.get("data:application/json,[1]");
      await assert.rejects(reply.json(schema as StandardSchemaV1), (e) => e === failure);
      assert.equal(reply.error, NetworkError.NoError);
      await assert.rejects(reply.json(), TypeError, "the body was read");
    });
  }
});
