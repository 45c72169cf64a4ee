import assert from "node:assert/strict";
import { NetworkError } from "../../mod.ts";
import { EXIT_CODES, exitCode } from "../../src/cli/exit_codes.ts";

Deno.test("exitCode gives curl's code to a failed proxy and an unsupported scheme", async (t) => {
  await t.step("a proxy that refuses the connection: 7, as CURLE_COULDNT_CONNECT", () => {
    assert.equal(exitCode(NetworkError.ProxyConnectionRefusedError, 0), EXIT_CODES.connection);
  });
  await t.step("a proxy that does not answer in time: 28, as CURLE_OPERATION_TIMEDOUT", () => {
    assert.equal(exitCode(NetworkError.ProxyTimeoutError, 0), EXIT_CODES.timeout);
  });
  await t.step("a proxy host not found, a tunnel refused: 5", () => {
    assert.equal(exitCode(NetworkError.ProxyNotFoundError, 0), EXIT_CODES.proxy);
    assert.equal(exitCode(NetworkError.ProxyAuthenticationRequiredError, 0), EXIT_CODES.proxy);
  });
  await t.step("a 407 an http: URL's proxy answered: an HTTP status (22 with --fail)", () => {
    assert.equal(
      exitCode(NetworkError.ProxyAuthenticationRequiredError, 407),
      EXIT_CODES.httpError,
    );
  });
  await t.step("a scheme that is not supported: 1, as CURLE_UNSUPPORTED_PROTOCOL", () => {
    assert.equal(exitCode(NetworkError.ProtocolUnknownError, 0), EXIT_CODES.unsupportedProtocol);
    assert.equal(EXIT_CODES.unsupportedProtocol, 1);
  });
  await t.step("a body that cannot be sent again: 26, whatever status asked for it", () => {
    assert.equal(exitCode(NetworkError.ContentReSendError, 401), EXIT_CODES.content);
    assert.equal(exitCode(NetworkError.ContentReSendError, 407), EXIT_CODES.content);
    assert.equal(exitCode(NetworkError.ContentReSendError, 307), EXIT_CODES.content);
  });
});
