/**
 * Learning-rate schedules: functions `(step) => value`, step counting from 0, usable wherever
 * an option takes a `Schedule`. They compose: `warmup(100, cosineDecay(1e-3, 10_000))`.
 */
import { checkNumber } from './validate.js';

export type ScheduleFn = (step: number) => number;

export function constant(value: number): ScheduleFn {
  checkNumber('constant', 'value', value, {});
  return () => value;
}

/** `value · gamma^floor(step / stepSize)` (PyTorch's StepLR). */
export function stepDecay(value: number, stepSize: number, gamma = 0.1): ScheduleFn {
  checkNumber('stepDecay', 'value', value, {});
  checkNumber('stepDecay', 'stepSize', stepSize, { min: 1, integer: true });
  checkNumber('stepDecay', 'gamma', gamma, { min: 0 });
  return (step) => value * Math.pow(gamma, Math.floor(step / stepSize));
}

/**
 * Cosine decay from `value` to `value·alpha` over `decaySteps`, constant afterwards
 * (Loshchilov & Hutter 2017, without restarts; Optax's cosine_decay_schedule).
 */
export function cosineDecay(value: number, decaySteps: number, alpha = 0): ScheduleFn {
  checkNumber('cosineDecay', 'value', value, {});
  checkNumber('cosineDecay', 'decaySteps', decaySteps, { min: 1, integer: true });
  checkNumber('cosineDecay', 'alpha', alpha, { min: 0, max: 1 });
  return (step) => {
    const t = Math.min(step, decaySteps) / decaySteps;
    return value * ((1 - alpha) * 0.5 * (1 + Math.cos(Math.PI * t)) + alpha);
  };
}

/** Linear warm-up from 0 over `warmupSteps`, then `after` (a number or schedule, counted from the end of warm-up). */
export function warmup(warmupSteps: number, after: number | ScheduleFn): ScheduleFn {
  checkNumber('warmup', 'warmupSteps', warmupSteps, { min: 0, integer: true });
  const next: ScheduleFn = typeof after === 'number' ? constant(after) : after;
  return (step) => (step < warmupSteps ? next(0) * ((step + 1) / (warmupSteps + 1)) : next(step - warmupSteps));
}
