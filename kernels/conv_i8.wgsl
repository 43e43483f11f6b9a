// im2col for int8 NCHW convolution (ONNX ConvInteger), feeding the GEMM of gemm_i8.wgsl.
//
// One invocation builds one column of the im2col matrix: output pixel (oy, ox) of batch n and group g
// (z = n * G + g), K = Cg * KH * KW entries in (c, i, j) order, packed 4 signed bytes per u32 word and padded
// with zero bytes to Kw words. uint8 input is shifted to int8 by XOR 0x80 (x - 128, see gemm_i8.wgsl).
// Spatial padding takes the (shifted) x zero point, so (x - x_zero_point) is 0 there, as ConvInteger
// requires; the K padding takes 0, which adds nothing to the dot products or the sums.
// The invocation also writes the column's sum over K, which the GEMM's zero-point correction needs.
// `Im2colParams` is declared by conv_i8.ts (defineStruct).

@group(0) @binding(0) var<storage, read> X: array<u32>; // raw bytes of X [N][C][H][W], 4 per word
@group(0) @binding(1) var<storage, read_write> cols: array<u32>; // [Z][OH*OW][Kw]
@group(0) @binding(2) var<storage, read_write> colSums: array<i32>; // [Z][OH*OW]
@group(0) @binding(3) var<uniform> q: Im2colParams;

// Signed value of byte `idx` of X after the uint8 -> int8 shift.
fn xByte(idx: u32) -> u32 {
  return ((X[idx / 4u] >> (8u * (idx % 4u))) & 0xffu) ^ q.flip;
}

@compute @workgroup_size(64)
fn im2col(@builtin(global_invocation_id) gid: vec3u) {
  let pix = gid.x;
  let z = gid.y;
  let ohw = q.OH * q.OW;
  if (pix >= ohw) {
    return;
  }
  let n = z / q.G;
  let g = z % q.G;
  let oy = i32(pix / q.OW);
  let ox = i32(pix % q.OW);
  let khw = q.KH * q.KW;
  let out = (z * ohw + pix) * q.Kw;
  var sum = 0i;
  for (var w = 0u; w < q.Kw; w++) {
    var word = 0u;
    for (var b = 0u; b < 4u; b++) {
      let k = w * 4u + b;
      var v = 0u;
      if (k < q.K) {
        let c = g * q.Cg + k / khw;
        let i = (k / q.KW) % q.KH;
        let j = k % q.KW;
        let iy = oy * q.strideH - q.padT + i32(i) * q.dilH;
        let ix = ox * q.strideW - q.padL + i32(j) * q.dilW;
        if (iy >= 0 && iy < i32(q.H) && ix >= 0 && ix < i32(q.W)) {
          v = xByte(((n * q.C + c) * q.H + u32(iy)) * q.W + u32(ix));
        } else {
          v = q.fill;
        }
      }
      word |= v << (8u * b);
    }
    cols[out + w] = word;
    sum += dot4I8Packed(word, 0x01010101u); // sum of the 4 signed bytes
  }
  colSums[z * ohw + pix] = sum;
}
