/**
 * The http-state cookie cases through a whole manager: a loopback origin answers each case's
 * `Set-Cookie` lines (their exact bytes, on raw TCP) in a 302, the manager's redirect layer
 * follows it to the case's result URL, and the origin records the `Cookie` header that hop
 * carried. The test host names (`home.example.org:8888`, ...) reach the origin through a
 * network layer that sends to 127.0.0.1 and keeps the `Host` header. Runs for the manager's
 * default MemoryCookieJar and for a KvCookieJar.
 */

import assert from "node:assert/strict";
import { KvCookieJar, NetworkAccessManager, NetworkError } from "../../mod.ts";
import { guardUnhandledRejections, serveTcp, takeUnhandledRejections } from "../_helpers/server.ts";
import { loopbackHosts } from "../_helpers/loopback_hosts.ts";
import {
  conformanceRoot,
  type DateCase,
  expectedCookieHeader,
  loadDateCases,
  loadParserCases,
  type ParserCase,
  parserSentUrl,
  parserSetUrl,
  rfc6265bisExpected,
} from "./_cookies_data.ts";

guardUnhandledRejections();

const parserCases = await loadParserCases();
const dateCases = await loadDateCases();
const NOW = Date.UTC(2026, 0, 1);
const CENTURY = 100 * 365 * 86_400_000;

/** One request the origin answered with 200: the Host and Cookie it carried. */
interface Hit {
  host: string;
  target: string;
  cookie: string | null;
}

/** A 302 the origin gives for one request target. */
interface Answer {
  setCookies: readonly string[];
  location: string;
}

const utf8 = new TextDecoder();

function utf8ToLatin1(value: string): string {
  return String.fromCharCode(...new TextEncoder().encode(value));
}

function latin1Bytes(value: string): Uint8Array {
  return Uint8Array.from(value, (c) => c.charCodeAt(0));
}

async function readRequestHead(conn: Deno.Conn): Promise<string> {
  const buffer = new Uint8Array(65536);
  let head = "";
  while (!head.includes("\r\n\r\n")) {
    const n = await conn.read(buffer);
    if (n === null) break;
    // One char per byte (TextDecoder's "latin1" is windows-1252).
    for (const byte of buffer.subarray(0, n)) head += String.fromCharCode(byte);
  }
  return head;
}

/**
 * The origin: a target in `answers` gets a 302 with those `Set-Cookie` lines written as
 * UTF-8 bytes, byte for byte; any other target gets 200 and is recorded in `hits`.
 */
function cookieOrigin() {
  const answers = new Map<string, Answer>();
  const hits: Hit[] = [];
  const server = serveTcp(async (conn) => {
    const head = await readRequestHead(conn);
    const [requestLine = "", ...lines] = head.split("\r\n");
    const target = requestLine.split(" ")[1] ?? "";
    const header = (name: string) => {
      const line = lines.find((l) => l.toLowerCase().startsWith(`${name}:`));
      return line === undefined ? null : line.slice(name.length + 1).trim();
    };
    const answer = answers.get(target);
    let response: string;
    if (answer) {
      response = "HTTP/1.1 302 Found\r\n" +
        `Location: ${answer.location}\r\n` +
        answer.setCookies.map((line) => `Set-Cookie: ${utf8ToLatin1(line)}\r\n`).join("");
    } else {
      const cookie = header("cookie");
      hits.push({
        host: header("host") ?? "",
        target,
        cookie: cookie === null ? null : utf8.decode(latin1Bytes(cookie)),
      });
      response = "HTTP/1.1 200 OK\r\n";
    }
    response += "Content-Length: 0\r\nConnection: close\r\n\r\n";
    await conn.write(latin1Bytes(response));
  });
  return Object.assign(server, { answers, hits });
}

type Origin = ReturnType<typeof cookieOrigin>;

/** A manager on the injected clock whose http hosts all reach the origin. */
function managerFor(origin: Origin, clock: () => number) {
  const hosts = loopbackHosts(origin.port);
  const manager = new NetworkAccessManager({ clock });
  manager.use(hosts.layer, "network");
  return {
    manager,
    async [Symbol.asyncDispose]() {
      await manager.close();
      hosts.close();
    },
  };
}

/** Sends a GET and waits for the reply to finish, body drained. */
async function fetchThrough(manager: NetworkAccessManager, url: URL | string) {
  const reply = manager.get(url);
  try {
    await reply.bytes();
  } catch { /* the error is on the reply */ }
  await reply.finished;
  return reply;
}

/** Makes the jar of one case: the manager's own (cleared) or a fresh KvCookieJar. */
type JarSetup = (manager: NetworkAccessManager, name: string) => Promise<void>;

async function withJars(
  clock: () => number,
  origin: Origin,
  run: (kind: string, manager: NetworkAccessManager, setup: JarSetup) => Promise<void>,
): Promise<void> {
  {
    await using env = managerFor(origin, clock);
    await run("MemoryCookieJar", env.manager, async (manager) => {
      await manager.cookieJar!.clear();
    });
  }
  const kv = await Deno.openKv(":memory:");
  try {
    await using env = managerFor(origin, clock);
    await run("KvCookieJar", env.manager, async (manager, name) => {
      manager.cookieJar = await KvCookieJar.open({ kv, clock, prefix: [name] });
    });
  } finally {
    kv.close();
  }
}

/** The Cookie header the case's redirect hop carried, or why it could not be seen. */
async function runParserCase(
  manager: NetworkAccessManager,
  origin: Origin,
  testCase: ParserCase,
): Promise<{ sent: string | null; refused?: string; problem?: string }> {
  const setUrl = parserSetUrl(testCase);
  const sentUrl = parserSentUrl(testCase);
  origin.answers.set(`${setUrl.pathname}${setUrl.search}`, {
    setCookies: testCase.received,
    location: testCase["sent-to"] ?? `/cookie-parser-result?${testCase.test}`,
  });
  origin.hits.length = 0;
  const reply = await fetchThrough(manager, setUrl);
  if (reply.error !== NetworkError.NoError) {
    // The HTTP client refused the 302 itself (a NUL or CR in a header): no cookie was
    // stored; what the next request to the result URL carries is still the case's outcome.
    const direct = await fetchThrough(manager, sentUrl);
    const problem = direct.error === NetworkError.NoError ? undefined : direct.errorString;
    return { sent: origin.hits.at(-1)?.cookie ?? null, refused: reply.errorString, problem };
  }
  const hit = origin.hits.at(-1);
  let problem: string | undefined;
  if (reply.redirects.length !== 1 || reply.url.href !== sentUrl.href) {
    problem = `ended at ${reply.url.href} after ${reply.redirects.length} redirects`;
  } else if (origin.hits.length !== 1 || hit?.host !== sentUrl.host) {
    problem = `result request came to ${hit?.host} (${origin.hits.length} requests)`;
  }
  return { sent: hit?.cookie ?? null, problem };
}

Deno.test({
  name:
    "http-state parser cases give RFC 6265 results, and the 25 others RFC 6265bis results, through the manager for both jars",
  ignore: parserCases === null,
  async fn(t) {
    await using origin = cookieOrigin();
    await withJars(() => NOW, origin, async (kind, manager, setup) => {
      await t.step(kind, async () => {
        let passed = 0;
        let bis = 0;
        const failed: string[] = [];
        const refused: string[] = [];
        const problems: string[] = [];
        for (const testCase of parserCases!) {
          await setup(manager, testCase.test);
          const outcome = await runParserCase(manager, origin, testCase);
          if (outcome.refused) refused.push(testCase.test);
          if (outcome.problem) problems.push(`${testCase.test}: ${outcome.problem}`);
          const inBucket = rfc6265bisExpected.has(testCase.test);
          const expected = inBucket
            ? rfc6265bisExpected.get(testCase.test)!
            : expectedCookieHeader(testCase);
          if (outcome.sent !== expected) {
            failed.push(`${testCase.test}: sent ${outcome.sent}, expected ${expected}`);
          } else if (inBucket) bis++;
          else passed++;
        }
        console.log(
          `${kind} through the manager: ${parserCases!.length} parser cases: ${passed} pass by ` +
            `RFC 6265, ${bis} by RFC 6265bis, ${failed.length} failed` +
            (refused.length ? ` (302 refused by the HTTP client: ${refused.join(", ")})` : ""),
        );
        assert.deepEqual(problems, []);
        assert.deepEqual(failed, []);
        assert.equal(passed, 197);
        assert.equal(bis, 25);
        // Only a NUL or CR in a Set-Cookie line makes the client refuse a response.
        assert.deepEqual(refused, ["DISABLED_CHROMIUM0022", "DISABLED_CHROMIUM0023"]);
      });
    });
  },
});

/**
 * One date case: the cookie is set by a 302 one second before its parsed expiry and must
 * reach the redirect hop; one second after the expiry it must be gone. An Expires that does
 * not parse leaves a session cookie, still sent a century later.
 */
async function runDateCase(
  manager: NetworkAccessManager,
  origin: Origin,
  testCase: DateCase,
  index: number,
  setNow: (now: number) => void,
): Promise<string | null> {
  const expires = testCase.expected === null ? null : Date.parse(testCase.expected);
  setNow(expires === null ? NOW : expires - 1000);
  origin.answers.set(`/date?${index}`, {
    setCookies: [`foo=bar; Expires=${testCase.test}`],
    location: `/date-check?${index}`,
  });
  origin.hits.length = 0;
  const reply = await fetchThrough(manager, `http://home.example.org:8888/date?${index}`);
  if (reply.error !== NetworkError.NoError || reply.redirects.length !== 1) {
    return `the 302 was not followed: ${reply.errorString}`;
  }
  if (origin.hits.at(-1)?.cookie !== "foo=bar") {
    return `not sent before its expiry: ${origin.hits.at(-1)?.cookie}`;
  }
  setNow(expires === null ? NOW + CENTURY : expires + 1000);
  await fetchThrough(manager, `http://home.example.org:8888/date-check?${index}`);
  const later = origin.hits.at(-1)?.cookie ?? null;
  if (expires === null && later !== "foo=bar") return `session cookie not sent: ${later}`;
  if (expires !== null && later !== null) return `still sent after its expiry: ${later}`;
  return null;
}

Deno.test({
  name: "cookie dates decide expiry through the manager for both jars (Expires and a clock)",
  ignore: dateCases === null,
  async fn(t) {
    let now = NOW;
    await using origin = cookieOrigin();
    await withJars(() => now, origin, async (kind, manager, setup) => {
      await t.step(kind, async () => {
        let passed = 0;
        const failed: string[] = [];
        for (const [index, testCase] of dateCases!.entries()) {
          await setup(manager, `date-${index}`);
          const problem = await runDateCase(manager, origin, testCase, index, (value) => {
            now = value;
          });
          if (problem === null) passed++;
          else failed.push(`${testCase.file} ${JSON.stringify(testCase.test)}: ${problem}`);
        }
        console.log(
          `${kind} through the manager: ${dateCases!.length} date cases: ${passed} passed, ` +
            `${failed.length} failed`,
        );
        assert.deepEqual(failed, []);
        assert.equal(passed, 70);
      });
    });
  },
});

Deno.test("http-state manager harness leaves no unhandled rejection", () => {
  assert.deepEqual(takeUnhandledRejections(), []);
});

if (parserCases === null || dateCases === null) {
  console.log(
    `Skipping the http-state cookie cases through the manager: no data at ${conformanceRoot.pathname}cookies-http-state/`,
  );
}
