/**
 * Streaming a response to the reply and to the cache at once, for the cache layer: the entry is
 * published when the body completed, and a short redirect body cancelled unread (a followed
 * redirect) is read on to its end so that it is stored.
 *
 * @module
 */

import type { CacheWriter } from "../cache/network_cache.ts";
import type { Exchange } from "../exchange.ts";
import { checkLength, lengthCheckedBy, withBody } from "../_response.ts";
import { expectedLength } from "../_reply_body.ts";

/** The statuses of a redirect a client follows to its `Location` (RFC 9110 section 15.4). */
const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/**
 * The most bytes of a redirect's body read on to store it when its reader cancels it (a
 * redirect that is followed is cancelled unread); a longer body is not stored.
 */
const REDIRECT_BODY_READ = 64 * 1024;

/**
 * How long reading a cancelled redirect's body on waits for its next bytes before it gives up
 * (and stores nothing): a stalled body delays the redirect by no more than this, or by half the
 * transfer timeout when that is shorter.
 */
export const REDIRECT_BODY_WAIT_MS = 500;

/**
 * How many more bytes of a cancelled body are read on to store it: up to
 * {@linkcode REDIRECT_BODY_READ} of a redirect's body, unless its declared length is longer;
 * none of any other body.
 */
function readOnAfterCancel(response: Response): number {
  if (!REDIRECT_STATUSES.has(response.status) || !response.headers.has("location")) return 0;
  const declared = Number(response.headers.get("content-length") ?? 0);
  return declared > REDIRECT_BODY_READ ? 0 : REDIRECT_BODY_READ;
}

/** Per cache: the keys whose followed redirect's body is being read on to be stored. */
const readingOn = new WeakMap<object, Map<string, Promise<boolean>>>();

/**
 * Settles once the body of a followed redirect being read on into `cache` at `key` is stored or
 * given up (within {@linkcode REDIRECT_BODY_WAIT_MS} a chunk), or `undefined` when none is: a
 * lookup waits for it, so that the request after a redirect was followed finds it stored.
 */
export function _readingOn(cache: object, key: string): Promise<boolean> | undefined {
  return readingOn.get(cache)?.get(key);
}

/** The next read of `reader`, or `null` when nothing came within `ms`. */
function readWithin(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  ms: number,
): Promise<ReadableStreamReadResult<Uint8Array> | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(null), ms);
    reader.read().then((chunk) => {
      clearTimeout(timer);
      resolve(chunk);
    }, (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/**
 * Streams the body to the reply and to the store. A body read to its end is published; one that
 * fails, is aborted or is cancelled is not, nor one whose length is checked (a transport of one's
 * own answered it) that ended short of its `Content-Length` (incomplete, RFC 9111 section 3.4),
 * except a short redirect body cancelled unread: it is read on to its end (each chunk counts as
 * activity for the transfer timeout, and a pause of `wait` milliseconds gives up) and published.
 */
export async function tee(
  response: Response,
  ready: Promise<CacheWriter>,
  exchange: Exchange,
  wait: number,
  [cache, key]: [cache: object, key: string],
): Promise<Response> {
  const { signal } = exchange;
  const source = response.body;
  const by = source === null || exchange.method === "HEAD" ? undefined : lengthCheckedBy(response);
  const declared = by === undefined ? -1 : expectedLength(
    response.headers.get("content-encoding"),
    response.headers.get("content-length"),
  );
  let settled = false;
  const abort = async () => {
    if (settled) return;
    settled = true;
    signal.removeEventListener("abort", onAbort);
    await (await ready.catch(() => null))?.abort().catch(() => {});
  };
  const onAbort = () => void abort();
  let count = 0;
  const commit = async () => {
    if (settled) return;
    if (count !== declared && declared >= 0) return await abort(); // not whole: not stored
    settled = true;
    signal.removeEventListener("abort", onAbort);
    const writer = await ready.catch(() => null);
    await writer?.commit().catch(() => false);
  };
  if (source === null) {
    await commit();
    return response;
  }
  signal.addEventListener("abort", onAbort, { once: true });
  const reader = source.getReader();
  let readOn = readOnAfterCancel(response);
  /** Reads the rest of a cancelled body into the store; whether it was published. */
  const storeRest = async (): Promise<boolean> => {
    const writer = await ready.catch(() => null);
    if (writer === null) return false;
    while (!settled && !signal.aborted) {
      let chunk: ReadableStreamReadResult<Uint8Array> | null;
      try {
        chunk = await readWithin(reader, wait);
      } catch {
        return false;
      }
      if (chunk === null) return false;
      if (chunk.done) {
        await commit();
        return true;
      }
      readOn -= chunk.value.byteLength;
      count += chunk.value.byteLength;
      if (readOn < 0) return false;
      exchange.monitor.activity();
      await writer.write(chunk.value).catch(() => {});
    }
    return false;
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        await abort();
        controller.error(error);
        return;
      }
      if (chunk.done) {
        await commit();
        controller.close();
        return;
      }
      readOn -= chunk.value.byteLength;
      count += chunk.value.byteLength;
      controller.enqueue(chunk.value);
      if (settled) return;
      const writer = await ready.catch(() => null);
      if (writer === null) {
        settled = true;
        signal.removeEventListener("abort", onAbort);
        return;
      }
      await writer.write(chunk.value).catch(() => {});
    },
    async cancel(reason) {
      if (readOn > 0 && !settled) {
        const reading = storeRest();
        let keys = readingOn.get(cache);
        if (keys === undefined) readingOn.set(cache, keys = new Map());
        keys.set(key, reading);
        const stored = await reading;
        if (keys.get(key) === reading) keys.delete(key);
        if (stored) return;
      }
      await abort();
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
  const copy = withBody(response, body);
  return by === undefined ? copy : checkLength(copy, by);
}
