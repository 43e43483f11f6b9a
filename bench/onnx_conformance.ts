/**
 * Conformance with the ONNX spec's own examples (issue 15): the backend node tests of Debian's
 * `libonnx-testdata` (ONNX 1.12; `apt-get install libonnx-testdata`, see ../shared/MODELS.md), each a one-node
 * model with input and expected-output TensorProtos, run on
 * - the CPU evaluator (onnx/evaluate), for every test whose op it implements;
 * - the WebGPU executor (kernels/executor.ts), for every test whose node has a GPU kernel and whose inputs are
 *   types the GPU holds (8/16/32-bit integers, float32; int64 / bool only as shapes, indices, masks); a test that ran on the CPU instead (a form the kernel
 *   does not cover) counts as a fallback, not a pass; float forms of integer-only kernels (float Add...) are
 *   not counted (CPU by design).
 * Outputs compare as the ONNX backend tests do: integers and booleans exactly, floats with rtol 1e-3 and
 * atol 1e-7 (NaN equals NaN).
 *
 *   deno run -A bench/onnx_conformance.ts [--root DIR] [--filter SUBSTRING] [--verbose] [--json]
 * @module
 */
import { decodeModel, decodeTensor } from "../onnx/codec.ts";
import { evaluateModel } from "../onnx/evaluate/evaluate.ts";
import "../onnx/evaluate/ops/integer.ts";
import { getOp } from "../onnx/evaluate/registry.ts";
import type { Model } from "../onnx/ir.ts";
import { DataType, isFloatType, type Tensor } from "../onnx/tensor.ts";
import { executeModel } from "../kernels/executor.ts";
import { gpuOpFor } from "../kernels/executor_ops.ts";
import { gpuUnavailableReason } from "../kernels/gpu.ts";
import { isWordType } from "../kernels/device_tensor.ts";

const arg = (name: string) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
};
const root = arg("root") ?? "/usr/share/libonnx-testdata/data/node";
const filter = arg("filter") ?? "";
const json = Deno.args.includes("--json");
const verbose = Deno.args.includes("--verbose");

type Outcome = "pass" | "fail" | "error";
type GpuOutcome = Outcome | "fallback" | "skip";

/** Compare as the ONNX backend test runner does. */
function close(got: Tensor, want: Tensor): string | null {
  if (got.dims.join() !== want.dims.join()) return `shape [${got.dims}] vs [${want.dims}]`;
  const float = isFloatType(want.dtype);
  for (let i = 0; i < want.data.length; i++) {
    const a = got.data[i]!, b = want.data[i]!;
    if (!float) {
      if (String(a) !== String(b)) return `element ${i}: ${a} vs ${b}`;
      continue;
    }
    const x = Number(a), y = Number(b);
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (x === y) continue;
    if (!(Math.abs(x - y) <= 1e-7 + 1e-3 * Math.abs(y))) return `element ${i}: ${x} vs ${y}`;
  }
  return null;
}

interface Case {
  name: string;
  op: string;
  model: Model;
  sets: { feeds: Record<string, Tensor>; want: Record<string, Tensor> }[];
}

async function loadCase(dir: string, name: string): Promise<Case | string> {
  let model: Model;
  try {
    model = decodeModel(await Deno.readFile(`${dir}/model.onnx`));
  } catch (e) {
    return `model does not load: ${(e as Error).message}`;
  }
  const node = model.graph.nodes[0];
  if (!node) return "no node";
  const op = node.domain && node.domain !== "ai.onnx" ? `${node.domain}.${node.opType}` : node.opType;
  const inputs = model.graph.inputs.filter((v) => !v.isConst);
  const sets = [];
  for await (const e of Deno.readDir(dir)) {
    if (!e.isDirectory || !e.name.startsWith("test_data_set_")) continue;
    const feeds: Record<string, Tensor> = {}, want: Record<string, Tensor> = {};
    try {
      for (const [i, v] of inputs.entries()) {
        feeds[v.name] = decodeTensor(await Deno.readFile(`${dir}/${e.name}/input_${i}.pb`));
      }
      for (const [i, v] of model.graph.outputs.entries()) {
        want[v.name] = decodeTensor(await Deno.readFile(`${dir}/${e.name}/output_${i}.pb`));
      }
    } catch (err) {
      return `test data not a tensor (sequence/optional?): ${(err as Error).message.slice(0, 80)}`;
    }
    sets.push({ feeds, want });
  }
  return { name, op, model, sets };
}

function implemented(m: Model, has: (domain: string, op: string) => boolean): boolean {
  return m.graph.nodes.every((n) => has(n.domain, n.opType));
}

const cpuHas = (d: string, o: string) => {
  try {
    getOp(d, o);
    return true;
  } catch {
    return false;
  }
};

const noGpu = await gpuUnavailableReason();
const cpu = { pass: 0, fail: 0, error: 0, notImplemented: 0, failures: [] as string[] };
const gpu = { pass: 0, fail: 0, error: 0, fallback: 0, noKernel: 0, failures: [] as string[] };
let skipped = 0;
const skippedWhy: string[] = [];
const names = [];
for await (const e of Deno.readDir(root)) if (e.isDirectory && e.name.includes(filter)) names.push(e.name);
names.sort();
for (const name of names) {
  const c = await loadCase(`${root}/${name}`, name);
  if (typeof c === "string") {
    skipped++;
    skippedWhy.push(`${name}: ${c}`);
    continue;
  }
  if (!implemented(c.model, cpuHas)) cpu.notImplemented++;
  else {
    let outcome: Outcome = "pass";
    let why = "";
    for (const s of c.sets) {
      try {
        const got = evaluateModel(c.model, s.feeds);
        for (const [k, w] of Object.entries(s.want)) {
          const d = got[k] ? close(got[k]!, w) : "missing output";
          if (d) (outcome = "fail", why = `${k}: ${d}`);
        }
      } catch (err) {
        (outcome = "error", why = (err as Error).message.slice(0, 120));
      }
      if (outcome !== "pass") break;
    }
    cpu[outcome]++;
    if (outcome !== "pass") cpu.failures.push(`${name} (${c.op}): ${outcome}: ${why}`);
  }
  if (noGpu !== null) continue;
  const ok = (t: Tensor) => isWordType(t.dtype) || t.dtype === DataType.INT64 || t.dtype === DataType.BOOL;
  const held = c.sets.every((s) => [...Object.values(s.feeds), ...Object.values(s.want)].every(ok));
  if (!held || !implemented(c.model, (d, o) => gpuOpFor(d, o) !== undefined)) {
    gpu.noKernel++;
    continue;
  }
  if (verbose) console.error(`gpu: ${name}`);
  let outcome = "pass" as GpuOutcome;
  let why = "";
  for (const s of c.sets) {
    try {
      const r = await executeModel(c.model, s.feeds, { compare: false });
      const fb = r.records.find((x) => x.device !== "gpu" && x.role === "kernel");
      const cpuByDesign = r.records.find((x) => x.device !== "gpu" && x.role !== "kernel");
      if (fb) (outcome = "fallback", why = fb.fallback ?? "ran on the CPU");
      else if (cpuByDesign) {
        gpu.noKernel++; // a float op (or shape arithmetic): no GPU kernel for this form, by design
        outcome = "skip";
        break;
      } else {
        for (const [k, w] of Object.entries(s.want)) {
          const d = r.outputs[k] ? close(r.outputs[k]!, w) : "missing output";
          if (d) (outcome = "fail", why = `${k}: ${d}`);
        }
      }
    } catch (err) {
      (outcome = "error", why = (err as Error).message.slice(0, 120));
    }
    if (outcome !== "pass") break;
  }
  if (outcome === "skip") continue;
  gpu[outcome]++;
  if (outcome !== "pass") gpu.failures.push(`${name} (${c.op}): ${outcome}: ${why}`);
}

const result = {
  root,
  tests: names.length,
  skipped,
  skippedWhy,
  cpu,
  gpu: noGpu ? { unavailable: noGpu } : gpu,
};
if (json) console.log(JSON.stringify(result));
else {
  console.log(
    `ONNX backend node tests in ${root}: ${names.length} (${skipped} skipped: data or model not loadable)`,
  );
  console.log("| backend | implemented | pass | fail | error | fallback |");
  console.log("|---|---|---|---|---|---|");
  console.log(
    `| CPU evaluator | ${cpu.pass + cpu.fail + cpu.error} | ${cpu.pass} | ${cpu.fail} | ${cpu.error} | - |`,
  );
  if (!noGpu) {
    console.log(
      `| WebGPU kernels | ${
        gpu.pass + gpu.fail + gpu.error + gpu.fallback
      } | ${gpu.pass} | ${gpu.fail} | ${gpu.error} | ${gpu.fallback} |`,
    );
  } else console.log(`WebGPU: not run (${noGpu})`);
  console.log("\nCPU evaluator failures:");
  for (const f of cpu.failures) console.log(`  ${f}`);
  console.log("\nWebGPU failures and fallbacks:");
  for (const f of gpu.failures) console.log(`  ${f}`);
}
