/**
 * The command line against curl's documented behaviour: -X as given, -T - streaming stdin, and
 * the output, failure, timeout, retry, header and cookie options a curl user relies on.
 */

import assert from "node:assert/strict";
import { cliCommand, runCli } from "./_helpers/cli.ts";
import { readHead, serve, serveTcp } from "./_helpers/server.ts";
import { EXIT_CODES } from "../src/cli.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A raw server that keeps the request line of each request and answers 200 with no body. */
function requestLines() {
  const lines: string[] = [];
  const server = serveTcp(async (conn) => {
    const head = await readHead(conn);
    lines.push(head.split("\r\n")[0]!);
    await conn.write(
      encoder.encode("HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"),
    );
    conn.close();
  });
  return { server, lines };
}

Deno.test("cli: -X sends the method as given, as curl, but those fetch upper-cases", async () => {
  const { server, lines } = requestLines();
  try {
    for (const method of ["patch", "PropFind", "PATCH"]) {
      const { code, out, err } = await runCli(["-X", method, "-w", "%{method}", server.url]);
      assert.equal(code, 0, err);
      assert.equal(out, method);
      assert.equal(lines.pop(), `${method} / HTTP/1.1`);
    }
    // The Fetch standard upper-cases these six whatever their case: they reach the wire so.
    for (const method of ["get", "Delete", "options", "put", "post", "head"]) {
      const { code, out, err } = await runCli(["-X", method, "-w", "%{method}", server.url]);
      assert.equal(code, 0, err);
      assert.equal(out, method.toUpperCase());
      assert.equal(lines.pop(), `${method.toUpperCase()} / HTTP/1.1`);
    }
    const upload = await runCli(["-X", "patch", "-T", "-", server.url], { stdin: "x" });
    assert.equal(upload.code, 0, upload.err);
    assert.equal(lines.pop(), "patch / HTTP/1.1");
    const get = await runCli(["-X", "get", "-d", "a=1", server.url]);
    assert.equal(get.code, EXIT_CODES.usage);
    assert.match(get.err, /^netaccess: -X get cannot carry a body: /);
  } finally {
    await server.close();
  }
});

Deno.test("cli: -T - streams stdin, chunked as curl sends it, before stdin ends", async () => {
  let firstBytes!: () => void;
  const first = new Promise<void>((resolve) => (firstBytes = resolve));
  const seen: { method: string; chunked: boolean; length: string | null; size: number }[] = [];
  await using server = serve(async (request) => {
    let size = 0;
    for await (const piece of request.body!) {
      size += piece.byteLength;
      firstBytes();
    }
    seen.push({
      method: request.method,
      chunked: request.headers.get("transfer-encoding") === "chunked",
      length: request.headers.get("content-length"),
      size,
    });
    return new Response(`got ${size}\n`);
  });
  const child = new Deno.Command(Deno.execPath(), {
    args: cliCommand(["-T", "-", `${server.url}/up`]),
    env: { NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const piece = new Uint8Array(64 * 1024).fill(0x61);
  await writer.write(piece);
  // Stdin is still open: the server has the first bytes all the same.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve("stdin read whole before sending"), 10_000);
  });
  const outcome = await Promise.race([first.then(() => "streamed"), late]);
  clearTimeout(timer);
  for (let i = 0; i < 15; i++) await writer.write(piece);
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  assert.equal(code, 0, decoder.decode(stderr));
  assert.equal(outcome, "streamed");
  assert.equal(decoder.decode(stdout), `got ${16 * piece.byteLength}\n`);
  assert.deepEqual(seen, [{ method: "PUT", chunked: true, length: null, size: 16 * 65536 }]);
});

Deno.test("cli: -T - is stdin for one URL only", async () => {
  const twice = await runCli(["-T", "-", "-T", ".", "http://x.test/1", "http://x.test/2"]);
  assert.equal(twice.code, EXIT_CODES.usage);
  assert.match(twice.err, /^netaccess: -T - \(or \.\) sends stdin as it is read, to one URL/);
});
