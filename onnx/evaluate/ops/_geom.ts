/**
 * Sliding-window geometry shared by Conv, ConvTranspose and the pools: kernel, strides, dilations, explicit
 * pads or auto_pad, and ceil_mode for pools (ONNX Conv / MaxPool output-shape formulas).
 * @module
 */
import { Attrs, AttrType } from "../../attributes.ts";
import { shapeStr } from "./_util.ts";

/** Per spatial axis: input size, kernel, stride, dilation, pads and output size. */
export interface Window {
  inSize: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
  padBegin: number[];
  padEnd: number[];
  outSize: number[];
}

/**
 * Window geometry of a Conv or pool.
 *
 * @param inSize spatial input sizes
 * @param kernel kernel sizes (from `kernel_shape` or the weight)
 * @param attrs node attributes (auto_pad, pads, strides, dilations, ceil_mode)
 * @param op op type for messages
 */
export function windowGeometry(inSize: number[], kernel: number[], attrs: Attrs, op: string): Window {
  const r = inSize.length;
  const strides = attrs.ints("strides", new Array(r).fill(1));
  const dilations = attrs.ints("dilations", new Array(r).fill(1));
  const pads = attrs.ints("pads", new Array(2 * r).fill(0));
  const autoPad = attrs.string("auto_pad", "NOTSET");
  const ceil = attrs.int("ceil_mode", 0) === 1;
  if (strides.length !== r || dilations.length !== r || pads.length !== 2 * r || kernel.length !== r) {
    throw new RangeError(
      `${op}: ${r} spatial axes but kernel [${kernel}], strides [${strides}], dilations [${dilations}], ` +
        `pads [${pads}]`,
    );
  }
  const padBegin: number[] = [], padEnd: number[] = [], outSize: number[] = [];
  for (let i = 0; i < r; i++) {
    const n = inSize[i]!, s = strides[i]!, ek = (kernel[i]! - 1) * dilations[i]! + 1;
    let pb = pads[i]!, pe = pads[i + r]!, o: number;
    if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
      o = Math.ceil(n / s);
      const total = Math.max(0, (o - 1) * s + ek - n);
      pb = autoPad === "SAME_UPPER" ? Math.floor(total / 2) : Math.ceil(total / 2);
      pe = total - pb;
    } else {
      if (autoPad === "VALID") pb = pe = 0;
      else if (autoPad !== "NOTSET") throw new RangeError(`${op}: unknown auto_pad "${autoPad}"`);
      const span = n + pb + pe - ek;
      o = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
      // with ceil_mode the last window must start inside the input or its begin padding
      if (ceil && (o - 1) * s >= n + pb) o--;
    }
    if (o < 0) throw new RangeError(`${op}: kernel ${ek} does not fit input ${n} with pads ${pb},${pe}`);
    padBegin.push(pb);
    padEnd.push(pe);
    outSize.push(o);
  }
  return { inSize, kernel, strides, dilations, padBegin, padEnd, outSize };
}

/** View a 1-D (N, C, L) problem as 2-D with height 1; returns [N, C, H, W]. */
export function as4d(dims: readonly number[], op: string): [number, number, number, number] {
  if (dims.length === 4) return dims as unknown as [number, number, number, number];
  if (dims.length === 3) return [dims[0]!, dims[1]!, 1, dims[2]!];
  throw new RangeError(`${op}: only 1-D and 2-D convolutions are supported, got input ${shapeStr(dims)}`);
}

/** Spatial attributes of a 1-D op lifted to 2-D (height axis of size 1, no padding). */
export function lift(attrs: Attrs, rank: number, kernel: number[]): { attrs: Attrs; kernel: number[] } {
  if (rank === 2) return { attrs, kernel };
  const map = new Map(attrs.map);
  const lifted = (name: string, pre: number[], dflt: number[]) => {
    const v = attrs.ints(name, dflt);
    map.set(name, {
      name,
      type: AttrType.INTS,
      value: name === "pads" ? [0, v[0]!, 0, v[1]!] : [...pre, ...v],
    });
  };
  lifted("strides", [1], [1]);
  lifted("dilations", [1], [1]);
  lifted("pads", [], [0, 0]);
  if (attrs.has("output_padding")) lifted("output_padding", [0], [0]);
  if (attrs.has("output_shape")) lifted("output_shape", [1], [1]);
  return { attrs: new Attrs(map, attrs.where), kernel: [1, ...kernel] };
}
