/**
 * IP literals: parsing IPv4 and IPv6 addresses to bytes, and telling them from host names.
 *
 * @module
 */

/** The four bytes of a dotted-decimal IPv4 address, or `undefined` when `text` is not one. */
export function parseIPv4(text: string): number[] | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    bytes.push(value);
  }
  return bytes;
}

/**
 * The sixteen bytes of an IPv6 address (without brackets; `::` and a dotted IPv4 tail
 * allowed), or `undefined` when `text` is not one.
 */
export function parseIPv6(text: string): number[] | undefined {
  if (!text.includes(":")) return undefined;
  let head = text;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    const v4 = parseIPv4(text.slice(lastColon + 1));
    if (!v4) return undefined;
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    head = text.slice(0, lastColon + 1);
    if (head.endsWith(":") && !head.endsWith("::")) head = head.slice(0, -1);
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    for (const group of part.split(":")) {
      if (!/^[0-9a-f]{1,4}$/i.test(group)) return undefined;
      out.push(parseInt(group, 16));
    }
    return out;
  };
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  if (!left || !right) return undefined;
  const words = [...left, ...right, ...tail].length;
  let all: number[];
  if (halves.length === 2) {
    if (words > 7) return undefined;
    all = [...left, ...new Array<number>(8 - words).fill(0), ...right, ...tail];
  } else {
    all = [...left, ...tail];
    if (all.length !== 8) return undefined;
  }
  const bytes: number[] = [];
  for (const word of all) bytes.push(word >> 8, word & 0xff);
  return bytes;
}

/** The bytes of an IPv4 or IPv6 address (4 or 16), or `undefined` when `text` is neither. */
export function parseIp(text: string): number[] | undefined {
  return parseIPv4(text) ?? parseIPv6(text);
}

/** Drops the brackets of a URL's IPv6 host (`[::1]` -> `::1`). */
export function unbracket(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** Whether `host` is a dotted-decimal IPv4 address (as `URL.hostname` writes them). */
export function isIpv4(host: string): boolean {
  return parseIPv4(host) !== undefined;
}

/** Whether `host` is an IPv6 address, in brackets as in URLs (`[::1]`) or bare. */
export function isIpv6(host: string): boolean {
  return parseIPv6(unbracket(host)) !== undefined;
}

/** Whether `host` is an IP literal: IPv4, or IPv6 with or without brackets. */
export function isIpLiteral(host: string): boolean {
  return parseIp(unbracket(host)) !== undefined;
}
