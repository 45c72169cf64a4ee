import assert from "node:assert/strict";
import {
  Exchange,
  type ExchangeMonitor,
  NetworkAccessManager,
  NetworkRequest,
  responseInfo,
  setResponseInfo,
} from "../mod.ts";
import { interimResponse, setInterimResponse } from "../src/exchange.ts";
import { cookiesLayer } from "../src/layers/cookies.ts";
import { MemoryCookieJar } from "../src/cookies/memory_cookie_jar.ts";

function exchangeFor(url: string): Exchange {
  const request = new NetworkRequest(url);
  const manager = new NetworkAccessManager();
  const reply = manager.get("data:,");
  const monitor: ExchangeMonitor = { activity() {}, uploadProgress() {} };
  return new Exchange({
    url: new URL(url),
    method: "GET",
    headers: new Headers({ "x-a": "1" }),
    body: null,
    request,
    reply,
    signal: new AbortController().signal,
    monitor,
  });
}

Deno.test("Exchange fields the layers record are shared by every hop and attempt", async () => {
  const first = exchangeFor("http://example.com/a");
  assert.equal(first.offline, false);
  assert.equal(first.proxy, undefined);
  assert.equal(first.firstOrigin, undefined);
  assert.equal(first.authenticatorCalls, 0);
  const hop = first.next({ url: new URL("http://example.org/b") });
  hop.offline = true;
  hop.proxy = { type: "http", url: "http://proxy.test:3128" };
  hop.firstOrigin = "http://example.com";
  hop.authenticatorCalls += 2;
  const attempt = hop.again({ method: "HEAD" });
  for (const exchange of [first, hop, attempt]) {
    assert.equal(exchange.offline, true);
    assert.equal(exchange.proxy?.url, "http://proxy.test:3128");
    assert.equal(exchange.firstOrigin, "http://example.com");
    assert.equal(exchange.authenticatorCalls, 2);
    assert.equal(exchange.state, first.state);
  }
  await first.reply.finished;
});

Deno.test("Exchange.again keeps the hop and drops the client; next counts the hop", async () => {
  const first = exchangeFor("http://example.com/a");
  await using client = Deno.createHttpClient({});
  first.client = client;
  const again = first.again({ headers: new Headers({ "x-b": "2" }) });
  assert.equal(again.hop, 0);
  assert.equal(again.client, undefined);
  assert.equal(again.url.href, first.url.href);
  assert.notEqual(again.url, first.url);
  assert.equal(again.headers.get("x-b"), "2");
  assert.equal(again.headers.get("x-a"), null);
  assert.equal(again.reply, first.reply);
  const next = first.next();
  assert.equal(next.hop, 1);
  assert.equal(next.headers.get("x-a"), "1");
  assert.notEqual(next.headers, first.headers);
  assert.equal("manager" in first, false);
  await first.reply.finished;
});

Deno.test("a layer is built from its own settings, without a manager", async () => {
  const jar = new MemoryCookieJar();
  await jar.setCookiesFromUrl(["a=1"], "http://example.com/");
  const settings = { cookieJar: jar as MemoryCookieJar | null };
  const sent: (string | null)[] = [];
  const handler = cookiesLayer(settings)((exchange) => {
    sent.push(exchange.headers.get("cookie"));
    return Promise.resolve(new Response(null, { headers: { "set-cookie": "b=2" } }));
  });
  const exchange = exchangeFor("http://example.com/");
  await handler(exchange);
  assert.equal(exchange.firstOrigin, "http://example.com");
  settings.cookieJar = null;
  await handler(exchangeFor("http://example.com/"));
  assert.deepEqual(sent, ["a=1", null]);
  assert.deepEqual((await jar.allCookies()).map((c) => c.name).sort(), ["a", "b"]);
  await exchange.reply.finished;
});

Deno.test("setResponseInfo records on a frozen response too, and merges", () => {
  const response = Object.freeze(new Response("x"));
  setResponseInfo(response, { fromCache: true });
  setResponseInfo(response, { url: new URL("https://example.com/") });
  assert.equal(responseInfo(response).fromCache, true);
  assert.equal(responseInfo(response).url?.href, "https://example.com/");
  assert.deepEqual(responseInfo(new Response("y")), {});
});

Deno.test("the cookies layer records the first hop's origin as it was, read when asked", async () => {
  const jar = new MemoryCookieJar();
  const seen: (string | undefined)[] = [];
  const handler = cookiesLayer({ cookieJar: jar })((exchange) => {
    // Asked for on the second hop only: the first hop's URL has changed in place by then.
    if (exchange.hop > 0) seen.push(exchange.firstOrigin);
    return Promise.resolve(new Response(null));
  });
  const first = exchangeFor("http://example.com:8080/a");
  await handler(first);
  first.url.host = "changed.example";
  const hop = first.next({ url: new URL("https://example.org/b") });
  await handler(hop);
  assert.deepEqual(seen, ["http://example.com:8080"]);
  assert.equal(hop.firstOrigin, "http://example.com:8080");
  await first.reply.finished;
});

Deno.test("interim hooks: one per owner, in the order set, kept by again for the same hop", async () => {
  const exchange = exchangeFor("https://example.com/");
  const calls: string[] = [];
  const hook = (name: string) => () => Promise.resolve(void calls.push(name));
  const [top, middle, low] = [{}, {}, {}];
  const run = async (of: Exchange) => {
    calls.length = 0;
    await interimResponse(of)?.(new Response(null), null);
    return [...calls];
  };
  assert.equal(interimResponse(exchange), undefined);
  setInterimResponse(exchange, top, hook("top"));
  assert.deepEqual(await run(exchange), ["top"]);
  setInterimResponse(exchange, middle, hook("middle"));
  setInterimResponse(exchange, low, hook("low"));
  setInterimResponse(exchange, top, hook("top 2"));
  assert.deepEqual(await run(exchange), ["top 2", "middle", "low"]);
  // The same hop sent again keeps them, as they were; a hook set after that is the exchange's.
  const again = exchange.again();
  setInterimResponse(exchange, low, hook("low 2"));
  assert.deepEqual(await run(exchange), ["top 2", "middle", "low 2"]);
  assert.deepEqual(await run(again), ["top 2", "middle", "low"]);
  assert.equal(
    interimResponse(exchange.next({ url: new URL("https://example.com/b") })),
    undefined,
  );
});
