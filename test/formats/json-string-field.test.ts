import t from 'tap';
import { jsonWithStringList } from '../../src/formats/json-string-field.js';

t.test('jsonWithStringList reads back, with JSON.parse, as the object with the list first', async (t) => {
  const plain = Buffer.from('iVBORw0KGgo+/=', 'latin1');
  for (const fields of [{}, { steps: 4, prompt: 'a "quoted" \\ prompt, ünïcode', nested: { a: [1, null] } }]) {
    const parsed = JSON.parse(jsonWithStringList('init_images', plain, fields).toString('utf8')) as Record<string, unknown>;
    t.same(parsed, { init_images: ['iVBORw0KGgo+/='], ...fields });
    t.same(Object.keys(parsed)[0], 'init_images');
  }
});
