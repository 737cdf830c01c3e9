// bench/attention: the attention the converted UNet and VAE use (onnxruntime's com.microsoft
// MultiHeadAttention) against the same attention in plain ONNX ops (MatMul → Softmax → MatMul), at the
// sequence lengths of 512², 768² and 1024² SD latents (64², 96², 128² positions), batch 2 as with CFG.
// Each size runs in a fresh child process so peak RSS belongs to one graph. Prints the time ratio
// plain/fused (> 1: fused is faster), both peak RSS figures and the largest difference of the outputs.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { Layers } from '../src/convert/graphs/layers.js';
import { GraphBuilder } from '../src/engine/onnx/graph-builder.js';
import { encodeModel } from '../src/engine/onnx/model.js';

const WIDTH = 320;
const HEADS = 8;

async function measure(positions: number, fused: boolean): Promise<void> {
  const g = new GraphBuilder('attention');
  const nn = new Layers(g, { tensor: (_g, name) => name, expect: () => undefined });
  const out = fused ? nn.attention('q', 'k', 'v', HEADS) : nn.maskedAttention('q', 'k', 'v', HEADS, WIDTH, g.floats([0]));
  const spec = g.build(['q', 'k', 'v'].map((name) => ({ name, type: 'float32' as const, shape: ['batch', 'positions', WIDTH] })), [{ name: 'y', from: out, type: 'float32', shape: ['batch', 'positions', WIDTH] }]);
  const session = await ort.InferenceSession.create(encodeModel(spec));
  const input = (phase: number) => new ort.Tensor('float32', Float32Array.from({ length: 2 * positions * WIDTH }, (_, i) => Math.sin(i * 0.37 + phase)), [2, positions, WIDTH]);
  const feeds = { q: input(0), k: input(1), v: input(2) };
  const started = performance.now();
  const y = (await session.run(feeds))['y']!.data as Float32Array;
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(JSON.stringify({ seconds, rss: process.resourceUsage().maxRSS * 1024, sample: Array.from(y.subarray(0, 4096)) }));
}

if (process.argv[2] === 'one') {
  await measure(Number(process.argv[3]), process.argv[4] === 'fused');
} else {
  const self = fileURLToPath(import.meta.url);
  const child = (positions: number, kind: string) => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', self, 'one', String(positions), kind], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (result.status !== 0) return undefined;
    return JSON.parse(result.stdout) as { seconds: number; rss: number; sample: number[] };
  };
  console.log('positions   fused s  plain s  plain/fused   fused RSS  plain RSS   max |Δ|');
  for (const side of [64, 96, 128]) {
    const positions = side * side;
    const fused = child(positions, 'fused');
    const plain = child(positions, 'plain');
    if (!fused || !plain) {
      console.log(`${String(positions).padStart(9)}   ${fused ? fused.seconds.toFixed(2) : 'failed'}   ${plain ? plain.seconds.toFixed(2) : 'failed (out of memory?)'}`);
      continue;
    }
    const difference = Math.max(...fused.sample.map((v, i) => Math.abs(v - plain.sample[i]!)));
    const gb = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`;
    console.log(`${String(positions).padStart(9)}   ${fused.seconds.toFixed(2).padStart(7)}  ${plain.seconds.toFixed(2).padStart(7)}  ${(plain.seconds / fused.seconds).toFixed(2).padStart(10)}×  ${gb(fused.rss).padStart(10)} ${gb(plain.rss).padStart(10)}   ${difference.toExponential(1)}`);
  }
}
