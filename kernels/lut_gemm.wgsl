// shiftkit.ShiftAddMatMul as a LUT GEMM (ShiftAddLLM, arXiv 2406.05981 §3.1, after LUT-GEMM), following the
// float32 operation order of docs/ops/shiftadd.md ("Exact arithmetic"), so that results are bit-identical to
// quant/shiftadd_matmul.ts `shiftAddMatMulRef` on an adapter without FMA contraction or subnormal flushing.
//
// A 64-invocation workgroup owns TM = 2 rows of X and 64 * OPT outputs. K is walked in chunks of JC = 8
// bytes (64 activations): the 2 x 8 tables of 256 entries (16 KiB) are built in workgroup memory, then each
// invocation looks up its outputs' plane bytes. Table entry b of 8 activations x_0..x_7 is the left fold
// ((v_0 + v_1) + ...) + v_7, v_t = bit t of b ? x_t : -x_t: four invocations share a table, each computing
// a quarter of its 256 entries as that fold (7 additions each, in the spec's order; a doubling build in a
// private array costs minutes of llvmpipe shader compilation).
// Group sums s(i, n, g) are accumulated per plane in registers and written to scratch S when their group
// ends; the final loop adds y = y + alpha(i, n, g) * s(i, n, g) in the spec's (i, g) order, each alpha
// rebuilt exactly from its power-of-two terms with ldexp (exact in f32 by the encoding's 24-exponent span).
// `Params` from lut_gemm.ts.

@group(0) @binding(0) var<storage, read> X: array<f32>; // [M][K]
@group(0) @binding(1) var<storage, read> planes: array<u32>; // [q][N][Jw]: plane bytes, 4 per word, LSB first
@group(0) @binding(2) var<storage, read> alphaExp: array<i32>; // [q][N][G][T], -128 = no term
@group(0) @binding(3) var<storage, read> alphaSign: array<u32>; // [q][N][G]
@group(0) @binding(4) var<storage, read_write> S: array<f32>; // [M][N][q][G] group sums
@group(0) @binding(5) var<storage, read_write> Y: array<f32>; // [M][N]
@group(0) @binding(6) var<uniform> P: Params;

const TM = 2u; // rows per workgroup
const JC = 8u; // plane bytes (tables) per chunk
const OPT = 4u; // outputs per invocation
const MAXQ = 8u; // planes (attribute bits <= 8)
var<workgroup> lut: array<f32, 4096>; // [TM][JC][256]

fn alpha(i: u32, n: u32, g: u32) -> f32 {
  let a = (i * P.N + n) * P.G + g;
  let signs = alphaSign[a];
  var v = 0.0;
  for (var t = 0u; t < P.T; t++) {
    let e = alphaExp[a * P.T + t];
    if (e != -128) {
      let term = ldexp(1.0, e);
      v += select(term, -term, ((signs >> t) & 1u) != 0u);
    }
  }
  return v;
}

@compute @workgroup_size(64)
fn lut_gemm(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let m0 = wid.y * TM;
  let n0 = wid.x * 64u * OPT;
  var cur: array<f32, 64>; // [OPT][TM][MAXQ] running group sums
  // Table-building role: table li / 4 = (row r, byte jj), quarter h of its 256 entries.
  let br = (li / 4u) / JC;
  let bj = (li / 4u) % JC;
  let h = li % 4u;
  let brow = m0 + br;
  for (var j0 = 0u; j0 < P.J; j0 += JC) {
    var xv: array<f32, 8>;
    for (var t = 0u; t < 8u; t++) {
      let k = (j0 + bj) * 8u + t;
      xv[t] = select(0.0, X[min(brow, P.M - 1u) * P.K + min(k, P.K - 1u)], brow < P.M && k < P.K);
    }
    // Entry b = (h << 6) | e of this quarter: the left fold over bits 0..7 (7 additions, spec order).
    let base = (br * JC + bj) * 256u + h * 64u;
    for (var e = 0u; e < 64u; e++) {
      let b = (h << 6u) | e;
      var v = select(-xv[0], xv[0], (b & 1u) != 0u);
      for (var t = 1u; t < 8u; t++) {
        v = v + select(-xv[t], xv[t], ((b >> t) & 1u) != 0u);
      }
      lut[base + e] = v;
    }
    workgroupBarrier();
    for (var o = 0u; o < OPT; o++) {
      let n = n0 + li + 64u * o;
      if (n >= P.N) {
        continue;
      }
      for (var i = 0u; i < P.q; i++) {
        let w = (i * P.N + n) * P.Jw + j0 / 4u;
        let w0 = planes[w];
        let w1 = select(0u, planes[min(w + 1u, arrayLength(&planes) - 1u)], j0 / 4u + 1u < P.Jw);
        for (var jj = 0u; jj < JC; jj++) {
          let j = j0 + jj;
          if (j >= P.J) {
            break;
          }
          let byte = (select(w0, w1, jj >= 4u) >> ((jj % 4u) * 8u)) & 0xffu;
          let g = (8u * j) / P.gs;
          let last = j + 1u == P.J || (8u * (j + 1u)) / P.gs != g;
          for (var r = 0u; r < TM; r++) {
            let c = (o * TM + r) * MAXQ + i;
            cur[c] = cur[c] + lut[(r * JC + jj) * 256u + byte];
            if (last) {
              if (m0 + r < P.M) {
                S[(((m0 + r) * P.N + n) * P.q + i) * P.G + g] = cur[c];
              }
              cur[c] = 0.0;
            }
          }
        }
      }
    }
    workgroupBarrier();
  }
  for (var o = 0u; o < OPT; o++) {
    let n = n0 + li + 64u * o;
    for (var r = 0u; r < TM; r++) {
      let m = m0 + r;
      if (n >= P.N || m >= P.M) {
        continue;
      }
      var y = 0.0;
      for (var i = 0u; i < P.q; i++) {
        for (var g = 0u; g < P.G; g++) {
          y = y + alpha(i, n, g) * S[((m * P.N + n) * P.q + i) * P.G + g];
        }
      }
      Y[m * P.N + n] = y;
    }
  }
}
