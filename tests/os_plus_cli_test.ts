import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { encodeModel } from "../onnx/codec.ts";
import { DataType, makeTensor } from "../onnx/tensor.ts";
import { encodeNpz } from "../runtime/npy.ts";
import { buildArch, DIMS, hiddenStates } from "./_hf_blocks.ts";
import { repoPath } from "./_models.ts";
import { cliProcess as cli, lastJson, quantizeArgs } from "./_cli.ts";

Deno.test("osplus CLI: on the LLaMA-style LM every site is listed in the summary and --json", async () => {
  const dir = await Deno.makeTempDir();
  const r = await cli(
    "quantize",
    repoPath("testdata/byte-lm-llama-outliers.onnx"),
    "-o",
    `${dir}/q.onnx`,
    "--method",
    "osplus",
    "--bits",
    "W6A6",
    "--calib",
    "models/lm-calib.txt",
    "--samples",
    "4",
    "--json",
  );
  assertEquals(r.code, 0, r.stderr);
  const json = lastJson(r.stdout);
  const notes: string[] = json.steps.find((s: { pass: string }) => s.pass === "os-plus").notes;
  // 5 blocks x (input norm, post-attention norm, gated MLP) + the final norm; nothing skipped.
  assertEquals(notes[0], "16 site(s) migrated, 0 norm(s) skipped");
  assertEquals(notes.filter((n) => n.startsWith("migrated ") && n.includes("(rms,")).length, 11);
  assertEquals(notes.filter((n) => n.startsWith("migrated /blocks.") && n.includes("(gated-mlp,")).length, 5);
  const canon: string[] = json.steps.find((s: { pass: string }) => s.pass === "canonicalize").notes;
  // (the one identity Cast is the position ids' int64 -> int64)
  assertEquals(canon.sort(), ["div-one-to-reciprocal: 11", "drop-identity-cast: 1", "pow-two-to-mul: 11"]);
  assertStringIncludes(r.stdout, "16 site(s) migrated");
  // The same as data: names, kinds, the loss that chose t (attention for the q/k/v sites).
  assertEquals(json.osplus.sites.length, 16);
  assertEquals(json.osplus.skipped, []);
  assertEquals(json.osplus.sites[0].name, "/blocks.0/ln1/Pow");
  assertEquals(json.osplus.sites[0].loss, "attention");
  assertEquals(json.osplus.sites[2].kind, "gated-mlp");
});

Deno.test("osplus CLI: no site exits 2 with every skipped norm and its reason, unless --allow-no-sites", async () => {
  const dir = await Deno.makeTempDir();
  // Every norm of this OPT-form graph also feeds a Relu (not a linear layer): OS+ has nothing to migrate.
  const m = buildArch("opt");
  const norm = m.graph.nodes.find((n) => n.name === "/final_norm/LayerNormalization")!;
  const y = norm.outputs[0]!;
  const relu = m.graph.addNode("Relu", [y], ["relu_out"]);
  relu.outputs[0]!.type = { elemType: DataType.FLOAT };
  m.graph.outputs.push(relu.outputs[0]!);
  for (const n of m.graph.nodes.filter((n) => n.opType === "LayerNormalization" && n !== norm)) {
    m.graph.addNode("Relu", [n.outputs[0]!], [`${n.name}_relu`]);
    m.graph.outputs.push(m.graph.lookup(`${n.name}_relu`)!);
    m.graph.lookup(`${n.name}_relu`)!.type = { elemType: DataType.FLOAT };
  }
  await Deno.writeFile(`${dir}/m.onnx`, encodeModel(m));
  const x = makeTensor(DataType.FLOAT, [8, DIMS.T, DIMS.C], hiddenStates(8, 3));
  await Deno.writeFile(`${dir}/calib.npz`, encodeNpz(new Map([["x", x]])));
  const args = quantizeArgs(`${dir}/m.onnx`, `${dir}/q.onnx`, "osplus", `${dir}/calib.npz`);
  const r = await cli(...args, "--json");
  assertEquals(r.code, 2, r.stderr);
  const err = lastJson(r.stdout).error as string;
  assertStringIncludes(err, "--method osplus converted nothing");
  assertEquals(err.match(/also feeds Relu/g)?.length, 5, err);
  assertStringIncludes(err, "--allow-no-sites");
  await assertMissing(`${dir}/q.onnx`);
  const ok = await cli(...args, "--allow-no-sites", "--json");
  assertEquals(ok.code, 0, ok.stderr);
  const notes: string[] = lastJson(ok.stdout).steps.find((s: { pass: string }) => s.pass === "os-plus").notes;
  assertEquals(notes[0], "0 site(s) migrated, 5 norm(s) skipped");
  assertEquals(notes.filter((n) => n.startsWith("skipped ") && n.includes("Relu")).length, 5);
  const { osplus } = lastJson(ok.stdout);
  assertEquals([osplus.sites.length, osplus.skipped.length], [0, 5]);
  assert(osplus.skipped.every((s: { reason: string }) => s.reason.includes("Relu")));
});

async function assertMissing(path: string): Promise<void> {
  try {
    await Deno.stat(path);
  } catch (e) {
    assert(e instanceof Deno.errors.NotFound);
    return;
  }
  throw new Error(`${path} exists`);
}
