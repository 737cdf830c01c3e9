import type { GraphBuilder } from '../../engine/onnx/graph-builder.js';

// The layers Stable Diffusion's networks are made of, as ONNX ops, with weights named as the checkpoint
// names them. Everything computes in float32 with plain ONNX ops (opset 17), which every execution
// provider runs; weight layouts are PyTorch's (Linear [out, in], Conv [out, in, kh, kw]).

/** Where a graph's weights come from: a checkpoint being converted, or a recorder listing what a checkpoint must hold. */
export interface WeightSource {
  /**
   * The weight `name` (relative to the component's prefix) as a float32 graph value; its stored shape must
   * be `shape`. `transposed` gives a 2-D weight as [columns, rows], written so when the model is made.
   */
  tensor(g: GraphBuilder, name: string, shape: readonly number[], transposed?: boolean): string;
  /** A weight the file holds that the graph does not use (SD 2.x's last text layer): checked, not converted. */
  expect(name: string, shape: readonly number[]): void;
}

export class Layers {
  constructor(readonly g: GraphBuilder, readonly weights: WeightSource) {}

  weight(name: string, shape: readonly number[]): string {
    return this.weights.tensor(this.g, name, shape);
  }

  /**
   * x · Wᵀ + b over the last axis (torch.nn.Linear). Wᵀ is written to the model file, not left to a
   * Transpose node: folding those at load took an SD 1.5 UNet's session 39 s and twice its weights in memory.
   */
  linear(x: string, name: string, inputs: number, outputs: number, bias = true, weightSuffix = '.weight', biasSuffix = '.bias'): string {
    const g = this.g;
    const product = g.op('MatMul', [x, this.weights.tensor(g, `${name}${weightSuffix}`, [outputs, inputs], true)]);
    return bias ? g.op('Add', [product, this.weight(`${name}${biasSuffix}`, [outputs])]) : product;
  }

  /** torch.nn.Conv2d with bias; `pads` is ONNX's [top, left, bottom, right]. */
  conv(x: string, name: string, inputs: number, outputs: number, kernel: number, options: { stride?: number; pads?: readonly number[] } = {}): string {
    const half = (kernel - 1) / 2;
    return this.g.op('Conv', [x, this.weight(`${name}.weight`, [outputs, inputs, kernel, kernel]), this.weight(`${name}.bias`, [outputs])], {
      strides: { ints: [options.stride ?? 1, options.stride ?? 1] },
      pads: { ints: [...(options.pads ?? [half, half, half, half])] },
    });
  }

  /**
   * torch.nn.GroupNorm(32, C) on [N, C, H, W]: InstanceNormalization over [N, 32, C/32·H·W] (opset 17 has
   * no GroupNormalization), then the per-channel affine.
   */
  groupNorm(x: string, name: string, channels: number, epsilon: number, groups = 32): string {
    const g = this.g;
    const grouped = g.op('Reshape', [x, g.int64s([0, groups, -1])]);
    const normalized = g.op('InstanceNormalization', [grouped, g.floats(new Array<number>(groups).fill(1)), g.floats(new Array<number>(groups).fill(0))], { epsilon: { float: epsilon } });
    const restored = g.op('Reshape', [normalized, g.op('Shape', [x])]);
    const perChannel = (tensor: string): string => g.op('Reshape', [tensor, g.int64s([channels, 1, 1])]);
    return g.op('Add', [g.op('Mul', [restored, perChannel(this.weight(`${name}.weight`, [channels]))]), perChannel(this.weight(`${name}.bias`, [channels]))]);
  }

  /** torch.nn.LayerNorm over the last axis. */
  layerNorm(x: string, name: string, width: number, epsilon: number): string {
    return this.g.op('LayerNormalization', [x, this.weight(`${name}.weight`, [width]), this.weight(`${name}.bias`, [width])], { axis: { int: -1 }, epsilon: { float: epsilon } });
  }

  silu(x: string): string {
    return this.g.op('Mul', [x, this.g.op('Sigmoid', [x])]);
  }

  /** Exact GELU, 0.5·x·(1 + erf(x/√2)) (torch.nn.functional.gelu's default). */
  gelu(x: string): string {
    const g = this.g;
    return g.op('Mul', [g.op('Mul', [x, g.floats([0.5])]), g.op('Add', [g.op('Erf', [g.op('Mul', [x, g.floats([Math.SQRT1_2])])]), g.floats([1])])]);
  }

  /** OpenAI CLIP's x·σ(1.702·x). */
  quickGelu(x: string): string {
    const g = this.g;
    return g.op('Mul', [x, g.op('Sigmoid', [g.op('Mul', [x, g.floats([1.702])])])]);
  }

  /**
   * softmax(q·kᵀ/√d)·v over `heads` heads of [B, T, C] inputs, as onnxruntime's fused com.microsoft
   * MultiHeadAttention, which both the CPU and CUDA providers run. On the CPU it is a flash-attention
   * kernel that never holds the [B, heads, T, T] scores: bench/attention.ts compares it with plain
   * MatMul → Softmax → MatMul (at 128² positions, batch 2: 3.6× faster, 0.46 GB against 18 GB).
   */
  attention(q: string, k: string, v: string, heads: number): string {
    return this.g.op('MultiHeadAttention', [q, k, v], { num_heads: { int: heads } }, 'com.microsoft');
  }

  /** Attention with an additive mask (CLIP's causal one), in plain ONNX ops; text is only 77 positions long. */
  maskedAttention(q: string, k: string, v: string, heads: number, width: number, mask: string): string {
    const g = this.g;
    const headWidth = width / heads;
    const split = (x: string, perm: number[]): string => g.op('Transpose', [g.op('Reshape', [x, g.int64s([0, 0, heads, headWidth])])], { perm: { ints: perm } });
    // The scale goes on q before the product, as torch's scaled_dot_product_attention applies it.
    const scaled = g.op('Mul', [split(q, [0, 2, 1, 3]), g.floats([1 / Math.sqrt(headWidth)])]);
    const scores = g.op('Add', [g.op('MatMul', [scaled, split(k, [0, 2, 3, 1])]), mask]);
    const mixed = g.op('MatMul', [g.op('Softmax', [scores], { axis: { int: -1 } }), split(v, [0, 2, 1, 3])]);
    return g.op('Reshape', [g.op('Transpose', [mixed], { perm: { ints: [0, 2, 1, 3] } }), g.int64s([0, 0, width])]);
  }

  /** [N, C, H, W] → [N, H·W, C]. */
  toSequence(x: string): string {
    const g = this.g;
    return g.op('Transpose', [g.op('Reshape', [x, g.int64s([0, 0, -1])])], { perm: { ints: [0, 2, 1] } });
  }

  /** [N, H·W, C] → [N, C, H, W], taking H and W from `like` (an [N, C, H, W] value with the same C). */
  fromSequence(x: string, like: string): string {
    const g = this.g;
    return g.op('Reshape', [g.op('Transpose', [x], { perm: { ints: [0, 2, 1] } }), g.op('Shape', [like])]);
  }

  /** Nearest-neighbour 2× upsampling, F.interpolate(scale_factor=2, mode="nearest"). */
  upsample2x(x: string): string {
    return this.g.op('Resize', [x, '', this.g.floats([1, 1, 2, 2])], {
      mode: { string: 'nearest' }, coordinate_transformation_mode: { string: 'asymmetric' }, nearest_mode: { string: 'floor' },
    });
  }

  /**
   * The sinusoidal embedding ldm's timestep_embedding gives: [cos(t·f), sin(t·f)] with
   * f_i = exp(−ln(10000)·i/half), for a float tensor t of any shape; the result has one more axis.
   */
  timestepEmbedding(t: string, width: number): string {
    const g = this.g;
    const half = width / 2;
    // float32 at every step, as torch computes exp(−ln(10000)·arange(half)/half) on a float32 arange.
    const f32 = Math.fround;
    const frequencies = g.floats(Array.from({ length: half }, (_, i) => f32(Math.exp(f32(f32(f32(-Math.log(10000)) * i) / half)))));
    const angles = g.op('Mul', [g.op('Unsqueeze', [t, g.int64s([-1])]), frequencies]);
    return g.op('Concat', [g.op('Cos', [angles]), g.op('Sin', [angles])], { axis: { int: -1 } });
  }
}
