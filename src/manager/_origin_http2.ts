/**
 * What the command line asks of a manager's state that the public class does not show: whether
 * an https origin speaks HTTP/2, as the manager's queue learns it. Set by the manager class,
 * which alone reaches its state.
 *
 * @module
 */

/**
 * Whether the https origin of `url`, reached directly, speaks HTTP/2, as the manager's queue
 * learns it in one TLS handshake per origin (made now if it made none): `undefined` when the
 * handshake failed or was not made.
 */
export let originHttp2: (manager: object, url: URL) => Promise<boolean | undefined>;

/** Sets {@linkcode originHttp2}: the manager class does, once. */
export function setOriginHttp2(get: typeof originHttp2): void {
  originHttp2 = get;
}
