import t from 'tap';
import { latentTargetSize } from '../../src/latent/target-size.js';

t.test('scale rounds like ComfyUI LatentUpscaleBy; explicit sizes pass through; bad combinations are named', async (t) => {
  t.same(latentTargetSize({ height: 3, width: 5 }, { scale: 1.5 }), { height: 4, width: 8 }, '4.5 -> 4 and 7.5 -> 8 (halves to even)');
  t.same(latentTargetSize({ height: 64, width: 64 }, { scale: 2.37 }), { height: 152, width: 152 }, '151.68 -> 152');
  t.same(latentTargetSize({ height: 64, width: 64 }, { width: 100, height: 80 }), { height: 80, width: 100 });
  t.throws(() => latentTargetSize({ height: 8, width: 8 }, { scale: 2, width: 4 }), { message: 'give either scale or width and height, not both' });
  t.throws(() => latentTargetSize({ height: 8, width: 8 }, { width: 4 }), { message: 'give width and height (latent cells), or scale' });
  t.throws(() => latentTargetSize({ height: 8, width: 8 }, { scale: 0 }), { message: 'scale must be positive; got 0' });
});
