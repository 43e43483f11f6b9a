/**
 * The import rules of docs/architecture.md, checked: every non-test module's relative imports must follow the
 * layer table (or a listed exception), and every listed exception must still be in use. The rules are parsed
 * from the document itself so the two cannot drift apart.
 * @module
 */
import { assert, assertEquals } from "@std/assert";

const root = new URL("../", import.meta.url);

/** One import of one module. */
interface ImportEdge {
  from: string;
  to: string;
  typeOnly: boolean;
}

/** The rules block and exceptions block of docs/architecture.md. */
interface Rules {
  allowed: Map<string, Set<string>>;
  exceptions: { from: string; to: string; typeOnly: boolean; line: string }[];
}

function fencedBlock(doc: string, tag: string): string[] {
  const m = doc.match(new RegExp("```" + tag + "\\n([\\s\\S]*?)```"));
  if (!m) throw new SyntaxError(`docs/architecture.md has no \`\`\`${tag} block`);
  return m[1]!.split("\n").map((l) => l.replace(/#.*$/, "").trim()).filter((l) => l.length > 0);
}

function parseRules(doc: string): Rules {
  const allowed = new Map<string, Set<string>>();
  for (const line of fencedBlock(doc, "rules")) {
    const [layer, ...deps] = line.split(/\s+/);
    allowed.set(layer!, new Set([layer!, ...deps]));
  }
  const exceptions = fencedBlock(doc, "exceptions").map((line) => {
    const m = line.match(/^(\S+)\s+->\s+(\S+)(\s+type)?\b/);
    if (!m) throw new SyntaxError(`Cannot parse exception line: ${line}`);
    return { from: m[1]!, to: m[2]!, typeOnly: m[3] !== undefined, line };
  });
  return { allowed, exceptions };
}

/** The layer of a repository path: its top folder, or the entry file's name. */
function layerOf(path: string): string {
  if (path === "mod.ts") return "mod";
  if (path === "cli.ts") return "cli";
  return path.split("/")[0]!;
}

function globMatch(pattern: string, path: string): boolean {
  if (pattern.endsWith("/*")) return path.startsWith(pattern.slice(0, -1));
  return pattern === path;
}

function normalize(parts: string[]): string {
  const out: string[] = [];
  for (const p of parts) {
    if (p === "" || p === ".") continue;
    if (p === "..") out.pop();
    else out.push(p);
  }
  return out.join("/");
}

/** Relative imports of one module's source (comments stripped first, so doc examples do not count). */
export function importsOf(path: string, source: string): ImportEdge[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const edges: ImportEdge[] = [];
  const re =
    /\b(import|export)\s+(type\s+)?(?:[^"';]*?\bfrom\s*)?["'](\.{1,2}\/[^"']+)["']|\bimport\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;
  const dir = path.split("/").slice(0, -1);
  for (const m of code.matchAll(re)) {
    const spec = m[3] ?? m[4]!;
    edges.push({ from: path, to: normalize([...dir, ...spec.split("/")]), typeOnly: m[2] !== undefined });
  }
  return edges;
}

/** Every edge the rules forbid, and every exception no edge uses. */
export function violations(edges: readonly ImportEdge[], rules: Rules): string[] {
  const problems: string[] = [];
  const used = new Set<string>();
  for (const e of edges) {
    const a = layerOf(e.from), b = layerOf(e.to);
    if (a === b) continue;
    const allowed = rules.allowed.get(a);
    if (allowed === undefined) {
      problems.push(`${e.from}: layer "${a}" is not in the rules table`);
      continue;
    }
    if (allowed.has(b)) continue;
    const ex = rules.exceptions.find((x) => globMatch(x.from, e.from) && globMatch(x.to, e.to));
    if (ex && (!ex.typeOnly || e.typeOnly)) {
      used.add(ex.line);
      continue;
    }
    problems.push(
      `${e.from} imports ${e.to}: ${a} -> ${b} is not allowed${ex ? " (only as import type)" : ""}`,
    );
  }
  for (const ex of rules.exceptions) {
    if (!used.has(ex.line)) problems.push(`exception no longer used: ${ex.line}`);
  }
  return problems;
}

async function sourceFiles(dir: URL, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const rel = prefix + e.name;
    if (e.isDirectory) {
      if (["node_modules", "testdata", ".git", "tests"].includes(e.name) && prefix === "") continue;
      out.push(...await sourceFiles(new URL(e.name + "/", dir), rel + "/"));
    } else if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts") && !e.name.endsWith(".d.ts")) {
      out.push(rel);
    }
  }
  return out;
}

async function repositoryEdges(): Promise<ImportEdge[]> {
  const files = await sourceFiles(root);
  const edges: ImportEdge[] = [];
  for (const f of files) edges.push(...importsOf(f, await Deno.readTextFile(new URL(f, root))));
  return edges;
}

const doc = await Deno.readTextFile(new URL("docs/architecture.md", root));

Deno.test("architecture: every import of every non-test module follows docs/architecture.md", async () => {
  const edges = await repositoryEdges();
  assert(edges.length > 300, `only ${edges.length} relative imports found: the scanner is broken`);
  assertEquals(violations(edges, parseRules(doc)), []);
});

Deno.test("architecture: removing any listed exception makes the check fail", async () => {
  const edges = await repositoryEdges();
  const rules = parseRules(doc);
  assert(rules.exceptions.length > 0);
  for (let i = 0; i < rules.exceptions.length; i++) {
    const fewer = { ...rules, exceptions: rules.exceptions.filter((_, j) => j !== i) };
    const found = violations(edges, fewer);
    assert(found.length > 0, `dropping "${rules.exceptions[i]!.line}" still passes`);
  }
});

Deno.test("architecture: forbidden edges are reported (quant -> onnx, passes -> runtime value import, -> cli)", () => {
  const rules = parseRules(doc);
  const src = [
    'import { decodeModel } from "../onnx/codec.ts";',
    '/** @example import { x } from "../cli/args.ts" */',
  ].join("\n");
  const edges = [
    ...importsOf("quant/x.ts", src),
    ...importsOf("passes/pass.ts", 'import { OrtRuntime } from "../runtime/runtime.ts";'),
    ...importsOf("api/x.ts", 'export { run } from "../cli/args.ts";'),
    ...importsOf("onnx/x.ts", 'const m = await import("../passes/pass.ts");'),
  ];
  assertEquals(edges.length, 4, "the doc-comment import must not count");
  const found = violations(edges, rules).filter((p) => !p.startsWith("exception no longer used"));
  assertEquals(found.length, 4, found.join("\n"));
  assert(found[1]!.includes("only as import type"));
});
