/**
 * The doc examples of the public modules (the code blocks `deno test --doc` runs) assert what
 * they show with `node:assert/strict` instead of printing it.
 */

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/**
 * Examples whose point is printing, as `[file, example title, why]`. An example that writes with
 * `console.*` and is not named here fails the check below; an entry that names no printing
 * example fails too, so the list cannot go stale. None today: the command line writes with
 * `Deno.stdout`, and its examples assert the exit code.
 */
const PRINTING_ALLOWED: [file: string, title: string, why: string][] = [];

/** A fenced code block of a doc comment. */
interface DocExample {
  file: string;
  /** 1-based line of the block's opening fence. */
  line: number;
  /** The `@example` title above the block, or `""`. */
  title: string;
  code: string;
}

/** The languages `deno test --doc` runs. */
const RUN_LANGUAGES = new Set(["", "ts", "js", "tsx", "jsx", "typescript", "javascript"]);

/** The fenced TypeScript/JavaScript blocks in the `/** ... *\/` comments of `source`. */
function docExamples(file: string, source: string): DocExample[] {
  const examples: DocExample[] = [];
  for (const comment of source.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
    const firstLine = source.slice(0, comment.index).split("\n").length;
    const lines = comment[0].split("\n").map((l) => l.replace(/^\s*(?:\/\*\*|\*\/|\*)? ?/, ""));
    let title = "";
    for (let i = 0; i < lines.length; i++) {
      const tag = lines[i]!.match(/^@example\b\s*(.*)$/);
      if (tag) title = tag[1]!.trim();
      else if (/^@\w/.test(lines[i]!)) title = "";
      const fence = lines[i]!.match(/^(`{3,})\s*(\w*)/);
      if (!fence) continue;
      const end = lines.findIndex((l, j) => j > i && l.startsWith(fence[1]!));
      const stop = end === -1 ? lines.length : end;
      if (RUN_LANGUAGES.has(fence[2]!)) {
        examples.push({
          file,
          line: firstLine + i,
          title,
          code: lines.slice(i + 1, stop).join("\n"),
        });
      }
      i = stop;
    }
  }
  return examples;
}

/** Whether `code` writes to the console. */
function prints(code: string): boolean {
  return /\bconsole\s*\.\s*(?:log|info|warn|error|debug|trace|table|dir)\s*\(/.test(code);
}

/** Whether `code` calls an assertion imported from `node:assert` (default or named import). */
function asserts(code: string): boolean {
  const names: string[] = [];
  const imports = /import\s+([^;]*?)\s+from\s+["']node:assert(?:\/strict)?["']/g;
  for (const [, clause] of code.matchAll(imports)) {
    const named = clause!.match(/\{([^}]*)\}/);
    for (const part of named ? named[1]!.split(",") : []) {
      const name = part.trim().split(/\s+as\s+/).pop();
      if (name) names.push(name);
    }
    const bare = clause!.replace(/\{[^}]*\}/, "").replace(/\*\s+as\s+/, "").replace(/,/g, " ");
    names.push(...bare.split(/\s+/).filter((n) => /^\w+$/.test(n)));
  }
  return names.some((name) => new RegExp(`\\b${name}\\s*(?:\\.\\s*\\w+\\s*)?\\(`).test(code));
}

async function publicSources(): Promise<[file: string, source: string][]> {
  const files = ["mod.ts", "testing.ts"];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(new URL(dir, ROOT))) {
      const path = `${dir}${entry.name}`;
      if (entry.isDirectory) await walk(`${path}/`);
      else if (path.endsWith(".ts")) files.push(path);
    }
  };
  await walk("src/");
  files.sort();
  return await Promise.all(
    files.map(async (f) => [f, await Deno.readTextFile(new URL(f, ROOT))] as [string, string]),
  );
}

async function allExamples(): Promise<DocExample[]> {
  return (await publicSources()).flatMap(([file, source]) => docExamples(file, source));
}

/**
 * What is wrong with `examples` under `allowList`: an example that prints and is not on the
 * list; an allowed example that asserts nothing; an entry that names no printing example.
 */
function problems(examples: DocExample[], allowList: [string, string, string][]): string[] {
  const found: string[] = [];
  const isAllowed = (e: DocExample) => allowList.some(([f, t]) => f === e.file && t === e.title);
  for (const e of examples) {
    if (!prints(e.code)) continue;
    const where = `${e.file}:${e.line} ${e.title || "(untitled)"}`;
    if (!isAllowed(e)) found.push(`${where}: prints; assert what it shows instead`);
    else if (!asserts(e.code)) found.push(`${where}: prints and asserts nothing`);
  }
  for (const [file, title] of allowList) {
    if (!examples.some((e) => e.file === file && e.title === title && prints(e.code))) {
      found.push(`${file} ${title}: stale allow-list entry, no such printing example`);
    }
  }
  return found;
}

Deno.test("doc examples assert what they show instead of printing it", async () => {
  assert.deepEqual(problems(await allExamples(), PRINTING_ALLOWED), []);
});

Deno.test("the doc example check finds what it looks for", async (t) => {
  await t.step("it reads the examples of every public module", async () => {
    const examples = await allExamples();
    assert.ok(examples.length >= 100, `only ${examples.length} examples found`);
    assert.ok(examples.some((e) => e.file === "mod.ts"));
    assert.ok(examples.some((e) => e.file === "testing.ts"));
    assert.ok(examples.some((e) => e.file === "src/cli.ts" && e.title === "Run it from a program"));
  });
  await t.step("it tells a printing example from an asserting one", () => {
    const source = [
      "/**",
      " * Doubles.",
      " *",
      " * @example Printing",
      " * ```ts",
      " * console.log(double(2)); // 4",
      " * ```",
      " *",
      " * @example Asserting",
      " * ```ts",
      ' * import assert from "node:assert/strict";',
      " * assert.equal(double(2), 4);",
      " * ```",
      " *",
      " * ```sh",
      " * console.log(1)",
      " * ```",
      " */",
      "export const double = (n: number): number => n * 2;",
      "/** @example Named\n * ```ts\n * import { equal } from 'node:assert/strict';\n * equal(1, 1);\n * ```\n */",
    ].join("\n");
    const found = docExamples("x.ts", source);
    assert.deepEqual(found.map((e) => [e.title, e.line, prints(e.code), asserts(e.code)]), [
      ["Printing", 5, true, false],
      ["Asserting", 10, false, true],
      ["Named", 21, false, true],
    ]);
    assert.equal(asserts("import assert from 'node:assert/strict';\nconst x = 1;"), false);
    assert.equal(prints("const logs: string[] = []; // console.log is not called"), false);
    // Printing is flagged even beside an assertion: the printed value is a claim nobody checks.
    const both = source.replace(
      "console.log(double(2)); // 4",
      "$&\n * assert.equal(double(2), 4);",
    )
      .replace("@example Printing\n * ```ts", "$&\n * import assert from 'node:assert/strict';");
    assert.equal(asserts(docExamples("y.ts", both)[0]!.code), true);
    assert.deepEqual(problems(docExamples("y.ts", both), []), [
      "y.ts:5 Printing: prints; assert what it shows instead",
    ]);
  });
  await t.step("it honours the allow-list and finds stale entries", () => {
    const example = (file: string, code: string) => ({ file, line: 1, title: "Usage", code });
    const printing = "import assert from 'node:assert/strict';\nconsole.log(1);\nassert(1);";
    assert.deepEqual(
      problems(
        [example("a.ts", printing), example("b.ts", "console.log(1);")],
        [["a.ts", "Usage", "prints"], ["b.ts", "Usage", "prints"], ["c.ts", "Usage", "gone"]],
      ),
      [
        "b.ts:1 Usage: prints and asserts nothing",
        "c.ts Usage: stale allow-list entry, no such printing example",
      ],
    );
  });
});
