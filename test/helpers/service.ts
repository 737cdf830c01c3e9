import type { FastifyInstance } from 'fastify';
import { request } from 'undici';
import { loadConfig, type Config } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { encodeRgbPng } from '../../src/images/png.js';
import { FakeA1111, type FakeA1111Options } from '../fakes/fake-a1111.js';

export interface Harness {
  readonly app: FastifyInstance;
  readonly fakes: FakeA1111[];
  readonly config: Config;
  close(): Promise<void>;
}

/** The real service (in-process) in front of fake A1111 instances on loopback ports. */
export async function startService(fakeOptions: FakeA1111Options | FakeA1111Options[] = {}, env: Record<string, string> = {}, urls?: (fakes: FakeA1111[]) => string): Promise<Harness> {
  const fakes = await Promise.all((Array.isArray(fakeOptions) ? fakeOptions : [fakeOptions]).map((o) => new FakeA1111(o).start()));
  const config = loadConfig({
    A1111_URLS: urls ? urls(fakes) : fakes.map((f) => f.url).join(','),
    PROGRESS_INTERVAL_MS: '50',
    HEALTH_CHECK_INTERVAL_SECONDS: '0.2',
    LOG_LEVEL: 'silent',
    ...env,
  });
  const app = await buildApp(config, { logger: false });
  await app.ready();
  return {
    app, fakes, config,
    async close() {
      await app.close();
      await Promise.all(fakes.map((f) => f.stop()));
    },
  };
}

/** A small RGB test image. */
export function testPng(width = 64, height = 48): Uint8Array {
  return encodeRgbPng(width, height, (x, y) => [(x * 4) % 256, (y * 5) % 256, 100]);
}

export function pngBase64(width?: number, height?: number): string {
  return Buffer.from(testPng(width, height)).toString('base64');
}

/** A multipart/form-data body with one file field and text fields. */
export function multipartBody(file: Uint8Array, fields: Record<string, string>): { payload: Buffer; headers: Record<string, string> } {
  const boundary = '----latent-upscale-test-boundary';
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="image"; filename="in.png"\r\ncontent-type: image/png\r\n\r\n`));
  parts.push(Buffer.from(file), Buffer.from(`\r\n--${boundary}--\r\n`));
  return { payload: Buffer.concat(parts), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `predicate` holds or `timeoutMs` passes. */
export async function until(predicate: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(20);
  }
}

export interface SseEvent {
  readonly type: string;
  readonly data: Record<string, unknown>;
}

/** The events of a text/event-stream body, in order; comments (the keep-alives) are skipped. */
export function parseSse(text: string): SseEvent[] {
  return text.split('\n\n').filter((block) => block.startsWith('event:')).map((block) => {
    const [typeLine, dataLine] = block.split('\n');
    return { type: typeLine!.slice('event: '.length), data: JSON.parse(dataLine!.slice('data: '.length)) as Record<string, unknown> };
  });
}

/**
 * Reads an event stream over real HTTP as it arrives, calling `onEvent` for each event the moment its block
 * is complete (so a test can act on one event while the stream goes on); resolves with all of them at its end.
 */
export async function readSse(url: string, onEvent: (event: SseEvent) => void = () => undefined): Promise<SseEvent[]> {
  const response = await request(url);
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of response.body) {
    buffer += decoder.decode(chunk as Uint8Array, { stream: true });
    const end = buffer.lastIndexOf('\n\n');
    if (end < 0) continue;
    for (const event of parseSse(buffer.slice(0, end + 2))) {
      events.push(event);
      onEvent(event);
    }
    buffer = buffer.slice(end + 2);
  }
  return events;
}

/** POST /jobs with a small PNG plus `payload`; the job as the service answered it. */
export async function submitJob<T>(app: FastifyInstance, payload: Record<string, unknown> = {}): Promise<T> {
  return (await app.inject({ method: 'POST', url: '/jobs', payload: { image: pngBase64(), ...payload } })).json() as T;
}

/** GET /jobs/:id as JSON. */
export async function readJob<T>(app: FastifyInstance, id: string): Promise<T> {
  return (await app.inject({ url: `/jobs/${id}` })).json() as T;
}
