import { join } from 'node:path';
import type { Test } from 'tap';
import { writeTestModel, type TestModelOptions } from '../../src/models/test-model.js';
import { temporaryFolder } from './temporary.js';

/** A fresh folder holding one generated test model per variant name, for MODELS_DIR-style tests; removed when `t` ends. */
export async function modelsFolder(t: Test, variants: Record<string, Partial<TestModelOptions>>): Promise<string> {
  const root = await temporaryFolder(t, 'models');
  for (const [name, options] of Object.entries(variants)) await writeTestModel(join(root, name), options);
  return root;
}

export const VARIANTS: Record<string, Partial<TestModelOptions>> = {
  tiny: {},
  fp16: { precision: 'fp16' },
  optimum: { vaeEncoderOutput: 'latent_parameters', timestep: 'int64' },
  external: { externalData: true, precision: 'fp16', vaeEncoderOutput: 'latent_parameters' },
  'sd2-v': { family: 'sd2', prediction: 'v' },
  sdxl: { family: 'sdxl', precision: 'fp16', timestep: 'int64' },
};
