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

const allowed = (e: DocExample) => PRINTING_ALLOWED.some(([f, t]) => f === e.file && t === e.title);

Deno.test("doc examples assert what they show instead of printing it", async () => {
  const printing = (await allExamples()).filter((e) => prints(e.code) && !allowed(e));
  assert.deepEqual(
    printing.map((e) => `${e.file}:${e.line} ${e.title || "(untitled)"}`),
    [],
    "these examples print with console.*; assert the value with node:assert/strict instead",
  );
});

Deno.test("every doc example that prints is on the allow-list and asserts too", async () => {
  const examples = await allExamples();
  for (const [file, title] of PRINTING_ALLOWED) {
    const example = examples.find((e) => e.file === file && e.title === title && prints(e.code));
    assert.ok(example, `stale allow-list entry: no printing example "${title}" in ${file}`);
    assert.ok(asserts(example.code), `${file} "${title}" prints but asserts nothing`);
  }
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
  });
});
