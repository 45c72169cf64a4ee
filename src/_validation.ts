/**
 * Validation of options and arguments. Every message has one shape, after Deno's:
 * `${what}: '${field}' must be ${expected}, got ${describe(value)}`, where `what` says what
 * failed (`Cannot create request`).
 *
 * @module
 */

/**
 * A value as a message shows it: strings quoted (long ones cut), numbers, booleans, `null` and
 * `undefined` as written, arrays as `an array`, functions as `a function`, other objects by
 * their class (`an object` when plain).
 */
export function describe(value: unknown): string {
  if (typeof value === "string") {
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  }
  if (typeof value === "function") return "a function";
  if (typeof value === "symbol") return value.toString();
  if (typeof value === "bigint") return `${value}n`;
  if (value === null || typeof value !== "object") return String(value);
  if (Array.isArray(value)) return "an array";
  const name = (value as object).constructor?.name;
  return name && name !== "Object" ? `an instance of ${name}` : "an object";
}

/**
 * Checks that `value` is one of `allowed` (or `undefined`, unless `required`); the message names
 * `field`.
 */
export function checkChoice(
  what: string,
  field: string,
  value: unknown,
  allowed: readonly string[],
  required = false,
): void {
  if (
    (value !== undefined || required) && (typeof value !== "string" || !allowed.includes(value))
  ) {
    throw new TypeError(
      `${what}: '${field}' must be one of ${allowed.map((a) => `"${a}"`).join(", ")}, got ${
        describe(value)
      }`,
    );
  }
}

/**
 * The error of a number `field` whose `value` it refuses, after the web platform's model: a
 * `TypeError` when `value` is no number at all (a string, `null`, a bigint), a `RangeError` when
 * it is a number out of the field's range (negative, too large, not an integer, `NaN` or
 * `Infinity` where a finite number is needed). The message:
 * `${what}: '${field}' must be ${expected}, got ${describe(value)}`, then `; ${hint}` if given.
 */
export function numberError(
  what: string,
  field: string,
  value: unknown,
  expected: string,
  hint?: string,
): TypeError | RangeError {
  const message = `${what}: '${field}' must be ${expected}, got ${describe(value)}${
    hint === undefined ? "" : `; ${hint}`
  }`;
  return typeof value === "number" ? new RangeError(message) : new TypeError(message);
}

/**
 * Checks that `value` is an integer from `min` to 2^53 - 1 (`Number.MAX_SAFE_INTEGER`), or
 * `undefined` unless `required`; the message names `field`: a `TypeError` when it is no number, a
 * `RangeError` when it is one out of range (see {@linkcode numberError}).
 */
export function checkInteger(
  what: string,
  field: string,
  value: unknown,
  min: number,
  required = false,
): void {
  if (value === undefined && !required) return;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    const kind = Number.isInteger(value) && (value as number) > min
      ? `at most ${Number.MAX_SAFE_INTEGER}` // an integer past the safe ones
      : min === 0
      ? "a non-negative integer"
      : min === 1
      ? "a positive integer"
      : `an integer >= ${min}`;
    throw numberError(what, field, value, kind);
  }
}

/**
 * Whether `value` is a plain object (made by `{}` or `Object.create(null)`, in this realm or
 * another: {@linkcode plainPrototype}), not an instance of some class.
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object") return false;
  return plainPrototype(Object.getPrototypeOf(value));
}

/**
 * Whether `prototype` is that of a plain object made in any realm (another one's is made by
 * `node:vm` or an iframe): `null`, or a realm's `Object.prototype`, told by its shape (its own
 * prototype `null`, its `constructor` a function whose prototype is it and whose own prototype,
 * a `Function.prototype`, has it as prototype). A class's `Symbol.toStringTag` cannot pass it.
 */
export function plainPrototype(prototype: object | null): boolean {
  if (prototype === Object.prototype || prototype === null) return true;
  if (Object.getPrototypeOf(prototype) !== null) return false;
  const made: unknown = Object.getOwnPropertyDescriptor(prototype, "constructor")?.value;
  return typeof made === "function" && made.prototype === prototype &&
    Object.getPrototypeOf(Object.getPrototypeOf(made)) === prototype;
}

/**
 * Checks that `value` is an object of options, not an array (or `undefined`); the message names
 * `field`.
 */
export function checkObject(what: string, field: string, value: unknown): void {
  if (
    value !== undefined && (typeof value !== "object" || value === null || Array.isArray(value))
  ) {
    throw new TypeError(`${what}: '${field}' must be an object, got ${describe(value)}`);
  }
}

/**
 * A header value Deno's `fetch` refuses to send: one holding a control character other than TAB
 * (U+0000 to U+0008, U+000A to U+001F, U+007F), which `Headers` lets through but CR, LF, NUL.
 */
// deno-lint-ignore no-control-regex -- control characters are what it looks for
export const UNSENDABLE_HEADER_VALUE = /[\0-\x08\x0a-\x1f\x7f]/;

/** Headers whose values are credentials: an error names them, never their value. */
const CREDENTIALS = new Set(["authorization", "proxy-authorization", "cookie"]);

/**
 * The error of headers `new Headers(headers)` refused, its message starting with `what`: headers
 * that are not an object say so (naming them `field`); a header whose name or value holds a character above U+00FF is named (they are ByteStrings);
 * otherwise the reason `Headers` gave (a name that is no token, a value with CR, LF or NUL),
 * after the name of a header whose value it refused.
 * The value of a credential (`Authorization`, `Proxy-Authorization`, `Cookie`) is not shown.
 */
export function headersError(
  what: string,
  headers: unknown,
  error: unknown,
  field = "headers",
): TypeError {
  if (typeof headers !== "object" || headers === null) {
    return new TypeError(
      `${what}: '${field}' must be a Headers, a record or an array of [name, value] pairs, got ${
        describe(headers)
      }`,
    );
  }
  const bad = badHeader(headers);
  const secret = bad !== undefined && CREDENTIALS.has(bad[0].toLowerCase());
  const message = bad?.[2] === "wide" && /[^\0-\xff]/.test(bad[0])
    ? `${what}: invalid header name ${JSON.stringify(bad[0])}: a name must be Latin-1 ` +
      "(a ByteString, no character above U+00FF), and a token (RFC 9110: letters, digits and " +
      "!#$%&'*+-.^_`|~)"
    : bad?.[2] === "wide"
    ? `${what}: invalid header ${JSON.stringify(bad[0])}: its name and value must be Latin-1 ` +
      `(ByteStrings, no character above U+00FF), got ${
        secret ? "a value that is not (not shown: a credential)" : `the value ${describe(bad[1])}`
      }; encode the text first, e.g. with encodeURIComponent`
    : secret
    ? `${what}: invalid header ${JSON.stringify(bad![0])}: its value holds a line break or NUL, ` +
      "which a header value cannot (the value is not shown: a credential)"
    : bad !== undefined && /^Invalid header value/.test((error as Error).message)
    ? `${what}: invalid header ${JSON.stringify(bad[0])} (${(error as Error).message})`
    : `${what}: invalid header (${(error as Error).message})`;
  return new TypeError(message, { cause: secret ? undefined : error });
}

/**
 * Why `fetch` refused headers (a record or `[name, value]` pairs, as sent), when a value holds a
 * control character no header carries (see {@linkcode UNSENDABLE_HEADER_VALUE}): the message,
 * starting with `what`, names the header and the character, and shows the value unless it is
 * a credential; else `undefined`. Looked for only once `fetch` failed: a send that goes out
 * pays nothing for it.
 */
export function unsendableHeader(
  what: string,
  headers: HeadersInit,
): string | undefined {
  const entries = Symbol.iterator in headers
    ? headers as Iterable<[string, string]>
    : Object.entries(headers as Record<string, string>);
  for (const [name, value] of entries) {
    const bad = UNSENDABLE_HEADER_VALUE.exec(value);
    if (bad === null) continue;
    const code = bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    const shown = CREDENTIALS.has(name.toLowerCase())
      ? "(the value is not shown: a credential)"
      : `(${JSON.stringify(value).replace(/\x7f/g, "\\u007f")})`;
    return `${what}: invalid header ${JSON.stringify(name)}: its value holds the control ` +
      `character U+${code}, which a header value cannot hold (TAB is the only one) ${shown}`;
  }
  return undefined;
}

/**
 * The first header of a `HeadersInit` whose name or value holds a character above U+00FF
 * (`"wide"`), else the first whose value holds CR, LF or NUL (`"break"`).
 */
function badHeader(headers: unknown): [string, string, "wide" | "break"] | undefined {
  try {
    const entries = typeof headers === "object" && headers !== null && Symbol.iterator in headers
      ? [...headers as Iterable<[unknown, unknown]>]
      : Object.entries(headers as object);
    for (const [name, value] of entries) {
      if (/[^\0-\xff]/.test(`${name}${value}`)) return [String(name), String(value), "wide"];
    }
    for (const [name, value] of entries) {
      if (value != null && /[\r\n\0]/.test(String(value).trim())) {
        return [String(name), String(value), "break"];
      }
    }
  } catch { /* not a list of headers: the reason `Headers` gave stands */ }
  return undefined;
}

/** Checks that `value` is a function (or `undefined`); the message names `field`. */
export function checkFunction(what: string, field: string, value: unknown): void {
  if (value !== undefined && typeof value !== "function") {
    throw new TypeError(`${what}: '${field}' must be a function, got ${describe(value)}`);
  }
}

/** The longest delay `setTimeout` honours (2^31 - 1 ms, about 24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * Refuses a delay in milliseconds (already checked otherwise) that is too long for a timer:
 * `setTimeout` would fire a delay of 2^31 ms or more at once, a timeout that never waits.
 * `zero` ends the message: what 0 means for the field (a timeout: off).
 */
export function checkTimerRange(
  what: string,
  field: string,
  value: unknown,
  zero = "use 0 to turn it off",
): void {
  if (typeof value === "number" && value > MAX_TIMER_MS) {
    throw numberError(
      what,
      field,
      value,
      `at most ${MAX_TIMER_MS} ms (about 24.8 days, the longest timer)`,
      zero,
    );
  }
}

/**
 * Checks a delay in milliseconds that becomes a timer (or `undefined`, unless `required`): an
 * integer from 0 to 2^31 - 1 (a `TypeError` when it is no number, a `RangeError` when it is one
 * out of range). `zero` ends the message for a value too long (see {@linkcode checkTimerRange}).
 */
export function checkTimer(
  what: string,
  field: string,
  value: unknown,
  zero?: string,
  required = false,
): void {
  // An integer too long for a timer is told so, however long (past 2^53 - 1 too).
  if (Number.isInteger(value)) checkTimerRange(what, field, value, zero);
  checkInteger(what, field, value, 0, required);
}

/** The longest cookie partition key, in UTF-8 bytes (it is one element of KV keys). */
export const MAX_PARTITION_BYTES = 512;

/**
 * Checks a cookie partition key (or `undefined`): a non-empty string of at most
 * {@linkcode MAX_PARTITION_BYTES} bytes.
 */
export function checkPartition(
  what: string,
  partition: unknown,
): asserts partition is string | undefined {
  if (partition === undefined) return;
  if (typeof partition !== "string" || partition === "") {
    throw new TypeError(
      `${what}: 'partition' must be a non-empty string, got ${describe(partition)}`,
    );
  }
  const bytes = new TextEncoder().encode(partition).length;
  if (bytes > MAX_PARTITION_BYTES) {
    throw new RangeError(
      `${what}: 'partition' must be at most ${MAX_PARTITION_BYTES} bytes, got ${bytes} ` +
        "(hash a longer key)",
    );
  }
}

/**
 * Refuses a key of the options object `options` that is not one of `known`: a misspelt option
 * would otherwise be ignored without a word. The message names the key and, when one is close
 * (a typo, another case), the option it was meant to be, else every option:
 * `Cannot create manager: unknown option 'timout'; did you mean 'timeout'?`. `field` names the
 * object when it is not the options themselves (`cache` of a factory's options).
 */
export function checkKeys(
  what: string,
  options: object,
  known: readonly string[],
  field?: string,
): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const name = field === undefined ? key : `${field}.${key}`;
    const close = closest(key, known);
    const hint = close === undefined
      ? `; the options are ${known.map((k) => `'${k}'`).join(", ")}`
      : `; did you mean '${field === undefined ? close : `${field}.${close}`}'?`;
    throw new TypeError(`${what}: unknown option '${name}'${hint}`);
  }
}

/** The word of `words` closest to `word` (case aside), if one is near enough to be a typo. */
function closest(word: string, words: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of words) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

/** Edits (insert, delete, replace, swap two neighbours) that turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row = rows[i] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row[j] = j;
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let distance = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        distance = Math.min(distance, rows[i - 2]![j - 2]! + 1);
      }
      row[j] = distance;
    }
  }
  return rows[a.length]![b.length]!;
}
