/**
 * The generic image preprocessing spec of `--preprocess`, next to the named presets of images.ts:
 * `image:size=416x416,layout=nchw,mean=0,std=1,range=0..1,order=bgr,resize=stretch`. Every key is optional;
 * what is left out is derived from the model's image input where its shape says it (layout from where the
 * 3-channel axis is, size from fixed height and width), else the defaults below.
 *
 * Pixel values 0..255 are first mapped linearly onto `range` (default `0..1`, as most PyTorch exports
 * expect; `0..255` keeps raw values, `-1..1` is the "pm1" scaling), then normalised per channel as
 * `(v - mean) / std`, in the model's channel order. Internally the spec becomes a {@link Preset} with mean and
 * std in pixel units, so one code path (images.ts) preprocesses presets and specs alike.
 * @module
 */
import type { Dim } from "../onnx/ir.ts";
import { DataType } from "../onnx/tensor.ts";
import { type Preprocess, type Preset, preset, type ResizeRule } from "./images.ts";

/** A parsed generic spec (units as the user wrote them). */
export interface ImageSpec {
  /** Output [height, width]; typed as `WxH` (or `N` for a square). @default the model's fixed size, else each image's own */
  size?: [number, number];
  /** @default from the model's input (3 on axis 1: NCHW, on the last axis: NHWC), else NCHW */
  layout?: "NCHW" | "NHWC";
  /** Per-channel mean in `range` units (one value or three, `a/b/c`). @default 0 */
  mean: [number, number, number];
  /** Per-channel std in `range` units. @default 1 */
  std: [number, number, number];
  /** What pixel values 0..255 map to before normalising. @default [0, 1] */
  range: [number, number];
  /** Channel order of the model's input. @default "rgb" */
  order: "rgb" | "bgr";
  /** `stretch` to the size, or `center-crop` (shorter side to the size, then crop). @default "stretch" */
  resize: "stretch" | "center-crop";
}

const KEYS = ["size", "layout", "mean", "std", "range", "order", "resize"];

function triple(key: string, text: string): [number, number, number] {
  const parts = text.split("/").map(Number);
  if (!(parts.length === 1 || parts.length === 3) || parts.some((x) => !Number.isFinite(x))) {
    throw new TypeError(`--preprocess image: ${key}=${text} must be a number or three numbers a/b/c`);
  }
  return parts.length === 1 ? [parts[0]!, parts[0]!, parts[0]!] : parts as [number, number, number];
}

/**
 * Parse `image` or `image:key=value,...`.
 *
 * @param text the spec
 * @returns the parsed spec
 * @throws {TypeError} for an unknown key or a bad value (the message lists the keys)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseImageSpec } from "./image_spec.ts";
 * const s = parseImageSpec("image:size=416x320,layout=nhwc,mean=0.485/0.456/0.406,order=bgr");
 * assertEquals([s.size, s.layout, s.mean, s.std, s.order], [[320, 416], "NHWC", [0.485, 0.456, 0.406], [1, 1, 1], "bgr"]);
 * ```
 */
export function parseImageSpec(text: string): ImageSpec {
  const m = /^image(?::(.*))?$/.exec(text.trim());
  if (!m) throw new TypeError(`Not an image preprocessing spec: "${text}" (expected image:key=value,...)`);
  const spec: ImageSpec = { mean: [0, 0, 0], std: [1, 1, 1], range: [0, 1], order: "rgb", resize: "stretch" };
  for (const item of (m[1] ?? "").split(",").filter((s) => s.trim() !== "")) {
    const eq = item.indexOf("=");
    const key = item.slice(0, eq).trim().toLowerCase(), value = item.slice(eq + 1).trim();
    const bad = (what: string): never => {
      throw new TypeError(`--preprocess image: ${key}=${value}: ${what}`);
    };
    if (eq < 0 || !KEYS.includes(key)) {
      throw new TypeError(`--preprocess image: unknown item "${item}" (keys: ${KEYS.join(", ")})`);
    }
    switch (key) {
      case "size": {
        const s = /^(\d+)(?:x(\d+))?$/i.exec(value) ?? bad("expected WxH or N");
        const w = Number(s[1]), h = Number(s[2] ?? s[1]);
        if (w < 1 || h < 1) bad("sides must be >= 1");
        spec.size = [h, w];
        break;
      }
      case "layout":
        if (!/^(nchw|nhwc)$/i.test(value)) bad("expected nchw or nhwc");
        spec.layout = value.toUpperCase() as "NCHW" | "NHWC";
        break;
      case "mean":
        spec.mean = triple(key, value);
        break;
      case "std":
        spec.std = triple(key, value);
        if (spec.std.some((x) => x === 0)) bad("std must not be 0");
        break;
      case "range": {
        const r = /^(-?[\d.]+)\.\.(-?[\d.]+)$/.exec(value) ?? bad("expected LO..HI, e.g. 0..1 or 0..255");
        spec.range = [Number(r[1]), Number(r[2])];
        if (!(spec.range[1] > spec.range[0])) bad("HI must exceed LO");
        break;
      }
      case "order":
        if (value !== "rgb" && value !== "bgr") bad("expected rgb or bgr");
        spec.order = value as "rgb" | "bgr";
        break;
      case "resize":
        if (value !== "stretch" && value !== "center-crop") bad("expected stretch or center-crop");
        spec.resize = value as "stretch" | "center-crop";
        break;
    }
  }
  return spec;
}

/**
 * Layout and size an image input's shape implies: a 3-channel axis at 1 (NCHW) or last (NHWC), and fixed
 * spatial sides.
 *
 * @param dims the model input's shape, or null
 * @returns what the shape says (nothing for other ranks)
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { imageInputLayout } from "./image_spec.ts";
 * assertEquals(imageInputLayout([1, 416, 416, 3]), { layout: "NHWC", size: [416, 416] });
 * assertEquals(imageInputLayout(["batch", 3, "h", "w"]), { layout: "NCHW" });
 * ```
 */
export function imageInputLayout(
  dims: readonly Dim[] | null,
): { layout?: "NCHW" | "NHWC"; size?: [number, number] } {
  if (!dims || dims.length !== 4) return {};
  const nhwc = dims[3] === 3 && dims[1] !== 3;
  const [h, w] = nhwc ? [dims[1], dims[2]] : [dims[2], dims[3]];
  return {
    layout: nhwc ? "NHWC" : "NCHW",
    ...(typeof h === "number" && typeof w === "number" && h > 0 && w > 0 ? { size: [h, w] } : {}),
  };
}

/**
 * The {@link Preset} for a `--preprocess` value: a named preset as is, or a generic spec completed from the
 * model's image input.
 *
 * @param name a preset name or `image[:...]` spec
 * @param inputDims the shape of the model input the images feed, when known
 * @param inputType its element type, when known (uint8: raw pixels, as bytes)
 * @returns the preset
 * @throws {TypeError} for an unknown preset or a bad spec
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { resolvePreprocess } from "./image_spec.ts";
 * const p = resolvePreprocess("image:mean=0.5,std=0.5", [1, 3, 32, 48]);
 * assertEquals([p.mean, p.std, p.resize, p.layout], [[127.5, 127.5, 127.5], [127.5, 127.5, 127.5], { kind: "fixed", width: 48, height: 32 }, "NCHW"]);
 * ```
 */
export function resolvePreprocess(
  name: Preprocess | string,
  inputDims?: readonly Dim[] | null,
  inputType?: DataType | null,
): Preset {
  if (!/^image(:|$)/.test(name)) return preset(name);
  const spec = parseImageSpec(name);
  if (inputType === DataType.UINT8) {
    // A uint8 image input (tf2onnx exports, for one) takes the pixels themselves.
    const explicit = /range=|mean=|std=/.test(name);
    if (
      explicit &&
      (spec.range.join() !== "0,255" || spec.mean.some((m) => m !== 0) || spec.std.some((s) => s !== 1))
    ) {
      throw new TypeError(
        `--preprocess ${name}: the model's image input is uint8 (raw pixels): give no range, mean or std`,
      );
    }
    spec.range = [0, 255];
    spec.mean = [0, 0, 0];
    spec.std = [1, 1, 1];
  }
  const derived = imageInputLayout(inputDims ?? null);
  const size = spec.size ?? derived.size;
  const [lo, hi] = spec.range;
  // v = pixel (hi - lo) / 255 + lo; (v - mean) / std = (pixel - (mean - lo) 255 / (hi - lo)) / (std 255 / (hi - lo))
  const k = 255 / (hi - lo);
  const mean = spec.mean.map((m) => (m - lo) * k) as [number, number, number];
  const std = spec.std.map((s) => s * k) as [number, number, number];
  if (spec.resize === "center-crop" && size && size[0] !== size[1]) {
    throw new TypeError(
      `--preprocess ${name}: resize=center-crop needs a square size, got ${size[1]}x${size[0]}`,
    );
  }
  const resize: ResizeRule = !size
    ? { kind: "keep" }
    : spec.resize === "center-crop"
    ? { kind: "center-crop", shorter: size[0], crop: size[0] }
    : { kind: "fixed", width: size[1], height: size[0] };
  const layout = spec.layout ?? derived.layout;
  return {
    name,
    mean,
    std,
    resize,
    order: spec.order,
    ...(layout ? { layout } : {}),
    ...(inputType === DataType.UINT8 ? { dtype: "uint8" as const } : {}),
  };
}
