import t from 'tap';
import { request } from 'undici';
import { getPngText } from '../../src/images/png.js';
import { sniffImage } from '../../src/images/sniff.js';
import type { FakeBehaviour } from '../fakes/fake-a1111.js';
import { startFakeA1111Process } from '../helpers/processes.js';
import { pngBase64, startService, until } from '../helpers/service.js';

// What A1111's img2img answers is checked before a job may succeed with it: against a fake A1111 in its
// own process that sends broken images on demand, the service in this process. The input is 64×48 at
// scale 2, so every job asks A1111 for 128×96.

const MODEL = { name: 'dreamshaper_8', hash: '879db523c3' };
const fake = await startFakeA1111Process({ companion: true, model: MODEL });
t.teardown(() => fake.kill());
// Every bad answer counts against the instance; these tests send several in a row on purpose.
const service = await startService([], { A1111_MAX_FAILURES: '1000' }, () => fake.url);
t.teardown(() => service.close());
// The same with A1111_CHECK_PIXELS, for what only decoding finds.
const decoding = await startService([], { A1111_MAX_FAILURES: '1000', A1111_CHECK_PIXELS: 'true' }, () => fake.url);
t.teardown(() => decoding.close());

interface JobView { id: string; state: string; error: { status: number; code: string; message: string } | null; parameters: Record<string, unknown> }

type App = typeof service.app;
const view = async (app: App, id: string): Promise<JobView> => (await app.inject({ url: `/jobs/${id}` })).json() as JobView;

/** A job run to its end while the fake answers with `garbage`. */
async function jobAnswered(garbage: FakeBehaviour['garbage'], app: App = service.app): Promise<JobView> {
  await fake.setBehaviour({ garbage });
  t.teardown(() => fake.setBehaviour({ garbage: undefined }));
  const job = (await app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 3 } })).json() as JobView;
  await until(async () => ['succeeded', 'failed'].includes((await view(app, job.id)).state), 10_000);
  return view(app, job.id);
}

/** Each kind of broken answer, the message it gets, and whether only A1111_CHECK_PIXELS finds it. */
const BROKEN: readonly [NonNullable<FakeBehaviour['garbage']>, string, RegExp, 'decoding'?][] = [
  ['truncated-png', 'a PNG cut in half',
    /^A1111 at http:\/\/127\.0\.0\.1:\d+ returned a 128×96 PNG that does not decode \(\d+ bytes starting 89504e470d0a1a0a; its IDAT chunk at byte 33 is cut short \(\d+ data bytes declared, \d+ present\)\)$/],
  ['corrupt-png', 'a PNG with flipped IDAT bytes under a valid CRC',
    /^A1111 at http:\/\/127\.0\.0\.1:\d+ returned a 128×96 PNG that does not decode \(\d+ bytes starting 89504e470d0a1a0a; its compressed pixels do not inflate \(.+\)\)$/, 'decoding'],
  ['truncated-jpeg', 'a JPEG cut short (an instance whose samples_format is jpg)',
    /^A1111 at http:\/\/127\.0\.0\.1:\d+ returned a 128×96 JPEG that does not decode \(\d+ bytes starting ffd8ff[0-9a-f]{10}\): /],
  ['wrong-size', 'a whole PNG of another size',
    /^A1111 at http:\/\/127\.0\.0\.1:\d+ returned a 64×48 PNG, not the 128×96 asked for \(\d+ bytes starting 89504e470d0a1a0a\)$/],
];

for (const [garbage, what, message, only] of BROKEN) {
  const app = only === 'decoding' ? decoding.app : service.app;
  t.test(`${what} from A1111${only ? ' (A1111_CHECK_PIXELS)' : ''}: the job fails with 502 BACKEND_BAD_ANSWER saying what came`, async (t) => {
    const job = await jobAnswered(garbage, app);
    t.equal(job.state, 'failed');
    t.match(job.error, { status: 502, code: 'BACKEND_BAD_ANSWER', message });
    const result = await app.inject({ url: `/jobs/${job.id}/result` });
    t.equal(result.statusCode, 502, 'the result is the error, not an image/png');
    t.match(result.json(), { code: 'BACKEND_BAD_ANSWER', message });
  });
}

t.test('a PNG with one byte changed in transit fails its CRC: 502 without decoding', async (t) => {
  // What a flaky link or proxy does; unlike the corrupt PNG above, nothing rewrites the CRC.
  const job = await jobAnswered('flipped-byte');
  t.equal(job.state, 'failed');
  t.match(job.error, { status: 502, code: 'BACKEND_BAD_ANSWER', message: /PNG that does not decode \(\d+ bytes starting 89504e470d0a1a0a; its IDAT chunk at byte 33 fails its CRC \(bytes changed\)\)$/ });
});

t.test('a good answer succeeds and names the checkpoint that ran, as A1111\'s own infotext does', async (t) => {
  const { app } = service;
  const job = await jobAnswered(undefined);
  t.equal(job.state, 'succeeded');
  t.match(job.parameters, { model: MODEL.name, model_hash: MODEL.hash }, 'the job names the model that ran');
  const result = await app.inject({ url: `/jobs/${job.id}/result` });
  t.equal(result.headers['content-type'], 'image/png');
  t.match(getPngText(result.rawPayload, 'parameters'), /, Size: 128x96, Model hash: 879db523c3, Model: dreamshaper_8, Denoising strength: 0\.5, /);
  const json = await app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), steps: 3 }, headers: { accept: 'application/json' } });
  t.match(json.json().parameters, { model: MODEL.name, model_hash: MODEL.hash, infotext: /Model hash: 879db523c3, Model: dreamshaper_8/ });
});

for (const garbage of ['jpeg', 'webp'] as const) {
  t.test(`a ${garbage.toUpperCase()} from an instance whose samples_format is not png becomes a PNG with the infotext`, async (t) => {
    const job = await jobAnswered(garbage);
    t.equal(job.state, 'succeeded');
    t.match(job.parameters['notes'], [new RegExp(`^A1111 sent a ${garbage.toUpperCase()} \\(its samples_format\\); converted to PNG$`)]);
    const result = await service.app.inject({ url: `/jobs/${job.id}/result` });
    t.same(sniffImage(result.rawPayload), { format: 'png', width: 128, height: 96 });
    t.match(getPngText(result.rawPayload, 'parameters'), /Latent upscale method: nearest-exact, /);
  });
}

t.test('a companion that fails inside A1111 fails the job with 502: A1111 would answer 200 with a stock upscale', async (t) => {
  await fake.setBehaviour({ companionFails: true });
  t.teardown(() => fake.setBehaviour({ companionFails: undefined }));
  const job = (await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 3, scheduler: 'karras' } })).json() as JobView;
  await until(async () => ['succeeded', 'failed'].includes((await view(service.app, job.id)).state), 10_000);
  t.match((await view(service.app, job.id)).error, {
    status: 502, code: 'BACKEND_BAD_ANSWER',
    message: /^A1111 at http:\/\/127\.0\.0\.1:\d+ ran the job without the companion: its infotext has no "Latent upscale method: nearest-exact"\. A1111 logs a failing always-on script/,
  });
});

t.test('the fake answers an unknown always-on script as A1111 v1.10.1 does: script_name_to_index\'s 422', async (t) => {
  const response = await request(`${fake.url}/sdapi/v1/img2img`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ init_images: [pngBase64()], alwayson_scripts: { 'Latent Upscale': { args: [] } } }),
  });
  t.equal(response.statusCode, 422);
  t.same(await response.body.json(), { detail: "Script 'Latent Upscale' not found" });
});
