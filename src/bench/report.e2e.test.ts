/**
 * End to end: the report opens in headless Chromium (Debian's chromium, driven by
 * playwright-core with its executablePath; no browser download) and renders its plots without
 * console errors. Skips cleanly where Chromium is absent.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runOne } from './runner.js';
import { renderReport } from './report.js';
import type { Results } from './schema.js';
import { headlines } from './headline.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));

it('the report renders its plots in headless Chromium without console errors', { skip: CHROMIUM === undefined ? 'Chromium is not installed (apt-get install chromium)' : false, timeout: 120_000 }, async () => {
  const { chromium } = await import('playwright-core');
  // Stopping on: lbfgs may stop before its budget, and its curve ends there with a marker.
  const runs = ['adam', 'lbfgs'].flatMap((o) => [0, 1].map((seed) => runOne('mlp-iris', o, seed, { steps: 20 }, { stopping: { patience: 3 } }).record));
  const results: Results = {
    version: 'test', created: new Date().toISOString(),
    machine: { cpu: 'test', cores: 2, backend: 'ts', simd: 'scalar', threads: 1, node: process.version },
    settings: { budget: { steps: 20 }, seeds: 2, size: 'small', tuned: false, suite: 'custom', stopping: { patience: 3 } },
    headlines: headlines(runs), runs, peers: { torch: { available: false, reason: 'not run in this test' } },
  };
  const dir = mkdtempSync(join(tmpdir(), 'hessian-report-'));
  const file = join(dir, 'report.html');
  writeFileSync(file, renderReport(results));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.route('**/*', (route) => (route.request().url().startsWith('file:') ? route.continue() : route.abort()));
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector('.uplot canvas');
    const charts = await page.locator('.uplot').count();
    assert.equal(charts, 2, 'one chart per axis (seconds, steps) for the one problem');
    // the canvas has been drawn on: some non-white pixels
    const drawn = await page.evaluate(() => {
      const c = document.querySelector('.uplot canvas') as HTMLCanvasElement;
      const d = c.getContext('2d')?.getImageData(0, 0, c.width, c.height).data ?? new Uint8ClampedArray();
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200)) n++;
      return n;
    });
    assert.ok(drawn > 500, `only ${drawn} drawn pixels`);
    const rows = await page.locator('table').first().locator('tbody tr').count();
    assert.equal(rows, 2);
    assert.equal(await page.locator('.headlines li').count(), 1, 'one headline for the one problem');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
