/** A small line chart on a canvas: a few series, linear or log y axis, min/max ticks. */
export interface LineSeries { label: string; color: string; xs: number[]; ys: number[] }

export const COLORS: Record<string, string> = {
  sgd: '#7f7f7f', momentum: '#8c564b', adam: '#1f77b4', lbfgs: '#2ca02c', newton: '#ff7f0e',
  'hessian-free': '#d62728', 'saddle-free-newton': '#9467bd', kfac: '#17becf',
};

const fmt = (v: number): string => (v !== 0 && (Math.abs(v) < 1e-2 || Math.abs(v) >= 1e4) ? v.toExponential(1) : String(+v.toPrecision(3)));

/** Fit the canvas's backing store to its CSS size (sharp on high-DPI screens); returns the 2-D context. */
export function fitCanvas(canvas: HTMLCanvasElement): CanvasRenderingContext2D {
  const dpr = globalThis.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

export function drawLines(canvas: HTMLCanvasElement, series: LineSeries[], opts: { title: string; xLabel: string; logY?: boolean }): void {
  const ctx = fitCanvas(canvas);
  const W = canvas.clientWidth;
  const H = canvas.clientHeight;
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, W, H);
  const m = { l: 58, r: 10, t: 22, b: 30 };
  ctx.fillStyle = '#222';
  ctx.font = '12px system-ui, sans-serif';
  ctx.fillText(opts.title, m.l, 14);
  // On a log axis, values at or below 0 (an exact minimum) sit on a floor 16 decades below the top.
  const top = Math.max(1e-300, ...series.flatMap((s) => s.ys.filter(Number.isFinite)));
  const floor = top * 1e-16;
  const ty = (v: number) => (opts.logY ? Math.log10(Math.max(v, floor)) : v);
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const s of series) {
    s.xs.forEach((x, i) => {
      const y = s.ys[i];
      if (!Number.isFinite(y) || !Number.isFinite(x)) return;
      x0 = Math.min(x0, x); x1 = Math.max(x1, x);
      y0 = Math.min(y0, ty(y)); y1 = Math.max(y1, ty(y));
    });
  }
  ctx.strokeStyle = '#bbb';
  ctx.strokeRect(m.l, m.t, W - m.l - m.r, H - m.t - m.b);
  if (!Number.isFinite(x0)) return;
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
  const px = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((ty(y) - y0) / (y1 - y0)) * (H - m.t - m.b);
  ctx.fillStyle = '#555';
  const unTy = (v: number) => (opts.logY ? 10 ** v : v);
  ctx.textAlign = 'right';
  ctx.fillText(fmt(unTy(y1)), m.l - 4, m.t + 9);
  ctx.fillText(fmt(unTy(y0)), m.l - 4, H - m.b);
  ctx.textAlign = 'left';
  ctx.fillText(fmt(x0), m.l, H - m.b + 14);
  ctx.textAlign = 'right';
  ctx.fillText(`${fmt(x1)} ${opts.xLabel}`, W - m.r, H - m.b + 14);
  ctx.textAlign = 'left';
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    let pen = false;
    s.xs.forEach((x, i) => {
      const y = s.ys[i];
      if (!Number.isFinite(y)) { pen = false; return; }
      if (pen) ctx.lineTo(px(x), py(y));
      else ctx.moveTo(px(x), py(y));
      pen = true;
    });
    ctx.stroke();
  }
}
