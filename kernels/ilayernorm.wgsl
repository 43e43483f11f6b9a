// shiftkit.ILayerNorm (docs/ops/integer.md; oracle quant/ilayernorm.ts `iLayerNorm`): one 64-invocation
// workgroup per row of the last axis; sum and sum of squares are workgroup reductions (exact integers, any
// order: int32 by the op's preconditions). Needs dyadic.wgsl for the output requantization.

@group(0) @binding(0) var<storage, read> X: array<i32>;
@group(0) @binding(1) var<storage, read> gamma: array<i32>;
@group(0) @binding(2) var<storage, read> beta: array<i32>;
@group(0) @binding(3) var<storage, read_write> Y: array<i32>;
@group(0) @binding(4) var<uniform> P: Params;

var<workgroup> red: array<u32, 64>;

// Exact floor(sqrt(v)) digit by digit (quant/ilayernorm.ts `isqrt`).
fn isqrt(v: u32) -> u32 {
  var rem = v;
  var root = 0u;
  for (var bit = 1u << 30u; bit >= 1u; bit >>= 2u) {
    if (rem >= root + bit) {
      rem -= root + bit;
      root = (root >> 1u) + bit;
    } else {
      root >>= 1u;
    }
  }
  return root;
}

// Sum of the workgroup's `v` (u32 wrap-around: exact as two's complement for int32 sums too).
fn reduce_sum(li: u32, v: u32) -> u32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (li < s) {
      red[li] += red[li + s];
    }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier(); // red is reused by the next reduction
  return total;
}

@compute @workgroup_size(64)
fn ilayernorm(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= P.rows) {
    return; // uniform: depends on the workgroup only
  }
  let base = row * P.len;
  let n = i32(P.len);
  var part = 0u;
  for (var j = li; j < P.len; j += 64u) {
    part += bitcast<u32>(X[base + j]);
  }
  let sum = bitcast<i32>(reduce_sum(li, part));
  // mean = floor((2 sum + N) / (2N)) = q + (2r >= N) with sum = qN + r, 0 <= r < N (no 2*sum overflow).
  var q = sum / n;
  if (q * n > sum) {
    q -= 1;
  }
  let mean = q + select(0, 1, 2 * (sum - q * n) >= n);
  part = 0u;
  for (var j = li; j < P.len; j += 64u) {
    let a = u32(abs(X[base + j] - mean)) >> P.varShift;
    part += a * a;
  }
  let den = i32(max(1u, isqrt(reduce_sum(li, part))) << P.varShift);
  for (var j = li; j < P.len; j += 64u) {
    let w = clamp(((X[base + j] - mean) * 16384) / den, -32768, 32767);
    let acc = w * gamma[j] + beta[j];
    Y[base + j] = clamp64(rounding_shift64(acc, P.multiplier, P.shift), P.lo, P.hi);
  }
}
