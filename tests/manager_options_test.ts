import assert from "node:assert/strict";
import {
  MemoryCache,
  MemoryCookieJar,
  MemoryHstsStore,
  NetworkAccessManager,
  type NetworkAccessManagerOptions,
} from "../mod.ts";
import { MANAGER_OPTIONS } from "../src/manager/_options.ts";

const fn = () => {};
const none: unknown[] = [];
/** Values of every kind; each option below refuses those it does not take. */
const ANY: unknown[] = [null, NaN, -1, -2, 0, 1.5, Infinity, "x", {}, none, fn, true, false];

/**
 * Every setting that is both a constructor option and a writable property: values it takes, and
 * whether `undefined` is one of its values (a property that may be unset) or only means "the
 * default" in the constructor.
 */
const SETTINGS: Record<string, { valid: unknown[]; unset?: true }> = {
  redirectPolicy: { valid: ["manual", "no-less-safe", "same-origin", "user-verified"] },
  maxRedirects: { valid: [0, 7] },
  transferTimeout: { valid: [0, 30_000] },
  timeout: { valid: [0, 30_000] },
  maxConnectionsPerHost: { valid: [1, 12] },
  readBufferSize: { valid: [0, 65_536] },
  decompressionGuard: { valid: [-1, 0, 1_048_576] },
  maxBodySize: { valid: [0, 1_048_576] },
  cache: { valid: [null, new MemoryCache()] },
  cacheLoadControl: {
    valid: ["always-network", "prefer-network", "prefer-cache", "always-cache"],
  },
  cookieJar: { valid: [null, new MemoryCookieJar()] },
  hstsStore: { valid: [null, new MemoryHstsStore()] },
  proxy: { valid: [{ type: "none" }, { type: "http", url: "http://127.0.0.1:3128" }], unset: true },
  proxyFactory: { valid: [fn], unset: true },
  caCerts: { valid: [none] },
  networkAccessible: { valid: ["accessible", "not-accessible", true, false] },
  requestPermissions: { valid: [true, false] },
  authenticator: { valid: [fn], unset: true },
  redirectVerifier: { valid: [fn], unset: true },
  retry: { valid: [true, false, 0, 3, {}, { limit: 2 }] },
};

/** The error `run` throws, or `undefined`. */
function thrown(run: () => void): Error | undefined {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  return undefined;
}

Deno.test("NetworkAccessManager's constructor and setters accept and refuse the same values, with the same message", async (t) => {
  const constructorOnly = [
    "clock",
    "transport",
    "layers",
    "clientCertificate",
    "clientCertificates",
  ];
  assert.deepEqual(
    Object.keys(SETTINGS).sort(),
    MANAGER_OPTIONS.filter((name) => !constructorOnly.includes(name)).sort(),
    "every writable setting is in the table",
  );
  for (const [name, { valid, unset }] of Object.entries(SETTINGS)) {
    await t.step(name, async () => {
      const valueFor = (value: unknown) =>
        name === "networkAccessible" && typeof value === "boolean"
          ? (value ? "accessible" : "not-accessible")
          : value;
      for (const value of valid) {
        const made = new NetworkAccessManager({ [name]: value } as NetworkAccessManagerOptions);
        const set = new NetworkAccessManager();
        (set as unknown as Record<string, unknown>)[name] = value;
        const read = (manager: NetworkAccessManager) =>
          (manager as unknown as Record<string, unknown>)[name];
        assert.deepEqual(read(made), valueFor(value), `new, ${Deno.inspect(value)}`);
        assert.deepEqual(read(set), valueFor(value), `set, ${Deno.inspect(value)}`);
        await made.close();
        await set.close();
      }
      for (const value of ANY.filter((v) => !valid.some((ok) => Object.is(ok, v)))) {
        if (
          name === "retry" && typeof value === "object" && value !== null && !Array.isArray(value)
        ) continue;
        const made = thrown(() => new NetworkAccessManager({ [name]: value } as never));
        const manager = new NetworkAccessManager();
        const set = thrown(() => {
          (manager as unknown as Record<string, unknown>)[name] = value;
        });
        await manager.close();
        const shown = Deno.inspect(value);
        assert.ok(made, `new NetworkAccessManager({ ${name}: ${shown} }) throws`);
        assert.ok(set, `manager.${name} = ${shown} throws`);
        assert.equal(set.name, made.name, `${name} = ${shown}: the same error class`);
        assert.match(made.message, new RegExp(`^Cannot create manager: '${name}\\b`));
        assert.equal(
          set.message,
          made.message.replace("Cannot create manager", "Cannot set manager option"),
          `${name} = ${shown}: the same message`,
        );
      }
      // In the constructor `undefined` is the default; a property takes it only when it may
      // be unset, and refuses it, naming the option, otherwise.
      const manager = new NetworkAccessManager({ [name]: undefined });
      const before = (manager as unknown as Record<string, unknown>)[name];
      const error = thrown(() => {
        (manager as unknown as Record<string, unknown>)[name] = undefined;
      });
      if (unset) {
        assert.equal(error, undefined, `manager.${name} = undefined unsets it`);
        assert.equal((manager as unknown as Record<string, unknown>)[name], undefined);
      } else {
        assert.match(
          error?.message ?? "no error",
          new RegExp(`^Cannot set manager option: '${name}' must be .*, got undefined$`),
        );
        assert.deepEqual((manager as unknown as Record<string, unknown>)[name], before, "kept");
      }
      await manager.close();
    });
  }
});

Deno.test("NetworkAccessManager refuses options that are not an object, an array included", () => {
  for (const [options, shown] of [[null, "null"], [5, "5"], ["x", '"x"'], [[], "an array"]]) {
    assert.throws(() => new NetworkAccessManager(options as never), {
      name: "TypeError",
      message: `Cannot create manager: 'options' must be an object, got ${shown}`,
    });
  }
});
