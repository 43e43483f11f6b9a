// shiftkit.Requantize (docs/ops/integer.md; oracle quant/dyadic.ts `requantize`), elementwise:
//   y = clamp(floor((x * b + 2^(c-1)) / 2^c) + zero_point, lo, hi)
// per tensor or per channel (channel = (i / inner) % channels). Needs dyadic.wgsl; `Params` from
// requantize.ts (defineStruct).

@group(0) @binding(0) var<storage, read> X: array<i32>;
@group(0) @binding(1) var<storage, read> mult: array<i32>; // [channels] or [1]
@group(0) @binding(2) var<storage, read> shift: array<u32>; // [channels] or [1]
@group(0) @binding(3) var<storage, read_write> Y: array<i32>;
@group(0) @binding(4) var<uniform> P: Params;

@compute @workgroup_size(64)
fn requantize(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= P.count) {
    return;
  }
  let ch = (i / P.inner) % P.channels;
  let b = mult[select(0u, ch, P.multPerChannel != 0u)];
  let c = shift[select(0u, ch, P.shiftPerChannel != 0u)];
  let v = add64(rounding_shift64(X[i], b, c), sext64(P.zeroPoint));
  Y[i] = clamp64(v, P.lo, P.hi);
}
