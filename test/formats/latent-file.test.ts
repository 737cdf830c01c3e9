import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { decodeLatent, encodeLatent, formatOf, readLatentFile, writeLatentFile } from '../../src/formats/latent-file.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/formats/safetensors.js';
import { latent } from '../../src/latent/tensor.js';
import { handMadeSafetensors } from '../helpers/safetensors.js';
import { temporaryFolder } from '../helpers/temporary.js';

const body = new Uint8Array(Float32Array.from([1, 2, 3, 4]).buffer);

t.test('reads a hand-made safetensors file with one tensor', async (t) => {
  const bytes = handMadeSafetensors({ samples: { dtype: 'F32', shape: [1, 1, 2, 2], data_offsets: [0, 16] } }, body);
  const file = decodeLatent(bytes, 'safetensors');
  t.same(Array.from(file.latent.data), [1, 2, 3, 4]);
  t.same(file.latent.shape, [1, 1, 2, 2]);
});

t.test('ComfyUI .latent: latent_tensor with the version marker is read as stored', async (t) => {
  const bytes = handMadeSafetensors({
    __metadata__: { prompt: '{}' },
    latent_tensor: { dtype: 'F32', shape: [1, 1, 2, 2], data_offsets: [0, 16] },
    latent_format_version_0: { dtype: 'F32', shape: [0], data_offsets: [16, 16] },
  }, body);
  t.same(Array.from(decodeLatent(bytes, 'latent').latent.data), [1, 2, 3, 4]);
});

t.test('ComfyUI .latent without the marker is divided by 0.18215, as LoadLatent does', async (t) => {
  const bytes = handMadeSafetensors({ latent_tensor: { dtype: 'F32', shape: [1, 1, 2, 2], data_offsets: [0, 16] } }, body);
  const data = decodeLatent(bytes, 'latent').latent.data;
  t.ok(Math.abs(data[3]! - 4 / 0.18215) < 1e-4);
});

t.test('writing .latent stores latent_tensor and the empty marker', async (t) => {
  const value = latent([1, 4, 2, 3], Float32Array.from({ length: 24 }, (_, i) => i / 7));
  const decoded = decodeSafetensors(encodeLatent({ latent: value, element: 'float32' }, 'latent'));
  t.same([...decoded.tensors.keys()].sort(), ['latent_format_version_0', 'latent_tensor']);
  t.same(decoded.tensors.get('latent_format_version_0')!.shape, [0]);
  t.same(Array.from(decoded.tensors.get('latent_tensor')!.data), Array.from(value.data));
});

t.test('header is padded to 8 bytes and offsets are contiguous', async (t) => {
  const bytes = encodeSafetensors(new Map([
    ['a', { shape: [1, 1, 1, 3], element: 'float16' as const, data: Float32Array.from([1, 2, 3]) }],
    ['b', { shape: [1, 1, 1, 1], element: 'float32' as const, data: Float32Array.from([5]) }],
  ]));
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  t.equal(headerLength % 8, 0);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<string, { data_offsets: number[]; dtype: string }>;
  t.same(header['a']!.data_offsets, [0, 6]);
  t.same(header['b']!.data_offsets, [6, 10]);
  t.equal(header['a']!.dtype, 'F16');
});

t.test('BF16 tensors are read', async (t) => {
  const bf = new Uint8Array(new Uint16Array([0x3f80, 0xc040]).buffer);
  const bytes = handMadeSafetensors({ x: { dtype: 'BF16', shape: [1, 1, 1, 2], data_offsets: [0, 4] } }, bf);
  t.same(Array.from(decodeLatent(bytes, 'safetensors').latent.data), [1, -3]);
});

t.test('errors name the file and the problem', async (t) => {
  const two = handMadeSafetensors({
    a: { dtype: 'F32', shape: [1, 1, 1, 2], data_offsets: [0, 8] },
    b: { dtype: 'F32', shape: [1, 1, 1, 2], data_offsets: [8, 16] },
  }, body);
  t.throws(() => decodeLatent(two, 'safetensors', 'x.safetensors'), { message: /x\.safetensors: holds 2 tensors \(a, b\)/ });
  const f64 = handMadeSafetensors({ a: { dtype: 'F64', shape: [1, 1, 1, 2], data_offsets: [0, 16] } }, body);
  t.throws(() => decodeLatent(f64, 'safetensors'), { message: /dtype F64; supported: F32, F16, BF16/ });
  const threeD = handMadeSafetensors({ a: { dtype: 'F32', shape: [1, 2, 2], data_offsets: [0, 16] } }, body);
  t.throws(() => decodeLatent(threeD, 'safetensors'), { message: /tensor 'a': latent must be 4-D/ });
  t.throws(() => decodeLatent(new Uint8Array(20), 'safetensors'), { message: /not a safetensors file/ });
  const badOffsets = handMadeSafetensors({ a: { dtype: 'F32', shape: [1, 1, 2, 2], data_offsets: [0, 12] } }, body);
  t.throws(() => decodeLatent(badOffsets, 'safetensors'), { message: /data offsets \[0, 12\] do not match/ });
  t.throws(() => formatOf('a.png'), { message: /unsupported latent file extension '\.png' \(allowed: \.npy, \.safetensors, \.latent\)/ });
});

t.test('files round-trip through disk in every format, keeping fp16 as fp16', async (t) => {
  const dir = await temporaryFolder(t, 'latent-file');
  const value = latent([1, 4, 3, 2], Float32Array.from({ length: 24 }, (_, i) => (i - 12) / 8));
  for (const ext of ['npy', 'safetensors', 'latent']) {
    for (const element of ['float32', 'float16'] as const) {
      const path = join(dir, `x-${element}.${ext}`);
      await writeLatentFile(path, { latent: value, element });
      const back = await readLatentFile(path);
      t.equal(back.element, element, `${ext} keeps ${element}`);
      t.same(Array.from(back.latent.data), Array.from(value.data), `${ext} ${element} values (all exact in fp16)`);
    }
  }
  await writeFile(join(dir, 'empty.npy'), new Uint8Array(0));
  await t.rejects(readLatentFile(join(dir, 'empty.npy')), { message: /not a \.npy file/ });
  await t.rejects(readLatentFile(join(dir, 'missing.npy')), { message: /missing\.npy: cannot read \(ENOENT\)/ });
  t.ok((await readFile(join(dir, 'x-float16.npy'))).length < (await readFile(join(dir, 'x-float32.npy'))).length);
});
