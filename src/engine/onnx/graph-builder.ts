import type { AttributeValue, ElementType, GraphSpec, NodeSpec, TensorValue, ValueInfo } from './model.js';
import { rawBytes } from './model.js';

/** Builds a graph node by node, naming intermediate values so graph code reads like the math it encodes. */
export class GraphBuilder {
  private readonly nodes: NodeSpec[] = [];
  private readonly initializers: (TensorValue & { name: string })[] = [];
  private counter = 0;

  constructor(private readonly name: string, private readonly opset?: number) {}

  /** Adds a node with one output and returns that output's name; `domain` names an operator set other than ONNX's own. */
  op(op: string, inputs: readonly string[], attributes?: Record<string, AttributeValue>, domain?: string): string {
    const output = `${op.toLowerCase()}_${this.counter++}`;
    this.nodes.push({ op, inputs, outputs: [output], name: output, ...(attributes ? { attributes } : {}), ...(domain ? { domain } : {}) });
    return output;
  }

  /** A float32 scalar or vector constant. */
  floats(values: readonly number[], dims: readonly number[] = values.length === 1 ? [] : [values.length]): string {
    return this.constant('float32', dims, rawBytes(Float32Array.from(values)));
  }

  /** An int64 vector constant (axes, shapes). */
  int64s(values: readonly number[]): string {
    return this.constant('int64', [values.length], rawBytes(BigInt64Array.from(values.map(BigInt))));
  }

  build(inputs: readonly ValueInfo[], outputs: readonly { name: string; from: string; type: ElementType; shape: ValueInfo['shape'] }[]): GraphSpec {
    const renames = outputs.map((o) => ({ op: 'Identity', inputs: [o.from], outputs: [o.name], name: `output_${o.name}` }));
    return {
      name: this.name,
      ...(this.opset === undefined ? {} : { opset: this.opset }),
      nodes: [...this.nodes, ...renames],
      inputs,
      outputs: outputs.map(({ name, type, shape }) => ({ name, type, shape })),
      initializers: this.initializers,
    };
  }

  /** A named initializer (a weight), stored inline or in an external weights file. */
  initializer(name: string, type: ElementType, dims: readonly number[], raw: TensorValue['raw']): string {
    this.initializers.push({ name, type, dims, raw });
    return name;
  }

  private constant(type: ElementType, dims: readonly number[], raw: Uint8Array): string {
    const name = `const_${this.counter++}`;
    this.initializers.push({ name, type, dims, raw });
    return name;
  }
}
