/**
 * A one-byte request body stream that tells whether it was cancelled (`state.cancelled`), for
 * tests of bodies that are never sent.
 */
export function cancelTracked(): {
  stream: ReadableStream<Uint8Array>;
  state: { cancelled: boolean };
} {
  const state = { cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(new Uint8Array([1]));
      controller.close();
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}
