import t from 'tap';
import { DecodeTimes, SamplingEta } from '../../../src/backends/onnx/eta.js';

// The onnx ETA on a clock the test moves: every expected value is arithmetic on the times it set.

t.test('steps left at the mean seconds per step so far', async (t) => {
  let now = 10_000;
  const eta = new SamplingEta(0, () => now);
  t.equal(eta.afterStep(1, 5), undefined, 'nothing to go on before sampling has started');
  eta.samplingStarted();
  now += 2000;
  t.equal(eta.afterStep(1, 5), 8, '2 s for step 1: 4 steps left at 2 s');
  now += 1000;
  t.equal(eta.afterStep(2, 5), 4.5, '3 s for 2 steps: 3 left at 1.5 s');
  now += 3000;
  t.equal(eta.afterStep(5, 5), 0, 'nothing left after the last step');
});

t.test('the decode is estimated from the model\'s last decode, scaled by pixels', async (t) => {
  const decodes = new DecodeTimes();
  t.equal(decodes.estimate('alpha', 512 * 512), 0, 'a model that has not decoded yet adds nothing');
  decodes.record('alpha', 512 * 512, 0.5);
  t.equal(decodes.estimate('alpha', 1024 * 1024), 2, 'four times the pixels, four times the 0.5 s');
  t.equal(decodes.estimate('beta', 1024 * 1024), 0, 'per model');
  decodes.record('alpha', 256 * 256, 0.25);
  t.equal(decodes.estimate('alpha', 512 * 512), 1, 'the latest decode counts');

  let now = 0;
  const eta = new SamplingEta(decodes.estimate('alpha', 512 * 512), () => now);
  eta.samplingStarted();
  now += 500;
  t.equal(eta.afterStep(1, 3), 2, '2 steps at 0.5 s, then the 1 s decode');
  now += 500;
  t.equal(eta.afterStep(3, 3), 1, 'after the last step only the decode is left');
});
