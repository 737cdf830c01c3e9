import t from 'tap';
import { UserError } from '../../src/errors.js';
import { decodeNpy, encodeNpy } from '../../src/formats/npy.js';
import { latent } from '../../src/latent/tensor.js';

/** A .npy as numpy writes it: magic, version, u16 header length, a dict padded with spaces to 64 bytes. */
function handMadeNpy(descr: string, shape: string, body: Uint8Array, fortran = 'False'): Uint8Array {
  const dict = `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;
  const header = dict.padEnd(64 - 10 - 1, ' ') + '\n';
  const bytes = new Uint8Array(10 + header.length + body.length);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length, 0]);
  bytes.set(new TextEncoder().encode(header), 10);
  bytes.set(body, 10 + header.length);
  return bytes;
}

const floats = (values: number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer);

t.test('decodes a hand-made float32 .npy', async (t) => {
  const { latent: value, element } = decodeNpy(handMadeNpy('<f4', '(1, 2, 1, 2)', floats([1, -2, 3.5, 0.25])));
  t.same(value.shape, [1, 2, 1, 2]);
  t.same(Array.from(value.data), [1, -2, 3.5, 0.25]);
  t.equal(element, 'float32');
});

t.test('decodes float16: 0x3c00 = 1, 0xc000 = -2', async (t) => {
  const body = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x3800, 0x0000]).buffer);
  const { latent: value, element } = decodeNpy(handMadeNpy('<f2', '(1, 1, 2, 2)', body));
  t.same(Array.from(value.data), [1, -2, 0.5, 0]);
  t.equal(element, 'float16');
});

t.test('encode then decode is the identity, header 64-byte aligned', async (t) => {
  const value = latent([2, 4, 3, 5], Float32Array.from({ length: 120 }, (_, i) => Math.sin(i) * 10));
  const bytes = encodeNpy(value);
  const headerLength = bytes[8]! | (bytes[9]! << 8);
  t.equal((10 + headerLength) % 64, 0);
  t.equal(bytes.length, 10 + headerLength + 120 * 4);
  const back = decodeNpy(bytes);
  t.same(back.latent.shape, value.shape);
  t.same(Array.from(back.latent.data), Array.from(value.data));
});

t.test('float16 encode rounds each value to the nearest half', async (t) => {
  const value = latent([1, 1, 1, 3], Float32Array.from([1 / 3, 1000.3, -0.1]));
  const back = decodeNpy(encodeNpy(value, 'float16')).latent.data;
  t.same(Array.from(back), [0.333251953125, 1000.5, -0.0999755859375], 'halves are 0.5 apart near 1000, so 1000.3 rounds to 1000.5');
});

t.test('rejects what it cannot read with a clear message', async (t) => {
  t.throws(() => decodeNpy(handMadeNpy('<f8', '(1, 1, 1, 1)', new Uint8Array(8))), new UserError(".npy: dtype '<f8' is not supported; save the latent as little-endian float32 ('<f4') or float16 ('<f2')", 'LATENT_UNREADABLE'));
  t.throws(() => decodeNpy(handMadeNpy('>f4', '(1, 1, 1, 1)', new Uint8Array(4))), { message: /dtype '>f4' is not supported/ });
  t.throws(() => decodeNpy(handMadeNpy('<f4', '(1, 1, 1, 1)', new Uint8Array(4), 'True')), { message: /Fortran-ordered/ });
  t.throws(() => decodeNpy(handMadeNpy('<f4', '(4, 4)', new Uint8Array(64))), { message: /must be 4-D.*got 2-D shape \[4, 4\]/ });
  t.throws(() => decodeNpy(handMadeNpy('<f4', '(1, 4, 8, 8)', new Uint8Array(16))), { message: /truncated/ });
  t.throws(() => decodeNpy(new TextEncoder().encode('not numpy at all')), { message: /not a \.npy file/ });
  t.throws(() => decodeNpy(handMadeNpy('<f4', '(1, 0, 8, 8)', new Uint8Array(0))), { message: /channels must be a positive integer/ });
});
