/**
 * How a reply aborts its exchanges without an `AbortController` until someone asks for the
 * signal: most replies that never reach the network (a cache hit, a request that fails before
 * sending, one aborted while it waits in the queue) never make one.
 *
 * @module
 */

/** Handed to the `abort` listeners this calls itself. */
const ABORT_EVENT = new Event("abort");

/**
 * The abort state of one reply's exchanges. Its `signal` is made on first read (aborted at
 * once when the exchanges were aborted before). A request waiting for a queue slot listens
 * here instead, as on a signal: `aborted`, `reason`, and `abort` listener objects.
 */
export class ExchangeAbort {
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: unknown;
  #message = "";
  #name = "AbortError";
  /** One listener, and any more (hops wait for a slot one after the other). */
  #listener: EventListenerObject | undefined;
  #more: EventListenerObject[] | undefined;
  /** Set with a total timeout only: a number field of its own would be a heap number each. */
  #deadline: number | undefined;

  /**
   * When the total timeout aborts the exchanges (`performance.now()` time), or `Infinity`:
   * a retry does not start a wait that would end after it.
   */
  get deadline(): number {
    return this.#deadline ?? Infinity;
  }
  set deadline(value: number) {
    this.#deadline = value;
  }

  /** Whether the exchanges were aborted. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** Why: the reason given, or a `DOMException` of the message, made when first asked for. */
  get reason(): unknown {
    if (this.#aborted && this.#reason === undefined) {
      this.#reason = new DOMException(this.#message, this.#name);
    }
    return this.#reason;
  }

  /** The exchanges' signal, made on first read. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.reason);
    }
    return this.#controller.signal;
  }

  /**
   * Aborts the exchanges once: the signal, if made, and the listeners.
   *
   * @param reason The reason, or `undefined` for a `DOMException` of `message` and `name`.
   */
  abort(reason: unknown, message = "", name = "AbortError"): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#message = message;
    this.#name = name;
    this.#controller?.abort(this.reason);
    const listener = this.#listener;
    const more = this.#more;
    this.#listener = this.#more = undefined;
    listener?.handleEvent(ABORT_EVENT);
    if (more !== undefined) { for (const other of more) other.handleEvent(ABORT_EVENT); }
  }

  /** Adds an `abort` listener object, called once when the exchanges are aborted. */
  addEventListener(_type: "abort", listener: EventListenerObject): void {
    if (this.#listener === undefined) this.#listener = listener;
    else (this.#more ??= []).push(listener);
  }

  /** Removes an `abort` listener object. */
  removeEventListener(_type: "abort", listener: EventListenerObject): void {
    if (this.#listener === listener) {
      this.#listener = undefined;
      return;
    }
    const at = this.#more?.indexOf(listener) ?? -1;
    if (at >= 0) this.#more!.splice(at, 1);
  }
}
