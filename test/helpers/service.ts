import type { FastifyInstance } from 'fastify';
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
