// Plain tiled float32 GEMM: C [M][N] = A [M][K] x B [K][N], all row-major. The baseline that LUT-based
// kernels are compared against. A 16x16 workgroup computes a 64x64 tile of C, each invocation a 4x4 block
// with rows and columns interleaved at stride 16; each K step stages a 64x16 slice of A and a 16x64 slice
// of B in workgroup memory. Out-of-range elements are staged as 0, so any M, N, K works.
// `Params` is declared by gemm_f32.ts (defineStruct).

@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const TILE = 64u;
const KT = 16u;
var<workgroup> As: array<f32, 1024>; // [TILE][KT]
var<workgroup> Bs: array<f32, 1024>; // [KT][TILE]

@compute @workgroup_size(16, 16)
fn gemm_f32(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_id) lid: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let tm = wid.y * TILE;
  let tn = wid.x * TILE;
  var acc: array<array<f32, 4>, 4>;
  for (var k0 = 0u; k0 < p.K; k0 += KT) {
    // 256 invocations stage 1024 elements of each tile: 4 each.
    for (var e = 0u; e < 4u; e++) {
      let t = li + 256u * e;
      let ar = tm + t / KT;
      let ak = k0 + t % KT;
      As[t] = select(0.0, A[min(ar, p.M - 1u) * p.K + min(ak, p.K - 1u)], ar < p.M && ak < p.K);
      let bk = k0 + t / TILE;
      let bc = tn + t % TILE;
      Bs[t] = select(0.0, B[min(bk, p.K - 1u) * p.N + min(bc, p.N - 1u)], bk < p.K && bc < p.N);
    }
    workgroupBarrier();
    for (var k = 0u; k < KT; k++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        a[i] = As[(lid.y + 16u * i) * KT + k];
        b[i] = Bs[k * TILE + lid.x + 16u * i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) {
      let m = tm + lid.y + 16u * i;
      let n = tn + lid.x + 16u * j;
      if (m < p.M && n < p.N) {
        C[m * p.N + n] = acc[i][j];
      }
    }
  }
}
