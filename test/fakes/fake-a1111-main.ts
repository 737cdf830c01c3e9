import { FakeA1111, type FakeA1111Options } from './fake-a1111.js';

// A fake A1111 in its own process, so tests can kill it, or have it die mid-job. Options come as JSON in
// FAKE_A1111_OPTIONS; the control routes (/__fake/behaviour, /__fake/state) are always on.

export interface FakeA1111ProcessOptions extends FakeA1111Options {
  /** 0 (the default) picks a free port. */
  readonly port?: number;
}

const { port = 0, ...options } = JSON.parse(process.env['FAKE_A1111_OPTIONS'] ?? '{}') as FakeA1111ProcessOptions;
const fake = await new FakeA1111({ ...options, control: true }).start(port);
fake.onStep = (step) => {
  if (step >= (fake.behaviour.exitAfterSteps ?? Infinity)) process.exit(1);
};
process.once('SIGTERM', () => void fake.stop().then(() => process.exit(0)));
console.log(`fake-a1111 listening on ${fake.url}`);
