/**
 * The compute worker: every optimizer step, gradient, Hessian product and contour grid of the
 * demo runs here, on the package's own modules (imported from src/, not copied), so that the
 * page's main thread only draws. Kernels: the package's WASM SIMD build, fetched next to the
 * page; where it is missing or the engine lacks SIMD, the TypeScript reference kernels.
 */
import { createWasmKernels, wasmModuleUrl } from '../../src/kernels/wasm-backend.js';
import { kernels, useKernels } from '../../src/kernels/index.js';
import type { FromWorker, ToWorker } from './protocol.js';
import { landscapeSteppers, surface, type Stepper } from './landscape-steppers.js';
import { networkSteppers, loadDigits, type Digits } from './network-steppers.js';

const post = (m: FromWorker, transfer: Transferable[] = []): void => (self as unknown as Worker).postMessage(m, transfer);

let steppers: Stepper[] = [];
/** Bumped by every run, pause and new setup: a loop of an older generation stops at its next turn. */
let generation = 0;
let digits: Digits | undefined;
let base = '';

async function init(b: string): Promise<void> {
  base = b;
  let note = '';
  try {
    const res = await fetch(wasmModuleUrl());
    if (!res.ok) throw new Error(`kernels.wasm: HTTP ${res.status}`);
    useKernels(createWasmKernels(await res.arrayBuffer()));
  } catch (e) {
    note = `WASM kernels unavailable (${e instanceof Error ? e.message : String(e)}); using the TypeScript kernels`;
  }
  post({ type: 'ready', backend: kernels().name, note });
}

const yieldToMessages = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

/** Step every optimizer in turn, posting what was reached about every 30 ms, until paused or done. */
async function run(maxSteps: number): Promise<void> {
  const gen = ++generation;
  const active = (): Stepper[] => steppers.filter((s) => !s.done && s.step < maxSteps);
  while (gen === generation && active().length > 0) {
    const t0 = performance.now();
    const points: Record<string, ReturnType<Stepper['advance']>[]> = {};
    do {
      for (const s of active()) (points[s.id] ??= []).push(s.advance());
    } while (performance.now() - t0 < 30 && active().length > 0);
    const done = steppers.filter((s) => s.done || s.step >= maxSteps).map((s) => s.id);
    post({ type: 'progress', points, running: active().length > 0, done });
    for (const s of steppers) {
      const samples = s.samples?.();
      if (samples) post({ type: 'samples', id: s.id, ...samples }, [samples.images.buffer]);
    }
    await yieldToMessages();
  }
  if (gen !== generation) return;
  post({ type: 'progress', points: {}, running: false, done: steppers.filter((s) => s.done || s.step >= maxSteps).map((s) => s.id) });
}

self.onmessage = async (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  try {
    if (m.type === 'init') await init(m.base);
    else if (m.type === 'pause') generation++;
    else if (m.type === 'run') await run(m.maxSteps);
    else if (m.type === 'surface') {
      const s = surface(m.spec, m.n);
      post({ type: 'surface', n: m.n, ...s }, [s.values.buffer]);
    } else if (m.type === 'landscape' || m.type === 'network') {
      generation++;
      for (const s of steppers) s.dispose();
      steppers = [];
      if (m.type === 'landscape') {
        const r = landscapeSteppers(m.spec, m.optimizers);
        if (typeof r === 'string') {
          post({ type: 'setup', ok: false, error: r });
          return;
        }
        steppers = r;
      } else {
        digits ??= await loadDigits(new URL('digits.bin', base));
        steppers = networkSteppers(m.problem, m.optimizers, digits);
      }
      post({ type: 'setup', ok: true, points: Object.fromEntries(steppers.map((s) => [s.id, s.first])) });
    }
  } catch (e) {
    generation++;
    post({ type: 'error', error: e instanceof Error ? `${e.message}` : String(e) });
  }
};
