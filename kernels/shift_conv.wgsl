// DenseShift shift-convolution: shiftkit.ShiftConv (docs/ops/denseshift.md; oracle: decodeShiftWeight of
// quant/dense_shift.ts composed with the CPU evaluator's Conv). 1-D and 2-D convolutions (1-D as H = 1) with
// groups, strides, pads and dilations. Weight codes arrive unpacked, one u32 per weight in the order of
// weight_shape [Cout][Cin/group][KH][KW], code = (sign << (bits - 1)) | p. One invocation per output element:
//   acc = sum over (ci, kh, kw) in order of +-ldexp(x, p)   (each term exact: an exponent add)
//   y   = acc * alpha[co] (+ B[co])
// The reference multiplies x by the decoded float32 weight alpha * +-2^p and sums in its own order, so the two
// agree within float32 summation error (the tolerance kernels/float_tolerance.ts derives from the spec).
// `Params` from shift_conv.ts.

@group(0) @binding(0) var<storage, read> X: array<f32>; // [N][C][H][W]
@group(0) @binding(1) var<storage, read> codes: array<u32>; // [Cout][Cg][KH][KW]
@group(0) @binding(2) var<storage, read> alpha: array<f32>; // [Cout]
@group(0) @binding(3) var<storage, read> bias: array<f32>; // [Cout] or [1]
@group(0) @binding(4) var<storage, read_write> Y: array<f32>; // [N][Cout][OH][OW]
@group(0) @binding(5) var<uniform> P: Params;

@compute @workgroup_size(64)
fn shift_conv(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  let total = P.N * P.Cout * P.OH * P.OW;
  if (i >= total) {
    return;
  }
  let ow = i % P.OW;
  let oh = (i / P.OW) % P.OH;
  let co = (i / (P.OW * P.OH)) % P.Cout;
  let n = i / (P.OW * P.OH * P.Cout);
  let coutPerGroup = P.Cout / P.group;
  let g = co / coutPerGroup;
  var acc = 0.0;
  for (var cg = 0u; cg < P.Cg; cg++) {
    let ci = g * P.Cg + cg;
    for (var kh = 0u; kh < P.KH; kh++) {
      let ih = i32(oh * P.strideH + kh * P.dilH) - i32(P.padT);
      if (ih < 0 || ih >= i32(P.H)) {
        continue;
      }
      for (var kw = 0u; kw < P.KW; kw++) {
        let iw = i32(ow * P.strideW + kw * P.dilW) - i32(P.padL);
        if (iw < 0 || iw >= i32(P.W)) {
          continue;
        }
        let c = codes[((co * P.Cg + cg) * P.KH + kh) * P.KW + kw];
        let x = X[((n * P.C + ci) * P.H + u32(ih)) * P.W + u32(iw)];
        let t = ldexp(x, i32(c & P.pmax));
        acc = acc + select(t, -t, c > P.pmax);
      }
    }
  }
  var y = acc * alpha[co];
  if (P.hasBias != 0u) {
    y = y + bias[co];
  }
  Y[i] = y;
}
