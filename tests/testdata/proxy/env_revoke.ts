// Reads the system proxy, revokes the env permission, and reads it again; prints both results.
import { systemProxyFactory } from "../../../mod.ts";

const factory = systemProxyFactory();
const query = { url: new URL("http://example.test/"), scheme: "http", host: "example.test", port: 80 };
const before = factory(query).map((p) => p.url ?? p.type);
Deno.permissions.revokeSync({ name: "env" });
const after = factory(query).map((p) => p.url ?? p.type);
console.log(JSON.stringify({ before, after }));
