/// <reference lib="dom" />
// The page code below runs inside chromium, hence the DOM types.
import { existsSync } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { buildApp } from '../../src/http/app.js';
import { encodeRgbPng } from '../../src/images/png.js';
import { FakeA1111 } from '../fakes/fake-a1111.js';
import { skipFileWithout } from '../helpers/references.js';
import { temporaryFolder } from '../helpers/temporary.js';

// The page in a real browser (Debian's chromium, driven by playwright-core; no browser download), as a
// person uses it: load, an error shown beside its field, upload, run with a live preview that appears and
// changes, the result with its size and parameters, a grid, compare. The backend is the fake A1111 in this
// process, which holds the job at a chosen step until the test has looked. Screenshots of each state go to
// a folder the test prints (kept after the run, overwritten by the next).
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const SCREENSHOTS = process.env['PAGE_SCREENSHOTS'] ?? join(tmpdir(), 'latent-upscale-page-screenshots');

if (!skipFileWithout(t, existsSync(CHROMIUM) ? undefined : `no ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`)) {
  const fake = await new FakeA1111({ companion: true, schedulers: true, stepDelayMs: 1 }).start();
  const app = await buildApp(loadConfig({ A1111_URLS: fake.url, LOG_LEVEL: 'silent', PROGRESS_INTERVAL_MS: '50' }), { logger: false });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.teardown(async () => {
    await browser.close();
    await app.close();
    await fake.stop();
  });
  const artifacts = await temporaryFolder(t, 'page');
  const input = join(artifacts, 'input.png');
  await writeFile(input, encodeRgbPng(48, 32, (x, y) => [x * 5, y * 7, 200]));
  await mkdir(SCREENSHOTS, { recursive: true });
  t.comment(`screenshots of each state: ${SCREENSHOTS}`);

  t.test('load, field error, upload, live preview, result, grid, compare, screenshots', async (t) => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    const missing: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('response', (response) => void (response.status() === 404 && missing.push(response.url())));
    const shot = async (name: string): Promise<void> => {
      const path = join(SCREENSHOTS, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      t.ok((await stat(path)).size > 5_000, `screenshot ${name}.png`);
    };
    await page.goto(url);
    await page.waitForFunction(() => (document.getElementById('method') as HTMLSelectElement).options.length >= 10);
    t.equal(await page.inputValue('#backend'), 'a1111');
    t.equal(await page.inputValue('#method'), 'nearest-exact');
    await page.waitForSelector('#sigmas svg polyline#sampled');
    const samplers = (await (await fetch(`${url}samplers`)).json()) as { backends: Record<string, string[]> };
    t.same(await page.$$eval('#sampler option', (options) => options.map((o) => (o as HTMLOptionElement).value)), samplers.backends['a1111'], 'the sampler list is what the backend runs');
    await page.check('#logSigma');
    await page.waitForFunction(() => document.querySelector('#sigmas svg')?.textContent?.includes('σ (log)'));
    const fontSize = await page.$eval('#sigmas svg text', (text) => parseFloat(getComputedStyle(text).fontSize) * (text.closest('svg')!.getBoundingClientRect().width / 340));
    t.ok(fontSize >= 9, `the plot's text is readable: ${fontSize.toFixed(1)} px on screen`);
    await shot('1-loaded');

    await page.setInputFiles('#file', input);
    await page.fill('#denoise', '1.5');
    await page.click('#run');
    await page.waitForFunction(() => /at most 1/.test(document.querySelector('#denoise')?.parentElement?.querySelector('.field-error')?.textContent ?? ''));
    t.equal(await page.$$eval('.card', (cards) => cards.length), 0, 'nothing sent while a field is out of range');
    await shot('2-field-error');
    await page.fill('#denoise', '0.5');

    await page.fill('#steps', '12');
    await page.fill('#seed', '7');
    // Held at step 2 until its preview is on the page, then at step 6 likewise.
    fake.holdAfterStep = 2;
    await page.click('#run');
    await page.waitForFunction(() => (document.querySelector('.card img.live') as HTMLImageElement | null)?.dataset['step'] === '2');
    const firstPreview = await page.$eval('.card img.live', (img) => (img as HTMLImageElement).src);
    fake.holdAfterStep = 6;
    fake.behaviour.hang = false;
    await page.waitForFunction(() => (document.querySelector('.card img.live') as HTMLImageElement | null)?.dataset['step'] === '6');
    const laterPreview = await page.$eval('.card img.live', (img) => (img as HTMLImageElement).src);
    t.not(laterPreview, firstPreview, 'the live preview changes as the job samples');
    t.match(await page.textContent('.card .status'), /step \d+\/12/);
    const width = await page.$eval('.card .progress div', (bar) => (bar as HTMLElement).style.width);
    t.ok(/^\d+%$/.test(width) && parseInt(width, 10) > 0 && parseInt(width, 10) < 100, `progress bar part way: ${width}`);
    t.match(fake.received[fake.received.length - 1]!['override_settings'], { show_progress_type: 'Approx cheap' }, 'the page asks for cheap previews');
    await shot('3-live-preview');
    fake.behaviour.hang = false;
    await page.waitForSelector('.card img.result', { timeout: 60_000 });
    t.match(await page.textContent('.card .status'), /done, seed 7: 96×64 in \d+\.\d s/);
    const size = await page.$eval('.card img.result', (img) => [(img as HTMLImageElement).naturalWidth, (img as HTMLImageElement).naturalHeight]);
    t.same(size, [96, 64], 'the 2x result is shown');
    t.equal(await page.getAttribute('.card a[download]', 'download'), 'upscaled-7.png');
    t.match(await page.textContent('.card details pre.infotext'), /^Steps: 12, Sampler: Euler, Schedule type: Simple, .*Seed: 7, Size: 96x64, .*Latent upscale method: nearest-exact/s, 'the infotext, read from the PNG, is on the card');
    t.match(await page.textContent('.card details pre:not(.infotext)'), /"method": "nearest-exact"/, 'and the parameters');
    await shot('4-result');

    await page.fill('#steps', '3');
    await page.click('#runGrid');
    await page.waitForFunction(() => document.querySelectorAll('.grid-set .card img.result').length === 4, undefined, { timeout: 60_000 });
    const labels = await page.$$eval('.grid-set .card .label', (nodes) => nodes.map((n) => n.textContent));
    for (const method of ['nearest-exact', 'bilinear', 'bicubic', 'bislerp']) t.ok(labels.some((l) => l?.startsWith(`method: ${method}`)), `grid cell ${method}`);
    const widths = await page.$$eval('.grid-set .card img.result', (images) => images.map((i) => Math.round(i.getBoundingClientRect().width)));
    const tops = await page.$$eval('.grid-set .card', (cards) => cards.map((c) => Math.round(c.getBoundingClientRect().top)));
    t.equal(new Set(widths).size, 1, `the cells at one zoom: ${widths.join(', ')} px wide`);
    t.equal(new Set(tops).size, 1, 'side by side in one row');
    await shot('5-grid');

    const cells = await page.$$('.grid-set .card');
    await cells[0]!.click();
    await cells[3]!.click();
    await page.waitForSelector('#compare.shown .slider');
    const captions = await page.$$eval('#compare figcaption', (nodes) => nodes.map((n) => n.textContent));
    t.same(captions, [labels[0], labels[3]], 'any two cells, side by side with their labels');
    t.same(await page.$$eval('#compare .tag', (tags) => tags.map((tag) => tag.textContent)), [`◀ ${labels[0]}`, `${labels[3]} ▶`], 'the slider says which side is which');
    const panel = (await (await page.$('#compare'))!.boundingBox())!;
    t.ok(panel.y >= 0 && panel.y + panel.height <= 900, `compare fits the 900 px window: ${Math.round(panel.y)}..${Math.round(panel.y + panel.height)}`);
    await page.waitForFunction(() => {
      const image = document.querySelector('#compare .slider img.base') as HTMLImageElement | null;
      return image !== null && image.complete && image.naturalWidth > 0;
    });
    const topWidth = (): Promise<string> => page.$eval('#compare .slider .top', (el) => (el as HTMLElement).style.width);
    t.equal(await topWidth(), '50%');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    t.equal(await topWidth(), '60%', 'arrow keys move the handle');
    await page.keyboard.press('Shift+ArrowLeft');
    t.match(await topWidth(), /^59(\.\d+)?%$/, 'Shift + arrow moves it finely');
    await page.check('#zoom');
    t.same(await page.$eval('#compare .slider img.base', (img) => [Math.round(img.getBoundingClientRect().width), (img as HTMLImageElement).naturalWidth]), [96, 96], '1:1 shows the image\'s own pixels');
    await shot('6-compare');
    await page.keyboard.press('Escape');
    t.notOk(await page.$('#compare.shown'), 'Esc closes compare');

    await page.click('.card .before-after');
    await page.waitForFunction(() => document.querySelector('#compare figcaption')?.textContent === 'input');
    const slider = await page.$('#compare .slider');
    const box = (await slider!.boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
    await page.mouse.move(box.x + box.width * 0.25, box.y + box.height / 2, { steps: 4 });
    t.match(await topWidth(), /^2[45]\.?\d*%$/, 'the slider follows the pointer');
    await page.keyboard.press('Escape');

    fake.failNext = { status: 500, body: { error: 'OutOfMemoryError', detail: '', body: '', errors: 'CUDA out of memory. Tried to allocate 2.00 GiB' } };
    await page.click('#run');
    await page.waitForSelector('.card.failed .dismiss', { timeout: 60_000 });
    t.match(await page.textContent('.card.failed .status'), /CUDA out of memory/, 'the server\'s error in words');
    await shot('7-failed');
    const before = await page.$$eval('.card', (nodes) => nodes.length);
    await page.click('.card.failed .dismiss');
    t.equal(await page.$$eval('.card', (nodes) => nodes.length), before - 1, 'a failed card can be dismissed');
    t.same(missing, [], 'nothing the page asks for is a 404 (favicon included)');
    t.same(errors, [], 'no script errors');
  });
}
