/**
 * The ONNX protobuf schema (onnx.proto, IR version 10 / ONNX 1.17), written from the spec as data for
 * wire.ts. It is newer than the onnx-proto npm package (ONNX 1.10): it knows node/value/graph metadata_props,
 * NodeProto.overload, FunctionProto attribute_proto/value_info/overload, and element types 17..23 (element
 * types are plain ints here). Anything newer still (e.g. device configurations) is carried through as unknown
 * fields by wire.ts.
 * @module
 */
import type { FieldDesc, MessageDesc } from "./wire.ts";

function msg(name: string, fields: FieldDesc[]): MessageDesc {
  return { name, fields };
}

/** StringStringEntryProto. */
export const StringStringEntry: MessageDesc = msg("StringStringEntryProto", [
  { no: 1, name: "key", kind: "string" },
  { no: 2, name: "value", kind: "string" },
]);

/** OperatorSetIdProto. */
export const OperatorSetId: MessageDesc = msg("OperatorSetIdProto", [
  { no: 1, name: "domain", kind: "string" },
  { no: 2, name: "version", kind: "int64" },
]);

/** TensorProto.Segment. */
export const Segment: MessageDesc = msg("Segment", [
  { no: 1, name: "begin", kind: "int64" },
  { no: 2, name: "end", kind: "int64" },
]);

/** TensorProto. */
export const TensorProtoDesc: MessageDesc = msg("TensorProto", [
  { no: 1, name: "dims", kind: "int64", repeated: true },
  { no: 2, name: "data_type", kind: "int32" },
  { no: 3, name: "segment", kind: "message", msg: () => Segment },
  { no: 4, name: "float_data", kind: "float", repeated: true, packed: true },
  { no: 5, name: "int32_data", kind: "int32", repeated: true, packed: true },
  { no: 6, name: "string_data", kind: "bytes", repeated: true },
  { no: 7, name: "int64_data", kind: "int64", repeated: true, packed: true },
  { no: 8, name: "name", kind: "string" },
  { no: 9, name: "raw_data", kind: "bytes" },
  { no: 10, name: "double_data", kind: "double", repeated: true, packed: true },
  { no: 11, name: "uint64_data", kind: "uint64", repeated: true, packed: true },
  { no: 12, name: "doc_string", kind: "string" },
  { no: 13, name: "external_data", kind: "message", repeated: true, msg: () => StringStringEntry },
  { no: 14, name: "data_location", kind: "enum" },
  { no: 16, name: "metadata_props", kind: "message", repeated: true, msg: () => StringStringEntry },
]);

/** SparseTensorProto. */
export const SparseTensorProtoDesc: MessageDesc = msg("SparseTensorProto", [
  { no: 1, name: "values", kind: "message", msg: () => TensorProtoDesc },
  { no: 2, name: "indices", kind: "message", msg: () => TensorProtoDesc },
  { no: 3, name: "dims", kind: "int64", repeated: true },
]);

/** TensorShapeProto.Dimension. */
export const Dimension: MessageDesc = msg("Dimension", [
  { no: 1, name: "dim_value", kind: "int64" },
  { no: 2, name: "dim_param", kind: "string" },
  { no: 3, name: "denotation", kind: "string" },
]);

/** TensorShapeProto. */
export const TensorShape: MessageDesc = msg("TensorShapeProto", [
  { no: 1, name: "dim", kind: "message", repeated: true, msg: () => Dimension },
]);

/** TypeProto.Tensor (also used for SparseTensor). */
export const TypeTensor: MessageDesc = msg("TypeProto.Tensor", [
  { no: 1, name: "elem_type", kind: "int32" },
  { no: 2, name: "shape", kind: "message", msg: () => TensorShape },
]);

/** TypeProto.Sequence / Optional. */
export const TypeElem: MessageDesc = msg("TypeProto.Sequence", [
  { no: 1, name: "elem_type", kind: "message", msg: () => TypeProtoDesc },
]);

/** TypeProto.Map. */
export const TypeMap: MessageDesc = msg("TypeProto.Map", [
  { no: 1, name: "key_type", kind: "int32" },
  { no: 2, name: "value_type", kind: "message", msg: () => TypeProtoDesc },
]);

/** TypeProto. */
export const TypeProtoDesc: MessageDesc = msg("TypeProto", [
  { no: 1, name: "tensor_type", kind: "message", msg: () => TypeTensor },
  { no: 4, name: "sequence_type", kind: "message", msg: () => TypeElem },
  { no: 5, name: "map_type", kind: "message", msg: () => TypeMap },
  { no: 6, name: "denotation", kind: "string" },
  { no: 8, name: "sparse_tensor_type", kind: "message", msg: () => TypeTensor },
  { no: 9, name: "optional_type", kind: "message", msg: () => TypeElem },
]);

/** ValueInfoProto. */
export const ValueInfoProtoDesc: MessageDesc = msg("ValueInfoProto", [
  { no: 1, name: "name", kind: "string" },
  { no: 2, name: "type", kind: "message", msg: () => TypeProtoDesc },
  { no: 3, name: "doc_string", kind: "string" },
  { no: 4, name: "metadata_props", kind: "message", repeated: true, msg: () => StringStringEntry },
]);

/** AttributeProto. */
export const AttributeProtoDesc: MessageDesc = msg("AttributeProto", [
  { no: 1, name: "name", kind: "string" },
  { no: 2, name: "f", kind: "float" },
  { no: 3, name: "i", kind: "int64" },
  { no: 4, name: "s", kind: "bytes" },
  { no: 5, name: "t", kind: "message", msg: () => TensorProtoDesc },
  { no: 6, name: "g", kind: "message", msg: () => GraphProtoDesc },
  { no: 7, name: "floats", kind: "float", repeated: true },
  { no: 8, name: "ints", kind: "int64", repeated: true },
  { no: 9, name: "strings", kind: "bytes", repeated: true },
  { no: 10, name: "tensors", kind: "message", repeated: true, msg: () => TensorProtoDesc },
  { no: 11, name: "graphs", kind: "message", repeated: true, msg: () => GraphProtoDesc },
  { no: 13, name: "doc_string", kind: "string" },
  { no: 14, name: "tp", kind: "message", msg: () => TypeProtoDesc },
  { no: 15, name: "type_protos", kind: "message", repeated: true, msg: () => TypeProtoDesc },
  { no: 20, name: "type", kind: "enum" },
  { no: 21, name: "ref_attr_name", kind: "string" },
  { no: 22, name: "sparse_tensor", kind: "message", msg: () => SparseTensorProtoDesc },
  { no: 23, name: "sparse_tensors", kind: "message", repeated: true, msg: () => SparseTensorProtoDesc },
]);

/** NodeProto. */
export const NodeProtoDesc: MessageDesc = msg("NodeProto", [
  { no: 1, name: "input", kind: "string", repeated: true },
  { no: 2, name: "output", kind: "string", repeated: true },
  { no: 3, name: "name", kind: "string" },
  { no: 4, name: "op_type", kind: "string" },
  { no: 5, name: "attribute", kind: "message", repeated: true, msg: () => AttributeProtoDesc },
  { no: 6, name: "doc_string", kind: "string" },
  { no: 7, name: "domain", kind: "string" },
  { no: 8, name: "overload", kind: "string" },
  { no: 9, name: "metadata_props", kind: "message", repeated: true, msg: () => StringStringEntry },
]);

/** TensorAnnotation. */
export const TensorAnnotation: MessageDesc = msg("TensorAnnotation", [
  { no: 1, name: "tensor_name", kind: "string" },
  {
    no: 2,
    name: "quant_parameter_tensor_names",
    kind: "message",
    repeated: true,
    msg: () => StringStringEntry,
  },
]);

/** GraphProto. */
export const GraphProtoDesc: MessageDesc = msg("GraphProto", [
  { no: 1, name: "node", kind: "message", repeated: true, msg: () => NodeProtoDesc },
  { no: 2, name: "name", kind: "string" },
  { no: 5, name: "initializer", kind: "message", repeated: true, msg: () => TensorProtoDesc },
  { no: 10, name: "doc_string", kind: "string" },
  { no: 11, name: "input", kind: "message", repeated: true, msg: () => ValueInfoProtoDesc },
  { no: 12, name: "output", kind: "message", repeated: true, msg: () => ValueInfoProtoDesc },
  { no: 13, name: "value_info", kind: "message", repeated: true, msg: () => ValueInfoProtoDesc },
  { no: 14, name: "quantization_annotation", kind: "message", repeated: true, msg: () => TensorAnnotation },
  { no: 15, name: "sparse_initializer", kind: "message", repeated: true, msg: () => SparseTensorProtoDesc },
  { no: 16, name: "metadata_props", kind: "message", repeated: true, msg: () => StringStringEntry },
]);

/** FunctionProto. */
export const FunctionProtoDesc: MessageDesc = msg("FunctionProto", [
  { no: 1, name: "name", kind: "string" },
  { no: 4, name: "input", kind: "string", repeated: true },
  { no: 5, name: "output", kind: "string", repeated: true },
  { no: 6, name: "attribute", kind: "string", repeated: true },
  { no: 7, name: "node", kind: "message", repeated: true, msg: () => NodeProtoDesc },
  { no: 8, name: "doc_string", kind: "string" },
  { no: 9, name: "opset_import", kind: "message", repeated: true, msg: () => OperatorSetId },
  { no: 10, name: "domain", kind: "string" },
  { no: 11, name: "attribute_proto", kind: "message", repeated: true, msg: () => AttributeProtoDesc },
  { no: 12, name: "value_info", kind: "message", repeated: true, msg: () => ValueInfoProtoDesc },
  { no: 13, name: "overload", kind: "string" },
  { no: 14, name: "metadata_props", kind: "message", repeated: true, msg: () => StringStringEntry },
]);

/** ModelProto. TrainingInfoProto (field 20) is carried through as an unknown field. */
export const ModelProtoDesc: MessageDesc = msg("ModelProto", [
  { no: 1, name: "ir_version", kind: "int64" },
  { no: 2, name: "producer_name", kind: "string" },
  { no: 3, name: "producer_version", kind: "string" },
  { no: 4, name: "domain", kind: "string" },
  { no: 5, name: "model_version", kind: "int64" },
  { no: 6, name: "doc_string", kind: "string" },
  { no: 7, name: "graph", kind: "message", msg: () => GraphProtoDesc },
  { no: 8, name: "opset_import", kind: "message", repeated: true, msg: () => OperatorSetId },
  { no: 14, name: "metadata_props", kind: "message", repeated: true, msg: () => StringStringEntry },
  { no: 25, name: "functions", kind: "message", repeated: true, msg: () => FunctionProtoDesc },
]);
