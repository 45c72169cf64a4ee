import assert from "node:assert/strict";
import { findLink, parseLinkHeader } from "../src/_link_header.ts";

Deno.test("Link header parsing (RFC 8288)", async (t) => {
  const base = new URL("https://api.example.com/v1/items?page=2");
  await t.step("several links, quoted commas and semicolons, relation lists", () => {
    const header = `<https://a.example/1>; rel="prev", </x;y,z>; title="a, \\"b\\"; c"; ` +
      `rel="last next", <p3>; REL=Next`;
    const links = parseLinkHeader(header);
    assert.deepEqual(links.map((l) => l.target), ["https://a.example/1", "/x;y,z", "p3"]);
    assert.equal(links[1]!.params.get("title"), 'a, "b"; c');
    assert.equal(findLink(header, "next", base)?.href, "https://api.example.com/x;y,z");
  });
  await t.step("a relative target resolves against the page URL", () => {
    assert.equal(
      findLink(`<?page=3>; rel=next`, "next", base)?.href,
      "https://api.example.com/v1/items?page=3",
    );
    assert.equal(
      findLink(`<page3>; rel="next"`, "next", base)?.href,
      "https://api.example.com/v1/page3",
    );
  });
  await t.step("rel matches case-insensitively; only the first rel counts", () => {
    assert.ok(findLink(`<a>; rel="NEXT"`, "next", base));
    assert.equal(findLink(`<a>; rel="prev"; rel="next"`, "next", base), undefined);
  });
  await t.step("an empty parameter (a trailing or doubled semicolon) leaves the link whole", () => {
    assert.equal(findLink(`<?page=3>; rel=next;`, "next", base)?.search, "?page=3");
    assert.equal(
      findLink(`<?page=3>; rel="next"; , <x>; rel=last`, "next", base)?.search,
      "?page=3",
    );
    assert.equal(findLink(`<?page=3>;; rel=next`, "next", base)?.search, "?page=3");
    assert.deepEqual(
      parseLinkHeader(`<a>; rel=prev;, <b>; rel=next ;`).map((l) => l.params.get("rel")),
      ["prev", "next"],
    );
    assert.equal(findLink(`<a>; =x; rel=next, <c>; rel=next`, "next", base)?.pathname, "/v1/c");
  });
  await t.step("links with an anchor, malformed links and no header are skipped", () => {
    assert.equal(findLink(`<a>; rel=next; anchor="#x"`, "next", base), undefined);
    assert.equal(findLink(`<a>; rel=next; anchor="/elsewhere"`, "next", base), undefined);
  });
  await t.step("a link anchored on the page itself counts (RFC 8288 section 3.2)", () => {
    const own = `${base.pathname}${base.search}`;
    assert.equal(findLink(`<b>; rel=next; anchor=""`, "next", base)?.pathname, "/v1/b");
    assert.equal(findLink(`<b>; rel=next; anchor="${own}"`, "next", base)?.pathname, "/v1/b");
    assert.equal(findLink(`garbage, <b>; rel=next`, "next", base)?.href, `${base.origin}/v1/b`);
    assert.equal(findLink(`<a> junk; rel=next, <c>; rel=next`, "next", base)?.pathname, "/v1/c");
    assert.equal(findLink(null, "next", base), undefined);
    assert.equal(findLink(`<a; rel=next`, "next", base), undefined);
  });
});
