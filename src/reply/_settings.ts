/**
 * What a reply runs with: the request's own settings, else the manager's.
 *
 * @module
 */

/** The settings a reply runs with, resolved from the request and the manager. */
export interface ReplySettingsOf<Reply> {
  transferTimeout: number;
  /** The total timeout (0 = off). */
  timeout?: number;
  readBufferSize: number;
  decompressionGuard: number;
  maxBodySize: number;
  onFinished: (reply: Reply) => void;
}
