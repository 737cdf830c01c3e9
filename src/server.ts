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
closeWithGrace({ delay: 10_000 }, async ({ err }) => {
  if (err) app.log.error({ err }, 'shutting down after an error');
  await app.close();
});
await app.listen({ port: config.port, host: config.host });
app.log.info(`A1111 instances: ${config.a1111.map((a) => a.url).join(', ')}; docs at /docs`);
