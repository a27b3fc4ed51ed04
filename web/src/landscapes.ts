/**
 * Page 1: optimizers on 2-D test functions. Contours of the function (log-spaced bands), each
 * optimizer's trajectory from a start point the user picks by clicking, and the loss curves.
 */
import { Compute } from './compute.js';
import { COLORS, drawLines, fitCanvas } from './plot.js';
import type { FromWorker, LandscapeSpec, Point } from './protocol.js';
import { LANDSCAPE_OPTIMIZERS } from './optimizer-ids.js';

export const LANDSCAPES: Record<string, LandscapeSpec & { title: string }> = {
  rosenbrock: { title: 'Rosenbrock', formula: '(1 - x)^2 + 100*(y - x^2)^2', box: { x0: -2, x1: 2, y0: -1, y1: 3 }, start: [-1.2, 1], lr: 1.5e-3 },
  beale: { title: 'Beale', formula: '(1.5 - x + x*y)^2 + (2.25 - x + x*y^2)^2 + (2.625 - x + x*y^3)^2', box: { x0: -4.5, x1: 4.5, y0: -4.5, y1: 4.5 }, start: [1, 1.4], lr: 2e-3 },
  himmelblau: { title: 'Himmelblau', formula: '(x^2 + y - 11)^2 + (x + y^2 - 7)^2', box: { x0: -5, x1: 5, y0: -5, y1: 5 }, start: [-0.3, -0.8], lr: 0.01 },
  saddle: { title: 'saddle (double well)', formula: '0.25*x^4 - 0.5*x^2 + 0.5*y^2', box: { x0: -1.8, x1: 1.8, y0: -1.5, y1: 1.5 }, start: [0.05, 1.2], lr: 0.1 },
  custom: { title: 'your formula', formula: 'x^2 + 3*y^2 + sin(3*x)', box: { x0: -3, x1: 3, y0: -3, y1: 3 }, start: [2, 2], lr: 0.02 },
};

const TITLES: Record<string, string> = {
  sgd: 'gradient descent', momentum: 'momentum', adam: 'Adam', lbfgs: 'L-BFGS', newton: 'Newton',
  'hessian-free': 'Hessian-free', 'saddle-free-newton': 'saddle-free Newton',
};

const GRID = 160;
const MAX_STEPS = 400;

/** Viridis-like ramp at t in [0, 1]. */
function ramp(t: number): [number, number, number] {
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const s = Math.min(stops.length - 1.0001, Math.max(0, t * (stops.length - 1)));
  const i = Math.floor(s);
  const f = s - i;
  return [0, 1, 2].map((c) => Math.round(stops[i][c] * (1 - f) + stops[i + 1][c] * f)) as [number, number, number];
}

export class LandscapesPage {
  readonly compute: Compute;
  problem = 'rosenbrock';
  spec: LandscapeSpec = { ...LANDSCAPES.rosenbrock };
  selected = new Set<string>(LANDSCAPE_OPTIMIZERS);
  running = false;
  ready = false;
  series: Record<string, Point[]> = {};
  private surfaceImage: HTMLCanvasElement | undefined;
  private dirty = true;
  private pendingRun = false;
  /** Time of the last start, and of the first trajectory drawn after it (for the browser test). */
  startedAt = 0;
  firstDrawAt = 0;

  constructor(private readonly root: HTMLElement) {
    this.compute = new Compute((m) => this.onMessage(m));
    this.buildControls();
    this.root.querySelector<HTMLCanvasElement>('canvas.surface')!.addEventListener('click', (ev) => this.pickStart(ev));
    this.select('rosenbrock');
  }

  get step(): number {
    return Math.max(0, ...Object.values(this.series).map((s) => s[s.length - 1]?.step ?? 0));
  }

  private el<T extends HTMLElement>(sel: string): T {
    return this.root.querySelector<T>(sel)!;
  }

  private buildControls(): void {
    const problems = this.el('.problems');
    for (const [id, p] of Object.entries(LANDSCAPES)) {
      const b = document.createElement('button');
      b.textContent = p.title;
      b.dataset.testid = `problem-${id}`;
      b.onclick = () => this.select(id);
      problems.appendChild(b);
    }
    const opts = this.el('.optimizers');
    for (const id of LANDSCAPE_OPTIMIZERS) {
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
    this.el<HTMLButtonElement>('[data-testid=step]').onclick = () => this.start(this.step + 1);
    const input = this.el<HTMLInputElement>('input.formula');
    input.value = LANDSCAPES.custom.formula;
    const apply = () => {
      this.problem = 'custom';
      this.spec = { ...LANDSCAPES.custom, formula: input.value };
      this.markSelected();
      this.reset();
    };
    this.el<HTMLButtonElement>('[data-testid=apply-formula]').onclick = apply;
    input.addEventListener('keydown', (e) => { if (e.key === 'Enter') apply(); });
  }

  private markSelected(): void {
    for (const b of this.root.querySelectorAll<HTMLButtonElement>('.problems button')) {
      b.setAttribute('aria-pressed', String(b.dataset.testid === `problem-${this.problem}`));
    }
    this.el('.formula-row').classList.toggle('active', this.problem === 'custom');
  }

  select(id: string): void {
    this.problem = id;
    const input = this.el<HTMLInputElement>('input.formula');
    this.spec = { ...LANDSCAPES[id], formula: id === 'custom' ? input.value : LANDSCAPES[id].formula };
    this.markSelected();
    this.reset();
  }

  /** Stop, forget the trajectories, and set the optimizers up again at the start point. */
  reset(): void {
    this.pause();
    this.ready = false;
    this.series = {};
    this.surfaceImage = undefined;
    this.el('.formula-error').textContent = '';
    this.compute.send({ type: 'landscape', spec: this.spec, optimizers: [...this.selected] });
    this.dirty = true;
  }

  start(maxSteps = MAX_STEPS): void {
    if (!this.ready) {
      this.pendingRun = true;
      return;
    }
    this.running = true;
    this.startedAt = performance.now();
    this.firstDrawAt = 0;
    this.compute.send({ type: 'run', maxSteps });
  }

  pause(): void {
    this.running = false;
    this.pendingRun = false;
    this.compute.send({ type: 'pause' });
  }

  private pickStart(ev: MouseEvent): void {
    const c = ev.currentTarget as HTMLCanvasElement;
    const r = c.getBoundingClientRect();
    const { x0, x1, y0, y1 } = this.spec.box;
    const x = x0 + ((ev.clientX - r.left) / r.width) * (x1 - x0);
    const y = y1 - ((ev.clientY - r.top) / r.height) * (y1 - y0);
    this.spec = { ...this.spec, start: [x, y] };
    this.reset();
  }

  private onMessage(m: FromWorker): void {
    if (m.type === 'setup') {
      if (!m.ok) {
        this.el('.formula-error').textContent = m.error;
        return;
      }
      this.series = Object.fromEntries(Object.entries(m.points).map(([id, p]) => [id, [p]]));
      this.ready = true;
      this.compute.send({ type: 'surface', spec: this.spec, n: GRID });
      if (this.pendingRun) {
        this.pendingRun = false;
        this.start();
      }
    } else if (m.type === 'surface') {
      this.surfaceImage = this.renderSurface(m.values, m.n, m.lo, m.hi);
    } else if (m.type === 'progress') {
      for (const [id, pts] of Object.entries(m.points)) (this.series[id] ??= []).push(...pts);
      if (!m.running) this.running = false;
    } else if (m.type === 'error') {
      this.running = false;
      this.el('.formula-error').textContent = m.error;
    }
    this.dirty = true;
  }

  private renderSurface(values: Float64Array, n: number, lo: number, hi: number): HTMLCanvasElement {
    const img = new ImageData(n, n);
    const span = Math.log1p(Math.max(hi - lo, 1e-12));
    const band = (v: number) => (Number.isFinite(v) ? Math.floor((Math.log1p(Math.max(v - lo, 0)) / span) * 24) : -1);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const k = i * n + j;
        const b = band(values[k]);
        // Row i holds y0 + ...: the image's top row is the largest y.
        const o = ((n - 1 - i) * n + j) * 4;
        const [r, g, bl] = b < 0 ? [255, 255, 255] : ramp(b / 24);
        const edge = (j + 1 < n && band(values[k + 1]) !== b) || (i + 1 < n && band(values[k + n]) !== b);
        const dim = edge ? 0.75 : 1;
        img.data[o] = r * dim; img.data[o + 1] = g * dim; img.data[o + 2] = bl * dim; img.data[o + 3] = 255;
      }
    }
    const c = document.createElement('canvas');
    c.width = n;
    c.height = n;
    c.getContext('2d')!.putImageData(img, 0, 0);
    return c;
  }

  /** Redraw if anything changed (called every animation frame). */
  draw(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const canvas = this.el<HTMLCanvasElement>('canvas.surface');
    const ctx = fitCanvas(canvas);
    const W = canvas.clientWidth;
    const H = canvas.clientHeight;
    ctx.fillStyle = '#eee';
    ctx.fillRect(0, 0, W, H);
    if (this.surfaceImage) {
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(this.surfaceImage, 0, 0, W, H);
    }
    const { x0, x1, y0, y1 } = this.spec.box;
    const px = (x: number) => ((x - x0) / (x1 - x0)) * W;
    const py = (y: number) => ((y1 - y) / (y1 - y0)) * H;
    let drawnPath = false;
    for (const [id, pts] of Object.entries(this.series)) {
      ctx.strokeStyle = COLORS[id] ?? '#000';
      ctx.fillStyle = ctx.strokeStyle;
      ctx.lineWidth = 2.5;
      ctx.beginPath();
      pts.forEach((p, i) => (i === 0 ? ctx.moveTo(px(p.x!), py(p.y!)) : ctx.lineTo(px(p.x!), py(p.y!))));
      ctx.stroke();
      const last = pts[pts.length - 1];
      if (last) {
        ctx.beginPath();
        ctx.arc(px(last.x!), py(last.y!), 4, 0, 2 * Math.PI);
        ctx.fill();
      }
      if (pts.length > 1) drawnPath = true;
    }
    const [sx, sy] = this.spec.start;
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.arc(px(sx), py(sy), 6, 0, 2 * Math.PI);
    ctx.stroke();
    if (drawnPath && this.startedAt > 0 && this.firstDrawAt === 0) this.firstDrawAt = performance.now();
    const all = Object.values(this.series).flat().map((p) => p.loss);
    const logY = all.length > 0 && all.every((v) => !Number.isFinite(v) || v >= 0);
    drawLines(this.el<HTMLCanvasElement>('canvas.loss'), Object.entries(this.series).map(([id, pts]) => ({
      label: id, color: COLORS[id] ?? '#000', xs: pts.map((p) => p.step), ys: pts.map((p) => p.loss),
    })), { title: `f along each trajectory${logY ? ' (log scale)' : ''}`, xLabel: 'steps', logY });
  }
}
