/**
 * The exit codes of the command line and the failure that carries one to the end of a run.
 *
 * @module
 */

import { NetworkError, type NetworkErrorCode } from "../../mod.ts";
import { peerNotVerified } from "../tls.ts";

/**
 * The exit codes of the command line, by class of failure ({@linkcode NetworkError} ranges).
 * HTTP error statuses (4xx, 5xx) are a success unless `--fail` or `--fail-with-body` is given.
 *
 * | code | meaning |
 * | --- | --- |
 * | 0 | success |
 * | 1 | a URL of a scheme that is not supported (curl's `CURLE_UNSUPPORTED_PROTOCOL`); another failure, unforeseen (a state file that cannot be opened is a warning: the state stays in memory for the run) |
 * | 2 | bad arguments: a one-line error and the usage line |
 * | 3 | protocol: a malformed URL, a refused redirect, a malformed response |
 * | 5 | proxy: not found, closed, a tunnel refused (credentials missing or wrong); a proxy that refuses the connection exits 7, one that times out 28, a 407 it answers for an `http:` URL is an HTTP status (22 with `--fail`) |
 * | 6 | the host name could not be resolved |
 * | 7 | connection (to the server or the proxy): refused, closed early, network off or not permitted |
 * | 22 | HTTP error status (400 and up), with `--fail` or `--fail-with-body` only |
 * | 23 | write error: a file or stdout that cannot be written (the body, `-i`, `-D`, `-w`, `--help`, `--version`); a binary body to a terminal refused |
 * | 26 | read error: a body that cannot be sent again (stdin of `-T -` that a 401 or a 307 asks for again, whatever `--fail`); a `file:` URL, a file of `-d @`, `-F @`, `-F <`, `-H @`, `-T`, `-w @`, `-K` or netrc missing or unreadable |
 * | 28 | timeout: `--max-time`, `--transfer-timeout`, or the connection (to the server or the proxy) |
 * | 35 | TLS: the handshake failed otherwise (a client certificate required or refused) |
 * | 47 | too many redirects: more than `--max-redirs` (default 50) with `-L` |
 * | 58 | the `--cert` or `--key` file missing, unreadable, holding no PEM certificate (key), one Deno cannot decode, or a key that is not the certificate's |
 * | 60 | the server's certificate could not be verified (unknown issuer, expired, name mismatch, revoked, or refused by another check: its extended key usage, its signature, an issuer that is no CA) |
 * | 77 | the `--cacert` file missing, unreadable or holding no PEM certificate Deno can read |
 * | 130 | canceled (Ctrl-C) |
 *
 * @example Telling failures apart in a script
 * ```ts
 * import assert from "node:assert/strict";
 * import { EXIT_CODES } from "@netaccess/core/cli";
 *
 * assert.equal(EXIT_CODES.httpError, 22);
 * assert.equal(EXIT_CODES.timeout, 28);
 * assert.equal(EXIT_CODES.peerVerification, 60);
 * assert.equal(EXIT_CODES.clientCertificate, 58);
 * assert.equal(EXIT_CODES.caCertificates, 77);
 * assert.equal(EXIT_CODES.unsupportedProtocol, 1);
 * ```
 */
export const EXIT_CODES: {
  readonly ok: 0;
  readonly failure: 1;
  /** A URL of a scheme that is not supported (curl's `CURLE_UNSUPPORTED_PROTOCOL`). */
  readonly unsupportedProtocol: 1;
  readonly usage: 2;
  readonly protocol: 3;
  readonly proxy: 5;
  readonly hostNotFound: 6;
  readonly connection: 7;
  readonly httpError: 22;
  readonly output: 23;
  /** A body or a local file the command line reads that cannot be read (curl's `CURLE_READ_ERROR`). */
  readonly content: 26;
  readonly timeout: 28;
  readonly tls: 35;
  readonly tooManyRedirects: 47;
  /** The `--cert` or `--key` file cannot be read or used (curl's `CURLE_SSL_CERTPROBLEM`). */
  readonly clientCertificate: 58;
  readonly peerVerification: 60;
  /** The `--cacert` file cannot be read (curl's `CURLE_SSL_CACERT_BADFILE`). */
  readonly caCertificates: 77;
  readonly canceled: 130;
} = Object.freeze({
  ok: 0,
  failure: 1,
  unsupportedProtocol: 1,
  usage: 2,
  protocol: 3,
  proxy: 5,
  hostNotFound: 6,
  connection: 7,
  httpError: 22,
  output: 23,
  content: 26,
  timeout: 28,
  tls: 35,
  tooManyRedirects: 47,
  clientCertificate: 58,
  peerVerification: 60,
  caCertificates: 77,
  canceled: 130,
});

/** The value of an option a failure is about: its long name, and the value when repeatable. */
export interface OptionValue {
  readonly option: string;
  readonly value?: string;
}

/**
 * A failure that ends the run with a code and a one-line message; `about`, the option value it
 * is about, lets the message say where that value was given (a `-K` file's line).
 */
export class Exit extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly usage = false,
    readonly about?: OptionValue,
  ) {
    super(message);
  }
}

/** A usage failure (exit 2) about the value of `option` (its long name). */
export function badValue(option: string, message: string, value?: string): Exit {
  return new Exit(
    EXIT_CODES.usage,
    message,
    true,
    value === undefined ? { option } : {
      option,
      value,
    },
  );
}

/**
 * The exit code of a failed reply; `errorString` tells a certificate that could not be
 * verified (60) from another failed TLS handshake (35).
 */
export function exitCode(error: NetworkErrorCode, status: number, errorString = ""): number {
  if (error === NetworkError.OperationCanceledError) return EXIT_CODES.canceled;
  if (error === NetworkError.TimeoutError) return EXIT_CODES.timeout;
  if (error === NetworkError.SslHandshakeFailedError) {
    return peerNotVerified(errorString) ? EXIT_CODES.peerVerification : EXIT_CODES.tls;
  }
  if (error === NetworkError.TooManyRedirectsError) return EXIT_CODES.tooManyRedirects;
  if (error === NetworkError.InsecureRedirectError) return EXIT_CODES.protocol;
  if (error === NetworkError.HostNotFoundError) return EXIT_CODES.hostNotFound;
  // As curl: a scheme it does not speak is CURLE_UNSUPPORTED_PROTOCOL (1), a proxy that
  // refuses the connection CURLE_COULDNT_CONNECT (7), one that does not answer in time 28.
  if (error === NetworkError.ProtocolUnknownError) return EXIT_CODES.unsupportedProtocol;
  if (error === NetworkError.ProxyConnectionRefusedError) return EXIT_CODES.connection;
  if (error === NetworkError.ProxyTimeoutError) return EXIT_CODES.timeout;
  if (error < 100) return EXIT_CODES.connection;
  // A body that could not be sent again fails the reply whatever status asked for it (a 401's
  // challenge, a 307): the request was not answered as it would have been.
  if (error === NetworkError.ContentReSendError) return EXIT_CODES.content;
  // An HTTP error status, whichever code it maps to (400 is ProtocolInvalidOperationError; a
  // 407 that an http: URL's proxy answered is ProxyAuthenticationRequiredError): as curl, an
  // answer like any other, an error with --fail only.
  if (status >= 400) return EXIT_CODES.httpError;
  if (error < 200) return EXIT_CODES.proxy;
  if (error >= 301 && error < 400) return EXIT_CODES.protocol;
  return EXIT_CODES.content;
}
