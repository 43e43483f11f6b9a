/**
 * Building model-local functions (FunctionProto) for shiftkit's custom ops. DESIGN.md: every op in the
 * `shiftkit` domain ships with a function whose body uses only standard ONNX ops and computes the same
 * result, so an unmodified onnxruntime runs the emitted model. Bodies have no initializers: constants are
 * Constant nodes; per-call-site integers come from the calling node's attributes through `ref_attr_name`.
 * @module
 */
import { type Attribute, AttrType, tensorAttr } from "./attributes.ts";
import { type FunctionDef, Graph, type Model, type Value } from "./ir.ts";
import { Op, SHIFTKIT_DOMAIN } from "./ops.ts";
import type { Tensor } from "./tensor.ts";

/**
 * Builds one function body.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { FunctionBuilder } from "./function_builder.ts";
 * const b = new FunctionBuilder("Double", { opset: 18 });
 * const x = b.input("X");
 * b.output(b.op("Add", [x, x]), "Y");
 * const f = b.build();
 * assertEquals(f.body.nodes.map((n) => n.opType), ["Add"]);
 * ```
 */
export class FunctionBuilder {
  readonly body: Graph;
  readonly #attributes: string[] = [];
  readonly #defaults: Attribute[] = [];
  readonly #opset: number;
  readonly #domain: string;
  #n = 0;

  /**
   * @param name function (= op type) name
   * @param options domain (default "shiftkit") and the default-domain opset the body imports
   */
  constructor(readonly name: string, options: { domain?: string; opset: number }) {
    this.body = new Graph(name, null);
    this.#opset = options.opset;
    this.#domain = options.domain ?? SHIFTKIT_DOMAIN;
  }

  /** Declare a formal input. */
  input(name: string): Value {
    const v = this.body.value(name);
    this.body.inputs.push(v);
    return v;
  }

  /** Declare a function attribute (optionally with a default value). */
  attribute(name: string, dflt?: Attribute): void {
    this.#attributes.push(name);
    if (dflt) this.#defaults.push({ ...dflt, name });
  }

  /** Add a node; returns its single output (use {@link FunctionBuilder.opN} for several). */
  op(opType: string, inputs: readonly (Value | null)[], attrs: Attribute[] = []): Value {
    return this.opN(opType, inputs, 1, attrs)[0]!;
  }

  /** Add a node with `outputs` outputs. */
  opN(opType: string, inputs: readonly (Value | null)[], outputs: number, attrs: Attribute[] = []): Value[] {
    const id = this.#n++;
    const names = Array.from({ length: outputs }, (_, i) => `t${id}_${i}`);
    const node = this.body.addNode(opType, inputs, names, { name: `n${id}_${opType}`, attrs });
    return node.outputs;
  }

  /** A constant tensor (a Constant node). */
  constant(t: Tensor): Value {
    return this.op(Op.Constant.type, [], [tensorAttr("value", t)]);
  }

  /**
   * A scalar int64 taken from the calling node's attribute `attr` (Constant with `value_int` referring to
   * the function attribute through ref_attr_name).
   */
  attrInt(attr: string): Value {
    const a: Attribute = { name: "value_int", type: AttrType.INT, value: 0, refAttrName: attr };
    return this.op(Op.Constant.type, [], [a]);
  }

  /** A 1-D int64 tensor from the calling node's INTS attribute `attr`. */
  attrInts(attr: string): Value {
    const a: Attribute = { name: "value_ints", type: AttrType.INTS, value: [], refAttrName: attr };
    return this.op(Op.Constant.type, [], [a]);
  }

  /** Declare a formal output. */
  output(v: Value, name?: string): void {
    if (name && v.name !== name) this.body.rename(v, name);
    this.body.outputs.push(v);
  }

  /** The finished function. */
  build(): FunctionDef {
    return {
      name: this.name,
      domain: this.#domain,
      attributes: this.#attributes,
      attributeDefaults: this.#defaults,
      opsets: new Map([["", this.#opset]]),
      body: this.body,
      extra: undefined,
    };
  }
}

/**
 * Add a function to a model (once per domain/name), importing its domain and making sure the model's
 * default opset matches the one the body imports (ONNX requires them to agree).
 *
 * @param model the model
 * @param make builds the function for a given opset; called only when the model lacks it
 * @returns the function definition in the model
 * @throws {RangeError} when the model's default opset is lower than `minOpset`
 */
export function ensureFunction(
  model: Model,
  domain: string,
  name: string,
  make: (opset: number) => FunctionDef,
  minOpset = 1,
): FunctionDef {
  const have = model.findFunction(domain, name);
  if (have) return have;
  if (model.opset < minOpset) {
    throw new RangeError(
      `The function body of ${domain}.${name} needs opset >= ${minOpset}, the model has ${model.opset}: upgrade it first`,
    );
  }
  const f = make(model.opset);
  model.functions.push(f);
  if (!model.opsets.has(domain)) model.opsets.set(domain, 1);
  if (typeof model.irVersion === "number" && model.irVersion < 8) model.irVersion = 8;
  return f;
}
