/**
 * Option validation: every optimizer checks its options when it is built, and an error names
 * the optimizer, the option, the bad value and the allowed range.
 */
import type { Schedule } from './types.js';

export interface Range {
  min?: number;
  max?: number;
  minExclusive?: boolean;
  maxExclusive?: boolean;
  integer?: boolean;
}

function rangeText(r: Range): string {
  const parts: string[] = [];
  if (r.integer) parts.push('an integer');
  else parts.push('a finite number');
  if (r.min !== undefined) parts.push(`${r.minExclusive ? '>' : '>='} ${r.min}`);
  if (r.max !== undefined) parts.push(`${r.maxExclusive ? '<' : '<='} ${r.max}`);
  return parts.join(' ');
}

export function checkNumber(owner: string, option: string, value: unknown, r: Range): number {
  const ok = typeof value === 'number' && Number.isFinite(value)
    && (!r.integer || Number.isInteger(value))
    && (r.min === undefined || (r.minExclusive ? value > r.min : value >= r.min))
    && (r.max === undefined || (r.maxExclusive ? value < r.max : value <= r.max));
  if (!ok) {
    const shown = typeof value === 'string' ? `'${value}'` : String(value);
    throw new RangeError(`${owner}: option '${option}' must be ${rangeText(r)}, got ${shown}`);
  }
  return value as number;
}

/** A number or a schedule; schedules are checked when evaluated. */
export function checkSchedule(owner: string, option: string, value: unknown, r: Range): Schedule {
  if (typeof value === 'function') return value as Schedule;
  return checkNumber(owner, option, value, r);
}

export function evalSchedule(option: string, s: Schedule, step: number): number {
  const v = typeof s === 'number' ? s : s(step);
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeError(`schedule for '${option}' returned ${String(v)} at step ${step}; expected a finite number`);
  return v;
}

export function checkBoolean(owner: string, option: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${owner}: option '${option}' must be true or false, got ${String(value)}`);
  return value;
}

export function checkChoice<T extends string>(owner: string, option: string, value: unknown, choices: readonly T[]): T {
  if (typeof value !== 'string' || !choices.includes(value as T)) {
    throw new RangeError(`${owner}: option '${option}' must be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${typeof value === 'string' ? `'${value}'` : String(value)}`);
  }
  return value as T;
}

/** Reject option names the optimizer does not know (typos would otherwise be silently ignored). */
export function checkKnownOptions(owner: string, options: object, known: readonly string[]): void {
  if (options === null || typeof options !== 'object') throw new TypeError(`${owner}: options must be an object`);
  for (const k of Object.keys(options)) {
    if (!known.includes(k)) throw new RangeError(`${owner}: unknown option '${k}'; known options: ${known.join(', ')}`);
  }
}
