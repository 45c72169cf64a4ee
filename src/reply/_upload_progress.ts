/**
 * The `uploadprogress` events of a reply: at most one per {@linkcode PROGRESS_INTERVAL}
 * milliseconds, the last of the upload always, and a final one at the total when the reply
 * succeeds after progress that was held back; never a count below one reported before (a body
 * sent again is told from where the send before it got).
 *
 * @module
 */

import { NetworkProgressEvent } from "../events.ts";
import { listensTo, type TypedEventTarget } from "../_typed_event_target.ts";

/** At most one progress event per this many milliseconds (Qt's rate); the first and the last always. */
export const PROGRESS_INTERVAL = 100;

/** The upload progress of one reply, made at its first progress report. */
export class UploadProgress {
  readonly #target: TypedEventTarget<object, unknown>;
  #loaded = -1;
  #total = -1;
  #sentAt = -Infinity;
  #sent = -1;

  /**
   * @param target The reply, where events are dispatched.
   */
  constructor(target: TypedEventTarget<object, unknown>) {
    this.#target = target;
  }

  /**
   * `loaded` of `total` bytes (-1: unknown) were sent: tells it unless one was told just now.
   * A count no higher than the last one is not told: the body sent again (after a 307 or 308
   * redirect, a 401 or 407 challenge, or a retry) tells nothing until the new send passes it,
   * its `0` included, so one reply's progress never goes back nor repeats; nor does the end of
   * a send told again (by a transport, then by what called it).
   */
  update(loaded: number, total: number): void {
    if (loaded <= this.#loaded) return;
    this.#loaded = loaded;
    this.#total = total;
    if (!listensTo(this.#target, "uploadprogress")) return;
    const now = performance.now();
    if (now - this.#sentAt < PROGRESS_INTERVAL && loaded !== total) return;
    this.#sentAt = now;
    this.#sent = loaded;
    this.#target.dispatchEvent(new NetworkProgressEvent("uploadprogress", loaded, total));
  }

  /** The response arrived: the upload is over, and its last progress is told if it was held back. */
  flush(): void {
    if (this.#loaded < 0 || this.#sent === this.#loaded) return;
    if (!listensTo(this.#target, "uploadprogress")) return;
    this.#sentAt = performance.now();
    this.#sent = this.#loaded;
    this.#target.dispatchEvent(
      new NetworkProgressEvent("uploadprogress", this.#loaded, this.#total),
    );
  }

  /** The reply finished: as {@linkcode complete} when it `succeeded`, else {@linkcode flush}. */
  end(succeeded: boolean): void {
    if (succeeded) this.complete();
    else this.flush(); // a failed upload tells how far it got
  }

  /** The reply succeeded: a known total not told yet is told as complete. */
  complete(): void {
    if (this.#total < 0 || this.#sent === this.#total) return;
    if (!listensTo(this.#target, "uploadprogress")) return;
    this.#target.dispatchEvent(
      new NetworkProgressEvent("uploadprogress", this.#total, this.#total),
    );
  }
}
