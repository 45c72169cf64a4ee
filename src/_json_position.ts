/** Finds where a JSON text stops being valid, for error messages that name the position. */

const WS = new Set([" ", "\t", "\n", "\r"]);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// deno-lint-ignore no-control-regex -- JSON forbids raw control characters in strings
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;

/**
 * Returns the offset (in UTF-16 code units) of the first character at which `text` is not
 * valid JSON: the offending character, or `text.length` when the text ends too early. Returns
 * `null` when the text is valid. Nesting of any depth is walked with a stack of its own, not
 * the call stack (a body nested a million deep is a body an API may send).
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
  /** A member's name and its colon, after which its value comes. */
  const name = () => {
    skip();
    if (text[i] !== '"') fail(i);
    match(STRING);
    skip();
    if (text[i] !== ":") fail(i);
    i++;
  };
  /** The closing bracket of each object or array open around the value being read. */
  const open: string[] = [];
  try {
    for (;;) {
      // A value: a scalar, an empty container, or the start of one (its first value is next).
      skip();
      const c = text[i];
      if (c === "{" || c === "[") {
        const close = c === "{" ? "}" : "]";
        i++;
        skip();
        if (text[i] !== close) {
          open.push(close);
          if (c === "{") name();
          continue;
        }
        i++;
      } else if (c === '"') match(STRING);
      else if (c === "t") literal("true");
      else if (c === "f") literal("false");
      else if (c === "n") literal("null");
      else if (c === undefined) fail(i);
      else match(NUMBER);
      // After a value: close what it ends, until a comma leads to the next value.
      for (;;) {
        skip();
        const close = open.at(-1);
        if (close === undefined) return i < text.length ? i : null;
        if (text[i] === ",") {
          i++;
          if (close === "}") name();
          break;
        }
        if (text[i] !== close) fail(i);
        i++;
        open.pop();
      }
    }
  } catch (at) {
    if (typeof at !== "number") throw at;
    return Math.min(at, text.length);
  }
}
