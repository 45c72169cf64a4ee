/**
 * Responses as the layers pass them: the facts recorded about each one (`ResponseInfo`), copies with another
 * body, and throwing one away with the queue slot behind it.
 *
 * @module
 */

const infos = new WeakMap<Response, object>();

/** Merges `info` into what is recorded about `response`; returns `response`. */
export function recordInfo(response: Response, info: object): Response {
  const known = infos.get(response);
  if (known === undefined) infos.set(response, { ...info });
  else Object.assign(known, info);
  return response;
}

/** What is recorded about `response`, or `undefined`. */
export function recordedInfo<T extends object>(response: Response): T | undefined {
  return infos.get(response) as T | undefined;
}

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

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
  const info = infos.get(response);
  if (info) infos.set(copy, { ...info });
  return copy;
}

const discards = new WeakMap<Response, () => void>();

/** Records what frees the queue slot behind a response when a layer throws the response away. */
export function onDiscard(response: Response, free: () => void): void {
  discards.set(response, free);
}

/** Throws a response away: cancels its body and frees its queue slot at once. */
export async function discard(response: Response): Promise<void> {
  const free = discards.get(response);
  discards.delete(response);
  free?.();
  await response.body?.cancel().catch(() => {});
}
