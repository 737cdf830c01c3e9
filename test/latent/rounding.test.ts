import t from 'tap';
import { roundHalfEven } from '../../src/latent/rounding.js';

t.test('halves go to the even neighbour, as Python round() and numpy.rint do', async (t) => {
  t.same([0.5, 1.5, 2.5, 3.5, 4.5, 7.5].map(roundHalfEven), [0, 2, 2, 4, 4, 8]);
  t.same([-1.5, -2.5].map(roundHalfEven), [-2, -2]);
  t.same([2.4, 2.6, -2.6, 10].map(roundHalfEven), [2, 3, -3, 10]);
});
