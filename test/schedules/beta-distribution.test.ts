import t from 'tap';
import { betaQuantile, logGamma, regularizedIncompleteBeta } from '../../src/schedules/beta-distribution.js';

t.test('log Γ at known points', async (t) => {
  t.ok(Math.abs(logGamma(1)) < 1e-12);
  t.ok(Math.abs(logGamma(5) - Math.log(24)) < 1e-12);
  t.ok(Math.abs(logGamma(0.5) - Math.log(Math.sqrt(Math.PI))) < 1e-12);
  t.ok(Math.abs(logGamma(0.6) - Math.log(1.4891922488128171)) < 1e-12, 'Γ(0.6)');
});

t.test('closed forms: Beta(1,1) is uniform, Beta(2,1) has CDF x², Beta(½,½) is the arcsine law', async (t) => {
  for (const x of [0.01, 0.2, 0.5, 0.77, 0.99]) {
    t.ok(Math.abs(regularizedIncompleteBeta(x, 1, 1) - x) < 1e-12);
    t.ok(Math.abs(regularizedIncompleteBeta(x, 2, 1) - x * x) < 1e-12);
    t.ok(Math.abs(regularizedIncompleteBeta(x, 0.5, 0.5) - (2 / Math.PI) * Math.asin(Math.sqrt(x))) < 1e-10);
  }
});

t.test('quantiles invert the CDF, and Beta(0.6,0.6) is symmetric about ½', async (t) => {
  for (const p of [0.001, 0.1, 0.5, 0.9, 0.999]) {
    t.ok(Math.abs(betaQuantile(p, 2, 1) - Math.sqrt(p)) < 1e-12, `Beta(2,1) ppf(${p}) = √p`);
    t.ok(Math.abs(betaQuantile(p, 0.5, 0.5) - Math.sin((Math.PI * p) / 2) ** 2) < 1e-10, `arcsine ppf(${p})`);
    t.ok(Math.abs(betaQuantile(p, 0.6, 0.6) + betaQuantile(1 - p, 0.6, 0.6) - 1) < 1e-12, `symmetry at ${p}`);
  }
  t.equal(betaQuantile(0, 0.6, 0.6), 0);
  t.equal(betaQuantile(1, 0.6, 0.6), 1);
});
