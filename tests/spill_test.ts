/**
 * Emitted tensors spilled to disk during per-layer weight-only conversions (issue 17, item 3; onnx/spill.ts):
 * the files written are byte-identical to those of the in-memory path, nothing after the passes reads a
 * spilled tensor whole (finite check, storage account, stored size, verify, save), the scratch file has no
 * name on disk, and a non-finite value in a spilled float tensor is still refused.
 */
import { assert, assertEquals, assertThrows } from "@std/assert";
import { quantize, type QuantizeReport } from "../api/quantize.ts";
import { checkWrittenFinite, NonFiniteError, snapshotInitializers } from "../api/_finite.ts";
import { writeSyntheticLm } from "../bench/_synthetic_lm.ts";
import { loadModel, saveModel } from "../onnx/io.ts";
import { Model } from "../onnx/ir.ts";
import { releaseSpilled, spillOf, TensorSpill } from "../onnx/spill.ts";
import { DataType, makeTensor } from "../onnx/tensor.ts";
import { repoPath } from "./_models.ts";
import { cliInProcess } from "./_cli.ts";

const CASES = [
  { method: "rtn" as const, extra: {} },
  { method: "gptq" as const, extra: { calibrate: "per-layer" } },
  { method: "shiftadd" as const, extra: { calibrate: "per-layer" } },
];

for (const { method, extra } of CASES) {
  Deno.test(`spill: ${method} writes the same files with its emitted tensors on disk`, async () => {
    const dir = await Deno.makeTempDir();
    const scratch = `${dir}/scratch`;
    await Deno.mkdir(scratch);
    // 2 blocks of width 128: MatMulNBits codes of 8-32 kB (spilled), zero points of 256 B (kept)
    const lm = await writeSyntheticLm(dir, { layers: 2, width: 128, heads: 4 });
    const run = async (spill: boolean): Promise<{ report: QuantizeReport; model: Model }> => {
      const model = await loadModel(lm.model);
      const report = await quantize(model, {
        method,
        calib: repoPath("testdata/lm-calib.txt"),
        samples: 4,
        extra,
        spill,
        spillDir: scratch,
      });
      return { report, model };
    };
    const plain = await run(false);
    await Deno.mkdir(`${dir}/plain`);
    await Deno.mkdir(`${dir}/spilled`);
    await saveModel(plain.model, `${dir}/plain/q.onnx`, { externalData: true });
    const spilled = await run(true);
    assertEquals(plain.report.spilled, undefined);
    const n = spilled.report.spilled!.tensors;
    assert(n >= 13, `${n} tensors spilled for 13 layers`);
    assertEquals([...Deno.readDirSync(scratch)], [], "the scratch file has no name on disk");
    const onDisk = () => spilled.model.graph.initializers.filter((v) => v.constRange()).length;
    // the finite check, storage account, stored size, verify and the emitted-model load check read none whole
    assertEquals(onDisk(), n);
    assertEquals(spilled.report.storage, plain.report.storage);
    assertEquals(spilled.report.sizeAfter, plain.report.sizeAfter);
    await saveModel(spilled.model, `${dir}/spilled/q.onnx`); // external data by itself
    assertEquals(onDisk(), n, "the writer copied them by range");
    assertEquals(releaseSpilled(spilled.model), true);
    for (const f of ["", ".data"]) {
      const a = await Deno.readFile(`${dir}/plain/q.onnx${f}`),
        b = await Deno.readFile(`${dir}/spilled/q.onnx${f}`);
      assertEquals(b.length, a.length, `q.onnx${f}`);
      assert(a.every((x, i) => x === b[i]), `q.onnx${f} differs`);
    }
    await Deno.remove(dir, { recursive: true });
  });
}

Deno.test("spill: a NaN a pass wrote into a spilled float tensor is still refused (read by range)", () => {
  const m = new Model();
  const before = snapshotInitializers(m);
  const d = new Float32Array(3 * 2 ** 20).fill(0.5); // 12 MB: three chunks of the check
  d[2 ** 21 + 5] = NaN;
  const v = m.graph.addInitializer("scales", makeTensor(DataType.FLOAT, [3, 2 ** 20], d));
  const spill = new TensorSpill();
  assertEquals(spill.spill(v), true);
  assertThrows(
    () => checkWrittenFinite(m, before),
    NonFiniteError,
    `a pass wrote NaN into initializer "scales" (element ${2 ** 21 + 5}, dims [3, 1048576])`,
  );
  assert(v.constRange(), "checked without decoding it");
  spill.close();
});

Deno.test("spill: quantize attaches its spill to the model only when it spills", async () => {
  const model = await loadModel(repoPath("testdata/byte-lm-opt.onnx"));
  const report = await quantize(model, {
    method: "rtn",
    calib: repoPath("testdata/lm-calib.txt"),
    samples: 1,
  });
  assertEquals([report.spilled, spillOf(model)], [undefined, undefined]); // "auto": a 13 MB model stays in memory
});

Deno.test("spill: the CLI's --spill on reports what it spilled; a bad value or a method that spills nothing exits 2", async () => {
  const dir = await Deno.makeTempDir();
  const lm = await writeSyntheticLm(dir, { layers: 1, width: 128, heads: 4 });
  const base = [lm.model, "--calib", repoPath("testdata/lm-calib.txt"), "--samples", "2", "--json"];
  const run = (out: string, method: string, ...flags: string[]) =>
    cliInProcess(["quantize", ...base, "-o", `${dir}/${out}`, "--method", method, ...flags]);
  const ok = await run("q.onnx", "rtn", "--spill", "on");
  assertEquals(ok.code, 0, ok.stderr);
  assertEquals(ok.json.spilled, { tensors: 10, bytes: 135168 }); // codes of 7 layers, scales of fc1, fc2, head
  assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
    "q.onnx",
    "q.onnx.data",
    "synthetic-lm.onnx",
    "synthetic-lm.onnx.data",
  ]);
  const bad = await run("b.onnx", "rtn", "--spill", "yes");
  assertEquals([bad.code, bad.stderr.includes("--spill must be auto, on or off")], [2, true], bad.stderr);
  const nodir = await run("b.onnx", "rtn", "--spill-dir", `${dir}/missing`);
  assertEquals([nodir.code, nodir.stderr.includes("is not a folder")], [2, true], nodir.stderr);
  const qdq = await run("b.onnx", "qdq", "--spill", "on");
  assertEquals([qdq.code, qdq.stderr.includes("--spill on applies to --method rtn|gptq|shiftadd")], [
    2,
    true,
  ]);
  // nothing half-written by the refused runs
  assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).includes("b.onnx"), false);
  await Deno.remove(dir, { recursive: true });
});
