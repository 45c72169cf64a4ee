/**
 * TLS settings of a manager beside `caCerts`: client certificates, for every https server or
 * per origin, and the sentence that names the cause of a failed handshake.
 *
 * @module
 */

import { _redactUrls } from "./_redact.ts";
import { checkKeys, describe } from "./_validation.ts";

/**
 * A TLS client certificate (mutual TLS): the certificate chain and its private key, both PEM,
 * as `Deno.createHttpClient` takes them. Qt's `QSslConfiguration::setLocalCertificate` and
 * `setPrivateKey`; got's `https.certificate` and `https.key`.
 *
 * @example Present a client certificate to one origin
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ClientCertificate, NetworkAccessManager } from "@netaccess/core";
 *
 * const identity: ClientCertificate = {
 *   cert: "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n",
 *   key: "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n",
 * };
 * await using manager = new NetworkAccessManager({
 *   clientCertificates: { "https://api.example.com": identity },
 * });
 * assert.deepEqual(manager.clientCertificateFor("https://api.example.com/v1"), identity);
 * ```
 */
export interface ClientCertificate {
  /** The certificate, then any intermediates, PEM (`-----BEGIN CERTIFICATE-----`). */
  cert: string;
  /** The private key of the certificate, PEM (PKCS #8, PKCS #1 or SEC1). */
  key: string;
}

const PEM = /-----BEGIN [A-Z0-9 ]+-----/;

/** A value as a message shows it (see `describe`), unless it is the text of a private key. */
function shown(value: unknown): string {
  return typeof value === "string" && /PRIVATE KEY/.test(value)
    ? "a private key (not shown)"
    : describe(value);
}

const BEGIN_CERTIFICATE = "-----BEGIN CERTIFICATE-----";

/**
 * Why Deno would skip a certificate of `pem` without a word, or `undefined` when it skips none.
 * Deno's PEM reader (rustls's) starts a block only at a line that begins with `-----BEGIN `, so
 * a `-----BEGIN CERTIFICATE-----` anywhere else (an indented line, as PEM embedded in YAML is; a
 * byte order mark; text before it on its line) loads nothing, and no error says so: every
 * handshake then fails with "unknown issuer" though the CA was given.
 */
function skippedCertificate(pem: string): string | undefined {
  for (
    let at = pem.indexOf(BEGIN_CERTIFICATE);
    at !== -1;
    at = pem.indexOf(BEGIN_CERTIFICATE, at + BEGIN_CERTIFICATE.length)
  ) {
    const lineStart = Math.max(pem.lastIndexOf("\n", at), pem.lastIndexOf("\r", at)) + 1;
    if (lineStart === at) continue;
    const before = pem.slice(lineStart, at);
    const line = pem.slice(0, lineStart).split(/\r\n|\r|\n/).length;
    const why = lineStart === 0 && before.startsWith("\uFEFF")
      ? "it starts with a byte order mark (U+FEFF): remove it"
      : /^\s+$/.test(before)
      ? `its line ${line} is indented: remove the indentation of every line`
      : `its line ${line} has text before the "${BEGIN_CERTIFICATE}"`;
    return `${why}; Deno skips a certificate whose "${BEGIN_CERTIFICATE}" does not start a line`;
  }
  return undefined;
}

/** The CA certificates Deno read when they were last checked, at most {@linkcode READABLE_KEPT}. */
const readable = new Set<string>();
const READABLE_KEPT = 64;

/**
 * Checks the `caCerts` option: an array of PEM certificates that Deno can read (each is tried in
 * a client made and closed at once, where `Deno.createHttpClient` is offered). A string that is
 * not PEM (a file's path given instead of its text) would be skipped without a word, and one
 * whose PEM does not decode would fail every request, http ones too.
 *
 * `field` names the option in the message.
 *
 * @returns A frozen copy.
 */
export function checkCaCerts(what: string, value: unknown, field = "caCerts"): readonly string[] {
  if (!Array.isArray(value)) {
    throw new TypeError(
      `${what}: '${field}' must be an array of PEM certificates, got ${describe(value)}`,
    );
  }
  const certs = [...value];
  certs.forEach((cert, i) => {
    if (typeof cert !== "string" || !/-----BEGIN CERTIFICATE-----/.test(cert)) {
      throw new TypeError(
        `${what}: '${field}[${i}]' must be a PEM certificate ("-----BEGIN CERTIFICATE-----..."; ` +
          `the text of a file, not its path), got ${shown(cert)}`,
      );
    }
    const skipped = skippedCertificate(cert);
    if (skipped !== undefined) {
      throw new TypeError(
        `${what}: '${field}[${i}]' is not a certificate Deno can read (${skipped})`,
      );
    }
  });
  if (
    certs.length > 0 && typeof Deno.createHttpClient === "function" &&
    !certs.every((cert) => readable.has(cert))
  ) {
    const unreadable = (list: string[]): string | undefined => {
      try {
        Deno.createHttpClient({ caCerts: list }).close();
        return undefined;
      } catch (error) {
        return (error as Error).message;
      }
    };
    if (unreadable(certs) !== undefined) {
      for (let i = 0; i < certs.length; i++) {
        const why = unreadable([certs[i]]);
        if (why !== undefined) {
          throw new TypeError(
            `${what}: '${field}[${i}]' is not a certificate Deno can read (${why})`,
          );
        }
      }
    }
    // A manager made per request with the same certificates makes no client to check them again.
    if (readable.size + certs.length > READABLE_KEPT) readable.clear();
    for (const cert of certs) readable.add(cert);
  }
  return Object.freeze(certs);
}

/** Checks a client certificate option; returns a copy. */
export function checkClientCertificate(
  what: string,
  field: string,
  value: unknown,
): ClientCertificate {
  if (value === null || typeof value !== "object") {
    throw new TypeError(
      `${what}: '${field}' must be an object { cert, key }, got ${shown(value)}`,
    );
  }
  checkKeys(what, value, ["cert", "key"], field);
  const { cert, key } = value as Partial<ClientCertificate>;
  if (typeof cert !== "string" || !/-----BEGIN CERTIFICATE-----/.test(cert)) {
    throw new TypeError(`${what}: '${field}.cert' must be a PEM certificate`);
  }
  if (typeof key !== "string" || !PEM.test(key) || !/PRIVATE KEY-----/.test(key)) {
    throw new TypeError(`${what}: '${field}.key' must be a PEM private key`);
  }
  return Object.freeze({ cert, key });
}

/**
 * Checks the per-origin client certificates (the option `field`); returns them keyed by
 * normalized origin.
 */
export function checkClientCertificates(
  what: string,
  value: unknown,
  field = "clientCertificates",
): Map<string, ClientCertificate> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(
      `${what}: '${field}' must be an object of origins to { cert, key }, got ${shown(value)}`,
    );
  }
  const out = new Map<string, ClientCertificate>();
  for (const [origin, certificate] of Object.entries(value)) {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw new TypeError(
        `${what}: '${field}' keys must be https origins, got ${shown(origin)}`,
      );
    }
    if (url.protocol !== "https:") {
      throw new TypeError(
        `${what}: '${field}' keys must be https origins, got ${shown(origin)}`,
      );
    }
    // A path, a query, a fragment or credentials would be dropped: the certificate is the
    // whole origin's.
    if (url.href !== `${url.origin}/`) {
      const extra = url.username !== "" || url.password !== ""
        ? "credentials"
        : url.pathname !== "/"
        ? "a path"
        : url.href.includes("#")
        ? "a fragment"
        : "a query";
      throw new TypeError(
        `${what}: '${field}' keys must be bare https origins, got ${
          shown(_redactUrls(origin))
        } with ${extra} (a certificate is presented to the whole origin: use "${url.origin}")`,
      );
    }
    out.set(
      url.origin,
      checkClientCertificate(what, `${field}[${JSON.stringify(origin)}]`, certificate),
    );
  }
  return out;
}

const UNKNOWN_ISSUER = /unknownissuer|unknown issuer|self.signed/;
const EXPIRED = /expired|notvalidyet|not valid yet|not valid after|not valid before/;
const NAME_MISMATCH = /notvalidforname|not valid for name|name mismatch/;
const REVOKED = /revoked/;

/**
 * Whether the text of a failed TLS handshake says the server's certificate could not be
 * verified (unknown issuer, outside its validity period, not for the host name, revoked, or
 * any other reason rustls gives as an "invalid peer certificate": a usage not for servers, a
 * signature too weak, an issuer that is no CA), as opposed to a handshake that failed otherwise
 * (a client certificate asked for or refused, no common protocol).
 */
export function peerNotVerified(text: string): boolean {
  const lower = text.toLowerCase();
  return UNKNOWN_ISSUER.test(lower) || EXPIRED.test(lower) || NAME_MISMATCH.test(lower) ||
    REVOKED.test(lower) || lower.includes("invalid peer certificate");
}

/**
 * What {@linkcode tlsCause} suggests when an https server answers with something that is not TLS;
 * the HSTS layer says otherwise for a URL it upgraded.
 */
export const PLAIN_HTTP_HINT = "(a plain HTTP server? use an http: URL)";

/**
 * What {@linkcode tlsCause} suggests when an `https` proxy answers with something that is not
 * TLS.
 */
const PLAIN_PROXY_HINT = '(a plain HTTP proxy? use type "http")';

/**
 * The cause of a failed TLS handshake in words a person can act on, from the text of the
 * error chain (rustls names the cause); `undefined` when the text names none. `peer` is what
 * the handshake was with: the server (the target), or an `https` proxy.
 */
export function tlsCause(text: string, peer: "server" | "proxy" = "server"): string | undefined {
  const lower = text.toLowerCase();
  if (UNKNOWN_ISSUER.test(lower)) {
    return `unknown issuer: the ${peer}'s certificate is not signed by a trusted CA ` +
      `(trust ${peer === "proxy" ? "the proxy's" : "its"} CA with caCerts)`;
  }
  if (EXPIRED.test(lower)) {
    return `certificate expired: the ${peer}'s certificate is outside its validity period`;
  }
  if (NAME_MISMATCH.test(lower)) {
    return `name mismatch: the ${peer}'s certificate is not valid for this host name`;
  }
  if (/certificaterequired|certificate required/.test(lower)) {
    return `certificate required: the ${peer} asks for a client certificate` +
      (peer === "server" ? " (give one with clientCertificate)" : "");
  }
  if (/alert: (unknownca|badcertificate|accessdenied|decrypterror)/.test(lower)) {
    return `client certificate refused: the ${peer} does not accept the client certificate`;
  }
  if (REVOKED.test(lower)) return "certificate revoked";
  if (/causedasendentity|ca used as end entity/.test(lower)) {
    return `CA certificate used as a server certificate: the ${peer}'s certificate has ` +
      "basicConstraints CA:TRUE (as `openssl req -x509` makes), which is refused even when " +
      "trusted (make a CA and a server certificate signed by it, or one with CA:FALSE)";
  }
  if (/invalidcontenttype|corrupt message/.test(lower)) {
    return `not TLS: the ${peer} answered with something that is not TLS ${
      peer === "proxy" ? PLAIN_PROXY_HINT : PLAIN_HTTP_HINT
    }`;
  }
  if (/handshake eof/.test(lower)) {
    return `connection closed: the ${peer} closed the connection during the handshake`;
  }
  return undefined;
}
