// DenseShift shift-GEMM: shiftkit.ShiftMatMul (docs/ops/denseshift.md; oracles quant/dense_shift.ts
// `shiftMatMul` and `shiftMatMulInteger`). Weight codes arrive unpacked and transposed, codes[n][k] =
// (sign << (bits - 1)) | p; one invocation per output (m, n), K walked in order.
//   shift_gemm_f32: acc = sum_k +-ldexp(x[m, k], p) in f32 (each term exact: an exponent add), then
//                   y = acc * alpha[n] (+ bias[n]). Bit-identical to the reference whenever its partial
//                   sums are f32-exact (the data-driven cases); otherwise within f32 summation error.
//   shift_gemm_i8:  acc = sum_k +-(x[m, k] << p) in i32 (exact under shiftAccumulatorBound <= 2^31 - 1),
//                   y = f32(acc) * f32(x_scale * alpha[n]).
// `Params` from shift_gemm.ts.

@group(0) @binding(0) var<storage, read> X: array<u32>; // [M][K]: f32 bits or i32 (int8 widened)
@group(0) @binding(1) var<storage, read> codes: array<u32>; // [N][K]
@group(0) @binding(2) var<storage, read> alpha: array<f32>; // [N] (times x_scale for the integer path)
@group(0) @binding(3) var<storage, read> bias: array<f32>; // [N] or [1] (unused when hasBias = 0)
@group(0) @binding(4) var<storage, read_write> Y: array<f32>; // [M][N]
@group(0) @binding(5) var<storage, read_write> Acc: array<i32>; // [M][N] (integer path) or [1]
@group(0) @binding(6) var<uniform> P: Params;

@compute @workgroup_size(64)
fn shift_gemm_f32(@builtin(global_invocation_id) gid: vec3u) {
  let n = gid.x;
  let m = gid.y;
  if (n >= P.N || m >= P.M) {
    return;
  }
  var acc = 0.0;
  for (var k = 0u; k < P.K; k++) {
    let c = codes[n * P.K + k];
    let t = ldexp(bitcast<f32>(X[m * P.K + k]), i32(c & P.pmax));
    acc = acc + select(t, -t, c > P.pmax);
  }
  var y = acc * alpha[n];
  if (P.hasBias != 0u) {
    y = y + bias[n];
  }
  Y[m * P.N + n] = y;
  // Keep Acc in this entry point's "auto" layout so both variants bind the same 7 buffers (never taken).
  if (P.K == 0xffffffffu) {
    Acc[0] = 0;
  }
}

@compute @workgroup_size(64)
fn shift_gemm_i8(@builtin(global_invocation_id) gid: vec3u) {
  let n = gid.x;
  let m = gid.y;
  if (n >= P.N || m >= P.M) {
    return;
  }
  var acc = 0;
  for (var k = 0u; k < P.K; k++) {
    let c = codes[n * P.K + k];
    let t = bitcast<i32>(X[m * P.K + k]) << (c & P.pmax);
    acc += select(t, -t, c > P.pmax);
  }
  Acc[m * P.N + n] = acc;
  var y = f32(acc) * alpha[n];
  if (P.hasBias != 0u) {
    y = y + bias[n];
  }
  Y[m * P.N + n] = y;
}
