/**
 * The shape of `src/`: dependencies point down a fixed order of levels and form no cycle;
 * public files (no `_` in their path) export no `_` names.
 */

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const SRC = new URL("src/", ROOT);

/**
 * The levels, bottom to top. A file may import files of its own level or below. A file not
 * named here takes the level of its folder (`auth/`, `layers/`...).
 */
const LEVELS: [name: string, files: string[]][] = [
  ["primitives", [
    "clock.ts",
    "_clock.ts",
    "_validation.ts",
    "_http_token.ts",
    "_http_date.ts",
    "_multipart.ts",
    "_ip.ts",
    "_kv.ts",
    "_kv_record.ts",
    "_kv_changes.ts",
    "_json_position.ts",
    "_link_header.ts",
    "_redact.ts",
    "_typed_event_target.ts",
  ]],
  ["vocabulary", [
    "request.ts",
    "request_factory.ts",
    "network_error.ts",
    "body.ts",
    "retry_options.ts",
    "network_accessibility.ts",
    "tls.ts",
    "standard_schema.ts",
    "sse.ts",
    "_sse_parser.ts",
  ]],
  ["domains and stores", [
    "auth/",
    "cache/",
    "cookies/",
    "hsts/",
    "proxy/",
    "_proxy_client.ts",
    "_permission_gate.ts",
    "host_queue.ts",
    "_http2.ts",
  ]],
  ["contract", [
    "exchange.ts",
    "_response.ts",
    "reply.ts",
    "reply/",
    "_reply_body.ts",
    "events.ts",
    "security_events.ts",
    "_schema_validation.ts",
    "paginate.ts",
    "_paginate.ts",
    "event_stream.ts",
    "_event_stream.ts",
  ]],
  ["layers", ["layers/"]],
  ["pipeline", ["pipeline.ts"]],
  ["manager", ["manager.ts", "manager_options.ts", "manager/"]],
  ["factory", ["factory.ts", "testing/"]],
  ["entry points", ["cli.ts", "cli/"]],
];

/**
 * Upward edges that are allowed, each with its reason. All are type imports of the reply by
 * things that name the reply they belong to; they add no code to the importing module.
 */
const ALLOWED: [from: string, to: string, why: string][] = [
  ["network_error.ts", "reply.ts", "NetworkReplyError.reply names the reply that failed"],
  ["standard_schema.ts", "reply.ts", "SchemaValidationError.reply names the reply"],
  ["_schema_validation.ts", "reply.ts", "validation errors name the reply (type only)"],
  ["_sse_parser.ts", "reply.ts", "an event too long fails the reply it names (type only)"],
  ["events.ts", "reply.ts", "NetworkReplyEvent carries the reply that finished"],
  ["exchange.ts", "reply.ts", "Exchange.reply is where layers dispatch events"],
];

async function sourceFiles(dir: URL, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) {
      out.push(...await sourceFiles(new URL(`${entry.name}/`, dir), `${prefix}${entry.name}/`));
    } else if (entry.name.endsWith(".ts")) out.push(`${prefix}${entry.name}`);
  }
  return out.sort();
}

/** Every relative import and re-export of a file, type imports included, as `src/` paths. */
export function importsOf(file: string, text: string): string[] {
  const code = text.split("\n").filter((line) => !/^\s*(\*|\/\/|\/\*)/.test(line)).join("\n");
  const found = new Set<string>();
  const patterns = [
    /\bfrom\s*["'](\.{1,2}\/[^"']+)["']/g,
    /\bimport\s*["'](\.{1,2}\/[^"']+)["']/g,
    /\bimport\s*\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g,
  ];
  for (const pattern of patterns) {
    for (const match of code.matchAll(pattern)) {
      const target = new URL(match[1]!, new URL(file, SRC)).href;
      if (target.startsWith(SRC.href)) found.add(target.slice(SRC.href.length));
    }
  }
  return [...found].sort();
}

function levelOf(file: string): number {
  let best = -1;
  let bestLength = 0;
  LEVELS.forEach(([, files], level) => {
    for (const entry of files) {
      const matches = entry.endsWith("/") ? file.startsWith(entry) : file === entry;
      if (matches && entry.length > bestLength) {
        best = level;
        bestLength = entry.length;
      }
    }
  });
  return best;
}

/** The cycles of a graph (Tarjan's strongly connected components larger than one file). */
export function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (node: string) => {
    indices.set(node, index);
    low.set(node, index++);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!indices.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, indices.get(next)!));
    }
    if (low.get(node) === indices.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || (graph.get(node) ?? []).includes(node)) {
        out.push(component.sort());
      }
    }
  };
  for (const node of graph.keys()) if (!indices.has(node)) visit(node);
  return out;
}

async function importGraph(): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  for (const file of await sourceFiles(SRC)) {
    graph.set(file, importsOf(file, await Deno.readTextFile(new URL(file, SRC))));
  }
  return graph;
}

/** The most lines a file of `src/` may have: past it, a file holds more than one concept. */
const MAX_LINES = 800;

/** The files of `files` (name and text) over `limit` lines, each with its count. */
export function longFiles(files: [file: string, text: string][], limit = MAX_LINES): string[] {
  return files
    .map(([file, text]) => [file, text.split("\n").length - (text.endsWith("\n") ? 1 : 0)] as const)
    .filter(([, lines]) => lines > limit)
    .map(([file, lines]) => `${file}: ${lines} lines`);
}

const allowed = (from: string, to: string) => ALLOWED.some(([f, t]) => f === from && t === to);

Deno.test("every file of src/ has a level", async () => {
  const unplaced = (await sourceFiles(SRC)).filter((file) => levelOf(file) < 0);
  assert.deepEqual(unplaced, [], "add these files to LEVELS in tests/layout_test.ts");
});

Deno.test("imports of src/ point down the levels, apart from the commented allow-list", async () => {
  const graph = await importGraph();
  const upward: string[] = [];
  for (const [from, targets] of graph) {
    for (const to of targets) {
      if (levelOf(to) > levelOf(from) && !allowed(from, to)) {
        upward.push(
          `${from} (${LEVELS[levelOf(from)]?.[0]}) -> ${to} (${LEVELS[levelOf(to)]?.[0]})`,
        );
      }
    }
  }
  assert.deepEqual(upward, []);
  for (const [from, to] of ALLOWED) {
    assert.ok(graph.get(from)?.includes(to), `the allowed edge ${from} -> ${to} is gone`);
  }
});

Deno.test("imports of src/ form no cycle, apart from the allow-list", async () => {
  const graph = await importGraph();
  for (const [from, targets] of graph) graph.set(from, targets.filter((to) => !allowed(from, to)));
  assert.deepEqual(cycles(graph), []);
});

Deno.test("no layer imports the manager", async () => {
  const graph = await importGraph();
  const offenders = [...graph].filter(([from, targets]) =>
    from.startsWith("layers/") &&
    targets.some((to) => to === "manager.ts" || to.startsWith("manager/"))
  );
  assert.deepEqual(offenders.map(([from]) => from), []);
});

Deno.test(`no file of src/ is over ${MAX_LINES} lines`, async () => {
  const files: [string, string][] = [];
  for (const file of await sourceFiles(SRC)) {
    files.push([file, await Deno.readTextFile(new URL(file, SRC))]);
  }
  assert.deepEqual(longFiles(files), [], "split these files along their concepts");
});

Deno.test("public files export no _-prefixed names", async () => {
  const offenders: string[] = [];
  for (const file of await sourceFiles(SRC)) {
    if (file.split("/").some((part) => part.startsWith("_"))) continue;
    const text = await Deno.readTextFile(new URL(file, SRC));
    for (
      const match of text.matchAll(
        /^export\s+(?:declare\s+)?(?:async\s+)?(?:abstract\s+)?(?:function\*?|const|let|class|interface|type|enum)\s+(_\w*)/gm,
      )
    ) {
      offenders.push(`${file}: ${match[1]}`);
    }
  }
  assert.deepEqual(offenders, []);
});

Deno.test("the layout checks find what they look for", () => {
  assert.deepEqual(
    importsOf(
      "layers/x.ts",
      'import type { A } from "../a.ts";\n * import { B } from "../b.ts";\nexport { C } from "./c.ts";\nconst d = await import("../d/e.ts");',
    ),
    ["a.ts", "d/e.ts", "layers/c.ts"],
  );
  const graph = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]]);
  assert.deepEqual(cycles(graph), [["a", "b", "c"]]);
  assert.deepEqual(cycles(new Map([["a", ["b"]], ["b", []]])), []);
  assert.equal(levelOf("layers/cache.ts"), levelOf("layers/redirect.ts"));
  assert.ok(levelOf("manager.ts") > levelOf("pipeline.ts"));
  assert.ok(levelOf("pipeline.ts") > levelOf("layers/cache.ts"));
  assert.deepEqual(longFiles([["a.ts", "x\n".repeat(3)], ["b.ts", "x\n".repeat(2)]], 2), [
    "a.ts: 3 lines",
  ]);
  assert.deepEqual(longFiles([["c.ts", "x\ny"]], 1), ["c.ts: 2 lines"]);
});

/**
 * Test files that follow no single source file: suites that exercise the whole library. Every
 * other test mirrors `src/`: `tests/<path>_test.ts` tests `src/<path>.ts` (or `mod.ts`,
 * `testing.ts`), and `tests/<path>_<aspect>_test.ts` one aspect of it.
 */
const SUITES: readonly string[] = [
  "conformance/", // third-party vectors: cookies, HTTP caching, the public suffix list
  "faults/", // the fault suite and the soak test, through the whole manager
  "consumer", // a temporary consumer project without this repository's deno.json
  "doc_examples", // the doc examples of every public file
  "edge_function", // the edge-function example end to end
  "error_model", // the README's error model, through every reader
  "json_api_example", // examples/json_api.ts
  "kv_stress_process", // seeded traffic of four processes on one KV file: cache, jar, HSTS
  "layout", // this file
  "option_errors", // every number option, setter and argument: a TypeError or a RangeError
  "proxy/proxy_interop", // the real proxies CI installs
  "proxy_fixture", // the test proxy server in tests/_helpers/
  "reply/lifecycle_fuzz", // seeded random traffic: the reply lifecycle through the whole manager
  "redaction", // userinfo removed at every site that shows a URL
  "settings_change", // manager settings changed between requests
  "shared_state", // two managers and two processes on one KV database
  "timeout", // the total timeout, across transport, proxy and body
];

/** The test files (paths under `tests/`, without `_test.ts`) that mirror no source file. */
export function unmirrored(tests: readonly string[], sources: readonly string[]): string[] {
  const stems = new Set(sources.map((source) => source.replace(/\.ts$/, "")));
  return tests.filter((test) => {
    if (SUITES.some((suite) => suite.endsWith("/") ? test.startsWith(suite) : test === suite)) {
      return false;
    }
    if (stems.has(test)) return false;
    // An aspect of a source file: `cache/kv_cache_process` of `cache/kv_cache`.
    for (let at = test.lastIndexOf("_"); at > 0; at = test.lastIndexOf("_", at - 1)) {
      if (stems.has(test.slice(0, at))) return false;
    }
    return true;
  });
}

Deno.test("tests/ mirrors src/: each test file is named after the file it tests, or is a listed suite", async () => {
  const root = new URL("./", import.meta.url);
  const tests = (await sourceFiles(root))
    .filter((file) => file.endsWith("_test.ts") && !/^(_helpers|testdata)\//.test(file))
    .map((file) => file.slice(0, -"_test.ts".length));
  const sources = [...await sourceFiles(SRC), "mod.ts", "testing.ts"];
  assert.deepEqual(unmirrored(tests, sources), [], "rename these tests after their source files");
  assert.ok(tests.length > 50, `only ${tests.length} test files found`);
});

Deno.test("the mirror check finds what it looks for", () => {
  const sources = ["cache/kv_cache.ts", "_ip.ts", "mod.ts"];
  assert.deepEqual(
    unmirrored(
      ["cache/kv_cache", "cache/kv_cache_process", "_ip", "mod", "layout", "faults/x", "ip", "kv"],
      sources,
    ),
    ["ip", "kv"],
  );
  assert.deepEqual(unmirrored(["cache/kv"], sources), ["cache/kv"]);
});
