/**
 * Issue #12's promise for every refusal, measured on a real process: exit code 2, one line, no stack, within
 * 20 s and 1 GiB of memory (peak RSS from /usr/bin/time, where the machine has it). Also: bombs that are not
 * refusals (a zip of 3 GiB the model never names, a 3 GiB sparse external file) stay small.
 */
import { assert, assertEquals, assertLess, assertStringIncludes } from "@std/assert";
import { deflateSync } from "npm:fflate@0.8.2";
import { encodeModel } from "../onnx/codec.ts";
import { saveModel } from "../onnx/io.ts";
import { DataType, makeTensor } from "../onnx/tensor.ts";
import { Model } from "../onnx/ir.ts";
import { crc32, handZip, pngBomb, tinyModel } from "./_hostile.ts";
import { repoPath } from "./_models.ts";
import { quantizeArgs } from "./_cli.ts";

const TIME = "/usr/bin/time";
const hasTime = (() => {
  try {
    return Deno.statSync(TIME).isFile;
  } catch {
    return false;
  }
})();

async function run(
  ...args: string[]
): Promise<{ code: number; stderr: string; ms: number; rssMiB: number | null }> {
  const deno = [Deno.execPath(), "run", "-A", repoPath("cli.ts"), ...args];
  const t0 = performance.now();
  const out = await new Deno.Command(hasTime ? TIME : deno[0]!, {
    args: hasTime ? ["-f", "maxrss_kb=%M", ...deno] : deno.slice(1),
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const ms = performance.now() - t0;
  let stderr = new TextDecoder().decode(out.stderr);
  const m = /maxrss_kb=(\d+)\s*$/.exec(stderr);
  if (m) stderr = stderr.slice(0, m.index).replace(/^Command exited with non-zero status \d+$/m, "");
  return { code: out.code, stderr: stderr.trim(), ms, rssMiB: m ? Number(m[1]) / 1024 : null };
}

function assertSmall(r: { ms: number; rssMiB: number | null }, what: string): void {
  assertLess(r.ms, 20_000, `${what}: ${r.ms} ms`);
  if (r.rssMiB !== null) assertLess(r.rssMiB, 1024, `${what}: peak RSS ${r.rssMiB} MiB`);
}

function assertRefusal(r: { code: number; stderr: string }, text: string): void {
  assertEquals(r.code, 2, r.stderr);
  const lines = r.stderr.split("\n").filter((l) => !l.startsWith("Run 'shiftkit"));
  assertEquals(lines.length, 1, r.stderr);
  assertStringIncludes(lines[0]!, text);
}

Deno.test("memory: refusals and bombs stay within 20 s and 1 GiB in a real process", async () => {
  const dir = await Deno.makeTempDir({ prefix: "shiftkit_mem_" });
  try {
    // A zip of 3 GiB of entries the model never names: loads, inflating only the model.
    const chunk = new Uint8Array(64 * 2 ** 20);
    const zeros = deflateSync(chunk, { level: 9 });
    const crc = crc32(chunk);
    const model = encodeModel(tinyModel());
    const junk = Array.from({ length: 48 }, (_, i) => ({
      name: `junk/${i}.bin`,
      data: zeros,
      size: chunk.length,
      crc,
      method: 8 as 0 | 8,
    }));
    await Deno.writeFile(
      `${dir}/bomb.zip`,
      handZip([...junk, { name: "m.onnx", data: model, size: model.length, crc: crc32(model), method: 0 }]),
    );
    const inspectBomb = await run("inspect", `${dir}/bomb.zip`);
    assertEquals(inspectBomb.code, 0, inspectBomb.stderr);
    assertSmall(inspectBomb, "zip bomb");

    // A zip whose model entry declares 3 GiB: refused before inflating.
    await Deno.writeFile(
      `${dir}/big.zip`,
      handZip([{ name: "m.onnx", data: zeros, size: 3 * 2 ** 30, crc, method: 8 }]),
    );
    const big = await run("inspect", `${dir}/big.zip`);
    assertRefusal(big, "over the limit of 2147483648");
    assertSmall(big, "3 GiB zip entry");

    // A 3 GiB sparse external data file of which the weight needs 64 bytes.
    await Deno.writeFile(
      `${dir}/m.onnx`,
      encodeModel(tinyModel(), { externalize: () => ({ location: "w.bin", offset: 3 * 2 ** 30 - 64 }) }),
    );
    const f = await Deno.open(`${dir}/w.bin`, { write: true, create: true });
    await f.truncate(3 * 2 ** 30);
    f.close();
    const sparse = await run(...quantizeArgs(`${dir}/m.onnx`, `${dir}/q.onnx`, "qdq", `${dir}/none.npz`));
    assertEquals(sparse.code, 2, sparse.stderr); // the missing calibration file, after the model loaded
    assertSmall(sparse, "sparse external data");

    // A PNG bomb among calibration images.
    await Deno.mkdir(`${dir}/images`);
    await Deno.writeFile(`${dir}/images/bomb.png`, pngBomb(30000, 30000));
    const cls = new Model();
    cls.opsets.set("", 17);
    const x = cls.graph.value("input");
    x.type = { elemType: DataType.FLOAT, shape: [1, 3, 8, 8] };
    cls.graph.inputs.push(x);
    const conv = cls.graph.addNode(
      "Conv",
      [
        x,
        cls.graph.addInitializer(
          "w",
          makeTensor(DataType.FLOAT, [2, 3, 1, 1], new Float32Array(6).fill(0.5)),
        ),
      ],
      ["y"],
      { name: "conv" },
    );
    conv.outputs[0]!.type = { elemType: DataType.FLOAT, shape: [1, 2, 8, 8] };
    cls.graph.outputs.push(conv.outputs[0]!);
    await saveModel(cls, `${dir}/cls.onnx`);
    const png = await run(
      ...quantizeArgs(`${dir}/cls.onnx`, `${dir}/q.onnx`, "qdq", `${dir}/images`, "--preprocess", "imagenet"),
    );
    assertRefusal(png, `DATA "${dir}/images": Cannot decode image`);
    assertRefusal(png, "30000x30000 = 900000000 pixels (PNG IHDR at byte 8) is over the limit of 33554432");
    assertSmall(png, "PNG bomb");

    // validate on a model whose declared input is [2^28, 4].
    const wide = tinyModel();
    wide.graph.inputs[0]!.type = { elemType: DataType.FLOAT, shape: [2 ** 28, 4] };
    wide.graph.outputs[0]!.type = { elemType: DataType.FLOAT, shape: [2 ** 28, 4] };
    await saveModel(wide, `${dir}/wide.onnx`);
    const val = await run("validate", `${dir}/wide.onnx`);
    assertRefusal(val, "pass --data");
    assertSmall(val, "validate input cap");
    assert(!/\bat .*\.ts:\d+/.test(png.stderr + val.stderr + big.stderr), "no stack trace");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
