import { ProtoWriter } from './protobuf.js';

// ONNX's IR as plain data, and its encoding as a ModelProto (field numbers from onnx/onnx.proto).

export type ElementType = 'float32' | 'float16' | 'int32' | 'int64';

/** TensorProto.DataType values. */
const DATA_TYPE: Record<ElementType, number> = { float32: 1, int32: 6, int64: 7, float16: 10 };

/** A dimension is a fixed size or a symbolic name (a dynamic axis such as "batch"). */
export type Dimension = number | string;

export interface ValueInfo {
  readonly name: string;
  readonly type: ElementType;
  readonly shape: readonly Dimension[];
}

export interface TensorValue {
  readonly name?: string;
  readonly type: ElementType;
  readonly dims: readonly number[];
  /** Little-endian element bytes (TensorProto.raw_data), or where they sit in an external weights file. */
  readonly raw: Uint8Array | ExternalData;
}

/** TensorProto.external_data: the bytes live in `location` (relative to the model file) at offset/length. */
export interface ExternalData {
  readonly location: string;
  readonly offset: number;
  readonly length: number;
}

export type AttributeValue =
  | { readonly int: number }
  | { readonly float: number }
  | { readonly string: string }
  | { readonly ints: readonly number[] }
  | { readonly floats: readonly number[] }
  | { readonly tensor: TensorValue };

export interface NodeSpec {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name?: string;
  readonly domain?: string;
  readonly attributes?: Readonly<Record<string, AttributeValue>>;
}

export interface GraphSpec {
  readonly name: string;
  /** The ONNX operator set the graph needs, when newer than the default (e.g. 18 for Resize's antialias). */
  readonly opset?: number;
  readonly nodes: readonly NodeSpec[];
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly initializers?: readonly (TensorValue & { readonly name: string })[];
}

export interface ModelOptions {
  readonly opset: number;
  readonly irVersion: number;
  readonly producer?: string;
}

/** Opset 17 and IR 8: what onnxruntime ≥ 1.13 runs, and enough for every op the project emits. */
export const DEFAULT_MODEL_OPTIONS: ModelOptions = { opset: 17, irVersion: 8, producer: 'latent-upscale' };

export function encodeModel(graph: GraphSpec, options: ModelOptions = DEFAULT_MODEL_OPTIONS): Uint8Array {
  const writer = new ProtoWriter()
    .varint(1, options.irVersion)
    .string(2, options.producer ?? 'latent-upscale')
    .message(7, encodeGraph(graph))
    .message(8, new ProtoWriter().string(1, '').varint(2, graph.opset ?? options.opset));
  // Other operator sets a node uses (onnxruntime's com.microsoft contrib ops are all at version 1).
  const domains = new Set(graph.nodes.flatMap((n) => (n.domain ? [n.domain] : [])));
  for (const domain of domains) writer.message(8, new ProtoWriter().string(1, domain).varint(2, 1));
  return writer.finish();
}

function encodeGraph(graph: GraphSpec): ProtoWriter {
  const writer = new ProtoWriter();
  for (const node of graph.nodes) writer.message(1, encodeNode(node));
  writer.string(2, graph.name);
  for (const initializer of graph.initializers ?? []) writer.message(5, encodeTensor(initializer));
  for (const input of graph.inputs) writer.message(11, encodeValueInfo(input));
  for (const output of graph.outputs) writer.message(12, encodeValueInfo(output));
  return writer;
}

function encodeNode(node: NodeSpec): ProtoWriter {
  const writer = new ProtoWriter();
  for (const input of node.inputs) writer.string(1, input);
  for (const output of node.outputs) writer.string(2, output);
  if (node.name !== undefined) writer.string(3, node.name);
  writer.string(4, node.op);
  for (const [name, value] of Object.entries(node.attributes ?? {})) writer.message(5, encodeAttribute(name, value));
  if (node.domain !== undefined) writer.string(7, node.domain);
  return writer;
}

/** AttributeProto.AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, FLOATS 6, INTS 7. */
function encodeAttribute(name: string, value: AttributeValue): ProtoWriter {
  const writer = new ProtoWriter().string(1, name);
  if ('float' in value) return writer.float(2, value.float).varint(20, 1);
  if ('int' in value) return writer.varint(3, value.int).varint(20, 2);
  if ('string' in value) return writer.string(4, value.string).varint(20, 3);
  if ('tensor' in value) return writer.message(5, encodeTensor(value.tensor)).varint(20, 4);
  if ('floats' in value) {
    for (const f of value.floats) writer.float(7, f);
    return writer.varint(20, 6);
  }
  for (const i of value.ints) writer.varint(8, i);
  return writer.varint(20, 7);
}

function encodeTensor(tensor: TensorValue): ProtoWriter {
  const writer = new ProtoWriter();
  for (const dim of tensor.dims) writer.varint(1, dim);
  writer.varint(2, DATA_TYPE[tensor.type]);
  if (tensor.name !== undefined) writer.string(8, tensor.name);
  if (tensor.raw instanceof Uint8Array) return writer.bytes(9, tensor.raw);
  const { location, offset, length } = tensor.raw;
  for (const [key, value] of [['location', location], ['offset', String(offset)], ['length', String(length)]]) {
    writer.message(13, new ProtoWriter().string(1, key!).string(2, value!));
  }
  return writer.varint(14, 1); // data_location = EXTERNAL
}

function encodeValueInfo(info: ValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const dim of info.shape) {
    shape.message(1, typeof dim === 'number' ? new ProtoWriter().varint(1, dim) : new ProtoWriter().string(2, dim));
  }
  const tensorType = new ProtoWriter().varint(1, DATA_TYPE[info.type]).message(2, shape);
  return new ProtoWriter().string(1, info.name).message(2, new ProtoWriter().message(1, tensorType));
}

/** Raw little-endian bytes of a typed array, for initializers and tensor attributes. */
export function rawBytes(values: Float32Array | Int32Array | BigInt64Array | Uint16Array | Uint8Array): Uint8Array {
  return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
}
