// shiftkit.ShiftGelu / LambdaShiftGelu (docs/ops/integer.md; oracle quant/shiftgelu.ts, via
// quant/shiftsigmoid.ts `shiftSwish`): y = floor((x * sig + 2^14) / 2^15) with sig = floor(sigmoid(1.702 x)
// * 2^15) from the shift-exp (1.702 folded into p). |x * sig| <= 2^30: i32. Needs shift_exp.wgsl.

// The lambda pre-shift of |x|: 0 for plain ShiftGelu (the "plain" variant), P.lambda for LambdaShiftGelu.
override USE_LAMBDA: bool = false;

@group(0) @binding(0) var<storage, read> X: array<i32>;
@group(0) @binding(1) var<storage, read_write> Y: array<i32>;
@group(0) @binding(2) var<uniform> P: Params;

@compute @workgroup_size(64)
fn shift_gelu(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= P.count) {
    return;
  }
  let x = X[i];
  let sig = sigmoid_fraction(x, P.p, P.n, select(0, P.lambda, USE_LAMBDA), 15u);
  Y[i] = (x * i32(sig) + 16384) >> 15u;
}
