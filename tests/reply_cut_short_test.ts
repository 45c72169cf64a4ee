/**
 * A body the server cuts short (it closes or resets the connection before the end), through
 * every way a reply is read: the code, the message, the counts, the events, the queue slot; and
 * a body a transport of one's own ends short of (or past) its `Content-Length`.
 */

import assert from "node:assert/strict";
import {
  NetworkAccessManager,
  NetworkError,
  type NetworkReply,
  NetworkReplyError,
} from "../mod.ts";
import { createMockManager } from "../testing.ts";
import {
  chunk,
  guardUnhandledRejections,
  readHead,
  serveTcp,
  takeUnhandledRejections,
  tick,
} from "./_helpers/server.ts";

guardUnhandledRejections();

const encoder = new TextEncoder();
const OK = "HTTP/1.1 200 OK\r\n";

interface Cut {
  name: string;
  /** Answers a request for `/cut`. */
  serve: (conn: Deno.TcpConn) => Promise<void>;
  /** The bytes that arrive, and the declared length (-1: none). */
  sent: number;
  total: number;
  /** Whether nothing watching makes the reply read the body in one operation. */
  small: boolean;
}

/** Writes the head and `sent` bytes of the body (and the server hangs up). */
function partial(head: string, body: Uint8Array) {
  return async (conn: Deno.TcpConn) => {
    await conn.write(encoder.encode(head));
    await tick(10); // the head first: a reader may start between the head and the body
    await conn.write(body);
  };
}

const cuts: Cut[] = [
  {
    name: "Content-Length under 64 KiB, closed early",
    serve: partial(`${OK}Content-Length: 1000\r\n\r\n`, new Uint8Array(300).fill(97)),
    sent: 300,
    total: 1000,
    small: true,
  },
  {
    name: "Content-Length over 64 KiB, closed early",
    serve: partial(`${OK}Content-Length: 200000\r\n\r\n`, new Uint8Array(70_000).fill(97)),
    sent: 70_000,
    total: 200_000,
    small: false,
  },
  {
    name: "chunked, closed without the last chunk",
    serve: partial(`${OK}Transfer-Encoding: chunked\r\n\r\n`, chunk(new Uint8Array(300).fill(97))),
    sent: 300,
    total: -1,
    small: false,
  },
];

/** Each way to read the body: what it got, and what it threw. */
const readers: Record<string, (reply: NetworkReply) => Promise<{ got: number; thrown: unknown }>> =
  {
    "bytes()": async (reply) => {
      try {
        return { got: (await reply.bytes()).byteLength, thrown: undefined };
      } catch (error) {
        return { got: 0, thrown: error };
      }
    },
    "text()": async (reply) => {
      try {
        return { got: (await reply.text()).length, thrown: undefined };
      } catch (error) {
        return { got: 0, thrown: error };
      }
    },
    "json()": async (reply) => {
      try {
        await reply.json();
        return { got: 0, thrown: undefined };
      } catch (error) {
        return { got: 0, thrown: error };
      }
    },
    "iterator started at once": (reply) => iterate(reply),
    "iterator started after the metadata": async (reply) => {
      await new Promise((resolve) => reply.addEventListener("metadatachanged", resolve));
      await tick(30);
      return await iterate(reply);
    },
    "iterator started in a metadatachanged listener": (reply) =>
      new Promise((resolve) => {
        reply.addEventListener("metadatachanged", () => resolve(iterate(reply)));
      }),
    "readyread listener, iterator after the metadata": async (reply) => {
      let ready = 0;
      reply.addEventListener("readyread", () => ready++);
      await new Promise((resolve) => reply.addEventListener("metadatachanged", resolve));
      await tick(30);
      const result = await iterate(reply);
      assert.ok(ready >= 1, "readyread told of the bytes that arrived");
      return result;
    },
    "downloadprogress listener only": async (reply) => {
      const progress: [number, number][] = [];
      reply.addEventListener("downloadprogress", (e) => progress.push([e.loaded, e.total]));
      await reply.finished;
      assert.deepEqual(progress.at(-1), [reply.bytesReceived, reply.bytesTotal]);
      return { got: 0, thrown: undefined };
    },
  };

async function iterate(reply: NetworkReply): Promise<{ got: number; thrown: unknown }> {
  let got = 0;
  try {
    for await (const part of reply) got += part.byteLength;
    return { got, thrown: undefined };
  } catch (error) {
    return { got, thrown: error };
  }
}

/** Whether `reader` leaves the reply free to read a small body in one operation. */
function readsInOneGo(reader: string): boolean {
  return ["bytes()", "text()", "json()", "iterator started after the metadata"].includes(reader);
}

Deno.test("NetworkReply reports a body cut short with RemoteHostClosedError, the URL and the bytes that arrived", async (t) => {
  for (const cut of cuts) {
    await using server = serveTcp(async (conn) => {
      const head = await readHead(conn);
      if (head.startsWith("GET /cut ")) return await cut.serve(conn);
      await conn.write(encoder.encode(`${OK}Content-Length: 2\r\n\r\nok`));
      await tick(50);
    });
    await using manager = new NetworkAccessManager({ maxConnectionsPerHost: 1 });
    for (const [name, read] of Object.entries(readers)) {
      await t.step(`${cut.name}: ${name}`, async () => {
        const url = `${server.url}/cut`;
        const reply = manager.get(url);
        let finished = 0;
        reply.addEventListener("finished", () => finished++);
        // Queued behind the cut reply: it runs once that one gave its slot back.
        const next = manager.get(`${server.url}/ok`);
        const { got, thrown } = await read(reply);
        await reply.finished;
        assert.equal(reply.error, NetworkError.RemoteHostClosedError, reply.errorString);
        const oneGo = cut.small && readsInOneGo(name);
        const arrived = oneGo
          ? `fewer than the ${cut.total} bytes \\(Content-Length\\) of ${url} arrived`
          : cut.total >= 0
          ? `${cut.sent} of the ${cut.total} bytes \\(Content-Length\\) of ${url} arrived`
          : `${cut.sent} bytes of ${url} arrived, not the end of the body; the server closed ` +
            "the connection or broke the chunked framing";
        assert.match(
          reply.errorString,
          new RegExp(
            `^Connection to 127\\.0\\.0\\.1:${server.port} closed before the reply was complete: ${arrived} \\(`,
          ),
        );
        // Read in one operation, the bytes that arrived before the close are not delivered.
        assert.equal(reply.bytesReceived, oneGo ? 0 : cut.sent);
        assert.equal(reply.bytesTotal, cut.total);
        if (name !== "downloadprogress listener only") {
          assert.ok(thrown instanceof NetworkReplyError, String(thrown));
          assert.equal(thrown.code, NetworkError.RemoteHostClosedError);
          assert.equal(thrown.message, reply.errorString);
          assert.equal(
            got,
            name.startsWith("iterator") || name.startsWith("readyread") ? reply.bytesReceived : 0,
          );
        }
        assert.equal(await next.text(), "ok");
        assert.equal(next.error, NetworkError.NoError);
        await tick();
        assert.equal(finished, 1);
      });
    }
  }
  assert.deepEqual(takeUnhandledRejections(), []);
});

Deno.test("NetworkReply reports a connection reset mid-body as RemoteHostClosedError with the bytes that arrived", async () => {
  // The request is left unread: closing then resets the connection instead of ending it.
  await using server = serveTcp(async (conn) => {
    await conn.read(new Uint8Array(4));
    await conn.write(encoder.encode(`${OK}Content-Length: 200000\r\n\r\n`));
    await tick(10);
    await conn.write(new Uint8Array(70_000));
    await tick(30);
  });
  await using manager = new NetworkAccessManager();
  for (const watch of [false, true]) {
    const reply = manager.get(server.url);
    const result = watch ? await iterate(reply) : { got: -1, thrown: undefined };
    await reply.finished;
    assert.equal(reply.error, NetworkError.RemoteHostClosedError, reply.errorString);
    assert.match(reply.errorString, / of the 200000 bytes \(Content-Length\) of http:\/\/127/);
    if (watch) assert.equal(result.got, reply.bytesReceived);
  }
});

Deno.test("a body from a transport of one's own that ends at other than its Content-Length fails the reply", async (t) => {
  const stream = (...chunks: string[]) => ReadableStream.from(chunks.map((c) => encoder.encode(c)));
  await t.step(
    "a mock route's chunks cut short: RemoteHostClosedError after what arrived",
    async () => {
      await using mocked = createMockManager();
      mocked.mock.route("GET", "/short", {
        chunks: ["ab", "cd"],
        headers: { "content-length": "10" },
      });
      const reply = mocked.manager.get("https://a.test/short");
      const progress: string[] = [];
      reply.addEventListener("downloadprogress", (e) => progress.push(`${e.loaded}/${e.total}`));
      const result = await iterate(reply);
      assert.equal(result.got, 4);
      assert.ok(result.thrown instanceof NetworkReplyError);
      assert.equal(reply.error, NetworkError.RemoteHostClosedError);
      assert.equal(
        reply.errorString,
        "Mock route GET /short answered a body for https://a.test/short that ended before the " +
          "reply was complete: 4 of the 10 bytes (Content-Length) arrived",
      );
      assert.deepEqual([reply.bytesReceived, reply.bytesTotal], [4, 10]);
      assert.equal(progress.at(-1), "4/10");
    },
  );
  await t.step(
    "a small body read in one operation, and one buffered for a late reader",
    async () => {
      await using manager = new NetworkAccessManager({
        transport: () =>
          Promise.resolve(new Response(stream("abcd"), { headers: { "content-length": "10" } })),
      });
      const read = manager.get("https://a.test/t");
      await assert.rejects(read.text(), { code: NetworkError.RemoteHostClosedError });
      const late = manager.get("https://a.test/t");
      await late.finished;
      assert.equal(late.error, NetworkError.RemoteHostClosedError);
      await assert.rejects(late.bytes(), { code: NetworkError.RemoteHostClosedError });
    },
  );
  await t.step("a body longer than it declares: ProtocolFailure", async () => {
    await using manager = new NetworkAccessManager({
      transport: () =>
        Promise.resolve(
          new Response(stream("abc", "defg"), { headers: { "content-length": "3" } }),
        ),
    });
    const reply = manager.get("https://a.test/long");
    await assert.rejects(reply.text(), { code: NetworkError.ProtocolFailure });
    assert.equal(
      reply.errorString,
      "The transport (the 'transport' option) answered a body for https://a.test/long that is " +
        "longer than the 3 bytes its Content-Length declares: reading stopped at 7 bytes",
    );
  });
  await t.step("no failure: a whole body, a content coding, a HEAD, a 204, no length", async () => {
    await using manager = new NetworkAccessManager({
      transport: (exchange) => {
        const path = exchange.url.pathname;
        const response = path === "/whole"
          ? new Response(stream("ab", "cd"), { headers: { "content-length": "4" } })
          : path === "/coded" // decoded as fetch does: the length is the coded body's
          ? new Response(stream("decoded text"), {
            headers: { "content-encoding": "gzip", "content-length": "5" },
          })
          : path === "/none"
          ? new Response(null, { status: 204, headers: { "content-length": "10" } })
          : path === "/unknown"
          ? new Response(stream("abc"))
          : new Response(null, { headers: { "content-length": "10" } });
        return Promise.resolve(response);
      },
      decompressionGuard: -1,
    });
    const bodies: Record<string, string> = {
      "/whole": "abcd",
      "/coded": "decoded text",
      "/head": "",
      "/none": "",
      "/unknown": "abc",
    };
    for (const [path, body] of Object.entries(bodies)) {
      const method = path === "/head" ? "HEAD" : "GET";
      const reply = manager.sendCustomRequest(`https://a.test${path}`, method);
      assert.equal(await reply.text(), body, path);
      assert.equal(reply.error, NetworkError.NoError, reply.errorString);
    }
  });
  assert.deepEqual(takeUnhandledRejections(), []);
});
