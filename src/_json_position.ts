/** Finds where a JSON text stops being valid, for error messages that name the position. */

const WS = new Set([" ", "\t", "\n", "\r"]);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// deno-lint-ignore no-control-regex -- JSON forbids raw control characters in strings
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;

/**
 * Returns the offset (in UTF-16 code units) of the first character at which `text` is not
 * valid JSON: the offending character, or `text.length` when the text ends too early. Returns
 * `null` when the text is valid.
 */
export function _jsonErrorPosition(text: string): number | null {
  let i = 0;
  const skip = () => {
    while (i < text.length && WS.has(text[i]!)) i++;
  };
  const fail = (at: number): never => {
    throw at;
  };
  const literal = (word: string) => {
    for (let k = 0; k < word.length; k++, i++) if (text[i] !== word[k]) fail(i);
  };
  const match = (pattern: RegExp) => {
    pattern.lastIndex = i;
    if (!pattern.test(text)) fail(i);
    i = pattern.lastIndex;
  };
  const value = (depth: number): void => {
    if (depth > 10_000) fail(i);
    skip();
    const c = text[i];
    if (c === undefined) fail(i);
    if (c === "{") {
      i++;
      skip();
      if (text[i] === "}") return void i++;
      for (;;) {
        skip();
        if (text[i] !== '"') fail(i);
        match(STRING);
        skip();
        if (text[i] !== ":") fail(i);
        i++;
        value(depth + 1);
        skip();
        if (text[i] === ",") i++;
        else if (text[i] === "}") return void i++;
        else fail(i);
      }
    }
    if (c === "[") {
      i++;
      skip();
      if (text[i] === "]") return void i++;
      for (;;) {
        value(depth + 1);
        skip();
        if (text[i] === ",") i++;
        else if (text[i] === "]") return void i++;
        else fail(i);
      }
    }
    if (c === '"') return match(STRING);
    if (c === "t") return literal("true");
    if (c === "f") return literal("false");
    if (c === "n") return literal("null");
    match(NUMBER);
  };
  try {
    value(0);
    skip();
    return i < text.length ? i : null;
  } catch (at) {
    if (typeof at !== "number") throw at;
    return Math.min(at, text.length);
  }
}
