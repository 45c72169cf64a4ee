/**
 * Cookie text on the wire: header values carry one char per byte, cookie text is UTF-8.
 *
 * @module
 */

const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** Reads a header value (one char per byte) as UTF-8, or leaves it when it is not UTF-8. */
export function fromWire(value: string): string {
  if (!/[\x80-\xff]/.test(value)) return value;
  const bytes = Uint8Array.from(value, (c) => c.charCodeAt(0));
  try {
    return utf8.decode(bytes);
  } catch {
    return value;
  }
}

/** Writes text as a header value: UTF-8 bytes, one char per byte. */
export function toWire(value: string): string {
  if (!/[^ -~\t]/.test(value)) return value;
  let out = "";
  for (const byte of encoder.encode(value)) out += String.fromCharCode(byte);
  return out;
}

/** One cookie's pair in a `Cookie` header, as sent: `name=value`, or the value of a nameless one. */
export function cookiePair(name: string, value: string): string {
  return toWire(name === "" ? value : `${name}=${value}`);
}
