import t from 'tap';
import { encodeRgbPng } from '../../src/images/png.js';
import { pngBase64, startService } from '../helpers/service.js';

const service = await startService({ companion: true }, { MAX_OUTPUT_MEGAPIXELS: '4', MAX_BODY_MB: '0.5' });
t.teardown(() => service.close());

async function post(payload: Record<string, unknown>): Promise<{ status: number; message: string }> {
  const response = await service.app.inject({ method: 'POST', url: '/upscale', payload });
  return { status: response.statusCode, message: (response.json() as { message: string }).message };
}

/** A PNG that is only a signature and an IHDR claiming the given size: nothing to decode. */
function pngHeaderOnly(width: number, height: number): string {
  const png = Buffer.from(encodeRgbPng(1, 1, () => [0, 0, 0]));
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  return png.toString('base64');
}

t.test('each bad request gets its status and a message naming the field and what is allowed', async (t) => {
  const image = pngBase64();
  const cases: [Record<string, unknown>, number, RegExp][] = [
    [{ image, method: 'lanczos' }, 422, /unknown method 'lanczos' \(allowed: nearest, nearest-exact, bilinear, bilinear-antialiased, bicubic, bicubic-antialiased, area, bislerp, linear, trilinear\)/],
    [{ image, scheduler: 'cosine' }, 422, /unknown scheduler 'cosine' \(allowed: simple, normal, karras/],
    [{ image, sampler: 'Euler z' }, 422, /unknown sampler 'Euler z' \(allowed: euler \(Euler\), euler_ancestral \(Euler a\)/],
    [{ image, backend: 'comfyui' }, 422, /unknown backend 'comfyui' \(allowed: a1111\)/],
    [{ image: 'not base64 at all!' }, 400, /image: not valid base64/],
    [{ image: Buffer.from('GIF89a, this is no PNG').toString('base64') }, 422, /image: not a PNG, JPEG or WebP file \(allowed: png, jpeg, webp\)/],
    [{}, 400, /body\.image: /],
    [{ image, steps: 0 }, 400, /body\.steps: /],
    [{ image, steps: 1001 }, 400, /body\.steps: /],
    [{ image, denoise: 0 }, 400, /body\.denoise: /],
    [{ image, denoise: 1.5 }, 400, /body\.denoise: /],
    [{ image, width: 0, height: 64 }, 400, /body\.width: /],
    [{ image, width: -8, height: 64 }, 400, /body\.width: /],
    [{ image, width: 512 }, 422, /width and height go together/],
    [{ image, scale: 2, width: 64, height: 64 }, 422, /either scale or width and height/],
    [{ image, width: 4096, height: 4096 }, 422, /output 4096×4096 is 16\.78 megapixels; the limit is 4 \(MAX_OUTPUT_MEGAPIXELS\)/],
    [{ image, scale: 0 }, 400, /body\.scale: /],
    [{ image, seed: -2 }, 400, /body\.seed: /],
    [{ image: pngHeaderOnly(50000, 50000) }, 413, /image: 50000×50000 is 2500\.0 megapixels; the limit is 16 \(MAX_INPUT_MEGAPIXELS\)/],
  ];
  for (const [payload, status, message] of cases) {
    const result = await post(payload);
    t.equal(result.status, status, `${JSON.stringify(payload).slice(0, 80)} -> ${result.message}`);
    t.match(result.message, message);
  }
  t.equal(service.fakes[0]!.received.length, 0, 'none of them reached A1111');
});

t.test('a body over MAX_BODY_MB is refused with 413', async (t) => {
  const response = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: 'A'.repeat(600 * 1024) } });
  t.equal(response.statusCode, 413);
});

t.test('the service keeps working after all that', async (t) => {
  const response = await service.app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64() } });
  t.equal(response.statusCode, 200);
});
