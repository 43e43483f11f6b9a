// 64-bit integer helpers for the dyadic requantization step (quant/dyadic.ts `roundingShift`), which ONNX
// computes in int64 and WGSL (no i64) emulates: a signed 64-bit value is a vec2u (x = low word, y = high
// word, two's complement). The 32x32 -> 64 product uses 16-bit limbs, like quant/dyadic.ts does in doubles.
// Included in front of requantize.wgsl, int_add.wgsl and ilayernorm.wgsl.

// Unsigned 32 x 32 -> 64 product from four 16 x 16 -> 32 partial products (each exact in u32).
fn mul_u32_wide(a: u32, b: u32) -> vec2u {
  let a0 = a & 0xffffu;
  let a1 = a >> 16u;
  let b0 = b & 0xffffu;
  let b1 = b >> 16u;
  let p00 = a0 * b0;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu); // < 3 * 2^16: no overflow
  return vec2u((p00 & 0xffffu) | (mid << 16u), p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u));
}

fn neg64(v: vec2u) -> vec2u {
  let lo = ~v.x + 1u;
  return vec2u(lo, ~v.y + select(0u, 1u, lo == 0u));
}

fn add64(a: vec2u, b: vec2u) -> vec2u {
  let lo = a.x + b.x;
  return vec2u(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

// Sign-extend an i32 to 64 bits.
fn sext64(v: i32) -> vec2u {
  return vec2u(bitcast<u32>(v), select(0u, 0xffffffffu, v < 0));
}

// Signed 32 x 32 -> 64 product: magnitudes (|x| <= 2^31 fits u32), then the sign.
fn mul_i32_wide(x: i32, b: i32) -> vec2u {
  let ax = select(bitcast<u32>(x), 0u - bitcast<u32>(x), x < 0);
  let ab = select(bitcast<u32>(b), 0u - bitcast<u32>(b), b < 0);
  let p = mul_u32_wide(ax, ab);
  return select(p, neg64(p), (x < 0) != (b < 0));
}

// Arithmetic right shift of a 64-bit value by c in [1, 63] (floor division by 2^c).
fn sar64(v: vec2u, c: u32) -> vec2u {
  let hi = bitcast<i32>(v.y);
  if (c < 32u) {
    return vec2u((v.x >> c) | (v.y << (32u - c)), bitcast<u32>(hi >> c));
  }
  if (c == 32u) {
    return vec2u(v.y, bitcast<u32>(hi >> 31u));
  }
  return vec2u(bitcast<u32>(hi >> (c - 32u)), bitcast<u32>(hi >> 31u));
}

// floor((x * b + 2^(c-1)) / 2^c), 1 <= c <= 62: |x * b| < 2^62 and the rounding term < 2^62, so the sum
// fits a signed 64-bit value (quant/dyadic.ts `roundingShift`, exact here for every result).
fn rounding_shift64(x: i32, b: i32, c: u32) -> vec2u {
  let r = c - 1u;
  var half = vec2u(0u, 0u);
  if (r < 32u) {
    half.x = 1u << r;
  } else {
    half.y = 1u << (r - 32u);
  }
  return sar64(add64(mul_i32_wide(x, b), half), c);
}

// Saturate a signed 64-bit value into [lo, hi] (both int32).
fn clamp64(v: vec2u, lo: i32, hi: i32) -> i32 {
  let h = bitcast<i32>(v.y);
  let fitsPositive = h == 0 && v.x < 0x80000000u;
  let fitsNegative = h == -1 && v.x >= 0x80000000u;
  if (!fitsPositive && !fitsNegative) {
    return select(lo, hi, h >= 0);
  }
  return clamp(bitcast<i32>(v.x), lo, hi);
}
