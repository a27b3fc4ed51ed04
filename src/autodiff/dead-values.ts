/**
 * Early release inside a plain backward pass (one that no enclosing transformation records).
 *
 * Why: a step's backward pass allocates a cotangent per activation, and without this every one
 * of them, and every forward residual, stays live until the step's scope closes: the first step
 * of a process then touches fresh memory for all of them (page faults), where later steps find
 * them pooled. Released as soon as they are dead, their buffers serve the rest of the same pass
 * (the encoder's cotangents reuse the decoder's activations of the same shape).
 *
 * Dead means: a cotangent that no accumulator entry (or deferred slice piece) holds any more, and
 * that is not the caller's seed; a forward residual whose last reader on the tape has run, when
 * the pullback is used once (valueAndGrad, grad) and the value is the pass's own (not reachable
 * from its result). Never a tracer, a pinned tensor (another live tape reads it), a kept one, or
 * one marked to escape (retained gradients, layer taps).
 */
import type { Tensor } from '../tensor/tensor.js';
import { Tracer } from './core.js';

export class DeadValues {
  /** How many accumulator entries (or slice pieces) hold each cotangent. */
  private readonly uses = new Map<Tensor, number>();
  private readonly candidates: Tensor[] = [];

  /**
   * @param foreign tensors the caller handed in (the seed cotangents): never released here
   * @param residuals the forward pass's own residuals that may go once unpinned; null when the pullback may run again
   */
  constructor(private readonly foreign: readonly Tensor[], readonly residuals: ReadonlySet<Tensor> | null) {}

  /** `t` was stored in an accumulator entry. */
  hold(t: Tensor): void {
    this.uses.set(t, (this.uses.get(t) ?? 0) + 1);
  }

  /** An accumulator entry let `t` go: it is dead once nothing else holds it. */
  drop(t: Tensor): void {
    const n = (this.uses.get(t) ?? 0) - 1;
    if (n > 0) this.uses.set(t, n);
    else {
      this.uses.delete(t);
      this.candidates.push(t);
    }
  }

  /** A value a rule made (or read) and that may never have been held: dead unless something holds it. */
  consider(t: Tensor): void {
    if (!this.uses.has(t)) this.candidates.push(t);
  }

  /** A tape node that read `t` has run: one pin fewer; with none left, one of our residuals is dead. */
  unpin(t: Tensor): void {
    t._pins--;
    if (t._pins === 0 && this.residuals !== null && this.residuals.has(t)) this.candidates.push(t);
  }

  /** Release the candidates that are still dead (call between nodes, never while a rule runs). */
  flush(): void {
    const c = this.candidates;
    for (let i = 0; i < c.length; i++) {
      const t = c[i];
      if (t._data === null || t._pins > 0 || t._kept || t._escape || t instanceof Tracer || this.uses.has(t) || this.foreign.includes(t)) continue;
      t._release();
    }
    c.length = 0;
  }
}
