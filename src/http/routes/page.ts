import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';

/** public/ sits beside src/ and dist/, so the same relative path works from both. */
const PAGE = new URL('../../../public/index.html', import.meta.url);

/** GET /: the single page for choosing a method by looking (no build step, no framework). */
export async function pageRoutes(app: FastifyInstance): Promise<void> {
  const html = await readFile(PAGE, 'utf8');
  app.get('/', { schema: { summary: 'The web page: upload, run, compare methods side by side and as a grid, see the sigma plot', produces: ['text/html'] } }, async (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(html));
}
