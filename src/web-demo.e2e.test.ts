/**
 * End to end: the browser demo (web/, built into web/dist/ by `npm run build:web`; this test
 * builds it when missing or older than its sources) served from 127.0.0.1 and driven in
 * headless Chromium (Debian's chromium through playwright-core; no browser download). Checks
 * the acceptance of issue #17: page load under 2 s, first trajectory within 1 s of start,
 * losses decrease on both pages, canvases drawn, the typed formula's errors shown under the
 * input, the results page renders a results.json, no console errors, no request leaves the
 * origin, and the network page's frame rate while training (recorded, and above 30 fps).
 * Screenshots and the measured figures go to web/test-artifacts/ (git-ignored).
 * Runs once per suite (under the default backend): the page uses its own WASM kernels.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { availableBackends } from './kernels/index.js';
import { runOne } from './bench/runner.js';
import { headlines } from './bench/headline.js';
import type { Results } from './bench/schema.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));
const backendEnv = process.env.HESSIAN_BACKEND;
const notDefault = backendEnv !== undefined && backendEnv !== '' && backendEnv !== availableBackends()[0];
const skip = CHROMIUM === undefined ? 'Chromium is not installed (apt-get install chromium)'
  : notDefault ? `runs once, under the default backend (the page computes with its own kernels), not under ${backendEnv}` : false;

/** Newest modification time under `p` (files only). */
function newest(p: string): number {
  const s = statSync(p);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(0, ...readdirSync(p).map((n) => newest(join(p, n))));
}

/** Build web/dist unless it is newer than everything it is built from. */
function ensureBuilt(): void {
  const built = join(ROOT, 'web', 'dist', 'index.html');
  const sources = Math.max(newest(join(ROOT, 'web', 'src')), newest(join(ROOT, 'web', 'index.html')), newest(join(ROOT, 'src')), newest(join(ROOT, 'web', 'scripts')));
  if (existsSync(built) && statSync(built).mtimeMs > sources) return;
  for (const args of [['web/scripts/make-assets.mjs'], ['node_modules/vite/bin/vite.js', 'build', '--config', 'web/vite.config.mjs']]) {
    const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, `building the demo (${args.join(' ')}) failed:\n${r.stdout}\n${r.stderr}`);
  }
}

interface Demo { state(): { page: string; running: boolean; step: number; series: Record<string, number[]> }; firstTrajectoryMs(): number }
declare const window: { hessianDemo: Demo };

it('the browser demo: both pages train in the page, draw, show bad formulas and results, offline and without console errors', { skip, timeout: 600_000 }, async () => {
  ensureBuilt();
  const { serveStatic } = await import(pathToFileURL(join(ROOT, 'scripts', 'serve-web.mjs')).href) as { serveStatic(dir: string, port: number): Promise<{ url: string; close(): void }> };
  const server = await serveStatic(join(ROOT, 'web', 'dist'), 0);
  const artifacts = join(ROOT, 'web', 'test-artifacts');
  mkdirSync(artifacts, { recursive: true });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    // A first visit starts the browser's renderer and network stack; the load is timed on the second (as a user with a browser open sees it).
    const warm = await browser.newPage();
    await warm.goto(`${server.url}index.html#results`);
    await warm.close();
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [];
    const offOrigin: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(server.url) || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
      offOrigin.push(url);
      return route.abort();
    });
    // The worker's own fetches (kernels, digits) pass through the context, not the page.
    page.context().on('request', (req) => { const u = req.url(); if (!u.startsWith(server.url) && !u.startsWith('data:') && !u.startsWith('blob:')) offOrigin.push(u); });

    // --- Page 1: landscapes ---
    await page.goto(`${server.url}index.html#landscapes`);
    await page.waitForFunction(() => typeof window.hessianDemo === 'object');
    const loadMs = await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).loadEventEnd);
    assert.ok(loadMs > 0 && loadMs < 2000, `page load took ${loadMs} ms (limit 2000)`);
    await page.waitForFunction(() => Object.keys(window.hessianDemo.state().series).length > 0);
    await page.click('#landscapes [data-testid=start]');
    await page.waitForFunction(() => window.hessianDemo.firstTrajectoryMs() > 0, undefined, { timeout: 10_000 });
    const firstMs = await page.evaluate(() => window.hessianDemo.firstTrajectoryMs());
    assert.ok(firstMs < 1000, `first trajectory drawn ${firstMs} ms after start (limit 1000)`);
    await page.waitForFunction(() => !window.hessianDemo.state().running, undefined, { timeout: 120_000 });
    const land = await page.evaluate(() => window.hessianDemo.state());
    assert.equal(land.page, 'landscapes');
    assert.deepEqual(Object.keys(land.series).sort(), ['adam', 'hessian-free', 'lbfgs', 'momentum', 'newton', 'saddle-free-newton', 'sgd']);
    for (const [id, losses] of Object.entries(land.series)) {
      assert.ok(losses.length > 1 && losses[losses.length - 1] < losses[0], `${id}: Rosenbrock from ${losses[0]} to ${losses[losses.length - 1]}`);
    }
    // Second-order methods reach Rosenbrock's minimum 0 from (-1.2, 1); gradient descent does not in 400 steps.
    for (const id of ['lbfgs', 'newton', 'saddle-free-newton']) assert.ok(land.series[id].at(-1)! < 1e-8, `${id} ends at ${land.series[id].at(-1)}`);
    const inked = (sel: string) => page.evaluate((s) => {
      const c = document.querySelector(s) as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      const colors = new Set<number>();
      let n = 0;
      for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3] > 0 && (d[i] < 230 || d[i + 1] < 230 || d[i + 2] < 230)) n++;
        colors.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
      }
      return { n, colors: colors.size };
    }, sel);
    const surface = await inked('#landscapes canvas.surface');
    assert.ok(surface.n > 10_000 && surface.colors > 20, `contours: ${JSON.stringify(surface)}`);
    assert.ok((await inked('#landscapes canvas.loss')).n > 300, 'loss curves drawn');
    await page.screenshot({ path: join(artifacts, 'landscapes.png') });

    // A click on the contours picks the start: the centre of Rosenbrock's box is (0, 1), f = 101.
    const box = (await page.locator('#landscapes canvas.surface').boundingBox())!;
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    await page.waitForFunction(() => window.hessianDemo.state().series.sgd?.length === 1);
    // (within a pixel: 4/480 of a unit in x and y moves f by less than 3 there)
    const clicked = await page.evaluate(() => window.hessianDemo.state().series.sgd[0]);
    assert.ok(Math.abs(clicked - 101) < 3, `f at the clicked start is ${clicked}, expected about 101`);
    // step: one step of every optimizer, then stopped.
    await page.click('#landscapes [data-testid=step]');
    await page.waitForFunction(() => window.hessianDemo.state().step === 1 && !window.hessianDemo.state().running);
    assert.ok(Object.values((await page.evaluate(() => window.hessianDemo.state())).series).every((l) => l.length === 2));

    // The saddle: pure Newton heads for the saddle point (f = 0), saddle-free Newton escapes to a minimum (f = -0.25).
    await page.click('[data-testid=problem-saddle]');
    await page.waitForFunction(() => Object.keys(window.hessianDemo.state().series).length > 0 && window.hessianDemo.state().series.newton?.length === 1);
    await page.click('#landscapes [data-testid=start]');
    await page.waitForFunction(() => !window.hessianDemo.state().running && window.hessianDemo.state().step > 0, undefined, { timeout: 120_000 });
    const saddle = (await page.evaluate(() => window.hessianDemo.state())).series;
    assert.ok(Math.abs(saddle.newton.at(-1)!) < 1e-6, `Newton ends at f = ${saddle.newton.at(-1)} (the saddle)`);
    assert.ok(Math.abs(saddle['saddle-free-newton'].at(-1)! + 0.25) < 1e-6, `saddle-free Newton ends at f = ${saddle['saddle-free-newton'].at(-1)}`);

    // Bad formulas: a message under the input, nothing on the console.
    await page.click('[data-testid=problem-custom]');
    const tryFormula = async (text: string) => {
      await page.fill('#landscapes input.formula', text);
      await page.click('[data-testid=apply-formula]');
      await page.waitForFunction(() => document.querySelector('#landscapes .formula-error')!.textContent !== '' || window.hessianDemo.state().series.sgd?.length === 1);
      return page.locator('#landscapes .formula-error').textContent();
    };
    assert.match((await tryFormula('x + z')) ?? '', /unknown symbol 'z'/);
    assert.match((await tryFormula('(x + y')) ?? '', /expected '\)'/);
    assert.match((await tryFormula('x ++* 2')) ?? '', /unexpected '\*'/);
    assert.match((await tryFormula('log(x - 5) + y^2')) ?? '', /not finite at the start point/);
    assert.match((await tryFormula('alert(1)')) ?? '', /unknown function 'alert'/);
    assert.equal(await tryFormula('(x - 1)^2 + 2*(y + 0.5)^2'), '', 'a good formula clears the message');

    // --- Page 2: networks ---
    await page.goto(`${server.url}index.html#networks`);
    await page.waitForFunction(() => window.hessianDemo.state().page === 'networks' && Object.keys(window.hessianDemo.state().series).length === 3, undefined, { timeout: 30_000 });
    await page.click('#networks [data-testid=start]');
    await page.waitForFunction(() => window.hessianDemo.state().step >= 2, undefined, { timeout: 120_000 });
    // Frames per second while training: requestAnimationFrame callbacks over 3 s.
    const fps = await page.evaluate(() => new Promise<number>((done) => {
      let frames = 0;
      const t0 = performance.now();
      const tick = () => {
        frames++;
        if (performance.now() - t0 < 3000) requestAnimationFrame(tick);
        else done((frames * 1000) / (performance.now() - t0));
      };
      requestAnimationFrame(tick);
    }));
    await page.waitForFunction(() => window.hessianDemo.state().step >= 8, undefined, { timeout: 180_000 });
    await page.click('#networks [data-testid=pause]');
    const net = await page.evaluate(() => window.hessianDemo.state());
    assert.equal(net.running, false);
    assert.deepEqual(Object.keys(net.series).sort(), ['adam', 'hessian-free', 'kfac']);
    for (const [id, losses] of Object.entries(net.series)) {
      assert.ok(losses.length >= 8 && losses[losses.length - 1] < 0.8 * losses[0], `${id}: MLP loss from ${losses[0]} to ${losses[losses.length - 1]}`);
    }
    for (const sel of ['canvas.loss-seconds', 'canvas.loss-steps', 'canvas.eig', '.samples canvas']) {
      assert.ok((await inked(`#networks ${sel}`)).n > 200, `${sel} drawn`);
    }
    assert.equal(await page.locator('#networks .samples .preds').count(), 3, 'predictions of each optimizer');
    await page.screenshot({ path: join(artifacts, 'networks.png') });
    writeFileSync(join(artifacts, 'metrics.json'), JSON.stringify({ loadMs, firstTrajectoryMs: firstMs, networkFps: fps, when: new Date().toISOString() }, null, 2));
    console.log(`# web demo: page load ${loadMs.toFixed(0)} ms, first trajectory ${firstMs.toFixed(0)} ms after start, ${fps.toFixed(1)} frames/s on the network page while training`);
    assert.ok(fps > 30, `network page ran at ${fps.toFixed(1)} frames/s while training (limit 30)`);

    // --- Page 3: results ---
    const runs = ['adam', 'lbfgs'].map((o) => runOne('mlp-iris', o, 0, { steps: 15 }, { stopping: { patience: 3 } }).record);
    const results: Results = {
      version: 'test', created: new Date().toISOString(),
      machine: { cpu: 'test', cores: 2, backend: 'ts', simd: 'scalar', threads: 1, node: process.version },
      settings: { budget: { steps: 15 }, seeds: 1, size: 'small', tuned: false, suite: 'custom', stopping: { patience: 3 } },
      headlines: headlines(runs), runs, peers: { torch: { available: false, reason: 'not run in this test' } },
    };
    await page.goto(`${server.url}index.html#results`);
    await page.waitForSelector('#results[data-ready=true]', { state: 'attached' });
    await page.setInputFiles('#results input[type=file]', { name: 'broken.json', mimeType: 'application/json', buffer: Buffer.from('{"runs": 3') });
    await page.waitForFunction(() => document.querySelector('#results .results-error')!.textContent !== '');
    assert.match(await page.locator('#results .results-error').textContent() ?? '', /broken\.json is not JSON/);
    await page.setInputFiles('#results input[type=file]', { name: 'results.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(results)) });
    const frame = page.frameLocator('#results iframe');
    await frame.locator('.uplot canvas').first().waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('#results .results-error').textContent(), '');
    assert.equal(await frame.locator('table').first().locator('tbody tr').count(), 2, 'one row per optimizer, as in report.html');
    assert.equal(await frame.locator('.uplot').count(), 2);
    await page.screenshot({ path: join(artifacts, 'results.png') });

    assert.deepEqual(errors, [], 'console errors');
    assert.deepEqual(offOrigin, [], 'requests that left the origin');
  } finally {
    await browser.close();
    server.close();
  }
});
