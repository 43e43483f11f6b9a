/**
 * The ONNX model zoo's int8 MobileNetV2 (W8A8, QOperator) against its float twin (bench/zoo/float_twin.ts) on
 * the evaluation photos: the reference point for DenseShift's top-1 agreement on the same photos.
 *
 * Run: deno run -A bench/zoo/twin_check.ts [--photos imagenet|objects]
 * @module
 */
import { OrtRuntime } from "../../runtime/ort.ts";
import { type PhotoSet, photoSplit, ZOO } from "./models.ts";

const z = ZOO.find((z) => z.name === "mobilenetv2-12")!;
const twin = await OrtRuntime.create(await Deno.readFile(await z.path()));
const int8 = await OrtRuntime.create(
  await Deno.readFile(new URL("models/mobilenetv2-12-int8.onnx", import.meta.url)),
);
const at = Deno.args.indexOf("--photos");
const set = (at >= 0 ? Deno.args[at + 1] : "imagenet") as PhotoSet;
if (set !== "imagenet" && set !== "objects") {
  console.error(`--photos must be imagenet or objects, got ${set}`);
  Deno.exit(2);
}
const { eval: photos } = await z.samples({ calib: 0, eval: photoSplit(set).eval.length, photos: set });
const arg = (x: Float32Array) => x.reduce((bi, v, i) => (v > x[bi]! ? i : bi), 0);
let agree = 0, sum = 0, worst = 1;
for (const f of photos) {
  const a = (await twin.run(f)).output!.data as Float32Array;
  const b = (await int8.run(f)).output!.data as Float32Array;
  let d = 0, na = 0, nb = 0;
  a.forEach((v, i) => (d += v * b[i]!, na += v * v, nb += b[i]! ** 2));
  const c = d / Math.sqrt(na * nb);
  sum += c, worst = Math.min(worst, c);
  if (arg(a) === arg(b)) agree++;
}
await twin.release();
await int8.release();
console.log(
  `int8 release vs float twin, ${photos.length} evaluation photos (${set}): mean cosine ${
    (sum / photos.length).toFixed(4)
  }, ` +
    `worst ${worst.toFixed(4)}, top-1 agreement ${agree}/${photos.length}`,
);
