// The shift-exp of quant/shiftmax.ts (`preShift`, `shiftExp`) and the integer sigmoid of
// quant/shiftsigmoid.ts (`sigmoidFraction`), in u32: included in front of shiftmax.wgsl, shift_sigmoid.wgsl
// and shift_gelu.wgsl. Every step is an integer shift, add or one division; by the ops' preconditions
// (p * 2^n <= 2^30, num * 2^k <= 2^31 - 1) nothing overflows.

// min(floor(u * 2^s), lim) without overflow: only the clamped value is ever used (shiftExp's v1).
fn pre_shift_min(u: u32, s: i32, lim: u32) -> u32 {
  if (s >= 0) {
    let su = u32(s);
    if (u > (lim >> su)) {
      return lim;
    }
    return min(u << su, lim);
  }
  return min(u >> u32(-s), lim);
}

// shiftExp(v, p, n) for v1 = min(v, n * p).
fn shift_exp(v1: u32, p: u32, n: u32) -> u32 {
  let lim = n * p;
  let t = v1 + (v1 >> 1u) - (v1 >> 4u);
  if (t >= lim) {
    return 0u;
  }
  let q = t / p;
  let r = t - q * p;
  return (2u * p - r) << (n - 1u - q);
}

// floor(sigmoid(x) * 2^k): num = x >= 0 ? E0 : b, D = E0 + b, with b the shift-exp of |x| pre-shifted.
fn sigmoid_fraction(x: i32, p: u32, n: u32, s: i32, k: u32) -> u32 {
  let e0 = p << n;
  let ax = select(bitcast<u32>(x), 0u - bitcast<u32>(x), x < 0);
  let b = shift_exp(pre_shift_min(ax, s, n * p), p, n);
  let num = select(b, e0, x >= 0);
  return (num << k) / (e0 + b);
}
