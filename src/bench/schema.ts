/**
 * The documented schema of results.json (also in the README), as a checker: returns the list
 * of violations (empty when the document conforms). Other fields may be added freely.
 *
 * {
 *   version: string, created: string (ISO date),
 *   machine: { cpu: string, cores: number, backend: string, simd: string, threads: number, node: string, ranks?: number (MPI ranks of a --distributed run) },
 *   settings: { budget: {seconds?: number, steps?: number}, seeds: number, size: string, tuned: boolean,
 *               suite: string ("quick" | "deep" | "paper", or "custom" for explicit lists only),
 *               stopping: false | { gradientTolerance, lossTolerance, patience, decreaseTolerance: number } },
 *   headlines: [ { problem: string, text: string, target?: number, winner?: string, factorOverAdam?: number,
 *                  notReached: string[], seedsAgree: boolean } ],
 *   runs: [ { problem: string, optimizer: string, seed: number, hyper: { options: object, batchSize: number | "full" },
 *             curve: [ { step, seconds, evals, curvatureProducts, trainLoss, testLoss?, testAccuracy?, relL2?, testError? } ],
 *             final: { ...a curve point, stopped: "converged" | "diverged" | "budget", stopReason: string, rejectedSteps: number },
 *             divergence?: [ { series: string, step: number, loss: number | null, best: number, bestStep: number, message: string } ] } ],
 *   peers: { torch: { available: boolean, reason?: string, version?: string } }
 * }
 * Losses may be null in JSON when a run diverged (JSON has no NaN).
 */
import type { Budget, RunRecord } from './runner.js';
import type { DataSize } from './problems.js';
import type { Headline } from './headline.js';
import { STOP_KINDS, type StoppingOptions } from './stopping.js';

/** results.json as written by `hessian bench`. */
export interface Results {
  version: string;
  created: string;
  machine: { cpu: string; cores: number; backend: string; simd: string; threads: number; node: string; ranks?: number };
  /** `seqLength`: the sequence length of the rnn-* problems when --seq-length was given. */
  settings: { budget: Budget; seeds: number; size: DataSize; tuned: boolean; suite: string; stopping: false | StoppingOptions; seqLength?: number };
  headlines: Headline[];
  runs: RunRecord[];
  peers: { torch: { available: boolean; reason?: string; version?: string } };
}

type Json = unknown;

function isObj(x: Json): x is Record<string, Json> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

export function validateResults(doc: Json): string[] {
  const errs: string[] = [];
  const need = (cond: boolean, what: string) => { if (!cond) errs.push(what); };
  const num = (x: Json) => typeof x === 'number' && Number.isFinite(x);
  const numOrNull = (x: Json) => x === null || typeof x === 'number';
  if (!isObj(doc)) return ['the document is not an object'];
  need(typeof doc.version === 'string', 'version must be a string');
  need(typeof doc.created === 'string' && !Number.isNaN(Date.parse(doc.created)), 'created must be an ISO date string');
  const m = doc.machine;
  if (!isObj(m)) errs.push('machine must be an object');
  else {
    for (const k of ['cpu', 'backend', 'simd', 'node']) need(typeof m[k] === 'string', `machine.${k} must be a string`);
    for (const k of ['cores', 'threads']) need(num(m[k]), `machine.${k} must be a number`);
  }
  const s = doc.settings;
  if (!isObj(s)) errs.push('settings must be an object');
  else {
    need(isObj(s.budget) && (num(s.budget.seconds) || num(s.budget.steps)), 'settings.budget needs seconds or steps');
    need(num(s.seeds), 'settings.seeds must be a number');
    need(typeof s.size === 'string', 'settings.size must be a string');
    need(typeof s.tuned === 'boolean', 'settings.tuned must be a boolean');
    need(typeof s.suite === 'string', 'settings.suite must be a string');
    need(s.stopping === false || (isObj(s.stopping) && Object.values(s.stopping).every((v) => num(v) || isObj(v))), 'settings.stopping must be false or an object of numbers');
  }
  if (!Array.isArray(doc.headlines)) errs.push('headlines must be an array');
  else {
    doc.headlines.forEach((h: Json, i: number) => {
      const at = `headlines[${i}]`;
      if (!isObj(h)) { errs.push(`${at} must be an object`); return; }
      need(typeof h.problem === 'string' && typeof h.text === 'string' && h.text !== '', `${at} needs problem and text`);
      need(Array.isArray(h.notReached) && h.notReached.every((o: Json) => typeof o === 'string'), `${at}.notReached must be an array of strings`);
      need(typeof h.seedsAgree === 'boolean', `${at}.seedsAgree must be a boolean`);
      if (h.target !== undefined) need(num(h.target), `${at}.target must be a number`);
      if (h.winner !== undefined) need(typeof h.winner === 'string', `${at}.winner must be a string`);
      if (h.factorOverAdam !== undefined) need(num(h.factorOverAdam) && (h.factorOverAdam as number) >= 1, `${at}.factorOverAdam must be a number >= 1`);
    });
  }
  if (!Array.isArray(doc.runs)) errs.push('runs must be an array');
  else {
    doc.runs.forEach((r: Json, i: number) => {
      const at = `runs[${i}]`;
      if (!isObj(r)) { errs.push(`${at} must be an object`); return; }
      need(typeof r.problem === 'string' && typeof r.optimizer === 'string', `${at}.problem and .optimizer must be strings`);
      need(num(r.seed), `${at}.seed must be a number`);
      need(isObj(r.hyper) && isObj(r.hyper.options) && (r.hyper.batchSize === 'full' || num(r.hyper.batchSize)), `${at}.hyper must be {options, batchSize}`);
      const point = (p: Json, where: string) => {
        if (!isObj(p)) { errs.push(`${where} must be an object`); return; }
        for (const k of ['step', 'seconds', 'evals', 'curvatureProducts']) need(num(p[k]), `${where}.${k} must be a number`);
        need(numOrNull(p.trainLoss), `${where}.trainLoss must be a number (or null if it diverged)`);
        if (p.testLoss !== undefined) need(numOrNull(p.testLoss), `${where}.testLoss must be a number`);
        if (p.testAccuracy !== undefined) need(num(p.testAccuracy) && (p.testAccuracy as number) >= 0 && (p.testAccuracy as number) <= 1, `${where}.testAccuracy must be in [0, 1]`);
        if (p.relL2 !== undefined) need(numOrNull(p.relL2) && (p.relL2 === null || (p.relL2 as number) >= 0), `${where}.relL2 must be a non-negative number (or null if it diverged)`);
        if (p.testError !== undefined) need(num(p.testError) && (p.testError as number) >= 0 && (p.testError as number) <= 1, `${where}.testError must be in [0, 1]`);
      };
      if (!Array.isArray(r.curve) || r.curve.length === 0) errs.push(`${at}.curve must be a non-empty array`);
      else {
        r.curve.forEach((p: Json, j: number) => point(p, `${at}.curve[${j}]`));
        for (let j = 1; j < r.curve.length; j++) {
          const a = r.curve[j - 1] as Record<string, number>;
          const b = r.curve[j] as Record<string, number>;
          need(b.step >= a.step && b.seconds >= a.seconds, `${at}.curve must be ordered by step and seconds (at ${j})`);
        }
      }
      point(r.final, `${at}.final`);
      if (isObj(r.final)) {
        need(typeof r.final.stopped === 'string' && num(r.final.rejectedSteps), `${at}.final needs stopped and rejectedSteps`);
        need((STOP_KINDS as readonly unknown[]).includes(r.final.stopped), `${at}.final.stopped must be one of ${STOP_KINDS.join(', ')}`);
        need(typeof r.final.stopReason === 'string', `${at}.final.stopReason must be a string`);
        if (Array.isArray(r.curve) && r.curve.length > 0) {
          const last = r.curve[r.curve.length - 1] as Record<string, Json>;
          need(last.step === r.final.step, `${at}.curve must end at the final step (the curve stops where the run stopped)`);
        }
      }
      if (r.divergence !== undefined) {
        if (!Array.isArray(r.divergence)) errs.push(`${at}.divergence must be an array`);
        else {
          r.divergence.forEach((e: Json, j: number) => need(
            isObj(e) && typeof e.series === 'string' && num(e.step) && numOrNull(e.loss) && typeof e.message === 'string',
            `${at}.divergence[${j}] needs series, step, loss and message`,
          ));
        }
      }
    });
  }
  need(isObj(doc.peers) && isObj(doc.peers.torch) && typeof doc.peers.torch.available === 'boolean', 'peers.torch.available must be a boolean');
  return errs;
}
