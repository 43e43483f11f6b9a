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

// (b) Tiled: a workgroup of 8x2 invocations computes a 32x128 output tile, each invocation a 16x16 block
// held in registers (rows 16*gid.y.., columns 16*gid.x..), reading its 16 rows of A and 16 columns of B
// straight from storage as vec4s: each K step (16 bytes of K) is 32 vec4 loads feeding 1024 dot4I8Packed.
// Why not workgroup memory: llvmpipe (Mesa 22.3, the adapter here) runs a workgroup as SIMD lanes (8 x 32
// bits) and fetches every storage *and* workgroup load lane by lane, so staging through workgroup memory adds
// stores and barriers (coroutine switches) without making the loads cheaper. What pays is loading fewer words
// per product: a 16x16 block loads 32 words per 256 products (the naive 4x4 block: 8 per 16). Each
// accumulator is updated once per vec4 (one sum of 4 dot4I8Packed), which keeps the spilled accumulators'
// memory traffic low: updating it once per word was about 1.3x slower. Rows and columns past M/N are clamped
// on load and dropped on store, so no padding is needed (conv_i8 feeds this kernel from its im2col buffer).
const RB = 16u; // rows and columns of the block of one invocation
@group(0) @binding(0) var<storage, read> A4: array<vec4u>; // A viewed as vec4 words (Kw % 4 == 0)
@group(0) @binding(1) var<storage, read> B4: array<vec4u>;

@compute @workgroup_size(8, 2)
fn gemm_tiled(@builtin(global_invocation_id) gid: vec3u) {
  let z = gid.z;
  let g = z % p.G;
  let m0 = gid.y * RB;
  let n0 = gid.x * RB;
  let kq = p.Kw / 4u; // vec4 words per row
  var ar: array<u32, RB>;
  var bc: array<u32, RB>;
  for (var i = 0u; i < RB; i++) {
    ar[i] = (g * p.M + min(m0 + i, p.M - 1u)) * kq;
    bc[i] = (z * p.N + min(n0 + i, p.N - 1u)) * kq;
  }
  var acc: array<array<i32, RB>, RB>;
  for (var k = 0u; k < kq; k++) {
    var a: array<vec4u, RB>;
    var b: array<vec4u, RB>;
    for (var i = 0u; i < RB; i++) {
      a[i] = A4[ar[i] + k];
      b[i] = B4[bc[i] + k];
    }
    for (var i = 0u; i < RB; i++) {
      for (var j = 0u; j < RB; j++) {
        acc[i][j] += dot4I8Packed(a[i].x, b[j].x) + dot4I8Packed(a[i].y, b[j].y) +
          dot4I8Packed(a[i].z, b[j].z) + dot4I8Packed(a[i].w, b[j].w);
      }
    }
  }
  // Zero-point corrections with the row and column terms loaded once per block (as store() computes them).
  var za: array<i32, RB>;
  var sa: array<i32, RB>;
  var zb: array<i32, RB>;
  var sb: array<i32, RB>;
  for (var i = 0u; i < RB; i++) {
    let m = g * p.M + min(m0 + i, p.M - 1u);
    let n = min(n0 + i, p.N - 1u);
    za[i] = zpA[select(0u, m, A_ZP_PER_ROW)];
    sa[i] = sumA[m];
    zb[i] = zpB[select(0u, n, B_ZP_PER_COL)];
    sb[i] = sumB[z * p.N + n];
  }
  for (var i = 0u; i < RB; i++) {
    for (var j = 0u; j < RB; j++) {
      if (m0 + i < p.M && n0 + j < p.N) {
        C[(z * p.M + m0 + i) * p.N + n0 + j] = acc[i][j] - zb[j] * sa[i] - za[i] * sb[j] + p.K * za[i] * zb[j];
      }
    }
  }
}
