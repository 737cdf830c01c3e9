import t from 'tap';
import { OnnxBackend } from '../../../src/backends/onnx/backend.js';
import { SessionPool } from '../../../src/engine/session-pool.js';
import { modelsFolder } from '../../helpers/models.js';

t.test('the load log names each model\'s family, prediction and VAE decode precision, and warns of an fp16 SDXL VAE', async (t) => {
  const folder = await modelsFolder({ half: { precision: 'fp16' }, xl: { family: 'sdxl', prediction: 'v' }, xlHalf: { family: 'sdxl', precision: 'fp16' } });
  const lines: string[] = [];
  const pool = new SessionPool();
  t.teardown(() => pool.release());
  const backend = new OnnxBackend({ modelsDir: folder, tiles: { tile: 64, overlap: 8 }, concurrency: 1, warmup: false, log: (line) => lines.push(line), cacheDir: `${folder}/.cache`, cachePrecision: 'fp16' }, pool);
  await backend.start();
  const line = (name: string): string => lines.find((l) => l.startsWith(`onnx: model '${name}'`)) ?? '';
  t.match(line('half'), /^onnx: model 'half' \(SD 1\.x, eps-prediction\) runs on cpu \(float16, .*VAE decodes in float16, VAE scale 0\.18215\)$/, 'fp16 SD 1.x: no warning');
  t.match(line('xl'), /^onnx: model 'xl' \(SDXL, v-prediction\) runs on cpu \(float32, .*VAE decodes in float32, VAE scale 0\.13025\)$/);
  t.match(line('xlHalf'), /VAE decodes in float16, VAE scale 0\.13025\); the SDXL VAE overflows in float16 \(decodes fail with inf\/NaN\): use an fp32 VAE export or madebyollin's sdxl-vae-fp16-fix$/);
});
