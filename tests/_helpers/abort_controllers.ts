/** Counts the `AbortController`s made while `body` runs (the global one swapped for a counter). */
export async function countAbortControllers(body: () => Promise<void> | void): Promise<number> {
  const Original = globalThis.AbortController;
  let made = 0;
  globalThis.AbortController = class extends Original {
    constructor() {
      super();
      made++;
    }
  };
  try {
    await body();
  } finally {
    globalThis.AbortController = Original;
  }
  return made;
}
