import t from 'tap';
import { ConfigError, loadConfig, parseA1111Urls } from '../../src/config.js';

t.test('defaults', async (t) => {
  const config = loadConfig({});
  t.same([config.port, config.host, config.maxQueue, config.a1111[0]!.url], [8080, '0.0.0.0', 100, 'http://127.0.0.1:7860']);
  t.equal(config.maxBodyBytes, 50 * 1024 * 1024);
});

t.test('A1111_URLS: several instances, credentials taken out of the URL for basic auth', async (t) => {
  t.same(parseA1111Urls('http://a:7860/, https://svc:p%40ss@b.example:443/sd'), [
    { url: 'http://a:7860' },
    { url: 'https://b.example/sd', username: 'svc', password: 'p@ss' },
  ]);
  // A password with no user name, as A1111's `--api-auth :secret` has it, is not dropped.
  t.same(parseA1111Urls('http://:secret@c:7860'), [{ url: 'http://c:7860', username: '', password: 'secret' }]);
});

t.test('bad values are refused at start, naming each variable', async (t) => {
  t.throws(() => loadConfig({ PORT: 'eighty' }), new ConfigError('invalid configuration: PORT: Invalid input: expected number, received NaN'));
  t.throws(() => loadConfig({ PORT: '70000', MAX_QUEUE: '0' }), { message: /PORT: .*; MAX_QUEUE: / });
  t.throws(() => loadConfig({ A1111_URLS: 'localhost 7860' }), { message: /A1111_URLS: 'localhost 7860' is not a URL/ });
  t.throws(() => loadConfig({ A1111_URLS: 'ftp://host' }), { message: /must be http or https/ });
  t.throws(() => loadConfig({ A1111_URLS: ' , ' }), { message: /give at least one URL/ });
  t.throws(() => loadConfig({ EXECUTION_PROVIDERS: 'tpu' }), { message: /EXECUTION_PROVIDERS: unknown execution provider 'tpu'/ });
  t.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), { message: /LOG_LEVEL: / });
});
