import t from 'tap';
import { SCHEDULERS } from '../../src/schedules/schedulers.js';
import { pythonWith, runPythonJson } from '../helpers/python.js';
import { FLOAT32_SCHEDULE_TOLERANCE, maxRelativeDifference, scheduleReference } from '../helpers/schedules.js';

// The companion extension computes the schedules itself inside A1111 (latent_upscale_companion/schedulers.py);
// it is held to the same upstream code as the service (test/reference/schedules_reference.py), over the
// same table, so the two cannot drift apart.
const CASES = SCHEDULERS.filter((s) => s.sigmas !== undefined).flatMap((s) =>
  [2, 10, 30].map((steps) => ({ scheduler: s.name, steps, family: 'sd1' as const })));
const { reference, skip } = scheduleReference({ schedules: CASES });

t.test('every companion schedule equals its upstream code', { skip }, async (t) => {
  const companion = runPythonJson<number[][]>(pythonWith(['torch']).python!, 'companion_schedules.py', { table: reference!.table, cases: CASES });
  CASES.forEach((c, i) => {
    const difference = maxRelativeDifference(companion[i]!, reference!.schedules[i]!);
    t.ok(difference <= FLOAT32_SCHEDULE_TOLERANCE, `${c.scheduler}, ${c.steps} steps: max relative difference ${difference.toExponential(1)}`);
  });
});
