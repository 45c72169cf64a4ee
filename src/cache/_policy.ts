/**
 * The HTTP caching rules under the cache layer: `http-cache-semantics` driven by the manager's
 * clock, plus what the library leaves to its caller (strict HTTP-date parsing, variant keys,
 * the headers of a stored response as served, the merge of a `304`).
 */

// @ts-types="npm:@types/http-cache-semantics@4.2.0"
import type CachePolicy from "http-cache-semantics";
import type { Clock } from "../clock.ts";
import { parseHttpDate } from "../_http_date.ts";
import { _selectingValue } from "./_vary.ts";

/** The header record shape `http-cache-semantics` reads. */
export type _HeaderRecord = Record<string, string>;

/** The module of the clocked policy classes, once loaded. */
let policyModule: typeof import("./_policy_class.ts") | undefined;

/**
 * The `CachePolicy` class whose notion of "now" is `clock` (see `_policy_class.ts`), loading
 * `http-cache-semantics` on the first call; later calls answer without a promise.
 */
export function _loadPolicyClass(clock: Clock): typeof CachePolicy | Promise<typeof CachePolicy> {
  if (policyModule !== undefined) return policyModule._policyClass(clock);
  return import("./_policy_class.ts").then((loaded) => {
    policyModule = loaded;
    return loaded._policyClass(clock);
  });
}

/**
 * The policy options of a private (single-user) cache and of a shared one. `immutable` gives no
 * freshness of its own (the library's default is a day): it only spares a fresh response a
 * revalidation (RFC 8246).
 */
const PRIVATE_OPTIONS = { shared: false, immutableMinTimeToLive: 0 } as const;
const SHARED_OPTIONS = { shared: true, immutableMinTimeToLive: 0 } as const;

/** The options of the policies of a shared or a private cache. */
export function _policyOptions(
  shared: boolean,
): { shared: boolean; immutableMinTimeToLive: number } {
  return shared ? SHARED_OPTIONS : PRIVATE_OPTIONS;
}

/** Response fields that set cookies: never stored, never served from the cache. */
export const _COOKIE_FIELDS: ReadonlySet<string> = new Set(["set-cookie", "set-cookie2"]);

/** Hop-by-hop fields, never stored nor served from the cache (RFC 9111 section 3.1). */
export const _HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "transfer-encoding",
  "upgrade",
  "trailer",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-authentication-info",
]);

/** Fields a `304` never replaces in the stored response (they describe the stored body). */
const NOT_UPDATED_BY_304: ReadonlySet<string> = new Set([
  "content-length",
  "content-encoding",
  "content-range",
  "transfer-encoding",
]);

const DATE_FIELDS: ReadonlySet<string> = new Set(["date", "expires", "last-modified"]);

/**
 * The response headers as `http-cache-semantics` should read them: lower-case names, fields
 * listed in `Connection` dropped, and `Date`, `Expires` and `Last-Modified` values that are not
 * valid HTTP-dates replaced (an invalid `Expires` means "already expired"; an invalid `Date`
 * or `Last-Modified` is ignored).
 */
export function _responseRecord(pairs: Iterable<[string, string]>): _HeaderRecord {
  const record: _HeaderRecord = {};
  for (const [name, value] of pairs) {
    const key = name.toLowerCase();
    record[key] = key in record ? `${record[key]}, ${value}` : value;
  }
  for (const field of DATE_FIELDS) {
    const value = record[field];
    if (value === undefined) continue;
    if (Number.isNaN(parseHttpDate(value))) {
      if (field === "expires") record[field] = "0";
      else delete record[field];
    } else record[field] = new Date(parseHttpDate(value)).toUTCString();
  }
  const age = record.age;
  if (age !== undefined) {
    // Only the first value counts; a non-integer (such as "1.5") is invalid and ignored.
    const first = age.split(",")[0]!.trim();
    if (/^\d+$/.test(first)) record.age = first;
    else if (/^\d+\./.test(first)) delete record.age;
  }
  const cc = record["cache-control"];
  if (cc !== undefined) record["cache-control"] = _normalizeCacheControl(cc);
  return record;
}

/**
 * Normalizes a `Cache-Control` value for the library: directive names in lower case, and
 * `max-age` / `s-maxage` values that are not plain digits dropped (a quoted or signed value is
 * invalid; RFC 9111 section 1.2.2). When a directive repeats with different values, the
 * response is treated as stale (`max-age=0`).
 */
export function _normalizeCacheControl(value: string): string {
  const out: string[] = [];
  const seen = new Map<string, string | true>();
  let conflict = false;
  for (const part of splitDirectives(value)) {
    const eq = part.indexOf("=");
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (!name) continue;
    const raw = eq === -1 ? true : part.slice(eq + 1).trim();
    if ((name === "max-age" || name === "s-maxage") && (raw === true || !/^\d+$/.test(raw))) {
      continue;
    }
    const previous = seen.get(name);
    if (previous !== undefined) {
      if (previous !== raw) conflict = true;
      continue;
    }
    seen.set(name, raw);
    out.push(raw === true ? name : `${name}=${raw}`);
  }
  if (conflict) {
    return [...out.filter((d) => !/^(max-age|s-maxage)=/.test(d)), "max-age=0"].join(", ");
  }
  return out.join(", ");
}

function splitDirectives(value: string): string[] {
  const parts: string[] = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (quoted) {
      current += c;
      if (c === "\\" && i + 1 < value.length) current += value[++i];
      else if (c === '"') quoted = false;
    } else if (c === '"') {
      quoted = true;
      current += c;
    } else if (c === ",") {
      parts.push(current);
      current = "";
    } else current += c;
  }
  parts.push(current);
  return parts;
}

/**
 * The request headers as the library reads them, with `host` from the URL, and the directives
 * of `Cache-Control` and `Pragma` in lower case (they are case-insensitive, RFC 9111 section
 * 5.2; the library compares them as written).
 */
export function _requestRecord(url: URL, headers: Headers): _HeaderRecord {
  const record: _HeaderRecord = {};
  for (const [name, value] of headers) record[name] = value;
  record.host = url.host;
  // Only the case: a response's rules for repeated or invalid directives are not a request's.
  const cc = record["cache-control"];
  if (cc !== undefined) record["cache-control"] = cc.toLowerCase();
  const pragma = record.pragma;
  if (pragma !== undefined) record.pragma = pragma.toLowerCase();
  return record;
}

/** The URL a policy is keyed on: no fragment, no userinfo. */
export function _policyUrl(url: URL): string {
  // The usual URL has none of the parts to drop: no copy, no setters.
  const href = url.href;
  if (!href.includes("#") && url.username === "" && url.password === "") return href;
  const copy = new URL(url.href);
  copy.hash = "";
  copy.username = "";
  copy.password = "";
  return copy.href;
}

/**
 * The request headers kept in a stored policy: only those the library reads on later
 * requests (host, cache directives, whether credentials were sent) and those named by `vary`.
 */
export function _storedRequestRecord(
  request: _HeaderRecord,
  vary: string | undefined,
): _HeaderRecord {
  const kept: _HeaderRecord = { host: request.host ?? "" };
  for (const name of ["cache-control", "pragma"]) {
    if (request[name] !== undefined) kept[name] = request[name];
  }
  if (request.authorization !== undefined) kept.authorization = "present";
  for (const name of _varyFields(vary)) {
    if (request[name] !== undefined) kept[name] = request[name];
    else delete kept[name];
  }
  return kept;
}

/** The field names a `Vary` value lists, in lower case (`*` included). */
export function _varyFields(vary: string | null | undefined): string[] {
  if (!vary) return [];
  return vary.split(",").map((f) => f.trim().toLowerCase()).filter((f) => f.length > 0);
}

/**
 * The variant key of a request for a response with this `Vary`: the values of the named
 * request fields (as `_selectingValue` compares them), or `null` when the response varies on
 * `*` (it can never be selected).
 */
export function _variantKey(
  vary: string | null | undefined,
  request: Pick<Headers, "get">,
): string | null {
  const fields = [...new Set(_varyFields(vary))].sort();
  if (fields.includes("*")) return null;
  if (fields.length === 0) return "";
  return JSON.stringify(fields.map((name) => [name, _selectingValue(name, request.get(name))]));
}

/** Request fields whose values are secrets: never written to a store in clear. */
const SECRET_FIELDS = ["authorization", "cookie", "proxy-authorization"] as const;
const NO_SECRETS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * The digests (`sha-256:` and base64) of the secret fields a request carries, which stand for
 * their values in variant keys and stored policies, so a `Vary: Cookie` or `Vary:
 * Authorization` response never writes the user's cookie or token to the store. Empty (and no
 * work) when the request carries none.
 */
export function _secretDigests(
  headers: Headers,
): Record<string, string> | Promise<Record<string, string>> {
  // No secret, no promise: the usual request costs two lookups.
  if (!SECRET_FIELDS.some((name) => headers.has(name))) return NO_SECRETS;
  return digestsOf(headers);
}

async function digestsOf(headers: Headers): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  for (const name of SECRET_FIELDS) {
    const value = headers.get(name);
    if (value === null) continue;
    const bytes = new Uint8Array(
      await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value)),
    );
    digests[name] = `sha-256:${btoa(String.fromCharCode(...bytes))}`;
  }
  return digests;
}

/** Whether a stored response with headers `pairs` has a validator (ETag or Last-Modified). */
export function _hasValidator(pairs: Iterable<[string, string]>): boolean {
  for (const [name] of pairs) {
    const key = name.toLowerCase();
    if (key === "etag" || key === "last-modified") return true;
  }
  return false;
}

/** The value of the field `name` (lower case) in header pairs, several joined by `", "`. */
export function _headerOf(pairs: readonly [string, string][], name: string): string | undefined {
  const values = pairs.filter(([key]) => key.toLowerCase() === name).map(([, value]) => value);
  return values.length ? values.join(", ") : undefined;
}

/**
 * Whether `value` is an object whose values are all of a type in `types`: a header record
 * (strings), parsed `Cache-Control` directives (strings or flags).
 */
function isRecordOf(value: unknown, ...types: ("string" | "boolean")[]): boolean {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  for (const key in value) {
    if (!types.includes(typeof (value as Record<string, unknown>)[key] as "string")) return false;
  }
  return true;
}

const isFiniteNumber = (value: unknown): boolean =>
  typeof value === "number" && Number.isFinite(value);

/**
 * Whether a stored policy has every field `CachePolicy.fromObject` reads, of the type the
 * library's methods expect (its own check is only the version): anything else is corrupt.
 */
export function _isPolicyObject(value: unknown): value is CachePolicy.CachePolicyObject {
  if (typeof value !== "object" || value === null) return false;
  const o = value as Record<string, unknown>;
  if (
    o.v !== 1 || !isFiniteNumber(o.t) || !isFiniteNumber(o.st) || !isFiniteNumber(o.ch) ||
    (o.imm !== undefined && !isFiniteNumber(o.imm)) || typeof o.sh !== "boolean" ||
    typeof o.a !== "boolean" || typeof o.m !== "string" || typeof o.u !== "string" ||
    (o.h !== undefined && typeof o.h !== "string") || !isRecordOf(o.resh, "string") ||
    !isRecordOf(o.rescc, "string", "boolean") || !isRecordOf(o.reqcc, "string", "boolean")
  ) return false;
  // The stored request's fields are kept (and read) only when the response has a Vary.
  return o.reqh === null ? !(o.resh as _HeaderRecord).vary : isRecordOf(o.reqh, "string");
}

/**
 * Whether a `304` answering a validation of the stored response with headers `stored` may
 * update it (RFC 9111 section 4.3.4): a strong `ETag` must be the stored one, compared
 * strongly; a weak one must match the stored `ETag` weakly; without an `ETag`, a
 * `Last-Modified` must be the stored one. A `304` with no validator answers the validators
 * sent, which came from that one stored response.
 */
export function _validatesStored(stored: readonly [string, string][], fresh: Headers): boolean {
  const storedField = (name: string) => _headerOf(stored, name)?.trim();
  const etag = fresh.get("etag")?.trim();
  if (etag !== undefined) {
    const storedTag = storedField("etag");
    if (storedTag === undefined) return false;
    const weak = (tag: string) => tag.startsWith("W/");
    if (!weak(etag)) return !weak(storedTag) && storedTag === etag;
    return storedTag.replace(/^W\//, "") === etag.slice(2);
  }
  const modified = fresh.get("last-modified");
  if (modified === null) return true;
  const storedModified = storedField("last-modified");
  if (storedModified === undefined) return false;
  const [was, is] = [parseHttpDate(storedModified), parseHttpDate(modified)];
  return Number.isNaN(was) || Number.isNaN(is) ? storedModified === modified.trim() : was === is;
}

/**
 * The header pairs to store for a response: hop-by-hop fields, the fields its `Connection`
 * lists, and `Set-Cookie` / `Set-Cookie2` (one user's cookies, never replayed) are dropped.
 */
export function _storableHeaders(headers: Headers): [string, string][] {
  const listed = new Set(_varyFields(headers.get("connection")));
  const out: [string, string][] = [];
  for (const [name, value] of headers) {
    if (_HOP_BY_HOP.has(name) || listed.has(name) || _COOKIE_FIELDS.has(name)) continue;
    out.push([name, value]);
  }
  return out;
}

/**
 * The stored headers updated by a `304` (RFC 9111 section 3.2): every field the `304` carries
 * replaces the stored one, except those describing the body.
 */
export function _mergeHeaders(
  stored: readonly [string, string][],
  fresh: readonly [string, string][],
): [string, string][] {
  const replaced = new Set(
    fresh.map(([name]) => name.toLowerCase()).filter((name) => !NOT_UPDATED_BY_304.has(name)),
  );
  const out = stored.filter(([name]) =>
    !replaced.has(name.toLowerCase()) && !_COOKIE_FIELDS.has(name.toLowerCase())
  );
  for (const [name, value] of fresh) {
    if (replaced.has(name.toLowerCase())) out.push([name, value]);
  }
  return out;
}

/**
 * The response headers of a stored response as served: the stored ones plus `Age`, without
 * any `Set-Cookie` an older store kept.
 */
export function _servedHeaders(pairs: readonly [string, string][], age: number): Headers {
  const headers = new Headers();
  for (const [name, value] of pairs) {
    const key = name.toLowerCase();
    if (key === "age" || _COOKIE_FIELDS.has(key)) continue;
    headers.append(name, value);
  }
  headers.set("age", String(Math.max(0, Math.floor(age))));
  return headers;
}

export type { CachePolicy };

/** The directive names of a request's `Cache-Control`, in lower case. */
export function _requestDirectives(headers: Headers): Set<string> {
  const value = headers.get("cache-control");
  const names = new Set<string>();
  if (value === null) return names;
  for (const part of value.split(",")) {
    const name = part.split("=", 1)[0]!.trim().toLowerCase();
    if (name) names.add(name);
  }
  return names;
}
