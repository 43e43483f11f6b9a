import { assert, assertEquals } from "@std/assert";
import { shiftAddMatMulRef, shiftAddTolerance } from "../quant/shiftadd_matmul.ts";
import { type ShiftAddPacked, shiftAddTermBytes } from "../quant/shiftadd_pack.ts";
import { loadCases, noGpuNotice, Rng, typed } from "./_test_util.ts";
import { shiftAddMatMulGpu } from "./lut_gemm.ts";

const noGpu = await noGpuNotice("lut_gemm_test.ts");
const cases = await loadCases("ShiftAddMatMul");

/** Random valid weights: alphas of up to `terms` decreasing power-of-two terms within a 24-exponent span. */
function randomPacked(
  rng: Rng,
  k: number,
  n: number,
  q: number,
  groupSize: number,
  terms: number,
): ShiftAddPacked {
  const J = Math.ceil(k / 8), G = Math.ceil(k / groupSize);
  const planes = new Uint8Array(q * n * J);
  for (let r = 0; r < q * n; r++) {
    for (let j = 0; j < J; j++) {
      const valid = Math.min(8, k - 8 * j);
      planes[r * J + j] = rng.u32() & ((1 << valid) - 1);
    }
  }
  const R = shiftAddTermBytes(terms);
  const alphaExp = new Int8Array(q * n * G).fill(-128);
  const alphaTerms = new Uint8Array(q * n * G * R);
  for (let a = 0; a < q * n * G; a++) {
    const used = rng.int(0, terms);
    if (used > 0) alphaExp[a] = rng.int(-12, 3);
    for (let t = 1; t < used; t++) {
      const nib = rng.int(1, 7) | (rng.u32() % 2 ? 8 : 0);
      alphaTerms[a * R + ((t - 1) >> 1)]! |= nib << (4 * ((t - 1) & 1));
    }
  }
  return { k, n, bits: q, groupSize, terms, mode: "accuracy", planes, alphaExp, alphaTerms };
}

Deno.test({
  name:
    "shiftAddMatMulGpu is bit-identical to shiftAddMatMulRef on every case of tests/ops/ShiftAddMatMul.json",
  ignore: noGpu !== null,
  async fn() {
    for (const c of cases) {
      const at = c.attributes as Record<string, number | string>;
      const x = { data: typed(c.inputs.X!) as Float32Array, dims: c.inputs.X!.dims };
      const [q, n, J] = c.inputs.planes!.dims as [number, number, number];
      const K = x.dims[x.dims.length - 1]!;
      assert(Math.ceil(K / 8) === J);
      const packed: ShiftAddPacked = {
        k: K,
        n,
        bits: q,
        groupSize: Number(at.group_size),
        terms: Number(at.terms),
        mode: (at.mode ?? "accuracy") as "accuracy" | "latency",
        planes: typed(c.inputs.planes!) as Uint8Array,
        alphaExp: typed(c.inputs.alpha_exp!) as Int8Array,
        alphaTerms: typed(c.inputs.alpha_terms!) as Uint8Array,
      };
      const got = await shiftAddMatMulGpu(x, packed);
      assertEquals(got.dims, c.outputs.Y!.dims, c.name);
      assertEquals(got.data, typed(c.outputs.Y!) as Float32Array, c.name);
      assertEquals(got.data, shiftAddMatMulRef(x, packed).data, c.name);
    }
  },
});

Deno.test({
  name:
    "shiftAddMatMulGpu is bit-identical to shiftAddMatMulRef on random shapes (tile edges, groups, 1..8 planes)",
  ignore: noGpu !== null,
  async fn() {
    const rng = new Rng(31);
    const shapes: [number, number, number, number, number][] = [
      // M, K, N, q, group size
      [1, 5, 1, 1, 8],
      [3, 13, 7, 3, 13],
      [5, 64, 257, 2, 16],
      [2, 72, 300, 4, 24],
      [7, 130, 33, 8, 64],
      [4, 200, 70, 3, 1000],
    ];
    for (const [m, k, n, q, gs] of shapes) {
      const x = { data: Float32Array.from({ length: m * k }, () => (rng.float() - 0.5) * 8), dims: [m, k] };
      const packed = randomPacked(rng, k, n, q, gs, 3);
      const want = shiftAddMatMulRef(x, packed).data;
      const got = (await shiftAddMatMulGpu(x, packed)).data;
      const tol = shiftAddTolerance(x, packed);
      for (let i = 0; i < want.length; i++) {
        assert(Math.abs(got[i]! - want[i]!) <= tol[i]!, `${m}x${k}x${n} q${q} [${i}]`);
      }
      assertEquals(got, want, `${m}x${k}x${n} q${q} gs${gs}`);
    }
  },
});
