import t from 'tap';
import { decodeElements } from '../../src/formats/element-types.js';
import { floatToHalf, halfToFloat } from '../../src/latent/float16.js';

t.test('half bit patterns decode to their IEEE 754 values', async (t) => {
  t.equal(halfToFloat(0x3c00), 1);
  t.equal(halfToFloat(0xc000), -2);
  t.equal(halfToFloat(0x7bff), 65504, 'largest finite half');
  t.equal(halfToFloat(0x0001), 2 ** -24, 'smallest subnormal');
  t.equal(halfToFloat(0x0400), 2 ** -14, 'smallest normal');
  t.equal(halfToFloat(0x7c00), Infinity);
  t.ok(Number.isNaN(halfToFloat(0x7e00)));
  t.ok(Object.is(halfToFloat(0x8000), -0));
});

t.test('float to half rounds to nearest, ties to even', async (t) => {
  t.equal(floatToHalf(1), 0x3c00);
  t.equal(floatToHalf(1 / 3), 0x3555, '1/3 = 0x3555 as numpy gives');
  t.equal(floatToHalf(1 + 2 ** -11), 0x3c00, 'halfway between 1 and the next half: ties to the even 1');
  t.equal(floatToHalf(1 + 3 * 2 ** -11), 0x3c02, 'halfway between 0x3c01 and 0x3c02: ties to even 0x3c02');
  t.equal(floatToHalf(65520), 0x7c00, 'rounds past the largest finite half to infinity');
  t.equal(floatToHalf(2 ** -25), 0x0000, 'exactly half the smallest subnormal ties to even zero');
  t.equal(floatToHalf(3 * 2 ** -25), 0x0002, '1.5 subnormal ulps ties to even 2');
  t.equal(floatToHalf(2 ** -14 - 2 ** -25), 0x0400, 'the largest subnormal rounds up into the normals');
  t.equal(floatToHalf(-2), 0xc000);
  t.equal(floatToHalf(NaN) & 0x7c00, 0x7c00);
});

t.test('every finite half survives a round trip through float', async (t) => {
  let mismatches = 0;
  for (let bits = 0; bits < 0x10000; bits++) {
    if ((bits & 0x7c00) === 0x7c00) continue;
    if (floatToHalf(halfToFloat(bits)) !== bits) mismatches++;
  }
  t.equal(mismatches, 0);
});

t.test('decoding: bfloat16 is the top half of a float32, sign included; float16 by table equals the arithmetic, at any byte offset', async (t) => {
  const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0xc040, 0x3e80, 0xbf80]).buffer);
  t.same([...decodeElements(bf16, 'bfloat16', 4)], [1, -3, 0.25, -1]);
  const all = new Uint16Array(0x10000).map((_, bits) => bits);
  const shifted = new Uint8Array(all.byteLength + 1);
  shifted.set(new Uint8Array(all.buffer), 1);
  const decoded = decodeElements(shifted.subarray(1), 'float16', 0x10000);
  let mismatches = 0;
  for (let bits = 0; bits < 0x10000; bits++) if (!Object.is(decoded[bits], Math.fround(halfToFloat(bits))) && !(Number.isNaN(decoded[bits]) && Number.isNaN(halfToFloat(bits)))) mismatches++;
  t.equal(mismatches, 0, 'all 65536 bit patterns, read from an odd offset');
  t.same([...decodeElements(new Uint8Array(new Float32Array([1.5, -2]).buffer), 'float32', 2)], [1.5, -2]);
});
