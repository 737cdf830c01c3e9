import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';

/** public/ sits beside src/ and dist/, so the same relative path works from both. */
const PAGE = new URL('../../../public/index.html', import.meta.url);

const FAVICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="8" height="8" fill="#2a7"/><rect x="8" width="8" height="8" fill="#7b4"/><rect y="8" width="8" height="8" fill="#47c"/><rect x="8" y="8" width="8" height="8" fill="#c74"/></svg>';

/** GET /: the single page for choosing a method by looking (no build step, no framework). */
export async function pageRoutes(app: FastifyInstance): Promise<void> {
  const html = await readFile(PAGE, 'utf8');
  // A 2×2 latent grid, upscaled: what browsers ask for at /favicon.ico (SVG, which they all draw).
  app.get('/favicon.ico', { schema: { hide: true } }, async (_request, reply) => reply.type('image/svg+xml').header('cache-control', 'max-age=86400').send(FAVICON));
  app.get('/', { schema: { summary: 'The web page: upload, run, compare methods side by side and as a grid, see the sigma plot', produces: ['text/html'] } }, async (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(html));
}
