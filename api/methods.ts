/**
 * Which passes each method runs after normalization. One table; adding a method is one entry.
 * @module
 */
import type { Model } from "../onnx/ir.ts";
import { learnedRoundingPass, qdqPass } from "../passes/qdq/mod.ts";
import { integerOnlyPass } from "../passes/intvit/mod.ts";
import { integerRegionQdqPass } from "../passes/intvit/mod.ts";
import { denseShiftPass } from "../passes/denseshift/mod.ts";
import { osPlusPass } from "../passes/osplus/mod.ts";
import { shiftAddPass } from "../passes/shiftadd/mod.ts";
import { weightOnlyPass } from "../passes/weightonly/mod.ts";
import { opsetUpgradePass } from "../passes/normalize/mod.ts";
import type { Pass } from "../passes/pass.ts";
import type { CommonSettings, Method } from "./quantize.ts";

/** Weight-only RTN / GPTQ (passes/weightonly): `--format nbits|qdq`, `--group-size`, `--symmetric`, `--act-order`. */
function weightOnly(method: "rtn" | "gptq", s: CommonSettings): Pass[] {
  const format = s.extra.format ?? "nbits";
  if (format !== "nbits" && format !== "qdq") {
    throw new RangeError(`--format must be nbits or qdq, got ${format}`);
  }
  return [
    ...(format === "qdq" ? [opsetUpgradePass(21)] : []),
    weightOnlyPass({
      method,
      bits: s.bits.weight as 2 | 3 | 4 | 8,
      format,
      exclude: s.exclude,
      symmetric: s.extra.symmetric === true,
      actOrder: s.extra.actOrder === true,
      ...(s.extra.groupSize !== undefined ? { groupSize: Number(s.extra.groupSize) } : {}),
    }),
  ];
}

/** Pass factories by method. */
export const METHOD_PASSES: Record<Method, (model: Model, s: CommonSettings) => Pass[]> = {
  qdq: (_m, s) => [
    opsetUpgradePass(13),
    ...(s.extra.rounding !== undefined && roundingMode(s.extra.rounding) === "learned"
      ? [learnedRoundingPass({ bits: s.bits.weight, exclude: s.exclude })]
      : []),
    qdqPass({
      weightBits: s.bits.weight,
      activationBits: s.bits.activation,
      calibrator: s.calibrator,
      exclude: s.exclude,
    }),
  ],
  osplus: (_m, s) => [
    opsetUpgradePass(13),
    osPlusPass({
      weightBits: s.bits.weight,
      activationBits: s.bits.activation,
      calibrator: s.calibrator,
      exclude: s.exclude,
      // No site is refused by quantize() itself (NothingConvertedError, unless --allow-no-sites), from the
      // pass's site count.
      allowNoSites: true,
    }),
  ],
  shiftadd: (_m, s) => {
    const mode = s.extra.mode ?? "acc", objective = s.extra.objective ?? "output";
    if (mode !== "acc" && mode !== "lat") throw new RangeError(`--mode must be acc or lat, got ${mode}`);
    if (objective !== "weight" && objective !== "output") {
      throw new RangeError(`--objective must be weight or output, got ${objective}`);
    }
    return [
      opsetUpgradePass(18),
      shiftAddPass({
        bits: s.bits.weight as 2 | 3 | 4,
        mode,
        objective,
        exclude: s.exclude,
        ...(s.extra.budget !== undefined ? { budget: Number(s.extra.budget) } : {}),
        ...(s.extra.groupSize !== undefined ? { groupSize: Number(s.extra.groupSize) } : {}),
      }),
    ];
  },
  denseshift: (_m, s) => [
    denseShiftPass({
      bits: s.bits.weight as 3 | 4 | 5 | 6,
      exclude: s.exclude,
      ...(s.extra.minSqnr !== undefined ? { minSqnr: Number(s.extra.minSqnr) } : {}),
      ...(s.extra.keepFirstLast === true ? { keepFirstLast: true } : {}),
      ...(s.extra.maxBits !== undefined ? { maxAverageBits: Number(s.extra.maxBits) } : {}),
      ...(s.extra.sequential !== undefined ? { sequential: Number(s.extra.sequential) } : {}),
      ...(s.extra.rounding !== undefined ? { rounding: roundingMode(s.extra.rounding) } : {}),
      ...(s.extra.budgetBy !== undefined ? { budgetBy: budgetBy(s.extra.budgetBy) } : {}),
      ...(s.extra.blockwise === true ? { blockwise: true } : {}),
    }),
  ],
  rtn: (_m, s) => weightOnly("rtn", s),
  gptq: (_m, s) => weightOnly("gptq", s),
  intvit: (_m, s) => {
    if (s.calibrator !== "minmax" && s.calibrator !== "percentile" && s.calibrator !== "mse") {
      throw new RangeError(`--calibrator for intvit must be minmax, percentile or mse, got ${s.calibrator}`);
    }
    const l2Norm = s.extra.l2Norm ?? "integer";
    if (l2Norm !== "integer" && l2Norm !== "remove") {
      throw new RangeError(`--l2-norm must be integer or remove, got ${l2Norm}`);
    }
    const gelu = s.extra.gelu ?? "lambda";
    if (gelu !== "shift" && gelu !== "lambda") {
      throw new RangeError(`--gelu must be shift or lambda, got ${gelu}`);
    }
    const options = {
      calibrator: s.calibrator,
      gelu,
      keepL2norm: s.extra.keepL2norm === true,
      l2Norm,
      ...(s.extra.nearestResize === false ? { nearestResize: false } : {}),
    } as const;
    if (s.extra.region === undefined) return [integerOnlyPass(options)];
    // Mixed: only the transformer blocks integer-only, the rest QDQ W8A8 (PP-OCRv4 rec).
    if (s.extra.region !== "transformer-blocks") {
      throw new RangeError(`--region must be "transformer-blocks", got ${s.extra.region}`);
    }
    return [opsetUpgradePass(13), integerRegionQdqPass({ ...options, region: "transformer-blocks" })];
  },
};

/** The `--rounding` flag's value, checked. */
function roundingMode(v: unknown): "nearest" | "learned" {
  if (v !== "nearest" && v !== "learned") {
    throw new RangeError(`--rounding must be nearest or learned, got ${v}`);
  }
  return v;
}

/** The `--budget-by` flag's value, checked. */
function budgetBy(v: unknown): "estimate" | "output" {
  if (v !== "estimate" && v !== "output") {
    throw new RangeError(`--budget-by must be estimate or output, got ${v}`);
  }
  return v;
}
