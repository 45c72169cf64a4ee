import assert from "node:assert/strict";
import { checkChoice, checkFunction, checkInteger, describe } from "../src/_validation.ts";
import { checkClock, systemClock } from "../src/_clock.ts";
import { isToken } from "../src/_http_token.ts";
import { checkPrefix } from "../src/_kv.ts";

Deno.test("describe shows a value as an error message does", () => {
  assert.equal(describe("x"), '"x"');
  assert.equal(describe("a".repeat(100)), JSON.stringify(`${"a".repeat(57)}...`));
  assert.equal(describe(3), "3");
  assert.equal(describe(null), "null");
  assert.equal(describe(undefined), "undefined");
  assert.equal(describe([1]), "an array");
  assert.equal(describe({}), "an object");
  assert.equal(describe(new Date(0)), "an instance of Date");
  assert.equal(describe(() => 1), "a function");
});

Deno.test("option checks name the field and the value", () => {
  assert.throws(() => checkChoice("Cannot go", "mode", "fast", ["slow"]), {
    name: "TypeError",
    message: `Cannot go: 'mode' must be one of "slow", got "fast"`,
  });
  checkChoice("Cannot go", "mode", undefined, ["slow"]);
  assert.throws(() => checkInteger("Cannot go", "n", 0, 1), {
    name: "RangeError",
    message: "Cannot go: 'n' must be a positive integer, got 0",
  });
  assert.throws(() => checkInteger("Cannot go", "n", 1.5, 0), {
    message: "Cannot go: 'n' must be a non-negative integer, got 1.5",
  });
  assert.throws(() => checkInteger("Cannot go", "n", -2, -1), {
    message: "Cannot go: 'n' must be an integer >= -1, got -2",
  });
  assert.throws(() => checkFunction("Cannot go", "f", 1), {
    name: "TypeError",
    message: "Cannot go: 'f' must be a function, got 1",
  });
});

Deno.test("checkClock defaults to the wall clock and rejects non-functions", () => {
  assert.equal(checkClock("Cannot open store", undefined), systemClock);
  const clock = () => 5;
  assert.equal(checkClock("Cannot open store", clock), clock);
  assert.throws(() => checkClock("Cannot open store", 5), {
    name: "TypeError",
    message: "Cannot open store: 'clock' must be a function, got 5",
  });
});

Deno.test("isToken accepts RFC 9110 tokens only", () => {
  assert.equal(isToken("PROPFIND"), true);
  assert.equal(isToken("x-custom!"), true);
  assert.equal(isToken("GET /"), false);
  assert.equal(isToken(""), false);
  assert.equal(isToken(7), false);
});

Deno.test("checkPrefix copies a valid KV prefix and rejects others in one message shape", () => {
  const fallback = ["app", "store"];
  assert.deepEqual(checkPrefix("Cannot open store", undefined, fallback), fallback);
  assert.notEqual(checkPrefix("Cannot open store", undefined, fallback), fallback);
  assert.deepEqual(checkPrefix("Cannot open store", ["a", 1, true], fallback), ["a", 1, true]);
  assert.throws(() => checkPrefix("Cannot open store", "a", fallback), {
    name: "TypeError",
    message: `Cannot open store: 'prefix' must be a non-empty array of key parts, got "a"`,
  });
  assert.throws(() => checkPrefix("Cannot open store", [{}], fallback), {
    message: "Cannot open store: 'prefix' must be an array of KV key parts, got [ {} ]",
  });
  assert.throws(() => checkPrefix("Cannot open store", ["x".repeat(600)], fallback), {
    message: /'prefix' must be at most 512 bytes long/,
  });
});
