import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { encodeElements } from '../formats/element-types.js';
import { seededRandom } from '../random/mulberry32.js';
import { sigmaTableNamed } from '../schedules/sigma-table.js';
import type { FamilyName } from '../models/families.js';
import { componentGraphs, type ModelArchitecture } from './layouts.js';
import { WeightRecorder, type StoragePrecision } from './weights.js';

// Random-weight single-file checkpoints with a real family's key names and block structure, at a small
// width ('tiny', for tests) or the real one ('full', for benchmarks). The key list comes from running the
// converter's own graph builders against a recorder; the PyTorch reference in test/reference loads the
// files with strict key matching, so a wrong name fails there rather than agreeing with itself here.

export type TestCheckpointSize = 'tiny' | 'full';

const CLIP_VOCABULARY = 49408;
const clip = (width: number, layers: number) => ({ flavour: 'clip', width, layers, vocabulary: CLIP_VOCABULARY, mlpWidth: 4 * width }) as const;
const openClip = (width: number, layers: number, projection: number) => ({ flavour: 'openclip', width, layers, vocabulary: CLIP_VOCABULARY, mlpWidth: 4 * width, projection }) as const;
const vae = (channels: number, channelMult: number[], resBlocks: number) => ({ channels, channelMult, resBlocks, zChannels: 4, embedDim: 4 });

/** Architectures per family and size. Tiny ones keep every structural feature (levels without attention, SDXL's deeper later levels, linear vs conv projections, several heads, 1 and 2 residual blocks, VAE channel changes) at widths of 32–128. */
export const TEST_ARCHITECTURES: Record<FamilyName, Record<TestCheckpointSize, ModelArchitecture>> = {
  sd1: {
    tiny: {
      family: 'sd1', text: [clip(128, 3)], vae: vae(32, [1, 2, 2, 2], 2),
      unet: { inChannels: 4, outChannels: 4, modelChannels: 32, channelMult: [1, 2, 2], resBlocks: 1, depths: [1, 1, 0], middleDepth: 1, contextWidth: 128, linearProjection: false, heads: { count: 8 } },
    },
    full: {
      family: 'sd1', text: [clip(768, 12)], vae: vae(128, [1, 2, 4, 4], 2),
      unet: { inChannels: 4, outChannels: 4, modelChannels: 320, channelMult: [1, 2, 4, 4], resBlocks: 2, depths: [1, 1, 1, 0], middleDepth: 1, contextWidth: 768, linearProjection: false, heads: { count: 8 } },
    },
  },
  sd2: {
    tiny: {
      family: 'sd2', text: [openClip(64, 3, 64)], vae: vae(32, [1, 1, 1, 1], 1),
      unet: { inChannels: 4, outChannels: 4, modelChannels: 64, channelMult: [1, 2], resBlocks: 2, depths: [1, 1], middleDepth: 1, contextWidth: 64, linearProjection: true, heads: { width: 64 } },
    },
    full: {
      family: 'sd2', text: [openClip(1024, 24, 1024)], vae: vae(128, [1, 2, 4, 4], 2),
      unet: { inChannels: 4, outChannels: 4, modelChannels: 320, channelMult: [1, 2, 4, 4], resBlocks: 2, depths: [1, 1, 1, 0], middleDepth: 1, contextWidth: 1024, linearProjection: true, heads: { width: 64 } },
    },
  },
  sdxl: {
    tiny: {
      family: 'sdxl', text: [clip(64, 3), openClip(128, 3, 32)], vae: vae(32, [1, 1, 1, 1], 1),
      unet: { inChannels: 4, outChannels: 4, modelChannels: 32, channelMult: [1, 2, 2], resBlocks: 1, depths: [0, 1, 2], middleDepth: 2, contextWidth: 192, linearProjection: true, heads: { width: 64 }, admWidth: 32 + 6 * 256 },
    },
    full: {
      family: 'sdxl', text: [clip(768, 12), openClip(1280, 32, 1280)], vae: vae(128, [1, 2, 4, 4], 2),
      unet: { inChannels: 4, outChannels: 4, modelChannels: 320, channelMult: [1, 2, 4], resBlocks: 2, depths: [0, 2, 10], middleDepth: 10, contextWidth: 2048, linearProjection: true, heads: { width: 64 }, admWidth: 2816 },
    },
  },
};

/** Every weight key and shape a checkpoint of this architecture holds for its networks. */
export function checkpointShapes(arch: ModelArchitecture): Map<string, readonly number[]> {
  const shapes = new Map<string, readonly number[]>();
  for (const component of componentGraphs(arch)) component.build(new WeightRecorder(component.prefix, shapes));
  return shapes;
}

interface ExtraTensor {
  readonly dtype: 'F32' | 'I64';
  readonly shape: readonly number[];
  readonly values: (count: number) => Uint8Array;
}

const int64Range = (count: number): Uint8Array => new Uint8Array(BigInt64Array.from({ length: count }, (_, i) => BigInt(i)).buffer);
const float32 = (values: number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer);

/**
 * What real files hold besides the networks, which a converter must ignore: the DDPM buffers (SD 1.x/2.x),
 * EMA bookkeeping, CLIP's position_ids (int64 in some files, float garbage in merged ones), OpenCLIP's logit_scale.
 */
function extraTensors(family: FamilyName): Map<string, ExtraTensor> {
  const alphasCumprod = (): Uint8Array => {
    const sigmas = sigmaTableNamed('sd1').sigmas;
    return float32([...sigmas].map((s) => 1 / (1 + s * s)));
  };
  const scalar = (value: number): ExtraTensor => ({ dtype: 'F32', shape: [], values: () => float32([value]) });
  const extras = new Map<string, ExtraTensor>([['model_ema.decay', scalar(0.9999)]]);
  if (family !== 'sdxl') extras.set('alphas_cumprod', { dtype: 'F32', shape: [1000], values: alphasCumprod });
  if (family === 'sd1') extras.set('cond_stage_model.transformer.text_model.embeddings.position_ids', { dtype: 'I64', shape: [1, 77], values: int64Range });
  if (family === 'sd2') extras.set('cond_stage_model.model.logit_scale', scalar(Math.log(1 / 0.07)));
  if (family === 'sdxl') {
    extras.set('conditioner.embedders.0.transformer.text_model.embeddings.position_ids', { dtype: 'F32', shape: [1, 77], values: (n) => float32(Array.from({ length: n }, (_, i) => i + 1e-3)) });
    extras.set('conditioner.embedders.1.model.logit_scale', scalar(Math.log(1 / 0.07)));
  }
  return extras;
}

/**
 * Values that keep activations near unit scale through any depth: matrices and kernels uniform with
 * variance 1/fan_in, norm gains 1 ± 0.1, biases ± 0.1.
 */
function randomWeights(name: string, shape: readonly number[], next: () => number): Float32Array {
  const count = shape.reduce((a, b) => a * b, 1);
  const fanIn = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
  const spread = shape.length > 1 ? Math.sqrt(12 / fanIn) : 0.2;
  // Every one-dimensional `weight` in these networks is a norm's gain (Linear and Conv weights have 2+ axes).
  const centre = shape.length === 1 && name.endsWith('weight') ? 1 : 0;
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = centre + spread * (next() - 0.5);
  return values;
}

export interface TestCheckpointOptions {
  readonly family: FamilyName;
  readonly size: TestCheckpointSize;
  readonly precision: StoragePrecision;
  readonly seed: number;
}

/** Writes the checkpoint tensor by tensor (a full SDXL never sits in memory), to a temporary name first. */
export function writeTestCheckpoint(path: string, options: TestCheckpointOptions): { tensors: number; bytes: number } {
  const arch = TEST_ARCHITECTURES[options.family][options.size];
  const dtype = options.precision === 'fp16' ? 'F16' : 'F32';
  const weights = [...checkpointShapes(arch)].map(([name, shape]) => ({ name, dtype, shape } as const));
  const extras = extraTensors(options.family);
  const entries = [...weights, ...[...extras].map(([name, extra]) => ({ name, dtype: extra.dtype, shape: extra.shape }))].sort((a, b) => (a.name < b.name ? -1 : 1));
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', 'latent-upscale': `make-test-checkpoint ${options.family} ${options.size} seed ${options.seed}` } };
  let offset = 0;
  for (const entry of entries) {
    const length = entry.shape.reduce((a, b) => a * b, 1) * (entry.dtype === 'F16' ? 2 : entry.dtype === 'F32' ? 4 : 8);
    header[entry.name] = { dtype: entry.dtype, shape: entry.shape, data_offsets: [offset, offset + length] };
    offset += length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const temporary = `${path}.partial-${process.pid}`;
  const fd = openSync(temporary, 'w');
  try {
    let at = 0;
    const write = (bytes: Uint8Array): void => {
      for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done, at + done);
      at += bytes.length;
    };
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    write(length);
    write(Buffer.from(json, 'utf8'));
    entries.forEach((entry, index) => {
      const extra = extras.get(entry.name);
      if (extra !== undefined) return write(extra.values(entry.shape.reduce((a, b) => a * b, 1)));
      const values = randomWeights(entry.name, entry.shape, seededRandom(options.seed * 100003 + index));
      write(encodeElements(values, options.precision === 'fp16' ? 'float16' : 'float32'));
    });
  } catch (error) {
    closeSync(fd);
    rmSync(temporary, { force: true });
    throw error;
  }
  closeSync(fd);
  renameSync(temporary, path);
  return { tensors: entries.length, bytes: offset };
}
