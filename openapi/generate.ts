// Writes openapi/openapi.json from the routes' schemas (the same document the service serves at /docs/json).
// `npm run openapi` after changing a route; a test fails while the checked-in file is stale.
import { writeFile } from 'node:fs/promises';
import { loadConfig } from '../src/config.js';
import { buildApp } from '../src/http/app.js';

export async function openapiDocument(): Promise<string> {
  const app = await buildApp(loadConfig({ A1111_URLS: 'http://127.0.0.1:9', LOG_LEVEL: 'silent', A1111_PROBE_TIMEOUT_SECONDS: '1' }), { logger: false });
  await app.ready();
  const document = `${JSON.stringify(app.swagger(), null, 2)}\n`;
  await app.close();
  return document;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await writeFile(new URL('./openapi.json', import.meta.url), await openapiDocument());
}
