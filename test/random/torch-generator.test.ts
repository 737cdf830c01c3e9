import t from 'tap';
import { Mt19937, TorchGenerator } from '../../src/random/torch-generator.js';
import { findPython, fromBase64, runPythonJson } from '../helpers/python.js';
import { maxAbsDifference } from '../helpers/random.js';

t.test('MT19937: the C++ standard\'s check, the 10000th output of seed 5489 is 4123659995', async (t) => {
  const engine = new Mt19937(5489);
  let value = 0;
  for (let i = 0; i < 10000; i++) value = engine.nextUint32();
  t.equal(value, 4123659995);
  t.equal(new Mt19937(5489).nextUint32(), 3499211612, 'and its first output');
});

t.test('torch.manual_seed(0); torch.randn(4) is the well-known [1.5410, -0.2934, -2.1788, 0.5684]', async (t) => {
  const values = Array.from(new TorchGenerator(0).randn(4));
  t.same(values.map((v) => Number(v.toFixed(4))), [1.541, -0.2934, -2.1788, 0.5684]);
});

t.test('same seed, same bytes; different seeds differ; only the low 32 bits of a seed count, as in ATen', async (t) => {
  const a = new TorchGenerator(1234).randn(1000);
  t.same(Buffer.from(a.buffer), Buffer.from(new TorchGenerator(1234).randn(1000).buffer));
  t.not(Buffer.from(a.buffer).toString('hex'), Buffer.from(new TorchGenerator(1235).randn(1000).buffer).toString('hex'));
  t.same(Array.from(new TorchGenerator(2n ** 32n + 7n).randn(32)), Array.from(new TorchGenerator(7).randn(32)));
  const mean = a.reduce((s, v) => s + v, 0) / a.length;
  const variance = a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length;
  t.ok(Math.abs(mean) < 0.1 && Math.abs(variance - 1) < 0.15, `mean ${mean.toFixed(3)}, variance ${variance.toFixed(3)}`);
});

const python = findPython(['torch']);
if ('skip' in python) {
  t.comment(`torch.randn comparison skipped: ${python.skip}`);
} else {
  t.test('equals torch.randn after torch.manual_seed for latent shapes, tails and successive draws', async (t) => {
    const cases: { seed: number | string; shapes: number[][] }[] = [
      { seed: 0, shapes: [[1, 4, 64, 64]] },
      { seed: 42, shapes: [[1, 4, 13, 7], [1, 4, 13, 7]] },
      { seed: 3735928559, shapes: [[2, 4, 8, 9], [5], [3]] },
      { seed: '18446744073709551615', shapes: [[1, 4, 12, 12]] },
    ];
    const reference = runPythonJson<string[][]>(python.python, 'torch_randn.py', cases);
    cases.forEach((c, i) => {
      const generator = new TorchGenerator(BigInt(c.seed));
      c.shapes.forEach((shape, k) => {
        const ours = generator.randn(shape.reduce((a, b) => a * b, 1));
        const difference = maxAbsDifference(ours, fromBase64(reference[i]![k]!));
        t.ok(difference < 2e-6, `seed ${c.seed}, draw ${k} [${shape}]: max diff ${difference.toExponential(1)}`);
      });
    });
  });
}
