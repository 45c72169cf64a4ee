/**
 * The `EventTarget` of the manager and the reply: `addEventListener` and `removeEventListener`
 * typed by an event map, written once, and a record of the event types someone listens to, so
 * the owner makes event objects only for those.
 *
 * @module
 */

/** The listened types of each target, handed to its owner by {@linkcode listenedTypes}. */
let listenedOf: (target: TypedEventTarget<object, unknown>) => Set<string>;

/**
 * Whether a listener was ever added for `type` on `target` (a type stays listed after its
 * listeners are removed: dispatching to nobody is harmless, missing a listener is not).
 */
export let listensTo: (target: TypedEventTarget<object, unknown>, type: string) => boolean;

/**
 * An `EventTarget` typed by the event map `M`; `Self` is the `this` of a listener.
 *
 * @ignore
 */
export abstract class TypedEventTarget<M extends object, Self> extends EventTarget {
  /** Made when a listener is first added (or the owner asks): most replies get none. */
  #listened: Set<string> | undefined;

  static {
    listenedOf = (target) => target.#listened ??= new Set();
    listensTo = (target, type) => target.#listened?.has(type) === true;
  }

  /**
   * Adds an event listener, typed by the target's event map.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options Listener options.
   */
  override addEventListener<K extends keyof M & string>(
    type: K,
    listener: (this: Self, event: M[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /**
   * Adds an event listener.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options Listener options.
   */
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    if (listener !== null) (this.#listened ??= new Set()).add(type);
    super.addEventListener(type, listener, options);
  }

  /**
   * Removes an event listener, typed by the target's event map.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options Listener options.
   */
  override removeEventListener<K extends keyof M & string>(
    type: K,
    listener: (this: Self, event: M[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  /**
   * Removes an event listener.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options Listener options.
   */
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener, options);
  }
}

/**
 * The event types a listener was ever added for on `target` (a type stays listed after its
 * listeners are removed: dispatching to nobody is harmless, missing a listener is not).
 *
 * @param target The manager or reply.
 * @returns The live set, read by the target's owner before it makes an event.
 */
export function listenedTypes(target: TypedEventTarget<object, unknown>): ReadonlySet<string> {
  return listenedOf(target);
}
