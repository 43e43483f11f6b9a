// shiftkit.IntAdd (docs/ops/integer.md; oracle quant/int_add.ts `intAdd`): each branch requantized to the
// output scale with its own dyadic factor (64-bit product, dyadic.wgsl), guarded to +-2^30, added in i32
// and saturated. `Params` from int_add.ts.

@group(0) @binding(0) var<storage, read> A: array<i32>;
@group(0) @binding(1) var<storage, read> B: array<i32>;
@group(0) @binding(2) var<storage, read_write> Y: array<i32>;
@group(0) @binding(3) var<uniform> P: Params;

const GUARD_LO = -1073741824;
const GUARD_HI = 1073741823;

@compute @workgroup_size(64)
fn int_add(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= P.count) {
    return;
  }
  let ya = clamp64(rounding_shift64(A[i], P.aMultiplier, P.aShift), GUARD_LO, GUARD_HI);
  let yb = clamp64(rounding_shift64(B[i], P.bMultiplier, P.bShift), GUARD_LO, GUARD_HI);
  Y[i] = clamp(ya + yb, P.lo, P.hi);
}
