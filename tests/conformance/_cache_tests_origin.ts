/**
 * The origin server of the cache-tests suite (http-tests/cache-tests), on raw TCP so that
 * header lines go out exactly as a test lists them (repeated fields on several lines, bogus
 * `Transfer-Encoding` values, dropped connections). It answers request `n` of a test with the
 * configured response, records what it saw, and reads time from the runner's clock.
 *
 * One response per connection: every response carries `Connection: close`.
 */

/** A header as a test lists it: name, value (a number is a date offset), checked flag. */
export type TestHeader = [string, string | number] | [string, string | number, boolean];

/** One request of a test, as in tests.json (only the fields the origin and runner read). */
export interface TestRequest {
  request_method?: string;
  request_headers?: [string, string | number][];
  request_body?: string;
  query_arg?: string;
  filename?: string;
  cache?: string;
  redirect?: string;
  mode?: string;
  credentials?: string;
  pause_after?: boolean;
  disconnect?: boolean;
  magic_locations?: boolean;
  magic_ims?: boolean;
  rfc850date?: string[];
  response_status?: [number, string];
  response_headers?: TestHeader[];
  response_body?: string | null;
  response_pause?: number;
  check_body?: boolean;
  expected_type?: "cached" | "not_cached" | "lm_validated" | "etag_validated";
  expected_method?: string;
  expected_status?: number | null;
  expected_request_headers?: (string | [string, string])[];
  expected_request_headers_missing?: (string | [string, string])[];
  expected_response_headers?:
    (string | [string, string | number] | [string, string, string | number])[];
  expected_response_headers_missing?: (string | [string, string])[];
  expected_response_text?: string | null;
  interim_responses?: unknown[];
  expected_interim_responses?: unknown[];
  setup?: boolean;
  setup_tests?: string[];
}

/** What the origin recorded about one request it answered. */
export interface ServerRequest {
  request_num: number;
  request_method: string;
  request_headers: Record<string, string>;
  response_headers: [string, string][];
}

const DATE_HEADERS = new Set(["date", "expires", "last-modified", "if-modified-since"]);
const LOCATION_HEADERS = new Set(["location", "content-location"]);
const NO_BODY_STATUS = new Set([204, 304]);
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** An HTTP-date `deltaSeconds` from `now`, in IMF-fixdate or RFC 850 form. */
export function httpDate(now: number, deltaSeconds: number, rfc850 = false): string {
  const instant = new Date(now + deltaSeconds * 1000);
  if (!rfc850) return instant.toUTCString();
  const pad = (n: number) => n.toString().padStart(2, "0");
  return `${DAYS[instant.getUTCDay()]}, ${pad(instant.getUTCDate())}-${
    MONTHS[instant.getUTCMonth()]
  }-${instant.getUTCFullYear().toString().slice(2)} ${pad(instant.getUTCHours())}:${
    pad(instant.getUTCMinutes())
  }:${pad(instant.getUTCSeconds())} GMT`;
}

/**
 * Rewrites a header the way cache-tests does: a number as the value of a date field is an
 * offset in seconds from `serverNow`; with `magic_locations`, Location and Content-Location
 * become URLs under `baseUrl`.
 */
export function fixupHeader(
  header: TestHeader,
  serverNow: number,
  baseUrl: string,
  config: TestRequest,
): [string, string] {
  const name = header[0].toLowerCase();
  let value = header[1];
  if (DATE_HEADERS.has(name) && typeof value === "number") {
    value = httpDate(serverNow, value, config.rfc850date?.includes(name) ?? false);
  }
  if (LOCATION_HEADERS.has(name) && config.magic_locations) {
    value = value ? `${baseUrl}/${value}` : baseUrl;
  }
  return [header[0], String(value)];
}

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();

/** The cache-tests origin: `configure` a test, point requests at `url`, read `state`. */
export class CacheTestsOrigin implements AsyncDisposable {
  readonly #listener: Deno.TcpListener;
  readonly #clock: { now(): number; advance(ms: number): void };
  readonly #configs = new Map<string, TestRequest[]>();
  readonly #stash = new Map<string, ServerRequest[]>();
  readonly #connections = new Set<Deno.TcpConn>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;
  #closed: Promise<void> | undefined;

  /**
   * Starts the origin on 127.0.0.1, port 0.
   *
   * @param clock The simulated time: `now()` for Date headers, `advance()` for response pauses.
   */
  constructor(clock: { now(): number; advance(ms: number): void }) {
    this.#clock = clock;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accepting = this.#accept();
  }

  /** The base URL, such as `http://127.0.0.1:41234`. */
  get url(): string {
    return `http://127.0.0.1:${this.#listener.addr.port}`;
  }

  /** Stores the requests of a test under `uuid`. */
  configure(uuid: string, requests: TestRequest[]): void {
    this.#configs.set(uuid, requests);
  }

  /** What the origin saw for `uuid`, in order. */
  state(uuid: string): ServerRequest[] {
    return this.#stash.get(uuid) ?? [];
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        this.#connections.add(conn);
        const task = this.#serve(conn).catch(() => {}).finally(() => {
          this.#connections.delete(conn);
          try {
            conn.close();
          } catch { /* already closed */ }
        });
        this.#tasks.add(task);
        task.finally(() => this.#tasks.delete(task));
      }
    } catch { /* listener closed */ }
  }

  async #serve(conn: Deno.TcpConn): Promise<void> {
    let buffer = new Uint8Array(0);
    const chunk = new Uint8Array(16 * 1024);
    const read = async (): Promise<boolean> => {
      const n = await conn.read(chunk);
      if (n === null) return false;
      const next = new Uint8Array(buffer.length + n);
      next.set(buffer);
      next.set(chunk.subarray(0, n), buffer.length);
      buffer = next;
      return true;
    };
    let end = -1;
    while ((end = indexOfHeadEnd(buffer)) === -1) {
      if (!(await read())) return;
    }
    const head = DECODER.decode(buffer.subarray(0, end));
    const [requestLine, ...lines] = head.split("\r\n");
    const [method = "GET", target = "/"] = (requestLine ?? "").split(" ");
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    const length = Number.parseInt(headers["content-length"] ?? "0", 10) || 0;
    while (buffer.length < end + 4 + length) {
      if (!(await read())) break;
    }
    await this.#respond(conn, method, target, headers);
  }

  async #respond(
    conn: Deno.TcpConn,
    method: string,
    target: string,
    headers: Record<string, string>,
  ): Promise<void> {
    const path = target.split("?")[0]!;
    const segments = path.split("/").filter((s) => s.length > 0);
    const uuid = segments[0] === "test" ? segments[1] : undefined;
    const requests = uuid ? this.#configs.get(uuid) : undefined;
    if (!uuid || !requests) {
      await write(conn, simple(404, "Not Found", `no test configured for ${target}`));
      return;
    }
    const serverState = this.#stash.get(uuid) ?? [];
    this.#stash.set(uuid, serverState);
    const srvReqNum = serverState.length + 1;
    const cliReqNum = Number.parseInt(headers["req-num"] ?? "", 10);
    const reqNum = cliReqNum || srvReqNum;
    const config = requests[reqNum - 1];
    if (!config) {
      await write(conn, simple(409, "Conflict", `config not found for request ${srvReqNum}`));
      return;
    }
    if (config.response_pause) this.#clock.advance(config.response_pause * 1000);
    const previous = requests[reqNum - 2];
    const now = this.#clock.now();

    let [status, statusText] = config.response_status ?? [200, "OK"];
    if (config.expected_type?.endsWith("validated")) {
      const previousLm = headerValue(previous?.response_headers, "last-modified");
      const previousEtag = headerValue(previous?.response_headers, "etag");
      let matched = false;
      if (previousLm !== undefined && headers["if-modified-since"] === previousLm) matched = true;
      if (previousEtag !== undefined && headers["if-none-match"] === previousEtag) matched = true;
      [status, statusText] = matched ? [304, "Not Modified"] : [999, "304 Not Generated"];
    }

    // As the reference origin: the request target, so magic locations are same-origin paths.
    const baseUrl = target;
    const out: [string, string][] = [
      ["Server-Base-Url", target],
      ["Server-Request-Count", String(srvReqNum)],
      ["Client-Request-Count", String(cliReqNum)],
      ["Server-Now", String(now)],
    ];
    const saved = new Map<string, string[]>();
    for (const raw of config.response_headers ?? []) {
      const [name, value] = fixupHeader(raw, now, baseUrl, config);
      // The reference origin rewrites the configuration in place: a later request's 304
      // check compares against the value actually sent.
      raw[1] = value;
      out.push([name, value]);
      if (raw.length < 3 || raw[2] === true) {
        const key = name.toLowerCase();
        const existing = out.filter(([n]) => n.toLowerCase() === key).map(([, v]) => v);
        saved.set(key, existing);
      }
    }
    if (!out.some(([n]) => n.toLowerCase() === "content-type")) {
      out.push(["Content-Type", "text/plain"]);
    }
    serverState.push({
      request_num: cliReqNum,
      request_method: method,
      request_headers: headers,
      response_headers: [...saved].map(([name, values]) => [name, values.join(", ")]),
    });
    out.push(["Request-Numbers", serverState.map((s) => s.request_num).join(" ")]);

    if (config.disconnect) return; // the caller closes the connection without a response
    const hasBody = !NO_BODY_STATUS.has(status);
    const body = hasBody ? ENCODER.encode(config.response_body || uuid) : new Uint8Array(0);
    const names = new Set(out.map(([n]) => n.toLowerCase()));
    if (!names.has("content-length") && !names.has("transfer-encoding") && hasBody) {
      out.push(["Content-Length", String(method === "HEAD" ? body.length : body.length)]);
    }
    const connection = out.findIndex(([n]) => n.toLowerCase() === "connection");
    if (connection === -1) out.push(["Connection", "close"]);
    else out[connection] = [out[connection]![0], `${out[connection]![1]}, close`];
    let text = `HTTP/1.1 ${status} ${statusText}\r\n`;
    for (const [name, value] of out) text += `${name}: ${value}\r\n`;
    text += "\r\n";
    const head = ENCODER.encode(text);
    const message = new Uint8Array(head.length + (method === "HEAD" ? 0 : body.length));
    message.set(head);
    if (method !== "HEAD") message.set(body, head.length);
    await write(conn, message);
  }

  /** Closes the listener and every open connection. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#listener.close();
      for (const conn of this.#connections) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
      await this.#accepting;
      await Promise.all(this.#tasks);
    })();
    return this.#closed;
  }

  /** Closes the origin, as {@linkcode CacheTestsOrigin.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function headerValue(headers: TestHeader[] | undefined, name: string): string | undefined {
  const found = headers?.find(([n]) => n.toLowerCase() === name);
  return found === undefined ? undefined : String(found[1]);
}

function indexOfHeadEnd(buffer: Uint8Array): number {
  for (let i = 0; i + 3 < buffer.length; i++) {
    if (buffer[i] === 13 && buffer[i + 1] === 10 && buffer[i + 2] === 13 && buffer[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

function simple(status: number, statusText: string, body: string): Uint8Array {
  const bytes = ENCODER.encode(body);
  return ENCODER.encode(
    `HTTP/1.1 ${status} ${statusText}\r\nContent-Type: text/plain\r\nContent-Length: ${bytes.length}\r\nConnection: close\r\n\r\n${body}`,
  );
}

async function write(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}
