/**
 * Self-signed certificates for https tests: a CA and a leaf certificate for 127.0.0.1 and
 * localhost signed by it (good for servers and for clients), made on the spot with `openssl` when it is installed, or with
 * WebCrypto (ECDSA P-256) and a minimal DER encoder otherwise.
 */

/** PEM texts for `Deno.serve({ cert, key })` and `Deno.createHttpClient({ caCerts })`. */
export interface TestCertificates {
  /** The CA certificate, to trust (`caCerts: [caCert]`). */
  caCert: string;
  /** The server's certificate (127.0.0.1, ::1 and localhost), signed by the CA. */
  cert: string;
  /** The server's private key (PKCS #8). */
  key: string;
}

/** Options of {@linkcode makeTestCertificates}. */
export interface TestCertificateOptions {
  /** How to make them; `"auto"` uses openssl when it runs. Default `"auto"`. */
  method?: "auto" | "openssl" | "webcrypto";
  /** Lifetime in days from an hour ago (0: expired an hour ago, webcrypto only). Default 2. */
  days?: number;
  /** DNS names of the leaf instead of 127.0.0.1, ::1 and localhost (webcrypto only). */
  names?: string[];
  /**
   * A leaf for clients only: its extended key usage is clientAuth alone, which a client refuses
   * in a server (webcrypto only). Default false.
   */
  clientOnly?: boolean;
  /**
   * One self-signed certificate for loopback that is a CA (basicConstraints CA:TRUE, as
   * `openssl req -x509` makes): `caCert` and `cert` are the same certificate (webcrypto only).
   * Default false.
   */
  selfSigned?: boolean;
}

let opensslAvailable: boolean | undefined;

/** Whether `openssl` can be run. */
export async function hasOpenssl(): Promise<boolean> {
  if (opensslAvailable !== undefined) return opensslAvailable;
  try {
    const { success } = await new Deno.Command("openssl", {
      args: ["version"],
      stdout: "null",
      stderr: "null",
    }).output();
    opensslAvailable = success;
  } catch {
    opensslAvailable = false;
  }
  return opensslAvailable;
}

/**
 * Makes a fresh CA and a leaf certificate for loopback.
 *
 * @param options How to make them.
 * @returns The PEM texts.
 */
export async function makeTestCertificates(
  options: TestCertificateOptions = {},
): Promise<TestCertificates> {
  const method = options.method ?? "auto";
  const days = options.days ?? 2;
  if (options.selfSigned === true) return await selfSignedCa(days);
  const custom = options.names !== undefined || days <= 0 || options.clientOnly === true;
  if (method === "openssl" || (method === "auto" && !custom && await hasOpenssl())) {
    return await withOpenssl(days);
  }
  return await withWebCrypto(days, options.names, options.clientOnly);
}

// ---------------------------------------------------------------------------------------------
// openssl

async function openssl(args: string[], cwd: string): Promise<void> {
  const { success, stderr } = await new Deno.Command("openssl", {
    args,
    cwd,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(stderr)}`);
  }
}

function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0]! &= 0x7f;
  return "0x" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function withOpenssl(days: number): Promise<TestCertificates> {
  const dir = await Deno.makeTempDir({ prefix: "netaccess_tls_" });
  try {
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    await openssl([
      "req",
      "-x509",
      ...ec,
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      String(days),
      "-subj",
      "/CN=netaccess test CA",
      "-set_serial",
      randomSerial(),
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ], dir);
    await openssl([
      "req",
      ...ec,
      "-keyout",
      "leaf.key",
      "-out",
      "leaf.csr",
      "-subj",
      "/CN=localhost",
    ], dir);
    await Deno.writeTextFile(
      `${dir}/leaf.ext`,
      [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=serverAuth,clientAuth",
        "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost",
        "",
      ].join("\n"),
    );
    await openssl([
      "x509",
      "-req",
      "-in",
      "leaf.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-set_serial",
      randomSerial(),
      "-days",
      String(days),
      "-extfile",
      "leaf.ext",
      "-out",
      "leaf.pem",
    ], dir);
    return {
      caCert: await Deno.readTextFile(`${dir}/ca.pem`),
      cert: await Deno.readTextFile(`${dir}/leaf.pem`),
      key: await Deno.readTextFile(`${dir}/leaf.key`),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// ---------------------------------------------------------------------------------------------
// WebCrypto and a minimal DER encoder

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function tlv(tag: number, ...content: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const body = concat(...content);
  let length: Uint8Array;
  if (body.length < 0x80) length = Uint8Array.of(body.length);
  else {
    const bytes: number[] = [];
    for (let n = body.length; n > 0; n >>= 8) bytes.unshift(n & 0xff);
    length = Uint8Array.of(0x80 | bytes.length, ...bytes);
  }
  return concat(Uint8Array.of(tag), length, body);
}

const seq = (...items: Uint8Array[]) => tlv(0x30, ...items);
const set = (...items: Uint8Array[]) => tlv(0x31, ...items);
const explicit = (n: number, ...items: Uint8Array[]) => tlv(0xa0 + n, ...items);
const octets = (bytes: Uint8Array) => tlv(0x04, bytes);
const bitString = (bytes: Uint8Array, unused = 0) => tlv(0x03, Uint8Array.of(unused), bytes);
const TRUE = tlv(0x01, Uint8Array.of(0xff));

/** A non-negative INTEGER from big-endian bytes. */
function integer(bytes: Uint8Array): Uint8Array {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const trimmed = bytes.subarray(start);
  return tlv(0x02, trimmed[0]! & 0x80 ? concat(Uint8Array.of(0), trimmed) : trimmed);
}

function oid(dotted: string): Uint8Array {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const bytes = [a! * 40 + b!];
  for (const value of rest) {
    const chunk = [value & 0x7f];
    for (let v = value >>> 7; v > 0; v >>>= 7) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Uint8Array.from(bytes));
}

function utcTime(date: Date): Uint8Array {
  const two = (n: number) => String(n).padStart(2, "0");
  const text = two(date.getUTCFullYear() % 100) + two(date.getUTCMonth() + 1) +
    two(date.getUTCDate()) + two(date.getUTCHours()) + two(date.getUTCMinutes()) +
    two(date.getUTCSeconds()) + "Z";
  return tlv(0x17, new TextEncoder().encode(text));
}

function name(commonName: string): Uint8Array {
  return seq(set(seq(oid("2.5.4.3"), tlv(0x0c, new TextEncoder().encode(commonName)))));
}

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? seq(oid(id), TRUE, octets(value)) : seq(oid(id), octets(value));
}

const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));
const EC_PARAMS = { name: "ECDSA", namedCurve: "P-256" } as const;

/** An ECDSA signature from WebCrypto's r||s form to DER `SEQUENCE { r, s }`. */
function derSignature(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  return seq(integer(raw.subarray(0, half)), integer(raw.subarray(half)));
}

function pem(label: string, der: Uint8Array): string {
  let binary = "";
  for (const byte of der) binary += String.fromCharCode(byte);
  const lines = btoa(binary).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

async function certificate(options: {
  subject: string;
  issuer: string;
  publicKey: CryptoKey;
  signingKey: CryptoKey;
  extensions: Uint8Array[];
  days: number;
}): Promise<Uint8Array> {
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0]! &= 0x7f;
  serial[0]! |= 0x01;
  const notBefore = new Date(Date.now() - 3600_000);
  const notAfter = new Date(notBefore.getTime() + options.days * 86_400_000);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", options.publicKey));
  const tbs = seq(
    explicit(0, integer(Uint8Array.of(2))),
    integer(serial),
    ECDSA_SHA256,
    name(options.issuer),
    seq(utcTime(notBefore), utcTime(notAfter)),
    name(options.subject),
    spki,
    explicit(3, seq(...options.extensions)),
  );
  const signature = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, options.signingKey, tbs),
  );
  return seq(tbs, ECDSA_SHA256, bitString(derSignature(signature)));
}

async function withWebCrypto(
  days: number,
  names?: string[],
  clientOnly = false,
): Promise<TestCertificates> {
  const ca = await crypto.subtle.generateKey(EC_PARAMS, true, ["sign", "verify"]);
  const leaf = await crypto.subtle.generateKey(EC_PARAMS, true, ["sign", "verify"]);
  const caDer = await certificate({
    subject: "netaccess test CA",
    issuer: "netaccess test CA",
    publicKey: ca.publicKey,
    signingKey: ca.privateKey,
    days,
    extensions: [
      extension("2.5.29.19", true, seq(TRUE)), // basicConstraints: CA
      extension("2.5.29.15", true, bitString(Uint8Array.of(0x06), 1)), // keyCertSign, cRLSign
    ],
  });
  const sanIp4 = tlv(0x87, Uint8Array.of(127, 0, 0, 1));
  const sanIp6 = tlv(0x87, Uint8Array.of(...new Array(15).fill(0), 1));
  const dns = (host: string) => tlv(0x82, new TextEncoder().encode(host));
  const san = names === undefined ? [sanIp4, sanIp6, dns("localhost")] : names.map(dns);
  const leafDer = await certificate({
    subject: names?.[0] ?? "localhost",
    issuer: "netaccess test CA",
    publicKey: leaf.publicKey,
    signingKey: ca.privateKey,
    days,
    extensions: [
      extension("2.5.29.19", true, seq()), // basicConstraints: not a CA
      extension("2.5.29.15", true, bitString(Uint8Array.of(0x80), 7)), // digitalSignature
      // serverAuth, clientAuth: the leaf also serves as a client certificate.
      extension(
        "2.5.29.37",
        false,
        clientOnly
          ? seq(oid("1.3.6.1.5.5.7.3.2"))
          : seq(oid("1.3.6.1.5.5.7.3.1"), oid("1.3.6.1.5.5.7.3.2")),
      ),
      extension("2.5.29.17", false, seq(...san)),
    ],
  });
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", leaf.privateKey));
  return {
    caCert: pem("CERTIFICATE", caDer),
    cert: pem("CERTIFICATE", leafDer),
    key: pem("PRIVATE KEY", pkcs8),
  };
}

/** One certificate for loopback that is its own issuer and a CA. */
async function selfSignedCa(days: number): Promise<TestCertificates> {
  const keys = await crypto.subtle.generateKey(EC_PARAMS, true, ["sign", "verify"]);
  const der = await certificate({
    subject: "localhost",
    issuer: "localhost",
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    days,
    extensions: [
      extension("2.5.29.19", true, seq(TRUE)), // basicConstraints: CA
      extension(
        "2.5.29.17",
        false,
        seq(
          tlv(0x87, Uint8Array.of(127, 0, 0, 1)),
          tlv(0x82, new TextEncoder().encode("localhost")),
        ),
      ),
    ],
  });
  const cert = pem("CERTIFICATE", der);
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { caCert: cert, cert, key: pem("PRIVATE KEY", pkcs8) };
}

// ---------------------------------------------------------------------------------------------
// A server that requires a client certificate

/** A running `openssl s_server` that asks every client for a certificate signed by the CA. */
export interface MutualTlsServer extends AsyncDisposable {
  /** `https://127.0.0.1:PORT` */
  url: string;
  /** Stops the server. */
  close(): Promise<void>;
}

/**
 * Starts `openssl s_server -Verify 1 -www` on 127.0.0.1, port 0, with the leaf of `certs`: a
 * client without a certificate signed by `certs.caCert` is refused in the handshake (TLS 1.3
 * `certificate_required`); one with it gets an HTTP 200 status page. Needs `openssl`.
 */
export async function serveMutualTls(certs: TestCertificates): Promise<MutualTlsServer> {
  const dir = await Deno.makeTempDir({ prefix: "netaccess_mtls_" });
  await Deno.writeTextFile(`${dir}/leaf.pem`, certs.cert);
  await Deno.writeTextFile(`${dir}/leaf.key`, certs.key);
  await Deno.writeTextFile(`${dir}/ca.pem`, certs.caCert);
  const child = new Deno.Command("openssl", {
    args: [
      "s_server",
      "-accept",
      "127.0.0.1:0",
      "-cert",
      `${dir}/leaf.pem`,
      "-key",
      `${dir}/leaf.key`,
      "-CAfile",
      `${dir}/ca.pem`,
      "-Verify",
      "1",
      "-verify_return_error",
      "-www",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!/ACCEPT \S+:\d+/.test(seen)) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += value;
  }
  const port = seen.match(/ACCEPT \S+:(\d+)/)?.[1];
  const draining = (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })();
  let closed: Promise<void> | undefined;
  const close = () =>
    closed ??= (async () => {
      try {
        child.kill();
      } catch {
        // Already gone.
      }
      await child.status;
      await draining.catch(() => {});
      await Deno.remove(dir, { recursive: true });
    })();
  if (port === undefined) {
    await close();
    throw new Error(`openssl s_server did not start: ${seen}`);
  }
  return { url: `https://127.0.0.1:${port}`, close, [Symbol.asyncDispose]: close };
}
