/**
 * Responses as the layers pass them: the facts recorded about each one (`ResponseInfo`), copies
 * with another body, and throwing one away.
 *
 * @module
 */

/**
 * Where the facts are kept: on the response itself, under a symbol (a property costs less than a
 * `WeakMap` entry, which the garbage collector has to trace apart); in a `WeakMap` for a
 * response that takes no property (frozen).
 */
const INFO: unique symbol = Symbol("netaccess.responseInfo");
type Recorded = Response & { [INFO]?: object };
const frozen = new WeakMap<Response, object>();
/** Whether any response was recorded in `frozen`: until then no lookup there (which hashes). */
let anyFrozen = false;

function store(response: Response, info: object): void {
  try {
    (response as Recorded)[INFO] = info;
  } catch {
    frozen.set(response, info);
    anyFrozen = true;
  }
}

function recorded(response: Response): object | undefined {
  return (response as Recorded)[INFO] ?? (anyFrozen ? frozen.get(response) : undefined);
}

/** Merges `info` into what is recorded about `response`; returns `response`. */
export function recordInfo(response: Response, info: object): Response {
  const known = recorded(response);
  if (known === undefined) store(response, { ...info });
  else Object.assign(known, info);
  return response;
}

/**
 * {@linkcode recordInfo} with an object of the caller's own, made for the call: kept as it is
 * when nothing was recorded yet (no copy).
 */
export function recordOwnInfo(response: Response, info: object): Response {
  const known = recorded(response);
  if (known === undefined) store(response, info);
  else Object.assign(known, info);
  return response;
}

/** What is recorded about `response`, or `undefined`. */
export function recordedInfo<T extends object>(response: Response): T | undefined {
  return recorded(response) as T | undefined;
}

/**
 * The responses whose body must end at its `Content-Length`, each with who answered it (for the
 * message of one that does not): a transport of one's own answered them, or a layer passed such a
 * body on as it is. `fetch` keeps to the declared length itself, and a layer that builds a
 * response may leave a stale length: neither is checked.
 */
const lengthCheckers = new WeakMap<Response, string>();

/** Marks `response`'s length to be checked, naming `by` who answered it; returns `response`. */
export function checkLength(response: Response, by: string): Response {
  lengthCheckers.set(response, by);
  return response;
}

/** Who answered `response` when its length is checked ({@linkcode checkLength}), or undefined. */
export function lengthCheckedBy(response: Response): string | undefined {
  return lengthCheckers.get(response);
}

/**
 * Why the body of `response` cannot be read: it `"was already read"` or `"is locked"` (a reader
 * holds it); `undefined` when it can, or there is none.
 */
export function unreadable(response: Response): string | undefined {
  if (response.bodyUsed) return "was already read";
  return response.body?.locked ? "is locked" : undefined;
}

/** The symbol of Deno's `Headers` under which the fields are listed as received. */
let fieldList: symbol | undefined;

/**
 * The values of a header that came in more than one field, in order, or `undefined` when it
 * came once or not at all. `Headers` joins repeated fields with ", " and has no public way to
 * list them (but for `Set-Cookie`), and a value may contain ", " itself: the fields are read from
 * the list Deno keeps inside each `Headers` object (Deno 2.9), and `undefined` is the answer
 * where there is none. Only for headers looked at rarely (a redirect's `Location`).
 */
export function repeatedField(headers: Headers, name: string): string[] | undefined {
  fieldList ??= Object.getOwnPropertySymbols(headers).find((s) => s.description === "header list");
  const list = fieldList === undefined ? undefined : Reflect.get(headers, fieldList);
  if (!Array.isArray(list)) return undefined;
  const values: string[] = [];
  for (const field of list) {
    if (Array.isArray(field) && String(field[0]).toLowerCase() === name) {
      values.push(String(field[1]));
    }
  }
  return values.length > 1 ? values : undefined;
}

/** Statuses whose responses have no body (Fetch: a null body status). */
export const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([101, 103, 204, 205, 304]);

/**
 * Returns a response like `response` (status, status text, headers and recorded info) with
 * another body. Layers that watch or transform a body use it.
 */
export function withBody(response: Response, body: BodyInit | null): Response {
  const copy = new Response(NULL_BODY_STATUSES.has(response.status) ? null : body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
  const info = recorded(response);
  if (info) store(copy, { ...info });
  return copy;
}

/**
 * Throws a response away: cancels its body, without waiting for the cancel to settle: the cancel
 * of a teed body (a layer that kept a `clone()`, for a log) settles only once every branch is
 * cancelled, which an unread clone may never be. Its queue slot is freed by the layer that holds
 * the exchange (`exchange.releaseSlot`), or when the reply sends its next hop or finishes.
 */
export function discard(response: Response): void {
  response.body?.cancel().catch(() => {});
}

/** The response each error a layer threw failed on (a redirect it refused). */
const failedOn = new WeakMap<object, Response>();

/**
 * Records that `error` failed the reply on `response` (a redirect refused, or one too many): the
 * reply then shows that response's status, status text and headers. The first record stands.
 * Returns `error`.
 */
export function failedOnResponse<E>(error: E, response: Response): E {
  if (typeof error === "object" && error !== null && !failedOn.has(error)) {
    failedOn.set(error, response);
  }
  return error;
}

/** The response `error` failed the reply on, or `undefined` (no response, or not known). */
export function responseFailedOn(error: unknown): Response | undefined {
  return typeof error === "object" && error !== null ? failedOn.get(error) : undefined;
}
