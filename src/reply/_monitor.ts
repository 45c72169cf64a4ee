/**
 * The monitor of a reply's exchanges: what the layers report (activity, upload progress) goes
 * to the reply.
 *
 * @module
 */

import type { ExchangeMonitor } from "../exchange.ts";
import { monitorActivity, monitorUpload, type NetworkReply } from "../reply.ts";

/** The monitor of a reply's exchanges: one object with the reply behind a private field. */
export class ReplyMonitor implements ExchangeMonitor {
  readonly #reply: NetworkReply;

  /** Makes the monitor of `reply`'s exchanges. */
  constructor(reply: NetworkReply) {
    this.#reply = reply;
  }

  /** Bytes moved, or a send started. */
  activity(): void {
    monitorActivity(this.#reply);
  }

  /** Upload progress of the current send. */
  uploadProgress(loaded: number, total: number): void {
    monitorUpload(this.#reply, loaded, total);
  }
}
