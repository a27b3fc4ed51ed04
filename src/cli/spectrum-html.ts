/**
 * The self-contained page of `hessian spectrum`: the density of the whole model (log scale, as
 * PyHessian plots it), a table of top eigenvalues and traces, and one small density per layer.
 */
import type { SpectrumSummary } from '../curvature/diagnostics.js';

/** What `hessian spectrum` writes to spectrum.json (and draws in spectrum.html). */
export interface SpectrumReport {
  problem: string;
  seed: number;
  size: string;
  /** The checkpoint the parameters came from and its step, or null for the initial parameters. */
  checkpoint: { file: string; step: number } | null;
  parameters: number;
  seconds: number;
  model: SpectrumSummary;
  layers: SpectrumSummary[];
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
}

function num(x: number, digits = 5): string {
  return Number.isFinite(x) ? x.toPrecision(digits) : String(x);
}

/** An SVG line plot of the density on a log axis (floored at 1e-8 of its peak). */
export function densitySvg(s: SpectrumSummary, width = 640, height = 260): string {
  const { grid, density } = s.density;
  const pad = { l: 56, r: 12, t: 10, b: 34 };
  const peak = Math.max(...density, 1e-300);
  const floor = peak * 1e-8;
  const ys = density.map((d) => Math.log10(Math.max(d, floor)));
  const y0 = Math.log10(floor);
  const y1 = Math.log10(peak);
  const x0 = grid[0];
  const x1 = grid[grid.length - 1];
  const px = (x: number) => pad.l + ((x - x0) / (x1 - x0 || 1)) * (width - pad.l - pad.r);
  const py = (y: number) => height - pad.b - ((y - y0) / (y1 - y0 || 1)) * (height - pad.t - pad.b);
  const path = grid.map((x, i) => `${i === 0 ? 'M' : 'L'}${px(x).toFixed(1)},${py(ys[i]).toFixed(1)}`).join('');
  const ticksX = [0, 0.25, 0.5, 0.75, 1].map((f) => x0 + f * (x1 - x0));
  const ticksY = [];
  for (let e = Math.ceil(y0); e <= Math.floor(y1); e += 2) ticksY.push(e);
  const eig = s.topEigenvalues.map((t) => `<line x1="${px(t).toFixed(1)}" x2="${px(t).toFixed(1)}" y1="${pad.t}" y2="${height - pad.b}" stroke="#d62728" stroke-dasharray="3,3" stroke-width="1"/>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="spectral density of ${esc(s.name)}">
<rect x="${pad.l}" y="${pad.t}" width="${width - pad.l - pad.r}" height="${height - pad.t - pad.b}" fill="none" stroke="#999"/>
${ticksX.map((x) => `<text x="${px(x).toFixed(1)}" y="${height - pad.b + 14}" font-size="10" text-anchor="middle">${num(x, 3)}</text>`).join('')}
${ticksY.map((e) => `<text x="${pad.l - 4}" y="${py(e).toFixed(1)}" font-size="10" text-anchor="end" dominant-baseline="middle">1e${e}</text>`).join('')}
<text x="${(pad.l + width - pad.r) / 2}" y="${height - 4}" font-size="11" text-anchor="middle">eigenvalue</text>
${eig}<path d="${path}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>
</svg>`;
}

export function spectrumHtml(r: SpectrumReport): string {
  const row = (s: SpectrumSummary) => `<tr><td>${esc(s.name)}</td><td>${s.size}</td><td>${s.topEigenvalues.map((x) => num(x)).join(', ')}</td><td>${num(s.trace)} ± ${num(s.traceStderr, 2)}</td><td>${num(s.trace / s.size)}</td><td>${s.matvecs}</td></tr>`;
  const layers = r.layers.map((l) => `<figure><figcaption>layer ${esc(l.name)} (${l.size} parameters)</figcaption>${densitySvg(l, 420, 200)}</figure>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Hessian spectrum: ${esc(r.problem)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1000px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}figure{display:inline-block;margin:0 1em 1em 0}</style></head>
<body><h1>Hessian spectrum: ${esc(r.problem)}</h1>
<p>${r.parameters} parameters, ${r.checkpoint === null ? 'initial parameters' : `checkpoint ${esc(r.checkpoint.file)} (step ${r.checkpoint.step})`}, seed ${r.seed}, data size ${esc(r.size)}; ${r.seconds.toFixed(1)} s.
Top eigenvalues by Lanczos, trace by Hutch++, density by stochastic Lanczos quadrature (Gaussian kernel σ = ${num(r.model.density.sigma, 3)}; dashed lines: top eigenvalues).</p>
<h2>Density</h2>
${densitySvg(r.model)}
<h2>Eigenvalues and trace</h2>
<table><tr><th>block</th><th>size</th><th>top eigenvalues</th><th>trace</th><th>trace / n</th><th>products</th></tr>
${row(r.model)}
${r.layers.map(row).join('\n')}
</table>
${r.layers.length > 0 ? `<h2>Per layer</h2>\n${layers}` : ''}
</body></html>
`;
}
