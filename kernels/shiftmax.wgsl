// shiftkit.Shiftmax (docs/ops/integer.md; oracle quant/shiftmax.ts `shiftmax`): one 64-invocation workgroup
// per row of the last axis. Row max and row sum are workgroup reductions; both are exact whatever the order
// (max, and a u32 sum bounded by rowLength * p * 2^n <= 2^31 - 1). Needs shift_exp.wgsl.
//   E_j = shiftExp(min(floor((m - x_j) * 2^s), n*p)); S = sum E_j; f = floor((2^31 - 1) / S)
//   y_j = floor(E_j * f / 2^(32 - output_bits))        (E_j * f <= 2^31 - 1)

@group(0) @binding(0) var<storage, read> X: array<i32>;
@group(0) @binding(1) var<storage, read_write> Y: array<i32>;
@group(0) @binding(2) var<uniform> P: Params;

var<workgroup> redMax: array<i32, 64>;
var<workgroup> redSum: array<u32, 64>;

// E of element j of a row whose max is m: m - x_j is computed in u32 (exact, m >= x_j, < 2^32).
fn row_exp(m: i32, x: i32) -> u32 {
  let lim = P.n * P.p;
  return shift_exp(pre_shift_min(bitcast<u32>(m) - bitcast<u32>(x), P.shift, lim), P.p, P.n);
}

@compute @workgroup_size(64)
fn shiftmax(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) li: u32,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= P.rows) {
    return; // uniform: depends on the workgroup only
  }
  let base = row * P.len;
  var m = -2147483647 - 1;
  for (var j = li; j < P.len; j += 64u) {
    m = max(m, X[base + j]);
  }
  redMax[li] = m;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (li < s) {
      redMax[li] = max(redMax[li], redMax[li + s]);
    }
    workgroupBarrier();
  }
  m = redMax[0];
  var sum = 0u;
  for (var j = li; j < P.len; j += 64u) {
    sum += row_exp(m, X[base + j]);
  }
  redSum[li] = sum;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (li < s) {
      redSum[li] += redSum[li + s];
    }
    workgroupBarrier();
  }
  let f = 0x7fffffffu / redSum[0];
  for (var j = li; j < P.len; j += 64u) {
    Y[base + j] = i32((row_exp(m, X[base + j]) * f) >> P.down);
  }
}
