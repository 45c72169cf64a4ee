import assert from "node:assert/strict";
import { isIpLiteral, isIpv4, isIpv6, parseIp, parseIPv4, parseIPv6 } from "../src/_ip.ts";

Deno.test("IP literal checks recognise IPv4 and IPv6 hosts", () => {
  assert.equal(isIpv4("127.0.0.1"), true);
  assert.equal(isIpv4("255.255.255.255"), true);
  assert.equal(isIpv4("256.1.1.1"), false);
  assert.equal(isIpv4("1.2.3"), false);
  assert.equal(isIpv4("example.com"), false);
  assert.equal(isIpv6("[::1]"), true);
  assert.equal(isIpv6("::1"), true);
  assert.equal(isIpv6("[2001:db8::8:800:200c:417a]"), true);
  assert.equal(isIpv6("[::ffff:1.2.3.4]"), true);
  assert.equal(isIpv6("[not:an:ip:g]"), false);
  assert.equal(isIpv6("1::2::3"), false);
  assert.equal(isIpv6("example.com"), false);
  assert.equal(isIpLiteral(new URL("http://[::1]:8080/").hostname), true);
  assert.equal(isIpLiteral(new URL("http://0x7f.1/").hostname), true); // 127.0.0.1
  assert.equal(isIpLiteral("1.2.3.4.example"), false);
  assert.equal(isIpLiteral("fe80::1"), true);
});

Deno.test("IP parsing yields the address bytes", () => {
  assert.deepEqual(parseIPv4("10.0.0.255"), [10, 0, 0, 255]);
  assert.equal(parseIPv4("10.0.0.256"), undefined);
  assert.deepEqual(parseIPv6("::1"), [...new Array(15).fill(0), 1]);
  assert.deepEqual(parseIPv6("::ffff:1.2.3.4"), [
    ...new Array(10).fill(0),
    0xff,
    0xff,
    1,
    2,
    3,
    4,
  ]);
  assert.equal(parseIPv6("1:2:3:4:5:6:7"), undefined);
  assert.equal(parseIp("example.com"), undefined);
  assert.equal(parseIp("192.168.0.1")?.length, 4);
});
