import { readFile } from 'node:fs/promises';
import t from 'tap';
import { openapiDocument } from '../../openapi/generate.js';

t.test('openapi/openapi.json is the document the service serves (run `npm run openapi` after changing a route)', async (t) => {
  const checkedIn = await readFile(new URL('../../openapi/openapi.json', import.meta.url), 'utf8');
  t.equal(checkedIn, await openapiDocument());
});
