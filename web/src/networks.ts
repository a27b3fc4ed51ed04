/**
 * Page 2: an MLP classifier or a small autoencoder trained live on MNIST digits by Adam, K-FAC
 * and Hessian-free side by side: training loss against seconds and against steps, the top
 * Hessian eigenvalue along training, and a few test digits with each method's predictions or
 * reconstructions.
 */
import { Compute } from './compute.js';
import { COLORS, drawLines, fitCanvas } from './plot.js';
import type { FromWorker, NetworkProblem, Point } from './protocol.js';
import { NETWORK_OPTIMIZERS } from './optimizer-ids.js';

const PROBLEMS: Record<NetworkProblem, string> = { mlp: 'MLP classifier 196-32-10', autoencoder: 'autoencoder 196-64-16-64-196' };
const SIDE = 14;
const TITLES: Record<string, string> = { adam: 'Adam', kfac: 'K-FAC', 'hessian-free': 'Hessian-free' };
const MAX_STEPS = 100_000;

interface Samples { images: Float32Array; labels: number[]; predicted: number[] }

export class NetworksPage {
  readonly compute: Compute;
  problem: NetworkProblem = 'mlp';
  selected = new Set<string>(NETWORK_OPTIMIZERS);
  running = false;
  ready = false;
  series: Record<string, Point[]> = {};
  samples: Record<string, Samples> = {};
  private dirty = true;
  private pendingRun = false;

  constructor(private readonly root: HTMLElement) {
    this.compute = new Compute((m) => this.onMessage(m));
    this.buildControls();
    this.select('mlp');
  }

  get step(): number {
    return Math.max(0, ...Object.values(this.series).map((s) => s[s.length - 1]?.step ?? 0));
  }

  private el<T extends HTMLElement>(sel: string): T {
    return this.root.querySelector<T>(sel)!;
  }

  private buildControls(): void {
    const problems = this.el('.problems');
    for (const [id, title] of Object.entries(PROBLEMS)) {
      const b = document.createElement('button');
      b.textContent = title;
      b.dataset.testid = `problem-${id}`;
      b.onclick = () => this.select(id as NetworkProblem);
      problems.appendChild(b);
    }
    const opts = this.el('.optimizers');
    for (const id of NETWORK_OPTIMIZERS) {
      const b = document.createElement('button');
      b.innerHTML = `<span class="sw" style="background:${COLORS[id]}"></span>${TITLES[id]}`;
      b.dataset.testid = `optimizer-${id}`;
      b.setAttribute('aria-pressed', 'true');
      b.onclick = () => {
        if (this.selected.has(id)) this.selected.delete(id);
        else this.selected.add(id);
        b.setAttribute('aria-pressed', String(this.selected.has(id)));
        this.reset();
      };
      opts.appendChild(b);
    }
    this.el<HTMLButtonElement>('[data-testid=start]').onclick = () => this.start();
    this.el<HTMLButtonElement>('[data-testid=pause]').onclick = () => this.pause();
    this.el<HTMLButtonElement>('[data-testid=reset]').onclick = () => this.reset();
  }

  select(id: NetworkProblem): void {
    this.problem = id;
    for (const b of this.root.querySelectorAll<HTMLButtonElement>('.problems button')) {
      b.setAttribute('aria-pressed', String(b.dataset.testid === `problem-${id}`));
    }
    this.reset();
  }

  reset(): void {
    this.pause();
    this.ready = false;
    this.series = {};
    this.samples = {};
    this.el('.status').textContent = 'loading digits…';
    this.compute.send({ type: 'network', problem: this.problem, optimizers: [...this.selected] });
    this.dirty = true;
  }

  start(): void {
    if (!this.ready) {
      this.pendingRun = true;
      return;
    }
    this.running = true;
    this.compute.send({ type: 'run', maxSteps: MAX_STEPS });
  }

  pause(): void {
    this.running = false;
    this.pendingRun = false;
    this.compute.send({ type: 'pause' });
  }

  private onMessage(m: FromWorker): void {
    if (m.type === 'setup') {
      if (!m.ok) {
        this.el('.status').textContent = m.error;
        return;
      }
      this.series = Object.fromEntries(Object.entries(m.points).map(([id, p]) => [id, [p]]));
      this.ready = true;
      this.el('.status').textContent = '';
      if (this.pendingRun) {
        this.pendingRun = false;
        this.start();
      }
    } else if (m.type === 'progress') {
      for (const [id, pts] of Object.entries(m.points)) (this.series[id] ??= []).push(...pts);
      if (!m.running) this.running = false;
    } else if (m.type === 'samples') {
      this.samples[m.id] = m;
    } else if (m.type === 'error') {
      this.running = false;
      this.el('.status').textContent = m.error;
    }
    this.dirty = true;
  }

  draw(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const entries = Object.entries(this.series);
    const lines = (x: (p: Point) => number, y: (p: Point) => number | undefined) => entries.map(([id, pts]) => {
      const kept = pts.filter((p) => y(p) !== undefined);
      return { label: id, color: COLORS[id] ?? '#000', xs: kept.map(x), ys: kept.map((p) => y(p)!) };
    });
    drawLines(this.el('canvas.loss-seconds'), lines((p) => p.seconds, (p) => p.loss), { title: 'training loss vs seconds of optimizer work (log scale)', xLabel: 's', logY: true });
    drawLines(this.el('canvas.loss-steps'), lines((p) => p.step, (p) => p.loss), { title: 'training loss vs steps (log scale)', xLabel: 'steps', logY: true });
    drawLines(this.el('canvas.eig'), lines((p) => p.step, (p) => p.eig), { title: 'top Hessian eigenvalue (power iteration, 128 digits)', xLabel: 'steps' });
    this.drawSamples();
  }

  private drawSamples(): void {
    const host = this.el('.samples');
    for (const id of Object.keys(this.series)) {
      let box = host.querySelector<HTMLElement>(`[data-optimizer="${id}"]`);
      if (!box) {
        box = document.createElement('div');
        box.dataset.optimizer = id;
        box.innerHTML = `<div class="label"><span class="sw" style="background:${COLORS[id]}"></span>${TITLES[id] ?? id}</div><canvas width="8" height="1"></canvas><div class="preds"></div>`;
        host.appendChild(box);
      }
      const s = this.samples[id];
      if (!s) continue;
      const n = s.labels.length;
      const canvas = box.querySelector('canvas')!;
      const ctx = fitCanvas(canvas);
      const cell = canvas.clientWidth / n;
      const img = new ImageData(SIDE * n, SIDE);
      for (let k = 0; k < n; k++) {
        for (let p = 0; p < SIDE * SIDE; p++) {
          const v = 255 - Math.round(255 * Math.min(1, Math.max(0, s.images[k * SIDE * SIDE + p])));
          const o = (((p / SIDE) | 0) * SIDE * n + k * SIDE + (p % SIDE)) * 4;
          img.data[o] = img.data[o + 1] = img.data[o + 2] = v;
          img.data[o + 3] = 255;
        }
      }
      const off = document.createElement('canvas');
      off.width = SIDE * n;
      off.height = SIDE;
      off.getContext('2d')!.putImageData(img, 0, 0);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(off, 0, 0, cell * n, cell);
      const preds = box.querySelector('.preds')!;
      preds.textContent = s.predicted.length > 0
        ? `predicted ${s.predicted.join(' ')} (true ${s.labels.join(' ')})`
        : 'reconstructions of the test digits';
    }
    for (const el of host.querySelectorAll<HTMLElement>('[data-optimizer]')) if (!(el.dataset.optimizer! in this.series)) el.remove();
  }
}
