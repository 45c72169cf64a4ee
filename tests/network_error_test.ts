import assert from "node:assert/strict";
import { NetworkAccessManager, NetworkError, NetworkReplyError } from "../mod.ts";
import { statusToError } from "../src/network_error.ts";
import {
  closedPort,
  guardUnhandledRejections,
  readHead,
  serve,
  serveTcp,
  takeUnhandledRejections,
} from "./_helpers/server.ts";

guardUnhandledRejections();

Deno.test("NetworkError is frozen and carries Qt's numbers", () => {
  assert.equal(Object.isFrozen(NetworkError), true);
  assert.equal(NetworkError.NoError, 0);
  assert.equal(NetworkError.ConnectionRefusedError, 1);
  assert.equal(NetworkError.TooManyRedirectsError, 10);
  assert.equal(NetworkError.InsecureRedirectError, 11);
  assert.equal(NetworkError.UnknownNetworkError, 99);
  assert.equal(NetworkError.ProxyAuthenticationRequiredError, 105);
  assert.equal(NetworkError.ContentNotFoundError, 203);
  assert.equal(NetworkError.AuthenticationRequiredError, 204);
  assert.equal(NetworkError.ProtocolUnknownError, 301);
  assert.equal(NetworkError.InternalServerError, 401);
  assert.equal(NetworkError.UnknownServerError, 499);
  assert.equal(Object.keys(NetworkError).length, 34);
});

Deno.test("HTTP statuses map to Qt's codes and keep status, headers and body", async (t) => {
  await using server = serve((request) => {
    const status = Number(new URL(request.url).pathname.slice(1));
    return new Response(`body of ${status}`, { status, headers: { "x-status": String(status) } });
  });
  await using manager = new NetworkAccessManager();
  const expected: [number, number][] = [
    [200, 0],
    [304, 0],
    [400, 302],
    [401, 204],
    [403, 201],
    [404, 203],
    [405, 202],
    [407, 105],
    [409, 206],
    [410, 207],
    [418, 302],
    [422, 299],
    [500, 401],
    [501, 402],
    [502, 499],
    [503, 403],
    [599, 499],
  ];
  for (const [status, code] of expected) {
    await t.step(`${status} -> ${code}`, async () => {
      assert.equal(statusToError(status), code);
      if (status === 304) return;
      const reply = manager.get(`${server.url}/${status}`);
      const errors: number[] = [];
      reply.addEventListener("error", (e) => errors.push((e as unknown as { code: number }).code));
      assert.equal(await reply.text(), `body of ${status}`);
      assert.equal(reply.status, status);
      assert.equal(reply.headers.get("x-status"), String(status));
      assert.equal(reply.error, code);
      assert.deepEqual(errors, code ? [code] : []);
      if (code) assert.match(reply.errorString, new RegExp(`server replied: ${status}`));
    });
  }
});

Deno.test("Network failures map to their codes from real causes", async (t) => {
  await using manager = new NetworkAccessManager();
  await t.step("connection refused -> 1", async () => {
    const reply = manager.get(`http://127.0.0.1:${closedPort()}/`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.ConnectionRefusedError, reply.errorString);
    assert.match(reply.errorString, /Connection refused by 127\.0\.0\.1:\d+/);
    const error = await reply.bytes().catch((e) => e);
    assert.ok(error instanceof NetworkReplyError);
    assert.equal(error.code, 1);
    assert.equal(error.reply, reply);
  });
  for (const length of [100_000, 1_000]) {
    // A large body and a small one.
    await t.step(`remote closed mid-body -> 2 (Content-Length ${length})`, async () => {
      await using tcp = serveTcp(async (conn) => {
        await readHead(conn);
        await conn.write(
          new TextEncoder().encode(
            `HTTP/1.1 200 OK\r\ncontent-length: ${length}\r\n\r\npartial`,
          ),
        );
        conn.close();
      });
      const reply = manager.get(`${tcp.url}/`);
      await reply.finished;
      assert.equal(reply.error, NetworkError.RemoteHostClosedError, reply.errorString);
      await assert.rejects(reply.text(), { name: "NetworkReplyError", code: 2 });
    });
  }
  await t.step("host not found -> 3", async () => {
    const reply = manager.get("http://host-that-does-not-exist.invalid/");
    await reply.finished;
    assert.equal(reply.error, NetworkError.HostNotFoundError, reply.errorString);
    assert.match(reply.errorString, /Host host-that-does-not-exist\.invalid not found/);
  });
  await t.step("transfer timeout -> 4", async () => {
    await using tcp = serveTcp(async (conn) => {
      await readHead(conn);
      await new Promise((resolve) => setTimeout(resolve, 400));
    });
    const reply = manager.get(`${tcp.url}/`, { transferTimeout: 50 });
    await reply.finished;
    assert.equal(reply.error, NetworkError.TimeoutError, reply.errorString);
    assert.match(reply.errorString, /No data moved for 50 ms/);
  });
  await t.step("abort -> 5", async () => {
    const reply = manager.get(`http://127.0.0.1:${closedPort()}/`);
    reply.abort();
    await reply.finished;
    assert.equal(reply.error, NetworkError.OperationCanceledError);
  });
  await t.step("TLS failure -> 6", async () => {
    await using tcp = serveTcp(async (conn) => {
      await conn.write(new TextEncoder().encode("this is not TLS\r\n\r\n"));
    });
    const reply = manager.get(`https://127.0.0.1:${tcp.port}/`);
    await reply.finished;
    assert.equal(reply.error, NetworkError.SslHandshakeFailedError, reply.errorString);
  });
  await t.step("unknown scheme -> 301", async () => {
    const reply = manager.get("ftp://127.0.0.1/file");
    await reply.finished;
    assert.equal(reply.error, NetworkError.ProtocolUnknownError);
  });
  assert.deepEqual(takeUnhandledRejections(), []);
});
