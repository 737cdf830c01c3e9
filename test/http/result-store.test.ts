import t from 'tap';
import { readJob, startService, submitJob, until } from '../helpers/service.js';

interface JobView { id: string; state: string }

async function finishedJobs(service: Awaited<ReturnType<typeof startService>>, count: number): Promise<JobView[]> {
  const jobs: JobView[] = [];
  for (let seed = 1; seed <= count; seed++) {
    const job = await submitJob<JobView>(service.app, { steps: 2, seed });
    await until(async () => (await readJob<JobView>(service.app, job.id)).state === 'succeeded');
    jobs.push(job);
  }
  return jobs;
}

const resultStatus = async (service: Awaited<ReturnType<typeof startService>>, job: JobView): Promise<number> =>
  (await service.app.inject({ url: `/jobs/${job.id}/result` })).statusCode;

t.test('past RESULT_STORE_MB the oldest results go first; the jobs stay readable and the newest is always kept', async (t) => {
  // A budget of one byte holds no result but the newest.
  const service = await startService({ companion: true }, { RESULT_STORE_MB: '0.000001' });
  t.teardown(() => service.close());
  const [first, second, third] = await finishedJobs(service, 3);
  t.same([await resultStatus(service, first!), await resultStatus(service, second!), await resultStatus(service, third!)], [404, 404, 200]);
  const expired = (await service.app.inject({ url: `/jobs/${first!.id}/result` })).json();
  t.match(expired, { code: 'RESULT_EXPIRED', message: /RESULT_STORE_MB, oldest first/ });
  t.equal(((await service.app.inject({ url: `/jobs/${first!.id}` })).json() as JobView).state, 'succeeded', 'the job itself is still there');
});

t.test('within the budget every result stays until RESULT_TTL_SECONDS', async (t) => {
  const service = await startService({ companion: true }, { RESULT_STORE_MB: '64' });
  t.teardown(() => service.close());
  const jobs = await finishedJobs(service, 3);
  for (const job of jobs) t.equal(await resultStatus(service, job), 200);
});

t.test('a budget that holds two results drops exactly the oldest', async (t) => {
  const sizing = await startService({ companion: true });
  const sizes = [];
  for (const job of await finishedJobs(sizing, 3)) sizes.push((await sizing.app.inject({ url: `/jobs/${job.id}/result` })).rawPayload.length);
  await sizing.close();
  const [oldest, second, third] = sizes as [number, number, number];
  // Room for the two newest and half the oldest: the third result pushes the oldest out, and only it.
  const budgetMb = (second + third + oldest / 2) / (1024 * 1024);
  const service = await startService({ companion: true }, { RESULT_STORE_MB: String(budgetMb) });
  t.teardown(() => service.close());
  const jobs = await finishedJobs(service, 3);
  const sizesAgain = [];
  for (const job of jobs.slice(1)) sizesAgain.push((await service.app.inject({ url: `/jobs/${job.id}/result` })).rawPayload.length);
  t.same(sizesAgain, [second, third], 'the same results as before (same seeds)');
  t.equal(await resultStatus(service, jobs[0]!), 404, 'the oldest is gone');
});
