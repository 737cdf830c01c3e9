import t from 'tap';
import { SIGMA_TABLES, sigmaMax, sigmaMin, sigmaTableNamed, sigmaToTimestep, timestepToSigma } from '../../src/schedules/sigma-table.js';
import { maxAbsDifference } from '../helpers/random.js';
import { scheduleReference } from '../helpers/schedules.js';

const sd1 = sigmaTableNamed('sd1');

const { reference, skip } = scheduleReference({});

t.test('the SD 1.x table is A1111\'s: CompVis register_schedule\'s float32 ᾱ through k-diffusion\'s DiscreteEpsDDPMDenoiser', { skip }, async (t) => {
  t.equal(sd1.sigmas.length, 1000);
  t.same(Array.from(sd1.sigmas), reference!.table, 'every σ, to the float32 bit');
  // log σ: torch's float32 log and Math.log rounded to float32 may part by one float32 ulp (|log σ| < 4: 2^-21).
  t.ok(maxAbsDifference(sd1.logSigmas, reference!.log_table) <= 2 ** -21, 'log σ within a float32 ulp');
});

t.test('first entry from the formula: β0 = 0.00085, ᾱ0 = 1 − β0, σ0 = √(β0/ᾱ0)', async (t) => {
  // The table is float32 like torch's: 1 − ᾱ0 in float32 keeps only ~4 significant digits of β0.
  t.ok(Math.abs(sd1.sigmas[0]! - Math.sqrt(0.00085 / (1 - 0.00085))) < 2e-6);
  t.ok(sd1.sigmas.every((s, i) => i === 0 || s > sd1.sigmas[i - 1]!), 'ascending');
});

t.test('t -> σ hits table entries at integers and interpolates in log σ between', async (t) => {
  // Through the float32 log table, as k-diffusion's t_to_sigma: exact to float32 precision, not bit-exact.
  const relative = (a: number, b: number): number => Math.abs(a - b) / b;
  t.ok(relative(timestepToSigma(sd1, 999), sigmaMax(sd1)) < 1e-6);
  t.ok(relative(timestepToSigma(sd1, 0), sigmaMin(sd1)) < 1e-6);
  t.ok(relative(timestepToSigma(sd1, 500), sd1.sigmas[500]!) < 1e-6);
  const half = timestepToSigma(sd1, 500.5);
  t.ok(Math.abs(half - Math.sqrt(sd1.sigmas[500]! * sd1.sigmas[501]!)) < 1e-6, 'halfway in t is the geometric mean');
});

t.test('σ -> t inverts t -> σ, including fractional t', async (t) => {
  for (const time of [0, 0.5, 1, 17.25, 499.5, 998.75, 999]) {
    t.ok(Math.abs(sigmaToTimestep(sd1, timestepToSigma(sd1, time)) - time) < 1e-6, `t = ${time}`);
  }
  t.equal(sigmaToTimestep(sd1, 100), 999, 'above σmax clamps to the last timestep');
  t.equal(sigmaToTimestep(sd1, 1e-4), 0, 'below σmin clamps to 0');
});

t.test('model tables: SDXL shares the betas, differs only in Align Your Steps; unknown names are listed', async (t) => {
  t.same(Array.from(sigmaTableNamed('sdxl').sigmas), Array.from(sd1.sigmas));
  t.not(sigmaTableNamed('sdxl').alignYourSteps[1], sd1.alignYourSteps[1]);
  t.equal(SIGMA_TABLES.length, 2);
  t.throws(() => sigmaTableNamed('flux'), { message: "unknown model table 'flux' (allowed: sd1, sdxl)" });
});
