/**
 * AdamW (Loshchilov & Hutter): Adam with decoupled weight decay, and the learning-rate schedule of GPT-style
 * training — linear warm-up, then cosine decay to a floor. Written over tf.Variables so that its state (the
 * moments and the step) can be checkpointed and resumed exactly.
 */
import { tf } from '@tide/backend';

/** Hyper-parameters of {@link AdamW}. */
export interface AdamWOptions {
  readonly learningRate: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly epsilon?: number;
  /** Decoupled weight decay λ (applied as p ← p − lr·λ·p to the variables in `decay`). */
  readonly weightDecay?: number;
}

/** `lr(step)`: linear warm-up over `warmup` steps, cosine decay to `minFactor·peak` at `total`. */
export function warmupCosine(step: number, peak: number, warmup: number, total: number, minFactor = 0.1): number {
  if (step < warmup) return (peak * (step + 1)) / warmup;
  const progress = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
  return peak * (minFactor + (1 - minFactor) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/** AdamW over named variables. */
export class AdamW {
  step = 0;
  readonly m = new Map<string, tf.Variable>();
  readonly v = new Map<string, tf.Variable>();

  constructor(
    readonly variables: ReadonlyMap<string, tf.Variable>,
    readonly decay: ReadonlySet<string>,
    readonly options: AdamWOptions,
  ) {
    for (const [name, p] of variables) {
      // tf.variable keeps its initial tensor alive; inside a tidy the zeros are freed and the variable stays.
      this.m.set(
        name,
        tf.tidy(() => tf.variable(tf.zerosLike(p), false)),
      );
      this.v.set(
        name,
        tf.tidy(() => tf.variable(tf.zerosLike(p), false)),
      );
    }
  }

  /**
   * One update with gradients `grads` (by variable name) at learning rate `lr`; variables without a gradient are
   * left alone. The update is elementwise, so it runs over groups of variables laid end to end — the decayed ones,
   * then the others, each cut into groups of at most {@link AdamW.GROUP} values so the temporaries stay small for
   * large models — a dozen kernels per group, not a dozen per variable (977 kernel launches fell to about 30 plus
   * reshapes for the 68 variables of `tide train`'s default model), with the same float32 arithmetic as variable
   * by variable:
   *
   *     m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²,   p ← p·(1 − lr·λ [p decays]) − lr · (m/c₁) / (√(v/c₂) + ε)
   *
   * with c_k = 1 − β_k^step.
   */
  apply(grads: Readonly<Record<string, tf.Tensor>>, lr: number): void {
    const b1 = this.options.beta1 ?? 0.9;
    const b2 = this.options.beta2 ?? 0.95;
    const eps = this.options.epsilon ?? 1e-8;
    const wd = this.options.weightDecay ?? 0;
    this.step++;
    const c1 = 1 - b1 ** this.step;
    const c2 = 1 - b2 ** this.step;
    const entries = [...this.variables].flatMap(([name, p]) => {
      const g = grads[p.name] ?? grads[name];
      return g === undefined ? [] : [{ name, p, g, decays: this.decay.has(name) && wd > 0 }];
    });
    // p·(1 − lr·λ) for decayed variables, rounded to float32 as a scalar would be; the others are not scaled.
    const factor = Math.fround(1 - lr * wd);
    for (const decays of [true, false]) {
      for (const group of groups(
        entries.filter((e) => e.decays === decays),
        AdamW.GROUP,
      )) {
        tf.tidy(() => {
          const flat = (ts: tf.Tensor[]) =>
            ts.length === 1 ? tf.reshape(ts[0]!, [-1]) : tf.concat(ts.map((t) => tf.reshape(t, [-1]))); // [P]
          const g = flat(group.map((e) => e.g));
          const m = tf.add(tf.mul(flat(group.map((e) => this.m.get(e.name)!)), b1), tf.mul(g, 1 - b1)); // [P]
          const v = tf.add(tf.mul(flat(group.map((e) => this.v.get(e.name)!)), b2), tf.mul(tf.square(g), 1 - b2)); // [P]
          const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), eps)); // [P]
          const p0 = flat(group.map((e) => e.p)); // [P]
          const p = tf.sub(decays ? tf.mul(p0, factor) : p0, tf.mul(update, lr)); // [P]
          const sizes = group.map((e) => e.p.size);
          const [ms, vs, ps] = [m, v, p].map((t) => (group.length === 1 ? [t] : tf.split(t, sizes)));
          group.forEach((e, i) => {
            this.m.get(e.name)!.assign(tf.reshape(ms![i]!, e.p.shape));
            this.v.get(e.name)!.assign(tf.reshape(vs![i]!, e.p.shape));
            e.p.assign(tf.reshape(ps![i]!, e.p.shape));
          });
        });
      }
    }
  }

  /** Values updated together at most (a larger variable is a group of its own): 2²⁰, 4 MiB a temporary. */
  static readonly GROUP = 1 << 20;

  dispose(): void {
    tf.dispose([...this.m.values(), ...this.v.values()]);
  }
}

/** `entries` in order, cut into consecutive groups of at most `limit` values (a larger entry alone). */
function groups<E extends { p: tf.Variable }>(entries: readonly E[], limit: number): E[][] {
  const out: E[][] = [];
  let size = 0;
  for (const e of entries) {
    if (out.length === 0 || size + e.p.size > limit) {
      out.push([]);
      size = 0;
    }
    out.at(-1)!.push(e);
    size += e.p.size;
  }
  return out;
}
