/**
 * The benchmark report: a headline per problem, a summary of time and steps to a target loss
 * (the loss Adam reaches in its budget; see headline.ts) with ratios to Adam and how the runs
 * ended, and a single self-contained HTML file with the plots (uPlot, inlined), which opens
 * offline. Curves of several seeds are resampled onto a common grid and drawn as the median with
 * a band from the minimum to the maximum; each run's stop is marked where its curve ends.
 *
 * No static `node:` import: the browser demo's results page renders the same report from a
 * dropped results.json, passing uPlot's files itself (`ReportAssets`); in Node.js they are read
 * from the uplot package.
 */
import type { RunRecord } from './runner.js';
import type { Results } from './schema.js';
import { firstReach, groupBy, headlines, median, targetLoss } from './headline.js';

export interface SummaryRow {
  optimizer: string;
  finalLoss: number;
  /** Seeds whose curve reached the target, of `seeds`. */
  reached: number;
  seeds: number;
  stepsToTarget?: number;
  secondsToTarget?: number;
  timeRatio?: number;
  stepRatio?: number;
  /** How the runs ended, e.g. 'converged' or 'converged 2, budget 1'. */
  stopped: string;
  /** Median final relative L2 error against the exact solution (problems that have one: PINNs). */
  finalRelL2?: number;
}

export interface ProblemSummary {
  problem: string;
  target: number;
  rows: SummaryRow[];
  /** Why the ratio columns are empty, where Adam gives no reference ('' where it does). */
  noRatio: string;
}

function stoppedWords(runs: readonly RunRecord[]): string {
  const kinds = [...groupBy(runs, (r) => r.final.stopped)];
  return kinds.length === 1 && runs.length === 1 ? kinds[0][0] : kinds.map(([k, rs]) => `${k} ${rs.length}`).join(', ');
}

/** Per problem: the target loss and each optimizer's median time and steps to reach it. */
export function summarize(results: Pick<Results, 'runs'>): ProblemSummary[] {
  const out: ProblemSummary[] = [];
  for (const [problem, runs] of groupBy(results.runs, (r) => r.problem)) {
    const byOpt = groupBy(runs, (r) => r.optimizer);
    const finals = new Map([...byOpt].map(([o, rs]) => [o, median(rs.map((r) => r.final.trainLoss))]));
    const target = targetLoss(runs)?.target ?? NaN;
    const rows: SummaryRow[] = [...byOpt].map(([optimizer, rs]) => {
      const reach = rs.map((r) => firstReach(r, target));
      const ok = reach.filter((x): x is { step: number; seconds: number } => x !== undefined);
      const row: SummaryRow = { optimizer, finalLoss: finals.get(optimizer) ?? NaN, reached: ok.length, seeds: rs.length, stopped: stoppedWords(rs) };
      const relL2 = rs.map((r) => r.final.relL2).filter((v): v is number => v !== undefined);
      if (relL2.length > 0) row.finalRelL2 = median(relL2);
      if (ok.length * 2 > rs.length) {
        row.stepsToTarget = median(ok.map((x) => x.step));
        row.secondsToTarget = median(ok.map((x) => x.seconds));
      }
      return row;
    });
    const ref = rows.find((r) => r.optimizer === 'adam');
    for (const r of rows) {
      if (ref?.secondsToTarget !== undefined && r.secondsToTarget !== undefined && ref.secondsToTarget > 0) r.timeRatio = r.secondsToTarget / ref.secondsToTarget;
      if (ref?.stepsToTarget !== undefined && r.stepsToTarget !== undefined && ref.stepsToTarget > 0) r.stepRatio = r.stepsToTarget / ref.stepsToTarget;
    }
    const noRatio = ref === undefined ? 'there is no Adam run to compare with'
      : !Number.isFinite(target) ? 'no run ended with a finite loss, so there is no target'
        : ref.stepsToTarget === undefined ? `Adam reached the target in ${ref.reached} of ${ref.seeds} seeds, not a majority`
          : ref.stepsToTarget === 0 ? 'Adam was at the target from its first point (the loss never went below the start), so there is nothing to divide by'
            : '';
    out.push({ problem, target, rows, noRatio });
  }
  return out;
}

type Field = 'trainLoss' | 'topEigenvalue' | 'hessianTrace';

/** Resample each run's `field` onto `grid` (last value at or before each point; none past the run's end). */
function resample(run: RunRecord, key: 'seconds' | 'step', grid: number[], field: Field = 'trainLoss'): (number | null)[] {
  const points = run.curve.filter((c) => c[field] !== undefined);
  if (points.length === 0) return grid.map(() => null);
  let j = 0;
  const end = run.curve[run.curve.length - 1][key];
  return grid.map((x) => {
    while (j + 1 < points.length && points[j + 1][key] <= x) j++;
    const p = points[j];
    if (p[key] > x) return null;
    // The curve stops where the run stopped (one grid cell of slack so the last point shows).
    if (x > end + (grid[1] ?? 0) - grid[0]) return null;
    const v = p[field];
    return v !== undefined && Number.isFinite(v) ? v : null;
  });
}

/** With `--curvature-every`: the top Hessian eigenvalue and trace against steps, per optimizer. */
function curvatureCharts(problem: string, runs: RunRecord[]): Chart[] {
  if (!runs.some((r) => r.curve.some((c) => c.topEigenvalue !== undefined))) return [];
  const byOpt = groupBy(runs, (r) => r.optimizer);
  const maxX = Math.max(...runs.map((r) => r.curve[r.curve.length - 1].step));
  const grid = Array.from({ length: 121 }, (_, i) => (maxX * i) / 120);
  return (['topEigenvalue', 'hessianTrace'] as const).map((field) => {
    const series: Series[] = [...byOpt].map(([opt, rs]) => {
      const cols = rs.map((r) => resample(r, 'step', grid, field));
      const at = (i: number, f: (v: number[]) => number) => {
        const vs = cols.map((c) => c[i]).filter((v): v is number => v !== null);
        return vs.length === 0 ? null : f(vs);
      };
      return { label: opt, median: grid.map((_, i) => at(i, median)), lo: grid.map((_, i) => at(i, (v) => Math.min(...v))), hi: grid.map((_, i) => at(i, (v) => Math.max(...v))) };
    });
    const title = field === 'topEigenvalue' ? 'top Hessian eigenvalue' : 'Hessian trace (Hutchinson)';
    return { title: `${problem}: ${title} vs steps`, xLabel: 'steps', x: grid, series, log: false, stops: [] };
  });
}

interface Series { label: string; median: (number | null)[]; lo: (number | null)[]; hi: (number | null)[] }
/** Where a run stopped: drawn as a marker (converged: filled circle, diverged: cross, budget: bar). */
interface StopMark { label: string; x: number; y: number | null; kind: string; reason: string }
interface Chart { title: string; xLabel: string; x: number[]; series: Series[]; log: boolean; stops: StopMark[] }

function chartsFor(problem: string, runs: RunRecord[]): Chart[] {
  const byOpt = groupBy(runs, (r) => r.optimizer);
  const charts: Chart[] = [];
  for (const key of ['seconds', 'step'] as const) {
    const maxX = Math.max(...runs.map((r) => r.curve[r.curve.length - 1][key]));
    const n = 120;
    const grid = Array.from({ length: n + 1 }, (_, i) => (maxX * i) / n);
    const series: Series[] = [];
    for (const [opt, rs] of byOpt) {
      const cols = rs.map((r) => resample(r, key, grid));
      const at = (i: number, f: (v: number[]) => number) => {
        const vs = cols.map((c) => c[i]).filter((v): v is number => v !== null);
        return vs.length === 0 ? null : f(vs);
      };
      series.push({
        label: opt,
        median: grid.map((_, i) => at(i, median)),
        lo: grid.map((_, i) => at(i, (v) => Math.min(...v))),
        hi: grid.map((_, i) => at(i, (v) => Math.max(...v))),
      });
    }
    // Log scale when the positive losses span more than 20x (losses of exactly 0 are then left out).
    const pos = runs.flatMap((r) => r.curve.map((c) => c.trainLoss)).filter((v) => Number.isFinite(v) && v > 0);
    const log = pos.length > 0 && Math.max(...pos) / Math.min(...pos) > 20;
    const stops: StopMark[] = runs.map((r) => {
      const last = r.curve[r.curve.length - 1];
      // A diverged run's last finite loss marks where it left the plot.
      const y = [...r.curve].reverse().find((c) => Number.isFinite(c.trainLoss))?.trainLoss ?? null;
      return { label: r.optimizer, x: last[key], y, kind: r.final.stopped, reason: `${r.optimizer} (seed ${r.seed}) ${r.final.stopped} at step ${r.final.step}: ${r.final.stopReason ?? ''}` };
    });
    if (log) {
      // Show at most 16 decades below the largest loss: smaller values (and exact zeros) sit on that floor.
      const floor = Math.max(...pos) * 1e-16;
      for (const s of series) for (const arr of [s.median, s.lo, s.hi]) arr.forEach((v, i) => { if (v !== null && v < floor) arr[i] = floor; });
      for (const m of stops) if (m.y !== null && m.y < floor) m.y = floor;
    }
    charts.push({ title: `${problem}: training loss vs ${key === 'seconds' ? 'wall-clock seconds' : 'steps'}`, xLabel: key === 'seconds' ? 'seconds' : 'steps', x: grid, series, log, stops });
  }
  return charts;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** uPlot's stylesheet and script, inlined into the report. */
export interface ReportAssets { css: string; js: string }

/** uPlot's files from the uplot package (Node.js >= 20.16; a browser passes its own `ReportAssets`). */
export function uplotAssets(): ReportAssets {
  const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
  if (typeof get !== 'function') throw new Error('renderReport: pass uPlot\'s files as assets outside Node.js (uplot/dist/uPlot.min.css and uPlot.iife.min.js)');
  const { readFileSync } = get('node:fs') as typeof import('node:fs');
  const { createRequire } = get('node:module') as typeof import('node:module');
  const require = createRequire(import.meta.url);
  const read = (file: string) => readFileSync(require.resolve(`uplot/dist/${file}`), 'utf8');
  return { css: read('uPlot.min.css'), js: read('uPlot.iife.min.js') };
}

/** A cell of the time/steps columns: the value, or '–' with a tooltip saying why it is missing. */
function cell(v: string | undefined, why: string): string {
  return v !== undefined ? v : `<span class="missing" title="${escapeHtml(why)}">–</span>`;
}

/** The note under a table that says in words what each '–' in it means. */
function dashNote(s: ProblemSummary): string {
  const notes: string[] = [];
  const missed = s.rows.filter((r) => r.stepsToTarget === undefined);
  if (missed.length > 0) {
    notes.push(`– in steps and seconds: ${missed.map((r) => `${escapeHtml(r.optimizer)} reached the target in ${r.reached} of ${r.seeds} seed(s)`).join('; ')}; a median needs a majority of the seeds to have reached it.`);
  }
  if (s.noRatio !== '') notes.push(`– in the columns vs Adam: ${escapeHtml(s.noRatio)}.`);
  else if (missed.length > 0) notes.push('– in the columns vs Adam: that optimizer has no time or steps to divide.');
  return notes.length === 0 ? '' : `<p class="note dash-note">${notes.join(' ')}</p>`;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f', '#393b79', '#637939'];

/** The whole report as one HTML document (scripts and data inlined; no network). */
/** Whether a problem's runs report an error against an exact solution (a column of its own). */
export function hasRelL2(s: ProblemSummary): boolean {
  return s.rows.some((r) => r.finalRelL2 !== undefined);
}

export function renderReport(results: Results, assets: ReportAssets = uplotAssets()): string {
  const summaries = summarize(results);
  const heads = results.headlines ?? headlines(results.runs);
  const problems = [...groupBy(results.runs, (r) => r.problem)];
  const charts = problems.flatMap(([p, rs]) => [...chartsFor(p, rs), ...curvatureCharts(p, rs)]);
  const optimizers = [...new Set(results.runs.map((r) => r.optimizer))];
  const color = Object.fromEntries(optimizers.map((o, i) => [o, COLORS[i % COLORS.length]]));
  const tables = summaries.map((s) => `
    <h3>${escapeHtml(s.problem)}</h3>
    <p class="note">Target: training loss ${s.target.toPrecision(4)} (${s.rows.some((r) => r.optimizer === 'adam') ? 'the highest final loss of the Adam runs' : 'the highest final loss of any method'}). Medians over ${results.settings.seeds} seed(s).</p>
    <table><thead><tr><th>optimizer</th><th>final loss</th><th>steps to target</th><th>seconds to target</th><th>time vs Adam</th><th>steps vs Adam</th><th>stopped</th>${hasRelL2(s) ? '<th>relative L2 error</th>' : ''}</tr></thead><tbody>
    ${s.rows.map((r) => `<tr><td><span class="sw" style="background:${color[r.optimizer]}"></span>${escapeHtml(r.optimizer)}</td><td>${r.finalLoss.toPrecision(4)}</td><td>${cell(r.stepsToTarget?.toString(), `reached in ${r.reached} of ${r.seeds} seed(s)`)}</td><td>${cell(r.secondsToTarget?.toFixed(2), `reached in ${r.reached} of ${r.seeds} seed(s)`)}</td><td>${cell(r.timeRatio?.toFixed(2), s.noRatio || 'no time to target')}</td><td>${cell(r.stepRatio?.toFixed(2), s.noRatio || 'no steps to target')}</td><td>${escapeHtml(r.stopped)}</td>${hasRelL2(s) ? `<td>${r.finalRelL2?.toPrecision(3) ?? '–'}</td>` : ''}</tr>`).join('\n')}
    </tbody></table>${dashNote(s)}`).join('\n');
  const m = results.machine;
  const peer = results.peers.torch;
  const data = JSON.stringify({ charts, color }).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hessian benchmark report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${assets.css}
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{padding:.25rem .7rem;border-bottom:1px solid #eee;text-align:right}td:first-child,th:first-child{text-align:left}
.note{color:#666;margin:.2rem 0}.sw{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.4rem;vertical-align:-1px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:1.5rem}.chart{min-width:0;overflow:hidden}.chart h4{margin:.3rem 0;font-weight:600;font-size:.95rem}
.legend{margin:.5rem 0 1rem}.legend>span{margin-right:1rem;white-space:nowrap}
.headlines li{margin:.35rem 0;font-size:1.02rem}
</style></head><body>
<h1>hessian benchmark report</h1>
<p class="note">${escapeHtml(results.created)} · hessian ${escapeHtml(results.version)} · ${results.runs.length} runs · budget ${escapeHtml(JSON.stringify(results.settings.budget))} per run · data size ${results.settings.size}${results.settings.tuned ? ' · learning rates tuned on a grid' : ''}${results.settings.suite ? ` · suite ${escapeHtml(results.settings.suite)}` : ''}${results.settings.stopping === false ? ' · stopping rules off' : ''}</p>
<h2>Headlines</h2>
<ul class="headlines">${heads.map((h) => `<li>${escapeHtml(h.text)}</li>`).join('\n')}</ul>
<h2>Time and steps to the target loss</h2>
${tables}
<h2>Training loss</h2>
<p class="note">Median over seeds (line) and the range between the best and the worst seed (band). Seconds count optimizer work only. Each run ends where it stopped: ● converged, ✕ diverged, | budget spent (hover a chart for the reasons).</p>
<div class="legend">${optimizers.map((o) => `<span><span class="sw" style="background:${color[o]}"></span>${escapeHtml(o)}</span>`).join(' ')}</div>
<div class="charts" id="charts"></div>
<h2>Machine and versions</h2>
<table><tbody>
<tr><td>CPU</td><td>${escapeHtml(m.cpu)} × ${m.cores}</td></tr>
<tr><td>kernel backend</td><td>${escapeHtml(m.backend)} (${escapeHtml(m.simd)}, ${m.threads} threads)</td></tr>
<tr><td>Node.js</td><td>${escapeHtml(m.node)}</td></tr>
<tr><td>PyTorch peer</td><td>${peer.available ? `PyTorch ${escapeHtml(peer.version ?? '')} (runs labelled torch-*)` : `not run: ${escapeHtml(peer.reason ?? 'unavailable')}`}</td></tr>
</tbody></table>
<script>${assets.js}</script>
<script>
const DATA = ${data};
const host = document.getElementById('charts');
// Every chart's box first, so that each plot is sized in the final grid (the first box alone would span the page).
const divs = DATA.charts.map((c) => {
  const div = document.createElement('div'); div.className = 'chart';
  const h = document.createElement('h4'); h.textContent = c.title; div.appendChild(h); host.appendChild(div);
  return div;
});
DATA.charts.forEach((c, k) => {
  const div = divs[k];
  div.title = c.stops.map((m) => m.reason).join('\\n');
  const data = [c.x]; const series = [{ label: c.xLabel }]; const bands = [];
  for (const s of c.series) {
    const col = DATA.color[s.label] || '#444';
    const base = data.length;
    data.push(s.median, s.hi, s.lo);
    series.push({ label: s.label, stroke: col, width: 2, spanGaps: true },
                { label: s.label + ' (max)', stroke: col + '33', width: 1, spanGaps: true, show: true },
                { label: s.label + ' (min)', stroke: col + '33', width: 1, spanGaps: true, show: true });
    bands.push({ series: [base + 1, base + 2], fill: col + '22' });
  }
  const width = Math.max(300, (div.clientWidth || 480) - 8);
  new uPlot({ width, height: 300, series, bands, scales: { x: { time: false }, y: c.log ? { distr: 3 } : {} },
    axes: [{ label: c.xLabel }, { label: 'training loss' + (c.log ? ' (log scale)' : ''), size: 60,
      values: (u, vals) => vals.map((v) => v == null ? '' : (v !== 0 && (Math.abs(v) < 1e-2 || Math.abs(v) >= 1e5)) ? v.toExponential(0) : String(+v.toPrecision(3))) }],
    legend: { show: false },
    hooks: { draw: [(u) => {
      // Stop markers at each run's last point, in its optimizer's colour.
      const ctx = u.ctx; const r = 5 * devicePixelRatio;
      for (const m of c.stops) {
        if (m.y == null) continue;
        const x = u.valToPos(m.x, 'x', true); const y = u.valToPos(m.y, 'y', true);
        if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
        ctx.save(); ctx.strokeStyle = ctx.fillStyle = DATA.color[m.label] || '#444'; ctx.lineWidth = 2 * devicePixelRatio;
        ctx.beginPath();
        if (m.kind === 'converged') { ctx.arc(x, y, r, 0, 2 * Math.PI); ctx.fill(); }
        else if (m.kind === 'diverged') { ctx.moveTo(x - r, y - r); ctx.lineTo(x + r, y + r); ctx.moveTo(x + r, y - r); ctx.lineTo(x - r, y + r); ctx.stroke(); }
        else { ctx.moveTo(x, y - r); ctx.lineTo(x, y + r); ctx.stroke(); }
        ctx.restore();
      }
    }] } }, data, div);
});
</script>
</body></html>
`;
}
