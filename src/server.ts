import './gc-tuning.js';
import closeWithGrace from 'close-with-grace';
import { ConfigError, loadConfig } from './config.js';
import { buildApp } from './http/app.js';

let config;
try {
  config = loadConfig(process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`latent-upscale: ${error.message}\n`);
  process.exit(2);
}

const app = await buildApp(config);
// Within this, jobs running here are interrupted and failed and every open event stream is ended (see
// the preClose hook); past it the process exits non-zero rather than hang on a dependency.
closeWithGrace({ delay: 4500 }, async ({ err, signal }) => {
  if (err) app.log.error({ err }, 'shutting down after an error');
  else app.log.info(`${signal ?? 'close'}: shutting down`);
  await app.close();
});
await app.listen({ port: config.port, host: config.host });
const where = config.redisUrl === undefined ? 'jobs run in this process' : 'jobs go through Redis to workers';
const a1111 = config.backends.includes('a1111') && config.redisUrl === undefined ? `; A1111 instances: ${config.a1111.map((a) => a.url).join(', ')}` : '';
app.log.info(`backends: ${config.backends.join(', ')}; ${where}${a1111}; docs at /docs`);
