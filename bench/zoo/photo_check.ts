/**
 * The float twin of the ImageNet MobileNetV2 on a photo set: top-1 class index, its softmax probability and the
 * logit margin to the second class, per photo. The check behind the choice of `IMAGENET_PHOTOS` (a sensible
 * ImageNet input has a confident, plausible top-1); it never runs a quantized model.
 *
 * Run: deno run -A bench/zoo/photo_check.ts [--photos imagenet|objects]
 * @module
 */
import { OrtRuntime } from "../../runtime/ort.ts";
import { type PhotoSet, photoSplit, ZOO } from "./models.ts";

const i = Deno.args.indexOf("--photos");
const set = (i >= 0 ? Deno.args[i + 1] : "imagenet") as PhotoSet;
if (set !== "imagenet" && set !== "objects") {
  console.error(`--photos must be imagenet or objects, got ${set}`);
  Deno.exit(2);
}
const z = ZOO.find((z) => z.name === "mobilenetv2-12")!;
const split = photoSplit(set);
const samples = await z.samples({ calib: split.calib.length, eval: split.eval.length, photos: set });
const twin = await OrtRuntime.create(await Deno.readFile(await z.path()));
console.log("| set | photo | top-1 | p(top-1) | logit margin to 2nd |");
console.log("|---|---|---|---|---|");
let close = 0;
for (
  const [kind, names, feeds] of [["calib", split.calib, samples.calib], [
    "eval",
    split.eval,
    samples.eval,
  ]] as const
) {
  for (let k = 0; k < feeds.length; k++) {
    const x = (await twin.run(feeds[k]!)).output!.data as Float32Array;
    const order = [...x.keys()].sort((a, b) => x[b]! - x[a]!);
    const max = x[order[0]!]!;
    const p = 1 / x.reduce((s, v) => s + Math.exp(v - max), 0);
    const margin = max - x[order[1]!]!;
    if (kind === "eval" && margin < 0.45) close++;
    console.log(`| ${kind} | ${names[k]} | ${order[0]} | ${p.toFixed(3)} | ${margin.toFixed(2)} |`);
  }
}
await twin.release();
console.log(
  `${set}: ${samples.eval.length} evaluation photos, ${close} with a top-2 logit margin under 0.45`,
);
