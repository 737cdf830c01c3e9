import { randomUUID } from 'node:crypto';
import t from 'tap';
import { jobAnswers } from '../helpers/ownership.js';
import { pngBase64, startService, until } from '../helpers/service.js';

const one = { authorization: 'Bearer key-one' };
const two = { authorization: 'Bearer key-two' };

t.test('a job belongs to the key that created it: to another key it is an unknown job, on every job route', async (t) => {
  // The fake holds the job running until released, so it is still there to be cancelled (or not).
  const service = await startService({ companion: true, hang: true }, { API_KEYS: 'key-one,key-two' });
  t.teardown(async () => {
    service.fakes[0]!.behaviour.hang = false;
    await service.close();
  });
  const created = await service.app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), steps: 10 }, headers: one });
  t.equal(created.statusCode, 202, created.body);
  const id = (created.json() as { id: string }).id;
  await until(async () => (await service.app.inject({ url: `/jobs/${id}`, headers: one })).json().state === 'running');
  // Running here, and sent to A1111 (whose interrupt the owner's DELETE will need).
  await until(() => service.fakes[0]!.received.length === 1);

  const unknown = await jobAnswers(service.app, randomUUID(), two);
  t.ok(Object.values(unknown).every((a) => a.statusCode === 404 && (a.body as { code: string }).code === 'JOB_NOT_FOUND'), 'an id nobody had is a 404 JOB_NOT_FOUND everywhere');
  t.same(await jobAnswers(service.app, id, two), unknown, 'another key gets exactly what an unknown id gets: status, events, result, DELETE');

  const mine = await service.app.inject({ url: `/jobs/${id}`, headers: one });
  t.equal(mine.statusCode, 200);
  t.equal(mine.json().state, 'running', "the other key's DELETE did not cancel it");
  t.notOk('owner' in mine.json(), 'the owner is not part of the public view');
  t.equal((await service.app.inject({ method: 'DELETE', url: `/jobs/${id}`, headers: one })).statusCode, 202, 'its own key cancels it');
  await until(async () => (await service.app.inject({ url: `/jobs/${id}`, headers: one })).json().state === 'cancelled');
  t.equal(service.fakes[0]!.interruptCount, 1);
});
