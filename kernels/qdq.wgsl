// ONNX QuantizeLinear / DequantizeLinear (oracle quant/quantize.ts), per tensor or per axis: element i uses
// parameter (i / inner) % channels (channels = 1 per tensor). Tensors are 32-bit words (device_tensor.ts):
// X and Y are declared u32 and bitcast, so both entry points share one binding layout.
//   quantize:   q = clamp(roundHalfEven(f32(x / s)) + zp, qmin, qmax); NaN -> clamp(zp)
//               (WGSL `/` on f32 is the correctly rounded IEEE quotient on the adapters we test, and
//               `round` rounds half to even, as quant/ specifies: Math.fround(x / s), roundHalfEven)
//   dequantize: y = f32(q - zp) * s (q - zp is exact in f32, one rounding in the product)
// `Params` from qdq.ts.

@group(0) @binding(0) var<storage, read> X: array<u32>;
@group(0) @binding(1) var<storage, read> scale: array<f32>;
@group(0) @binding(2) var<storage, read> zp: array<i32>;
@group(0) @binding(3) var<storage, read_write> Y: array<u32>;
@group(0) @binding(4) var<uniform> P: Params;

fn param_index(i: u32) -> u32 {
  return (i / P.inner) % P.channels;
}

@compute @workgroup_size(64)
fn quantize(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= P.count) {
    return;
  }
  let c = param_index(i);
  let z = zp[c];
  let v = bitcast<f32>(X[i]) / scale[c];
  var q: i32;
  if ((bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u) {
    q = z; // NaN stores the zero point
  } else {
    // Clamp before the integer conversion: |r| <= 2^24 keeps every in-range sum exact.
    let r = clamp(round(v), -16777216.0, 16777216.0);
    q = i32(r) + z;
  }
  Y[i] = bitcast<u32>(clamp(q, P.qmin, P.qmax));
}

@compute @workgroup_size(64)
fn dequantize(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= P.count) {
    return;
  }
  let c = param_index(i);
  Y[i] = bitcast<u32>(f32(bitcast<i32>(X[i]) - zp[c]) * scale[c]);
}
