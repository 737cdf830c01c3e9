import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { modelsFolder } from '../helpers/models.js';
import { pngBase64 } from '../helpers/service.js';

t.test('GET /metrics: requests by route and status, job stages, queue, health, steps per second', async (t) => {
  const root = await modelsFolder(t, { tiny: {} });
  const app = await buildApp(loadConfig({ MODELS_DIR: root, LOG_LEVEL: 'silent', ONNX_WARMUP: 'false' }), { logger: false });
  await app.ready();
  t.teardown(() => app.close());
  await app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), steps: 3 } });
  await app.inject({ method: 'POST', url: '/upscale', payload: { image: pngBase64(), method: 'lanczos' } });
  const text = (await app.inject({ url: '/metrics' })).body;
  t.match(text, /latent_upscale_http_requests_total\{method="POST",route="\/upscale",status_code="200"\} 1/);
  t.match(text, /latent_upscale_http_requests_total\{method="POST",route="\/upscale",status_code="422"\} 1/);
  for (const stage of ['total', 'encode', 'upscale', 'sampling', 'decode']) {
    t.match(text, new RegExp(`latent_upscale_job_duration_seconds_count\\{backend="onnx",stage="${stage}"\\} 1`), stage);
  }
  t.match(text, /latent_upscale_jobs_total\{backend="onnx",outcome="succeeded"\} 1/);
  t.match(text, /latent_upscale_sampling_steps_total\{backend="onnx"\} 3/);
  t.match(text, /latent_upscale_steps_per_second\{backend="onnx"\} \d/);
  t.match(text, /latent_upscale_queue_depth 0/);
  t.match(text, /latent_upscale_active_jobs 0/);
  t.match(text, /latent_upscale_job_store_up 1/);
  t.match(text, /latent_upscale_backend_healthy\{backend="onnx",target="tiny",worker=""\} 1/);
  t.match(text, /latent_upscale_process_resident_memory_bytes \d+/);
});
