/**
 * One sentence per problem for the top of the report and of the terminal summary: which method
 * reached the target loss first in wall-clock (optimizer) seconds, by what factor over Adam,
 * and which methods did not reach it. With several seeds a winner is named only when the same
 * method was first in every seed; otherwise the sentence says the order did not hold.
 *
 * The target is the highest final training loss Adam reached over the seeds (so every Adam run
 * reaches it); without Adam runs, the highest final loss of any method.
 */
import type { RunRecord } from './runner.js';

export interface Headline {
  problem: string;
  /** The target training loss (undefined when no run ended with a finite loss). */
  target?: number;
  /** The method first to the target in every seed (undefined when none was). */
  winner?: string;
  /** Median over seeds of Adam's seconds to the target over the winner's (when both exist and differ). */
  factorOverAdam?: number;
  /** Methods that reached the target in no seed. */
  notReached: string[];
  /** With several seeds: whether one method was first in every seed. */
  seedsAgree: boolean;
  text: string;
}

export function median(xs: readonly number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function groupBy<T>(xs: readonly T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const l = m.get(k);
    if (l) l.push(x);
    else m.set(k, [x]);
  }
  return m;
}

/** The target of one problem's runs and what it is, in words. */
export function targetLoss(runs: readonly RunRecord[]): { target: number; what: string } | undefined {
  const finite = (rs: readonly RunRecord[]) => rs.map((r) => r.final.trainLoss).filter(Number.isFinite);
  const adam = finite(runs.filter((r) => r.optimizer === 'adam'));
  if (adam.length > 0) return { target: Math.max(...adam), what: adam.length > 1 ? 'the highest final loss of the Adam seeds' : 'the final loss Adam reached' };
  const all = finite(runs);
  if (all.length > 0) return { target: Math.max(...all), what: 'the highest final loss of any method (no Adam run)' };
  return undefined;
}

/** Optimizer seconds and step at which a run's curve first reached `target`. */
export function firstReach(run: RunRecord, target: number): { step: number; seconds: number } | undefined {
  const p = run.curve.find((c) => c.trainLoss <= target);
  return p === undefined ? undefined : { step: p.step, seconds: p.seconds };
}

const fmtLoss = (x: number): string => (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e5) ? x.toExponential(2) : x.toPrecision(3));
const fmtSeconds = (s: number): string => (s >= 100 ? s.toFixed(0) : s >= 1 ? s.toFixed(1) : s.toPrecision(2)) + ' s';
const fmtFactor = (f: number): string => (f >= 10 ? f.toFixed(0) : f.toFixed(1)) + '×';

/** 'a', 'a and b', 'a, b and c'. */
export function listWords(xs: readonly string[]): string {
  return xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`;
}

/** The headline of one problem from its runs (any optimizers, any seeds). */
export function headlineFor(problem: string, runs: readonly RunRecord[]): Headline {
  const t = targetLoss(runs);
  const optimizers = [...new Set(runs.map((r) => r.optimizer))];
  if (t === undefined) return { problem, notReached: optimizers, seedsAgree: false, text: `${problem}: every run ended with a non-finite loss; no target.` };
  const { target } = t;
  const start = median(runs.map((r) => r.curve[0].trainLoss));
  if (!(target < start)) {
    const best = runs.filter((r) => Number.isFinite(r.final.trainLoss)).sort((a, b) => a.final.trainLoss - b.final.trainLoss)[0];
    return {
      problem, target, notReached: [], seedsAgree: false,
      text: `${problem}: the target (${t.what}, ${fmtLoss(target)}) is not below the starting loss ${fmtLoss(start)}, so there is no race; the lowest final loss was ${best.optimizer}'s ${fmtLoss(best.final.trainLoss)}.`,
    };
  }
  const seeds = [...new Set(runs.map((r) => r.seed))].sort((a, b) => a - b);
  const reach = new Map<string, Map<number, number>>(); // optimizer -> seed -> seconds
  for (const r of runs) {
    const at = firstReach(r, target);
    if (at === undefined) continue;
    const m = reach.get(r.optimizer) ?? new Map<number, number>();
    m.set(r.seed, at.seconds);
    reach.set(r.optimizer, m);
  }
  const winnerOf = (seed: number): string | undefined => {
    let w: string | undefined;
    for (const o of optimizers) {
      const s = reach.get(o)?.get(seed);
      if (s !== undefined && (w === undefined || s < (reach.get(w)?.get(seed) as number))) w = o;
    }
    return w;
  };
  const winners = seeds.map(winnerOf);
  const notReached = optimizers.filter((o) => reach.get(o) === undefined);
  const partly = optimizers.filter((o) => reach.get(o) !== undefined && (reach.get(o) as Map<number, number>).size < seeds.length);
  const several = seeds.length > 1;
  const tail = [
    notReached.length > 0 ? `${listWords(notReached)} did not reach it${several ? ' in any seed' : ''}` : '',
    partly.length > 0 ? `${listWords(partly)} reached it in only some seeds` : '',
  ].filter((x) => x !== '');
  const rest = tail.length > 0 ? `; ${tail.join('; ')}` : '';
  const targetWords = `the target loss ${fmtLoss(target)} (${t.what})`;
  const winner = winners[0];
  const agree = winner !== undefined && winners.every((w) => w === winner);
  if (!agree) {
    const counts = [...groupBy(winners.filter((w): w is string => w !== undefined), (w) => w)].sort((a, b) => b[1].length - a[1].length);
    const which = counts.map(([o, ws]) => `${o} in ${ws.length} of ${seeds.length}`).join(', ');
    const text = winners.every((w) => w === undefined)
      ? `${problem}: no method reached ${targetWords}.`
      : `${problem}: no method reached ${targetWords} first in every seed (${which}${winners.includes(undefined) ? `, none in ${winners.filter((w) => w === undefined).length}` : ''}), so no order is claimed${rest}.`;
    return { problem, target, notReached, seedsAgree: false, text };
  }
  const mine = seeds.map((s) => reach.get(winner)?.get(s) as number);
  const inWords = several ? `first in all ${seeds.length} seeds, in a median ${fmtSeconds(median(mine))}` : `first, in ${fmtSeconds(mine[0])}`;
  const adam = reach.get('adam');
  let factor: number | undefined;
  let compare = '';
  if (winner === 'adam') {
    // Adam first: how much longer the fastest other method took.
    const others = optimizers.filter((o) => o !== 'adam' && reach.get(o)?.size === seeds.length);
    const ratio = (o: string) => median(seeds.map((s) => (reach.get(o)?.get(s) as number) / Math.max(mine[seeds.indexOf(s)], 1e-12)));
    const next = others.sort((a, b) => ratio(a) - ratio(b))[0];
    if (next !== undefined) compare = `; the next, ${next}, took ${fmtFactor(ratio(next))} as long`;
  } else if (adam !== undefined && seeds.every((s) => adam.has(s))) {
    const ratios = seeds.map((s) => (adam.get(s) as number) / Math.max(reach.get(winner)?.get(s) as number, 1e-12));
    factor = median(ratios);
    // The winner was first in every seed, so each ratio is at least 1.
    const detail = several ? `median; ${fmtFactor(Math.min(...ratios))}–${fmtFactor(Math.max(...ratios))} over seeds` : `Adam took ${fmtSeconds(adam.get(seeds[0]) as number)}`;
    compare = `, ${fmtFactor(factor)} faster than Adam (${detail})`;
  } else if (adam === undefined && !optimizers.includes('adam')) {
    compare = ' (no Adam run to compare with)';
  }
  return { problem, target, winner, factorOverAdam: factor, notReached, seedsAgree: true, text: `${problem}: ${winner} reached ${targetWords} ${inWords}${compare}${rest}.` };
}

/** One headline per problem, in the order the problems first appear. */
export function headlines(runs: readonly RunRecord[]): Headline[] {
  return [...groupBy(runs, (r) => r.problem)].map(([p, rs]) => headlineFor(p, rs));
}
