/**
 * The small, typed layer between TypeScript and WGSL: the one dtype -> WGSL table, a uniform-struct helper
 * that keeps the WGSL declaration and the byte packing in sync, and the loader for `.wgsl` files.
 *
 * Kernel sources live in real `.wgsl` files and are specialised with `override` constants; TypeScript only
 * prepends declarations produced here (never splices strings into shader bodies).
 * @module
 */

import { DataType, dtypeName } from "../onnx/tensor.ts";

/** WGSL scalar types a kernel binding can hold. */
export type WgslScalar = "i32" | "u32" | "f32";

/** How one ONNX element type is stored in WGSL buffers. */
export interface WgslStorage {
  /** The WGSL element type of the storage array. */
  readonly type: WgslScalar;
  /** ONNX elements per WGSL element: 4 for 8-bit types packed into a u32 word, else 1. */
  readonly perWord: number;
}

/** The one ONNX dtype -> WGSL storage table (8-bit integers travel packed, 4 per u32, for dot4I8Packed). */
const WGSL_STORAGE: Partial<Record<DataType, WgslStorage>> = {
  [DataType.FLOAT]: { type: "f32", perWord: 1 },
  [DataType.INT32]: { type: "i32", perWord: 1 },
  [DataType.UINT32]: { type: "u32", perWord: 1 },
  [DataType.INT8]: { type: "u32", perWord: 4 },
  [DataType.UINT8]: { type: "u32", perWord: 4 },
};

/**
 * How an ONNX element type is stored in WGSL.
 *
 * @param dtype ONNX element type
 * @returns the WGSL storage type and packing
 * @throws {TypeError} for an element type no kernel stores
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { DataType } from "../onnx/tensor.ts";
 * import { wgslStorage } from "./wgsl.ts";
 * assertEquals(wgslStorage(DataType.INT8), { type: "u32", perWord: 4 });
 * ```
 */
export function wgslStorage(dtype: DataType): WgslStorage {
  const s = WGSL_STORAGE[dtype];
  if (!s) throw new TypeError(`No WGSL storage for element type ${dtypeName(dtype)}`);
  return s;
}

/** A uniform struct: its WGSL declaration and a packer producing matching bytes. */
export interface WgslStruct<F extends string> {
  /** The struct's WGSL declaration, e.g. `struct Params { M: u32, K: i32 }`. */
  readonly wgsl: string;
  /** Size in bytes, rounded up to 16 as uniform buffers require. */
  readonly byteSize: number;
  /**
   * Pack field values in declaration order.
   * @param values one integer (or float for f32) per field
   * @returns the bytes
   */
  pack(values: Record<F, number>): ArrayBuffer;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Define a uniform struct of 4-byte scalars. The TS packer and the WGSL declaration come from one field list,
 * so they cannot drift apart.
 *
 * @param name WGSL struct name
 * @param fields field name -> scalar type, in layout order
 * @returns the declaration and packer
 * @throws {TypeError} for a name that is not a WGSL identifier
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { defineStruct } from "./wgsl.ts";
 * const P = defineStruct("Params", { M: "u32", bias: "i32" });
 * assertEquals(P.wgsl, "struct Params {\n  M: u32,\n  bias: i32,\n}\n");
 * assertEquals([...new Int32Array(P.pack({ M: 3, bias: -1 }))], [3, -1, 0, 0]);
 * ```
 */
export function defineStruct<F extends string>(name: string, fields: Record<F, WgslScalar>): WgslStruct<F> {
  const entries = Object.entries(fields) as [F, WgslScalar][];
  for (const id of [name, ...entries.map(([f]) => f)]) {
    if (!IDENT.test(id)) {
      throw new TypeError(`Cannot declare WGSL struct ${name}: "${id}" is not an identifier`);
    }
  }
  const wgsl = `struct ${name} {\n${entries.map(([f, t]) => `  ${f}: ${t},\n`).join("")}}\n`;
  const byteSize = Math.max(16, Math.ceil((entries.length * 4) / 16) * 16);
  return {
    wgsl,
    byteSize,
    pack(values) {
      const buf = new ArrayBuffer(byteSize);
      const view = new DataView(buf);
      entries.forEach(([f, t], i) => {
        const v = values[f];
        if (typeof v !== "number" || (t !== "f32" && !Number.isInteger(v))) {
          throw new TypeError(
            `Cannot pack ${name}.${f}: expected ${t === "f32" ? "a number" : "an integer"}`,
          );
        }
        if (t === "f32") view.setFloat32(i * 4, v, true);
        else if (t === "i32") view.setInt32(i * 4, v, true);
        else view.setUint32(i * 4, v, true);
      });
      return buf;
    },
  };
}

const sources = new Map<string, Promise<string>>();

/**
 * Load a `.wgsl` source file (cached). Uses `fetch`, so it works for `file:` URLs in Deno and for `http(s):`
 * URLs in browsers.
 *
 * @param url the file, usually `new URL("./k.wgsl", import.meta.url)`
 * @returns the source text
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { loadWgsl } from "./wgsl.ts";
 * assertStringIncludes(await loadWgsl(new URL("./gemm_f32.wgsl", import.meta.url)), "@compute");
 * ```
 */
export function loadWgsl(url: URL): Promise<string> {
  const key = url.href;
  let p = sources.get(key);
  if (!p) {
    p = (async () => {
      const res = await fetch(url);
      if (!res.ok) throw new Error(`Cannot load WGSL ${key}: HTTP ${res.status}`);
      return await res.text();
    })();
    p.catch(() => sources.delete(key));
    sources.set(key, p);
  }
  return p;
}

/**
 * Join declarations produced by this module (structs) in front of a kernel source.
 *
 * @param source the `.wgsl` file text
 * @param preludes declarations the source refers to, e.g. `defineStruct(...).wgsl`
 * @returns the complete WGSL module
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { defineStruct, withPrelude } from "./wgsl.ts";
 * const P = defineStruct("P", { n: "u32" });
 * assertEquals(withPrelude("// body\n", P.wgsl), "struct P {\n  n: u32,\n}\n\n// body\n");
 * ```
 */
export function withPrelude(source: string, ...preludes: string[]): string {
  return [...preludes, source].join("\n");
}
