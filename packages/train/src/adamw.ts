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

  /** One update with gradients `grads` (by variable name) at learning rate `lr`. */
  apply(grads: Readonly<Record<string, tf.Tensor>>, lr: number): void {
    const b1 = this.options.beta1 ?? 0.9;
    const b2 = this.options.beta2 ?? 0.95;
    const eps = this.options.epsilon ?? 1e-8;
    const wd = this.options.weightDecay ?? 0;
    this.step++;
    const c1 = 1 - b1 ** this.step;
    const c2 = 1 - b2 ** this.step;
    tf.tidy(() => {
      for (const [name, p] of this.variables) {
        const g = grads[p.name] ?? grads[name];
        if (g === undefined) continue;
        const m = this.m.get(name)!;
        const v = this.v.get(name)!;
        m.assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)));
        v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2)));
        const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), eps));
        const decayed = this.decay.has(name) && wd > 0 ? tf.mul(p, 1 - lr * wd) : p;
        p.assign(tf.sub(decayed, tf.mul(update, lr)));
      }
    });
  }

  dispose(): void {
    tf.dispose([...this.m.values(), ...this.v.values()]);
  }
}
