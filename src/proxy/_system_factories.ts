/** The proxy factories `systemProxyFactory` made, whose errors name the variable at fault. */

import type { ProxyFactory } from "./network_proxy.ts";

const systemFactories = new WeakSet<ProxyFactory>();

/** Records `factory` as one `systemProxyFactory` made. */
export function markSystemProxyFactory(factory: ProxyFactory): void {
  systemFactories.add(factory);
}

/** Whether `factory` is one `systemProxyFactory` made. */
export function isSystemProxyFactory(factory: ProxyFactory): boolean {
  return systemFactories.has(factory);
}
