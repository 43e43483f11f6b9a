// Integer element-wise ops of the default domain on 32-bit words (kernels/int_elementwise.ts; oracle: the CPU
// evaluator's kernels in onnx/evaluate/ops/elementwise.ts and cast.ts). Integer tensors of 8/16/32 bits live
// on the device as one sign- (or zero-) extended i32 per element; a result is wrapped to the output width as
// the evaluator's typed-array store wraps it (two's complement, modulo 2^bits).
//   int_binary: Y[i] = wrap(A[a(i)] op B[b(i)]); a(i), b(i) are broadcast offsets (ONNX multidirectional
//               broadcasting) from shape-only maps computed on the host, or i where a map flag is 0.
//               OP: 0 Add, 1 Sub, 2 Mul (i32 products wrap modulo 2^32), 3 Div (truncates toward zero;
//               x / 0 = 0 as the evaluator's ToInt32(trunc(x / 0)); INT_MIN / -1 = INT_MIN), 4 Mod with
//               fmod = 0 (sign of the divisor), 5 Mod with fmod = 1 (sign of the dividend); x % 0 = 0.
//   int_cast:   Y[i] = wrap(X[i]) (integer to integer), or f32(X[i]) (integer to float32) when TO_FLOAT.
// `Params` from int_elementwise.ts.

override OP: u32 = 0u;
override TO_FLOAT: bool = false;

@group(0) @binding(0) var<storage, read> A: array<i32>;
@group(0) @binding(1) var<storage, read> B: array<i32>;
@group(0) @binding(2) var<storage, read> mapA: array<u32>;
@group(0) @binding(3) var<storage, read> mapB: array<u32>;
@group(0) @binding(4) var<storage, read_write> Y: array<i32>;
@group(0) @binding(5) var<uniform> P: Params;

// Wrap to `P.bits` (8, 16 or 32), sign-extending when `P.signed` is 1, else zero-extending.
fn wrap(v: i32) -> i32 {
  if (P.bits >= 32u) {
    return v;
  }
  let s = 32u - P.bits;
  if (P.signed != 0u) {
    return (v << s) >> s;
  }
  return bitcast<i32>((bitcast<u32>(v) << s) >> s);
}

// Truncated remainder (sign of the dividend) from the truncating division: Mesa llvmpipe 22.3 computes the
// i32 `%` operator as an unsigned remainder for negative operands, so `%` is not used.
fn trem(x: i32, y: i32) -> i32 {
  return x - (x / y) * y;
}

fn apply(x: i32, y: i32) -> i32 {
  switch (OP) {
    case 0u: {
      return x + y;
    }
    case 1u: {
      return x - y;
    }
    case 2u: {
      return x * y;
    }
    case 3u: {
      if (y == 0) {
        return 0;
      }
      return x / y;
    }
    case 4u: {
      if (y == 0) {
        return 0;
      }
      let r = trem(x, y);
      return select(r, r + y, r != 0 && ((r < 0) != (y < 0)));
    }
    default: {
      if (y == 0) {
        return 0;
      }
      return trem(x, y);
    }
  }
}

@compute @workgroup_size(64)
fn int_binary(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= P.count) {
    return;
  }
  let ia = select(i, mapA[i], P.mapA != 0u);
  let ib = select(i, mapB[i], P.mapB != 0u);
  Y[i] = wrap(apply(A[ia], B[ib]));
}

@compute @workgroup_size(64)
fn int_cast(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= P.count) {
    return;
  }
  // B, mapA and mapB are bound (one word each) but unused here; reading them keeps one bind group layout.
  if (P.count == 0xffffffffu) {
    Y[0] = B[0] + i32(mapA[0] + mapB[0]);
  }
  if (TO_FLOAT) {
    Y[i] = bitcast<i32>(f32(A[i]));
  } else {
    Y[i] = wrap(A[i]);
  }
}
