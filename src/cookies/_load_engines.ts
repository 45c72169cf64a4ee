/** Loads the cookie engines (and with them tough-cookie and tldts) once, on first use. */

let loading: Promise<typeof import("./_engines.ts")> | undefined;

/** The module of the cookie engines, imported on the first call. */
export function _loadEngines(): Promise<typeof import("./_engines.ts")> {
  loading ??= import("./_engines.ts").catch((error) => {
    loading = undefined; // a later use tries again
    throw error;
  });
  return loading;
}
