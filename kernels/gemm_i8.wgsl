// int8 x int8 -> int32 GEMM with zero points (ONNX MatMulInteger semantics), batched and grouped.
//
// Operands arrive packed by kernels/gemm_i8.ts: 4 signed bytes per u32 word, K padded with zero bytes to a
// multiple of 16 (Kw words per row, Kw % 4 == 0). uint8 operands are shifted to int8 by -128 (and so are
// their zero points), which leaves every (x - zero point) difference unchanged.
//   A   [G][M][Kw]   rows of A (per group g = z % G)
//   B   [Z][N][Kw]   columns of B (B transposed, so a column's K bytes are contiguous)
// The products use dot4I8Packed; zero points are applied exactly afterwards with sum corrections:
//   sum_k (a - za)(b - zb) = sum_k a*b - zb*sum_k a - za*sum_k b + K*za*zb
// All i32 arithmetic wraps modulo 2^32 (WGSL runtime integer overflow), as ONNX int32 accumulation does.
// `Params` is declared by gemm_i8.ts (defineStruct).

// Zero point of A: one per row (per output channel for conv) when true, else zpA[0].
override A_ZP_PER_ROW: bool = false;
// Zero point of B: one per column when true, else zpB[0].
override B_ZP_PER_COL: bool = false;

@group(0) @binding(0) var<storage, read> A: array<u32>;
@group(0) @binding(1) var<storage, read> B: array<u32>;
@group(0) @binding(2) var<storage, read> sumA: array<i32>; // [G][M]: sum over K of the (shifted) A row
@group(0) @binding(3) var<storage, read> sumB: array<i32>; // [Z][N]: sum over K of the (shifted) B column
@group(0) @binding(4) var<storage, read> zpA: array<i32>; // [G][M] or [1]
@group(0) @binding(5) var<storage, read> zpB: array<i32>; // [N] or [1]
@group(0) @binding(6) var<storage, read_write> C: array<i32>; // [Z][M][N]
@group(0) @binding(7) var<uniform> p: Params;

// Apply the zero-point corrections to one accumulator and store it (rows/columns past M/N are dropped).
fn store(acc: i32, m: u32, n: u32, z: u32) {
  if (m >= p.M || n >= p.N) {
    return;
  }
  let g = z % p.G;
  let za = zpA[select(0u, g * p.M + m, A_ZP_PER_ROW)];
  let zb = zpB[select(0u, n, B_ZP_PER_COL)];
  let v = acc - zb * sumA[g * p.M + m] - za * sumB[z * p.N + n] + p.K * za * zb;
  C[(z * p.M + m) * p.N + n] = v;
}

// (a) Naive: one invocation per 4x4 output block, operands read straight from storage.
@compute @workgroup_size(8, 8)
fn gemm_naive(@builtin(global_invocation_id) gid: vec3u) {
  let z = gid.z;
  let m0 = gid.y * 4u;
  let n0 = gid.x * 4u;
  let aBase = (z % p.G) * p.M * p.Kw;
  let bBase = z * p.N * p.Kw;
  var ar: array<u32, 4>;
  var bc: array<u32, 4>;
  for (var i = 0u; i < 4u; i++) {
    ar[i] = aBase + min(m0 + i, p.M - 1u) * p.Kw;
    bc[i] = bBase + min(n0 + i, p.N - 1u) * p.Kw;
  }
  var acc: array<array<i32, 4>, 4>;
  for (var k = 0u; k < p.Kw; k++) {
    var a: array<u32, 4>;
    var b: array<u32, 4>;
    for (var i = 0u; i < 4u; i++) {
      a[i] = A[ar[i] + k];
      b[i] = B[bc[i] + k];
    }
    for (var i = 0u; i < 4u; i++) {
      for (var j = 0u; j < 4u; j++) {
        acc[i][j] = dot4I8Packed(a[i], b[j]) + acc[i][j];
      }
    }
  }
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) {
      store(acc[i][j], m0 + i, n0 + j, z);
    }
  }
}

// (b) Tiled: an 8x8 workgroup computes a 64x64 output tile, each invocation an 8x8 block (rows 8*ly.., columns
// 8*lx..). Each K step stages KT words (4*KT bytes of K) of 64 rows of A and 64 columns of B in workgroup
// memory, laid out [kw][row] as vec4s so an invocation fetches its 8 rows (or columns) with two vec4 reads:
// 4 reads feed 64 dot4I8Packed. Every A and B word is fetched from storage once per workgroup, not once
// per invocation block as in the naive kernel.
const TILE = 64u;
const KT = 4u; // words per K step: 16 bytes of K, the padding granule of the packer (Kw % KT == 0)
var<workgroup> As: array<vec4u, 64>; // KT * TILE / 4: As[kw * 16 + q] = rows 4q..4q+3 at word kw
var<workgroup> Bs: array<vec4u, 64>;

@compute @workgroup_size(8, 8)
fn gemm_tiled(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let z = wid.z;
  let tm = wid.y * TILE;
  let tn = wid.x * TILE;
  // Invocation li stages row li of the A tile and column li of the B tile (KT words each) per step.
  let aRow = (z % p.G) * p.M * p.Kw + min(tm + li, p.M - 1u) * p.Kw;
  let bRow = z * p.N * p.Kw + min(tn + li, p.N - 1u) * p.Kw;
  let q = li / 4u;
  let lane = li % 4u;
  var acc: array<array<i32, 8>, 8>;
  for (var k0 = 0u; k0 < p.Kw; k0 += KT) {
    for (var kw = 0u; kw < KT; kw++) {
      As[kw * 16u + q][lane] = A[aRow + k0 + kw];
      Bs[kw * 16u + q][lane] = B[bRow + k0 + kw];
    }
    workgroupBarrier();
    for (var kw = 0u; kw < KT; kw++) {
      let a0 = As[kw * 16u + lid.y * 2u];
      let a1 = As[kw * 16u + lid.y * 2u + 1u];
      let b0 = Bs[kw * 16u + lid.x * 2u];
      let b1 = Bs[kw * 16u + lid.x * 2u + 1u];
      let a = array<u32, 8>(a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w);
      let b = array<u32, 8>(b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w);
      for (var i = 0u; i < 8u; i++) {
        for (var j = 0u; j < 8u; j++) {
          acc[i][j] = dot4I8Packed(a[i], b[j]) + acc[i][j];
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 8u; i++) {
    for (var j = 0u; j < 8u; j++) {
      store(acc[i][j], tm + lid.y * 8u + i, tn + lid.x * 8u + j, z);
    }
  }
}
