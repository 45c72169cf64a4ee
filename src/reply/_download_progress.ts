/**
 * The `downloadprogress` events of a reply: at most one per {@linkcode PROGRESS_INTERVAL}
 * milliseconds while the body arrives, the first always, and a last one when the reply
 * finishes unless the one sent last told the same.
 *
 * @module
 */

import { NetworkProgressEvent } from "../events.ts";
import { listensTo, type TypedEventTarget } from "../_typed_event_target.ts";
import { PROGRESS_INTERVAL } from "./_upload_progress.ts";

/** The download progress of one reply, made when it first has progress to tell a listener. */
export class DownloadProgress {
  readonly #target: TypedEventTarget<object, unknown>;
  // Not -Infinity: `performance.now()` is never negative, and an integer takes no heap number.
  #sentAt = -PROGRESS_INTERVAL;
  /** What the last event told (-1 before the first). */
  #loaded = -1;
  #total = -1;

  /**
   * @param target The reply, where events are dispatched.
   */
  constructor(target: TypedEventTarget<object, unknown>) {
    this.#target = target;
  }

  /** `loaded` of `total` bytes (-1: unknown) arrived: tells it unless one was told just now. */
  update(loaded: number, total: number): void {
    const now = performance.now();
    if (now - this.#sentAt < PROGRESS_INTERVAL) return;
    this.#sentAt = now;
    this.#send(loaded, total);
  }

  /** The reply finished with `loaded` of `total` bytes: told unless just that was told last. */
  finish(loaded: number, total: number): void {
    if (loaded !== this.#loaded || total !== this.#total) this.#send(loaded, total);
  }

  #send(loaded: number, total: number): void {
    this.#loaded = loaded;
    this.#total = total;
    this.#target.dispatchEvent(new NetworkProgressEvent("downloadprogress", loaded, total));
  }
}

/**
 * The reply finished with `loaded` of `total` bytes: tells it to its `downloadprogress`
 * listeners (see {@linkcode DownloadProgress.finish}), with `progress` or one made now; returns
 * the progress to keep.
 */
export function finishDownload(
  reply: TypedEventTarget<object, unknown>,
  progress: DownloadProgress | undefined,
  loaded: number,
  total: number,
): DownloadProgress | undefined {
  if (!listensTo(reply, "downloadprogress")) return progress;
  (progress ??= new DownloadProgress(reply)).finish(loaded, total);
  return progress;
}
