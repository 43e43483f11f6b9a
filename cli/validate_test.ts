import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { intAttr } from "../onnx/attributes.ts";
import { Model } from "../onnx/ir.ts";
import { saveModel } from "../onnx/io.ts";
import { DataType, makeTensor } from "../onnx/tensor.ts";
import { getOp, registerOp } from "../onnx/evaluate/registry.ts";
import { gpuUnavailableReason } from "../kernels/gpu.ts";
import type { CommandContext } from "./command.ts";
import { validateCommand } from "./validate.ts";

const noGpu = await gpuUnavailableReason();
if (noGpu) console.error(`\n!!! SKIPPING WebGPU tests in cli/validate_test.ts: ${noGpu} !!!\n`);

const ctx = { json: false, reporter: undefined } as unknown as CommandContext;

async function savedModel(dir: string): Promise<string> {
  const m = new Model();
  m.opsets.set("", 13);
  m.opsets.set("shiftkit", 1);
  const g = m.graph;
  const x = g.value("x");
  x.type = { elemType: DataType.INT32, shape: [3, 8] };
  g.inputs.push(x);
  const mul = g.addInitializer("mul", makeTensor(DataType.INT32, [], new Int32Array([1374389535])));
  const sh = g.addInitializer("sh", makeTensor(DataType.INT32, [], new Int32Array([37])));
  const r = g.addNode("Requantize", [x, mul, sh], ["r"], {
    domain: "shiftkit",
    attrs: [intAttr("output_bits", 8)],
  });
  const s = g.addNode("Shiftmax", [r.outputs[0]!], ["y"], {
    domain: "shiftkit",
    attrs: [intAttr("p", 8), intAttr("n", 15)],
  });
  g.outputs.push(s.outputs[0]!);
  const path = `${dir}/m.onnx`;
  await saveModel(m, path);
  return path;
}

Deno.test({
  name: "shiftkit validate: exit 0 with per-op agreement and the adapter; exit 1 on an integer mismatch",
  ignore: noGpu !== null,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const path = await savedModel(dir);
      const ok = await validateCommand.run({ positionals: [path], flags: { samples: 2 } }, ctx);
      assertEquals(ok.exitCode, 0);
      assertStringIncludes(ok.text, "| shiftkit.Requantize | 2 | 2 | 0 | 0 | 2 / 2 | 2 | 0.000000 | exact |");
      assertStringIncludes(ok.text, "| shiftkit.Shiftmax | 2 | 2 | 0 | 0 | 2 / 2 | 2 | 0.000000 | exact |");
      assertStringIncludes(ok.text, "CPU fallbacks: 0");
      assertStringIncludes(ok.text, "adapter: ");
      assertEquals((ok.json as { ok: boolean }).ok, true);
      const real = getOp("shiftkit", "Shiftmax");
      registerOp("shiftkit", "Shiftmax", (ins, attrs, c) => {
        const [y] = real(ins, attrs, c);
        const d = Int8Array.from(y!.data as Int8Array);
        d[d.length - 1] = d[d.length - 1]! + 1;
        return [makeTensor(y!.dtype, y!.dims, d)];
      });
      try {
        const bad = await validateCommand.run({ positionals: [path], flags: {} }, ctx);
        assertEquals(bad.exitCode, 1);
        assertStringIncludes(bad.text, "FAILED (2 integer mismatches)");
        assertEquals((bad.json as { integerMismatches: number }).integerMismatches, 2);
      } finally {
        registerOp("shiftkit", "Shiftmax", real);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("shiftkit validate: --samples must be a positive integer (usage error)", async () => {
  let message = "";
  try {
    await validateCommand.run({ positionals: ["x.onnx"], flags: { samples: 0 } }, ctx);
  } catch (e) {
    message = (e as Error).name + ": " + (e as Error).message;
  }
  assert(message.startsWith("UsageError"), message);
});
