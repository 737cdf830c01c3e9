import t from 'tap';
import { runCommand } from '../helpers/cli.js';

t.test('sigmas takes A1111\'s combined sampler labels as sampler and scheduler', async (t) => {
  const combined = await runCommand(['sigmas', '--steps', '12', '--denoise', '0.4', '--sampler', 'DPM++ 2M Karras']);
  const separate = await runCommand(['sigmas', '--steps', '12', '--denoise', '0.4', '--sampler', 'DPM++ 2M', '--scheduler', 'karras']);
  t.equal(combined.code, 0, combined.stderr);
  t.same(JSON.parse(combined.stdout), JSON.parse(separate.stdout));
  t.equal(JSON.parse(combined.stdout).scheduler, 'karras');
  const conflict = await runCommand(['sigmas', '--steps', '12', '--sampler', 'Euler a Karras', '--scheduler', 'exponential']);
  t.equal(conflict.code, 2);
  t.match(conflict.stderr, /sampler 'Euler a Karras' names the karras scheduler but scheduler is 'exponential'/);
});
