import type { FastifyInstance } from 'fastify';

export interface Answer {
  readonly statusCode: number;
  readonly body: unknown;
}

/** Every route that reads or changes one job. */
const JOB_ROUTES = [
  { method: 'GET', path: '' },
  { method: 'GET', path: '/events' },
  { method: 'GET', path: '/result' },
  { method: 'DELETE', path: '' },
] as const;

/**
 * What `headers` get from every job route for job `id`, the id written as ":id" in the bodies: the answers
 * for two ids compare equal exactly when they tell nothing apart (an owned job next to one that never was).
 * It stops at the first route that lets the caller in: the next could follow a running job's events for
 * as long as it runs.
 */
export async function jobAnswers(app: FastifyInstance, id: string, headers: Record<string, string>): Promise<Record<string, Answer>> {
  const answers: Record<string, Answer> = {};
  for (const { method, path } of JOB_ROUTES) {
    const response = await app.inject({ method, url: `/jobs/${id}${path}`, headers });
    const text = response.body.replaceAll(id, ':id');
    const json = String(response.headers['content-type']).startsWith('application/json');
    answers[`${method} /jobs/:id${path}`] = { statusCode: response.statusCode, body: json ? JSON.parse(text) as unknown : text };
    if (response.statusCode < 400) break;
  }
  return answers;
}
