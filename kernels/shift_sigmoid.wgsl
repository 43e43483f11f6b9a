// shiftkit.ShiftSigmoid (docs/ops/integer.md; oracle quant/shiftsigmoid.ts `shiftSigmoid`), elementwise:
// y = min(sigmoid_fraction(x, k = output_bits - 1), 2^k - 1). Needs shift_exp.wgsl; `Params` from
// shift_sigmoid.ts.

@group(0) @binding(0) var<storage, read> X: array<i32>;
@group(0) @binding(1) var<storage, read_write> Y: array<i32>;
@group(0) @binding(2) var<uniform> P: Params;

@compute @workgroup_size(64)
fn shift_sigmoid(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= P.count) {
    return;
  }
  let s = sigmoid_fraction(X[i], P.p, P.n, P.shift, P.k);
  Y[i] = i32(min(s, (1u << P.k) - 1u));
}
