/// <reference lib="dom" />
// The page code below runs inside chromium, hence the DOM types.
import { existsSync } from 'node:fs';
import { stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { chromium } from 'playwright-core';
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { encodeRgbPng } from '../../src/images/png.js';
import { modelsFolder } from '../helpers/models.js';
import { skipFileWithout } from '../helpers/references.js';
import { temporaryFolder } from '../helpers/temporary.js';

// The page in a real browser (Debian's chromium, driven by playwright-core; no browser download):
// load, upload, run, watch progress, get the result, run a grid, take a screenshot.
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

type Run = (this: ort.InferenceSession, ...args: unknown[]) => Promise<unknown>;
const sessionPrototype = (ort.InferenceSession as unknown as { prototype: { run: Run } }).prototype;

/**
 * Holds the next job's UNet before its `call`-th evaluation until `release()`. A job then stands mid-run,
 * its first steps reported and the rest waiting, however fast the machine: the page's live progress is
 * there to be seen, not a race against the end of the job. The UNet is the session that takes
 * encoder_hidden_states (the diffusers ONNX layout).
 */
function holdUnet(call: number): { release(): void; restore(): void } {
  const run = sessionPrototype.run;
  let release = (): void => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let calls = 0;
  sessionPrototype.run = async function (this: ort.InferenceSession, ...args: unknown[]): Promise<unknown> {
    if (this.inputNames.includes('encoder_hidden_states') && ++calls === call) await gate;
    return run.apply(this, args);
  };
  return { release, restore: () => void (sessionPrototype.run = run) };
}

if (!skipFileWithout(t, existsSync(CHROMIUM) ? undefined : `no ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`)) {
  const root = await modelsFolder(t, { tiny: {} });
  const app = await buildApp(loadConfig({ MODELS_DIR: root, LOG_LEVEL: 'silent', ONNX_WARMUP: 'false' }), { logger: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(async () => {
    await browser.close();
    await app.close();
  });
  const artifacts = await temporaryFolder(t, 'page');
  const input = join(artifacts, 'input.png');
  await writeFile(input, encodeRgbPng(48, 32, (x, y) => [x * 5, y * 7, 200]));

  t.test('load, upload, upscale with live progress, result, grid, screenshot', async (t) => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(url);
    await page.waitForFunction(() => (document.getElementById('method') as HTMLSelectElement).options.length >= 10);
    t.equal(await page.inputValue('#backend'), 'onnx');
    t.equal(await page.inputValue('#method'), 'nearest-exact');
    await page.waitForSelector('#sigmas svg polyline#sampled');

    await page.setInputFiles('#file', input);
    await page.fill('#steps', '40');
    await page.fill('#seed', '7');
    const held = holdUnet(5);
    t.teardown(held.restore);
    await page.click('#run');
    await page.waitForFunction(() => /step \d+\/40/.test(document.querySelector('.card .status')?.textContent ?? ''));
    const width = await page.$eval('.card .progress div', (bar) => (bar as HTMLElement).style.width);
    t.ok(/^\d+%$/.test(width) && parseInt(width, 10) > 0 && parseInt(width, 10) < 100, `progress bar part way: ${width}`);
    held.release();
    held.restore();
    await page.waitForSelector('.card img', { timeout: 60_000 });
    t.match(await page.textContent('.card .status'), /done, seed 7/);
    const size = await page.$eval('.card img', (img) => [(img as HTMLImageElement).naturalWidth, (img as HTMLImageElement).naturalHeight]);
    t.same(size, [96, 64], 'the 2x result is shown');
    t.equal(await page.getAttribute('.card a[download]', 'download'), 'upscaled-7.png');

    await page.fill('#steps', '3');
    await page.click('#runGrid');
    await page.waitForFunction(() => document.querySelectorAll('.card img').length === 5, undefined, { timeout: 60_000 });
    const labels = await page.$$eval('.card .label', (nodes) => nodes.map((n) => n.textContent));
    for (const method of ['nearest-exact', 'bilinear', 'bicubic', 'bislerp']) t.ok(labels.some((l) => l?.startsWith(`method: ${method}`)), `grid cell ${method}`);

    const cards = await page.$$('.card');
    await cards[0]!.click();
    await cards[1]!.click();
    await page.waitForSelector('#compare.shown .slider');
    const captions = await page.$$eval('#compare figcaption', (nodes) => nodes.map((n) => n.textContent));
    t.equal(captions.length, 2, `side by side: ${captions.join(' | ')}`);
    await page.click('.card .before-after');
    await page.waitForFunction(() => document.querySelector('#compare figcaption')?.textContent === 'input');
    await page.waitForFunction(() => {
      const image = document.querySelector('#compare .slider > img') as HTMLImageElement | null;
      return image !== null && image.complete && image.naturalWidth > 0;
    });
    const slider = await page.$('#compare .slider');
    await slider!.scrollIntoViewIfNeeded();
    const box = (await slider!.boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
    await page.mouse.move(box.x + box.width * 0.25, box.y + box.height / 2, { steps: 4 });
    t.match(await page.$eval('#compare .slider .top', (el) => (el as HTMLElement).style.width), /^2[45]\.?\d*%$/, 'the slider follows the pointer');
    const screenshot = join(artifacts, 'page.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    t.ok((await stat(screenshot)).size > 10_000, `screenshot at ${screenshot}`);
    t.same(errors, [], 'no script errors');
  });
}
